//! How an uploaded delimited text file becomes a table (`execution.md` §6.1), as pure
//! functions of its lines: the header and the id column, the checks that say what is wrong
//! with a malformed file, and each row in the native table format (CSV, `,` between cells,
//! the id column first). The site checks a file's first lines with these before it accepts an
//! upload; the upload component applies them to every line.

use std::fmt;

/// What is wrong with a file. Line numbers count from 1, as an editor shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    Empty,
    EmptyHeader,
    EmptyColumnName {
        index: usize,
    },
    DuplicateColumn(String),
    /// The header is one column, but another usual delimiter appears in it.
    WrongDelimiter {
        declared: String,
        seen: char,
    },
    NoIdColumn {
        field: &'static str,
        name: String,
    },
    Ragged {
        line: u64,
        got: usize,
        want: usize,
    },
    NotUtf8 {
        line: u64,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Empty => write!(f, "the file is empty"),
            Problem::EmptyHeader => write!(
                f,
                "no header: the first line is empty (set `head` to false for a file without one)"
            ),
            Problem::EmptyColumnName { index } => {
                write!(
                    f,
                    "no header: column {} of the first line has no name",
                    index + 1
                )
            }
            Problem::DuplicateColumn(c) => write!(f, "column `{c}` appears twice in the header"),
            Problem::WrongDelimiter { declared, seen } => write!(
                f,
                "the header is a single column with `{}` in it: the delimiter is {declared:?} (meta.delimiter), the file seems to use {:?}",
                seen.escape_default(),
                seen.to_string()
            ),
            Problem::NoIdColumn { field, name } => {
                write!(
                    f,
                    "meta.{field} names column `{name}`, which the header does not have"
                )
            }
            Problem::Ragged { line, got, want } => write!(
                f,
                "line {line} has {got} fields, the header has {want} (ragged rows are not accepted)"
            ),
            Problem::NotUtf8 { line } => write!(f, "line {line} is not UTF-8 text"),
        }
    }
}

impl std::error::Error for Problem {}

const USUAL_DELIMITERS: [char; 4] = [',', ';', '\t', '|'];

/// A line without its line end.
pub fn trim_line_end(line: &str) -> &str {
    let l = line.strip_suffix('\n').unwrap_or(line);
    l.strip_suffix('\r').unwrap_or(l)
}

pub fn split<'a>(line: &'a str, delimiter: &str) -> Vec<&'a str> {
    line.split(delimiter).collect()
}

/// The column names of a header line.
pub fn header(line: &str, delimiter: &str) -> Result<Vec<String>, Problem> {
    let line = trim_line_end(line);
    if line.trim().is_empty() {
        return Err(Problem::EmptyHeader);
    }
    let cols: Vec<String> = split(line, delimiter)
        .into_iter()
        .map(|c| c.trim().to_string())
        .collect();
    if cols.len() == 1
        && let Some(seen) = USUAL_DELIMITERS
            .iter()
            .copied()
            .find(|d| delimiter != d.to_string() && line.contains(*d))
    {
        return Err(Problem::WrongDelimiter {
            declared: delimiter.to_string(),
            seen,
        });
    }
    for (i, c) in cols.iter().enumerate() {
        if c.is_empty() {
            return Err(Problem::EmptyColumnName { index: i });
        }
        if cols[..i].contains(c) {
            return Err(Problem::DuplicateColumn(c.clone()));
        }
    }
    Ok(cols)
}

/// Where the sample id comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Id {
    /// A column of the file, moved to the front.
    Column(usize),
    /// Generated (`extend_sid`): a new first column `extend_sid`.
    Generated,
}

/// The table's layout: its header as written and where its id comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The file's columns.
    pub columns: Vec<String>,
    pub id: Id,
}

impl Layout {
    /// `sample_id_name`, else `match_id_name` when the header has it, else the first column.
    pub fn new(
        columns: Vec<String>,
        extend_sid: bool,
        sample_id_name: Option<&str>,
        match_id_name: Option<&str>,
    ) -> Result<Self, Problem> {
        let id =
            if extend_sid {
                Id::Generated
            } else if let Some(n) = sample_id_name.filter(|n| !n.is_empty()) {
                Id::Column(columns.iter().position(|c| c == n).ok_or_else(|| {
                    Problem::NoIdColumn {
                        field: "sample_id_name",
                        name: n.to_string(),
                    }
                })?)
            } else {
                Id::Column(
                    match_id_name
                        .and_then(|n| columns.iter().position(|c| c == n))
                        .unwrap_or(0),
                )
            };
        Ok(Self { columns, id })
    }

    /// The table's header: the id column first.
    pub fn table_header(&self) -> Vec<String> {
        match self.id {
            Id::Generated => std::iter::once("extend_sid".to_string())
                .chain(self.columns.iter().cloned())
                .collect(),
            Id::Column(i) => std::iter::once(self.columns[i].clone())
                .chain(
                    self.columns
                        .iter()
                        .enumerate()
                        .filter(|(j, _)| *j != i)
                        .map(|(_, c)| c.clone()),
                )
                .collect(),
        }
    }

    pub fn id_column(&self) -> String {
        self.table_header()[0].clone()
    }

    /// One data line as a table row (cells in table order), appended to `out` as a CSV line.
    /// `sid` is the generated id for `extend_sid` tables.
    pub fn write_row(
        &self,
        line: &str,
        line_no: u64,
        delimiter: &str,
        sid: Option<&str>,
        out: &mut String,
    ) -> Result<(), Problem> {
        let cells = split(line, delimiter);
        if cells.len() != self.columns.len() {
            return Err(Problem::Ragged {
                line: line_no,
                got: cells.len(),
                want: self.columns.len(),
            });
        }
        match self.id {
            Id::Generated => {
                push_cell(out, sid.unwrap_or_default());
                for c in &cells {
                    out.push(',');
                    push_cell(out, c);
                }
            }
            Id::Column(i) => {
                push_cell(out, cells[i]);
                for (j, c) in cells.iter().enumerate() {
                    if j != i {
                        out.push(',');
                        push_cell(out, c);
                    }
                }
            }
        }
        out.push('\n');
        Ok(())
    }

    /// Whether lines can be copied unchanged (`,`-delimited, id first, nothing generated).
    pub fn is_identity(&self, delimiter: &str) -> bool {
        delimiter == "," && self.id == Id::Column(0)
    }
}

/// A CSV cell: quoted when it holds a comma, a quote or a line break.
pub fn push_cell(out: &mut String, cell: &str) {
    if cell.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&cell.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(cell);
    }
}

/// Column names for a file without a header: the id, then `x0`, `x1`, …
pub fn generated_columns(n: usize, extend_sid: bool) -> Vec<String> {
    let features = if extend_sid { n } else { n.saturating_sub(1) };
    let mut cols = Vec::with_capacity(n);
    if !extend_sid && n > 0 {
        cols.push("id".to_string());
    }
    cols.extend((0..features).map(|i| format!("x{i}")));
    cols
}

/// Checks the start of a file (its first complete lines) as the upload component will: the
/// site answers these problems at once instead of failing the job later.
pub fn check_start(
    text: &str,
    head: bool,
    delimiter: &str,
    extend_sid: bool,
    sample_id_name: Option<&str>,
    match_id_name: Option<&str>,
) -> Result<Layout, Problem> {
    if text.trim().is_empty() {
        return Err(Problem::Empty);
    }
    let mut lines = text.split_inclusive('\n');
    let first = lines.next().unwrap_or_default();
    let columns = if head {
        header(first, delimiter)?
    } else {
        generated_columns(split(trim_line_end(first), delimiter).len(), extend_sid)
    };
    let layout = Layout::new(columns, extend_sid, sample_id_name, match_id_name)?;
    let data: Box<dyn Iterator<Item = &str>> = if head {
        Box::new(lines)
    } else {
        Box::new(std::iter::once(first).chain(lines))
    };
    let mut scratch = String::new();
    for (i, line) in data.enumerate() {
        // Only complete lines: the last one of a prefix may be cut.
        if !line.ends_with('\n') {
            break;
        }
        let l = trim_line_end(line);
        if l.is_empty() {
            continue;
        }
        let line_no = i as u64 + if head { 2 } else { 1 };
        scratch.clear();
        layout.write_row(l, line_no, delimiter, Some(""), &mut scratch)?;
    }
    Ok(layout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_and_their_problems() {
        assert_eq!(header("id,y,x0\r\n", ",").unwrap(), ["id", "y", "x0"]);
        assert_eq!(header("\n", ","), Err(Problem::EmptyHeader));
        assert_eq!(
            header("id;y;x0\n", ","),
            Err(Problem::WrongDelimiter {
                declared: ",".into(),
                seen: ';'
            })
        );
        assert_eq!(
            header("id,,x\n", ","),
            Err(Problem::EmptyColumnName { index: 1 })
        );
        assert_eq!(
            header("id,a,a\n", ","),
            Err(Problem::DuplicateColumn("a".into()))
        );
        assert_eq!(header("id\tx\n", "\t").unwrap(), ["id", "x"]);
        assert_eq!(header("id\n", ",").unwrap(), ["id"]);
    }

    #[test]
    fn id_column_moves_to_the_front() {
        let l = Layout::new(
            vec!["y".into(), "id".into(), "x".into()],
            false,
            None,
            Some("id"),
        )
        .unwrap();
        assert_eq!(l.table_header(), ["id", "y", "x"]);
        let mut out = String::new();
        l.write_row("1;7;0.5", 2, ";", None, &mut out).unwrap();
        assert_eq!(out, "7,1,0.5\n");
        assert!(!l.is_identity(","));
        let g = Layout::new(vec!["id".into(), "x".into()], true, None, None).unwrap();
        assert_eq!(g.table_header(), ["extend_sid", "id", "x"]);
        let mut out = String::new();
        g.write_row("7,a b", 2, ",", Some("s0"), &mut out).unwrap();
        assert_eq!(out, "s0,7,a b\n");
        assert_eq!(
            Layout::new(vec!["id".into()], false, Some("sid"), None),
            Err(Problem::NoIdColumn {
                field: "sample_id_name",
                name: "sid".into()
            })
        );
    }

    #[test]
    fn cells_with_commas_are_quoted() {
        let l = Layout::new(vec!["id".into(), "note".into()], false, None, None).unwrap();
        let mut out = String::new();
        l.write_row("1|a, \"b\"", 2, "|", None, &mut out).unwrap();
        assert_eq!(out, "1,\"a, \"\"b\"\"\"\n");
    }

    #[test]
    fn starts_of_files() {
        assert_eq!(
            check_start("", true, ",", false, None, None),
            Err(Problem::Empty)
        );
        assert_eq!(
            check_start(" \n\n", true, ",", false, None, None),
            Err(Problem::Empty)
        );
        assert_eq!(
            check_start("id,x\n1,2\n3\n", true, ",", false, None, None),
            Err(Problem::Ragged {
                line: 3,
                got: 1,
                want: 2
            })
        );
        // A cut last line is not judged.
        assert!(check_start("id,x\n1,2\n3", true, ",", false, None, None).is_ok());
        let l = check_start("1,2,3\n4,5,6\n", false, ",", false, None, None).unwrap();
        assert_eq!(l.table_header(), ["id", "x0", "x1"]);
        let l = check_start("1,2\n", false, ",", true, None, None).unwrap();
        assert_eq!(l.table_header(), ["extend_sid", "x0", "x1"]);
    }

    #[test]
    fn problems_say_what_is_wrong() {
        let p = Problem::Ragged {
            line: 7,
            got: 3,
            want: 4,
        };
        assert_eq!(
            p.to_string(),
            "line 7 has 3 fields, the header has 4 (ragged rows are not accepted)"
        );
        let w = Problem::WrongDelimiter {
            declared: ",".into(),
            seen: ';',
        };
        assert!(w.to_string().contains("seems to use \";\""), "{w}");
    }
}

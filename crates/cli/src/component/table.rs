//! The demo provider's table format: a CSV file whose first line is the header and whose first
//! column is the sample id. Tables are small (demo data), so they are held in memory as text;
//! numeric columns are parsed on demand, so that non-numeric columns survive untouched.

use serde_json::{Value, json};

/// How many rows the tracking overview carries as `samples` (FATE's `part_of_data`).
const OVERVIEW_SAMPLES: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not a csv table")]
    Csv(#[source] csv::Error),
    #[error("the table has no header line")]
    NoHeader,
    #[error("column `{0}` appears twice in the header")]
    DuplicateColumn(String),
    #[error("no column `{0}`")]
    NoColumn(String),
    /// Row numbers are 1-based data rows (the header is row 0), as a person counts them.
    /// The value is not quoted: error reports never show a file's content.
    #[error("column `{column}`, row {row}: not a number")]
    NotNumeric {
        column: String,
        row: usize,
        value: String,
    },
    #[error("column `{column}` has {got} values, the table has {want} rows")]
    Length {
        column: String,
        got: usize,
        want: usize,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with this header and no rows; the first column is the id column.
    pub fn new(header: Vec<String>) -> Result<Self, Error> {
        if header.is_empty() {
            return Err(Error::NoHeader);
        }
        for (i, h) in header.iter().enumerate() {
            if header[..i].contains(h) {
                return Err(Error::DuplicateColumn(h.clone()));
            }
        }
        Ok(Self {
            header,
            rows: Vec::new(),
        })
    }

    /// Parses CSV text. Every row must have as many cells as the header (the csv crate's
    /// strict mode), so that a truncated file is an error rather than a silent shift.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(text.as_bytes());
        let header: Vec<String> = reader
            .headers()
            .map_err(Error::Csv)?
            .iter()
            .map(str::to_string)
            .collect();
        if header.len() == 1 && header[0].is_empty() {
            return Err(Error::NoHeader);
        }
        let mut table = Self::new(header)?;
        for record in reader.records() {
            let record = record.map_err(Error::Csv)?;
            table.rows.push(record.iter().map(str::to_string).collect());
        }
        Ok(table)
    }

    /// The table as CSV bytes, header first, `\n` line ends.
    pub fn to_csv(&self) -> Result<Vec<u8>, Error> {
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(Vec::new());
        w.write_record(&self.header).map_err(Error::Csv)?;
        for row in &self.rows {
            w.write_record(row).map_err(Error::Csv)?;
        }
        w.into_inner()
            .map_err(|e| Error::Csv(e.into_error().into()))
    }

    pub fn header(&self) -> &[String] {
        &self.header
    }

    #[cfg(test)]
    pub fn rows(&self) -> &[Vec<String>] {
        &self.rows
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn id_column(&self) -> &str {
        &self.header[0]
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.rows.iter().map(|r| r[0].as_str())
    }

    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    pub fn has_column(&self, name: &str) -> bool {
        self.column_index(name).is_some()
    }

    /// Appends a row; it must have one cell per column.
    pub fn push_row(&mut self, row: Vec<String>) -> Result<(), Error> {
        if row.len() != self.header.len() {
            return Err(Error::Length {
                column: "<row>".into(),
                got: row.len(),
                want: self.header.len(),
            });
        }
        self.rows.push(row);
        Ok(())
    }

    /// The values of a column as numbers; any cell that does not parse is an error naming it.
    pub fn numeric_column(&self, name: &str) -> Result<Vec<f64>, Error> {
        let i = self
            .column_index(name)
            .ok_or_else(|| Error::NoColumn(name.to_string()))?;
        self.rows
            .iter()
            .enumerate()
            .map(|(r, row)| {
                parse_number(&row[i]).ok_or_else(|| Error::NotNumeric {
                    column: name.to_string(),
                    row: r + 1,
                    value: row[i].clone(),
                })
            })
            .collect()
    }

    /// Whether every cell of the column is a number (an empty table's columns all are).
    pub fn is_numeric(&self, name: &str) -> bool {
        match self.column_index(name) {
            Some(i) => self.rows.iter().all(|row| parse_number(&row[i]).is_some()),
            None => false,
        }
    }

    /// The non-id columns whose cells are all numbers, in header order.
    pub fn numeric_columns(&self) -> Vec<String> {
        self.header[1..]
            .iter()
            .filter(|h| self.is_numeric(h))
            .cloned()
            .collect()
    }

    /// Replaces a column's cells by these numbers (written in Rust's shortest round-trip form).
    pub fn set_numeric_column(&mut self, name: &str, values: &[f64]) -> Result<(), Error> {
        let i = self
            .column_index(name)
            .ok_or_else(|| Error::NoColumn(name.to_string()))?;
        if values.len() != self.rows.len() {
            return Err(Error::Length {
                column: name.to_string(),
                got: values.len(),
                want: self.rows.len(),
            });
        }
        for (row, v) in self.rows.iter_mut().zip(values) {
            row[i] = format_number(*v);
        }
        Ok(())
    }

    /// The table without these columns. The id column cannot be dropped (it is what makes a
    /// CSV a table here); naming it, or a column that does not exist, is an error.
    pub fn drop_columns(&self, names: &[String]) -> Result<Self, Error> {
        let mut keep = vec![true; self.header.len()];
        for name in names {
            match self.column_index(name) {
                Some(0) | None => return Err(Error::NoColumn(name.clone())),
                Some(i) => keep[i] = false,
            }
        }
        let pick = |row: &Vec<String>| {
            row.iter()
                .zip(&keep)
                .filter(|(_, k)| **k)
                .map(|(c, _)| c.clone())
                .collect()
        };
        Ok(Self {
            header: pick(&self.header),
            rows: self.rows.iter().map(pick).collect(),
        })
    }

    /// The `meta_data` recorded with a table (docs/demo-provider.md).
    pub fn meta(&self) -> Value {
        json!({"header": self.header, "id_column": self.id_column(), "delimiter": ","})
    }

    /// The `overview` recorded with a table: the row count and the first rows as text.
    pub fn overview(&self) -> Value {
        json!({"count": self.rows.len(), "samples": self.rows.iter().take(OVERVIEW_SAMPLES).collect::<Vec<_>>()})
    }
}

fn parse_number(cell: &str) -> Option<f64> {
    cell.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Integral values are written without a fraction (`1`, not `1.0`), so that labels and counts
/// look like the integers they are.
pub fn format_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "id,y,x0,name\n1,0,0.5,a\n2,1,-1.25,b\n3,1,2,c\n";

    #[test]
    fn parses_and_writes_back_identically() {
        let t = Table::parse(TEXT).unwrap();
        assert_eq!(t.header(), ["id", "y", "x0", "name"]);
        assert_eq!(t.len(), 3);
        assert_eq!(t.id_column(), "id");
        assert_eq!(t.ids().collect::<Vec<_>>(), ["1", "2", "3"]);
        assert_eq!(String::from_utf8(t.to_csv().unwrap()).unwrap(), TEXT);
    }

    #[test]
    fn quoted_cells_round_trip() {
        let text = "id,note\n1,\"a, b\"\n2,\"say \"\"hi\"\"\"\n";
        let t = Table::parse(text).unwrap();
        assert_eq!(t.rows()[0][1], "a, b");
        assert_eq!(t.rows()[1][1], "say \"hi\"");
        assert_eq!(String::from_utf8(t.to_csv().unwrap()).unwrap(), text);
    }

    #[test]
    fn numeric_access() {
        let t = Table::parse(TEXT).unwrap();
        assert_eq!(t.numeric_column("x0").unwrap(), [0.5, -1.25, 2.0]);
        assert_eq!(t.numeric_columns(), ["y", "x0"]);
        assert!(!t.is_numeric("name"));
        assert!(!t.is_numeric("missing"));
        match t.numeric_column("name") {
            Err(Error::NotNumeric { column, row, value }) => {
                assert_eq!((column.as_str(), row, value.as_str()), ("name", 1, "a"))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(t.numeric_column("nope"), Err(Error::NoColumn(_))));
    }

    #[test]
    fn set_and_drop_columns() {
        let mut t = Table::parse(TEXT).unwrap();
        t.set_numeric_column("x0", &[1.0, 2.5, -3.0]).unwrap();
        assert_eq!(t.rows()[1][2], "2.5");
        assert_eq!(t.rows()[2][2], "-3");
        assert!(matches!(
            t.set_numeric_column("x0", &[1.0]),
            Err(Error::Length { .. })
        ));
        let d = t.drop_columns(&["name".into(), "y".into()]).unwrap();
        assert_eq!(d.header(), ["id", "x0"]);
        assert_eq!(d.rows()[0], ["1", "1"]);
        assert!(matches!(
            t.drop_columns(&["id".into()]),
            Err(Error::NoColumn(_))
        ));
        assert!(matches!(
            t.drop_columns(&["zz".into()]),
            Err(Error::NoColumn(_))
        ));
    }

    #[test]
    fn rejects_bad_tables() {
        assert!(matches!(Table::parse(""), Err(Error::NoHeader)));
        assert!(
            matches!(Table::parse("id,a,a\n1,2,3\n"), Err(Error::DuplicateColumn(c)) if c == "a")
        );
        assert!(matches!(Table::parse("id,a\n1,2\n3\n"), Err(Error::Csv(_))));
    }

    #[test]
    fn meta_and_overview() {
        let t = Table::parse(TEXT).unwrap();
        assert_eq!(
            t.meta(),
            json!({"header": ["id", "y", "x0", "name"], "id_column": "id", "delimiter": ","})
        );
        let o = t.overview();
        assert_eq!(o["count"], 3);
        assert_eq!(o["samples"][0], json!(["1", "0", "0.5", "a"]));
        let mut big = Table::new(vec!["id".into()]).unwrap();
        for i in 0..25 {
            big.push_row(vec![i.to_string()]).unwrap();
        }
        assert_eq!(
            big.overview()["samples"].as_array().unwrap().len(),
            OVERVIEW_SAMPLES
        );
        assert!(big.push_row(vec![]).is_err());
    }

    #[test]
    fn header_only_table() {
        let t = Table::parse("id,x\n").unwrap();
        assert!(t.is_empty());
        assert_eq!(t.numeric_columns(), ["x"]);
        assert_eq!(t.overview(), json!({"count": 0, "samples": []}));
    }
}

//! FATE's standalone storage (`standalone://` tables: LMDB environments of pickled keys and
//! values, pyfate's format) through the helper `python/ferroflow_fate.py`, embedded here and
//! run with the Python of the site's `fate` provider (`python -c <source> <command> ...`).
//! The site uses it to read tables back (downloads) and to delete them; the upload component
//! and the task wrapper use it to write and destroy them.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::Value;

/// The helper's source.
pub const HELPER: &str = include_str!("../../../python/ferroflow_fate.py");

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot start {python}")]
    Spawn {
        python: String,
        #[source]
        source: std::io::Error,
    },
    #[error("standalone storage {command} failed ({status}): {detail}")]
    Failed {
        command: String,
        status: String,
        detail: String,
    },
}

/// Runs one helper command and returns its JSON answer; the helper's one-line error on stderr
/// becomes the error's detail.
pub async fn run(python: &Path, command: &str, args: &[String]) -> Result<Value, Error> {
    let out = tokio::process::Command::new(python)
        .arg("-c")
        .arg(HELPER)
        .arg(command)
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|source| Error::Spawn {
            python: python.display().to_string(),
            source,
        })?;
    if !out.status.success() {
        return Err(Error::Failed {
            command: command.into(),
            status: out.status.to_string(),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    serde_json::from_slice(&out.stdout).map_err(|e| Error::Failed {
        command: command.into(),
        status: out.status.to_string(),
        detail: format!(
            "not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout).trim()
        ),
    })
}

/// How a FATE table is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// The standalone engine's LMDB partitions (`standalone://`).
    #[default]
    Standalone,
    /// FATE's `file` storage (`file://`), which pyfate's Spark backend reads: text files of
    /// hex-encoded pairs in the table's directory.
    Localfs,
}

/// A FATE table's place: its data home, namespace and name, and its format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub data_dir: PathBuf,
    pub namespace: String,
    pub name: String,
    pub format: Format,
}

impl Location {
    /// `standalone://<data home>/<namespace>/<name>` (any number of slashes after the scheme),
    /// or `file://<data home>/<namespace>/<name>` (a `file` storage table: a directory; the
    /// native engine's `….csv` files are not FATE tables); `None` for other URIs.
    pub fn from_uri(uri: &str) -> Option<Self> {
        let (rest, format) = match uri.strip_prefix("standalone://") {
            Some(rest) => (rest, Format::Standalone),
            None => {
                let rest = uri.strip_prefix("file://")?;
                if rest.ends_with(".csv") {
                    return None;
                }
                (rest, Format::Localfs)
            }
        };
        let path = format!("/{}", rest.trim_start_matches('/'));
        let p = Path::new(&path);
        let name = p.file_name()?.to_string_lossy().into_owned();
        let ns_dir = p.parent()?;
        let namespace = ns_dir.file_name()?.to_string_lossy().into_owned();
        let data_dir = ns_dir.parent()?.to_path_buf();
        Some(Self {
            data_dir,
            namespace,
            name,
            format,
        })
    }

    fn args(&self) -> Vec<String> {
        let format = match self.format {
            Format::Standalone => "standalone",
            Format::Localfs => "localfs",
        };
        vec![
            "--format".into(),
            format.into(),
            "--data-dir".into(),
            self.data_dir.display().to_string(),
            "--namespace".into(),
            self.namespace.clone(),
            "--name".into(),
            self.name.clone(),
        ]
    }
}

/// Writes the table's rows into `out` (the header first when given), FATE's download format.
pub async fn export(
    python: &Path,
    at: &Location,
    out: &Path,
    delimiter: &str,
    header: Option<&str>,
) -> Result<Value, Error> {
    let mut args = at.args();
    args.extend([
        "--out".into(),
        out.display().to_string(),
        "--delimiter".into(),
        delimiter.into(),
    ]);
    if let Some(h) = header.filter(|h| !h.is_empty()) {
        args.extend(["--header".into(), h.into()]);
    }
    run(python, "export", &args).await
}

/// Removes the table and its meta.
pub async fn destroy(python: &Path, at: &Location) -> Result<Value, Error> {
    run(python, "destroy", &at.args()).await
}

/// The column names of a table's meta: `header` (a string split on the delimiter, or a list),
/// else the field names of a dataframe's `schema_meta` (FATE's `get_data_header`).
pub fn header(meta: &Value, delimiter: &str) -> Vec<String> {
    match meta.get("header") {
        Some(Value::String(s)) if !s.is_empty() => {
            return s.split(delimiter).map(str::to_string).collect();
        }
        Some(Value::Array(a)) if !a.is_empty() => {
            return a
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())
                })
                .collect();
        }
        _ => {}
    }
    meta.pointer("/schema_meta/fields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|f| f.get("name").and_then(Value::as_str).map(str::to_string))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn locations_from_uris() {
        for uri in [
            "standalone:///d/data/ns/n",
            "standalone:////d/data/ns/n",
            "standalone://d/data/ns/n",
        ] {
            let l = Location::from_uri(uri).unwrap();
            assert_eq!(l.data_dir, Path::new("/d/data"), "{uri}");
            assert_eq!((l.namespace.as_str(), l.name.as_str()), ("ns", "n"));
        }
        assert!(Location::from_uri("file:///d/x.csv").is_none());
        let l = Location::from_uri("file:///d/localfs/job_psi_0/abc").unwrap();
        assert_eq!(l.format, Format::Localfs);
        assert_eq!(l.data_dir, Path::new("/d/localfs"));
        assert_eq!(l.args()[..2], ["--format", "localfs"]);
        assert!(Location::from_uri("hdfs://nn/fate/x/y").is_none());
    }

    #[test]
    fn headers_of_tables_and_dataframes() {
        assert_eq!(
            header(&json!({"header": "id,y,x0"}), ","),
            ["id", "y", "x0"]
        );
        assert_eq!(header(&json!({"header": ["a", "b"]}), ","), ["a", "b"]);
        let df = json!({"schema_meta": {"fields": [{"name": "sample_id"}, {"name": "y"}]}});
        assert_eq!(header(&df, ","), ["sample_id", "y"]);
        assert!(header(&json!({}), ",").is_empty());
    }

    #[test]
    fn the_helper_is_embedded() {
        assert!(HELPER.contains("def upload("));
    }
}

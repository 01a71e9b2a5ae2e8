//! `/v2/table/*`: the site's table catalogue (`api.md` §10.11, `execution.md` §9.4).
//!
//! Storage engine `file` is ferroflow's native one: a CSV file (header first, the id column
//! first, `,` between cells) in the data directory, which the demo components read. A table
//! bound with `/v2/table/bind/path` (engine `path`) is only registered: its file stays where
//! it is and is never deleted by ferroflow.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use ferroflow_wire::client::data::{TableBindPath, TableQuery};

use super::{Error, Input, Missing, Result};
use crate::app::App;
use crate::store::TableMetaRow;

pub(crate) fn no_table(namespace: &str, name: &str) -> Error {
    Error::refuse(Missing::Table, &[("namespace", namespace), ("name", name)])
}

/// A namespace or table name must be a plain file name: it becomes part of a path.
pub(crate) fn check_name(field: &str, value: &str) -> Result<()> {
    let bad = value.is_empty()
        || value == "."
        || value == ".."
        || value.len() > 200
        || value
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control());
    if bad {
        return Err(Error::refuse_with(
            Input::Parameter,
            format!(
                "Invalid parameter: {field}[{value}]: give 1 to 200 characters, without `/`, `\\` or control characters, not `.` or `..`"
            ),
        ));
    }
    Ok(())
}

/// The data-table info object of `api.md` §9.6.
pub(crate) fn info(t: &TableMetaRow) -> Value {
    json!({
        "namespace": t.namespace,
        "name": t.name,
        "count": t.count,
        "meta": t.data_meta,
        "engine": t.engine,
        "path": t.address.get("path").and_then(Value::as_str).unwrap_or_default(),
        "source": t.source,
        "data_type": t.data_type,
    })
}

/// `/v2/table/query`.
pub async fn query(app: &App, q: &TableQuery) -> Result<Value> {
    let t = app
        .store
        .table_meta(&q.namespace, &q.name)
        .await?
        .ok_or_else(|| no_table(&q.namespace, &q.name))?;
    let mut v = info(&t);
    if q.display {
        v["display"] = t.part_of_data.clone();
    }
    Ok(v)
}

/// `/v2/table/delete`: the meta, and the file when this site owns it (native engine, under
/// the data directory).
pub async fn delete(app: &App, namespace: &str, name: &str) -> Result<()> {
    let t = app
        .store
        .table_meta(namespace, name)
        .await?
        .ok_or_else(|| no_table(namespace, name))?;
    app.store.delete_table_meta(namespace, name).await?;
    if let Some(at) = t
        .address
        .get("path")
        .and_then(Value::as_str)
        .and_then(crate::fate_storage::Location::from_uri)
        .filter(|at| {
            // Only tables in this site's own storage directories.
            at.data_dir.starts_with(match at.format {
                crate::fate_storage::Format::Standalone => app.config.standalone_data_dir(),
                crate::fate_storage::Format::Localfs => app.config.localfs_dir.clone(),
            })
        })
    {
        match super::provider::fate_python(app).await? {
            Some((_, python)) => {
                if let Err(e) = crate::fate_storage::destroy(Path::new(&python), &at).await {
                    tracing::warn!(namespace, name, error = %e, "cannot destroy a standalone table");
                }
            }
            None => tracing::warn!(
                namespace,
                name,
                "no fate provider to destroy a standalone table with"
            ),
        }
    }
    if t.engine == "file"
        && let Some(path) = t
            .address
            .get("path")
            .and_then(Value::as_str)
            .and_then(super::output::local_path)
        && path.starts_with(app.config.standalone_data_dir())
        && let Err(e) = tokio::fs::remove_file(&path).await
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), error = %e, "cannot delete a table file");
    }
    tracing::info!(namespace, name, "table deleted");
    Ok(())
}

/// Confines a `path`/`file` parameter (relative: to `base`) to the allowed directories.
pub(crate) fn confine(app: &App, field: &str, user: &str, base: &Path) -> Result<PathBuf> {
    crate::paths::confine(&app.config.path_roots(), base, user).map_err(|e| {
        Error::refuse_with(
            Input::Parameter,
            format!("Invalid parameter: {field}[{user}]: {e}"),
        )
    })
}

pub(crate) fn no_file(path: &Path) -> Error {
    Error::refuse(Missing::File, &[("path", &path.display().to_string())])
}

/// `/v2/table/bind/path`: registers an existing file or directory as a table (engine `path`,
/// data type `data_directory`, as FATE does). A CSV file's header and row count are read so
/// that components can use it like an uploaded table.
pub async fn bind_path(app: &App, r: &TableBindPath) -> Result<()> {
    check_name("namespace", &r.namespace)?;
    check_name("name", &r.name)?;
    let path = confine(app, "path", &r.path, &app.config.upload_dir)?;
    if !path.exists() {
        return Err(no_file(&path));
    }
    let (header, count, samples) = if path.is_file() {
        let file = path.clone();
        crate::blocking::io(move || scan_csv(&file))
            .await
            .map_err(|source| Error::File {
                path: path.clone(),
                source,
            })?
    } else {
        (Vec::new(), None, Vec::new())
    };
    let now = app.now();
    let meta = TableMetaRow {
        namespace: r.namespace.clone(),
        name: r.name.clone(),
        address: json!({"path": path.display().to_string()}),
        engine: "path".into(),
        options: json!({}),
        partitions: 1,
        delimiter: ",".into(),
        have_head: !header.is_empty(),
        extend_sid: false,
        data_meta: json!({"header": header, "id_column": header.first(), "delimiter": ","}),
        count,
        part_of_data: json!(samples),
        source: json!({}),
        data_type: "data_directory".into(),
        disable: false,
        description: String::new(),
        create_time: now,
        update_time: now,
    };
    app.store.upsert_table_meta(&meta, now).await?;
    tracing::info!(namespace = %r.namespace, name = %r.name, path = %path.display(), "path bound");
    Ok(())
}

/// A CSV file's header, row count and first rows.
type Scanned = (Vec<String>, Option<i64>, Vec<Vec<String>>);

/// The header, row count and first rows of a CSV file, read line by line.
fn scan_csv(path: &Path) -> std::io::Result<Scanned> {
    let mut lines = BufReader::new(std::fs::File::open(path)?).lines();
    let header: Vec<String> = match lines.next() {
        Some(l) => l?
            .trim_end_matches('\r')
            .split(',')
            .map(str::to_string)
            .collect(),
        None => return Ok((Vec::new(), Some(0), Vec::new())),
    };
    let mut count = 0i64;
    let mut samples = Vec::new();
    for line in lines {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        if samples.len() < 10 {
            samples.push(
                line.trim_end_matches('\r')
                    .split(',')
                    .map(str::to_string)
                    .collect(),
            );
        }
        count += 1;
    }
    Ok((header, Some(count), samples))
}

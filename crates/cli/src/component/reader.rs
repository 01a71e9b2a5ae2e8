//! `demo_reader`: makes a CSV of the site's filesystem (`path`), or a table the site already
//! knows (`namespace` + `name`), the task's `output_data`. The table is copied into the data
//! directory, so that later changes to the source do not change what the job read.

use super::Error;
use super::task::{Task, read_table_file, uri_path};
use ferroflow_wire::worker::DataTrackingQuery;

pub const OUTPUT_DATA: &str = "output_data";

pub async fn run(task: &Task) -> Result<(), Error> {
    let p = task.params();
    let table = match (p.string("path")?, p.string("namespace")?, p.string("name")?) {
        (Some(path), _, _) => {
            let path = if path.contains("://") || path.starts_with("file:") || path.starts_with('/')
            {
                uri_path(&path)?
            } else {
                // A relative path is relative to the site's working directory.
                path.clone().into()
            };
            let path = task.file_param("path", &path.to_string_lossy())?;
            tracing::info!(path = %path.display(), "reading");
            read_table_file(&path).await?
        }
        (None, Some(namespace), Some(name)) => {
            let query = DataTrackingQuery {
                namespace: Some(namespace.clone()),
                name: Some(name.clone()),
                ..Default::default()
            };
            let found = task.client.query_tracking(&query).await?;
            let info = found.first().ok_or_else(|| Error::Data {
                reason: format!("the site knows no table {namespace}.{name}"),
            })?;
            tracing::info!(namespace = %namespace, name = %name, uri = %info.path, "reading");
            task.read_table(info).await?
        }
        _ => {
            return Err(Error::Param {
                name: "path".into(),
                reason: "give `path`, or `namespace` and `name`".into(),
            });
        }
    };
    tracing::info!(rows = table.len(), columns = ?table.header(), "read");
    task.write_table(OUTPUT_DATA, &table).await?;
    Ok(())
}

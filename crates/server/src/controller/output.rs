//! `/v2/output/*`: what a task produced (`api.md` §10.6). FATE answers for the latest task
//! version; ferroflow also takes `task_version` to address an earlier run, whose outputs are
//! kept (metrics, models and tables are stored per version).

use std::path::PathBuf;

use serde_json::{Value, json};

use ferroflow_wire::client::OutputTask;

use super::worker::tar_models;
use super::{Error, Missing, Result};
use crate::app::App;
use crate::store::{TaskFilter, TaskRow, TrackingRow};

fn not_found(q: &OutputTask) -> Error {
    Error::refuse(
        Missing::Task,
        &[
            ("job_id", &q.job_id),
            ("role", &q.role),
            ("party_id", &q.party_id),
            ("task_name", &q.task_name),
        ],
    )
}

/// The task run addressed: the latest version, or the one asked for.
async fn task_run(app: &App, q: &OutputTask) -> Result<TaskRow> {
    let rows = app
        .store
        .query_tasks(&TaskFilter {
            job_id: Some(q.job_id.clone()),
            role: Some(q.role.clone()),
            party_id: Some(q.party_id.clone()),
            task_name: Some(q.task_name.clone()),
            task_version: q.task_version,
            ..Default::default()
        })
        .await?;
    rows.into_iter().next().ok_or_else(|| not_found(q))
}

/// `/v2/output/metric/query`: every metric item written, in order.
pub async fn metrics(app: &App, q: &OutputTask) -> Result<Vec<Value>> {
    let t = task_run(app, q).await?;
    let rows = app
        .store
        .metrics_of(
            &q.job_id,
            &q.role,
            &q.party_id,
            &q.task_name,
            i64::from(t.task_version),
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|m| json!({"name": m.name, "type": m.kind, "groups": m.groups, "step_axis": m.step_axis, "data": m.data}))
        .collect())
}

/// `/v2/output/metric/key/query`: the distinct metric keys.
pub async fn metric_keys(app: &App, q: &OutputTask) -> Result<Vec<Value>> {
    let mut out: Vec<Value> = Vec::new();
    for m in metrics(app, q).await? {
        let key = json!({"name": m["name"], "type": m["type"], "groups": m["groups"], "step_axis": m["step_axis"]});
        if !out.contains(&key) {
            out.push(key);
        }
    }
    Ok(out)
}

/// `/v2/output/metric/delete`: whether any metric was deleted.
pub async fn delete_metrics(app: &App, q: &OutputTask) -> Result<bool> {
    let t = task_run(app, q).await?;
    let n = app
        .store
        .delete_metrics(
            &q.job_id,
            &q.role,
            &q.party_id,
            &q.task_name,
            i64::from(t.task_version),
        )
        .await?;
    Ok(n > 0)
}

async fn model_metas(app: &App, q: &OutputTask) -> Result<Vec<crate::store::ModelMetaRow>> {
    let t = task_run(app, q).await?;
    Ok(app
        .store
        .models_of(
            &q.job_id,
            &q.role,
            &q.party_id,
            &q.task_name,
            i64::from(t.task_version),
        )
        .await?)
}

/// `/v2/output/model/query`: `{output_key: model}`, a list for multi-model outputs.
pub async fn models(app: &App, q: &OutputTask) -> Result<Value> {
    let metas = model_metas(app, q).await?;
    if metas.is_empty() {
        return Err(Error::refuse(Missing::ModelOutput, &[]));
    }
    let mut out = serde_json::Map::new();
    for m in metas {
        let bytes = crate::model_store::get(&app.models, &m.storage_key, m.task_version)
            .await
            .map_err(|source| Error::Model {
                what: format!("model {}", m.storage_key),
                source,
            })?;
        let mut models = tar_models(&bytes).map_err(|source| Error::Model {
            what: format!("model {}", m.storage_key),
            source,
        })?;
        let v = if models.len() == 1 {
            models.remove(0).1
        } else {
            Value::Array(models.into_iter().map(|(_, v)| v).collect())
        };
        out.insert(m.output_key, v);
    }
    Ok(Value::Object(out))
}

/// `/v2/output/model/download`: the first stored model archive of the task, named after its
/// output key (as FATE's attachment is).
pub async fn model_archive(app: &App, q: &OutputTask) -> Result<(String, Vec<u8>)> {
    let m = model_metas(app, q)
        .await?
        .into_iter()
        .next()
        .ok_or(Error::NoModel {
            python: true,
            source: None,
        })?;
    let bytes = crate::model_store::get(&app.models, &m.storage_key, m.task_version)
        .await
        .map_err(|e| Error::NoModel {
            python: true,
            source: Some(e),
        })?;
    Ok((m.output_key, bytes))
}

/// `/v2/output/model/delete`: removes every model of the task run.
pub async fn delete_models(app: &App, q: &OutputTask) -> Result<()> {
    let metas = model_metas(app, q).await?;
    if metas.is_empty() {
        return Err(Error::refuse(Missing::ModelOutput, &[]));
    }
    let keys: Vec<(String, i64)> = metas
        .iter()
        .map(|m| (m.storage_key.clone(), m.task_version))
        .collect();
    app.store.delete_model_metas(&keys).await?;
    for (k, v) in &keys {
        if let Err(e) = crate::model_store::delete(&app.models, k, *v).await {
            tracing::warn!(key = %k, error = %e, "cannot delete a model archive");
        }
    }
    Ok(())
}

async fn outputs(app: &App, q: &OutputTask, output_key: Option<&str>) -> Result<Vec<TrackingRow>> {
    let t = task_run(app, q).await?;
    Ok(app
        .store
        .tracking_of(
            t.job_id.as_str(),
            t.task_id.as_str(),
            i64::from(t.task_version),
            &q.role,
            &q.party_id,
            output_key,
        )
        .await?)
}

/// `/v2/output/data/table`: `{output_key: [{namespace, name}, ...]}` (a bare object).
pub async fn data_tables(app: &App, q: &OutputTask) -> Result<Value> {
    let mut out = serde_json::Map::new();
    for r in outputs(app, q, None).await? {
        let list = out.entry(r.output_key.clone()).or_insert_with(|| json!([]));
        if let Some(a) = list.as_array_mut() {
            a.push(json!({"namespace": r.namespace, "name": r.name}));
        }
    }
    Ok(Value::Object(out))
}

/// `/v2/output/data/display`: `{output_key: [{data: sample rows, metadata, total}, ...]}`
/// for the task's table outputs (a bare object).
pub async fn data_display(app: &App, q: &OutputTask) -> Result<Value> {
    let mut out = serde_json::Map::new();
    for r in outputs(app, q, None).await? {
        let Some(meta) = app.store.table_meta(&r.namespace, &r.name).await? else {
            continue;
        };
        let list = out.entry(r.output_key.clone()).or_insert_with(|| json!([]));
        if let Some(a) = list.as_array_mut() {
            a.push(
                json!({"data": meta.part_of_data, "metadata": meta.data_meta, "total": meta.count}),
            );
        }
    }
    Ok(Value::Object(out))
}

/// A table's file on this site: the tracked URI, or the address its meta records.
pub(crate) async fn table_file(
    app: &App,
    uri: &str,
    namespace: &str,
    name: &str,
) -> Result<Option<PathBuf>> {
    if let Some(p) = local_path(uri) {
        return Ok(Some(p));
    }
    let meta = app.store.table_meta(namespace, name).await?;
    Ok(meta
        .and_then(|m| {
            m.address
                .get("path")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .and_then(|p| local_path(&p)))
}

/// `file://<abs>`, `file:<abs>` or an absolute path, as a path.
pub(crate) fn local_path(uri: &str) -> Option<PathBuf> {
    let rest = uri
        .strip_prefix("file://")
        .or_else(|| uri.strip_prefix("file:"))
        .unwrap_or(uri);
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    rest.starts_with('/').then(|| PathBuf::from(rest))
}

/// The header line of a CSV table file, as column names.
pub(crate) fn csv_header(bytes: &[u8]) -> Vec<String> {
    let line = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let line = line.trim_end_matches('\r');
    if line.is_empty() {
        return Vec::new();
    }
    line.split(',').map(str::to_string).collect()
}

/// A table's rows as text and its column names: a native table's CSV file as it is; a FATE
/// standalone table exported by the storage helper with the `fate` provider's Python (the
/// header line first, then `key<delimiter>value` lines or a dataframe's rows, as FATE Flow
/// writes them). `None` when the table has no readable data here.
pub(crate) async fn table_text(
    app: &App,
    uri: &str,
    meta: &crate::store::TableMetaRow,
) -> Result<Option<(Vec<u8>, Vec<String>)>> {
    use crate::fate_storage;
    let unreadable = |e: String| {
        Error::refuse(
            Missing::Table,
            &[
                ("namespace", &meta.namespace),
                ("name", &meta.name),
                ("reason", &e),
            ],
        )
    };
    if let Some(at) = fate_storage::Location::from_uri(uri) {
        let Some((_, python)) = super::provider::fate_python(app).await? else {
            return Err(unreadable(
                "a FATE standalone table: no local fate provider with metadata.venv to read it"
                    .into(),
            ));
        };
        let delimiter = if meta.delimiter.is_empty() {
            ","
        } else {
            meta.delimiter.as_str()
        };
        let header = fate_storage::header(&meta.data_meta, delimiter);
        let tmp = app
            .config
            .data_dir
            .join("tmp")
            .join(format!("{}.csv", uuid::Uuid::new_v4().simple()));
        let exported = fate_storage::export(
            std::path::Path::new(&python),
            &at,
            &tmp,
            delimiter,
            Some(&header.join(delimiter)),
        )
        .await
        .map_err(|e| unreadable(e.to_string()));
        let exported = match exported {
            Ok(_) => tokio::fs::read(&tmp)
                .await
                .map_err(|e| unreadable(e.to_string())),
            Err(e) => Err(e),
        };
        let _ = tokio::fs::remove_file(&tmp).await;
        let bytes = exported?;
        return Ok(Some((bytes, header)));
    }
    let Some(path) = table_file(app, uri, &meta.namespace, &meta.name).await? else {
        return Ok(None);
    };
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|e| unreadable(e.to_string()))?;
    let header = csv_header(&bytes);
    Ok(Some((bytes, header)))
}

/// `/v2/output/data/download`: a tar.gz with `<output_key>/<index>.csv` and
/// `<output_key>/<index>.meta` (`{"header": [...]}`) for every output table of the task run.
pub async fn data_archive(
    app: &App,
    q: &OutputTask,
    output_key: Option<&str>,
) -> Result<(String, Vec<u8>)> {
    let rows = outputs(app, q, output_key).await?;
    if rows.is_empty() {
        return Err(Error::refuse(
            Missing::Table,
            &[
                ("job_id", &q.job_id),
                ("role", &q.role),
                ("party_id", &q.party_id),
                ("task_name", &q.task_name),
            ],
        ));
    }
    let mut members = Vec::new();
    for r in rows {
        let Some(meta) = app.store.table_meta(&r.namespace, &r.name).await? else {
            continue;
        };
        let uri = if r.uri.is_empty() {
            meta.address
                .get("path")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        } else {
            r.uri.clone()
        };
        let Some((bytes, header)) = table_text(app, &uri, &meta).await? else {
            continue;
        };
        members.push((format!("{}/{}.csv", r.output_key, r.index), bytes));
        members.push((
            format!("{}/{}.meta", r.output_key, r.index),
            serde_json::to_vec(&json!({ "header": header })).unwrap_or_default(),
        ));
    }
    let bytes = crate::archive::targz(&members).map_err(|source| Error::Archive {
        kind: "archive",
        source,
    })?;
    Ok((
        format!("{}_{}_{}_{}", q.job_id, q.role, q.party_id, q.task_name),
        bytes,
    ))
}

//! `/v2/output/*`: what a task produced, for its latest version (`api.md` §10.6).

use serde_json::{Value, json};

use ferroflow_wire::RetCode;
use ferroflow_wire::client::OutputTask;

use super::worker::{model_path, tar_models};
use super::{Error, Result};
use crate::app::App;
use crate::store::{TaskFilter, TaskRow};

async fn latest(app: &App, q: &OutputTask) -> Result<TaskRow> {
    let rows = app
        .store
        .query_tasks(&TaskFilter {
            job_id: Some(q.job_id.clone()),
            role: Some(q.role.clone()),
            party_id: Some(q.party_id.clone()),
            task_name: Some(q.task_name.clone()),
            ..Default::default()
        })
        .await?;
    rows.into_iter().next().ok_or_else(|| {
        Error::fate(
            RetCode::TaskNotFound,
            &[
                ("job_id", &q.job_id),
                ("role", &q.role),
                ("party_id", &q.party_id),
                ("task_name", &q.task_name),
            ],
        )
    })
}

/// `/v2/output/metric/query`: every metric item written, in order.
pub async fn metrics(app: &App, q: &OutputTask) -> Result<Vec<Value>> {
    let t = latest(app, q).await?;
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

/// `/v2/output/model/query`: `{output_key: model}`, a list for multi-model outputs.
pub async fn models(app: &App, q: &OutputTask) -> Result<Value> {
    let t = latest(app, q).await?;
    let metas = app
        .store
        .models_of(
            &q.job_id,
            &q.role,
            &q.party_id,
            &q.task_name,
            i64::from(t.task_version),
        )
        .await?;
    if metas.is_empty() {
        return Err(Error::fate(RetCode::TaskNoFoundModelOutput, &[]));
    }
    let mut out = serde_json::Map::new();
    for m in metas {
        let bytes = std::fs::read(model_path(app, &m.storage_key, m.task_version))
            .map_err(|e| Error::Internal(format!("model {}: {e}", m.storage_key)))?;
        let mut models = tar_models(&bytes)
            .map_err(|e| Error::Internal(format!("model {}: {e}", m.storage_key)))?;
        let v = if models.len() == 1 {
            models.remove(0).1
        } else {
            Value::Array(models.into_iter().map(|(_, v)| v).collect())
        };
        out.insert(m.output_key, v);
    }
    Ok(Value::Object(out))
}

/// `/v2/output/model/download`: the first stored model archive of the task.
pub async fn model_archive(app: &App, q: &OutputTask) -> Result<(String, Vec<u8>)> {
    let t = latest(app, q).await?;
    let metas = app
        .store
        .models_of(
            &q.job_id,
            &q.role,
            &q.party_id,
            &q.task_name,
            i64::from(t.task_version),
        )
        .await?;
    let m = metas
        .into_iter()
        .next()
        .ok_or_else(|| Error::Internal("No found model".into()))?;
    let bytes = std::fs::read(model_path(app, &m.storage_key, m.task_version))
        .map_err(|e| Error::Internal(format!("No found model: {e}")))?;
    Ok((
        format!("{}_{}_{}_{}", q.job_id, q.role, q.party_id, q.task_name),
        bytes,
    ))
}

/// `/v2/output/data/table`: `{output_key: [{namespace, name}, ...]}` (a bare object).
pub async fn data_tables(app: &App, q: &OutputTask) -> Result<Value> {
    let t = latest(app, q).await?;
    let rows = app
        .store
        .tracking_of(
            t.job_id.as_str(),
            t.task_id.as_str(),
            i64::from(t.task_version),
            &q.role,
            &q.party_id,
            None,
        )
        .await?;
    let mut out = serde_json::Map::new();
    for r in rows {
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
    let t = latest(app, q).await?;
    let rows = app
        .store
        .tracking_of(
            t.job_id.as_str(),
            t.task_id.as_str(),
            i64::from(t.task_version),
            &q.role,
            &q.party_id,
            None,
        )
        .await?;
    let mut out = serde_json::Map::new();
    for r in rows {
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

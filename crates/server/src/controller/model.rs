//! `/v2/model/*`: the model store (`api.md` §10.5). Export writes a zip with one member per
//! storage key (the archive the task saved, byte for byte); import stores those archives
//! under a new model id and version. `load`, `migrate`, `store` and `restore` are stubs
//! upstream and answer success here too.

use serde_json::Value;

use ferroflow_wire::client::model::{ModelDelete, ModelExport, ModelImport};

use super::table::confine;
use super::worker::{storage_key, tar_metas};
use super::{Error, Input, Missing, Result};
use crate::app::App;
use crate::store::{ModelFilter, ModelMetaRow};

fn no_model(model_id: &str, model_version: &str) -> Error {
    Error::refuse(
        Missing::ModelOutput,
        &[("model_id", model_id), ("model_version", model_version)],
    )
}

/// The newest version of each storage key among `rows`.
fn latest(rows: Vec<ModelMetaRow>) -> Vec<ModelMetaRow> {
    let mut out: Vec<ModelMetaRow> = Vec::new();
    for r in rows {
        match out.iter_mut().find(|o| o.storage_key == r.storage_key) {
            Some(o) if o.task_version < r.task_version => *o = r,
            Some(_) => {}
            None => out.push(r),
        }
    }
    out
}

/// `/v2/model/export`: `<path>/<model_id>_<model_version>_<role>_<party_id>.zip`.
pub async fn export(app: &App, r: &ModelExport) -> Result<std::path::PathBuf> {
    let dir = confine(app, "path", &r.path, &app.config.upload_dir)?;
    let rows = app
        .store
        .models_by_id(
            &r.model_id,
            &r.model_version,
            &ModelFilter {
                role: Some(r.role.clone()),
                party_id: Some(r.party_id.clone()),
                ..Default::default()
            },
        )
        .await?;
    let rows = latest(rows);
    if rows.is_empty() {
        return Err(no_model(&r.model_id, &r.model_version));
    }
    let mut members = Vec::with_capacity(rows.len());
    for m in &rows {
        let bytes = crate::model_store::get(&app.models, &m.storage_key, m.task_version)
            .await
            .map_err(|source| Error::Model {
                what: format!("model {}", m.storage_key),
                source,
            })?;
        members.push((m.storage_key.clone(), bytes));
    }
    let zip = crate::archive::zip(&members).map_err(|source| Error::Archive {
        kind: "zip",
        source,
    })?;
    let file = dir.join(format!(
        "{}_{}_{}_{}.zip",
        r.model_id, r.model_version, r.role, r.party_id
    ));
    let target = file.clone();
    crate::blocking::io(move || crate::model_store::write_atomically(&target, &zip))
        .await
        .map_err(|source| Error::File {
            path: file.clone(),
            source,
        })?;
    tracing::info!(model_id = %r.model_id, models = rows.len(), file = %file.display(), "models exported");
    Ok(file)
}

/// `/v2/model/import`: every member of an exported zip, under the new id and version.
pub async fn import(app: &App, r: &ModelImport, zip: &[u8]) -> Result<usize> {
    let members = crate::archive::unzip(zip).map_err(|e| {
        Error::refuse_with(
            Input::Parameter,
            format!("Invalid parameter: file: not a model export zip: {e}"),
        )
    })?;
    // Check everything before storing anything.
    let mut parsed = Vec::with_capacity(members.len());
    for (name, bytes) in &members {
        let parts: Vec<&str> = name.split('/').collect();
        if parts.len() != 6
            || parts
                .iter()
                .any(|p| p.is_empty() || *p == "." || *p == "..")
        {
            return Err(Error::refuse_with(
                Input::Parameter,
                format!(
                    "Invalid parameter: file: member {name:?} is not a storage key (model_id/model_version/role/party_id/task_name/output_key)"
                ),
            ));
        }
        let metas = tar_metas(bytes).map_err(|e| {
            Error::refuse_with(
                Input::Parameter,
                format!("Invalid parameter: file: member {name:?} is not a model archive: {e}"),
            )
        })?;
        parsed.push((parts, bytes, metas));
    }
    let now = app.now();
    for (parts, bytes, metas) in &parsed {
        let (role, party_id, task_name, output_key) = (parts[2], parts[3], parts[4], parts[5]);
        let key = storage_key(
            &r.model_id,
            &r.model_version,
            role,
            party_id,
            task_name,
            output_key,
        );
        let task_id = metas
            .first()
            .and_then(|m| m["source"]["task_id"].as_str())
            .unwrap_or_default();
        let job_id = task_id
            .strip_suffix(&format!("_{task_name}"))
            .unwrap_or_default()
            .to_string();
        let type_name = metas
            .first()
            .and_then(|m| m["type_name"].as_str())
            .unwrap_or("json_model")
            .to_string();
        crate::model_store::put(&app.models, &key, 0, bytes.to_vec())
            .await
            .map_err(|source| Error::Model {
                what: format!("model {key}"),
                source,
            })?;
        app.store
            .upsert_model_meta(
                &ModelMetaRow {
                    storage_key: key,
                    task_version: 0,
                    model_id: r.model_id.clone(),
                    model_version: r.model_version.clone(),
                    job_id,
                    role: role.to_string(),
                    party_id: party_id.to_string(),
                    task_name: task_name.to_string(),
                    output_key: output_key.to_string(),
                    type_name,
                    meta_data: Value::Array(metas.clone()),
                    storage_engine: app.models.engine().into(),
                    create_time: now,
                },
                now,
            )
            .await?;
    }
    tracing::info!(model_id = %r.model_id, models = parsed.len(), "models imported");
    Ok(parsed.len())
}

/// `/v2/model/delete`: every stored version of the matching models.
pub async fn delete(app: &App, r: &ModelDelete) -> Result<bool> {
    let rows = app
        .store
        .models_by_id(
            &r.model_id,
            &r.model_version,
            &ModelFilter {
                role: r.role.clone(),
                party_id: r.party_id.clone(),
                task_name: r.task_name.clone(),
                output_key: r.output_key.clone(),
            },
        )
        .await?;
    if rows.is_empty() {
        return Err(no_model(&r.model_id, &r.model_version));
    }
    let keys: Vec<(String, i64)> = rows
        .iter()
        .map(|m| (m.storage_key.clone(), m.task_version))
        .collect();
    let n = app.store.delete_model_metas(&keys).await?;
    for (k, v) in &keys {
        if let Err(e) = crate::model_store::delete(&app.models, k, *v).await {
            tracing::warn!(key = %k, error = %e, "cannot delete a model archive");
        }
    }
    Ok(n > 0)
}

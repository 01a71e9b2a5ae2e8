//! `/v2/provider/*`: algorithm providers (`execution.md` §2).

use std::path::Path;

use serde_json::{Map, Value, json};

use ferroflow_core::provider::{Device, ProviderRef};
use ferroflow_wire::RetCode;
use ferroflow_wire::client::{ProviderFilter as WireFilter, ProviderRegister};
use ferroflow_wire::records::ProviderRecord;

use super::{Error, Result};
use crate::app::App;
use crate::store::{ProviderFilter, ProviderRow};

/// A provider the site registers itself at every start (the demo provider).
#[derive(Debug, Clone)]
pub struct Builtin {
    pub name: String,
    pub version: String,
    /// The command its components run with.
    pub entrypoint: Vec<String>,
    /// Each component's name and description: `{inputs: {data: [..], model: [..]},
    /// outputs: {data: [..], model: [..], metric: [..]}}`, which lets a DAG's input and output
    /// keys be checked at submit.
    pub components: Vec<(String, Value)>,
}

/// Registers or replaces a provider. Returns FATE's message (`create success` /
/// `update success`).
pub async fn register(app: &App, req: &ProviderRegister) -> Result<&'static str> {
    let device: Device = req
        .device
        .parse()
        .map_err(|_| Error::fate(RetCode::DeviceNotSupported, &[("device", &req.device)]))?;
    if device == Device::Local {
        for key in ["path", "venv"] {
            if let Some(p) = req
                .metadata
                .get(key)
                .and_then(Value::as_str)
                .filter(|p| !p.is_empty())
                && !Path::new(p).exists()
            {
                return Err(Error::fate(RetCode::FileNotFound, &[("path", p)]));
            }
        }
    }
    let components: Vec<(String, Value)> = req
        .components_description
        .as_ref()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let provider = ProviderRef::new(&req.name, &req.version, device);
    let created = save(app, &provider, req.metadata.clone(), &components).await?;
    Ok(if created {
        "create success"
    } else {
        "update success"
    })
}

async fn save(
    app: &App,
    p: &ProviderRef,
    metadata: Map<String, Value>,
    components: &[(String, Value)],
) -> Result<bool> {
    let now = app.now();
    let row = ProviderRow {
        provider_name: p.to_string(),
        name: p.name.clone(),
        version: p.version.clone(),
        device: p.device.to_string(),
        metadata: Value::Object(metadata),
        create_time: now,
        update_time: now,
    };
    Ok(app.store.upsert_provider(&row, components, now).await?)
}

/// Registers the site's built-in providers (their entry point follows the running binary).
pub async fn register_builtins(app: &App, builtins: &[Builtin]) -> Result<()> {
    for b in builtins {
        let p = ProviderRef::new(&b.name, &b.version, Device::Local);
        let dir = b
            .entrypoint
            .first()
            .and_then(|e| Path::new(e).parent())
            .map(|d| d.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut metadata = Map::new();
        metadata.insert("path".into(), json!(dir));
        metadata.insert("venv".into(), Value::Null);
        metadata.insert("entrypoint".into(), json!(b.entrypoint));
        save(app, &p, metadata, &b.components).await?;
        tracing::info!(provider = %p, "built-in provider registered");
    }
    Ok(())
}

fn filter(f: &WireFilter) -> ProviderFilter {
    ProviderFilter {
        name: f.name.clone(),
        device: f.device.clone(),
        version: f.version.clone(),
        provider_name: f.provider_name.clone(),
    }
}

/// `/v2/provider/query`: no filter gives an empty list, as upstream.
pub async fn query(app: &App, f: &WireFilter) -> Result<Vec<ProviderRecord>> {
    if f.is_empty() {
        return Ok(Vec::new());
    }
    Ok(app
        .store
        .query_providers(&filter(f))
        .await?
        .into_iter()
        .map(record)
        .collect())
}

pub async fn delete(app: &App, f: &WireFilter) -> Result<bool> {
    if f.is_empty() {
        return Ok(false);
    }
    Ok(app.store.delete_providers(&filter(f)).await? > 0)
}

pub fn record(p: ProviderRow) -> ProviderRecord {
    ProviderRecord {
        provider_name: p.provider_name,
        name: p.name,
        version: p.version,
        device: p.device,
        metadata: p.metadata,
        create_time: p.create_time,
        update_time: p.update_time,
    }
}

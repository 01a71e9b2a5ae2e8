//! `/v2/provider/*`: algorithm providers (`execution.md` §2).

use std::path::Path;

use serde_json::{Map, Value, json};

use ferroflow_core::provider::{Device, ProviderRef};
use ferroflow_wire::client::{ProviderFilter as WireFilter, ProviderRegister};
use ferroflow_wire::records::ProviderRecord;

use super::{Error, Input, Missing, Result};
use crate::app::App;
use crate::launcher::docker;
use crate::store::{ProviderFilter, ProviderRow};

pub use ferroflow_core::provider::Builtin;

/// Registers or replaces a provider. Returns FATE's message (`create success` /
/// `update success`).
pub async fn register(app: &App, req: &ProviderRegister) -> Result<&'static str> {
    let device: Device = req
        .device
        .parse()
        .map_err(|_| Error::refuse(Input::Device, &[("device", &req.device)]))?;
    if device == Device::K8s {
        // FATE accepts it and then cannot run it (W-exec-4); refused here until it runs
        // (docs/containers.md, "Kubernetes").
        return Err(Error::refuse(
            Input::Device,
            &[
                ("device", &req.device),
                (
                    "reason",
                    "this site cannot run tasks on Kubernetes yet: register the image with \
                     device docker (a Docker Engine), or run the tasks locally",
                ),
            ],
        ));
    }
    if device == Device::Local {
        for key in ["path", "venv"] {
            if let Some(p) = req
                .metadata
                .get(key)
                .and_then(Value::as_str)
                .filter(|p| !p.is_empty())
                && !Path::new(p).exists()
            {
                return Err(Error::refuse(Missing::File, &[("path", p)]));
            }
        }
    }
    let mut components: Vec<(String, Value)> = req
        .components_description
        .as_ref()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    if device == Device::Local && req.name == FATE && req.components_description.is_none() {
        let python = str_of(&req.metadata, "venv").unwrap_or_else(|| "python3".into());
        let path = str_of(&req.metadata, "path");
        components = pyfate_components(&python, path.as_deref())
            .await
            .map_err(|reason| {
                Error::refuse(
                    Input::Provider,
                    &[
                        (
                            "metadata",
                            &Value::Object(docker::redacted(&req.metadata)).to_string(),
                        ),
                        ("reason", &reason),
                    ],
                )
            })?
            .into_iter()
            .map(|c| (c, json!({})))
            .collect();
    }
    if device == Device::Docker {
        let found = docker_image_components(app, &req.metadata).await?;
        if req.components_description.is_none() {
            components = found;
        }
    }
    let provider = ProviderRef::new(&req.name, &req.version, device);
    let created = save(app, &provider, req.metadata.clone(), &components).await?;
    Ok(if created {
        "create success"
    } else {
        "update success"
    })
}

pub use ferroflow_core::provider::FATE;

fn str_of(m: &Map<String, Value>, key: &str) -> Option<String> {
    m.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// pyfate's component names, as `python -m fate.components component list` prints them
/// (`{'buildin': [...], 'thirdparty': [...]}`); FATE imports the same list in its server.
pub async fn pyfate_components(python: &str, path: Option<&str>) -> Result<Vec<String>, String> {
    let mut cmd = tokio::process::Command::new(python);
    cmd.args(["-m", "fate.components", "component", "list"])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    if let Some(p) = path {
        let inherited = std::env::var("PYTHONPATH").unwrap_or_default();
        cmd.env(
            "PYTHONPATH",
            if inherited.is_empty() {
                p.to_string()
            } else {
                format!("{p}:{inherited}")
            },
        );
    }
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), cmd.output())
        .await
        .map_err(|_| format!("{python} -m fate.components component list: no answer in 120 s"))?
        .map_err(|e| format!("cannot run {python}: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        let last: Vec<&str> = stderr.lines().rev().take(5).collect();
        return Err(format!(
            "{python} cannot list pyfate's components ({}): {}",
            out.status,
            last.into_iter().rev().collect::<Vec<_>>().join(" | ")
        ));
    }
    let listed: serde_yaml::Value = serde_yaml::from_slice(&out.stdout)
        .map_err(|e| format!("unreadable component list from {python}: {e}"))?;
    let mut names = Vec::new();
    for key in ["buildin", "thirdparty"] {
        for n in listed
            .get(key)
            .and_then(serde_yaml::Value::as_sequence)
            .into_iter()
            .flatten()
            .filter_map(serde_yaml::Value::as_str)
        {
            names.push(n.to_string());
        }
    }
    if names.is_empty() {
        return Err(format!("{python} lists no pyfate component"));
    }
    Ok(names)
}

/// Registers `fate:<version>@local` at start with the configured Python, as FATE registers
/// its default `fate` provider. A failure is logged, not fatal (FATE's behaviour).
pub async fn register_fate(app: &App, fate: &crate::config::FateConfig) {
    let mut metadata = Map::new();
    metadata.insert("path".into(), json!(fate.path));
    metadata.insert("venv".into(), json!(fate.venv.display().to_string()));
    let req = ProviderRegister {
        name: FATE.into(),
        device: "local".into(),
        version: fate.version.clone(),
        metadata,
        protocol: None,
        components_description: None,
    };
    match register(app, &req).await {
        Ok(_) => {
            tracing::info!(provider = %format!("fate:{}@local", fate.version), venv = %fate.venv.display(), "fate provider registered")
        }
        Err(e) => {
            tracing::error!(venv = %fate.venv.display(), error = %e, "cannot register the fate provider")
        }
    }
}

pub use crate::run::fate_python;

/// A docker provider's image must exist on its daemon (`metadata.base_url`, empty: the local
/// socket); its components are the values of its `component.<n>.name` labels, each described
/// by the JSON of `component.<n>.description` if there is one (FATE registers the label keys
/// instead, W-prov-2).
async fn docker_image_components(
    app: &App,
    metadata: &Map<String, Value>,
) -> Result<Vec<(String, Value)>> {
    // The metadata as a message may show it: registry credentials never are.
    let params = |reason: String| {
        Error::refuse(
            Input::Provider,
            &[
                (
                    "metadata",
                    &Value::Object(docker::redacted(metadata)).to_string(),
                ),
                ("reason", &reason),
            ],
        )
    };
    // The provider's own credentials (`metadata.auth_config`) win over the site's for its
    // registry (`docker.registries`).
    let own_auth = docker::metadata_auth(metadata).map_err(|r| params(r.into()))?;
    let base_url = match metadata.get("base_url") {
        None | Some(Value::Null) => "",
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(params("metadata.base_url must be a string".into())),
    };
    let image = metadata
        .get("image")
        .and_then(Value::as_str)
        .filter(|i| !i.is_empty())
        .ok_or_else(|| params("metadata.image is required for a docker provider".into()))?;
    let docker = docker::connect(base_url)
        .await
        .map_err(|e| params(chain(&e)))?;
    let labels = match docker::image_labels(&docker, base_url, image).await {
        // Not on the daemon: an image that names its registry is pulled from it, with the
        // credentials `docker.registries` has for it.
        Err(docker::Error::NoImage { .. }) if docker::registry_of(image).is_some() => {
            let auth = own_auth.as_ref().or_else(|| {
                docker::registry_of(image).and_then(|r| app.config.docker.registries.get(r))
            });
            docker::pull(&docker, base_url, image, auth)
                .await
                .map_err(|e| params(chain(&e)))?;
            docker::image_labels(&docker, base_url, image).await
        }
        other => other,
    }
    .map_err(|e| match e {
        docker::Error::NoImage { .. } => params(format!(
            "{e}: build or load it on that daemon first, or name its registry \
             (<registry>/<name>:<tag>) to have it pulled"
        )),
        e => params(chain(&e)),
    })?;
    let mut found: Vec<(u64, String, Value)> = labels
        .iter()
        .filter_map(|(k, v)| {
            let n: u64 = k
                .strip_prefix("component.")?
                .strip_suffix(".name")?
                .parse()
                .ok()?;
            let desc = labels
                .get(&format!("component.{n}.description"))
                .and_then(|d| serde_json::from_str::<Value>(d).ok())
                .filter(Value::is_object)
                .unwrap_or_else(|| json!({}));
            Some((n, v.clone(), desc))
        })
        .collect();
    found.sort_by_key(|(n, _, _)| *n);
    Ok(found.into_iter().map(|(_, name, d)| (name, d)).collect())
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
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
        device: p.device,
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
        device: p.device.to_string(),
        // Registry credentials (`metadata.auth_config`) are kept, never answered.
        metadata: match p.metadata {
            Value::Object(m) => Value::Object(docker::redacted(&m)),
            other => other,
        },
        create_time: p.create_time,
        update_time: p.update_time,
    }
}

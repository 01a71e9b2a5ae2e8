//! Input artifacts (`dag.md` §8.7): each channel of the CONFIG addressed to this party is
//! resolved through api-3 — data by a tracking query, models by downloading their archive into
//! `<T_in>/model/` — into the `{uri, metadata, type_name}` pyfate reads.

use std::io::Read;
use std::path::{Path, PathBuf};

use ferroflow_wire::dag::{Channel, PartySpec};
use ferroflow_wire::task_config::TaskConfig;
use ferroflow_wire::worker::{DataTableInfo, DataTrackingQuery, ModelDownload};
use serde_json::{Map, Value, json};

use super::Error;
use super::define::{Class, Define};
use crate::component::worker_client::{self, WorkerClient};

/// The resolved inputs, and the tables to destroy after a success (inputs of type `table`
/// produced by this job: the temporary table an upload writes for the dataframe transformer).
#[derive(Debug, Default)]
pub struct Resolved {
    pub artifacts: Map<String, Value>,
    pub temporary_tables: Vec<(String, String)>,
}

/// Whether a channel is addressed to this party (no `parties`: to every party).
fn addressed_to(parties: &Option<Vec<PartySpec>>, role: &str, party_id: &str) -> bool {
    match parties {
        None => true,
        Some(list) => list.iter().any(|p| {
            p.role.as_deref() == Some(role) && p.party_id.iter().flatten().any(|id| id == party_id)
        }),
    }
}

fn channel_parties(c: &Channel) -> &Option<Vec<PartySpec>> {
    match c {
        Channel::TaskOutput(t) => &t.parties,
        Channel::DataWarehouse(d) => &d.parties,
        Channel::ModelWarehouse(m) => &m.parties,
    }
}

pub async fn resolve(
    config: &TaskConfig,
    client: &WorkerClient,
    define: &Define,
    input_dir: &Path,
) -> Result<Resolved, Error> {
    let mut out = Resolved::default();
    let partitions = config.computing_partitions;
    if let Some(data) = &config.input_artifacts.data {
        for (key, channels) in data.iter() {
            let mut items = Vec::new();
            for c in channels.iter() {
                if !addressed_to(channel_parties(c), &config.role, &config.party_id) {
                    tracing::info!(input = %key, "not addressed to this party");
                    continue;
                }
                let Some(found) = data_input(config, client, define, key, c).await? else {
                    continue;
                };
                // Only a table this job made (an upload's temporary table) is destroyed after
                // a success; tables named by the user never are (FATE destroys both, W-out-1).
                for t in found.iter().filter(|_| matches!(c, Channel::TaskOutput(_))) {
                    if t.data_type == "table" {
                        out.temporary_tables
                            .push((t.namespace.clone(), t.name.clone()));
                    }
                }
                let mut artifacts: Vec<Value> =
                    found.iter().map(|t| data_artifact(t, partitions)).collect();
                if artifacts.len() == 1 {
                    items.push(artifacts.remove(0));
                } else {
                    items.push(Value::Array(artifacts));
                }
            }
            if let Some(v) = shape(
                items,
                channels.is_many() || define.is_multi_input(Class::Data, key),
            ) {
                out.artifacts.insert(key.clone(), v);
            }
        }
    }
    if let Some(models) = &config.input_artifacts.model {
        for (key, channels) in models.iter() {
            let mut items = Vec::new();
            for c in channels.iter() {
                if !addressed_to(channel_parties(c), &config.role, &config.party_id) {
                    continue;
                }
                if let Some(v) = model_input(config, client, define, key, c, input_dir).await? {
                    items.push(v);
                }
            }
            if let Some(v) = shape(
                items,
                channels.is_many() || define.is_multi_input(Class::Model, key),
            ) {
                out.artifacts.insert(key.clone(), v);
            }
        }
    }
    Ok(out)
}

/// One artifact, or a list for a multi input (or a list of channels); nothing when empty.
fn shape(mut items: Vec<Value>, many: bool) -> Option<Value> {
    match (items.len(), many) {
        (0, _) => None,
        (1, false) => Some(items.remove(0)),
        _ => Some(Value::Array(items)),
    }
}

/// `{uri, type_name, metadata: {metadata: {options: {partitions}, schema}, source}}`.
pub fn data_artifact(t: &DataTableInfo, partitions: Option<i64>) -> Value {
    let mut metadata = json!({
        "metadata": {"options": {"partitions": partitions}, "schema": t.meta},
        "name": null,
        "namespace": null,
        "source": null,
    });
    if t.source.as_object().is_some_and(|s| !s.is_empty()) {
        metadata["source"] = t.source.clone();
    }
    json!({"uri": t.path, "type_name": t.data_type, "metadata": metadata})
}

async fn data_input(
    config: &TaskConfig,
    client: &WorkerClient,
    define: &Define,
    key: &str,
    channel: &Channel,
) -> Result<Option<Vec<DataTableInfo>>, Error> {
    let by_producer =
        |job_id: &str, producer: &Option<String>, output: &Option<String>| DataTrackingQuery {
            job_id: Some(job_id.to_string()),
            role: Some(config.role.clone()),
            party_id: Some(config.party_id.clone()),
            task_name: producer.clone(),
            output_key: output.clone(),
            ..Default::default()
        };
    let query = match channel {
        Channel::TaskOutput(t) => {
            by_producer(&config.job_id, &t.producer_task, &t.output_artifact_key)
        }
        Channel::DataWarehouse(d) if d.namespace.is_some() && d.name.is_some() => {
            DataTrackingQuery {
                namespace: d.namespace.clone(),
                name: d.name.clone(),
                ..Default::default()
            }
        }
        Channel::DataWarehouse(d) => by_producer(
            d.job_id.as_deref().unwrap_or(&config.job_id),
            &d.producer_task,
            &d.output_artifact_key,
        ),
        Channel::ModelWarehouse(_) => {
            return Err(Error::Input {
                key: key.into(),
                reason: "a model channel cannot feed a data input".into(),
            });
        }
    };
    tracing::info!(input = key, ?query, "query data");
    match client.query_tracking(&query).await {
        Ok(found) if !found.is_empty() => Ok(Some(found)),
        Ok(_) | Err(worker_client::Error::Code { .. })
            if define.is_optional_input(Class::Data, key) =>
        {
            tracing::info!(input = key, "optional input not found, going on without it");
            Ok(None)
        }
        Ok(_) => Err(Error::Input {
            key: key.into(),
            reason: format!("no table for {query:?}"),
        }),
        Err(source) => Err(Error::InputQuery {
            key: key.into(),
            source,
        }),
    }
}

async fn model_input(
    config: &TaskConfig,
    client: &WorkerClient,
    define: &Define,
    key: &str,
    channel: &Channel,
    input_dir: &Path,
) -> Result<Option<Value>, Error> {
    let (producer, output, model_id, model_version) = match channel {
        Channel::TaskOutput(t) => (
            &t.producer_task,
            &t.output_artifact_key,
            config.model_id.clone(),
            config.model_version.clone(),
        ),
        Channel::ModelWarehouse(m) => match (&m.model_id, &m.model_version) {
            (Some(id), Some(v)) => (
                &m.producer_task,
                &m.output_artifact_key,
                id.clone(),
                v.clone(),
            ),
            _ => (
                &m.producer_task,
                &m.output_artifact_key,
                config.model_id.clone(),
                config.model_version.clone(),
            ),
        },
        Channel::DataWarehouse(_) => {
            return Err(Error::Input {
                key: key.into(),
                reason: "a data channel cannot feed a model input".into(),
            });
        }
    };
    let query = ModelDownload {
        model_id,
        model_version,
        role: config.role.clone(),
        party_id: config.party_id.clone(),
        task_name: producer.clone().unwrap_or_default(),
        output_key: output.clone().unwrap_or_default(),
    };
    tracing::info!(input = key, ?query, "download model");
    let optional = define.is_optional_input(Class::Model, key);
    let tar = match client.download_model(&query).await {
        Ok(t) => t,
        Err(e @ worker_client::Error::Code { .. }) if optional => {
            tracing::info!(input = key, error = %crate::component::error_chain(&e), "optional model not found, going on without it");
            return Ok(None);
        }
        Err(source) => {
            return Err(Error::InputQuery {
                key: key.into(),
                source,
            });
        }
    };
    let base = input_dir.join("model");
    match extract_models(&tar, &base) {
        Ok(mut metas) if !metas.is_empty() => Ok(Some(if metas.len() == 1 {
            metas.remove(0)
        } else {
            Value::Array(metas)
        })),
        Ok(_) | Err(_) if optional => Ok(None),
        Ok(_) => Err(Error::Input {
            key: key.into(),
            reason: format!("the model archive of {query:?} holds no model meta"),
        }),
        Err(e) => Err(Error::Input {
            key: key.into(),
            reason: format!("cannot read the model archive of {query:?}: {e}"),
        }),
    }
}

/// Unpacks a model archive as FATE's wrapper does: for every `*.yaml` member (a model meta),
/// the model goes to `<base>/<source.task_id>_<model_key>` — a file for `json_model`, a
/// directory of every other member otherwise — and becomes `{uri: file://<that>, metadata:
/// <the meta>}`.
pub fn extract_models(tar: &[u8], base: &Path) -> std::io::Result<Vec<Value>> {
    let mut members: Vec<(String, Vec<u8>)> = Vec::new();
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries()? {
        let mut entry = entry?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry.path()?.to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes)?;
        members.push((name, bytes));
    }
    std::fs::create_dir_all(base)?;
    let mut out = Vec::new();
    for (name, bytes) in &members {
        if !name.ends_with("yaml") {
            continue;
        }
        let meta: Value = serde_yaml::from_slice(bytes).map_err(std::io::Error::other)?;
        let model_key = meta
            .get("model_key")
            .and_then(Value::as_str)
            .ok_or_else(|| std::io::Error::other(format!("{name}: no model_key")))?
            .to_string();
        let task_id = meta
            .pointer("/source/task_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let target = base.join(format!("{task_id}_{model_key}"));
        let type_name = meta
            .get("type_name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if type_name == "json_model" {
            let (_, model) = members
                .iter()
                .find(|(n, _)| *n == model_key)
                .ok_or_else(|| std::io::Error::other(format!("no member {model_key}")))?;
            std::fs::write(&target, model)?;
        } else {
            for (n, b) in members.iter().filter(|(n, _)| !n.ends_with("yaml")) {
                let p = safe_join(&target, n)?;
                if let Some(d) = p.parent() {
                    std::fs::create_dir_all(d)?;
                }
                std::fs::write(p, b)?;
            }
        }
        out.push(json!({"uri": format!("file://{}", target.display()), "metadata": meta}));
    }
    Ok(out)
}

/// `base/<relative member name>`, refusing names that leave `base`.
fn safe_join(base: &Path, member: &str) -> std::io::Result<PathBuf> {
    let rel = Path::new(member);
    if rel.is_absolute()
        || rel
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(std::io::Error::other(format!(
            "member {member:?} leaves the model directory"
        )));
    }
    Ok(base.join(rel))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(members: &[(&str, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (n, text) in members {
            let mut h = tar::Header::new_ustar();
            h.set_size(text.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, n, text.as_bytes()).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn json_models_become_files_named_after_their_producer() {
        let d = tempfile::tempdir().unwrap();
        let tar = tar_of(&[
            ("json_model", "{\"w\": [1]}"),
            (
                "json_model.meta.yaml",
                "model_key: json_model\ntype_name: json_model\nsource: {task_id: j_lr_0}\n",
            ),
        ]);
        let got = extract_models(&tar, d.path()).unwrap();
        assert_eq!(got.len(), 1);
        let path = d.path().join("j_lr_0_json_model");
        assert_eq!(got[0]["uri"], format!("file://{}", path.display()));
        assert_eq!(got[0]["metadata"]["model_key"], "json_model");
        assert_eq!(std::fs::read_to_string(path).unwrap(), "{\"w\": [1]}");
    }

    #[test]
    fn directory_models_keep_their_members() {
        let d = tempfile::tempdir().unwrap();
        let tar = tar_of(&[
            ("a/weights", "w"),
            (
                "model_directory.meta.yaml",
                "model_key: model_directory\ntype_name: model_directory\nsource: {task_id: t}\n",
            ),
        ]);
        extract_models(&tar, d.path()).unwrap();
        assert_eq!(
            std::fs::read_to_string(d.path().join("t_model_directory/a/weights")).unwrap(),
            "w"
        );
        assert!(safe_join(d.path(), "../x").is_err());
    }

    #[test]
    fn data_artifacts_carry_schema_partitions_and_source() {
        let t = DataTableInfo {
            namespace: "ns".into(),
            name: "n".into(),
            count: Some(3),
            meta: json!({"header": "id,y"}),
            engine: "standalone".into(),
            path: "standalone:///d/ns/n".into(),
            source: json!({"task_id": "t"}),
            data_type: "table".into(),
        };
        let a = data_artifact(&t, Some(8));
        assert_eq!(a["uri"], "standalone:///d/ns/n");
        assert_eq!(a["type_name"], "table");
        assert_eq!(a["metadata"]["metadata"]["options"]["partitions"], 8);
        assert_eq!(a["metadata"]["metadata"]["schema"]["header"], "id,y");
        assert_eq!(a["metadata"]["source"]["task_id"], "t");
        assert!(shape(vec![], true).is_none());
        assert_eq!(shape(vec![json!(1)], true), Some(json!([1])));
        assert_eq!(shape(vec![json!(1)], false), Some(json!(1)));
    }

    #[test]
    fn channels_name_their_parties() {
        let parties = Some(vec![PartySpec::new("guest", &["9999"])]);
        assert!(addressed_to(&parties, "guest", "9999"));
        assert!(!addressed_to(&parties, "host", "9999"));
        assert!(addressed_to(&None, "arbiter", "1"));
    }
}

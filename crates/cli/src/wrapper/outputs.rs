//! Output artifacts: the URIs the algorithm writes to (`dag.md` §8.8), and what the wrapper
//! pushes to the site from the algorithm's final meta once it succeeded (`execution.md`
//! §5.3–5.5): data tracking, model archives, file-based metrics.

use std::path::{Path, PathBuf};

use ferroflow_wire::task_config::TaskConfig;
use ferroflow_wire::worker::{DataTrackingQuery, DataTrackingSave, ModelSave};
use serde_json::{Map, Value, json};

use super::Error;
use super::define::{Class, Define};
use crate::component::worker_client::WorkerClient;

/// Partitions recorded for every output table, as FATE's wrapper does (W-out-2).
const OUTPUT_PARTITIONS: i64 = 16;

/// Where outputs go, besides the CONFIG: the task's output directory and the standalone data
/// home.
#[derive(Debug, Clone)]
pub struct Places<'a> {
    pub output_dir: &'a Path,
    /// `conf.computing.metadata.options.data_dir` (standalone); tables go under it.
    pub data_dir: Option<&'a Path>,
    /// `conf.computing.metadata.options.localfs_dir`: where `file` storage tables go
    /// (FATE's `LOCALFS_DATA_HOME`).
    pub localfs_dir: Option<&'a Path>,
    /// The base (`…/v2`) metric URIs point at: the wrapper's [`super::relay`], which passes
    /// pyfate's posts on to the site and waits out its restarts.
    pub metric_base: &'a str,
}

/// `output_artifacts`: for each declared output, `{uri, type_name}` with its first type.
pub fn output_artifacts(
    config: &TaskConfig,
    define: &Define,
    places: &Places<'_>,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (class, a) in define.outputs() {
        let Some(t) = a.types.first() else {
            continue;
        };
        let uri = output_uri(config, class, &a.name, &t.type_name, a.is_multi, places);
        out.insert(
            a.name.clone(),
            json!({"uri": uri, "type_name": t.type_name}),
        );
    }
    out
}

fn output_uri(
    config: &TaskConfig,
    class: Class,
    name: &str,
    type_name: &str,
    is_multi: bool,
    places: &Places<'_>,
) -> String {
    let name_part = uuid::Uuid::new_v4().simple().to_string();
    let mut uri = if matches!(type_name, "dataframe" | "table") {
        let storage = config.conf.storage.as_str();
        match (storage, places.data_dir, places.localfs_dir) {
            ("standalone", Some(home), _) => format!(
                "standalone://{}/{}/{name_part}",
                home.display(),
                config.task_id
            ),
            ("file", _, Some(home)) => {
                format!("file://{}/{}/{name_part}", home.display(), config.task_id)
            }
            _ => format!("{storage}:///{}/{name_part}", config.task_id),
        }
    } else if class == Class::Metric {
        format!(
            "{}/worker/metric/save/{}",
            places.metric_base, config.party_task_id
        )
    } else {
        format!(
            "file://{}",
            places.output_dir.join(name).join(type_name).display()
        )
    };
    if is_multi {
        uri.push_str("_{index}");
    }
    uri
}

/// The algorithm's `io_meta.outputs` entry of one key: one artifact or a list.
fn items(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    }
}

fn str_at<'v>(v: &'v Value, pointer: &str) -> Option<&'v str> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn object_at(v: &Value, pointer: &str) -> Map<String, Value> {
    v.pointer(pointer)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// A local path from a `file://` URI.
fn file_path(uri: &str) -> Option<PathBuf> {
    uri.strip_prefix("file://").map(PathBuf::from)
}

/// Pushes the outputs of a successful run, in FATE's order: data, models, metrics.
pub async fn push(
    config: &TaskConfig,
    client: &WorkerClient,
    io_meta: &Value,
) -> Result<(), Error> {
    let execution_id = &config.party_task_id;
    if let Some(data) = io_meta.pointer("/outputs/data").and_then(Value::as_object) {
        for (key, v) in data {
            for (index, item) in items(v).into_iter().enumerate() {
                if item.get("consumed") == Some(&Value::Bool(false)) {
                    continue;
                }
                let save = data_tracking(execution_id, key, index, item);
                if save.data_type == "data_unresolved" {
                    // `reader`: the table must exist; the record points at it by name.
                    client
                        .query_tracking(&DataTrackingQuery {
                            namespace: Some(save.namespace.clone()),
                            name: Some(save.name.clone()),
                            ..Default::default()
                        })
                        .await
                        .map_err(|source| Error::Output {
                            key: key.clone(),
                            source,
                        })?;
                }
                tracing::info!(output = %key, namespace = %save.namespace, name = %save.name, "save data tracking");
                client
                    .save_tracking(&save)
                    .await
                    .map_err(|source| Error::Output {
                        key: key.clone(),
                        source,
                    })?;
            }
        }
    }
    if let Some(models) = io_meta.pointer("/outputs/model").and_then(Value::as_object) {
        for (key, v) in models {
            let list = items(v);
            let Some((tar, type_name)) = model_archive(&list).map_err(|e| Error::Model {
                key: key.clone(),
                source: e,
            })?
            else {
                continue;
            };
            tracing::info!(output = %key, type_name = %type_name, bytes = tar.len(), "save model");
            client
                .save_model(
                    &ModelSave {
                        model_id: config.model_id.clone(),
                        model_version: config.model_version.clone(),
                        execution_id: execution_id.clone(),
                        output_key: key.clone(),
                        type_name,
                    },
                    tar,
                )
                .await
                .map_err(|source| Error::Output {
                    key: key.clone(),
                    source,
                })?;
        }
    }
    if let Some(metrics) = io_meta
        .pointer("/outputs/metric")
        .and_then(Value::as_object)
    {
        for (key, v) in metrics {
            for item in items(v) {
                // pyfate posts metrics to our http URIs itself; file URIs are read and sent.
                let Some(path) = item.get("uri").and_then(Value::as_str).and_then(file_path) else {
                    continue;
                };
                let Ok(text) = std::fs::read_to_string(&path) else {
                    tracing::warn!(output = %key, path = %path.display(), "no metric file");
                    continue;
                };
                let data: Vec<Value> = match serde_json::from_str::<Value>(&text) {
                    Ok(Value::Array(a)) => a,
                    Ok(Value::Null) => continue,
                    Ok(other) => vec![other],
                    Err(e) => {
                        tracing::warn!(output = %key, error = %e, "unreadable metric file");
                        continue;
                    }
                };
                if data.is_empty() {
                    continue;
                }
                client
                    .save_metrics(execution_id, &data)
                    .await
                    .map_err(|source| Error::Output {
                        key: key.clone(),
                        source,
                    })?;
            }
        }
    }
    Ok(())
}

/// The tracking record of one data output: namespace/name from its metadata, else the last two
/// segments of its URI; schema, overview and source from its metadata.
pub fn data_tracking(
    execution_id: &str,
    key: &str,
    index: usize,
    item: &Value,
) -> DataTrackingSave {
    let uri = item.get("uri").and_then(Value::as_str).unwrap_or_default();
    let type_name = item
        .get("type_name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let (mut namespace, mut name) = (
        str_at(item, "/metadata/namespace").map(str::to_string),
        str_at(item, "/metadata/name").map(str::to_string),
    );
    if namespace.is_none() && name.is_none() {
        let mut parts = uri.rsplit('/');
        name = parts.next().map(str::to_string);
        namespace = parts.next().map(str::to_string);
    }
    DataTrackingSave {
        execution_id: execution_id.to_string(),
        meta_data: object_at(item, "/metadata/metadata/schema"),
        uri: if type_name == "data_unresolved" {
            String::new()
        } else {
            uri.to_string()
        },
        output_key: key.to_string(),
        namespace: namespace.unwrap_or_default(),
        name: name.unwrap_or_default(),
        overview: object_at(item, "/metadata/data_overview"),
        partitions: Some(OUTPUT_PARTITIONS),
        source: object_at(item, "/metadata/source"),
        data_type: type_name,
        index: index as i64,
    }
}

/// The archive of one model key: for every artifact whose file exists, its directory (the
/// path itself for a directory, else its parent) with `<model_key>.meta.yaml` written next to
/// the model; members relative to that directory, no pax headers. `None` when no artifact has
/// a file.
pub fn model_archive(list: &[&Value]) -> std::io::Result<Option<(Vec<u8>, String)>> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.mode(tar::HeaderMode::Deterministic);
    let mut type_name = None;
    for item in list {
        let uri = item.get("uri").and_then(Value::as_str).unwrap_or_default();
        let Some(path) = file_path(uri) else {
            return Err(std::io::Error::other(format!(
                "model URI {uri:?} is not a file:// URI"
            )));
        };
        if !path.exists() {
            tracing::warn!(path = %path.display(), "no model file");
            continue;
        }
        let dir = if path.is_dir() {
            path.clone()
        } else {
            path.parent().map(Path::to_path_buf).unwrap_or_default()
        };
        let model_key = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let t = item
            .get("type_name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let mut meta = item.get("metadata").cloned().unwrap_or_else(|| json!({}));
        if let Some(m) = meta.as_object_mut() {
            m.insert("model_key".into(), json!(model_key));
            let index = item
                .pointer("/metadata/source/output_index")
                .cloned()
                .unwrap_or(Value::Null);
            m.insert("index".into(), index);
            m.insert("type_name".into(), json!(t));
        }
        let yaml = serde_yaml::to_string(&meta).map_err(std::io::Error::other)?;
        std::fs::write(dir.join(format!("{model_key}.meta.yaml")), yaml)?;
        append_dir(&mut builder, &dir, &dir)?;
        type_name = Some(t);
    }
    let Some(type_name) = type_name else {
        return Ok(None);
    };
    Ok(Some((builder.into_inner()?, type_name)))
}

fn append_dir(b: &mut tar::Builder<Vec<u8>>, root: &Path, dir: &Path) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        if p.is_dir() {
            append_dir(b, root, &p)?;
        } else {
            let rel = p.strip_prefix(root).map_err(std::io::Error::other)?;
            b.append_path_with_name(&p, rel)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracking_records_follow_the_artifact() {
        let item = json!({
            "uri": "standalone:///d/job_psi_0/abc",
            "type_name": "dataframe",
            "consumed": true,
            "metadata": {"metadata": {"schema": {"k": 1}, "options": {}},
                         "data_overview": {"count": 2, "samples": []},
                         "source": {"task_id": "job_psi_0"}},
        });
        let s = data_tracking("e", "output_data", 0, &item);
        assert_eq!(
            (s.namespace.as_str(), s.name.as_str()),
            ("job_psi_0", "abc")
        );
        assert_eq!(s.uri, "standalone:///d/job_psi_0/abc");
        assert_eq!(s.meta_data["k"], 1);
        assert_eq!(s.overview["count"], 2);
        assert_eq!(s.partitions, Some(16));
        let reader = json!({"uri": "", "type_name": "data_unresolved",
                            "metadata": {"metadata": {}, "name": "t", "namespace": "ns"}});
        let s = data_tracking("e", "output_data", 1, &reader);
        assert_eq!(
            (
                s.namespace.as_str(),
                s.name.as_str(),
                s.uri.as_str(),
                s.index
            ),
            ("ns", "t", "", 1)
        );
    }

    #[test]
    fn model_archives_hold_the_model_and_its_meta() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("output_model");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("json_model"), "{}").unwrap();
        let item = json!({"uri": format!("file://{}", dir.join("json_model").display()),
                          "type_name": "json_model",
                          "metadata": {"metadata": {}, "source": {"output_index": null, "task_id": "t"}}});
        let (tar, t) = model_archive(&[&item]).unwrap().unwrap();
        assert_eq!(t, "json_model");
        let names: Vec<String> = tar::Archive::new(tar.as_slice())
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["json_model", "json_model.meta.yaml"]);
        let meta: Value = serde_yaml::from_str(
            &std::fs::read_to_string(dir.join("json_model.meta.yaml")).unwrap(),
        )
        .unwrap();
        assert_eq!(meta["model_key"], "json_model");
        assert_eq!(meta["type_name"], "json_model");
        let gone = json!({"uri": "file:///nonexistent/x", "type_name": "json_model"});
        assert!(model_archive(&[&gone]).unwrap().is_none());
        let bad = json!({"uri": "s3://x", "type_name": "json_model"});
        assert!(model_archive(&[&bad]).is_err());
    }
}

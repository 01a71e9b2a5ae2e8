//! What every component needs from its task: typed parameters, inputs resolved through the
//! worker API, and outputs (tables, models, metrics) written and recorded the way the site's
//! other readers expect (docs/demo-provider.md).

use std::path::{Path, PathBuf};

use ferroflow_wire::dag::Channel;
use ferroflow_wire::task_config::TaskConfig;
use ferroflow_wire::worker::{
    DataTableInfo, DataTrackingQuery, DataTrackingSave, MetricItem, ModelSave,
};
use serde_json::{Map, Value, json};

use super::Error;
use super::table::Table;
use super::worker_client::{self, WorkerClient};

/// The model type the demo provider saves; FATE's name for a model that is one JSON file.
pub const JSON_MODEL: &str = "json_model";
/// The data type recorded for every table written here.
const DATAFRAME: &str = "dataframe";

/// One running task: its CONFIG and the client of its site.
#[derive(Debug)]
pub struct Task {
    pub config: TaskConfig,
    pub client: WorkerClient,
    /// Where file parameters may point; `None`: anywhere (run by hand, no site).
    pub allowed_dirs: Option<Vec<PathBuf>>,
}

impl Task {
    pub fn new(config: TaskConfig, client: WorkerClient) -> Self {
        Self {
            config,
            client,
            allowed_dirs: None,
        }
    }

    /// The file a parameter names (relative: to the working directory), confined to the
    /// directories the site allows — checked here, where it is opened, as at submit.
    pub fn file_param(&self, name: &str, value: &str) -> Result<PathBuf, Error> {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let Some(roots) = &self.allowed_dirs else {
            return Ok(cwd.join(value));
        };
        ferroflow_server::paths::confine(roots, &cwd, value).map_err(|e| Error::Param {
            name: name.into(),
            reason: e.to_string(),
        })
    }

    pub fn params(&self) -> Params<'_> {
        Params(&self.config.parameters)
    }

    pub fn execution_id(&self) -> &str {
        &self.config.party_task_id
    }

    /// The tables of data input `key`, in channel order; `None` when the CONFIG gives this
    /// party no such input (FATE filters inputs per party: an arbiter gets none). As FATE's
    /// wrapper does, an input the site cannot find is dropped when the component declares it
    /// optional, and is an error otherwise.
    pub async fn data_input(
        &self,
        key: &str,
        optional: bool,
    ) -> Result<Option<Vec<DataTableInfo>>, Error> {
        let Some(channels) = self
            .config
            .input_artifacts
            .data
            .as_ref()
            .and_then(|d| d.get(key))
        else {
            return Ok(None);
        };
        let mut tables = Vec::new();
        // Collected first: the wire type's boxed iterator is not `Send`.
        let channels: Vec<&Channel> = channels.iter().collect();
        for channel in channels {
            let query = self.channel_query(key, channel)?;
            match self.client.query_tracking(&query).await {
                Ok(found) if found.is_empty() && optional => {}
                Ok(found) if found.is_empty() => {
                    return Err(Error::Input {
                        key: key.into(),
                        reason: "the site knows no table for it".into(),
                    });
                }
                Ok(found) => tables.extend(found),
                Err(e @ worker_client::Error::Code { .. }) if optional => {
                    tracing::warn!(input = key, error = %super::error_chain(&e), "optional input not found, going on without it");
                }
                Err(source) => {
                    return Err(Error::InputQuery {
                        key: key.into(),
                        source,
                    });
                }
            }
        }
        Ok(if tables.is_empty() && optional {
            None
        } else {
            Some(tables)
        })
    }

    /// How the worker API is asked for a channel's table (`dag.md` §8.7).
    fn channel_query(&self, key: &str, channel: &Channel) -> Result<DataTrackingQuery, Error> {
        let c = &self.config;
        let missing = |what: &str| Error::Input {
            key: key.into(),
            reason: format!("the channel has no {what}"),
        };
        let by_producer =
            |job_id: Option<&String>, producer: &Option<String>, output: &Option<String>| {
                Ok(DataTrackingQuery {
                    job_id: Some(job_id.unwrap_or(&c.job_id).clone()),
                    role: Some(c.role.clone()),
                    party_id: Some(c.party_id.clone()),
                    task_name: Some(producer.clone().ok_or_else(|| missing("producer_task"))?),
                    output_key: Some(
                        output
                            .clone()
                            .ok_or_else(|| missing("output_artifact_key"))?,
                    ),
                    ..Default::default()
                })
            };
        match channel {
            Channel::TaskOutput(t) => by_producer(None, &t.producer_task, &t.output_artifact_key),
            Channel::DataWarehouse(d) if d.namespace.is_some() || d.name.is_some() => {
                Ok(DataTrackingQuery {
                    namespace: d.namespace.clone(),
                    name: d.name.clone(),
                    ..Default::default()
                })
            }
            Channel::DataWarehouse(d) => {
                by_producer(d.job_id.as_ref(), &d.producer_task, &d.output_artifact_key)
            }
            Channel::ModelWarehouse(_) => Err(Error::Input {
                key: key.into(),
                reason: "a model channel cannot feed a data input".into(),
            }),
        }
    }

    /// Reads the table a tracking answer points at.
    pub async fn read_table(&self, info: &DataTableInfo) -> Result<Table, Error> {
        read_table_file(&uri_path(&info.path)?).await
    }

    /// Writes `table` as output `output_key` — `<data_dir>/<task_id>/<uuid>.csv` — and records
    /// it with the site. Returns what was recorded.
    pub async fn write_table(
        &self,
        output_key: &str,
        table: &Table,
    ) -> Result<DataTrackingSave, Error> {
        let name = uuid::Uuid::new_v4().simple().to_string();
        let dir = self.data_dir()?.join(&self.config.task_id);
        let path = dir.join(format!("{name}.csv"));
        let bytes = table.to_csv().map_err(|source| Error::Table {
            path: path.display().to_string(),
            source,
        })?;
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|source| Error::Io {
                action: "create",
                path: dir,
                source,
            })?;
        // Written aside, then renamed: a reader never sees half a table under the recorded name.
        let partial = path.with_extension("csv.partial");
        tokio::fs::write(&partial, bytes)
            .await
            .map_err(|source| Error::Io {
                action: "write",
                path: partial.clone(),
                source,
            })?;
        tokio::fs::rename(&partial, &path)
            .await
            .map_err(|source| Error::Io {
                action: "rename",
                path: path.clone(),
                source,
            })?;
        let save = DataTrackingSave {
            execution_id: self.execution_id().to_string(),
            meta_data: as_object(table.meta()),
            uri: format!("file://{}", path.display()),
            output_key: output_key.to_string(),
            namespace: self.config.task_id.clone(),
            name,
            overview: as_object(table.overview()),
            partitions: Some(1),
            source: self.source(output_key),
            data_type: DATAFRAME.to_string(),
            index: 0,
        };
        self.client.save_tracking(&save).await?;
        tracing::info!(output = output_key, rows = table.len(), uri = %save.uri, "table written");
        Ok(save)
    }

    /// Records an existing table as output `output_key`, unchanged: same uri, namespace, name,
    /// meta, source and type, so that the site's view of the table stays what it was.
    pub async fn pass_through(
        &self,
        output_key: &str,
        info: &DataTableInfo,
    ) -> Result<DataTrackingSave, Error> {
        // The site rewrites the table's overview from this record, so send the real one when
        // the table is readable here, and at least the count otherwise.
        let overview = match uri_path(&info.path) {
            Ok(path) => match read_table_file(&path).await {
                Ok(t) => as_object(t.overview()),
                Err(_) => count_overview(info.count),
            },
            Err(_) => count_overview(info.count),
        };
        let save = DataTrackingSave {
            execution_id: self.execution_id().to_string(),
            meta_data: as_object(info.meta.clone()),
            uri: info.path.clone(),
            output_key: output_key.to_string(),
            namespace: info.namespace.clone(),
            name: info.name.clone(),
            overview,
            partitions: Some(1),
            source: match &info.source {
                Value::Object(m) if !m.is_empty() => m.clone(),
                _ => self.source(output_key),
            },
            data_type: if info.data_type.is_empty() {
                DATAFRAME.to_string()
            } else {
                info.data_type.clone()
            },
            index: 0,
        };
        self.client.save_tracking(&save).await?;
        tracing::info!(output = output_key, namespace = %save.namespace, name = %save.name, "input passed through");
        Ok(save)
    }

    /// Saves `model` as model output `output_key`: a `json_model` in an uncompressed tar with
    /// its FATE meta document (`execution.md` §5.4).
    pub async fn save_json_model(&self, output_key: &str, model: &Value) -> Result<(), Error> {
        let tar =
            model_tar(output_key, model, &self.model_meta(output_key)).map_err(Error::ModelTar)?;
        let fields = ModelSave {
            model_id: self.config.model_id.clone(),
            model_version: self.config.model_version.clone(),
            execution_id: self.execution_id().to_string(),
            output_key: output_key.to_string(),
            type_name: JSON_MODEL.to_string(),
        };
        self.client.save_model(&fields, tar).await?;
        tracing::info!(output = output_key, "model saved");
        Ok(())
    }

    pub async fn post_metric(&self, metric: &MetricItem) -> Result<(), Error> {
        Ok(self.client.save_metric(self.execution_id(), metric).await?)
    }

    /// The standalone engine's data directory, where this provider writes its tables.
    pub(crate) fn data_dir(&self) -> Result<PathBuf, Error> {
        self.option_dir("data_dir")
    }

    /// Where FATE's `file` storage keeps its tables (a Spark site's).
    pub(crate) fn localfs_dir(&self) -> Result<PathBuf, Error> {
        self.option_dir("localfs_dir")
    }

    fn option_dir(&self, key: &str) -> Result<PathBuf, Error> {
        let dir = self
            .config
            .conf
            .computing
            .metadata
            .get("options")
            .and_then(|o| o.get(key))
            .and_then(Value::as_str)
            .filter(|d| !d.is_empty())
            .ok_or(Error::NoDataDir)?;
        let dir = PathBuf::from(dir);
        // Recorded URIs must be absolute: other processes read them from other directories.
        if dir.is_absolute() {
            Ok(dir)
        } else {
            let cwd = std::env::current_dir().map_err(|source| Error::Io {
                action: "resolve",
                path: dir.clone(),
                source,
            })?;
            Ok(cwd.join(dir))
        }
    }

    /// The artifact `source` FATE's wrapper records with every output.
    pub(crate) fn source(&self, output_key: &str) -> Map<String, Value> {
        let c = &self.config;
        as_object(json!({
            "task_id": c.task_id,
            "party_task_id": c.party_task_id,
            "task_name": c.task_name,
            "component": c.component,
            "output_artifact_key": output_key,
            "output_index": null,
        }))
    }

    /// The `<key>.meta.yaml` document, in the shape FATE's wrapper writes next to a model.
    fn model_meta(&self, output_key: &str) -> Value {
        let c = &self.config;
        let mut parties: Map<String, Value> = Map::new();
        if let Some(list) = c
            .conf
            .federation
            .metadata
            .get("parties")
            .and_then(|p| p.get("parties"))
            .and_then(Value::as_array)
        {
            for p in list {
                if let (Some(role), Some(id)) =
                    (p.get("role").and_then(Value::as_str), p.get("partyid"))
                {
                    let ids = parties.entry(role.to_string()).or_insert_with(|| json!([]));
                    if let Value::Array(a) = ids {
                        a.push(Value::String(
                            id.as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| id.to_string()),
                        ));
                    }
                }
            }
        }
        json!({
            "model_key": output_key,
            "type_name": JSON_MODEL,
            "index": null,
            "name": null,
            "namespace": null,
            "metadata": {},
            "data_overview": null,
            "model_overview": {
                "federated": {
                    "component": {"name": c.component, "provider": c.provider_name, "metadata": {}},
                    "parties": parties,
                    "task_id": c.task_id,
                },
                "party": {
                    "models": [{
                        "created_time": chrono::Local::now().format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
                        "file_format": "json",
                        "metadata": {},
                        "name": "",
                    }],
                    "party_task_id": c.party_task_id,
                    "partyid": c.party_id,
                    "role": c.role,
                },
            },
            "source": self.source(output_key),
        })
    }
}

/// An uncompressed ustar archive (no pax headers, as FATE's wrapper strips them) holding
/// `<key>` (the model) and `<key>.meta.yaml`.
pub fn model_tar(output_key: &str, model: &Value, meta: &Value) -> std::io::Result<Vec<u8>> {
    let model_bytes = serde_json::to_vec_pretty(model).map_err(std::io::Error::other)?;
    let meta_bytes = serde_yaml::to_string(meta)
        .map_err(std::io::Error::other)?
        .into_bytes();
    let mtime = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut builder = tar::Builder::new(Vec::new());
    for (name, bytes) in [
        (output_key.to_string(), model_bytes),
        (format!("{output_key}.meta.yaml"), meta_bytes),
    ] {
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(mtime);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, &name, bytes.as_slice())?;
    }
    builder.into_inner()
}

/// A table location as a local path: `file://<abs>`, `file:<abs>`, or a bare absolute path.
pub fn uri_path(uri: &str) -> Result<PathBuf, Error> {
    let rest = uri
        .strip_prefix("file://")
        .or_else(|| uri.strip_prefix("file:"))
        .unwrap_or(uri);
    // `file://localhost/abs` is the same file as `file:///abs`.
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    if rest.starts_with('/') {
        Ok(PathBuf::from(rest))
    } else {
        Err(Error::Uri(uri.to_string()))
    }
}

pub async fn read_table_file(path: &Path) -> Result<Table, Error> {
    let text = tokio::fs::read_to_string(path)
        .await
        .map_err(|source| Error::Io {
            action: "read",
            path: path.to_path_buf(),
            source,
        })?;
    Table::parse(&text).map_err(|source| Error::Table {
        path: path.display().to_string(),
        source,
    })
}

fn as_object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn count_overview(count: Option<i64>) -> Map<String, Value> {
    match count {
        Some(c) => as_object(json!({"count": c})),
        None => Map::new(),
    }
}

/// A component's parameters with the coercions FATE's pydantic specs apply: numbers may arrive
/// as numeric strings, and `null` means "use the default".
#[derive(Debug, Clone, Copy)]
pub struct Params<'a>(pub &'a Map<String, Value>);

impl Params<'_> {
    fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    pub fn f64(&self, name: &str, default: f64) -> Result<f64, Error> {
        let Some(v) = self.get(name) else {
            return Ok(default);
        };
        let n = match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        n.filter(|n| n.is_finite())
            .ok_or_else(|| param(name, format!("{v} is not a number")))
    }

    pub fn u64(&self, name: &str, default: u64) -> Result<u64, Error> {
        let Some(v) = self.get(name) else {
            return Ok(default);
        };
        let n = match v {
            Value::Number(n) => n.as_u64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                    .map(|f| f as u64)
            }),
            Value::String(s) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        n.ok_or_else(|| param(name, format!("{v} is not a non-negative integer")))
    }

    pub fn string(&self, name: &str) -> Result<Option<String>, Error> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => Ok(Some(v.to_string())),
            Some(v) => Err(param(name, format!("{v} is not a string"))),
        }
    }

    /// A boolean; `"true"`/`"false"` strings and 0/1 are accepted.
    pub fn bool(&self, name: &str, default: bool) -> Result<bool, Error> {
        match self.get(name) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => match v.as_str().map(str::to_ascii_lowercase).as_deref() {
                Some("true") | Some("1") => Ok(true),
                Some("false") | Some("0") => Ok(false),
                _ => match v.as_i64() {
                    Some(1) => Ok(true),
                    Some(0) => Ok(false),
                    _ => Err(param(name, format!("{v} is not a boolean"))),
                },
            },
        }
    }

    /// An object; absent is empty.
    pub fn object(&self, name: &str) -> Result<Map<String, Value>, Error> {
        match self.get(name) {
            None => Ok(Map::new()),
            Some(Value::Object(m)) => Ok(m.clone()),
            Some(v) => Err(param(name, format!("{v} is not an object"))),
        }
    }

    /// A list of strings; a single string is a list of one.
    pub fn string_list(&self, name: &str) -> Result<Vec<String>, Error> {
        match self.get(name) {
            None => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(vec![s.clone()]),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| param(name, format!("{i} is not a string")))
                })
                .collect(),
            Some(v) => Err(param(name, format!("{v} is not a list of strings"))),
        }
    }
}

fn param(name: &str, reason: String) -> Error {
    Error::Param {
        name: name.to_string(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_coerce_like_pydantic() {
        let m = as_object(json!({
            "a": 1.5, "b": "2.5", "c": null, "d": "x", "n": 3, "nf": 4.0, "ns": "5", "neg": -1,
            "s": "v", "num": 7, "l": ["p", "q"], "one": "p", "bad": [1]
        }));
        let p = Params(&m);
        assert_eq!(p.f64("a", 0.0).unwrap(), 1.5);
        assert_eq!(p.f64("b", 0.0).unwrap(), 2.5);
        assert_eq!(p.f64("c", 9.0).unwrap(), 9.0);
        assert_eq!(p.f64("absent", 9.0).unwrap(), 9.0);
        assert!(matches!(p.f64("d", 0.0), Err(Error::Param { name, .. }) if name == "d"));
        assert_eq!(p.u64("n", 0).unwrap(), 3);
        assert_eq!(p.u64("nf", 0).unwrap(), 4);
        assert_eq!(p.u64("ns", 0).unwrap(), 5);
        assert!(p.u64("neg", 0).is_err());
        assert!(p.u64("a", 0).is_err());
        assert_eq!(p.string("s").unwrap().as_deref(), Some("v"));
        assert_eq!(p.string("num").unwrap().as_deref(), Some("7"));
        assert_eq!(p.string("absent").unwrap(), None);
        assert!(p.string("l").is_err());
        assert_eq!(p.string_list("l").unwrap(), ["p", "q"]);
        assert_eq!(p.string_list("one").unwrap(), ["p"]);
        assert!(p.string_list("absent").unwrap().is_empty());
        assert!(p.string_list("bad").is_err());
    }

    #[test]
    fn uris_to_paths() {
        assert_eq!(
            uri_path("file:///data/t/x.csv").unwrap(),
            PathBuf::from("/data/t/x.csv")
        );
        assert_eq!(
            uri_path("file:/data/x.csv").unwrap(),
            PathBuf::from("/data/x.csv")
        );
        assert_eq!(
            uri_path("file://localhost/data/x.csv").unwrap(),
            PathBuf::from("/data/x.csv")
        );
        assert_eq!(
            uri_path("/data/x.csv").unwrap(),
            PathBuf::from("/data/x.csv")
        );
        assert!(matches!(
            uri_path("standalone:///ns/name"),
            Err(Error::Uri(_))
        ));
        assert!(matches!(uri_path("relative.csv"), Err(Error::Uri(_))));
    }

    #[test]
    fn model_tar_holds_the_model_and_its_meta() {
        let model = json!({"coefficients": [1.0]});
        let meta = json!({"model_key": "output_model", "type_name": "json_model"});
        let bytes = model_tar("output_model", &model, &meta).unwrap();
        assert_eq!(bytes.len() % 512, 0);
        let mut archive = tar::Archive::new(bytes.as_slice());
        let mut members = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            assert_eq!(entry.header().entry_type(), tar::EntryType::Regular);
            let name = entry.path().unwrap().to_string_lossy().into_owned();
            let mut text = String::new();
            std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
            members.push((name, text));
        }
        assert_eq!(members.len(), 2);
        assert_eq!(members[0].0, "output_model");
        assert_eq!(serde_json::from_str::<Value>(&members[0].1).unwrap(), model);
        assert_eq!(members[1].0, "output_model.meta.yaml");
        assert_eq!(serde_yaml::from_str::<Value>(&members[1].1).unwrap(), meta);
    }
}

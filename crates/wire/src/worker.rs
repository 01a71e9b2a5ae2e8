//! api-3 bodies: what task processes send to their own site (`api.md` §12, `execution.md` §5).
//! Never authenticated; paths may arrive as `/v2//worker/...`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::params::{FromParams, Invalid, Location, Params};

pub const TASK_STATUS: &str = "/worker/task/status";
pub const MODEL_SAVE: &str = "/worker/model/save";
pub const MODEL_DOWNLOAD: &str = "/worker/model/download";
pub const DATA_TRACKING_QUERY: &str = "/worker/data/tracking/query";
pub const DATA_TRACKING_SAVE: &str = "/worker/data/tracking/save";
pub const METRIC_SAVE: &str = "/worker/metric/save";

/// The environment variable a task run finds its worker token in (ferroflow's, not FATE's:
/// `docs/security.md`).
pub const TOKEN_ENV: &str = "FERROFLOW_WORKER_TOKEN";

/// The environment variable naming a task run's execution id: the site finds the processes of
/// a run by it (re-adoption after a restart, stop).
pub const EXECUTION_ID_ENV: &str = "FERROFLOW_EXECUTION_ID";

/// The request header a task run presents its worker token in on every api-3 call.
pub const TOKEN_HEADER: &str = "x-ferroflow-worker-token";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskStatusReport {
    pub execution_id: String,
    pub status: String,
    #[serde(default)]
    pub error: Option<String>,
    /// ferroflow's addition, sent by its task wrapper with a `running` report: the engine's
    /// application that runs the task. FATE's wrappers never send it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_application: Option<EngineApplication>,
}

impl FromParams for TaskStatusReport {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        let j = p.json();
        let engine_application = j
            .opt_object(ENGINE_APPLICATION)?
            .map(|m| EngineApplication::from_map(&m))
            .transpose()
            .map_err(|why| Invalid::new(Location::Json, ENGINE_APPLICATION, &why))?;
        Ok(Self {
            execution_id: j.str("execution_id")?,
            status: j.str("status")?,
            error: j.opt_str("error")?,
            engine_application,
        })
    }
}

/// The status report's field naming the engine's application.
pub const ENGINE_APPLICATION: &str = "engine_application";

/// A task's application on its computing engine (a Spark application): its id, its UI and the
/// master it runs on. Shown in the task's `engine_conf` (FATE's column, unused by FATE) and on
/// the dashboard, so every field is checked for shape: it comes from a task process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineApplication {
    pub engine: String,
    pub application_id: String,
    /// `http(s)://…`, or empty when the engine's UI is off.
    pub ui: String,
    pub master: String,
}

/// The engines whose applications a task may report.
pub const APPLICATION_ENGINES: &[&str] = &["spark"];

impl EngineApplication {
    const MAX_LEN: usize = 512;

    fn from_map(m: &Map<String, Value>) -> Result<Self, String> {
        let field = |name: &str| -> Result<String, String> {
            let v = match m.get(name) {
                None | Some(Value::Null) => "",
                Some(Value::String(s)) => s.as_str(),
                Some(_) => return Err(format!("{name} is not a string")),
            };
            if v.len() > Self::MAX_LEN || v.chars().any(|c| c.is_control() || c.is_whitespace()) {
                return Err(format!(
                    "{name} is longer than {} characters or holds spaces or control characters",
                    Self::MAX_LEN
                ));
            }
            Ok(v.to_string())
        };
        let a = Self {
            engine: field("engine")?,
            application_id: field("application_id")?,
            ui: field("ui")?,
            master: field("master")?,
        };
        if !APPLICATION_ENGINES.contains(&a.engine.as_str()) {
            return Err(format!(
                "engine {:?} is not one of {APPLICATION_ENGINES:?}",
                a.engine
            ));
        }
        if a.application_id.is_empty()
            || !a
                .application_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(
                "application_id is empty or not made of letters, digits, -, _ and .".into(),
            );
        }
        if !(a.ui.is_empty() || a.ui.starts_with("http://") || a.ui.starts_with("https://")) {
            return Err("ui is not an http(s) address".into());
        }
        Ok(a)
    }

    /// The task's `engine_conf` with this application.
    pub fn engine_conf(&self) -> Value {
        serde_json::json!({"computing": self})
    }
}

/// One metric item (`api.md` §9.7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricItem {
    pub name: String,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub groups: Vec<MetricGroup>,
    #[serde(default)]
    pub step_axis: Option<String>,
    pub data: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricGroup {
    pub name: String,
    #[serde(default)]
    pub index: Option<i64>,
}

/// `/worker/metric/save[/<execution_id>]`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSave {
    pub execution_id: Option<String>,
    pub data: Vec<MetricItem>,
}

impl MetricSave {
    /// The execution id comes from the body or, for the path form, from the URL.
    pub fn from_params(p: &Params, path_execution_id: Option<&str>) -> Result<Self, Invalid> {
        let j = p.json();
        let execution_id = match path_execution_id {
            Some(e) => Some(e.to_string()),
            None => Some(j.str("execution_id")?),
        };
        let data = match j.opt_value("data") {
            Some(v) => serde_json::from_value::<Vec<MetricItem>>(v)
                .map_err(|e| Invalid::new(crate::params::Location::Json, "data", &e.to_string()))?,
            None => Vec::new(),
        };
        Ok(Self { execution_id, data })
    }
}

/// `/worker/data/tracking/save`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataTrackingSave {
    pub execution_id: String,
    pub meta_data: Map<String, Value>,
    pub uri: String,
    pub output_key: String,
    pub namespace: String,
    pub name: String,
    pub overview: Map<String, Value>,
    #[serde(default)]
    pub partitions: Option<i64>,
    pub source: Map<String, Value>,
    pub data_type: String,
    pub index: i64,
}

impl FromParams for DataTrackingSave {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        let j = p.json();
        Ok(Self {
            execution_id: j.str("execution_id")?,
            meta_data: j.object("meta_data")?,
            uri: j.str("uri")?,
            output_key: j.str("output_key")?,
            namespace: j.str("namespace")?,
            name: j.str("name")?,
            overview: j.object("overview")?,
            partitions: j.opt_int("partitions")?,
            source: j.object("source")?,
            data_type: j.str("data_type")?,
            index: j.int("index")?,
        })
    }
}

/// `/worker/data/tracking/query`: by table (`namespace`/`name`) or by producer task.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DataTrackingQuery {
    pub job_id: Option<String>,
    pub role: Option<String>,
    pub party_id: Option<String>,
    pub task_name: Option<String>,
    pub output_key: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
}

impl FromParams for DataTrackingQuery {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        let q = p.query();
        Ok(Self {
            job_id: q.opt_str("job_id")?,
            role: q.opt_str("role")?,
            party_id: q.opt_str("party_id")?,
            task_name: q.opt_str("task_name")?,
            output_key: q.opt_str("output_key")?,
            namespace: q.opt_str("namespace")?,
            name: q.opt_str("name")?,
        })
    }
}

/// One table as the data APIs describe it (`api.md` §9.6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataTableInfo {
    pub namespace: String,
    pub name: String,
    pub count: Option<i64>,
    pub meta: Value,
    pub engine: String,
    pub path: String,
    pub source: Value,
    pub data_type: String,
}

/// `/worker/model/save` (multipart form fields; the tar is the `file` part).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSave {
    pub model_id: String,
    pub model_version: String,
    pub execution_id: String,
    pub output_key: String,
    pub type_name: String,
}

impl FromParams for ModelSave {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        let f = p.form();
        Ok(Self {
            model_id: f.str("model_id")?,
            model_version: f.str("model_version")?,
            execution_id: f.str("execution_id")?,
            output_key: f.str("output_key")?,
            type_name: f.str("type_name")?,
        })
    }
}

/// `/worker/model/download` (query string, all required).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelDownload {
    pub model_id: String,
    pub model_version: String,
    pub role: String,
    pub party_id: String,
    pub task_name: String,
    pub output_key: String,
}

impl FromParams for ModelDownload {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        let q = p.query();
        Ok(Self {
            model_id: q.str("model_id")?,
            model_version: q.str("model_version")?,
            role: q.str("role")?,
            party_id: q.str("party_id")?,
            task_name: q.str("task_name")?,
            output_key: q.str("output_key")?,
        })
    }
}

//! api-3 bodies: what task processes send to their own site (`api.md` §12, `execution.md` §5).
//! Never authenticated; paths may arrive as `/v2//worker/...`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::params::{FromParams, Invalid, Params};

pub const TASK_STATUS: &str = "/worker/task/status";
pub const MODEL_SAVE: &str = "/worker/model/save";
pub const MODEL_DOWNLOAD: &str = "/worker/model/download";
pub const DATA_TRACKING_QUERY: &str = "/worker/data/tracking/query";
pub const DATA_TRACKING_SAVE: &str = "/worker/data/tracking/save";
pub const METRIC_SAVE: &str = "/worker/metric/save";

/// The environment variable a task run finds its worker token in (ferroflow's, not FATE's:
/// `docs/security.md`).
pub const TOKEN_ENV: &str = "FERROFLOW_WORKER_TOKEN";

/// The request header a task run presents its worker token in on every api-3 call.
pub const TOKEN_HEADER: &str = "x-ferroflow-worker-token";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskStatusReport {
    pub execution_id: String,
    pub status: String,
    #[serde(default)]
    pub error: Option<String>,
}

impl FromParams for TaskStatusReport {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        let j = p.json();
        Ok(Self {
            execution_id: j.str("execution_id")?,
            status: j.str("status")?,
            error: j.opt_str("error")?,
        })
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

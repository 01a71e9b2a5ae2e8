//! The task CONFIG document a participant hands to each task process (`dag.md` §8): the
//! environment variable `CONFIG` (JSON) for containers, `FATE_TASK_CONFIG` (YAML) for FATE's
//! local wrapper. Every algorithm container reads this shape.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::dag::Channel;
use crate::lenient::{OneOrMany, OrderedMap};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskConfig {
    pub model_id: String,
    pub model_version: String,
    pub job_id: String,
    pub task_id: String,
    /// A string on the wire (`"0"`).
    pub task_version: String,
    pub task_name: String,
    pub provider_name: String,
    /// = execution id, the key of every worker API call.
    pub party_task_id: String,
    pub component: String,
    pub role: String,
    pub party_id: String,
    pub stage: String,
    #[serde(default)]
    pub parameters: Map<String, Value>,
    #[serde(default)]
    pub input_artifacts: InputArtifacts,
    pub conf: RuntimeConf,
    pub mlmd: Mlmd,
    #[serde(default)]
    pub engine_run: Map<String, Value>,
    #[serde(default)]
    pub computing_partitions: Option<i64>,
    #[serde(default = "default_launcher")]
    pub launcher_name: String,
    #[serde(default)]
    pub launcher_conf: Map<String, Value>,
}

fn default_launcher() -> String {
    "default".into()
}

/// Input channels per class; a class without inputs is `null`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct InputArtifacts {
    #[serde(default)]
    pub data: Option<OrderedMap<OneOrMany<Channel>>>,
    #[serde(default)]
    pub model: Option<OrderedMap<OneOrMany<Channel>>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuntimeConf {
    pub computing: Engine,
    pub device: Engine,
    pub federation: Engine,
    pub logger: Logger,
    pub storage: String,
}

/// `{type, metadata}`: computing, federation and device share this shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Engine {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub metadata: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Logger {
    /// A Python `logging.config.dictConfig` document.
    #[serde(default)]
    pub config: Value,
}

/// Where the worker API (api-3) lives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mlmd {
    #[serde(rename = "type")]
    pub kind: String,
    pub metadata: MlmdMetadata,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MlmdMetadata {
    pub api_version: String,
    pub host: String,
    pub port: u16,
    pub protocol: String,
}

impl Mlmd {
    pub fn base_url(&self) -> String {
        let m = &self.metadata;
        format!("{}://{}:{}/{}", m.protocol, m.host, m.port, m.api_version)
    }
}

impl TaskConfig {
    /// Reads `CONFIG`-style text: JSON, or YAML as FATE's local wrapper receives it.
    pub fn parse(text: &str) -> Result<Self, String> {
        match serde_json::from_str(text) {
            Ok(c) => Ok(c),
            Err(json_err) => serde_yaml::from_str(text).map_err(|yaml_err| {
                format!("not a task config (json: {json_err}; yaml: {yaml_err})")
            }),
        }
    }

    /// The log directory FATE's logger config points at for this task, if any
    /// (`<LOG_DIR>/<job>/<role>/<party>/<task_name>`).
    pub fn task_log_dir(&self) -> Option<String> {
        let file = self
            .conf
            .logger
            .config
            .pointer("/handlers/root_info/filename")
            .or_else(|| {
                self.conf
                    .logger
                    .config
                    .pointer("/handlers/root_error/filename")
            })?
            .as_str()?;
        let p = std::path::Path::new(file);
        Some(p.parent()?.parent()?.to_string_lossy().into_owned())
    }
}

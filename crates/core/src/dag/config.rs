//! Builds the CONFIG document of one task run (`dag.md` §8), field for field.

use serde_json::{Map, Value};

use ferroflow_wire::task_config::TaskConfig;

use crate::id::{JobId, Party, TaskVersion};

use super::PlannedTask;

/// What a site contributes to every CONFIG it writes: its engines, where its worker API
/// listens, where logs go.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteEnv {
    /// `default_engines.computing` (`standalone`, `eggroll`, `spark`).
    pub computing_engine: String,
    /// Engine-specific metadata without `computing_id` (standalone:
    /// `{options: {data_dir}}`; eggroll: `{host, port, config_options, config_properties_file,
    /// options}`; spark: `{options: {home}}`).
    pub computing_metadata: Map<String, Value>,
    /// `default_engines.federation`; FATE's osx `stream` mode is already mapped to `rollsite`.
    pub federation_engine: String,
    /// Engine-specific metadata merged next to `federation_id` and `parties`
    /// (e.g. `{rollsite_config: {host, port}}`, `{rabbitmq_config: …, route_table: …}`).
    pub federation_metadata: Map<String, Value>,
    /// `default_engines.storage`, lower-case.
    pub storage_engine: String,
    /// `CPU` or `GPU`.
    pub device: String,
    pub mlmd_host: String,
    pub mlmd_port: u16,
    pub mlmd_protocol: String,
    /// Absolute `LOG_DIR`.
    pub log_dir: String,
    /// Python logging level number (20 = INFO).
    pub log_level: i64,
}

/// The job-wide values a CONFIG carries.
#[derive(Debug, Clone, PartialEq)]
pub struct JobMeta {
    pub job_id: JobId,
    pub model_id: String,
    pub model_version: String,
    pub computing_partitions: Option<i64>,
}

/// The CONFIG of `task` at `version` on `party`. `engine_run` is the task's run options
/// (see [`super::resource`]).
pub fn build(
    job: &JobMeta,
    party: &Party,
    task: &PlannedTask,
    version: TaskVersion,
    engine_run: &Map<String, Value>,
    env: &SiteEnv,
) -> TaskConfig {
    let _ = (job, party, task, version, engine_run, env);
    todo!("dag.md §8")
}

/// The logging dictConfig of `dag.md` §8.5 for one task.
pub fn logger_config(env: &SiteEnv, job_id: &JobId, party: &Party, task_name: &str) -> Value {
    let _ = (env, job_id, party, task_name);
    todo!("dag.md §8.5")
}

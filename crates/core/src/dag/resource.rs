//! Per-party resources (`dag.md` §5.2, `lifecycle.md` §11): a job's core budget on one
//! participant, and each task's cores and run options. Unlike upstream, a task's cores and
//! `engine_run` come from its own merged conf (W5, W6).

use serde_json::{Map, Value};

use crate::id::Role;

/// Site defaults (`job_default_config.yaml`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceDefaults {
    /// `job_cores` (4).
    pub job_cores: i64,
    /// Default task cores of the computing engine (standalone/eggroll: 4).
    pub task_cores: i64,
    /// Local computing engine: `standalone`, `eggroll` or `spark`.
    pub computing_engine: String,
    /// `computing.eggroll.nodes` (1).
    pub eggroll_nodes: i64,
}

/// One task's run options and accounted cores on one party.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskResources {
    /// The CONFIG's `engine_run` and the task row's `task_run`.
    pub engine_run: Map<String, Value>,
    /// Cores taken from the job's budget while the task runs (0 for the arbiter).
    pub cores: i64,
}

/// The task's resources on a party of `role`, from the job-level `conf.task.engine_run` and
/// the task's merged conf.
pub fn task_resources(
    role: Role,
    job_engine_run: Option<&Map<String, Value>>,
    merged_conf: &Map<String, Value>,
    defaults: &ResourceDefaults,
) -> TaskResources {
    let _ = (role, job_engine_run, merged_conf, defaults);
    todo!("dag.md §5.2, per task")
}

/// The job's core budget on a party of `role`: `dag.conf.cores` or the default, at least the
/// largest task's cores (so every task can run), 0 for the arbiter.
pub fn job_cores(role: Role, conf_cores: Option<i64>, max_task_cores: i64, defaults: &ResourceDefaults) -> i64 {
    let _ = (role, conf_cores, max_task_cores, defaults);
    todo!("dag.md §5.2")
}

//! A job DAG as a pipeline of types (`dag.md`):
//! `wire::dag::DagSchema` → [`Dag`] (validated, every problem collected, cycles reported with
//! their path) → [`PartyPlan`] (the tasks one participant runs, with merged parameters and
//! conf, filtered inputs and a resolved provider) → `wire::task_config::TaskConfig`
//! (the CONFIG document of one task run, see [`config`]).
//!
//! Departures from upstream, all documented in `docs/compat.md`: invalid DAGs are rejected
//! at submit with every problem listed (W1, W2); `dependent_tasks` adds ordering edges (W4);
//! `engine_run` and task cores are computed per task (W5, W6); `model_version` defaults to
//! `"0"` on its own (W3). Beyond what upstream crashes or hangs on, validation also rejects a
//! few documents FATE would run with surprising results: two source types of one input
//! reaching the same party (FATE silently keeps one), a model_warehouse channel with no model
//! anywhere (it would read this very job), channel parties that do not run the producer, and
//! names unusable in paths or FATE's columns.

pub mod config;
#[cfg(test)]
mod golden;
mod order;
mod plan;
pub mod resource;
mod validate;

use std::fmt;

use serde_json::{Map, Value};

use crate::id::{Party, PartyId, TaskName};
use crate::provider::ProviderRef;

pub use ferroflow_wire::dag::DagSchema;
pub use plan::{DEFAULT_TASK_TIMEOUT, plan_party};
pub use validate::validate;

/// The stage a task runs in; passed through to the algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    Train,
    Predict,
    Default,
    CrossValidation,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Train => "train",
            Stage::Predict => "predict",
            Stage::Default => "default",
            Stage::CrossValidation => "cross_validation",
        }
    }

    pub fn parse(s: &str) -> Option<Stage> {
        match s {
            "train" => Some(Stage::Train),
            "predict" => Some(Stage::Predict),
            "default" => Some(Stage::Default),
            "cross_validation" => Some(Stage::CrossValidation),
            _ => None,
        }
    }
}

/// How task status reaches the scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncType {
    /// Participants report each change (`/v2/scheduler/task/report`).
    Callback,
    /// The scheduler collects (`/v2/partner/task/collect`).
    Poll,
}

impl SyncType {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncType::Callback => "callback",
            SyncType::Poll => "poll",
        }
    }

    pub fn parse(s: &str) -> Option<SyncType> {
        match s {
            "callback" => Some(SyncType::Callback),
            "poll" => Some(SyncType::Poll),
            _ => None,
        }
    }
}

/// What a stored or configured sync type parses from (`callback`, `poll`).
impl std::str::FromStr for SyncType {
    type Err = UnknownSyncType;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SyncType::parse(s).ok_or_else(|| UnknownSyncType(s.to_string()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sync_type must be callback or poll, got {0:?}")]
pub struct UnknownSyncType(pub String);

/// A validated DAG. Task order is the document's; [`Dag::order`] is the topological order
/// FATE creates tasks in (and the scheduler scans them in).
#[derive(Debug, Clone, PartialEq)]
pub struct Dag {
    /// The document as submitted (for storage and forwarding).
    pub schema: DagSchema,
    pub schema_version: String,
    /// Participants in `dag.parties` order: roles in order, party ids in order within a role.
    pub parties: Vec<Party>,
    pub stage: Option<Stage>,
    pub conf: JobConf,
    pub tasks: Vec<TaskNode>,
    pub party_tasks: Vec<PartyTasks>,
    /// Indexes into `tasks`, topologically sorted in FATE's layering (`dag.md` §6.3).
    pub order: Vec<usize>,
}

/// `dag.conf`, typed. Unset values stay `None`; defaults are applied by whoever owns them
/// (initiator, scheduler, participant), as upstream does.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JobConf {
    pub priority: i64,
    pub scheduler_party_id: Option<PartyId>,
    pub initiator_party_id: Option<PartyId>,
    pub cores: Option<i64>,
    pub computing_partitions: Option<i64>,
    pub sync_type: Option<SyncType>,
    pub auto_retries: Option<i64>,
    pub model_id: Option<String>,
    pub model_version: Option<String>,
    pub model_warehouse: Option<ModelRef>,
    pub inheritance: Option<InheritanceConf>,
    /// `dag.conf.task`: only the keys that were set (see `TaskConf::to_set_map`).
    pub task: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRef {
    pub model_id: String,
    pub model_version: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InheritanceConf {
    pub job_id: String,
    pub task_list: Vec<TaskName>,
}

/// One node of the graph.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskNode {
    pub name: TaskName,
    pub component: String,
    /// `task.parties`, or `dag.parties` when not given.
    pub parties: Vec<Party>,
    pub parameters: Map<String, Value>,
    /// Task-level conf, free-form, explicit nulls kept (a `timeout: null` disables it).
    pub conf: Map<String, Value>,
    /// `task.stage`, else `dag.stage` (one of them is required).
    pub stage: Stage,
    pub inputs: Vec<Input>,
    /// The producers of its `task_output_artifact` inputs (every channel, no party
    /// filtering): what FATE waits for before starting it.
    pub upstream: Vec<TaskName>,
    /// `dependent_tasks`: extra ordering edges (ignored upstream, honoured here).
    pub dependent_tasks: Vec<TaskName>,
}

impl TaskNode {
    /// Everything this task must wait for: its producers, then its `dependent_tasks`,
    /// without repeats.
    pub fn dependencies(&self) -> Vec<TaskName> {
        let mut all = self.upstream.clone();
        for d in &self.dependent_tasks {
            if !all.contains(d) {
                all.push(d.clone());
            }
        }
        all
    }

    pub fn runs_on(&self, party: &Party) -> bool {
        self.parties.contains(party)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArtifactClass {
    Data,
    Model,
}

impl ArtifactClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactClass::Data => "data",
            ArtifactClass::Model => "model",
        }
    }
}

/// One input key of a task and the channels it reads from, in document order.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    pub class: ArtifactClass,
    pub key: String,
    pub sources: Vec<Source>,
}

/// One channel. `many` records whether it was written as a list, which the per-party
/// filtering needs (a single survivor of a list stays a single channel).
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub channel: Channel,
    pub in_list: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Channel {
    TaskOutput {
        producer_task: TaskName,
        output_artifact_key: String,
        output_artifact_type_alias: Option<String>,
        parties: Option<Vec<Party>>,
    },
    ModelWarehouse {
        model_id: Option<String>,
        model_version: Option<String>,
        producer_task: TaskName,
        output_artifact_key: String,
        parties: Option<Vec<Party>>,
    },
    DataWarehouse {
        job_id: Option<String>,
        producer_task: Option<TaskName>,
        output_artifact_key: Option<String>,
        namespace: Option<String>,
        name: Option<String>,
        dataset_id: Option<String>,
        parties: Option<Vec<Party>>,
    },
}

impl Channel {
    /// The DAG's name for this kind of channel.
    pub fn source_type(&self) -> &'static str {
        match self {
            Channel::TaskOutput { .. } => "task_output_artifact",
            Channel::ModelWarehouse { .. } => "model_warehouse",
            Channel::DataWarehouse { .. } => "data_warehouse",
        }
    }

    pub fn parties(&self) -> Option<&[Party]> {
        match self {
            Channel::TaskOutput { parties, .. }
            | Channel::ModelWarehouse { parties, .. }
            | Channel::DataWarehouse { parties, .. } => parties.as_deref(),
        }
    }
}

/// Whether `channel` is read by `party` (`dag.md` §6.5): a channel with `parties` reaches
/// only those; a task-output channel without them reaches every party that runs its producer
/// (`runs` tells which tasks `party` runs); a warehouse channel without them reaches everyone.
pub(crate) fn reaches(channel: &Channel, party: &Party, runs: impl Fn(&TaskName) -> bool) -> bool {
    match (channel.parties(), channel) {
        (Some(listed), _) => listed.contains(party),
        (None, Channel::TaskOutput { producer_task, .. }) => runs(producer_task),
        (None, _) => true,
    }
}

/// `party_tasks.<site_name>`: overrides for the listed parties.
#[derive(Debug, Clone, PartialEq)]
pub struct PartyTasks {
    pub site_name: String,
    pub parties: Vec<Party>,
    pub conf: Option<Map<String, Value>>,
    /// Overrides per task, in document order.
    pub tasks: Vec<TaskOverride>,
}

/// `(task name, parameters, conf)` of one `party_tasks.<site>.tasks.<name>` entry.
pub type TaskOverride = (
    TaskName,
    Option<Map<String, Value>>,
    Option<Map<String, Value>>,
);

impl Dag {
    pub fn task(&self, name: &TaskName) -> Option<&TaskNode> {
        self.tasks.iter().find(|t| &t.name == name)
    }

    /// Tasks in topological order.
    pub fn ordered_tasks(&self) -> impl Iterator<Item = &TaskNode> {
        self.order.iter().map(|i| &self.tasks[*i])
    }

    /// Every participant, in `dag.parties` order.
    pub fn participants(&self) -> &[Party] {
        &self.parties
    }
}

/// The tasks one participant runs, in topological order.
#[derive(Debug, Clone, PartialEq)]
pub struct PartyPlan {
    pub party: Party,
    pub tasks: Vec<PlannedTask>,
}

/// One task as a participant runs it.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedTask {
    pub name: TaskName,
    pub component: String,
    pub stage: Stage,
    pub provider: ProviderRef,
    /// Merged: task parameters updated by matching `party_tasks` overrides.
    pub parameters: Map<String, Value>,
    /// Merged conf (`dag.md` §6.4 precedence: job `conf.task` < task `conf` < party-site
    /// `conf` < party-site task `conf`; shallow).
    pub conf: Map<String, Value>,
    /// Inputs filtered for this party, channels' parties rewritten to this party only.
    pub inputs: ferroflow_wire::task_config::InputArtifacts,
    /// Seconds; `None` when disabled by an explicit `timeout: null`.
    pub timeout: Option<i64>,
    /// `launcher_name` of the merged conf, `default` when absent.
    pub launcher_name: String,
    /// The task's runtime parties (for the federation section of its CONFIG).
    pub runtime_parties: Vec<Party>,
    /// Producers whose outputs reach this party (per-party edges), in input order.
    pub upstream: Vec<TaskName>,
}

/// One problem found in a DAG, naming where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DagError {
    /// A path into the document, e.g. `dag.tasks.lr_0.inputs.data.train_data`.
    pub path: String,
    pub problem: String,
}

impl DagError {
    pub fn new(path: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            problem: problem.into(),
        }
    }
}

impl fmt::Display for DagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.problem)
    }
}

/// Every problem found, in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DagErrors(pub Vec<DagError>);

impl fmt::Display for DagErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(
            f,
            "invalid DAG ({n} problem{}): ",
            if n == 1 { "" } else { "s" }
        )?;
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for DagErrors {}

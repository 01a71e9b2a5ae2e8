//! api-2 bodies: commands a scheduler sends to each participant (`federation.md` §7.1).
//! Job commands carry the receiving party's `{job_id, role, party_id}`, task commands add
//! `{task_id, task_version}`. Each route constant names its body type: what the scheduler
//! sends and what the participant parses.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::command::Route;
use crate::params::{FromParams, Invalid, Params};

pub const JOB_CREATE: Route<JobCreate> = Route::new("/partner/job/create");
pub const JOB_START: Route<JobTarget> = Route::new("/partner/job/start");
pub const JOB_STATUS_UPDATE: Route<StatusUpdate<JobTarget>> =
    Route::new("/partner/job/status/update");
pub const JOB_UPDATE: Route<JobUpdate> = Route::new("/partner/job/update");
pub const JOB_RESOURCE_APPLY: Route<JobTarget> = Route::new("/partner/job/resource/apply");
pub const JOB_RESOURCE_RETURN: Route<JobTarget> = Route::new("/partner/job/resource/return");
pub const JOB_STOP: Route<JobStop> = Route::new("/partner/job/stop");
pub const TASK_RESOURCE_APPLY: Route<TaskTarget> = Route::new("/partner/task/resource/apply");
pub const TASK_RESOURCE_RETURN: Route<TaskTarget> = Route::new("/partner/task/resource/return");
pub const TASK_START: Route<TaskTarget> = Route::new("/partner/task/start");
pub const TASK_COLLECT: Route<TaskTarget> = Route::new("/partner/task/collect");
pub const TASK_STATUS_UPDATE: Route<StatusUpdate<TaskTarget>> =
    Route::new("/partner/task/status/update");
pub const TASK_STOP: Route<TaskStop> = Route::new("/partner/task/stop");
pub const TASK_RERUN: Route<TaskRerun> = Route::new("/partner/task/rerun");

/// `{job_id, role, party_id}` of the receiving party's job row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobTarget {
    pub job_id: String,
    pub role: String,
    pub party_id: String,
}

impl FromParams for JobTarget {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        let j = p.json();
        Ok(Self {
            job_id: j.str("job_id")?,
            role: j.str("role")?,
            party_id: j.str("party_id")?,
        })
    }
}

/// `{job_id, role, party_id, task_id, task_version}` of the receiving party's task row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskTarget {
    pub job_id: String,
    pub role: String,
    pub party_id: String,
    pub task_id: String,
    pub task_version: i64,
}

impl FromParams for TaskTarget {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        let j = p.json();
        Ok(Self {
            job_id: j.str("job_id")?,
            role: j.str("role")?,
            party_id: j.str("party_id")?,
            task_id: j.str("task_id")?,
            task_version: j.int("task_version")?,
        })
    }
}

/// `/partner/job/create`: the full DAG schema plus the target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobCreate {
    pub dag: Value,
    pub schema_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(flatten)]
    pub target: JobTarget,
}

impl FromParams for JobCreate {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        let j = p.json();
        let dag = Value::Object(j.object("dag")?);
        let schema_version = j.str("schema_version")?;
        let target = JobTarget::from_params(p)?;
        Ok(Self {
            dag,
            schema_version,
            kind: j.opt_str("kind")?,
            target,
        })
    }
}

/// `/partner/job/status/update`, `/partner/task/status/update`: a status to apply.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusUpdate<T> {
    #[serde(flatten)]
    pub target: T,
    pub status: String,
}

impl<T: FromParams> FromParams for StatusUpdate<T> {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        let target = T::from_params(p)?;
        Ok(Self {
            target,
            status: p.json().str("status")?,
        })
    }
}

/// `/partner/job/stop`. FATE sends no status (participants use `failed`); a ferroflow
/// scheduler adds `stop_status` so that a cancel is recorded as such (FATE ignores the key).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobStop {
    #[serde(flatten)]
    pub target: JobTarget,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_status: Option<String>,
}

impl FromParams for JobStop {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        let target = JobTarget::from_params(p)?;
        Ok(Self {
            target,
            stop_status: p.json().opt_str("stop_status")?,
        })
    }
}

/// `/partner/task/stop`: status defaults to `failed`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskStop {
    #[serde(flatten)]
    pub target: TaskTarget,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

impl FromParams for TaskStop {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        let target = TaskTarget::from_params(p)?;
        Ok(Self {
            target,
            status: p.json().opt_str("status")?,
        })
    }
}

/// `/partner/task/rerun`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskRerun {
    #[serde(flatten)]
    pub target: TaskTarget,
    pub new_version: i64,
    /// ferroflow: parameters changed for the new version (FATE schedulers never send it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<serde_json::Map<String, Value>>,
}

impl FromParams for TaskRerun {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        let target = TaskTarget::from_params(p)?;
        Ok(Self {
            target,
            new_version: p.json().int("new_version")?,
            parameters: p.json().opt_object("parameters")?,
        })
    }
}

/// `/partner/job/update`: `progress` is declared optional upstream but required in practice.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobUpdate {
    #[serde(flatten)]
    pub target: JobTarget,
    pub progress: f64,
}

impl FromParams for JobUpdate {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        let target = JobTarget::from_params(p)?;
        Ok(Self {
            target,
            progress: p.json().float("progress")?,
        })
    }
}

/// `data` of a `/partner/task/collect` reply, consumed by a polling scheduler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Collected {
    pub job_id: String,
    pub task_id: String,
    pub task_version: i64,
    pub role: String,
    pub party_id: String,
    pub status: String,
    pub party_status: String,
    pub start_time: Option<i64>,
    pub update_time: Option<i64>,
    pub end_time: Option<i64>,
    pub elapsed: Option<i64>,
}

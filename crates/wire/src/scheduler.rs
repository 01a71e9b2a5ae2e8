//! api-4 bodies: requests to the site that schedules a job (`api.md` §13). Each route constant
//! names its body type: what a participant sends and what the scheduler parses.

use serde::Serialize;
use serde_json::Value;

use crate::command::Route;
use crate::params::{FromParams, Invalid, Params};

pub const JOB_CREATE: Route<JobCreate> = Route::new("/scheduler/job/create");
pub const JOB_STOP: Route<JobStop> = Route::new("/scheduler/job/stop");
pub const JOB_RERUN: Route<JobRerun> = Route::new("/scheduler/job/rerun");
pub const TASK_REPORT: Route<TaskReport> = Route::new("/scheduler/task/report");

/// `/scheduler/job/create`: `{dag, schema_version, kind}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobCreate {
    pub dag: Value,
    pub schema_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// From the `initiator-party-id` header, not the body.
    #[serde(skip)]
    pub initiator_party_id: Option<String>,
}

impl FromParams for JobCreate {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        let j = p.json();
        Ok(Self {
            dag: Value::Object(j.object("dag")?),
            schema_version: j.str("schema_version")?,
            kind: j.opt_str("kind")?,
            initiator_party_id: p.header("initiator-party-id").map(str::to_string),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobStop {
    pub job_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_status: Option<String>,
}

impl FromParams for JobStop {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        let j = p.json();
        Ok(Self {
            job_id: j.str("job_id")?,
            stop_status: j.opt_str("stop_status")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobRerun {
    pub job_id: String,
    /// ferroflow: rerun this task and everything downstream of it, even if they succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_name: Option<String>,
    /// ferroflow: `{task_name: {key: value}}` merged into the new versions' parameters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<serde_json::Map<String, Value>>,
}

impl FromParams for JobRerun {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        let j = p.json();
        Ok(Self {
            job_id: j.str("job_id")?,
            task_name: j.opt_str("task_name")?,
            parameters: j.opt_object("parameters")?,
        })
    }
}

/// `/scheduler/task/report`: a participant's new party status of one task.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskReport {
    pub job_id: String,
    pub role: String,
    pub party_id: String,
    pub task_id: String,
    pub task_version: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

impl FromParams for TaskReport {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        let j = p.json();
        Ok(Self {
            job_id: j.str("job_id")?,
            role: j.str("role")?,
            party_id: j.str("party_id")?,
            task_id: j.str("task_id")?,
            task_version: j.int("task_version")?,
            status: j.opt_str("status")?,
        })
    }
}

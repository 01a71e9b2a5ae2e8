//! The keys of api-2 and api-4 commands, parsed: a role FATE does not know or a negative
//! version is refused (InvalidParameter) before anything is looked up.

use ferroflow_core::id::{JobId, JobKey, PartyId, Role, TaskId, TaskKey};
use ferroflow_wire::partner::{JobTarget, TaskTarget};

use super::{Error, Input, Result};

pub(crate) fn job_key(t: &JobTarget) -> Result<JobKey> {
    Ok(JobKey {
        job_id: JobId::new(&t.job_id),
        role: role(&t.role)?,
        party_id: PartyId::new(&t.party_id),
    })
}

pub(crate) fn task_key(t: &TaskTarget) -> Result<TaskKey> {
    if t.task_version < 0 {
        return Err(Error::refuse_with(
            Input::Parameter,
            "task_version must not be negative",
        ));
    }
    Ok(TaskKey {
        job_id: JobId::new(&t.job_id),
        task_id: TaskId::new(&t.task_id),
        task_version: t.task_version as u32,
        role: role(&t.role)?,
        party_id: PartyId::new(&t.party_id),
    })
}

pub(crate) fn role(s: &str) -> Result<Role> {
    s.parse().map_err(|e: ferroflow_core::id::UnknownRole| {
        Error::refuse_with(Input::Parameter, e.to_string())
    })
}

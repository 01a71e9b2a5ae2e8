//! What the scheduler does to a job across its parties, for the loop and for api-4 alike:
//! finishing a creation (every participant creates the job, then it is queued or failed),
//! pushing a job status, and running a task again as a new version.

use serde_json::{Value, json};

use ferroflow_core::id::{JobId, Party, TaskId};
use ferroflow_core::status::JobStatus;
use ferroflow_wire::dag::ShapeError;
use ferroflow_wire::partner;

use crate::app::{App, Event};
use crate::federation::undelivered;
use crate::joblog;
use crate::store::{self, NewScheduleTask, PartyUpdate, ScheduleJobRow, TaskStatusRow};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("storage failure")]
    Store(#[from] store::Error),
    #[error("stored DAG of {job_id}: {source}")]
    StoredDag {
        job_id: JobId,
        #[source]
        source: ShapeError,
    },
    /// A party refused the new version of a task.
    #[error("rerun of {task} refused by {party}: {message}")]
    RerunRefused {
        task: String,
        party: Party,
        message: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The target of a job command: the receiving party's job row.
pub fn job_target(job_id: &JobId, p: &Party) -> partner::JobTarget {
    partner::JobTarget {
        job_id: job_id.to_string(),
        role: p.role.to_string(),
        party_id: p.party_id.to_string(),
    }
}

/// The target of a task command: the receiving party's row of one task version.
pub fn task_target(
    job_id: &JobId,
    task_id: &TaskId,
    version: u32,
    p: &Party,
) -> partner::TaskTarget {
    partner::TaskTarget {
        job_id: job_id.to_string(),
        role: p.role.to_string(),
        party_id: p.party_id.to_string(),
        task_id: task_id.to_string(),
        task_version: i64::from(version),
    }
}

/// How a creation ended: every participant created the job (it is queued), or some refused
/// (it failed everywhere). `data` is the answer's: the model id and version.
#[derive(Debug)]
pub enum Creation {
    Created { data: Value },
    Refused { data: Value, refused: Vec<String> },
}

/// Has every participant create a recorded job, then queues it (or fails it). Safe to run
/// again: a site that crashed in the middle of a creation resumes it from its record.
pub async fn finish_creation(app: &App, job: &ScheduleJobRow) -> Result<Creation> {
    let job_id = &job.job_id;
    let schema = ferroflow_wire::dag::DagSchema::from_value(job.dag.clone()).map_err(|source| {
        Error::StoredDag {
            job_id: job_id.clone(),
            source,
        }
    })?;
    let conf = schema.conf().cloned().unwrap_or_default();
    let data = json!({
        "model_id": conf.model_id.unwrap_or_default(),
        "model_version": conf.model_version.unwrap_or_default(),
    });
    let schema_value = schema.to_value();
    let replies = app
        .fed
        .fan_out_as(
            &job.parties,
            partner::JOB_CREATE,
            job.initiator_party_id.as_str(),
            |p| partner::JobCreate {
                dag: schema_value["dag"].clone(),
                schema_version: schema.schema_version.clone().unwrap_or_default(),
                kind: schema_value["kind"].as_str().map(str::to_string),
                target: job_target(job_id, p),
            },
        )
        .await;
    let refused: Vec<String> = replies
        .iter()
        .filter(|(_, r)| !r.is_ok())
        .map(|(p, r)| format!("{p}: {}", r.message))
        .collect();
    if !refused.is_empty() {
        tracing::warn!(job_id = %job_id, refused = ?refused, "job creation refused");
        joblog::write(
            app,
            job_id,
            &format!("creation refused: {}", refused.join("; ")),
        );
        push_job_status(app, job_id, &job.parties, JobStatus::Failed).await;
        // Rejected only when a stop ended the job during its creation: its status stands.
        app.store
            .set_schedule_job_status(job_id, JobStatus::Failed, app.now())
            .await?
            .expected("job creation refused");
        return Ok(Creation::Refused { data, refused });
    }
    push_job_status(app, job_id, &job.parties, JobStatus::Waiting).await;
    app.metrics
        .jobs_created
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // Rejected only when a stop ended the job during its creation (or a resumed creation
    // queued it first): the status already there stands.
    app.store
        .set_schedule_job_status(job_id, JobStatus::Waiting, app.now())
        .await?
        .expected("job created");
    app.emit(Event::Admission);
    tracing::info!(job_id = %job_id, parties = job.parties.len(), "job created");
    joblog::write(
        app,
        job_id,
        &format!("job created on {} parties, queued", job.parties.len()),
    );
    Ok(Creation::Created { data })
}

/// Pushes a job status to parties and records who acknowledged it (any answer but 104).
pub async fn push_job_status(app: &App, job_id: &JobId, parties: &[Party], status: JobStatus) {
    let replies = app
        .fed
        .fan_out(parties, partner::JOB_STATUS_UPDATE, |p| {
            partner::StatusUpdate {
                target: job_target(job_id, p),
                status: status.to_string(),
            }
        })
        .await;
    for (p, r) in replies {
        let u = if undelivered(&r) {
            PartyUpdate {
                last_error: Some(Some(r.message.clone())),
                ..Default::default()
            }
        } else {
            PartyUpdate {
                pushed_status: Some(status),
                last_error: Some(None),
                ..Default::default()
            }
        };
        if let Err(e) = app
            .store
            .update_schedule_party(job_id, &p, &u, app.now())
            .await
        {
            tracing::error!(job_id = %job_id, error = %e, "cannot record a push");
        }
    }
}

/// Runs a task again as version `v + 1` on all its parties: the old run is stopped, each
/// party creates the new version (rebuilding its CONFIG, with `parameters` changed), then the
/// scheduler records it. An automatic retry spends one of the task's retries and may not
/// start before a back-off delay (doubling per attempt).
pub async fn new_version(
    app: &App,
    s: &TaskStatusRow,
    auto: bool,
    parameters: Option<serde_json::Map<String, Value>>,
) -> Result<()> {
    let job_id = &s.job_id;
    let rows = app.store.schedule_tasks_of(job_id).await?;
    let parties: Vec<Party> = rows
        .iter()
        .filter(|r| r.task_id == s.task_id && r.task_version == s.task_version)
        .map(|r| r.party.clone())
        .collect();
    let component = rows
        .iter()
        .find(|r| r.task_id == s.task_id)
        .map(|r| r.component.clone())
        .unwrap_or_default();
    let new_version = s.task_version + 1;
    let target = |p: &Party| task_target(job_id, &s.task_id, s.task_version, p);
    app.fed
        .fan_out(&parties, partner::TASK_STOP, |p| partner::TaskStop {
            target: target(p),
            status: Some(s.status.to_string()),
        })
        .await;
    let replies = app
        .fed
        .fan_out(&parties, partner::TASK_RERUN, |p| partner::TaskRerun {
            target: target(p),
            new_version: i64::from(new_version),
            parameters: parameters.clone(),
        })
        .await;
    if let Some((p, r)) = replies.iter().find(|(_, r)| !r.is_ok()) {
        return Err(Error::RerunRefused {
            task: s.task_name.to_string(),
            party: p.clone(),
            message: r.message.clone(),
        });
    }
    let not_before = auto.then(|| {
        let base = app.config.scheduler.retry_delay.as_millis() as i64;
        app.now() + base.saturating_mul(1 << s.task_version.min(10))
    });
    let new = NewScheduleTask {
        task_id: s.task_id.clone(),
        task_name: s.task_name.clone(),
        component,
        version: new_version,
        parties,
        order: s.order,
        deps: s.deps.clone(),
        auto_retries: if auto {
            (s.auto_retries - 1).max(0)
        } else {
            s.auto_retries
        },
        sync_type: s.sync_type,
        not_before,
    };
    app.store
        .add_schedule_task_version(job_id, &new, app.now())
        .await?;
    if let Some(at) = not_before {
        app.wake_job_at(job_id, at);
    }
    Ok(())
}

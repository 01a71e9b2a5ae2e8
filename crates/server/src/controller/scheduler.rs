//! api-4: what the scheduling site does when asked to create, stop or rerun a job, or told of
//! a party's task status (`api.md` §13). The scheduling itself is in `crate::scheduler`.

use serde_json::{Value, json};

use ferroflow_core::dag::{self, DagSchema, SyncType};
use ferroflow_core::id::{JobId, Party, PartyId, TaskId, TaskKey, TaskName};
use ferroflow_core::status::{JobStatus, TaskStatus};
use ferroflow_wire::scheduler as wire;
use ferroflow_wire::{Envelope, partner};

use super::keys::role;
use super::{Clash, Error, Input, Missing, Op, Result};
use crate::app::{App, Event};
use crate::joblog;
use crate::scheduler::job::{Creation, finish_creation, job_target, new_version, push_job_status};
use crate::store::{Cas, NewScheduleJob, NewScheduleTask, TaskStatusRow};

/// A job every participant created: its id and each party's answer.
pub struct Created {
    pub job_id: JobId,
    pub data: Value,
}

/// `/scheduler/job/create`: gives the job its id and defaults, records it, and has every
/// participant create it. Nothing is sent before the job is durable here; if a participant
/// refuses, every party gets `failed` and the answer names who refused and why.
pub async fn create_job(app: &App, req: wire::JobCreate) -> Result<Created> {
    let mut schema = DagSchema::from_value(json!({
        "dag": req.dag, "schema_version": req.schema_version, "kind": req.kind,
    }))
    .map_err(|e| Error::refuse_with(Input::Dag, format!("invalid DAG: {e}")))?;
    {
        let jd = &app.config.job_default;
        let conf = schema.conf_mut();
        if conf.sync_type.as_deref().is_none_or(str::is_empty) {
            conf.sync_type = Some(jd.sync_type.as_str().to_string());
        }
        // Upstream fills the version only with the id (W3); each has its own default here
        // (the id's below, once drawn).
        if conf.model_version.as_deref().is_none_or(str::is_empty) {
            conf.model_version = Some("0".into());
        }
        if conf.auto_retries.is_none_or(|n| n == 0) {
            conf.auto_retries = Some(jd.auto_retries);
        }
        // FATE participants silently drop a job without it (a NOT NULL column).
        if conf.initiator_party_id.as_deref().is_none_or(str::is_empty) {
            conf.initiator_party_id = Some(
                req.initiator_party_id
                    .clone()
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| app.config.party_id.to_string()),
            );
        }
        if conf.scheduler_party_id.is_none() {
            conf.scheduler_party_id = Some(app.config.party_id.to_string());
        }
    }
    let dag = dag::validate(&schema)?;
    let job_id = claim_job_id(app).await?;
    if schema
        .conf_mut()
        .model_id
        .as_deref()
        .is_none_or(str::is_empty)
    {
        schema.conf_mut().model_id = Some(job_id.to_string());
    }
    let conf = &dag.conf;
    let sync_type = conf.sync_type.unwrap_or(SyncType::Callback);
    let tasks = dag
        .ordered_tasks()
        .enumerate()
        .map(|(i, t)| NewScheduleTask {
            task_id: TaskId::of(&job_id, &t.name),
            task_name: t.name.clone(),
            component: t.component.clone(),
            version: 0,
            parties: t.parties.clone(),
            order: i as i64,
            deps: t.dependencies(),
            // A task's own conf may set its retries (job-wide `auto_retries` otherwise).
            auto_retries: t
                .conf
                .get("auto_retries")
                .and_then(Value::as_i64)
                .or(conf.auto_retries)
                .unwrap_or(0)
                .max(0),
            sync_type,
            not_before: None,
        })
        .collect();
    let initiator = conf
        .initiator_party_id
        .clone()
        .unwrap_or_else(|| app.config.party_id.clone());
    let scheduler = conf
        .scheduler_party_id
        .clone()
        .unwrap_or_else(|| app.config.party_id.clone());
    let new = NewScheduleJob {
        job_id: job_id.clone(),
        priority: conf.priority,
        dag: schema.to_value(),
        parties: dag.parties.clone(),
        initiator_party_id: initiator,
        scheduler_party_id: scheduler,
        tasks,
    };
    let _creating = app.creating(&job_id);
    if let Err(e) = app.store.create_schedule_job(&new, app.now()).await {
        // Nothing of the job was written (one transaction): its lease goes too.
        if let Err(r) = app.instance.release(&app.store, &job_id).await {
            tracing::warn!(job_id = %job_id, error = %r, "cannot release a job's lease");
        }
        return Err(e.into());
    }
    app.failpoint("scheduler.job_recorded");
    let job = app
        .store
        .schedule_job(&job_id)
        .await?
        .ok_or_else(|| Error::Vanished(job_id.clone()))?;
    match finish_creation(app, &job).await? {
        Creation::Created { data } => Ok(Created { job_id, data }),
        Creation::Refused { data, refused } => Err(Error::CreateRefused {
            job_id,
            refused,
            data,
        }),
    }
}

/// Draws the id of a job about to be created. The instance that creates a job schedules it:
/// its lease is taken with the id, before the job exists, so that no other instance resumes
/// a creation in progress here. Instances draw ids from their own clocks, so two may draw the
/// same one at once: the lease (an insert) goes to one of them, and the other draws again, as
/// does an instance that meets an id already used by a recorded job.
async fn claim_job_id(app: &App) -> Result<JobId> {
    const DRAWS: usize = 16;
    for _ in 0..DRAWS {
        let job_id = app.next_job_id();
        if !app
            .instance
            .claim_new(&app.store, &job_id, app.now())
            .await?
        {
            continue;
        }
        if app.store.schedule_job(&job_id).await?.is_none() {
            return Ok(job_id);
        }
        app.instance.release(&app.store, &job_id).await?;
    }
    Err(Error::NoFreeJobId { draws: DRAWS })
}

/// `/scheduler/job/stop`: a cancel is remembered (no new task starts, a waiting job is
/// canceled), and every participant stops its tasks. ferroflow participants are told the
/// stop status; FATE ones ignore it and use `failed`, which the aggregation rules reconcile.
pub async fn stop_job(app: &App, req: &wire::JobStop) -> Result<()> {
    let job_id = JobId::new(&req.job_id);
    let Some(job) = app.store.schedule_job(&job_id).await? else {
        return Err(Error::job_not_found(&req.job_id));
    };
    let status = match req.stop_status.as_deref() {
        None | Some("") => JobStatus::Canceled,
        Some(s) => s.parse::<JobStatus>().map_err(|_| {
            Error::refuse_with(Input::Parameter, format!("unknown stop status {s:?}"))
        })?,
    };
    if status == JobStatus::Canceled {
        app.store.set_cancel_signal(&job_id, app.now()).await?;
    }
    let replies = app
        .fed
        .fan_out(&job.parties, partner::JOB_STOP, |p| partner::JobStop {
            target: job_target(&job_id, p),
            stop_status: Some(status.to_string()),
        })
        .await;
    app.wake_job(&job_id);
    app.emit(Event::Admission);
    let failed: Vec<&(Party, Envelope)> = replies.iter().filter(|(_, r)| !r.is_ok()).collect();
    if failed.is_empty() {
        return Ok(());
    }
    let detail: serde_json::Map<String, Value> = replies
        .iter()
        .map(|(p, r)| (format!("{p}"), r.to_value()))
        .collect();
    Err(Error::refuse_with(
        Op::StopJob,
        Value::Object(detail).to_string(),
    ))
}

/// `/scheduler/task/report`: a participant's party status of one task run.
pub async fn report_task(app: &App, req: &wire::TaskReport) -> Result<()> {
    let key = TaskKey {
        job_id: JobId::new(&req.job_id),
        task_id: TaskId::new(&req.task_id),
        task_version: u32::try_from(req.task_version).map_err(|_| {
            Error::refuse_with(Input::Parameter, "task_version must not be negative")
        })?,
        role: role(&req.role)?,
        party_id: PartyId::new(&req.party_id),
    };
    let refused = |status: &str| {
        Error::refuse(
            Clash::TaskStatus,
            &[
                ("job_id", key.job_id.as_str()),
                ("role", key.role.as_str()),
                ("party_id", key.party_id.as_str()),
                ("task_id", key.task_id.as_str()),
                ("task_version", &key.task_version.to_string()),
                ("status", status),
            ],
        )
    };
    let Some(status) = req.status.as_deref() else {
        return Err(refused("False"));
    };
    let to: TaskStatus = status.parse().map_err(|_| {
        Error::refuse_with(Input::Parameter, format!("unknown task status {status:?}"))
    })?;
    let cas = app
        .store
        .set_schedule_task_status(&key, to, app.now())
        .await?;
    app.wake_job(&key.job_id);
    match cas {
        Cas::Applied => Ok(()),
        Cas::Rejected { current: None } => Err(Error::refuse_with(
            Missing::Task,
            format!(
                "No found task: job_id[{}],task_id[{}],task_version[{}],role[{}],party_id[{}]",
                key.job_id, key.task_id, key.task_version, key.role, key.party_id
            ),
        )),
        Cas::Rejected { current: Some(_) } => Err(refused(status)),
    }
}

/// `/scheduler/job/rerun`: every task that ended without success gets a new version on all
/// its parties; an ended job goes back to `waiting` and through admission again. Earlier
/// versions keep their rows, logs and outputs. Two ferroflow extensions: `task_name` reruns
/// that task and everything downstream of it even if they succeeded, and `parameters`
/// (`{task_name: {key: value}}`) changes the parameters of the new versions.
pub async fn rerun_job(app: &App, req: &wire::JobRerun) -> Result<()> {
    let job_id = JobId::new(&req.job_id);
    let Some(job) = app.store.schedule_job(&job_id).await? else {
        return Err(Error::job_not_found(&req.job_id));
    };
    let statuses = app.store.latest_task_statuses(&job_id).await?;
    let chosen: Vec<&TaskStatusRow> = match &req.task_name {
        None => statuses
            .iter()
            .filter(|s| s.status.is_interrupt())
            .collect(),
        Some(name) => {
            if !job.status.is_end() {
                return Err(Error::refuse_with(
                    Clash::JobStatus,
                    format!(
                        "job {job_id} is {}: stop it before rerunning a task of it",
                        job.status
                    ),
                ));
            }
            let root = TaskName::new(name);
            if !statuses.iter().any(|s| s.task_name == root) {
                return Err(Error::refuse(
                    Missing::Task,
                    &[("job_id", &req.job_id), ("task_name", name)],
                ));
            }
            let below = downstream(&statuses, &root);
            statuses
                .iter()
                .filter(|s| below.contains(&s.task_name))
                .collect()
        }
    };
    if chosen.is_empty() {
        return Ok(());
    }
    let overrides = req.parameters.clone().unwrap_or_default();
    for s in &chosen {
        let params = overrides
            .get(s.task_name.as_str())
            .and_then(Value::as_object)
            .cloned();
        if let Err(e) = new_version(app, s, false, params).await {
            return Err(Error::refuse_with(Clash::TaskStatus, e.to_string()));
        }
    }
    app.store.clear_cancel_signal(&job_id, app.now()).await?;
    if job.status.is_end() {
        // Rejected only when a concurrent rerun reopened it first: it is waiting either way.
        app.store
            .reopen_schedule_job(&job_id, app.now())
            .await?
            .expected("job reopened");
        push_job_status(app, &job_id, &job.parties, JobStatus::Waiting).await;
        app.emit(Event::Admission);
    }
    app.wake_job(&job_id);
    let names: Vec<&str> = chosen.iter().map(|s| s.task_name.as_str()).collect();
    tracing::info!(job_id = %job_id, tasks = ?names, "job rerun");
    joblog::write(app, &job_id, &format!("rerun of {}", names.join(", ")));
    Ok(())
}

/// `root` and every task that depends on it, directly or not.
fn downstream(statuses: &[TaskStatusRow], root: &TaskName) -> Vec<TaskName> {
    let mut out = vec![root.clone()];
    let mut grew = true;
    while grew {
        grew = false;
        for s in statuses {
            if !out.contains(&s.task_name) && s.deps.iter().any(|d| out.contains(d)) {
                out.push(s.task_name.clone());
                grew = true;
            }
        }
    }
    out
}

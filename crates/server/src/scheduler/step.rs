//! One scheduling step for one job: load, decide, commit, act.

use std::collections::HashMap;

use serde_json::Value;

use ferroflow_core::dag::SyncType;
use ferroflow_core::id::{JobId, Party, TaskId, TaskKey, TaskName};
use ferroflow_core::schedule::{self, JobView, TaskView};
use ferroflow_core::status::{JobStatus, TaskStatus};
use ferroflow_wire::partner::{
    self, Collected, JobStop, JobUpdate, StatusUpdate, TaskStop, TaskTarget,
};
use ferroflow_wire::{Envelope, RetCode};

use super::job::{finish_creation, job_target, new_version, push_job_status, task_target};
use crate::app::{App, Event};
use crate::federation::undelivered;
use crate::joblog;
use crate::store::{self, PartyUpdate, ScheduleJobRow, ScheduleTaskRow, TaskStatusRow};

pub async fn run(app: &App, job_id: &JobId) -> Result<(), store::Error> {
    // With several instances, only the holder of the job's lease schedules it.
    if !app.instance.hold(&app.store, job_id, app.now()).await? {
        return Ok(());
    }
    let Some(job) = app.store.schedule_job(job_id).await? else {
        return Ok(());
    };
    match job.status {
        // A creation this process is not running was cut short by a crash: resume it.
        JobStatus::Ready if !app.is_creating(job_id) => {
            tracing::info!(job_id = %job_id, "resuming an interrupted job creation");
            if let Err(e) = finish_creation(app, &job).await {
                tracing::warn!(job_id = %job_id, error = %e, "job creation not resumed");
            }
            Ok(())
        }
        JobStatus::Ready => Ok(()),
        JobStatus::Waiting => {
            if give_up_on_unreachable(app, &job).await? {
                return Ok(());
            }
            // Admission starts waiting jobs; a step only delivers what parties missed.
            sync_parties(app, &job).await
        }
        JobStatus::Running => {
            if give_up_on_unreachable(app, &job).await? {
                return Ok(());
            }
            running(app, job).await
        }
        _ => finish(app, &job).await,
    }
}

/// The latest version of each task and its parties' rows.
struct Tasks {
    statuses: Vec<TaskStatusRow>,
    rows: Vec<ScheduleTaskRow>,
}

impl Tasks {
    async fn load(app: &App, job_id: &JobId) -> Result<Self, store::Error> {
        let statuses = app.store.latest_task_statuses(job_id).await?;
        let latest: HashMap<&TaskId, u32> = statuses
            .iter()
            .map(|s| (&s.task_id, s.task_version))
            .collect();
        let rows = app
            .store
            .schedule_tasks_of(job_id)
            .await?
            .into_iter()
            .filter(|r| latest.get(&r.task_id) == Some(&r.task_version))
            .collect();
        Ok(Self { statuses, rows })
    }

    fn parties_of<'a>(
        &'a self,
        s: &'a TaskStatusRow,
    ) -> impl Iterator<Item = &'a ScheduleTaskRow> + 'a {
        self.rows.iter().filter(move |r| r.task_id == s.task_id)
    }

    fn by_name(&self, name: &TaskName) -> Option<&TaskStatusRow> {
        self.statuses.iter().find(|s| &s.task_name == name)
    }
}

fn key_of(r: &ScheduleTaskRow) -> TaskKey {
    TaskKey {
        job_id: r.job_id.clone(),
        task_id: r.task_id.clone(),
        task_version: r.task_version,
        role: r.party.role,
        party_id: r.party.party_id.clone(),
    }
}

/// `T`: the target of a task command for one party.
fn task_body(r: &ScheduleTaskRow) -> TaskTarget {
    task_target(&r.job_id, &r.task_id, r.task_version, &r.party)
}

async fn running(app: &App, job: ScheduleJobRow) -> Result<(), store::Error> {
    let mut tasks = Tasks::load(app, &job.job_id).await?;
    collect(app, &job, &mut tasks).await?;
    let inherited = inherited_tasks(&job.dag);
    let view = JobView {
        status: job.status,
        cancel_requested: job.cancel_signal,
        progress: job.progress as u32,
        now: app.now(),
        tasks: tasks
            .statuses
            .iter()
            .map(|s| TaskView {
                name: s.task_name.clone(),
                version: s.task_version,
                status: s.status,
                parties: tasks
                    .parties_of(s)
                    .map(|r| (r.party.clone(), r.status))
                    .collect(),
                deps: s.deps.clone(),
                auto_retries: s.auto_retries.max(0) as u32,
                not_before: s.not_before,
                inherited: inherited.contains(&s.task_name),
            })
            .collect(),
    };
    let decided = std::time::Instant::now();
    let d = schedule::decide(&view);
    app.metrics.decide.observe(decided.elapsed());
    let now = app.now();

    // Commit the decision before acting on it.
    for (name, status) in &d.task_status {
        if let Some(s) = tasks.statuses.iter_mut().find(|s| &s.task_name == name)
            && app
                .store
                .set_federated_task_status(&job.job_id, &s.task_id, s.task_version, *status, now)
                .await?
                .applied()
        {
            s.status = *status;
        }
    }
    if let Some(p) = d.progress {
        app.store
            .set_schedule_job_progress(&job.job_id, i64::from(p), now)
            .await?;
    }
    for (name, status) in &d.task_status {
        joblog::write(app, &job.job_id, &format!("task {name} is {status}"));
    }
    for name in &d.retry {
        let Some(s) = tasks.by_name(name).cloned() else {
            continue;
        };
        match new_version(app, &s, true, None).await {
            Ok(()) => {
                let msg = format!(
                    "task {name} {} (version {}): retrying as version {} ({} retries left)",
                    s.status,
                    s.task_version,
                    s.task_version + 1,
                    (s.auto_retries - 1).max(0)
                );
                tracing::info!(job_id = %job.job_id, "{msg}");
                joblog::write(app, &job.job_id, &msg);
            }
            Err(e) => {
                tracing::warn!(job_id = %job.job_id, task = %name, error = %e, "retry not created")
            }
        }
    }

    // Starting what is ready comes first: it is what the job waits for. Telling parties what
    // they already know (a task's end, cleanup) can follow.
    let mut blocked = None;
    for name in &d.ready {
        let Some(s) = tasks.by_name(name) else {
            continue;
        };
        let rows: Vec<ScheduleTaskRow> = tasks.parties_of(s).cloned().collect();
        match start_task(app, s, &rows).await? {
            Started::Yes => {}
            Started::No(reason) => {
                app.store
                    .set_task_wait_reason(
                        &job.job_id,
                        &s.task_id,
                        s.task_version,
                        Some(&reason),
                        app.now(),
                    )
                    .await?;
                blocked = Some(reason);
                break;
            }
        }
    }
    push_task_statuses(app, &tasks).await?;
    for (name, status) in &d.stop {
        if let Some(s) = tasks.by_name(name) {
            let rows: Vec<&ScheduleTaskRow> = tasks.parties_of(s).collect();
            stop_task(app, &rows, *status).await;
        }
    }
    resend_starts(app, &tasks).await?;

    // Tasks that wait for their inputs say so.
    for s in &tasks.statuses {
        if s.status == TaskStatus::Waiting && !d.ready.contains(&s.task_name) {
            let reason = waiting_for(&tasks, s, job.cancel_signal);
            app.store
                .set_task_wait_reason(
                    &job.job_id,
                    &s.task_id,
                    s.task_version,
                    Some(&reason),
                    app.now(),
                )
                .await?;
        }
    }
    if let Some(reason) = &blocked {
        tracing::debug!(job_id = %job.job_id, reason, "task waits");
    }

    if let Some(status) = d.job_status {
        if app
            .store
            .set_schedule_job_status(&job.job_id, status, app.now())
            .await?
            .applied()
        {
            tracing::info!(job_id = %job.job_id, status = %status, "job status");
            joblog::write(app, &job.job_id, &format!("job is {status}"));
        }
        if let Some(job) = app.store.schedule_job(&job.job_id).await? {
            if job.status.is_end() {
                return finish(app, &job).await;
            }
            return sync_parties(app, &job).await;
        }
    }
    let job = app.store.schedule_job(&job.job_id).await?.unwrap_or(job);
    sync_parties(app, &job).await
}

fn waiting_for(tasks: &Tasks, s: &TaskStatusRow, canceled: bool) -> String {
    if canceled {
        return "the job is being canceled".into();
    }
    let pending: Vec<String> = s
        .deps
        .iter()
        .filter(|d| tasks.by_name(d).is_none_or(|t| !t.status.is_success()))
        .map(|d| d.to_string())
        .collect();
    if pending.is_empty() {
        "waiting for an earlier task to fail or finish".into()
    } else {
        format!("waiting for inputs from {}", pending.join(", "))
    }
}

/// Asks parties for their status of running tasks: in poll mode every time, in callback mode
/// when a party has been silent about a task for a resync interval — a probe that notices a
/// participant whose site went away (its reports would just stop), and recovers a lost report.
async fn collect(app: &App, job: &ScheduleJobRow, tasks: &mut Tasks) -> Result<(), store::Error> {
    let stale = app.now() - app.config.scheduler.resync_interval.as_millis() as i64;
    let targets: Vec<ScheduleTaskRow> = tasks
        .statuses
        .iter()
        .filter(|s| s.status == TaskStatus::Running)
        .flat_map(|s| {
            let poll = s.sync_type == SyncType::Poll;
            tasks
                .parties_of(s)
                .filter(|r| r.status.is_ongoing() && (poll || r.update_time <= stale))
                .cloned()
                .collect::<Vec<_>>()
        })
        .collect();
    if targets.is_empty() {
        return Ok(());
    }
    let replies = futures::future::join_all(targets.iter().map(|r| async move {
        (
            r,
            app.fed
                .send(&r.party.party_id, partner::TASK_COLLECT, &task_body(r))
                .await,
        )
    }))
    .await;
    for (r, reply) in replies {
        let reachable = !undelivered(&reply);
        let u = PartyUpdate {
            last_error: Some((!reachable).then(|| reply.message.clone())),
            ..Default::default()
        };
        app.store
            .update_schedule_party(&job.job_id, &r.party, &u, app.now())
            .await?;
        if !reply.is_ok() {
            continue;
        }
        // Heard from the party: not stale any more, whatever its answer.
        app.store
            .update_schedule_task(&key_of(r), None, None, app.now())
            .await?;
        let Some(c) = reply
            .data
            .and_then(|d| serde_json::from_value::<Collected>(d).ok())
        else {
            continue;
        };
        let Ok(status) = c.party_status.parse::<TaskStatus>() else {
            continue;
        };
        if status != r.status
            && app
                .store
                .set_schedule_task_status(&key_of(r), status, app.now())
                .await?
                .applied()
            && let Some(row) = tasks
                .rows
                .iter_mut()
                .find(|x| x.task_id == r.task_id && x.party == r.party)
        {
            row.status = status;
        }
    }
    Ok(())
}

/// Delivers each task's federated status to the parties that have not acknowledged it.
async fn push_task_statuses(app: &App, tasks: &Tasks) -> Result<(), store::Error> {
    let mut sends = Vec::new();
    for s in &tasks.statuses {
        for r in tasks.parties_of(s) {
            if r.pushed_status.unwrap_or(TaskStatus::Waiting) != s.status {
                sends.push((r, s.status));
            }
        }
    }
    let replies = futures::future::join_all(sends.into_iter().map(|(r, status)| async move {
        let body = StatusUpdate {
            target: task_body(r),
            status: status.to_string(),
        };
        (
            r,
            status,
            app.fed
                .send(&r.party.party_id, partner::TASK_STATUS_UPDATE, &body)
                .await,
        )
    }))
    .await;
    for (r, status, reply) in replies {
        if !undelivered(&reply) {
            app.store
                .update_schedule_task(&key_of(r), Some(status), None, app.now())
                .await?;
        }
    }
    Ok(())
}

/// An ended task is stopped on every party: kills leftovers, lets parties clean up.
async fn stop_task(app: &App, rows: &[&ScheduleTaskRow], status: TaskStatus) {
    futures::future::join_all(rows.iter().map(|r| {
        let body = TaskStop {
            target: task_body(r),
            status: Some(status.to_string()),
        };
        async move {
            app.fed
                .send(&r.party.party_id, partner::TASK_STOP, &body)
                .await
        }
    }))
    .await;
}

/// A running task whose start did not reach a party gets it again (starts are idempotent).
async fn resend_starts(app: &App, tasks: &Tasks) -> Result<(), store::Error> {
    let missing: Vec<&ScheduleTaskRow> = tasks
        .statuses
        .iter()
        .filter(|s| s.status == TaskStatus::Running)
        .flat_map(|s| {
            tasks
                .parties_of(s)
                .filter(|r| !r.start_acked && r.status == TaskStatus::Waiting)
        })
        .collect();
    for r in missing {
        let reply = app
            .fed
            .send(&r.party.party_id, partner::TASK_START, &task_body(r))
            .await;
        if !undelivered(&reply) {
            app.store
                .update_schedule_task(&key_of(r), None, Some(true), app.now())
                .await?;
        }
    }
    Ok(())
}

enum Started {
    Yes,
    No(String),
}

/// Resources on every party, then `running` (durable, then pushed), then the start command.
async fn start_task(
    app: &App,
    s: &TaskStatusRow,
    rows: &[ScheduleTaskRow],
) -> Result<Started, store::Error> {
    let parties: Vec<Party> = rows.iter().map(|r| r.party.clone()).collect();
    let body_of = |p: &Party| task_target(&s.job_id, &s.task_id, s.task_version, p);
    let applied = app
        .fed
        .fan_out(&parties, partner::TASK_RESOURCE_APPLY, body_of)
        .await;
    let refused: Vec<&(Party, Envelope)> = applied.iter().filter(|(_, r)| !r.is_ok()).collect();
    if !refused.is_empty() {
        let got: Vec<Party> = applied
            .iter()
            .filter(|(_, r)| r.is_ok())
            .map(|(p, _)| p.clone())
            .collect();
        app.fed
            .fan_out(&got, partner::TASK_RESOURCE_RETURN, body_of)
            .await;
        let reason = refused
            .iter()
            .map(|(p, r)| match r.ret_code() {
                Some(RetCode::TaskResourceException) => {
                    format!("no cores left in the job's budget on {p}")
                }
                Some(RetCode::FederatedError) => format!("{p} unreachable: {}", r.message),
                _ => format!("{p} refused: {}", r.message),
            })
            .collect::<Vec<_>>()
            .join("; ");
        return Ok(Started::No(reason));
    }
    let now = app.now();
    if !app
        .store
        .set_federated_task_status(
            &s.job_id,
            &s.task_id,
            s.task_version,
            TaskStatus::Running,
            now,
        )
        .await?
        .applied()
    {
        return Ok(Started::Yes);
    }
    app.failpoint("scheduler.task_decided");
    let pushes = app
        .fed
        .fan_out(&parties, partner::TASK_STATUS_UPDATE, |p| StatusUpdate {
            target: body_of(p),
            status: TaskStatus::Running.to_string(),
        })
        .await;
    for (p, reply) in &pushes {
        if let Some(r) = rows.iter().find(|r| &r.party == p)
            && !undelivered(reply)
        {
            app.store
                .update_schedule_task(&key_of(r), Some(TaskStatus::Running), None, app.now())
                .await?;
        }
    }
    let starts = app
        .fed
        .fan_out(&parties, partner::TASK_START, body_of)
        .await;
    for (p, reply) in &starts {
        let Some(r) = rows.iter().find(|r| &r.party == p) else {
            continue;
        };
        if undelivered(reply) {
            tracing::warn!(task = %s.task_name, party = %p, error = %reply.message, "start not delivered; will retry");
            continue;
        }
        if !reply.is_ok() {
            // The party answered: it recorded the failure and reports it like any other.
            tracing::warn!(task = %s.task_name, party = %p, error = %reply.message, "start refused");
        }
        app.store
            .update_schedule_task(&key_of(r), None, Some(true), app.now())
            .await?;
    }
    tracing::info!(job_id = %s.job_id, task = %s.task_name, version = s.task_version, "task started");
    joblog::write(
        app,
        &s.job_id,
        &format!("task {} version {} started", s.task_name, s.task_version),
    );
    Ok(Started::Yes)
}

/// Delivers the job's status and progress to every party that has not acknowledged them,
/// and the start of a running job to a party that did not get it.
pub(super) async fn sync_parties(app: &App, job: &ScheduleJobRow) -> Result<(), store::Error> {
    let parties = app.store.schedule_parties(&job.job_id).await?;
    if job.status == JobStatus::Running {
        let unstarted: Vec<Party> = parties
            .iter()
            .filter(|p| !p.started)
            .map(|p| p.party.clone())
            .collect();
        if !unstarted.is_empty() {
            let replies = app
                .fed
                .fan_out(&unstarted, partner::JOB_START, |p| {
                    job_target(&job.job_id, p)
                })
                .await;
            for (p, r) in replies {
                if !undelivered(&r) {
                    let u = PartyUpdate {
                        started: Some(true),
                        pushed_status: Some(JobStatus::Running),
                        last_error: Some(None),
                        ..Default::default()
                    };
                    app.store
                        .update_schedule_party(&job.job_id, &p, &u, app.now())
                        .await?;
                }
            }
        }
    }
    let behind: Vec<Party> = parties
        .iter()
        .filter(|p| {
            p.pushed_status.is_some_and(|s| s != job.status)
                || (p.pushed_status.is_none() && job.status != JobStatus::Ready)
        })
        .map(|p| p.party.clone())
        .collect();
    if !behind.is_empty() {
        push_job_status(app, &job.job_id, &behind, job.status).await;
    }
    let lagging: Vec<Party> = parties
        .iter()
        .filter(|p| p.pushed_progress < job.progress)
        .map(|p| p.party.clone())
        .collect();
    if !lagging.is_empty() {
        let replies = app
            .fed
            .fan_out(&lagging, partner::JOB_UPDATE, |p| JobUpdate {
                target: job_target(&job.job_id, p),
                progress: job.progress as f64,
            })
            .await;
        for (p, r) in replies {
            if !undelivered(&r) {
                let u = PartyUpdate {
                    pushed_progress: Some(job.progress),
                    ..Default::default()
                };
                app.store
                    .update_schedule_party(&job.job_id, &p, &u, app.now())
                    .await?;
            }
        }
    }
    Ok(())
}

/// An ended job: every party learns the final status, then is told to stop (which kills
/// whatever still runs and returns the job's cores).
async fn finish(app: &App, job: &ScheduleJobRow) -> Result<(), store::Error> {
    sync_parties(app, job).await?;
    let parties = app.store.schedule_parties(&job.job_id).await?;
    let to_stop: Vec<Party> = parties
        .iter()
        .filter(|p| !p.stopped && p.pushed_status == Some(job.status))
        .map(|p| p.party.clone())
        .collect();
    if to_stop.is_empty() {
        return release_if_settled(app, job).await;
    }
    let stop_status = match job.status {
        JobStatus::Success => "success",
        s => s.as_str(),
    };
    let replies = app
        .fed
        .fan_out(&to_stop, partner::JOB_STOP, |p| JobStop {
            target: job_target(&job.job_id, p),
            stop_status: Some(stop_status.to_string()),
        })
        .await;
    for (p, r) in replies {
        if !undelivered(&r) {
            let u = PartyUpdate {
                stopped: Some(true),
                ..Default::default()
            };
            app.store
                .update_schedule_party(&job.job_id, &p, &u, app.now())
                .await?;
        }
    }
    app.emit(Event::Admission);
    release_if_settled(app, job).await
}

/// An ended job every party knows to be ended and has stopped needs no scheduler any more:
/// its lease goes (a later command wakes it again, and whoever steps it takes a new one).
async fn release_if_settled(app: &App, job: &ScheduleJobRow) -> Result<(), store::Error> {
    let settled = app
        .store
        .schedule_parties(&job.job_id)
        .await?
        .iter()
        .all(|p| p.stopped && p.pushed_status == Some(job.status));
    if settled {
        app.instance.release(&app.store, &job.job_id).await?;
    }
    Ok(())
}

/// The tasks `dag.conf.inheritance` takes over from an earlier job.
fn inherited_tasks(dag: &Value) -> Vec<TaskName> {
    dag.pointer("/dag/conf/inheritance/task_list")
        .and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .map(TaskName::from)
                .collect()
        })
        .unwrap_or_default()
}

/// A participant that has not answered for longer than the configured deadline fails its
/// job; until then the job waits for it (and says so), and every push is retried.
async fn give_up_on_unreachable(app: &App, job: &ScheduleJobRow) -> Result<bool, store::Error> {
    let limit = app.config.scheduler.party_timeout.as_millis() as i64;
    let now = app.now();
    let parties = app.store.schedule_parties(&job.job_id).await?;
    let Some(p) = parties
        .iter()
        .find(|p| p.unreachable_since.is_some_and(|t| now - t > limit))
    else {
        return Ok(false);
    };
    let since = p.unreachable_since.unwrap_or(now);
    let reason = format!(
        "{} unreachable for {} s (limit {} s): {}",
        p.party,
        (now - since) / 1000,
        limit / 1000,
        p.last_error.clone().unwrap_or_default()
    );
    tracing::warn!(job_id = %job.job_id, reason, "giving up on an unreachable party");
    joblog::write(app, &job.job_id, &format!("job fails: {reason}"));
    // Rejected only when the job ended otherwise meanwhile: that status stands.
    app.store
        .set_schedule_job_status(&job.job_id, JobStatus::Failed, now)
        .await?
        .expected("unreachable party");
    app.store
        .set_job_wait_reason(&job.job_id, Some(&reason), now)
        .await?;
    if let Some(job) = app.store.schedule_job(&job.job_id).await? {
        finish(app, &job).await?;
    }
    Ok(true)
}

//! Starting waiting jobs: highest priority first, then oldest. A job that cannot get its
//! cores does not hold up jobs on other parties (upstream only ever tries the queue head,
//! W-sched-2); jobs that need a party that just said "no cores" wait behind the earlier job
//! instead of overtaking it, so a big job is not starved by small ones.

use std::collections::BTreeSet;

use ferroflow_core::id::Party;
use ferroflow_core::status::JobStatus;
use ferroflow_wire::{Envelope, RetCode, partner};

use super::job::{job_target, push_job_status};
use crate::app::App;
use crate::federation::undelivered;
use crate::joblog;
use crate::store::{self, PartyUpdate, ScheduleJobRow};

pub async fn run(app: &App) -> Result<(), store::Error> {
    let mut full: BTreeSet<Party> = BTreeSet::new();
    for job in app.store.schedule_jobs_in(JobStatus::Waiting).await? {
        // With several instances, each admits the jobs whose lease it holds or takes.
        if !app
            .instance
            .hold(&app.store, &job.job_id, app.now())
            .await?
        {
            continue;
        }
        if job.cancel_signal {
            cancel(app, &job).await?;
            continue;
        }
        let reason = match admit(app, &job, &mut full).await? {
            None => continue,
            Some(reason) => reason,
        };
        if job.wait_reason.as_deref() != Some(reason.as_str())
            && app
                .store
                .set_job_wait_reason(&job.job_id, Some(&reason), app.now())
                .await?
        {
            tracing::info!(job_id = %job.job_id, reason, "job waits");
            joblog::write(app, &job.job_id, &format!("job waits: {reason}"));
        }
    }
    Ok(())
}

/// Tries to start one job; the reason it waits otherwise.
async fn admit(
    app: &App,
    job: &ScheduleJobRow,
    full: &mut BTreeSet<Party>,
) -> Result<Option<String>, store::Error> {
    // Checked first, without touching the database: behind a long queue this is the common
    // case, and it keeps a pass cheap however many jobs wait.
    if let Some(p) = job.parties.iter().find(|p| full.contains(p)) {
        return Ok(Some(format!("queued for cores on {p} behind earlier jobs")));
    }
    let parties = app.store.schedule_parties(&job.job_id).await?;
    let unaware: Vec<Party> = parties
        .iter()
        .filter(|p| p.pushed_status.is_none())
        .map(|p| p.party.clone())
        .collect();
    if !unaware.is_empty() {
        push_job_status(app, &job.job_id, &unaware, JobStatus::Waiting).await;
        let still: Vec<String> = app
            .store
            .schedule_parties(&job.job_id)
            .await?
            .into_iter()
            .filter(|p| p.pushed_status.is_none())
            .map(|p| {
                format!(
                    "{} unreachable: {}",
                    p.party,
                    p.last_error.unwrap_or_default()
                )
            })
            .collect();
        if !still.is_empty() {
            return Ok(Some(still.join("; ")));
        }
    }
    let replies = app
        .fed
        .fan_out(&job.parties, partner::JOB_RESOURCE_APPLY, |p| {
            job_target(&job.job_id, p)
        })
        .await;
    let got: Vec<Party> = replies
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(p, _)| p.clone())
        .collect();
    let refused: Vec<&(Party, Envelope)> = replies.iter().filter(|(_, r)| !r.is_ok()).collect();
    if !refused.is_empty() {
        // Give back what was taken: holding part of a job's cores while waiting for the rest
        // could deadlock two jobs that each hold one party.
        app.fed
            .fan_out(&got, partner::JOB_RESOURCE_RETURN, |p| {
                job_target(&job.job_id, p)
            })
            .await;
        if let Some((p, r)) = refused
            .iter()
            .find(|(_, r)| r.ret_code() == Some(RetCode::JobResourceLimitExceeded))
        {
            let reason = format!("{p}: {}", r.message);
            tracing::warn!(job_id = %job.job_id, reason, "job can never get its cores");
            app.store
                .set_job_wait_reason(&job.job_id, Some(&reason), app.now())
                .await?;
            push_job_status(app, &job.job_id, &job.parties, JobStatus::Failed).await;
            // Rejected only when a stop ended the job meanwhile: its status stands.
            app.store
                .set_schedule_job_status(&job.job_id, JobStatus::Failed, app.now())
                .await?
                .expected("job can never get its cores");
            app.wake_job(&job.job_id);
            return Ok(None);
        }
        let reasons: Vec<String> = refused
            .iter()
            .map(|(p, r)| {
                if r.ret_code() == Some(RetCode::JobResourceException) {
                    full.insert(p.clone());
                    format!("no free cores on {p} ({})", r.message)
                } else if undelivered(r) {
                    format!("{p} unreachable: {}", r.message)
                } else {
                    format!("{p} refused its cores: {}", r.message)
                }
            })
            .collect();
        return Ok(Some(reasons.join("; ")));
    }

    let now = app.now();
    for p in &job.parties {
        let u = PartyUpdate {
            resource_applied: Some(true),
            ..Default::default()
        };
        app.store
            .update_schedule_party(&job.job_id, p, &u, now)
            .await?;
    }
    let started = app
        .fed
        .fan_out(&job.parties, partner::JOB_START, |p| {
            job_target(&job.job_id, p)
        })
        .await;
    for (p, r) in &started {
        if r.is_ok() {
            let u = PartyUpdate {
                started: Some(true),
                pushed_status: Some(JobStatus::Running),
                ..Default::default()
            };
            app.store
                .update_schedule_party(&job.job_id, p, &u, app.now())
                .await?;
        }
    }
    // A party that refused to start (an inheritance it cannot honour, say) fails the job; one
    // that did not answer is started again by the next steps.
    let refused: Vec<String> = started
        .iter()
        .filter(|(_, r)| !r.is_ok() && !undelivered(r))
        .map(|(p, r)| format!("{p} refused to start: {}", r.message))
        .collect();
    if !refused.is_empty() {
        let reason = refused.join("; ");
        tracing::warn!(job_id = %job.job_id, reason, "job not started");
        joblog::write(app, &job.job_id, &format!("job fails: {reason}"));
        // `waiting` cannot become `failed` directly; either step is rejected only when a
        // stop ended the job meanwhile, and its status stands.
        app.store
            .set_schedule_job_status(&job.job_id, JobStatus::Running, app.now())
            .await?
            .expected("job not started: running");
        app.store
            .set_schedule_job_status(&job.job_id, JobStatus::Failed, app.now())
            .await?
            .expected("job not started");
        app.store
            .set_job_wait_reason(&job.job_id, Some(&reason), app.now())
            .await?;
        app.wake_job(&job.job_id);
        return Ok(None);
    }
    app.store
        .set_job_wait_reason(&job.job_id, None, app.now())
        .await?;
    // Rejected only when a stop ended the job meanwhile: the step woken below sees its
    // status and stops every party.
    app.store
        .set_schedule_job_status(&job.job_id, JobStatus::Running, app.now())
        .await?
        .expected("job started");
    tracing::info!(job_id = %job.job_id, "job running");
    joblog::write(app, &job.job_id, "job started on every party");
    app.wake_job(&job.job_id);
    Ok(None)
}

async fn cancel(app: &App, job: &ScheduleJobRow) -> Result<(), store::Error> {
    push_job_status(app, &job.job_id, &job.parties, JobStatus::Canceled).await;
    // Rejected only when the job ended otherwise meanwhile: that status stands.
    app.store
        .set_schedule_job_status(&job.job_id, JobStatus::Canceled, app.now())
        .await?
        .expected("waiting job canceled");
    app.wake_job(&job.job_id);
    Ok(())
}

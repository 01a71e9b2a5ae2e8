//! Callback mode, participant side: every party status a task reaches is reported to the job's
//! scheduler until the scheduler acknowledges it. The outbox is the task table itself (party
//! status vs. last acknowledged status), so reports survive a restart of either site and are
//! retried until the scheduler is back (upstream reports once and forgets, W-sched-5).

use ferroflow_wire::scheduler as wire;

use crate::app::App;
use crate::federation::undelivered;

/// Sends every unacknowledged report once; what does not get through is retried on a later
/// pass (each resync of the scheduler loop).
pub async fn deliver(app: &App) {
    let tasks = match app.store.unreported_tasks().await {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "cannot list unreported tasks");
            return;
        }
    };
    let sends = tasks.iter().map(|t| async move {
        let body = wire::TaskReport {
            job_id: t.job_id.to_string(),
            role: t.role.to_string(),
            party_id: t.party_id.to_string(),
            task_id: t.task_id.to_string(),
            task_version: i64::from(t.task_version),
            status: Some(t.party_status.to_string()),
        };
        let reply = app
            .fed
            .send(&t.scheduler_party_id, wire::TASK_REPORT, &body)
            .await;
        (t, reply)
    });
    for (t, reply) in futures::future::join_all(sends).await {
        if undelivered(&reply) {
            tracing::debug!(execution_id = %t.execution_id, error = %reply.message, "report not delivered");
            continue;
        }
        app.failpoint("reporter.delivered");
        if let Err(e) = app
            .store
            .set_reported_status(&t.key(), t.party_status, app.now())
            .await
        {
            tracing::error!(error = %e, "cannot record a delivered report");
        }
    }
}

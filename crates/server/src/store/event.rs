//! The per-job event log (`t_job_event`): every committed status change of a job and its
//! party tasks, with its cause. Rows are written by the compare-and-swap functions, inside
//! their transaction, so the log and the statuses cannot disagree.
//!
//! The cause is ambient: the HTTP edge names the route and the calling party, the scheduler
//! its step, the launcher its exit watch (`with_cause`); the store reads it where it records
//! a change. A change made outside any named scope is caused by `site`.

use std::future::Future;
use std::sync::Arc;

use serde::Serialize;
use sqlx::any::AnyRow;

use ferroflow_core::id::{JobId, JobKey, TaskKey};

use super::{Result, Store, get_i64, get_opt_i64, get_opt_str, get_str};

tokio::task_local! {
    static CAUSE: Arc<str>;
}

/// Runs `f` with `cause` named as the cause of every status change it commits.
pub async fn with_cause<F: Future>(cause: impl Into<Arc<str>>, f: F) -> F::Output {
    CAUSE.scope(cause.into(), f).await
}

fn current_cause() -> String {
    CAUSE
        .try_with(|c| c.to_string())
        .unwrap_or_else(|_| "site".to_string())
}

/// Which status changed.
#[derive(Debug, Clone, Copy)]
pub(super) enum View {
    /// The scheduler's federated status of a job or task.
    Federated,
    /// A participant's own job row or task run.
    Party,
    /// A party's task status as the scheduler received it.
    Reported,
}

impl View {
    fn as_str(self) -> &'static str {
        match self {
            View::Federated => "federated",
            View::Party => "party",
            View::Reported => "reported",
        }
    }
}

/// What changed: a job (federated or one party's row) or a task run.
pub(super) enum Subject<'a> {
    Job(&'a JobId),
    PartyJob(&'a JobKey),
    Task {
        job_id: &'a JobId,
        task_id: &'a str,
        version: i64,
    },
    PartyTask(&'a TaskKey),
}

#[derive(Debug, Clone, Serialize)]
pub struct EventRow {
    pub id: i64,
    pub job_id: String,
    pub view: String,
    pub task_id: Option<String>,
    pub task_version: Option<i64>,
    pub role: Option<String>,
    pub party_id: Option<String>,
    pub from: Option<String>,
    pub to: String,
    pub cause: String,
    pub detail: Option<String>,
    pub time: i64,
}

impl EventRow {
    fn from_row(r: &AnyRow) -> Result<Self> {
        Ok(Self {
            id: get_i64(r, "f_id")?,
            job_id: get_str(r, "f_job_id")?,
            view: get_str(r, "f_view")?,
            task_id: get_opt_str(r, "f_task_id")?,
            task_version: get_opt_i64(r, "f_task_version")?,
            role: get_opt_str(r, "f_role")?,
            party_id: get_opt_str(r, "f_party_id")?,
            from: get_opt_str(r, "f_from")?,
            to: get_str(r, "f_to")?,
            cause: get_str(r, "f_cause")?,
            detail: get_opt_str(r, "f_detail")?,
            time: get_i64(r, "f_time")?,
        })
    }
}

/// The longest cause or detail kept (an error report can be a whole traceback).
const MAX_TEXT: usize = 4000;

fn bounded(s: &str) -> String {
    if s.len() <= MAX_TEXT {
        return s.to_string();
    }
    let mut end = MAX_TEXT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

impl Store {
    /// Records one change inside the transaction that commits it.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn record_event_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        view: View,
        subject: Subject<'_>,
        from: &str,
        to: &str,
        detail: Option<&str>,
        now: i64,
    ) -> Result<()> {
        let (job_id, task_id, version, role, party_id) = match subject {
            Subject::Job(j) => (j.to_string(), None, None, None, None),
            Subject::PartyJob(k) => (
                k.job_id.to_string(),
                None,
                None,
                Some(k.role.as_str().to_string()),
                Some(k.party_id.to_string()),
            ),
            Subject::Task {
                job_id,
                task_id,
                version,
            } => (
                job_id.to_string(),
                Some(task_id.to_string()),
                Some(version),
                None,
                None,
            ),
            Subject::PartyTask(k) => (
                k.job_id.to_string(),
                Some(k.task_id.to_string()),
                Some(k.task_version as i64),
                Some(k.role.as_str().to_string()),
                Some(k.party_id.to_string()),
            ),
        };
        sqlx::query(self.sql(
            "INSERT INTO t_job_event (f_job_id, f_view, f_task_id, f_task_version, f_role,
                f_party_id, f_from, f_to, f_cause, f_detail, f_time)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ))
        .bind(job_id)
        .bind(view.as_str())
        .bind(task_id)
        .bind(version)
        .bind(role)
        .bind(party_id)
        .bind(from.to_string())
        .bind(to.to_string())
        .bind(bounded(&current_cause()))
        .bind(detail.filter(|d| !d.is_empty()).map(bounded))
        .bind(now)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// A job's events after `after_id`, oldest first, at most `limit`.
    pub async fn job_events(
        &self,
        job_id: &str,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<EventRow>> {
        let rows = sqlx::query(self.sql(
            "SELECT f_id, f_job_id, f_view, f_task_id, f_task_version, f_role, f_party_id,
                f_from, f_to, f_cause, f_detail, f_time
             FROM t_job_event WHERE f_job_id = ? AND f_id > ? ORDER BY f_id LIMIT ?",
        ))
        .bind(job_id.to_string())
        .bind(after_id)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(EventRow::from_row).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_on_a_char_boundary() {
        let s = "é".repeat(MAX_TEXT);
        let b = bounded(&s);
        assert!(b.len() <= MAX_TEXT + '…'.len_utf8());
        assert!(b.ends_with('…'));
        assert_eq!(bounded("short"), "short");
    }
}

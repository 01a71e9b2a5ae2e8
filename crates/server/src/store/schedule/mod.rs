//! The scheduler's rows: the federated job (`t_schedule_job`), what each participant has
//! acknowledged (`t_schedule_party`), each party's status of each task run
//! (`t_schedule_task`) and the federated task status (`t_schedule_task_status`).

use serde_json::Value;
use sqlx::any::AnyRow;

use ferroflow_core::dag::SyncType;
use ferroflow_core::id::{JobId, Party, PartyId, Role, TaskId, TaskKey, TaskName, TaskVersion};
use ferroflow_core::status::{JobStatus, TaskStatus};

mod task;

use super::event::{Subject, View};
use super::{Bind, stamp_times};
use super::{
    Cas, Error, Result, Store, get_bool, get_i64, get_json, get_opt_i64, get_opt_parsed,
    get_opt_str, get_parsed, get_str, to_json,
};

#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleJobRow {
    pub job_id: JobId,
    pub priority: i64,
    pub dag: Value,
    pub parties: Vec<Party>,
    pub initiator_party_id: PartyId,
    pub scheduler_party_id: PartyId,
    pub status: JobStatus,
    pub progress: i64,
    pub cancel_signal: bool,
    pub rerun_signal: bool,
    pub wait_reason: Option<String>,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub create_time: i64,
    pub update_time: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SchedulePartyRow {
    pub party: Party,
    /// The job status this participant last acknowledged.
    pub pushed_status: Option<JobStatus>,
    pub pushed_progress: i64,
    pub resource_applied: bool,
    pub started: bool,
    pub stopped: bool,
    pub last_error: Option<String>,
    /// Since when (ms) the party has not answered; `None` while it answers.
    pub unreachable_since: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleTaskRow {
    pub job_id: JobId,
    pub task_id: TaskId,
    pub task_version: TaskVersion,
    pub party: Party,
    pub task_name: TaskName,
    pub component: String,
    /// That party's reported party status.
    pub status: TaskStatus,
    /// The federated status the party last acknowledged.
    pub pushed_status: Option<TaskStatus>,
    pub start_acked: bool,
    pub error_report: String,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    /// Last change, or last time the party was heard about it.
    pub update_time: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TaskStatusRow {
    pub job_id: JobId,
    pub task_id: TaskId,
    pub task_version: TaskVersion,
    pub task_name: TaskName,
    pub status: TaskStatus,
    pub auto_retries: i64,
    pub sync_type: SyncType,
    pub order: i64,
    pub deps: Vec<TaskName>,
    pub wait_reason: Option<String>,
    /// A retried run may not start before this time (ms).
    pub not_before: Option<i64>,
}

/// A job as the scheduler creates it, `ready`, with version 0 of every task.
#[derive(Debug, Clone)]
pub struct NewScheduleJob {
    pub job_id: JobId,
    pub priority: i64,
    pub dag: Value,
    pub parties: Vec<Party>,
    pub initiator_party_id: PartyId,
    pub scheduler_party_id: PartyId,
    pub tasks: Vec<NewScheduleTask>,
}

#[derive(Debug, Clone)]
pub struct NewScheduleTask {
    pub task_id: TaskId,
    pub task_name: TaskName,
    pub component: String,
    pub version: TaskVersion,
    pub parties: Vec<Party>,
    pub order: i64,
    pub deps: Vec<TaskName>,
    pub auto_retries: i64,
    pub sync_type: SyncType,
    pub not_before: Option<i64>,
}

fn party_of(r: &AnyRow) -> Result<Party> {
    Ok(Party::new(
        get_parsed::<Role>(r, "f_role")?,
        PartyId::new(get_str(r, "f_party_id")?),
    ))
}

impl ScheduleJobRow {
    fn from_row(r: &AnyRow) -> Result<Self> {
        let parties_json = get_json(r, "f_parties")?;
        let parties: Vec<Party> =
            serde_json::from_value(parties_json.clone()).map_err(|_| Error::Corrupt {
                column: "f_parties",
                value: parties_json.to_string(),
            })?;
        Ok(Self {
            job_id: JobId::new(get_str(r, "f_job_id")?),
            priority: get_i64(r, "f_priority")?,
            dag: get_json(r, "f_dag")?,
            parties,
            initiator_party_id: PartyId::new(get_str(r, "f_initiator_party_id")?),
            scheduler_party_id: PartyId::new(get_str(r, "f_scheduler_party_id")?),
            status: get_parsed(r, "f_status")?,
            progress: get_i64(r, "f_progress")?,
            cancel_signal: get_bool(r, "f_cancel_signal")?,
            rerun_signal: get_bool(r, "f_rerun_signal")?,
            wait_reason: get_opt_str(r, "f_wait_reason")?,
            start_time: get_opt_i64(r, "f_start_time")?,
            end_time: get_opt_i64(r, "f_end_time")?,
            create_time: get_i64(r, "f_create_time")?,
            update_time: get_i64(r, "f_update_time")?,
        })
    }
}

impl ScheduleTaskRow {
    fn from_row(r: &AnyRow) -> Result<Self> {
        Ok(Self {
            job_id: JobId::new(get_str(r, "f_job_id")?),
            task_id: TaskId::new(get_str(r, "f_task_id")?),
            task_version: get_i64(r, "f_task_version")? as TaskVersion,
            party: party_of(r)?,
            task_name: TaskName::new(get_str(r, "f_task_name")?),
            component: get_str(r, "f_component")?,
            status: get_parsed(r, "f_status")?,
            pushed_status: get_opt_parsed(r, "f_pushed_status")?,
            start_acked: get_bool(r, "f_start_acked")?,
            error_report: get_str(r, "f_error_report")?,
            start_time: get_opt_i64(r, "f_start_time")?,
            end_time: get_opt_i64(r, "f_end_time")?,
            update_time: get_i64(r, "f_update_time")?,
        })
    }
}

impl TaskStatusRow {
    fn from_row(r: &AnyRow) -> Result<Self> {
        let deps_json = get_json(r, "f_deps")?;
        let deps: Vec<TaskName> =
            serde_json::from_value(deps_json.clone()).map_err(|_| Error::Corrupt {
                column: "f_deps",
                value: deps_json.to_string(),
            })?;
        Ok(Self {
            job_id: JobId::new(get_str(r, "f_job_id")?),
            task_id: TaskId::new(get_str(r, "f_task_id")?),
            task_version: get_i64(r, "f_task_version")? as TaskVersion,
            task_name: TaskName::new(get_str(r, "f_task_name")?),
            status: get_parsed(r, "f_status")?,
            auto_retries: get_i64(r, "f_auto_retries")?,
            sync_type: get_parsed(r, "f_sync_type")?,
            order: get_i64(r, "f_order")?,
            deps,
            wait_reason: get_opt_str(r, "f_wait_reason")?,
            not_before: get_opt_i64(r, "f_not_before")?,
        })
    }
}

const SCHEDULE_JOB: &str = "SELECT f_job_id, f_priority, f_dag, f_parties, f_initiator_party_id, \
     f_scheduler_party_id, f_status, f_progress, f_cancel_signal, f_rerun_signal, f_wait_reason, \
     f_start_time, f_end_time, f_create_time, f_update_time FROM t_schedule_job";

const SCHEDULE_TASK: &str = "SELECT f_job_id, f_task_id, f_task_version, f_role, f_party_id, \
     f_task_name, f_component, f_status, f_pushed_status, f_start_acked, f_error_report, \
     f_start_time, f_end_time, f_update_time FROM t_schedule_task";

const TASK_STATUS: &str = "SELECT f_job_id, f_task_id, f_task_version, f_task_name, f_status, \
     f_auto_retries, f_sync_type, f_order, f_deps, f_wait_reason, f_not_before \
     FROM t_schedule_task_status s";

impl Store {
    /// Records a new job and version 0 of its tasks, all `ready`/`waiting`, in one
    /// transaction: nothing is sent to any party before this is durable.
    pub async fn create_schedule_job(&self, job: &NewScheduleJob, now: i64) -> Result<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query(self.sql(
            "INSERT INTO t_schedule_job (f_job_id, f_protocol, f_priority, f_tag, f_dag, f_parties,
                f_initiator_party_id, f_scheduler_party_id, f_status, f_progress, f_cancel_signal,
                f_rerun_signal, f_create_time, f_update_time)
             VALUES (?, 'fate', ?, '', ?, ?, ?, ?, ?, 0, 0, 0, ?, ?)",
        ))
        .bind(job.job_id.to_string())
        .bind(job.priority)
        .bind(to_json("dag", &job.dag)?)
        .bind(to_json("parties", &job.parties)?)
        .bind(job.initiator_party_id.to_string())
        .bind(job.scheduler_party_id.to_string())
        .bind(JobStatus::Ready.as_str())
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for p in &job.parties {
            sqlx::query(self.sql(
                "INSERT INTO t_schedule_party (f_job_id, f_role, f_party_id, f_pushed_progress,
                    f_resource_applied, f_started, f_stopped, f_create_time, f_update_time)
                 VALUES (?, ?, ?, 0, 0, 0, 0, ?, ?)",
            ))
            .bind(job.job_id.to_string())
            .bind(p.role.as_str())
            .bind(p.party_id.to_string())
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        for t in &job.tasks {
            self.insert_schedule_task(&mut tx, &job.job_id, t, now)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn insert_schedule_task(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        job_id: &JobId,
        t: &NewScheduleTask,
        now: i64,
    ) -> Result<()> {
        sqlx::query(self.sql(
            "INSERT INTO t_schedule_task_status (f_job_id, f_task_id, f_task_version, f_task_name,
                f_status, f_auto_retries, f_sync_type, f_order, f_deps, f_not_before, f_create_time,
                f_update_time)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ))
        .bind(job_id.to_string())
        .bind(t.task_id.to_string())
        .bind(t.version as i64)
        .bind(t.task_name.to_string())
        .bind(TaskStatus::Waiting.as_str())
        .bind(t.auto_retries)
        .bind(t.sync_type.as_str())
        .bind(t.order)
        .bind(to_json("deps", &t.deps)?)
        .bind(t.not_before)
        .bind(now)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        for p in &t.parties {
            sqlx::query(self.sql(
                "INSERT INTO t_schedule_task (f_job_id, f_task_id, f_task_version, f_role, f_party_id,
                    f_task_name, f_component, f_status, f_start_acked, f_error_report,
                    f_create_time, f_update_time)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, '', ?, ?)",
            ))
            .bind(job_id.to_string())
            .bind(t.task_id.to_string())
            .bind(t.version as i64)
            .bind(p.role.as_str())
            .bind(p.party_id.to_string())
            .bind(t.task_name.to_string())
            .bind(t.component.clone())
            .bind(TaskStatus::Waiting.as_str())
            .bind(now)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }

    /// Adds a new version of a task (rerun): its federated row and one row per party.
    pub async fn add_schedule_task_version(
        &self,
        job_id: &JobId,
        t: &NewScheduleTask,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.write.begin().await?;
        self.insert_schedule_task(&mut tx, job_id, t, now).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn schedule_job(&self, job_id: &JobId) -> Result<Option<ScheduleJobRow>> {
        let sql = format!("{SCHEDULE_JOB} WHERE f_job_id = ?");
        let sql = self.dynamic(sql);
        let row = sqlx::query(&sql)
            .bind(job_id.to_string())
            .fetch_optional(&self.read)
            .await?;
        row.as_ref().map(ScheduleJobRow::from_row).transpose()
    }

    /// Jobs in `status`, highest priority first, then oldest, without their DAGs (`dag` is
    /// `{}`): the admission pass reads many of them often.
    pub async fn schedule_jobs_in(&self, status: JobStatus) -> Result<Vec<ScheduleJobRow>> {
        let sql = self.dynamic(format!(
            "{} WHERE f_status = ? ORDER BY f_priority DESC, f_create_time ASC, f_job_id ASC",
            SCHEDULE_JOB.replace("f_dag,", "'{}' AS f_dag,")
        ));
        let rows = sqlx::query(&sql)
            .bind(status.as_str())
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(ScheduleJobRow::from_row).collect()
    }

    /// Jobs a step still has work for: running ones, ones being created, waiting ones a party
    /// has not acknowledged, ended ones not yet acknowledged and stopped everywhere. (Waiting
    /// jobs are otherwise the admission pass's.)
    pub async fn unsettled_schedule_jobs(&self) -> Result<Vec<JobId>> {
        let rows = sqlx::query(self.sql(
            "SELECT j.f_job_id FROM t_schedule_job j
             WHERE j.f_status IN (?, ?)
                OR (j.f_status = ? AND EXISTS (
                        SELECT 1 FROM t_schedule_party p WHERE p.f_job_id = j.f_job_id
                        AND (p.f_pushed_status IS NULL OR p.f_unreachable_since IS NOT NULL)))
                OR (j.f_status NOT IN (?, ?, ?) AND EXISTS (
                        SELECT 1 FROM t_schedule_party p WHERE p.f_job_id = j.f_job_id
                        AND (p.f_stopped = 0 OR p.f_pushed_status IS NULL
                             OR p.f_pushed_status <> j.f_status)))
             ORDER BY j.f_create_time",
        ))
        .bind(JobStatus::Ready.as_str())
        .bind(JobStatus::Running.as_str())
        .bind(JobStatus::Waiting.as_str())
        .bind(JobStatus::Ready.as_str())
        .bind(JobStatus::Waiting.as_str())
        .bind(JobStatus::Running.as_str())
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| Ok(JobId::new(get_str(r, "f_job_id")?)))
            .collect()
    }

    /// Running jobs with a task whose status the scheduler must collect (poll mode).
    pub async fn polling_schedule_jobs(&self) -> Result<Vec<JobId>> {
        let rows = sqlx::query(self.sql(
            "SELECT DISTINCT j.f_job_id FROM t_schedule_job j JOIN t_schedule_task_status s
               ON s.f_job_id = j.f_job_id
             WHERE j.f_status = ? AND s.f_sync_type = ? AND s.f_status = ?",
        ))
        .bind(JobStatus::Running.as_str())
        .bind(SyncType::Poll.as_str())
        .bind(TaskStatus::Running.as_str())
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| Ok(JobId::new(get_str(r, "f_job_id")?)))
            .collect()
    }

    /// Moves the federated job status if the table allows it; `running` stamps the start,
    /// an end status the end.
    pub async fn set_schedule_job_status(
        &self,
        job_id: &JobId,
        to: JobStatus,
        now: i64,
    ) -> Result<Cas<JobStatus>> {
        let mut tx = self.write.begin().await?;
        let row = sqlx::query(
            self.sql("SELECT f_status, f_create_time FROM t_schedule_job WHERE f_job_id = ?"),
        )
        .bind(job_id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(Cas::Rejected { current: None });
        };
        let current: JobStatus = get_parsed(&row, "f_status")?;
        let created = get_i64(&row, "f_create_time")?;
        if !current.can_become(to) {
            return Ok(Cas::Rejected {
                current: Some(current),
            });
        }
        sqlx::query(self.sql(concat!(
            "UPDATE t_schedule_job SET f_status = ?, f_update_time = ?, ",
            stamp_times!(),
            ",
                f_wait_reason = CASE WHEN ? = 1 THEN NULL ELSE f_wait_reason END
             WHERE f_job_id = ? AND f_status = ?"
        )))
        .bind(to.as_str())
        .bind(now)
        .bind_times(to, now)
        .bind((to == JobStatus::Running) as i64)
        .bind(job_id.to_string())
        .bind(current.as_str())
        .execute(&mut *tx)
        .await?;
        self.record_event_in(
            &mut tx,
            View::Federated,
            Subject::Job(job_id),
            current.as_str(),
            to.as_str(),
            None,
            now,
        )
        .await?;
        tx.commit().await?;
        if current == JobStatus::Waiting && to == JobStatus::Running {
            self.timings
                .queue_wait
                .observe(std::time::Duration::from_millis(
                    (now - created).max(0) as u64
                ));
        }
        Ok(Cas::Applied)
    }

    pub async fn set_cancel_signal(&self, job_id: &JobId, now: i64) -> Result<bool> {
        let n = sqlx::query(self.sql(
            "UPDATE t_schedule_job SET f_cancel_signal = 1, f_cancel_time = ?, f_update_time = ?
             WHERE f_job_id = ?",
        ))
        .bind(now)
        .bind(now)
        .bind(job_id.to_string())
        .execute(&self.write)
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    pub async fn clear_cancel_signal(&self, job_id: &JobId, now: i64) -> Result<()> {
        sqlx::query(self.sql(
            "UPDATE t_schedule_job SET f_cancel_signal = 0, f_update_time = ? WHERE f_job_id = ?",
        ))
        .bind(now)
        .bind(job_id.to_string())
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// An ended job goes back to `waiting` for a rerun: its parties must acknowledge again,
    /// get their cores again and be started again.
    pub async fn reopen_schedule_job(&self, job_id: &JobId, now: i64) -> Result<Cas<JobStatus>> {
        let mut tx = self.write.begin().await?;
        let row = sqlx::query(self.sql("SELECT f_status FROM t_schedule_job WHERE f_job_id = ?"))
            .bind(job_id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Ok(Cas::Rejected { current: None });
        };
        let current: JobStatus = get_parsed(&row, "f_status")?;
        if !current.can_become(JobStatus::Waiting) {
            return Ok(Cas::Rejected {
                current: Some(current),
            });
        }
        sqlx::query(self.sql(
            "UPDATE t_schedule_job SET f_status = ?, f_end_time = NULL, f_elapsed = NULL,
                f_update_time = ? WHERE f_job_id = ? AND f_status = ?",
        ))
        .bind(JobStatus::Waiting.as_str())
        .bind(now)
        .bind(job_id.to_string())
        .bind(current.as_str())
        .execute(&mut *tx)
        .await?;
        sqlx::query(self.sql(
            "UPDATE t_schedule_party SET f_resource_applied = 0, f_started = 0, f_stopped = 0,
                f_update_time = ? WHERE f_job_id = ?",
        ))
        .bind(now)
        .bind(job_id.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Cas::Applied)
    }

    pub async fn set_schedule_job_progress(
        &self,
        job_id: &JobId,
        progress: i64,
        now: i64,
    ) -> Result<()> {
        sqlx::query(self.sql(
            "UPDATE t_schedule_job SET f_progress = ?, f_update_time = ? WHERE f_job_id = ? AND f_progress < ?",
        ))
        .bind(progress)
        .bind(now)
        .bind(job_id.to_string())
        .bind(progress)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Records why the job waits; `None` clears it. Unchanged reasons are not rewritten.
    pub async fn set_job_wait_reason(
        &self,
        job_id: &JobId,
        reason: Option<&str>,
        now: i64,
    ) -> Result<bool> {
        let n = sqlx::query(self.sql(
            "UPDATE t_schedule_job SET f_wait_reason = ?, f_update_time = ?
             WHERE f_job_id = ? AND COALESCE(f_wait_reason, '') <> COALESCE(?, '')",
        ))
        .bind(reason.map(str::to_string))
        .bind(now)
        .bind(job_id.to_string())
        .bind(reason.map(str::to_string))
        .execute(&self.write)
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    pub async fn schedule_parties(&self, job_id: &JobId) -> Result<Vec<SchedulePartyRow>> {
        let rows = sqlx::query(self.sql(
            "SELECT f_role, f_party_id, f_pushed_status, f_pushed_progress, f_resource_applied,
                    f_started, f_stopped, f_last_error, f_unreachable_since
             FROM t_schedule_party WHERE f_job_id = ? ORDER BY f_create_time, f_role, f_party_id",
        ))
        .bind(job_id.to_string())
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SchedulePartyRow {
                    party: party_of(r)?,
                    pushed_status: get_opt_parsed(r, "f_pushed_status")?,
                    pushed_progress: get_i64(r, "f_pushed_progress")?,
                    resource_applied: get_bool(r, "f_resource_applied")?,
                    started: get_bool(r, "f_started")?,
                    stopped: get_bool(r, "f_stopped")?,
                    last_error: get_opt_str(r, "f_last_error")?,
                    unreachable_since: get_opt_i64(r, "f_unreachable_since")?,
                })
            })
            .collect()
    }

    /// Updates what a participant acknowledged. Each argument left `None` is kept.
    pub async fn update_schedule_party(
        &self,
        job_id: &JobId,
        party: &Party,
        u: &PartyUpdate,
        now: i64,
    ) -> Result<()> {
        sqlx::query(self.sql(
            "UPDATE t_schedule_party SET
                f_pushed_status = COALESCE(?, f_pushed_status),
                f_pushed_progress = COALESCE(?, f_pushed_progress),
                f_resource_applied = COALESCE(?, f_resource_applied),
                f_started = COALESCE(?, f_started),
                f_stopped = COALESCE(?, f_stopped),
                f_last_error = CASE WHEN ? = 1 THEN ? ELSE f_last_error END,
                f_unreachable_since = CASE WHEN ? = 0 THEN f_unreachable_since
                                           WHEN ? = 1 THEN COALESCE(f_unreachable_since, ?)
                                           ELSE NULL END,
                f_update_time = ?
             WHERE f_job_id = ? AND f_role = ? AND f_party_id = ?",
        ))
        .bind(u.pushed_status.map(|s| s.as_str().to_string()))
        .bind(u.pushed_progress)
        .bind(u.resource_applied.map(i64::from))
        .bind(u.started.map(i64::from))
        .bind(u.stopped.map(i64::from))
        .bind(u.last_error.is_some() as i64)
        .bind(u.last_error.clone().flatten())
        .bind(u.last_error.is_some() as i64)
        .bind(matches!(u.last_error, Some(Some(_))) as i64)
        .bind(now)
        .bind(now)
        .bind(job_id.to_string())
        .bind(party.role.as_str())
        .bind(party.party_id.to_string())
        .execute(&self.write)
        .await?;
        Ok(())
    }
}

/// Fields of [`SchedulePartyRow`] to change; `None` keeps the stored value.
#[derive(Debug, Clone, Default)]
pub struct PartyUpdate {
    pub pushed_status: Option<JobStatus>,
    pub pushed_progress: Option<i64>,
    pub resource_applied: Option<bool>,
    pub started: Option<bool>,
    pub stopped: Option<bool>,
    /// `Some(None)` clears the error.
    pub last_error: Option<Option<String>>,
}

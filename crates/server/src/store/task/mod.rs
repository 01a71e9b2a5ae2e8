//! `t_task`: one row per (task, version, role, party) a participant runs: its CONFIG, its
//! process, its party status (local execution) and federated status (pushed by the
//! scheduler).

use ferroflow_core::id::ExecutionId;
use serde_json::Value;
use sqlx::any::AnyRow;

use ferroflow_core::dag::SyncType;
use ferroflow_core::id::{JobId, JobKey, PartyId, Role, TaskId, TaskKey, TaskName, TaskVersion};
use ferroflow_core::status::TaskStatus;

use super::Bind;
use super::event::{Subject, View};
use super::filter::{Filter, page};
use super::stamp_times;
use super::{
    Cas, Result, Store, get_bool, get_i64, get_json, get_opt_i64, get_opt_parsed, get_opt_str,
    get_parsed, get_str, to_json,
};

#[derive(Debug, Clone, PartialEq)]
pub struct TaskRow {
    pub job_id: JobId,
    pub task_id: TaskId,
    pub task_version: TaskVersion,
    pub role: Role,
    pub party_id: PartyId,
    pub protocol: String,
    pub task_name: TaskName,
    pub component: String,
    pub execution_id: ExecutionId,
    pub scheduler_party_id: PartyId,
    /// Federated status, as pushed by the scheduler.
    pub status: TaskStatus,
    pub status_code: Option<i64>,
    /// The CONFIG document.
    pub component_parameters: Value,
    pub task_run: Value,
    pub memory: i64,
    pub task_cores: i64,
    pub resource_in_use: bool,
    pub worker_id: Option<String>,
    pub cmd: Value,
    pub run_ip: Option<String>,
    pub run_port: Option<i64>,
    pub run_pid: Option<i64>,
    pub run_start: Option<i64>,
    /// This party's own execution status.
    pub party_status: TaskStatus,
    pub provider_name: String,
    pub task_parameters: Value,
    pub engine_conf: Value,
    pub kill_status: bool,
    pub error_report: String,
    pub sync_type: SyncType,
    pub timeout: Option<i64>,
    pub launcher_name: Option<String>,
    pub reported_status: Option<TaskStatus>,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub elapsed: Option<i64>,
    pub create_time: i64,
    pub update_time: i64,
}

impl TaskRow {
    pub fn key(&self) -> TaskKey {
        TaskKey {
            job_id: self.job_id.clone(),
            task_id: self.task_id.clone(),
            task_version: self.task_version,
            role: self.role,
            party_id: self.party_id.clone(),
        }
    }

    pub fn job_key(&self) -> JobKey {
        JobKey {
            job_id: self.job_id.clone(),
            role: self.role,
            party_id: self.party_id.clone(),
        }
    }

    fn from_row(r: &AnyRow) -> Result<Self> {
        Ok(Self {
            job_id: JobId::new(get_str(r, "f_job_id")?),
            task_id: TaskId::new(get_str(r, "f_task_id")?),
            task_version: get_i64(r, "f_task_version")? as TaskVersion,
            role: get_parsed(r, "f_role")?,
            party_id: PartyId::new(get_str(r, "f_party_id")?),
            protocol: get_str(r, "f_protocol")?,
            task_name: TaskName::new(get_str(r, "f_task_name")?),
            component: get_str(r, "f_component")?,
            execution_id: get_str(r, "f_execution_id")?.into(),
            scheduler_party_id: PartyId::new(get_str(r, "f_scheduler_party_id")?),
            status: get_parsed(r, "f_status")?,
            status_code: get_opt_i64(r, "f_status_code")?,
            component_parameters: get_json(r, "f_component_parameters")?,
            task_run: get_json(r, "f_task_run")?,
            memory: get_i64(r, "f_memory")?,
            task_cores: get_i64(r, "f_task_cores")?,
            resource_in_use: get_bool(r, "f_resource_in_use")?,
            worker_id: get_opt_str(r, "f_worker_id")?,
            cmd: get_json(r, "f_cmd")?,
            run_ip: get_opt_str(r, "f_run_ip")?,
            run_port: get_opt_i64(r, "f_run_port")?,
            run_pid: get_opt_i64(r, "f_run_pid")?,
            run_start: get_opt_i64(r, "f_run_start")?,
            party_status: get_parsed(r, "f_party_status")?,
            provider_name: get_str(r, "f_provider_name")?,
            task_parameters: get_json(r, "f_task_parameters")?,
            engine_conf: get_json(r, "f_engine_conf")?,
            kill_status: get_bool(r, "f_kill_status")?,
            error_report: get_str(r, "f_error_report")?,
            sync_type: get_parsed(r, "f_sync_type")?,
            timeout: get_opt_i64(r, "f_timeout")?,
            launcher_name: get_opt_str(r, "f_launcher_name")?,
            reported_status: get_opt_parsed(r, "f_reported_status")?,
            start_time: get_opt_i64(r, "f_start_time")?,
            end_time: get_opt_i64(r, "f_end_time")?,
            elapsed: get_opt_i64(r, "f_elapsed")?,
            create_time: get_i64(r, "f_create_time")?,
            update_time: get_i64(r, "f_update_time")?,
        })
    }
}

/// A task row as a participant creates it (version 0 at job create, later versions on rerun).
#[derive(Debug, Clone)]
pub struct NewTask {
    pub key: TaskKey,
    pub task_name: TaskName,
    pub component: String,
    pub scheduler_party_id: PartyId,
    pub component_parameters: Value,
    pub task_run: Value,
    pub task_cores: i64,
    pub provider_name: String,
    pub sync_type: SyncType,
    pub timeout: Option<i64>,
    pub launcher_name: Option<String>,
}

/// Filters of `/v2/job/task/query` (exact; latest version per party task).
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub job_id: Option<String>,
    pub role: Option<String>,
    pub party_id: Option<String>,
    pub status: Option<String>,
    pub task_name: Option<String>,
    pub task_id: Option<String>,
    pub task_version: Option<i64>,
}

macro_rules! task_select {
    ($tail:literal) => {
        concat!(
            "SELECT f_job_id, f_task_id, f_task_version, f_role, f_party_id, f_protocol, \
             f_task_name, f_component, f_execution_id, f_scheduler_party_id, f_status, \
             f_status_code, f_component_parameters, f_task_run, f_memory, f_task_cores, \
             f_resource_in_use, f_worker_id, f_cmd, f_run_ip, f_run_port, f_run_pid, f_run_start, \
             f_party_status, f_provider_name, f_task_parameters, f_engine_conf, f_kill_status, \
             f_error_report, f_sync_type, f_timeout, f_launcher_name, f_reported_status, \
             f_start_time, f_end_time, f_elapsed, f_create_time, f_update_time FROM t_task t ",
            $tail
        )
    };
}

/// Keeps only the highest version of each (task, role, party).
const LATEST: &str = "t.f_task_version = (SELECT MAX(v.f_task_version) FROM t_task v \
     WHERE v.f_job_id = t.f_job_id AND v.f_task_id = t.f_task_id AND v.f_role = t.f_role \
     AND v.f_party_id = t.f_party_id)";

impl Store {
    pub(super) async fn insert_task(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        t: &NewTask,
        now: i64,
    ) -> Result<()> {
        sqlx::query(self.sql(
            "INSERT INTO t_task (f_job_id, f_task_id, f_task_version, f_role, f_party_id, f_protocol,
                f_task_name, f_component, f_execution_id, f_scheduler_party_id, f_status,
                f_component_parameters, f_task_run, f_memory, f_task_cores, f_resource_in_use,
                f_cmd, f_party_status, f_provider_name, f_task_parameters, f_engine_conf,
                f_kill_status, f_error_report, f_sync_type, f_timeout, f_launcher_name,
                f_create_time, f_update_time)
             VALUES (?, ?, ?, ?, ?, 'fate', ?, ?, ?, ?, ?, ?, ?, 0, ?, 0, '[]', ?, ?,
                '{}', '{}', 0, '', ?, ?, ?, ?, ?)",
        ))
        .bind_key(&t.key)
        .bind(t.task_name.to_string())
        .bind(t.component.clone())
        .bind(t.key.execution_id().into_string())
        .bind(t.scheduler_party_id.to_string())
        .bind(TaskStatus::Waiting.as_str())
        .bind(to_json("component_parameters", &t.component_parameters)?)
        .bind(to_json("task_run", &t.task_run)?)
        .bind(t.task_cores)
        .bind(TaskStatus::Waiting.as_str())
        .bind(t.provider_name.clone())
        .bind(t.sync_type.as_str())
        .bind(t.timeout)
        .bind(t.launcher_name.clone())
        .bind(now)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Adds a task version (rerun). Returns false if that version exists already.
    pub async fn add_task_version(&self, t: &NewTask, now: i64) -> Result<bool> {
        let mut tx = self.write.begin().await?;
        if self.task_in(&mut tx, &t.key).await?.is_some() {
            return Ok(false);
        }
        self.insert_task(&mut tx, t, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn task(&self, key: &TaskKey) -> Result<Option<TaskRow>> {
        let row = sqlx::query(self.sql(task_select!(
            "WHERE f_job_id = ? AND f_task_id = ? AND f_task_version = ? AND f_role = ? AND f_party_id = ?"
        )))
        .bind_key(key)
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(TaskRow::from_row).transpose()
    }

    async fn task_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        key: &TaskKey,
    ) -> Result<Option<TaskRow>> {
        let row = sqlx::query(self.sql(task_select!(
            "WHERE f_job_id = ? AND f_task_id = ? AND f_task_version = ? AND f_role = ? AND f_party_id = ?"
        )))
        .bind_key(key)
        .fetch_optional(&mut **tx)
        .await?;
        row.as_ref().map(TaskRow::from_row).transpose()
    }

    pub async fn task_by_execution_id(
        &self,
        execution_id: &ExecutionId,
    ) -> Result<Option<TaskRow>> {
        let row = sqlx::query(self.sql(task_select!("WHERE f_execution_id = ?")))
            .bind(execution_id.to_string())
            .fetch_optional(&self.read)
            .await?;
        row.as_ref().map(TaskRow::from_row).transpose()
    }

    /// The latest version of each task a party runs in a job, in creation order.
    pub async fn latest_tasks_of(&self, key: &JobKey) -> Result<Vec<TaskRow>> {
        let sql = format!(
            "{} AND {LATEST} ORDER BY t.f_create_time, t.f_task_name",
            task_select!("WHERE t.f_job_id = ? AND t.f_role = ? AND t.f_party_id = ?")
        );
        let sql = self.dynamic(sql);
        let rows = sqlx::query(&sql)
            .bind_key(key)
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(TaskRow::from_row).collect()
    }

    /// Every version of every task of a job on this site.
    pub async fn all_tasks_of_job(&self, job_id: &JobId) -> Result<Vec<TaskRow>> {
        let rows = sqlx::query(self.sql(task_select!(
            "WHERE f_job_id = ? ORDER BY f_create_time, f_task_name, f_task_version"
        )))
        .bind(job_id.to_string())
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(TaskRow::from_row).collect()
    }

    /// `/v2/job/task/query`: the latest version of each (task, role, party) matching every
    /// filter (a `task_version` filter selects that version instead).
    pub async fn query_tasks(&self, f: &TaskFilter) -> Result<Vec<TaskRow>> {
        let filter = Filter::new().equal([
            ("t.f_job_id", f.job_id.as_deref()),
            ("t.f_role", f.role.as_deref()),
            ("t.f_party_id", f.party_id.as_deref()),
            ("t.f_status", f.status.as_deref()),
            ("t.f_task_name", f.task_name.as_deref()),
            ("t.f_task_id", f.task_id.as_deref()),
        ]);
        let filter = match f.task_version {
            Some(v) => filter.compare("t.f_task_version", "=", Some(v)),
            None => filter.fixed(LATEST),
        };
        let rows = self
            .select(
                task_select!(""),
                &filter,
                " ORDER BY t.f_create_time, t.f_task_name, t.f_role, t.f_party_id",
            )
            .await?;
        rows.iter().map(TaskRow::from_row).collect()
    }

    /// `/v2/job/task/list/query`: every version, newest first, with the total count.
    pub async fn list_tasks(
        &self,
        f: &TaskFilter,
        limit: i64,
        offset: i64,
        asc: bool,
    ) -> Result<(i64, Vec<TaskRow>)> {
        let filter = Filter::new().equal([
            ("f_job_id", f.job_id.as_deref()),
            ("f_role", f.role.as_deref()),
            ("f_party_id", f.party_id.as_deref()),
            ("f_task_name", f.task_name.as_deref()),
        ]);
        let count = self.count("t_task", &filter).await?;
        let dir = if asc { "ASC" } else { "DESC" };
        let tail = format!(
            " ORDER BY f_create_time {dir}, f_task_version {dir}{}",
            page(limit, offset)
        );
        let rows = self.select(task_select!(""), &filter, &tail).await?;
        Ok((
            count,
            rows.iter().map(TaskRow::from_row).collect::<Result<_>>()?,
        ))
    }

    /// Moves a party status to `to` if the transition table allows it. Entering `running`
    /// stamps the start; an end status stamps the end and hands the task's cores back to its
    /// job, in the same transaction. A non-empty `error` is kept as the error report.
    pub async fn set_party_status(
        &self,
        key: &TaskKey,
        to: TaskStatus,
        error: Option<&str>,
        now: i64,
    ) -> Result<Cas<TaskStatus>> {
        let mut tx = self.write.begin().await?;
        let Some(task) = self.task_in(&mut tx, key).await? else {
            return Ok(Cas::Rejected { current: None });
        };
        let current = task.party_status;
        if !current.can_become(to) {
            return Ok(Cas::Rejected {
                current: Some(current),
            });
        }
        sqlx::query(self.sql(concat!(
            "UPDATE t_task SET f_party_status = ?, f_update_time = ?, ",
            stamp_times!(),
            ",
                f_error_report = CASE WHEN ? <> '' THEN ? ELSE f_error_report END
             WHERE f_job_id = ? AND f_task_id = ? AND f_task_version = ? AND f_role = ?
                AND f_party_id = ? AND f_party_status = ?"
        )))
        .bind(to.as_str())
        .bind(now)
        .bind_times(to, now)
        .bind(error.unwrap_or("").to_string())
        .bind(error.unwrap_or("").to_string())
        .bind_key(key)
        .bind(current.as_str())
        .execute(&mut *tx)
        .await?;
        if to.is_end() && task.resource_in_use {
            self.return_task_resource_in(&mut tx, &task, now).await?;
        }
        self.record_event_in(
            &mut tx,
            View::Party,
            Subject::PartyTask(key),
            current.as_str(),
            to.as_str(),
            error,
            now,
        )
        .await?;
        tx.commit().await?;
        if to.is_end()
            && let Some(start) = task.start_time
        {
            self.timings
                .task_run
                .observe(std::time::Duration::from_millis((now - start).max(0) as u64));
        }
        Ok(Cas::Applied)
    }

    /// Moves the federated status (pushed by the scheduler) if the table allows it.
    pub async fn set_task_status(
        &self,
        key: &TaskKey,
        to: TaskStatus,
        now: i64,
    ) -> Result<Cas<TaskStatus>> {
        let mut tx = self.write.begin().await?;
        let Some(task) = self.task_in(&mut tx, key).await? else {
            return Ok(Cas::Rejected { current: None });
        };
        if !task.status.can_become(to) {
            return Ok(Cas::Rejected {
                current: Some(task.status),
            });
        }
        sqlx::query(self.sql(
            "UPDATE t_task SET f_status = ?, f_update_time = ?
             WHERE f_job_id = ? AND f_task_id = ? AND f_task_version = ? AND f_role = ?
                AND f_party_id = ? AND f_status = ?",
        ))
        .bind(to.as_str())
        .bind(now)
        .bind_key(key)
        .bind(task.status.as_str())
        .execute(&mut *tx)
        .await?;
        self.record_event_in(
            &mut tx,
            View::Federated,
            Subject::PartyTask(key),
            task.status.as_str(),
            to.as_str(),
            None,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(Cas::Applied)
    }

    /// Records that the scheduler acknowledged `status` for this task.
    pub async fn set_reported_status(
        &self,
        key: &TaskKey,
        status: TaskStatus,
        now: i64,
    ) -> Result<()> {
        sqlx::query(self.sql(
            "UPDATE t_task SET f_reported_status = ?, f_update_time = ?
             WHERE f_job_id = ? AND f_task_id = ? AND f_task_version = ? AND f_role = ? AND f_party_id = ?",
        ))
        .bind(status.as_str())
        .bind(now)
        .bind_key(key)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Callback-mode tasks whose current party status the scheduler has not acknowledged.
    pub async fn unreported_tasks(&self) -> Result<Vec<TaskRow>> {
        let rows = sqlx::query(self.sql(task_select!(
            "WHERE f_sync_type = ? AND f_party_status <> ?
               AND (f_reported_status IS NULL OR f_reported_status <> f_party_status)
             ORDER BY f_update_time"
        )))
        .bind(SyncType::Callback.as_str())
        .bind(TaskStatus::Waiting.as_str())
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(TaskRow::from_row).collect()
    }

    /// Tasks whose party status is `running` on this site.
    pub async fn running_tasks(&self) -> Result<Vec<TaskRow>> {
        let rows = sqlx::query(self.sql(task_select!("WHERE f_party_status = ?")))
            .bind(TaskStatus::Running.as_str())
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(TaskRow::from_row).collect()
    }

    /// Running tasks whose run `instance_id` launched (or took over), and those whose run
    /// names no instance (recorded before instances were, or never launched).
    pub async fn running_tasks_of(&self, instance_id: &str) -> Result<Vec<TaskRow>> {
        let rows = sqlx::query(self.sql(task_select!(
            "WHERE f_party_status = 'running' AND NOT EXISTS (SELECT 1 FROM t_launch l
                WHERE l.f_execution_id = t.f_execution_id AND l.f_instance_id IS NOT NULL
                AND l.f_instance_id <> ?)"
        )))
        .bind(instance_id.to_string())
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(TaskRow::from_row).collect()
    }
}

// Children after the macro above, which they use.
mod resource;
mod run;

pub use run::{LaunchRow, RunInfo, TokenRun};

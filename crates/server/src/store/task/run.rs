//! A task run's launch record (`t_launch`): decided once, launched, adopted after a restart;
//! and what the launched process is known by.

use super::*;

/// A run this site decided to launch.
#[derive(Debug, Clone, PartialEq)]
pub struct LaunchRow {
    pub execution_id: ExecutionId,
    pub pid: Option<i64>,
    pub start_ticks: Option<i64>,
    pub decided_time: i64,
    pub launched_time: Option<i64>,
    pub adopted_time: Option<i64>,
}

impl LaunchRow {
    fn from_row(r: &AnyRow) -> Result<Self> {
        Ok(Self {
            execution_id: get_str(r, "f_execution_id")?.into(),
            pid: get_opt_i64(r, "f_pid")?,
            start_ticks: get_opt_i64(r, "f_start_ticks")?,
            decided_time: get_i64(r, "f_decided_time")?,
            launched_time: get_opt_i64(r, "f_launched_time")?,
            adopted_time: get_opt_i64(r, "f_adopted_time")?,
        })
    }
}

/// The run a worker token was issued to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRun {
    pub execution_id: ExecutionId,
    pub role: String,
    pub party_id: String,
    /// A newer version of the task exists on this party.
    pub superseded: bool,
}

/// What a launched process is known by.
#[derive(Debug, Clone, PartialEq)]
pub struct RunInfo {
    /// `None` for a container (FATE's docker engine records no pid either).
    pub pid: Option<i64>,
    /// Process start time in clock ticks since boot (`/proc/<pid>/stat` field 22).
    pub start_ticks: Option<i64>,
    pub worker_id: String,
    pub cmd: Vec<String>,
    pub run_ip: String,
    pub run_port: i64,
}

impl Store {
    /// Decides to launch a task run: `waiting → running` and its launch record, in one
    /// transaction. Only one caller ever gets `Applied` for a run, so a run is launched at
    /// most once, however often the start command arrives and whenever the site crashes.
    /// `token_hash` is the SHA-256 of the run's worker token (`run::token`), durable before
    /// the process exists; `runner`, the instance that launches it and its host.
    pub async fn begin_run(
        &self,
        key: &TaskKey,
        token_hash: &str,
        runner: &crate::store::Runner,
        now: i64,
    ) -> Result<Cas<TaskStatus>> {
        let mut tx = self.write.begin().await?;
        let Some(task) = self.task_in(&mut tx, key).await? else {
            return Ok(Cas::Rejected { current: None });
        };
        if task.party_status != TaskStatus::Waiting {
            return Ok(Cas::Rejected {
                current: Some(task.party_status),
            });
        }
        let launched =
            sqlx::query(self.sql("SELECT 1 AS x FROM t_launch WHERE f_execution_id = ?"))
                .bind(task.execution_id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        if launched.is_some() {
            return Ok(Cas::Rejected {
                current: Some(task.party_status),
            });
        }
        sqlx::query(self.sql(
            "UPDATE t_task SET f_party_status = ?, f_update_time = ?,
                f_start_time = COALESCE(f_start_time, ?)
             WHERE f_job_id = ? AND f_task_id = ? AND f_task_version = ? AND f_role = ?
                AND f_party_id = ? AND f_party_status = ?",
        ))
        .bind(TaskStatus::Running.as_str())
        .bind(now)
        .bind(now)
        .bind_key(key)
        .bind(TaskStatus::Waiting.as_str())
        .execute(&mut *tx)
        .await?;
        sqlx::query(self.sql(
            "INSERT INTO t_launch (f_execution_id, f_job_id, f_task_id, f_task_version, f_role,
                f_party_id, f_decided_time, f_token_hash, f_instance_id, f_host)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ))
        .bind(task.execution_id.to_string())
        .bind_key(key)
        .bind(now)
        .bind(token_hash.to_string())
        .bind(runner.instance_id.clone())
        .bind(runner.host.clone())
        .execute(&mut *tx)
        .await?;
        self.record_event_in(
            &mut tx,
            View::Party,
            Subject::PartyTask(key),
            TaskStatus::Waiting.as_str(),
            TaskStatus::Running.as_str(),
            None,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(Cas::Applied)
    }

    /// Launch records of this site's runs, by execution id.
    pub async fn launch(&self, execution_id: &ExecutionId) -> Result<Option<LaunchRow>> {
        let row = sqlx::query(self.sql(
            "SELECT f_execution_id, f_pid, f_start_ticks, f_decided_time, f_launched_time, f_adopted_time
             FROM t_launch WHERE f_execution_id = ?",
        ))
        .bind(execution_id.to_string())
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(LaunchRow::from_row).transpose()
    }

    /// Every launch record of a job (tests and inspection).
    pub async fn launches_of(&self, job_id: &str) -> Result<Vec<LaunchRow>> {
        let rows = sqlx::query(self.sql(
            "SELECT f_execution_id, f_pid, f_start_ticks, f_decided_time, f_launched_time, f_adopted_time
             FROM t_launch WHERE f_job_id = ? ORDER BY f_decided_time",
        ))
        .bind(job_id.to_string())
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(LaunchRow::from_row).collect()
    }

    /// The run whose worker token has this hash: its execution id, and whether a newer
    /// version of the same task exists on this party (then the run is superseded and its
    /// token no longer works).
    pub async fn run_by_token(&self, token_hash: &str) -> Result<Option<TokenRun>> {
        let row = sqlx::query(self.sql(
            "SELECT l.f_execution_id, l.f_role, l.f_party_id,
                (SELECT COUNT(*) FROM t_task t WHERE t.f_job_id = l.f_job_id
                    AND t.f_task_id = l.f_task_id AND t.f_role = l.f_role
                    AND t.f_party_id = l.f_party_id AND t.f_task_version > l.f_task_version)
                    AS newer
             FROM t_launch l WHERE l.f_token_hash = ?",
        ))
        .bind(token_hash.to_string())
        .fetch_optional(&self.read)
        .await?;
        row.map(|r| {
            Ok(TokenRun {
                execution_id: get_str(&r, "f_execution_id")?.into(),
                role: get_str(&r, "f_role")?,
                party_id: get_str(&r, "f_party_id")?,
                superseded: get_i64(&r, "newer")? > 0,
            })
        })
        .transpose()
    }

    pub async fn set_adopted(&self, execution_id: &ExecutionId, now: i64) -> Result<()> {
        sqlx::query(self.sql("UPDATE t_launch SET f_adopted_time = ? WHERE f_execution_id = ?"))
            .bind(now)
            .bind(execution_id.to_string())
            .execute(&self.write)
            .await?;
        Ok(())
    }

    pub async fn record_run(&self, key: &TaskKey, run: &RunInfo, now: i64) -> Result<()> {
        sqlx::query(self.sql(
            "UPDATE t_task SET f_run_pid = ?, f_run_start = ?, f_worker_id = ?, f_cmd = ?,
                f_run_ip = ?, f_run_port = ?, f_update_time = ?
             WHERE f_job_id = ? AND f_task_id = ? AND f_task_version = ? AND f_role = ? AND f_party_id = ?",
        ))
        .bind(run.pid)
        .bind(run.start_ticks)
        .bind(run.worker_id.clone())
        .bind(to_json("cmd", &run.cmd)?)
        .bind(run.run_ip.clone())
        .bind(run.run_port)
        .bind(now)
        .bind_key(key)
        .execute(&self.write)
        .await?;
        sqlx::query(self.sql(
            "UPDATE t_launch SET f_pid = ?, f_start_ticks = ?, f_launched_time = COALESCE(f_launched_time, ?)
             WHERE f_execution_id = ?",
        ))
        .bind(run.pid)
        .bind(run.start_ticks)
        .bind(now)
        .bind(key.execution_id().into_string())
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Records the engine's application of a running task (`engine_conf`); a task that is no
    /// longer running keeps what it had.
    pub async fn set_engine_conf(&self, key: &TaskKey, conf: &Value, now: i64) -> Result<bool> {
        let done = sqlx::query(self.sql(
            "UPDATE t_task SET f_engine_conf = ?, f_update_time = ?
             WHERE f_job_id = ? AND f_task_id = ? AND f_task_version = ? AND f_role = ? AND f_party_id = ?
               AND f_party_status = ?",
        ))
        .bind(to_json("engine_conf", conf)?)
        .bind(now)
        .bind_key(key)
        .bind(TaskStatus::Running.as_str())
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn set_kill_status(&self, key: &TaskKey, now: i64) -> Result<()> {
        sqlx::query(self.sql(
            "UPDATE t_task SET f_kill_status = 1, f_update_time = ?
             WHERE f_job_id = ? AND f_task_id = ? AND f_task_version = ? AND f_role = ? AND f_party_id = ?",
        ))
        .bind(now)
        .bind_key(key)
        .execute(&self.write)
        .await?;
        Ok(())
    }
}

//! `t_job`: one row per (job, role, party) a participant serves, with its resources.

use serde_json::Value;
use sqlx::any::AnyRow;

use ferroflow_core::id::{JobId, JobKey, PartyId, Role};
use ferroflow_core::status::JobStatus;

use super::Bind;
use super::event::{Subject, View};
use super::filter::{Filter, page};
use super::stamp_times;
use super::task::NewTask;
use super::{
    Cas, Result, Store, get_bool, get_i64, get_json, get_opt_i64, get_opt_str, get_parsed, get_str,
    to_json,
};

#[derive(Debug, Clone, PartialEq)]
pub struct JobRow {
    pub job_id: JobId,
    pub role: Role,
    pub party_id: PartyId,
    pub protocol: String,
    pub flow_id: String,
    pub user_name: String,
    pub description: String,
    pub tag: String,
    pub dag: Value,
    pub parties: Value,
    pub initiator_party_id: PartyId,
    pub scheduler_party_id: PartyId,
    pub status: JobStatus,
    pub status_code: Option<i64>,
    pub inheritance: Value,
    pub progress: i64,
    pub model_id: String,
    pub model_version: String,
    pub engine_name: Option<String>,
    pub cores: i64,
    pub memory: i64,
    pub remaining_cores: i64,
    pub remaining_memory: i64,
    pub resource_in_use: bool,
    pub apply_resource_time: Option<i64>,
    pub return_resource_time: Option<i64>,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub elapsed: Option<i64>,
    pub create_time: i64,
    pub update_time: i64,
}

impl JobRow {
    pub fn key(&self) -> JobKey {
        JobKey {
            job_id: self.job_id.clone(),
            role: self.role,
            party_id: self.party_id.clone(),
        }
    }

    fn from_row(r: &AnyRow) -> Result<Self> {
        Ok(Self {
            job_id: JobId::new(get_str(r, "f_job_id")?),
            role: get_parsed(r, "f_role")?,
            party_id: PartyId::new(get_str(r, "f_party_id")?),
            protocol: get_str(r, "f_protocol")?,
            flow_id: get_str(r, "f_flow_id")?,
            user_name: get_str(r, "f_user_name")?,
            description: get_str(r, "f_description")?,
            tag: get_str(r, "f_tag")?,
            dag: get_json(r, "f_dag")?,
            parties: get_json(r, "f_parties")?,
            initiator_party_id: PartyId::new(get_str(r, "f_initiator_party_id")?),
            scheduler_party_id: PartyId::new(get_str(r, "f_scheduler_party_id")?),
            status: get_parsed(r, "f_status")?,
            status_code: get_opt_i64(r, "f_status_code")?,
            inheritance: get_json(r, "f_inheritance")?,
            progress: get_i64(r, "f_progress")?,
            model_id: get_str(r, "f_model_id")?,
            model_version: get_str(r, "f_model_version")?,
            engine_name: get_opt_str(r, "f_engine_name")?,
            cores: get_i64(r, "f_cores")?,
            memory: get_i64(r, "f_memory")?,
            remaining_cores: get_i64(r, "f_remaining_cores")?,
            remaining_memory: get_i64(r, "f_remaining_memory")?,
            resource_in_use: get_bool(r, "f_resource_in_use")?,
            apply_resource_time: get_opt_i64(r, "f_apply_resource_time")?,
            return_resource_time: get_opt_i64(r, "f_return_resource_time")?,
            start_time: get_opt_i64(r, "f_start_time")?,
            end_time: get_opt_i64(r, "f_end_time")?,
            elapsed: get_opt_i64(r, "f_elapsed")?,
            create_time: get_i64(r, "f_create_time")?,
            update_time: get_i64(r, "f_update_time")?,
        })
    }
}

/// A participant's job row as created by `/partner/job/create`.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub key: JobKey,
    pub dag: Value,
    pub parties: Value,
    pub initiator_party_id: PartyId,
    pub scheduler_party_id: PartyId,
    pub model_id: String,
    pub model_version: String,
    pub engine_name: String,
    pub cores: i64,
    pub inheritance: Value,
    pub user_name: String,
}

/// Filters of `/v2/job/query` (all exact).
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    pub job_id: Option<String>,
    pub role: Option<String>,
    pub party_id: Option<String>,
    pub status: Option<String>,
    pub user_name: Option<String>,
}

/// Filters and paging of `/v2/job/list/query`.
#[derive(Debug, Clone, Default)]
pub struct JobListFilter {
    pub job_id_like: Option<String>,
    pub description_like: Option<String>,
    pub party_id_like: Option<String>,
    pub roles: Vec<String>,
    pub statuses: Vec<String>,
    pub user_name: Option<String>,
    /// Column (without `f_`) and direction; validated by the caller.
    pub order_by: Option<(String, bool)>,
    pub limit: i64,
    pub offset: i64,
}

/// Result of asking for a job's cores on this site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Apply {
    Applied,
    /// More cores than the engine has at all: can never run (FATE's 1006).
    LimitExceeded {
        needed: i64,
        total: i64,
    },
    /// Not now: the engine's free cores are taken by other jobs.
    Busy {
        needed: i64,
        remaining: i64,
    },
    NotFound,
}

macro_rules! job_select {
    ($tail:literal) => {
        concat!(
            "SELECT f_job_id, f_role, f_party_id, f_protocol, f_flow_id, f_user_name, \
             f_description, f_tag, f_dag, f_parties, f_initiator_party_id, f_scheduler_party_id, \
             f_status, f_status_code, f_inheritance, f_progress, f_model_id, f_model_version, \
             f_engine_name, f_cores, f_memory, f_remaining_cores, f_remaining_memory, \
             f_resource_in_use, f_apply_resource_time, f_return_resource_time, f_start_time, \
             f_end_time, f_elapsed, f_create_time, f_update_time FROM t_job ",
            $tail
        )
    };
}

impl Store {
    /// Creates a participant's job row and its version-0 task rows in one transaction.
    /// Returns false (and changes nothing) if the job row exists: a repeated create is a no-op.
    pub async fn create_job(&self, job: &NewJob, tasks: &[NewTask], now: i64) -> Result<bool> {
        let mut tx = self.write.begin().await?;
        let exists =
            sqlx::query(self.sql(
                "SELECT 1 AS x FROM t_job WHERE f_job_id = ? AND f_role = ? AND f_party_id = ?",
            ))
            .bind_key(&job.key)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_some() {
            return Ok(false);
        }
        sqlx::query(self.sql(
            "INSERT INTO t_job (f_job_id, f_role, f_party_id, f_protocol, f_flow_id, f_user_name,
                f_description, f_tag, f_dag, f_parties, f_initiator_party_id, f_scheduler_party_id,
                f_status, f_status_code, f_inheritance, f_progress, f_model_id, f_model_version,
                f_engine_name, f_cores, f_memory, f_remaining_cores, f_remaining_memory,
                f_resource_in_use, f_create_time, f_update_time)
             VALUES (?, ?, ?, 'fate', '', ?, '', '', ?, ?, ?, ?, ?, NULL, ?, 0, ?, ?, ?, ?, 0, ?, 0, 0, ?, ?)",
        ))
        .bind_key(&job.key)
        .bind(job.user_name.clone())
        .bind(to_json("dag", &job.dag)?)
        .bind(to_json("parties", &job.parties)?)
        .bind(job.initiator_party_id.to_string())
        .bind(job.scheduler_party_id.to_string())
        .bind(JobStatus::Ready.as_str())
        .bind(to_json("inheritance", &job.inheritance)?)
        .bind(job.model_id.clone())
        .bind(job.model_version.clone())
        .bind(job.engine_name.clone())
        .bind(job.cores)
        .bind(job.cores)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for t in tasks {
            self.insert_task(&mut tx, t, now).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    pub async fn job(&self, key: &JobKey) -> Result<Option<JobRow>> {
        let row = sqlx::query(self.sql(job_select!(
            "WHERE f_job_id = ? AND f_role = ? AND f_party_id = ?"
        )))
        .bind_key(key)
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(JobRow::from_row).transpose()
    }

    /// Every local party's row of a job.
    pub async fn jobs_of(&self, job_id: &JobId) -> Result<Vec<JobRow>> {
        let rows = sqlx::query(self.sql(job_select!("WHERE f_job_id = ? ORDER BY f_create_time")))
            .bind(job_id.to_string())
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(JobRow::from_row).collect()
    }

    /// `/v2/job/query`: rows matching every given filter.
    pub async fn query_jobs(&self, f: &JobFilter) -> Result<Vec<JobRow>> {
        let filter = Filter::new().equal([
            ("f_job_id", f.job_id.as_deref()),
            ("f_role", f.role.as_deref()),
            ("f_party_id", f.party_id.as_deref()),
            ("f_status", f.status.as_deref()),
            ("f_user_name", f.user_name.as_deref()),
        ]);
        let rows = self
            .select(job_select!(""), &filter, " ORDER BY f_create_time")
            .await?;
        rows.iter().map(JobRow::from_row).collect()
    }

    /// `/v2/job/list/query`: the total count before paging, and one page.
    pub async fn list_jobs(&self, f: &JobListFilter) -> Result<(i64, Vec<JobRow>)> {
        let filter = Filter::new()
            .fixed("f_tag <> 'submit_failed'")
            .like("f_job_id", f.job_id_like.as_deref(), true)
            .like("f_description", f.description_like.as_deref(), true)
            .like("f_party_id", f.party_id_like.as_deref(), true)
            .one_of("f_role", &f.roles)
            .one_of("f_status", &f.statuses)
            .equal([("f_user_name", f.user_name.as_deref())]);
        let count = self.count("t_job", &filter).await?;
        let order = match &f.order_by {
            Some((col, asc)) => format!(" ORDER BY f_{col} {}", if *asc { "ASC" } else { "DESC" }),
            None => " ORDER BY f_create_time DESC".into(),
        };
        let tail = format!("{order}{}", page(f.limit, f.offset));
        let rows = self.select(job_select!(""), &filter, &tail).await?;
        Ok((
            count,
            rows.iter().map(JobRow::from_row).collect::<Result<_>>()?,
        ))
    }

    /// Moves a job row to `to` if the transition table allows it from its current status.
    /// Entering `running` stamps the start; an end status stamps the end, tags the row
    /// `job_end` and returns the job's cores to the engine, all in one transaction.
    pub async fn set_job_status(
        &self,
        key: &JobKey,
        to: JobStatus,
        now: i64,
    ) -> Result<Cas<JobStatus>> {
        let mut tx = self.write.begin().await?;
        let Some(current) = self.job_status_in(&mut tx, key).await? else {
            return Ok(Cas::Rejected { current: None });
        };
        if !current.can_become(to) {
            return Ok(Cas::Rejected {
                current: Some(current),
            });
        }
        let changed = sqlx::query(self.sql(concat!(
            "UPDATE t_job SET f_status = ?, f_update_time = ?, ",
            stamp_times!(),
            ",
                f_tag = CASE WHEN ? = 1 THEN 'job_end' ELSE f_tag END
             WHERE f_job_id = ? AND f_role = ? AND f_party_id = ? AND f_status = ?"
        )))
        .bind(to.as_str())
        .bind(now)
        .bind_times(to, now)
        .bind(to.is_end() as i64)
        .bind_key(key)
        .bind(current.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Ok(Cas::Rejected {
                current: Some(current),
            });
        }
        if to.is_end() {
            self.return_job_resource_in(&mut tx, key, now).await?;
        }
        self.record_event_in(
            &mut tx,
            View::Party,
            Subject::PartyJob(key),
            current.as_str(),
            to.as_str(),
            None,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(Cas::Applied)
    }

    async fn job_status_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        key: &JobKey,
    ) -> Result<Option<JobStatus>> {
        let row = sqlx::query(self.sql(
            "SELECT f_status FROM t_job WHERE f_job_id = ? AND f_role = ? AND f_party_id = ?",
        ))
        .bind_key(key)
        .fetch_optional(&mut **tx)
        .await?;
        row.as_ref()
            .map(|r| get_parsed::<JobStatus>(r, "f_status"))
            .transpose()
    }

    /// Progress only grows.
    pub async fn set_job_progress(&self, key: &JobKey, progress: i64, now: i64) -> Result<bool> {
        let n = sqlx::query(self.sql(
            "UPDATE t_job SET f_progress = ?, f_update_time = ?
             WHERE f_job_id = ? AND f_role = ? AND f_party_id = ? AND f_progress < ?",
        ))
        .bind(progress)
        .bind(now)
        .bind_key(key)
        .bind(progress)
        .execute(&self.write)
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    pub async fn set_job_description(&self, key: &JobKey, text: &str, now: i64) -> Result<bool> {
        let n = sqlx::query(self.sql(
            "UPDATE t_job SET f_description = ?, f_update_time = ?
             WHERE f_job_id = ? AND f_role = ? AND f_party_id = ?",
        ))
        .bind(text.to_string())
        .bind(now)
        .bind_key(key)
        .execute(&self.write)
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    /// Takes the job's cores from the local computing engine. Idempotent: a job that holds
    /// its cores already gets `Applied` again (the scheduler may repeat the command).
    pub async fn apply_job_resource(&self, key: &JobKey, engine: &str, now: i64) -> Result<Apply> {
        let mut tx = self.write.begin().await?;
        let Some(job) = sqlx::query(self.sql(
            "SELECT f_cores, f_resource_in_use FROM t_job WHERE f_job_id = ? AND f_role = ? AND f_party_id = ?",
        ))
        .bind_key(key)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(Apply::NotFound);
        };
        if get_bool(&job, "f_resource_in_use")? {
            return Ok(Apply::Applied);
        }
        let cores = get_i64(&job, "f_cores")?;
        if cores > 0 {
            let (total, remaining) = self.engine_cores_in(&mut tx, engine).await?;
            if cores > total {
                return Ok(Apply::LimitExceeded {
                    needed: cores,
                    total,
                });
            }
            if cores > remaining {
                return Ok(Apply::Busy {
                    needed: cores,
                    remaining,
                });
            }
            sqlx::query(self.sql(
                "UPDATE t_engine_registry SET f_remaining_cores = f_remaining_cores - ?, f_update_time = ?
                 WHERE f_engine_name = ? AND f_engine_type = 'computing' AND f_remaining_cores >= ?",
            ))
            .bind(cores)
            .bind(now)
            .bind(engine.to_string())
            .bind(cores)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(self.sql(
            "UPDATE t_job SET f_resource_in_use = 1, f_apply_resource_time = ?, f_update_time = ?,
                f_remaining_cores = f_cores, f_engine_name = ?
             WHERE f_job_id = ? AND f_role = ? AND f_party_id = ?",
        ))
        .bind(now)
        .bind(now)
        .bind(engine.to_string())
        .bind_key(key)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Apply::Applied)
    }

    /// Gives the job's cores back; a no-op if it holds none.
    pub async fn return_job_resource(&self, key: &JobKey, now: i64) -> Result<bool> {
        let mut tx = self.write.begin().await?;
        let returned = self.return_job_resource_in(&mut tx, key, now).await?;
        tx.commit().await?;
        Ok(returned)
    }

    async fn return_job_resource_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        key: &JobKey,
        now: i64,
    ) -> Result<bool> {
        let Some(job) = sqlx::query(self.sql(
            "SELECT f_cores, f_resource_in_use, f_engine_name FROM t_job
             WHERE f_job_id = ? AND f_role = ? AND f_party_id = ?",
        ))
        .bind_key(key)
        .fetch_optional(&mut **tx)
        .await?
        else {
            return Ok(false);
        };
        if !get_bool(&job, "f_resource_in_use")? {
            return Ok(false);
        }
        let cores = get_i64(&job, "f_cores")?;
        let engine = get_opt_str(&job, "f_engine_name")?.unwrap_or_default();
        sqlx::query(self.sql(
            "UPDATE t_job SET f_resource_in_use = 0, f_return_resource_time = ?, f_update_time = ?
             WHERE f_job_id = ? AND f_role = ? AND f_party_id = ?",
        ))
        .bind(now)
        .bind(now)
        .bind_key(key)
        .execute(&mut **tx)
        .await?;
        if cores > 0 {
            sqlx::query(self.sql(
                "UPDATE t_engine_registry
                 SET f_remaining_cores = CASE WHEN f_remaining_cores + ? > f_cores THEN f_cores
                                              ELSE f_remaining_cores + ? END,
                     f_update_time = ?
                 WHERE f_engine_name = ? AND f_engine_type = 'computing'",
            ))
            .bind(cores)
            .bind(cores)
            .bind(now)
            .bind(engine)
            .execute(&mut **tx)
            .await?;
        }
        Ok(true)
    }
}

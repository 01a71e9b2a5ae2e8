//! Read-only queries of the dashboard (`/ui/`): the paged job list and the site's load. The
//! job list reads only the covering index `i_job_ui` (0005_events.sql), so a page costs the
//! same at ten jobs or ten thousand.

use serde::Serialize;
use serde_json::Value;

use super::filter::{Filter, page};
use super::{Result, Store, get_i64, get_opt_i64, get_str};

/// Filters of the job list; every one optional.
#[derive(Debug, Default, Clone)]
pub struct UiJobFilter {
    pub statuses: Vec<String>,
    pub party_id: Option<String>,
    pub role: Option<String>,
    pub tag: Option<String>,
    /// `f_job_id` starts with this (job ids start with their creation time).
    pub job_id_prefix: Option<String>,
    /// Created at or after (ms).
    pub since: Option<i64>,
    /// Created before (ms).
    pub until: Option<i64>,
    pub offset: i64,
    pub limit: i64,
}

/// One party's row of a job, as the list shows it.
#[derive(Debug, Clone, Serialize)]
pub struct UiJobRow {
    pub job_id: String,
    pub role: String,
    pub party_id: String,
    pub status: String,
    pub tag: String,
    pub progress: i64,
    pub parties: Value,
    pub create_time: i64,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub elapsed: Option<i64>,
}

/// What the site is doing: jobs by status (scheduled here), task runs by party status, and
/// the computing engine's cores.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SiteLoad {
    pub scheduled_jobs: Vec<(String, i64)>,
    pub party_jobs: Vec<(String, i64)>,
    pub party_tasks: Vec<(String, i64)>,
    pub cores: i64,
    pub remaining_cores: i64,
}

impl Store {
    /// One page of the job list, newest first, and the count of every row matching.
    pub async fn ui_jobs(&self, f: &UiJobFilter) -> Result<(i64, Vec<UiJobRow>)> {
        let filter = Filter::new()
            .one_of("f_status", &f.statuses)
            .equal([
                ("f_party_id", f.party_id.as_deref()),
                ("f_role", f.role.as_deref()),
                ("f_tag", f.tag.as_deref()),
            ])
            .like("f_job_id", f.job_id_prefix.as_deref(), false)
            .compare("f_create_time", ">=", f.since)
            .compare("f_create_time", "<", f.until);
        let from = self.table_by_index("t_job", "i_job_ui");
        let count = self.count(&from, &filter).await?;
        let head = format!(
            "SELECT f_job_id, f_role, f_party_id, f_status, f_tag, f_progress, f_parties,
                f_create_time, f_start_time, f_end_time, f_elapsed FROM {from}"
        );
        let tail = format!(
            " ORDER BY f_create_time DESC, f_job_id DESC, f_role, f_party_id{}",
            page(f.limit.clamp(1, 500), f.offset)
        );
        let rows = self.select(&head, &filter, &tail).await?;
        let jobs = rows
            .iter()
            .map(|r| {
                Ok(UiJobRow {
                    job_id: get_str(r, "f_job_id")?,
                    role: get_str(r, "f_role")?,
                    party_id: get_str(r, "f_party_id")?,
                    status: get_str(r, "f_status")?,
                    tag: get_str(r, "f_tag")?,
                    progress: get_i64(r, "f_progress")?,
                    parties: serde_json::from_str(&get_str(r, "f_parties")?).unwrap_or(Value::Null),
                    create_time: get_i64(r, "f_create_time")?,
                    start_time: get_opt_i64(r, "f_start_time")?,
                    end_time: get_opt_i64(r, "f_end_time")?,
                    elapsed: get_opt_i64(r, "f_elapsed")?,
                })
            })
            .collect::<Result<_>>()?;
        Ok((count, jobs))
    }

    /// The site's load, for its page and `/metrics`.
    pub async fn site_load(&self) -> Result<SiteLoad> {
        let mut load = SiteLoad::default();
        for (sql, out) in [
            (
                "SELECT f_status AS s, COUNT(*) AS n FROM t_schedule_job GROUP BY f_status ORDER BY f_status",
                &mut load.scheduled_jobs,
            ),
            (
                "SELECT f_status AS s, COUNT(*) AS n FROM t_job GROUP BY f_status ORDER BY f_status",
                &mut load.party_jobs,
            ),
            (
                "SELECT f_party_status AS s, COUNT(*) AS n FROM t_task GROUP BY f_party_status ORDER BY f_party_status",
                &mut load.party_tasks,
            ),
        ] {
            for r in sqlx::query(self.sql(sql)).fetch_all(&self.read).await? {
                out.push((get_str(&r, "s")?, get_i64(&r, "n")?));
            }
        }
        // Summed here: SQL's SUM is a decimal on PostgreSQL and MySQL, and the engines are few.
        for r in sqlx::query(self.sql(
            "SELECT f_cores, f_remaining_cores FROM t_engine_registry
             WHERE f_engine_type = 'computing'",
        ))
        .fetch_all(&self.read)
        .await?
        {
            load.cores += get_i64(&r, "f_cores")?;
            load.remaining_cores += get_i64(&r, "f_remaining_cores")?;
        }
        Ok(load)
    }
}

//! `t_schedule_lease`: which instance of a site schedules a job, when several instances share
//! the site's database. A lease is taken, renewed and released by compare-and-swap on its
//! row; one that is not renewed expires, and another instance may take it over.

use ferroflow_core::id::JobId;

use super::{Result, Store, get_i64, get_str};

impl Store {
    /// Takes or renews the lease of `job_id` for `owner` until `now + ttl_ms`. Granted when
    /// no instance holds it, when `owner` does, or when its holder let it expire before `now`;
    /// of instances asking at once, exactly one is granted.
    pub async fn take_lease(
        &self,
        job_id: &JobId,
        owner: &str,
        now: i64,
        ttl_ms: i64,
    ) -> Result<bool> {
        // Held by `owner` or expired: one UPDATE whose condition is the swap. (MySQL counts
        // the rows matched, so a renewal that changes nothing is still granted.)
        let moved = sqlx::query(self.sql(
            "UPDATE t_schedule_lease SET f_owner = ?, f_expires = ?, f_update_time = ?
             WHERE f_job_id = ? AND (f_owner = ? OR f_expires < ?)",
        ))
        .bind(owner.to_string())
        .bind(now + ttl_ms)
        .bind(now)
        .bind(job_id.to_string())
        .bind(owner.to_string())
        .bind(now)
        .execute(&self.write)
        .await?
        .rows_affected();
        if moved > 0 {
            return Ok(true);
        }
        // No row yet, or held by another: the first insert wins, the others meet the key.
        let inserted = sqlx::query(self.sql(
            "INSERT INTO t_schedule_lease (f_job_id, f_owner, f_expires, f_create_time, f_update_time)
             VALUES (?, ?, ?, ?, ?)",
        ))
        .bind(job_id.to_string())
        .bind(owner.to_string())
        .bind(now + ttl_ms)
        .bind(now)
        .bind(now)
        .execute(&self.write)
        .await;
        match inserted {
            Ok(_) => Ok(true),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Lets the lease go (its job ended, its instance stops). Only its holder can; `false`
    /// when `owner` does not hold it.
    pub async fn release_lease(&self, job_id: &JobId, owner: &str) -> Result<bool> {
        let n = sqlx::query(
            self.sql("DELETE FROM t_schedule_lease WHERE f_job_id = ? AND f_owner = ?"),
        )
        .bind(job_id.to_string())
        .bind(owner.to_string())
        .execute(&self.write)
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    /// Who holds the lease of `job_id`, and until when (ms).
    pub async fn lease(&self, job_id: &JobId) -> Result<Option<(String, i64)>> {
        let row = sqlx::query(
            self.sql("SELECT f_owner, f_expires FROM t_schedule_lease WHERE f_job_id = ?"),
        )
        .bind(job_id.to_string())
        .fetch_optional(&self.read)
        .await?;
        row.map(|r| Ok((get_str(&r, "f_owner")?, get_i64(&r, "f_expires")?)))
            .transpose()
    }
}

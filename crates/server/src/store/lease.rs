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
        self.claim_new_lease(job_id, owner, now, ttl_ms).await
    }

    /// Takes the lease of a job id nobody has used yet, for a job about to be created: only
    /// an insert, so that an id another instance drew at the same moment (or one whose row
    /// is still there for any reason) is refused rather than shared.
    pub async fn claim_new_lease(
        &self,
        job_id: &JobId,
        owner: &str,
        now: i64,
        ttl_ms: i64,
    ) -> Result<bool> {
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

    /// Renews every lease `owner` holds until `now + ttl_ms`, in one statement; how many.
    pub async fn renew_leases(&self, owner: &str, now: i64, ttl_ms: i64) -> Result<u64> {
        Ok(sqlx::query(
            self.sql(
                "UPDATE t_schedule_lease SET f_expires = ?, f_update_time = ? WHERE f_owner = ?",
            ),
        )
        .bind(now + ttl_ms)
        .bind(now)
        .bind(owner.to_string())
        .execute(&self.write)
        .await?
        .rows_affected())
    }

    /// The jobs whose lease `owner` holds.
    pub async fn leases_of(&self, owner: &str) -> Result<Vec<JobId>> {
        let rows = sqlx::query(self.sql("SELECT f_job_id FROM t_schedule_lease WHERE f_owner = ?"))
            .bind(owner.to_string())
            .fetch_all(&self.read)
            .await?;
        rows.iter()
            .map(|r| Ok(JobId::new(get_str(r, "f_job_id")?)))
            .collect()
    }

    /// Marks the lease of `job_id` dirty unless `me` holds it: its holder steps the job on its
    /// next poll. Nothing when no instance holds it (whoever steps it next takes it).
    pub async fn mark_lease_dirty(&self, job_id: &JobId, me: &str) -> Result<()> {
        sqlx::query(
            self.sql("UPDATE t_schedule_lease SET f_dirty = 1 WHERE f_job_id = ? AND f_owner <> ?"),
        )
        .bind(job_id.to_string())
        .bind(me.to_string())
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// The jobs `owner` holds that another instance marked dirty, their marks cleared. A
    /// mark set after its clear stays for the next call; one set between the read and the
    /// clear is covered by the step that follows (a mark is set after the change it signals
    /// is committed).
    pub async fn take_dirty_leases(&self, owner: &str) -> Result<Vec<JobId>> {
        let rows = sqlx::query(
            self.sql("SELECT f_job_id FROM t_schedule_lease WHERE f_owner = ? AND f_dirty = 1"),
        )
        .bind(owner.to_string())
        .fetch_all(&self.read)
        .await?;
        let mut jobs = Vec::with_capacity(rows.len());
        for r in &rows {
            let job_id = get_str(r, "f_job_id")?;
            sqlx::query(
                self.sql(
                    "UPDATE t_schedule_lease SET f_dirty = 0 WHERE f_job_id = ? AND f_owner = ?",
                ),
            )
            .bind(job_id.clone())
            .bind(owner.to_string())
            .execute(&self.write)
            .await?;
            jobs.push(JobId::new(job_id));
        }
        Ok(jobs)
    }

    /// Lets every lease of `owner` go (an instance that stops).
    pub async fn release_leases_of(&self, owner: &str) -> Result<()> {
        sqlx::query(self.sql("DELETE FROM t_schedule_lease WHERE f_owner = ?"))
            .bind(owner.to_string())
            .execute(&self.write)
            .await?;
        Ok(())
    }
}

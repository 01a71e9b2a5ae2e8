//! A task's cores, taken from and given back to its job's budget.

use super::*;

impl Store {
    /// Takes the task's cores from its job's budget. Idempotent; `false` when the job has
    /// not enough cores left right now.
    pub async fn apply_task_resource(&self, key: &TaskKey, now: i64) -> Result<Option<bool>> {
        let mut tx = self.write.begin().await?;
        let Some(task) = self.task_in(&mut tx, key).await? else {
            return Ok(None);
        };
        if task.resource_in_use || task.task_cores == 0 {
            return Ok(Some(true));
        }
        let n = sqlx::query(self.sql(
            "UPDATE t_job SET f_remaining_cores = f_remaining_cores - ?, f_update_time = ?
             WHERE f_job_id = ? AND f_role = ? AND f_party_id = ? AND f_remaining_cores >= ?",
        ))
        .bind(task.task_cores)
        .bind(now)
        .bind_key(&task.job_key())
        .bind(task.task_cores)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Ok(Some(false));
        }
        sqlx::query(self.sql(
            "UPDATE t_task SET f_resource_in_use = 1, f_update_time = ?
             WHERE f_job_id = ? AND f_task_id = ? AND f_task_version = ? AND f_role = ? AND f_party_id = ?",
        ))
        .bind(now)
        .bind_key(key)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(true))
    }

    pub async fn return_task_resource(&self, key: &TaskKey, now: i64) -> Result<bool> {
        let mut tx = self.write.begin().await?;
        let Some(task) = self.task_in(&mut tx, key).await? else {
            return Ok(false);
        };
        if !task.resource_in_use {
            return Ok(false);
        }
        self.return_task_resource_in(&mut tx, &task, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    pub(super) async fn return_task_resource_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        task: &TaskRow,
        now: i64,
    ) -> Result<()> {
        let key = task.key();
        sqlx::query(self.sql(
            "UPDATE t_task SET f_resource_in_use = 0, f_update_time = ?
             WHERE f_job_id = ? AND f_task_id = ? AND f_task_version = ? AND f_role = ? AND f_party_id = ?",
        ))
        .bind(now)
        .bind_key(&key)
        .execute(&mut **tx)
        .await?;
        sqlx::query(self.sql(
            "UPDATE t_job SET f_update_time = ?,
                f_remaining_cores = CASE WHEN f_remaining_cores + ? > f_cores THEN f_cores
                                         ELSE f_remaining_cores + ? END
             WHERE f_job_id = ? AND f_role = ? AND f_party_id = ?",
        ))
        .bind(now)
        .bind(task.task_cores)
        .bind(task.task_cores)
        .bind_key(&task.job_key())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

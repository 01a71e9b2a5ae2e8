//! Each task run on the scheduler: its federated status (`t_schedule_task_status`) and each
//! party's status of it (`t_schedule_task`).

use super::*;

impl Store {
    /// The latest version of every task's federated row, in topological order.
    pub async fn latest_task_statuses(&self, job_id: &JobId) -> Result<Vec<TaskStatusRow>> {
        let sql = self.dynamic(format!(
            "{TASK_STATUS} WHERE s.f_job_id = ? AND s.f_task_version = (SELECT MAX(v.f_task_version)
               FROM t_schedule_task_status v WHERE v.f_job_id = s.f_job_id AND v.f_task_id = s.f_task_id)
             ORDER BY s.f_order"
        ));
        let rows = sqlx::query(&sql)
            .bind(job_id.to_string())
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(TaskStatusRow::from_row).collect()
    }

    /// Every party's row of the given task runs of a job (latest versions when `versions`
    /// is the latest set), in party order.
    pub async fn schedule_tasks_of(&self, job_id: &JobId) -> Result<Vec<ScheduleTaskRow>> {
        let sql = self.dynamic(format!(
            "{SCHEDULE_TASK} WHERE f_job_id = ? ORDER BY f_create_time, f_task_id, f_task_version"
        ));
        let rows = sqlx::query(&sql)
            .bind(job_id.to_string())
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(ScheduleTaskRow::from_row).collect()
    }

    pub async fn set_federated_task_status(
        &self,
        job_id: &JobId,
        task_id: &TaskId,
        version: TaskVersion,
        to: TaskStatus,
        now: i64,
    ) -> Result<Cas<TaskStatus>> {
        let mut tx = self.write.begin().await?;
        let row = sqlx::query(self.sql(
            "SELECT f_status FROM t_schedule_task_status
             WHERE f_job_id = ? AND f_task_id = ? AND f_task_version = ?",
        ))
        .bind(job_id.to_string())
        .bind(task_id.to_string())
        .bind(version as i64)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(Cas::Rejected { current: None });
        };
        let current: TaskStatus = get_parsed(&row, "f_status")?;
        if !current.can_become(to) {
            return Ok(Cas::Rejected {
                current: Some(current),
            });
        }
        sqlx::query(self.sql(
            "UPDATE t_schedule_task_status SET f_status = ?, f_update_time = ?,
                f_wait_reason = CASE WHEN ? = 1 THEN f_wait_reason ELSE NULL END
             WHERE f_job_id = ? AND f_task_id = ? AND f_task_version = ? AND f_status = ?",
        ))
        .bind(to.as_str())
        .bind(now)
        .bind((to == TaskStatus::Waiting) as i64)
        .bind(job_id.to_string())
        .bind(task_id.to_string())
        .bind(version as i64)
        .bind(current.as_str())
        .execute(&mut *tx)
        .await?;
        self.record_event_in(
            &mut tx,
            View::Federated,
            Subject::Task {
                job_id,
                task_id: task_id.as_str(),
                version: version as i64,
            },
            current.as_str(),
            to.as_str(),
            None,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(Cas::Applied)
    }

    pub async fn set_task_wait_reason(
        &self,
        job_id: &JobId,
        task_id: &TaskId,
        version: TaskVersion,
        reason: Option<&str>,
        now: i64,
    ) -> Result<()> {
        sqlx::query(self.sql(
            "UPDATE t_schedule_task_status SET f_wait_reason = ?, f_update_time = ?
             WHERE f_job_id = ? AND f_task_id = ? AND f_task_version = ?
               AND COALESCE(f_wait_reason, '') <> COALESCE(?, '')",
        ))
        .bind(reason.map(str::to_string))
        .bind(now)
        .bind(job_id.to_string())
        .bind(task_id.to_string())
        .bind(version as i64)
        .bind(reason.map(str::to_string))
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// A party's reported status of a task run. A report carries the party's latest status,
    /// so a task that went from `waiting` to an end status between two reports is moved
    /// through `running`; anything the table does not allow is refused.
    pub async fn set_schedule_task_status(
        &self,
        key: &TaskKey,
        to: TaskStatus,
        now: i64,
    ) -> Result<Cas<TaskStatus>> {
        let (job_id, task_id, version, party) =
            (&key.job_id, &key.task_id, key.task_version, key.party());
        let mut tx = self.write.begin().await?;
        let row = sqlx::query(self.sql(
            "SELECT f_status FROM t_schedule_task
             WHERE f_job_id = ? AND f_task_id = ? AND f_task_version = ? AND f_role = ? AND f_party_id = ?",
        ))
        .bind(job_id.to_string())
        .bind(task_id.to_string())
        .bind(version as i64)
        .bind(party.role.as_str())
        .bind(party.party_id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(Cas::Rejected { current: None });
        };
        let mut current: TaskStatus = get_parsed(&row, "f_status")?;
        let from = current;
        let Some(path) = current.path_to(to) else {
            return Ok(Cas::Rejected {
                current: Some(current),
            });
        };
        for step in path {
            sqlx::query(self.sql(concat!(
                "UPDATE t_schedule_task SET f_status = ?, f_update_time = ?, ",
                stamp_times!(),
                " WHERE f_job_id = ? AND f_task_id = ? AND f_task_version = ? AND f_role = ?
                   AND f_party_id = ? AND f_status = ?"
            )))
            .bind(step.as_str())
            .bind(now)
            .bind_times(step, now)
            .bind(job_id.to_string())
            .bind(task_id.to_string())
            .bind(version as i64)
            .bind(party.role.as_str())
            .bind(party.party_id.to_string())
            .bind(current.as_str())
            .execute(&mut *tx)
            .await?;
            current = step;
        }
        if from != to {
            self.record_event_in(
                &mut tx,
                View::Reported,
                Subject::PartyTask(key),
                from.as_str(),
                to.as_str(),
                None,
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(Cas::Applied)
    }

    /// Marks what a party acknowledged of a task run (`None` keeps a field).
    pub async fn update_schedule_task(
        &self,
        key: &TaskKey,
        pushed_status: Option<TaskStatus>,
        start_acked: Option<bool>,
        now: i64,
    ) -> Result<()> {
        let (job_id, task_id, version, party) =
            (&key.job_id, &key.task_id, key.task_version, key.party());
        sqlx::query(self.sql(
            "UPDATE t_schedule_task SET f_pushed_status = COALESCE(?, f_pushed_status),
                f_start_acked = COALESCE(?, f_start_acked), f_update_time = ?
             WHERE f_job_id = ? AND f_task_id = ? AND f_task_version = ? AND f_role = ? AND f_party_id = ?",
        ))
        .bind(pushed_status.map(|s| s.as_str().to_string()))
        .bind(start_acked.map(i64::from))
        .bind(now)
        .bind(job_id.to_string())
        .bind(task_id.to_string())
        .bind(version as i64)
        .bind(party.role.as_str())
        .bind(party.party_id.to_string())
        .execute(&self.write)
        .await?;
        Ok(())
    }
}

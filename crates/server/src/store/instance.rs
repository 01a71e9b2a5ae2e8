//! `t_instance`: the instances of a site that share its database, each keeping its row alive
//! (a heartbeat, ms); and which instance and host a task run belongs to (`t_launch`), so that
//! a surviving instance takes over the runs of one that stopped beating.

use super::{Result, Store, get_i64, get_opt_str, get_str};
use ferroflow_core::id::ExecutionId;

/// An instance as it announces itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceRow {
    pub instance_id: String,
    /// The host its tasks run on.
    pub host: String,
    pub http_port: i64,
    pub grpc_port: i64,
    /// Where it answers.
    pub url: String,
    pub version: String,
    pub start_time: i64,
    pub heartbeat: i64,
}

/// Who launches a run: the instance and the host its process or container runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runner {
    pub instance_id: String,
    pub host: String,
}

impl Store {
    /// Announces `me` (first call) or stamps its heartbeat.
    pub async fn beat(&self, me: &InstanceRow) -> Result<()> {
        let n = sqlx::query(self.sql(
            "UPDATE t_instance SET f_host = ?, f_http_port = ?, f_grpc_port = ?, f_url = ?,
                f_version = ?, f_start_time = ?, f_heartbeat = ? WHERE f_instance_id = ?",
        ))
        .bind(me.host.clone())
        .bind(me.http_port)
        .bind(me.grpc_port)
        .bind(me.url.clone())
        .bind(me.version.clone())
        .bind(me.start_time)
        .bind(me.heartbeat)
        .bind(me.instance_id.clone())
        .execute(&self.write)
        .await?
        .rows_affected();
        if n > 0 {
            return Ok(());
        }
        let inserted = sqlx::query(self.sql(
            "INSERT INTO t_instance (f_instance_id, f_host, f_http_port, f_grpc_port, f_url,
                f_version, f_start_time, f_heartbeat) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        ))
        .bind(me.instance_id.clone())
        .bind(me.host.clone())
        .bind(me.http_port)
        .bind(me.grpc_port)
        .bind(me.url.clone())
        .bind(me.version.clone())
        .bind(me.start_time)
        .bind(me.heartbeat)
        .execute(&self.write)
        .await;
        match inserted {
            // Inserted at the same moment by an earlier beat of the same id: it is there.
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(()),
            other => other.map(|_| ()).map_err(Into::into),
        }
    }

    /// Every instance whose heartbeat is not older than `alive_since` (ms), by id.
    pub async fn instances(&self, alive_since: i64) -> Result<Vec<InstanceRow>> {
        let rows = sqlx::query(self.sql(
            "SELECT f_instance_id, f_host, f_http_port, f_grpc_port, f_url, f_version,
                f_start_time, f_heartbeat FROM t_instance WHERE f_heartbeat >= ?
             ORDER BY f_instance_id",
        ))
        .bind(alive_since)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(InstanceRow {
                    instance_id: get_str(r, "f_instance_id")?,
                    host: get_str(r, "f_host")?,
                    http_port: get_i64(r, "f_http_port")?,
                    grpc_port: get_i64(r, "f_grpc_port")?,
                    url: get_str(r, "f_url")?,
                    version: get_str(r, "f_version")?,
                    start_time: get_i64(r, "f_start_time")?,
                    heartbeat: get_i64(r, "f_heartbeat")?,
                })
            })
            .collect()
    }

    /// Removes the row of an instance that stops (its runs stay recorded under its id).
    pub async fn forget_instance(&self, instance_id: &str) -> Result<()> {
        sqlx::query(self.sql("DELETE FROM t_instance WHERE f_instance_id = ?"))
            .bind(instance_id.to_string())
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Who launched a run: its instance and host (`None` for runs recorded before instances
    /// were, or never launched).
    pub async fn runner(&self, execution_id: &ExecutionId) -> Result<Option<Runner>> {
        let row = sqlx::query(
            self.sql("SELECT f_instance_id, f_host FROM t_launch WHERE f_execution_id = ?"),
        )
        .bind(execution_id.to_string())
        .fetch_optional(&self.read)
        .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(
            match (
                get_opt_str(&r, "f_instance_id")?,
                get_opt_str(&r, "f_host")?,
            ) {
                (Some(instance_id), Some(host)) => Some(Runner { instance_id, host }),
                _ => None,
            },
        )
    }

    /// Execution ids of running tasks whose run belongs to an instance other than `me` that
    /// has not beaten since `alive_since`: runs whose instance died.
    pub async fn orphaned_runs(&self, me: &str, alive_since: i64) -> Result<Vec<ExecutionId>> {
        let rows = sqlx::query(self.sql(
            "SELECT l.f_execution_id FROM t_launch l JOIN t_task t
               ON t.f_execution_id = l.f_execution_id
             WHERE t.f_party_status = 'running' AND l.f_instance_id IS NOT NULL
               AND l.f_instance_id <> ?
               AND NOT EXISTS (SELECT 1 FROM t_instance i
                   WHERE i.f_instance_id = l.f_instance_id AND i.f_heartbeat >= ?)",
        ))
        .bind(me.to_string())
        .bind(alive_since)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| get_str(r, "f_execution_id").map(ExecutionId::from))
            .collect()
    }

    /// Moves a run from the instance that launched it to `to`, by compare-and-swap on its
    /// instance: of instances taking over at once, one gets it.
    pub async fn claim_run(
        &self,
        execution_id: &ExecutionId,
        from: &str,
        to: &Runner,
    ) -> Result<bool> {
        let n = sqlx::query(self.sql(
            "UPDATE t_launch SET f_instance_id = ? WHERE f_execution_id = ? AND f_instance_id = ?",
        ))
        .bind(to.instance_id.clone())
        .bind(execution_id.to_string())
        .bind(from.to_string())
        .execute(&self.write)
        .await?
        .rows_affected();
        Ok(n > 0)
    }
}

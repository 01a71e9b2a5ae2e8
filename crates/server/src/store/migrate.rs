//! Embedded migrations, applied in order at open; each records itself in
//! `t_ferroflow_migration` so a restart applies only what is new.

use sqlx::Row;

use super::{Backend, Result, Store};

const SQLITE: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../../migrations/sqlite/0001_init.sql"),
    ),
    (
        2,
        "lifecycle",
        include_str!("../../migrations/sqlite/0002_lifecycle.sql"),
    ),
    (
        3,
        "api1",
        include_str!("../../migrations/sqlite/0003_api1.sql"),
    ),
    (
        4,
        "job_list_index",
        include_str!("../../migrations/sqlite/0004_job_list_index.sql"),
    ),
    (
        5,
        "events",
        include_str!("../../migrations/sqlite/0005_events.sql"),
    ),
    (
        6,
        "security",
        include_str!("../../migrations/sqlite/0006_security.sql"),
    ),
];

impl Store {
    pub(super) async fn migrate(&self) -> Result<()> {
        let migrations = match self.backend {
            Backend::Sqlite => SQLITE,
        };
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS t_ferroflow_migration (
                f_version BIGINT NOT NULL PRIMARY KEY,
                f_name VARCHAR(64) NOT NULL,
                f_applied_time BIGINT NOT NULL)",
        )
        .execute(&self.write)
        .await?;
        let applied: Vec<i64> = sqlx::query("SELECT f_version FROM t_ferroflow_migration")
            .fetch_all(&self.write)
            .await?
            .iter()
            .map(|r| r.try_get::<i64, _>("f_version"))
            .collect::<Result<_, _>>()?;
        for (version, name, sql) in migrations {
            if applied.contains(version) {
                continue;
            }
            let mut tx = self.write.begin().await?;
            sqlx::raw_sql(sql).execute(&mut *tx).await?;
            sqlx::query(self.sql(
                "INSERT INTO t_ferroflow_migration (f_version, f_name, f_applied_time) VALUES (?, ?, ?)",
            ))
            .bind(*version)
            .bind(name.to_string())
            .bind(chrono::Utc::now().timestamp_millis())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            tracing::info!(version, name, "migration applied");
        }
        Ok(())
    }
}

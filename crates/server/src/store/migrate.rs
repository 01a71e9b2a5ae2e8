//! Embedded migrations, applied in order at open; each records itself in
//! `t_ferroflow_migration` so a restart applies only what is new.

use sqlx::Row;

use super::{Backend, Result, Store};

/// Every migration, once: its number and name. Each is a file
/// `migrations/<backend>/<number, 4 digits>_<name>.sql` for each backend; adding a migration is
/// one line here and one file per backend (a missing file fails the build).
macro_rules! migrations {
    ($($version:literal $file:literal),* $(,)?) => {
        /// (version, name, SQLite text, PostgreSQL text, MySQL text)
        const MIGRATIONS: &[(i64, &str, [&str; 3])] = &[$((
            $version,
            $file,
            [
                include_str!(concat!("../../migrations/sqlite/", $file, ".sql")),
                include_str!(concat!("../../migrations/postgresql/", $file, ".sql")),
                include_str!(concat!("../../migrations/mysql/", $file, ".sql")),
            ],
        )),*];
    };
}

migrations! {
    1 "0001_init",
    2 "0002_lifecycle",
    3 "0003_api1",
    4 "0004_job_list_index",
    5 "0005_events",
    6 "0006_lease",
    7 "0007_security",
    8 "0008_instances",
}

impl Store {
    pub(super) async fn migrate(&self) -> Result<()> {
        let which = match self.backend {
            Backend::Sqlite => 0,
            Backend::Postgres => 1,
            Backend::MySql => 2,
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
        for (version, file, texts) in MIGRATIONS {
            let name = file.split_once('_').map_or(*file, |(_, name)| name);
            let sql = texts[which];
            if applied.contains(version) {
                continue;
            }
            // On MySQL each DDL statement commits by itself: a migration that fails part-way
            // leaves what it did, and is not recorded; a restart reports the same failure.
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

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;

    /// Each backend's directory holds exactly the listed migrations, so none is forgotten.
    #[test]
    fn every_backend_has_every_migration_and_no_other() {
        let listed: Vec<String> = MIGRATIONS
            .iter()
            .map(|(_, f, _)| format!("{f}.sql"))
            .collect();
        for (i, (v, f, _)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(*v, i as i64 + 1, "{f}: versions count up from 1");
            assert!(
                f.starts_with(&format!("{v:04}_")),
                "{f}: named by its version"
            );
        }
        for backend in ["sqlite", "postgresql", "mysql"] {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(backend);
            let mut files: Vec<String> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            files.sort();
            assert_eq!(files, listed, "{backend}");
        }
    }
}

//! The site's database behind one interface. SQL is written once, portably (`?`
//! placeholders, no backend-specific functions), over sqlx's `Any` driver, so MySQL and
//! PostgreSQL backends need only their migrations and driver features.
//!
//! Status columns change only by compare-and-swap (`UPDATE … WHERE key AND status = from`);
//! zero rows changed is a typed rejection carrying the current status, never a silent no-op.
//! Writes go through a dedicated pool (one connection on SQLite, where writers serialise
//! anyway) so that a write transaction never waits on a lock held by another connection.
//!
//! # Layout
//! - `migrate`: embedded, numbered migrations per backend.
//! - `job`, `task`: the participant's rows (`t_job`, `t_task`).
//! - `schedule`: the scheduler's rows (`t_schedule_*`).
//! - `provider`: providers, components, the engine registry.
//! - `output`: data tracking, table metas, metrics, model metas.
//! - `dashboard`: the dashboard's read-only queries (paged job list, site load).
//! - `event`: the per-job event log, written by the compare-and-swap functions.
//! - `admin`: apps, partner credentials, role and resource grants, the server registry.
//! - `audit`: the audit log (authenticated calls and refusals).

mod admin;
mod audit;
mod dashboard;
mod event;
mod job;
mod migrate;
mod output;
mod provider;
mod schedule;
mod task;

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};

pub use admin::{AppRow, PartnerRow, ServerRow, ServiceRow};
pub use audit::{AuditFilter, AuditRow};
pub use dashboard::{SiteLoad, UiJobFilter, UiJobRow};
pub use event::{EventRow, with_cause};
pub use job::{Apply, JobFilter, JobListFilter, JobRow, NewJob};
pub use output::{MetricRow, ModelFilter, ModelMetaRow, TableMetaRow, TrackingRow};
pub use provider::{ComponentRow, ProviderFilter, ProviderRow};
pub use schedule::{
    NewScheduleJob, NewScheduleTask, PartyUpdate, ScheduleJobRow, SchedulePartyRow,
    ScheduleTaskRow, TaskStatusRow,
};
pub use task::{LaunchRow, NewTask, RunInfo, TaskFilter, TaskRow, TokenRun};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database error")]
    Db(#[from] sqlx::Error),
    #[error("stored value {value:?} of {column} is not valid")]
    Corrupt { column: &'static str, value: String },
    #[error("cannot encode {what}")]
    Encode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The outcome of a compare-and-swap on a status column. A caller says what a rejection
/// means: expected (a comment says why) or acted on.
#[must_use = "a rejected transition is either expected (say why) or acted on"]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cas<S> {
    Applied,
    /// The transition was refused (by the table or because the row moved on); `None` when
    /// the row does not exist.
    Rejected {
        current: Option<S>,
    },
}

impl<S: std::fmt::Debug> Cas<S> {
    /// For a transition whose rejection is expected (the caller says why in a comment): a
    /// rejection only leaves a debug line.
    pub fn expected(self, what: &str) {
        if let Cas::Rejected { current } = &self {
            tracing::debug!(what, ?current, "transition not applied");
        }
    }
}

impl<S> Cas<S> {
    pub fn applied(&self) -> bool {
        matches!(self, Cas::Applied)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
}

#[derive(Clone)]
pub struct Store {
    read: AnyPool,
    write: AnyPool,
    backend: Backend,
    /// Durations measured where the changes that end them are committed (`/metrics`).
    pub timings: std::sync::Arc<crate::metrics::StoreTimings>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish()
    }
}

impl Store {
    /// Opens (creating if needed) and migrates the database at `url`.
    pub async fn open(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            return Err(Error::Corrupt {
                column: "database url",
                value: url.to_string(),
            });
        };
        let url = if url.contains('?') {
            url.to_string()
        } else {
            format!("{url}?mode=rwc")
        };
        // WAL lets readers run beside the writer; NORMAL sync in WAL mode survives a crash of
        // this process (what `kill -9` tests), only an OS crash can lose the last commits.
        let pragmas = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                       PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;";
        let write = AnyPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(60))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    conn.execute(pragmas).await?;
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        let store = Store {
            read: write.clone(),
            write,
            backend,
            timings: Default::default(),
        };
        store.migrate().await?;
        let read = AnyPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(60))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    conn.execute("PRAGMA busy_timeout = 10000;").await?;
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        Ok(Store { read, ..store })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The SQL text for this backend. Statements are written once with `?` placeholders.
    fn sql(&self, q: &'static str) -> &'static str {
        match self.backend {
            Backend::Sqlite => q,
        }
    }

    /// The SQL text of a statement assembled at run time (filters, IN lists).
    fn dynamic(&self, sql: String) -> String {
        match self.backend {
            Backend::Sqlite => sql,
        }
    }

    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

/// Rewrites `?` placeholders to `$1, $2, …` (PostgreSQL), once per statement.
#[allow(dead_code)]
fn numbered_placeholders(q: &'static str) -> &'static str {
    static CACHE: OnceLock<Mutex<HashMap<&'static str, &'static str>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut map = cache.lock().unwrap_or_else(|e| e.into_inner());
    map.entry(q).or_insert_with(|| {
        let mut out = String::with_capacity(q.len() + 16);
        let mut n = 0;
        for c in q.chars() {
            if c == '?' {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            } else {
                out.push(c);
            }
        }
        Box::leak(out.into_boxed_str())
    })
}

// Column readers: every row type decodes through these so that a bad value names its column.

fn get_str(row: &AnyRow, col: &'static str) -> Result<String> {
    Ok(row.try_get::<String, _>(col)?)
}

fn get_opt_str(row: &AnyRow, col: &'static str) -> Result<Option<String>> {
    Ok(row.try_get::<Option<String>, _>(col)?)
}

fn get_i64(row: &AnyRow, col: &'static str) -> Result<i64> {
    Ok(row.try_get::<i64, _>(col)?)
}

fn get_opt_i64(row: &AnyRow, col: &'static str) -> Result<Option<i64>> {
    Ok(row.try_get::<Option<i64>, _>(col)?)
}

fn get_bool(row: &AnyRow, col: &'static str) -> Result<bool> {
    Ok(get_i64(row, col)? != 0)
}

fn get_json(row: &AnyRow, col: &'static str) -> Result<serde_json::Value> {
    let text = get_opt_str(row, col)?.unwrap_or_default();
    if text.is_empty() {
        return Ok(serde_json::Value::Object(Default::default()));
    }
    serde_json::from_str(&text).map_err(|_| Error::Corrupt {
        column: col,
        value: text,
    })
}

fn get_parsed<T: FromStr>(row: &AnyRow, col: &'static str) -> Result<T> {
    let s = get_str(row, col)?;
    s.parse::<T>().map_err(|_| Error::Corrupt {
        column: col,
        value: s,
    })
}

fn get_opt_parsed<T: FromStr>(row: &AnyRow, col: &'static str) -> Result<Option<T>> {
    match get_opt_str(row, col)? {
        None => Ok(None),
        Some(s) => s.parse::<T>().map(Some).map_err(|_| Error::Corrupt {
            column: col,
            value: s,
        }),
    }
}

fn to_json(what: &'static str, v: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(v).map_err(|source| Error::Encode { what, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered() {
        assert_eq!(
            numbered_placeholders("UPDATE t SET a = ? WHERE b = ? AND c = ?"),
            "UPDATE t SET a = $1 WHERE b = $2 AND c = $3"
        );
    }
}

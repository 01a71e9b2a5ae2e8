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
//! - `lease`: which instance of a site schedules a job (`t_schedule_lease`), and the dirty
//!   marks that tell its holder of changes another instance saw.
//! - `instance`: the instances of a site (`t_instance`) and which instance runs a task run.
//! - `admin`: apps, partner credentials, role and resource grants, the server registry.
//! - `cache`: what authentication reads on every call (apps, roles, partner apps, grants),
//!   kept in memory, emptied by every write of `admin` to them and trusted for at most
//!   `cache::TTL` (changes by another instance on the same database).
//! - `audit`: the audit log (authenticated calls and refusals).
//! - `filter`: the conditions of statements assembled at run time, bound in order.

mod admin;
mod audit;
mod cache;
mod dashboard;
mod event;
mod filter;
mod instance;
mod job;
mod lease;
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
use sqlx::{AnyPool, Connection, Executor, Row};

use ferroflow_core::id::{JobKey, TaskKey};
use ferroflow_core::status::{JobStatus, TaskStatus};

pub use admin::{AppRow, PartnerRow, ServerRow, ServiceRow};
pub use audit::{AuditFilter, AuditRow};
pub use dashboard::{SiteLoad, UiJobFilter, UiJobRow};
pub use event::{EventRow, with_cause};
pub use instance::{InstanceRow, Runner};
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

/// The database server a store runs on. SQL is written once; [`Store::sql`] adapts its
/// placeholders, and each backend has its own migrations with the same tables, keys and
/// constraints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    /// PostgreSQL 15 or later.
    Postgres,
    /// MySQL 8 or MariaDB 10.11 or later.
    MySql,
}

impl Backend {
    /// Its name as `database.engine` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgresql",
            Backend::MySql => "mysql",
        }
    }

    /// The backend of an sqlx URL (`sqlite:`, `postgres:`/`postgresql:`, `mysql:`/`mariadb:`).
    pub fn of_url(url: &str) -> Option<Self> {
        let scheme = url.split(':').next()?;
        match scheme {
            "sqlite" => Some(Backend::Sqlite),
            "postgres" | "postgresql" => Some(Backend::Postgres),
            "mysql" | "mariadb" => Some(Backend::MySql),
            _ => None,
        }
    }
}

/// Connection settings of a database server (FATE's `max_connections`, `stale_timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSettings {
    /// Connections of the read pool; writes have one connection of their own.
    pub max_connections: u32,
    /// A connection idle this long is closed (FATE's `stale_timeout`, seconds).
    pub idle_timeout: Option<Duration>,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 8,
            idle_timeout: None,
        }
    }
}

/// How long a statement waits for a connection to a database server. A lost server is
/// retried for this long, then the call fails with a database error (FATE's 6000) instead of
/// hanging; a busy pool's turn comes in milliseconds.
const SERVER_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct Store {
    read: AnyPool,
    write: AnyPool,
    backend: Backend,
    /// Durations measured where the changes that end them are committed (`/metrics`).
    pub timings: std::sync::Arc<crate::metrics::StoreTimings>,
    /// What authentication reads on every call (`cache`), shared by the store's clones.
    credentials: std::sync::Arc<admin::Credentials>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish()
    }
}

impl Store {
    /// Opens (creating if needed) and migrates the database at `url`, with default pool
    /// settings.
    pub async fn open(url: &str) -> Result<Self> {
        Self::open_with(url, PoolSettings::default()).await
    }

    /// Opens and migrates the database at `url` (`sqlite://…`, `postgres://…`, `mysql://…`).
    /// The URL may hold a password: it is never logged nor put in an error.
    pub async fn open_with(url: &str, pool: PoolSettings) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of_url(url).ok_or(Error::Corrupt {
            column: "database url",
            value: url.split(':').next().unwrap_or_default().to_string(),
        })?;
        match backend {
            Backend::Sqlite => Self::open_sqlite(url, pool).await,
            Backend::Postgres | Backend::MySql => Self::open_server(url, backend, pool).await,
        }
    }

    async fn open_sqlite(url: &str, pool: PoolSettings) -> Result<Self> {
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
            backend: Backend::Sqlite,
            timings: Default::default(),
            credentials: Default::default(),
        };
        store.migrate().await?;
        let read = AnyPoolOptions::new()
            .max_connections(pool.max_connections.max(1))
            .idle_timeout(pool.idle_timeout)
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

    /// PostgreSQL and MySQL/MariaDB. Every session runs at READ COMMITTED (PostgreSQL's
    /// default; MySQL's REPEATABLE READ would let a transaction's reads lag behind the rows
    /// its compare-and-swaps see). Writes keep one connection, as on SQLite, so that the
    /// read-then-write transactions of one site never interleave.
    async fn open_server(url: &str, backend: Backend, pool: PoolSettings) -> Result<Self> {
        let options = |max: u32| {
            AnyPoolOptions::new()
                .max_connections(max)
                .idle_timeout(pool.idle_timeout)
                .acquire_timeout(SERVER_ACQUIRE_TIMEOUT)
                .after_connect(move |conn, _| {
                    Box::pin(async move {
                        if backend == Backend::MySql {
                            conn.execute(
                                "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED; \
                                 SET SESSION sql_mode = \
                                 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,ONLY_FULL_GROUP_BY';",
                            )
                            .await?;
                        }
                        Ok(())
                    })
                })
        };
        // One connection first, so that an unreachable server or a refused login is said at
        // once (a pool would retry until its acquire timeout and say only that).
        sqlx::AnyConnection::connect(url).await?.close().await?;
        let write = options(1).connect(url).await?;
        let read = options(pool.max_connections.max(1)).connect(url).await?;
        let store = Store {
            read,
            write,
            backend,
            timings: Default::default(),
            credentials: Default::default(),
        };
        store.migrate().await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The SQL text for this backend. Statements are written once with `?` placeholders.
    fn sql(&self, q: &'static str) -> &'static str {
        match self.backend {
            Backend::Sqlite | Backend::MySql => q,
            Backend::Postgres => numbered_placeholders(q),
        }
    }

    /// The SQL text of a statement assembled at run time (filters, IN lists).
    fn dynamic(&self, sql: String) -> String {
        match self.backend {
            Backend::Sqlite | Backend::MySql => sql,
            Backend::Postgres => number_placeholders(&sql),
        }
    }

    /// `table` read through `index`: SQLite's planner is told (`INDEXED BY`); the others
    /// choose for themselves.
    fn table_by_index(&self, table: &str, index: &str) -> String {
        match self.backend {
            Backend::Sqlite => format!("{table} INDEXED BY {index}"),
            Backend::Postgres | Backend::MySql => table.to_string(),
        }
    }

    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

/// Rewrites `?` placeholders to `$1, $2, …` (PostgreSQL), once per statement. Statements
/// hold no `?` inside string literals (values are bound, never spliced).
fn numbered_placeholders(q: &'static str) -> &'static str {
    static CACHE: OnceLock<Mutex<HashMap<&'static str, &'static str>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut map = cache.lock().unwrap_or_else(|e| e.into_inner());
    map.entry(q)
        .or_insert_with(|| Box::leak(number_placeholders(q).into_boxed_str()))
}

fn number_placeholders(q: &str) -> String {
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
    out
}

// Writing a statement once: keys and the times of a status change are spelled and bound in
// one place each.

/// A query over sqlx's `Any` driver, before it is run.
type Query<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// The times a status change stamps, after `SET <status> = ?, f_update_time = ?,` — the
/// start on entering `running`, the end and elapsed time on an end status. Bound by
/// [`Bind::bind_times`]. (MySQL assigns left to right; no column here is read after it is
/// set in the same change, so every backend computes the same.)
macro_rules! stamp_times {
    () => {
        "f_start_time = CASE WHEN ? = 1 AND f_start_time IS NULL THEN ? ELSE f_start_time END,
         f_end_time = CASE WHEN ? = 1 THEN ? ELSE f_end_time END,
         f_elapsed = CASE WHEN ? = 1 AND f_start_time IS NOT NULL THEN ? - f_start_time ELSE f_elapsed END"
    };
}
pub(crate) use stamp_times;

/// A row key's values, in the order of its columns (`f_job_id, f_role, f_party_id` for a
/// job, `f_job_id, f_task_id, f_task_version, f_role, f_party_id` for a task).
trait RowKey {
    fn bind_to<'q>(&self, q: Query<'q>) -> Query<'q>;
}

impl RowKey for JobKey {
    fn bind_to<'q>(&self, q: Query<'q>) -> Query<'q> {
        q.bind(self.job_id.to_string())
            .bind(self.role.as_str())
            .bind(self.party_id.to_string())
    }
}

impl RowKey for TaskKey {
    fn bind_to<'q>(&self, q: Query<'q>) -> Query<'q> {
        q.bind(self.job_id.to_string())
            .bind(self.task_id.to_string())
            .bind(self.task_version as i64)
            .bind(self.role.as_str())
            .bind(self.party_id.to_string())
    }
}

/// A status whose change stamps times ([`stamp_times!`]): the start on entering `running`, the
/// end on an end status.
trait Stamp: Copy {
    fn starts(self) -> bool;
    fn ends(self) -> bool;
}

impl Stamp for JobStatus {
    fn starts(self) -> bool {
        self == JobStatus::Running
    }
    fn ends(self) -> bool {
        self.is_end()
    }
}

impl Stamp for TaskStatus {
    fn starts(self) -> bool {
        self == TaskStatus::Running
    }
    fn ends(self) -> bool {
        self.is_end()
    }
}

trait Bind<'q> {
    /// Binds a row key's columns in order.
    fn bind_key(self, key: &impl RowKey) -> Self;
    /// Binds the values of [`stamp_times!`] for a change to status `to` at `now`.
    fn bind_times(self, to: impl Stamp, now: i64) -> Self;
}

impl<'q> Bind<'q> for Query<'q> {
    fn bind_key(self, key: &impl RowKey) -> Self {
        key.bind_to(self)
    }

    fn bind_times(self, to: impl Stamp, now: i64) -> Self {
        let end = to.ends() as i64;
        self.bind(to.starts() as i64)
            .bind(now)
            .bind(end)
            .bind(now)
            .bind(end)
            .bind(now)
    }
}

// Column readers: every row type decodes through these so that a bad value names its column.

fn get_str(row: &AnyRow, col: &'static str) -> Result<String> {
    get_opt_str(row, col)?
        .ok_or_else(|| sqlx::Error::ColumnDecode {
            index: col.to_string(),
            source: "unexpected NULL".into(),
        })
        .map_err(Error::Db)
}

/// Text columns. MySQL reports its `TEXT` types as blobs (sqlx's `Any` then hands out
/// bytes), so bytes are read as UTF-8 text too.
fn get_opt_str(row: &AnyRow, col: &'static str) -> Result<Option<String>> {
    match row.try_get::<Option<String>, _>(col) {
        Ok(v) => Ok(v),
        Err(sqlx::Error::ColumnDecode { .. }) => match row.try_get::<Option<Vec<u8>>, _>(col)? {
            None => Ok(None),
            Some(bytes) => String::from_utf8(bytes)
                .map(Some)
                .map_err(|e| Error::Corrupt {
                    column: col,
                    value: String::from_utf8_lossy(e.as_bytes()).into_owned(),
                }),
        },
        Err(e) => Err(e.into()),
    }
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

/// A LIKE pattern matching `s` literally, with `ESCAPE '!'`: `!` rather than a backslash,
/// which MySQL also reads as an escape inside the SQL text.
fn escape_like(s: &str) -> String {
    s.replace('!', "!!").replace('%', "!%").replace('_', "!_")
}

fn to_json(what: &'static str, v: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(v).map_err(|source| Error::Encode { what, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_by_url() {
        assert_eq!(Backend::of_url("sqlite:///x.db"), Some(Backend::Sqlite));
        assert_eq!(Backend::of_url("postgres://u@h/d"), Some(Backend::Postgres));
        assert_eq!(
            Backend::of_url("postgresql://u@h/d"),
            Some(Backend::Postgres)
        );
        assert_eq!(Backend::of_url("mysql://u@h/d"), Some(Backend::MySql));
        assert_eq!(Backend::of_url("oracle://u@h/d"), None);
    }

    #[test]
    fn placeholders_are_numbered() {
        assert_eq!(
            numbered_placeholders("UPDATE t SET a = ? WHERE b = ? AND c = ?"),
            "UPDATE t SET a = $1 WHERE b = $2 AND c = $3"
        );
    }
}

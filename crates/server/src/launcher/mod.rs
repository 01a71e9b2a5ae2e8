//! Launchers start task processes (or containers) and stop them. A launcher knows nothing of
//! jobs: it gets a command line, an environment and where output goes, and reports back how
//! to find the process again (pid and start time) and, through a channel, when it exits.
//!
//! Exits are observed directly (upstream only polls pids every few seconds, W-exec-1), so a
//! process that dies without reporting is failed at once, with its exit code.

mod process;

use std::path::PathBuf;

use futures::future::BoxFuture;
use tokio::sync::mpsc;

pub use process::ProcessLauncher;

/// What to run.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The task's execution id; exits are reported under it.
    pub execution_id: String,
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    /// stdout and stderr go here (appended).
    pub log_file: PathBuf,
}

/// How to find a launched process again, also after a restart of the site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handle {
    pub pid: i64,
    /// Clock ticks since boot when the process started; tells a reused pid apart.
    pub start_ticks: i64,
}

/// A launched process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    pub execution_id: String,
    pub handle: Handle,
    /// The exit code, or `None` when a signal ended it.
    pub code: Option<i32>,
    pub signal: Option<i32>,
}

impl Exit {
    pub fn describe(&self) -> String {
        match (self.code, self.signal) {
            (Some(c), _) => format!("exit code {c}"),
            (None, Some(s)) => format!("killed by signal {s}"),
            (None, None) => "ended".into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot start {program}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot prepare {path}")]
    Prepare {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot signal process {pid}: {reason}")]
    Kill { pid: i64, reason: String },
    #[error("empty command line")]
    NoCommand,
}

pub trait Launcher: Send + Sync + 'static {
    fn launch(&self, spec: Spec) -> BoxFuture<'_, Result<Handle, Error>>;

    /// Stops the process and everything it started. A process that is already gone (or
    /// whose pid now belongs to another process) is not an error.
    fn kill(&self, handle: &Handle) -> BoxFuture<'_, Result<(), Error>>;

    fn is_alive(&self, handle: &Handle) -> BoxFuture<'_, bool>;

    /// Watches a process found again after a restart of the site: its end is reported on the
    /// exit channel like that of a process launched in this run.
    fn adopt(&self, execution_id: &str, handle: &Handle) -> BoxFuture<'_, ()>;

    /// Finds a run's process by its execution id, for a run whose launch was decided but
    /// whose handle was never recorded (the site died in between).
    fn find(&self, execution_id: &str) -> BoxFuture<'_, Option<Handle>>;
}

/// The receiving end of exits, handed to the site at start.
pub type Exits = mpsc::UnboundedReceiver<Exit>;

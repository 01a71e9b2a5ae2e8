//! Launchers start task processes (or containers) and stop them. A launcher knows nothing of
//! jobs: it gets a command line, an environment and where output goes, and reports back how
//! to find the process again (pid and start time, or the container) and, through a channel,
//! when it exits.
//!
//! Exits are observed directly (upstream only polls pids every few seconds, W-exec-1), so a
//! process that dies without reporting is failed at once, with its exit code.
//!
//! [`Dispatch`] is what the site uses: tasks with a [`ContainerSpec`] go to the container
//! launcher ([`DockerLauncher`]), the others to the local one.

pub mod docker;
mod process;

use ferroflow_core::id::ExecutionId;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::mpsc;

pub use docker::DockerLauncher;
pub use process::ProcessLauncher;

/// What to run.
#[derive(Clone, Default)]
pub struct Spec {
    /// The task's execution id; exits are reported under it.
    pub execution_id: ExecutionId,
    /// The command line; for a container, empty runs the image's own entry point.
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    /// stdout and stderr go here (appended).
    pub log_file: PathBuf,
    /// Run in a container rather than as a local process.
    pub container: Option<ContainerSpec>,
}

/// Environment values never shown (the task's worker token), so a logged spec leaks nothing.
const SECRET_ENV: &[&str] = &["FERROFLOW_WORKER_TOKEN"];

impl std::fmt::Debug for Spec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| {
                let v = if SECRET_ENV.contains(&k.as_str()) {
                    "<redacted>"
                } else {
                    v.as_str()
                };
                (k.as_str(), v)
            })
            .collect();
        f.debug_struct("Spec")
            .field("execution_id", &self.execution_id)
            .field("argv", &self.argv)
            .field("env", &env)
            .field("cwd", &self.cwd)
            .field("log_file", &self.log_file)
            .field("container", &self.container)
            .finish()
    }
}

/// A task container: which image on which daemon, how it is named and labelled, and what it
/// may use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerSpec {
    /// The Docker daemon: the provider's `base_url` (`""`: the local default socket).
    pub daemon: String,
    pub image: String,
    /// A unique, bounded, Docker-safe name (see [`docker::container_name`]).
    pub name: String,
    /// The task's full identity (`ferroflow.job_id`, ...), so a restarted site finds it.
    pub labels: BTreeMap<String, String>,
    /// `host` (FATE's choice) or the name of a Docker network.
    pub network: String,
    /// Host directories mounted read-write at the same path inside the container.
    pub mounts: Vec<PathBuf>,
    /// Host directories mounted read-only at the same path inside the container.
    pub read_only: Vec<PathBuf>,
    /// Directories handed to `user` (recursively) before the start, when the site runs as
    /// root and the container does not: what the task writes in.
    pub owned: Vec<PathBuf>,
    /// Directories every task writes in (the standalone tables), handed to `user` like
    /// `owned` but not what is in them: what other tasks and the site wrote stays theirs.
    pub shared: Vec<PathBuf>,
    /// CPU limit in cores (0: none).
    pub cores: i64,
    /// Memory limit in MiB (0: none).
    pub memory_mb: i64,
    /// Limit of processes and threads (0: none).
    pub pids_limit: i64,
    /// Share the host's pid namespace: processes that share LMDB environments across
    /// containers must have distinct pids (LMDB marks live readers by pid; see
    /// docs/containers.md, "Why the host's pid namespace").
    pub host_pid: bool,
    /// `uid:gid` to run as; `None`: the image's user.
    pub user: Option<String>,
    /// Credentials for the image's registry, when it must be pulled.
    pub pull_auth: Option<RegistryAuth>,
}

/// A registry's user and password (`docker.registries`); the password is never shown.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RegistryAuth {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryAuth")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// How to find a launched process again, also after a restart of the site.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Handle {
    pub pid: i64,
    /// Clock ticks since boot when the process started; tells a reused pid apart.
    pub start_ticks: i64,
    /// Set when the task runs in a container (then `pid` is 0).
    pub container: Option<ContainerRef>,
}

impl Handle {
    pub fn process(pid: i64, start_ticks: i64) -> Self {
        Self {
            pid,
            start_ticks,
            container: None,
        }
    }
}

/// A task container: its daemon and its name (unique per task run, so it is the identity);
/// the id is informative.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerRef {
    pub daemon: String,
    pub name: String,
    pub id: String,
}

/// A launched process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    pub execution_id: ExecutionId,
    pub handle: Handle,
    /// The exit code, or `None` when a signal ended it.
    pub code: Option<i32>,
    pub signal: Option<i32>,
}

impl Exit {
    pub fn describe(&self) -> String {
        match (self.code, self.signal, &self.handle.container) {
            (Some(c), _, _) => format!("exit code {c}"),
            (None, Some(s), _) => format!("killed by signal {s}"),
            (None, None, Some(_)) => "the container is gone".into(),
            (None, None, None) => "ended".into(),
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
    #[error("docker: {0}")]
    Docker(#[from] docker::Error),
}

pub trait Launcher: Send + Sync + 'static {
    fn launch(&self, spec: Spec) -> BoxFuture<'_, Result<Handle, Error>>;

    /// Stops the process and everything it started. A process that is already gone (or
    /// whose pid now belongs to another process) is not an error.
    fn kill(&self, handle: &Handle) -> BoxFuture<'_, Result<(), Error>>;

    fn is_alive(&self, handle: &Handle) -> BoxFuture<'_, bool>;

    /// After a restart of the site: watch again a task an earlier run launched. Its exit is
    /// reported on the channel (at once if it ended, or vanished, while the site was down)
    /// and its output is collected again into `log_file`. `Ok(false)`: this launcher cannot
    /// watch it, the caller polls [`Launcher::is_alive`] instead.
    fn adopt(
        &self,
        execution_id: &ExecutionId,
        handle: &Handle,
        log_file: &std::path::Path,
    ) -> BoxFuture<'_, Result<bool, Error>> {
        let _ = (execution_id, handle, log_file);
        async { Ok(false) }.boxed()
    }

    /// Finds a run's process by its execution id, for a run whose launch was decided but
    /// whose handle was never recorded (the site died in between).
    fn find(&self, execution_id: &ExecutionId) -> BoxFuture<'_, Option<Handle>> {
        let _ = execution_id;
        async { None }.boxed()
    }
}

/// The receiving end of exits, handed to the site at start.
pub type Exits = mpsc::UnboundedReceiver<Exit>;

/// The site's launcher: containers to the container launcher, processes to the local one.
pub struct Dispatch {
    pub local: Arc<dyn Launcher>,
    pub containers: Arc<dyn Launcher>,
}

impl Dispatch {
    fn by_handle(&self, handle: &Handle) -> &dyn Launcher {
        if handle.container.is_some() {
            self.containers.as_ref()
        } else {
            self.local.as_ref()
        }
    }
}

impl Launcher for Dispatch {
    fn launch(&self, spec: Spec) -> BoxFuture<'_, Result<Handle, Error>> {
        if spec.container.is_some() {
            self.containers.launch(spec)
        } else {
            self.local.launch(spec)
        }
    }

    fn kill(&self, handle: &Handle) -> BoxFuture<'_, Result<(), Error>> {
        self.by_handle(handle).kill(handle)
    }

    fn is_alive(&self, handle: &Handle) -> BoxFuture<'_, bool> {
        self.by_handle(handle).is_alive(handle)
    }

    fn adopt(
        &self,
        execution_id: &ExecutionId,
        handle: &Handle,
        log_file: &std::path::Path,
    ) -> BoxFuture<'_, Result<bool, Error>> {
        self.by_handle(handle).adopt(execution_id, handle, log_file)
    }

    /// Only processes are found this way; a container is found by its derived name.
    fn find(&self, execution_id: &ExecutionId) -> BoxFuture<'_, Option<Handle>> {
        self.local.find(execution_id)
    }
}

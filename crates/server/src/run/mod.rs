//! Running a task on this site, below the controllers: where its files go, how it is launched
//! (a process or a container, [`spec`]), what its row records of the run and how a row becomes
//! a launcher [`Handle`] again (stops, restarts), stopping it, and the cleanup of a FATE
//! task's sessions ([`cleanup`]). Every process goes through the site's launcher.

pub mod cleanup;
pub mod spec;
pub mod token;

use ferroflow_core::id::ExecutionId;
use std::path::PathBuf;

use serde_json::Value;

use ferroflow_core::provider::{Device, FATE};
use ferroflow_core::status::TaskStatus;

use crate::app::{App, Event};
use crate::launcher::{ContainerRef, Handle, Spec};
use crate::store::{self, ProviderFilter, ProviderRow, RunInfo, TaskRow};

pub use spec::{container_site, expected_container, launch_spec};

/// Why a task cannot be run or stopped. Its text is what a failed start records.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("storage failure")]
    Store(#[from] store::Error),
    #[error("provider {0} is not registered on this site")]
    NoProvider(String),
    #[error("provider {provider}: device {device} is not supported by this site")]
    Device { provider: String, device: Device },
    #[error("provider {0} has no entrypoint to run its components with")]
    NoEntrypoint(String),
    #[error("provider {0} has no metadata.image to run")]
    NoImage(String),
    #[error("task config: {0}")]
    Config(#[source] serde_json::Error),
    #[error("{}: {source}", path.display())]
    Prepare {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("kill {execution_id}: {source}")]
    Kill {
        execution_id: ExecutionId,
        #[source]
        source: crate::launcher::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `<base>/<job>/<role>/<party>/<task_name>`: FATE's layout under its job and log directories.
fn party_task(base: PathBuf, t: &TaskRow) -> PathBuf {
    base.join(t.job_id.as_str())
        .join(t.role.as_str())
        .join(t.party_id.as_str())
        .join(t.task_name.as_str())
}

/// `<JOB_DIR>/<job>/<role>/<party>/<task_name>/<version>`.
pub fn task_dir(app: &App, t: &TaskRow) -> PathBuf {
    party_task(app.config.jobs_dir(), t).join(t.task_version.to_string())
}

/// `<LOG_DIR>/<job>/<role>/<party>/<task_name>/stdout/task_entrypoint`, suffixed with the
/// version after the first run so a rerun does not overwrite the evidence of the last.
pub fn stdout_file(app: &App, t: &TaskRow) -> PathBuf {
    let name = if t.task_version == 0 {
        "task_entrypoint".to_string()
    } else {
        format!("task_entrypoint.{}", t.task_version)
    };
    party_task(app.config.logs_dir(), t)
        .join("stdout")
        .join(name)
}

/// What the task row records of a run. A container: no pid, its id as `worker_id`, and
/// `cmd` = `["docker", <daemon>, <container name>, <image>]` (what [`run_handle`] reads).
pub fn run_info(app: &App, spec: &Spec, handle: &Handle) -> RunInfo {
    let (pid, start_ticks, worker_id, cmd) = match (&handle.container, &spec.container) {
        (Some(c), cs) => (
            None,
            None,
            if c.id.is_empty() {
                c.name.clone()
            } else {
                c.id.clone()
            },
            vec![
                "docker".to_string(),
                c.daemon.clone(),
                c.name.clone(),
                cs.as_ref().map(|s| s.image.clone()).unwrap_or_default(),
            ],
        ),
        (None, _) => (
            Some(handle.pid),
            Some(handle.start_ticks),
            uuid::Uuid::new_v4().simple().to_string(),
            spec.argv.clone(),
        ),
    };
    RunInfo {
        pid,
        start_ticks,
        worker_id,
        cmd,
        run_ip: app.config.host.clone(),
        run_port: i64::from(app.site_env.mlmd_port),
    }
}

/// How to reach a task's recorded run: its container, or its process.
pub fn run_handle(task: &TaskRow) -> Option<Handle> {
    let cmd: Vec<&str> = task
        .cmd
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let ["docker", daemon, name, ..] = cmd.as_slice() {
        return Some(Handle {
            container: Some(ContainerRef {
                daemon: daemon.to_string(),
                name: name.to_string(),
                id: task.worker_id.clone().unwrap_or_default(),
            }),
            ..Handle::default()
        });
    }
    task.run_pid
        .map(|pid| Handle::process(pid, task.run_start.unwrap_or_default()))
}

pub(crate) fn str_meta(p: &ProviderRow, key: &str) -> Option<String> {
    p.metadata
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
}

pub async fn provider_of(app: &App, task: &TaskRow) -> Result<Option<ProviderRow>> {
    Ok(app
        .store
        .query_providers(&ProviderFilter {
            provider_name: Some(task.provider_name.clone()),
            ..Default::default()
        })
        .await?
        .into_iter()
        .next())
}

/// The Python of this site's newest local `fate` provider that has one (`metadata.venv`):
/// what runs pyfate's tasks and the standalone-storage helper.
pub async fn fate_python(app: &App) -> Result<Option<(ProviderRow, String)>, store::Error> {
    let mut found: Vec<(ProviderRow, String)> = app
        .store
        .query_providers(&ProviderFilter {
            name: Some(FATE.into()),
            device: Some("local".into()),
            ..Default::default()
        })
        .await?
        .into_iter()
        .filter_map(|p| {
            let venv = p.metadata.get("venv").and_then(Value::as_str)?.to_string();
            (!venv.is_empty()).then_some((p, venv))
        })
        .collect();
    found.sort_by_key(|a| version_key(&a.0.version));
    Ok(found.pop())
}

/// Where this site runs pyfate: a local `fate` provider's Python, or a `fate` image.
#[derive(Debug, Clone)]
pub enum FateRuntime {
    /// The newest local `fate` provider with a `metadata.venv`, and that Python.
    Local {
        provider: ProviderRow,
        python: String,
    },
    /// The newest `fate` provider of device `docker` (a FATE image).
    Docker(ProviderRow),
}

impl FateRuntime {
    pub fn provider(&self) -> &ProviderRow {
        match self {
            FateRuntime::Local { provider, .. } | FateRuntime::Docker(provider) => provider,
        }
    }
}

/// The rule for FATE's storage work of the built-in `fate_flow` components (uploads into
/// FATE's tables) and the transformer of uploads (docs/containers.md, "A site without a local
/// pyfate"): a local `fate` provider with a Python wins (its newest version); otherwise, on a
/// site whose storage is FATE's standalone one (what task containers mount), the newest
/// `fate` docker provider; otherwise none (uploads write native tables).
pub async fn fate_runtime(app: &App) -> Result<Option<FateRuntime>, store::Error> {
    if let Some((provider, python)) = fate_python(app).await? {
        return Ok(Some(FateRuntime::Local { provider, python }));
    }
    if app.config.engines.storage == "file" {
        return Ok(None);
    }
    let mut found = app
        .store
        .query_providers(&ProviderFilter {
            name: Some(FATE.into()),
            device: Some(Device::Docker.to_string()),
            ..Default::default()
        })
        .await?;
    found.sort_by_key(|p| version_key(&p.version));
    Ok(found.pop().map(FateRuntime::Docker))
}

/// The provider whose device runs `task`: its own, except for a built-in `fate_flow` upload
/// into FATE's storage on a site whose pyfate is only an image ([`fate_runtime`]): that runs
/// in the image's container.
pub async fn runner_of(app: &App, task: &TaskRow) -> Result<Option<ProviderRow>> {
    let Some(provider) = provider_of(app, task).await? else {
        return Ok(None);
    };
    if provider.name == ferroflow_core::provider::FLOW_PROVIDER
        && spec::writes_fate_storage(task)
        && let Some(FateRuntime::Docker(image)) = fate_runtime(app).await?
    {
        return Ok(Some(image));
    }
    Ok(Some(provider))
}

fn version_key(v: &str) -> Vec<(u64, String)> {
    v.split(['.', '-'])
        .map(|p| (p.parse().unwrap_or(0), p.to_string()))
        .collect()
}

/// Records the stop status first (so the exit that follows is not mistaken for a crash),
/// then kills the process group.
pub async fn stop_task_row(app: &App, task: &TaskRow, status: TaskStatus) -> Result<()> {
    let key = task.key();
    let now = app.now();
    if task.party_status == TaskStatus::Running {
        let msg = (status != TaskStatus::Success).then(|| format!("stopped: {status}"));
        if app
            .store
            .set_party_status(&key, status, msg.as_deref(), now)
            .await?
            .applied()
        {
            app.emit(Event::Report);
        }
    }
    let handle = match run_handle(task) {
        Some(h) => Some(h),
        None => expected_container(app, task).await?,
    };
    if let Some(handle) = handle {
        app.launcher
            .kill(&handle)
            .await
            .map_err(|source| Error::Kill {
                execution_id: task.execution_id.clone(),
                source,
            })?;
    }
    // A run stopped before it started gives back the cores it was granted.
    if task.party_status == TaskStatus::Waiting && task.resource_in_use {
        app.store.return_task_resource(&key, now).await?;
    }
    app.store.set_kill_status(&key, now).await?;
    Ok(())
}

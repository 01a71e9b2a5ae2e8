//! Tasks in Docker containers (`execution.md` §3.3), over the Docker Engine API (bollard; no
//! `docker` CLI).
//!
//! What differs from FATE's docker engine, and why (W-exec-3, W-exec-6):
//! * names are bounded and Docker-safe (`ff-<role>-<party>-<task>-<version>-<hash>`); the full
//!   identity is in labels (`ferroflow.job_id`, `.task_id`, `.task_version`, `.role`,
//!   `.party_id`, `.execution_id`, `.site`), so a restarted site finds its containers;
//! * stdout and stderr are streamed into the task's log file while the container runs, and the
//!   task's directories are mounted at the same path, so nothing is lost when it is removed;
//! * the exit is watched, the output drained, the exit reported (a container that never
//!   reported fails its task with the exit code), then the container is removed;
//! * a repeated start finds the container by its name and adopts it instead of failing.
//!
//! A handle's identity is the container's name, unique per task run; its id is informative.

mod container;
mod daemon;
mod identity;
pub mod image;

use container::*;
pub use daemon::*;
use ferroflow_core::id::ExecutionId;
pub use identity::*;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::Docker;
use bollard::errors::Error as ApiError;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerStateStatusEnum, HostConfig, Mount,
    MountType,
};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, InspectContainerOptions, ListContainersOptions,
    LogsOptions, RemoveContainerOptions, WaitContainerOptions,
};
use futures::future::BoxFuture;
use futures::{FutureExt, Stream, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use super::{ContainerRef, ContainerSpec, Exit, Exits, Handle, Launcher, RegistryAuth, Spec};

/// The daemon a provider's empty `base_url` means.
pub const DEFAULT_DAEMON: &str = "unix:///var/run/docker.sock";
/// How long the output of an ended container may take to drain.
const DRAIN: Duration = Duration::from_secs(10);
/// Seconds a single Docker API call may take to answer (a stream's body is not bounded).
const API_TIMEOUT: u64 = 60;
/// How long a daemon may take to answer the first call of a connection (its version): one
/// that accepts connections but never answers is named within seconds, not after
/// [`API_TIMEOUT`].
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "unsupported docker base_url {0:?} (use unix:///path/docker.sock, tcp://host:port or http://host:port)"
    )]
    BaseUrl(String),
    #[error("cannot reach the docker daemon at {daemon}")]
    Connect {
        daemon: String,
        #[source]
        source: ApiError,
    },
    #[error(
        "the docker daemon at {daemon} accepted the connection but did not answer within {secs} s"
    )]
    NoAnswer { daemon: String, secs: u64 },
    #[error("cannot pull image {image} onto the docker daemon at {daemon}: {reason}")]
    Pull {
        image: String,
        daemon: String,
        reason: String,
    },
    #[error("image {image} not found on the docker daemon at {daemon}")]
    NoImage { image: String, daemon: String },
    #[error("{what} (docker daemon at {daemon})")]
    Api {
        daemon: String,
        what: String,
        #[source]
        source: ApiError,
    },
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

/// Runs tasks as containers; see the module doc.
#[derive(Clone)]
pub struct DockerLauncher {
    inner: Arc<Inner>,
}

struct Inner {
    /// The value of the `ferroflow.site` label of this site's containers.
    site: String,
    exits: mpsc::UnboundedSender<Exit>,
    /// Connections by `base_url`, with the daemon's CPU count.
    daemons: tokio::sync::Mutex<HashMap<String, (Docker, i64)>>,
    /// Containers whose exit is being watched (by name), so an adoption never watches twice.
    watching: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for DockerLauncher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerLauncher")
            .field("site", &self.inner.site)
            .finish()
    }
}

impl DockerLauncher {
    /// A launcher for the site identified by `site` (the `ferroflow.site` label).
    pub fn new(site: impl Into<String>) -> (Self, Exits) {
        let (tx, rx) = mpsc::unbounded_channel();
        let inner = Inner {
            site: site.into(),
            exits: tx,
            daemons: tokio::sync::Mutex::new(HashMap::new()),
            watching: Mutex::new(HashSet::new()),
        };
        (
            Self {
                inner: Arc::new(inner),
            },
            rx,
        )
    }

    pub fn site(&self) -> &str {
        &self.inner.site
    }

    /// A connection to the daemon and its CPU count, made once per `base_url` (a slow daemon
    /// delays only the tasks that use it).
    async fn daemon(&self, base_url: &str) -> Result<(Docker, i64), Error> {
        if let Some(d) = self.inner.daemons.lock().await.get(base_url) {
            return Ok(d.clone());
        }
        let docker = connect(base_url).await?;
        let host = std::thread::available_parallelism().map_or(1, |n| n.get() as i64);
        let cpus = match docker.info().await {
            Ok(info) => info.ncpu.filter(|n| *n > 0).unwrap_or(host),
            Err(_) => host,
        };
        let mut daemons = self.inner.daemons.lock().await;
        Ok(daemons
            .entry(base_url.to_string())
            .or_insert((docker, cpus))
            .clone())
    }

    /// Removes a container (killing it if it runs); one that is being watched is left to
    /// its watcher. `Ok(false)`: left alone.
    pub async fn remove(&self, base_url: &str, name: &str) -> Result<bool, Error> {
        if self.watched(name) {
            return Ok(false);
        }
        let (docker, _) = self.daemon(base_url).await?;
        remove(&docker, base_url, name).await?;
        Ok(true)
    }

    /// This site's containers on a daemon, running or not: (name, execution id).
    pub async fn containers(&self, base_url: &str) -> Result<Vec<(String, String)>, Error> {
        let (docker, _) = self.daemon(base_url).await?;
        let filters = HashMap::from([(
            "label".to_string(),
            vec![format!("ferroflow.site={}", self.inner.site)],
        )]);
        let list = docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters),
                ..Default::default()
            }))
            .await
            .map_err(api(base_url, "cannot list containers"))?;
        Ok(list
            .into_iter()
            .filter_map(|c| {
                let name = c.names?.first()?.trim_start_matches('/').to_string();
                let id = c.labels?.get("ferroflow.execution_id")?.clone();
                Some((name, id))
            })
            .collect())
    }

    fn watched(&self, name: &str) -> bool {
        self.inner
            .watching
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(name)
    }

    async fn launch_inner(&self, spec: Spec) -> Result<Handle, super::Error> {
        let c = spec.container.clone().ok_or(super::Error::NoCommand)?;
        let (docker, cpus) = self.daemon(&c.daemon).await?;
        // The directories, and their hand-over to the containers' user, on the blocking pool.
        let (prepared, log_file) = (c.clone(), spec.log_file.clone());
        tokio::task::spawn_blocking(move || {
            for dir in prepared
                .mounts
                .iter()
                .map(PathBuf::as_path)
                .chain(log_file.parent())
            {
                std::fs::create_dir_all(dir).map_err(|source| super::Error::Prepare {
                    path: dir.to_path_buf(),
                    source,
                })?;
            }
            hand_over(&prepared).map_err(|(path, source)| super::Error::Prepare { path, source })
        })
        .await
        .map_err(|e| super::Error::Prepare {
            path: spec.log_file.clone(),
            source: std::io::Error::other(e),
        })??;
        let create = || {
            docker.create_container(
                Some(CreateContainerOptions {
                    name: Some(c.name.clone()),
                    ..Default::default()
                }),
                create_body(&spec, &c, cpus),
            )
        };
        let mut created = create().await;
        if matches!(&created, Err(e) if status(e) == Some(404)) && registry_of(&c.image).is_some() {
            // Not on the daemon: pulled from the registry it names, then created.
            pull(&docker, &c.daemon, &c.image, c.pull_auth.as_ref()).await?;
            created = create().await;
        }
        let id = match created {
            Ok(r) => r.id,
            // A repeated start: the container of this run exists, take it over.
            Err(e) if status(&e) == Some(409) => {
                let handle = container_handle(&c, "");
                tracing::info!(container = %c.name, "container exists already: adopting it");
                self.adopt_inner(&spec.execution_id, &handle, &spec.log_file)
                    .await?;
                return Ok(handle);
            }
            Err(e) if status(&e) == Some(404) => {
                return Err(Error::NoImage {
                    image: c.image.clone(),
                    daemon: daemon_name(&c.daemon).to_string(),
                }
                .into());
            }
            Err(e) => {
                return Err(
                    api(&c.daemon, format!("cannot create container {}", c.name))(e).into(),
                );
            }
        };
        if let Err(e) = docker.start_container(&c.name, None).await {
            let _ = remove(&docker, &c.daemon, &c.name).await;
            return Err(api(&c.daemon, format!("cannot start container {}", c.name))(e).into());
        }
        let handle = container_handle(&c, &id);
        self.watch(docker, &spec.execution_id, &handle, &spec.log_file, false);
        Ok(handle)
    }

    async fn adopt_inner(
        &self,
        execution_id: &ExecutionId,
        handle: &Handle,
        log_file: &Path,
    ) -> Result<bool, Error> {
        let Some(c) = &handle.container else {
            return Ok(false);
        };
        let (docker, _) = self.daemon(&c.daemon).await?;
        match docker
            .inspect_container(&c.name, None::<InspectContainerOptions>)
            .await
        {
            Ok(info) => {
                if state(&info) == Some(ContainerStateStatusEnum::CREATED) {
                    // Created but never started (the site stopped in between): start it now.
                    docker
                        .start_container(&c.name, None)
                        .await
                        .map_err(api(&c.daemon, format!("cannot start {}", c.name)))?;
                }
                let mut handle = handle.clone();
                if let (Some(h), Some(id)) = (handle.container.as_mut(), info.id) {
                    h.id = id;
                }
                if let Some(dir) = log_file.parent() {
                    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                        what: format!("cannot create {}", dir.display()),
                        source,
                    })?;
                }
                self.watch(docker, execution_id, &handle, log_file, true);
            }
            Err(e) if status(&e) == Some(404) => {
                tracing::warn!(container = %c.name, %execution_id, "container to adopt is gone");
                let _ = self.inner.exits.send(Exit {
                    execution_id: execution_id.clone(),
                    handle: handle.clone(),
                    code: None,
                    signal: None,
                });
            }
            Err(e) => return Err(api(&c.daemon, format!("cannot inspect {}", c.name))(e)),
        }
        Ok(true)
    }

    /// Streams the container's output into `log_file` (from its start when `from_start`,
    /// replacing what the file held), waits for its end, drains the output, reports the
    /// exit, then removes the container.
    fn watch(
        &self,
        docker: Docker,
        execution_id: &ExecutionId,
        handle: &Handle,
        log_file: &Path,
        from_start: bool,
    ) {
        let Some(c) = handle.container.clone() else {
            return;
        };
        {
            let mut w = self
                .inner
                .watching
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if !w.insert(c.name.clone()) {
                return;
            }
        }
        let inner = self.inner.clone();
        let (execution_id, handle, log_file) =
            (execution_id.clone(), handle.clone(), log_file.to_path_buf());
        tokio::spawn(async move {
            let logs = docker.logs(
                &c.name,
                Some(LogsOptions {
                    follow: true,
                    stdout: true,
                    stderr: true,
                    ..Default::default()
                }),
            );
            let copy = tokio::spawn(copy_logs(logs, log_file.clone(), from_start));
            let code = wait_exit(&docker, &c.name).await;
            match tokio::time::timeout(DRAIN, copy).await {
                Ok(_) => {}
                Err(_) => tracing::warn!(container = %c.name, "output not drained in time"),
            }
            tracing::info!(container = %c.name, %execution_id, ?code, "container ended");
            let _ = inner.exits.send(Exit {
                execution_id,
                handle,
                code: code.map(|c| c as i32),
                signal: None,
            });
            if let Err(e) = remove(&docker, &c.daemon, &c.name).await {
                tracing::warn!(container = %c.name, error = %e, "cannot remove container");
            }
            inner
                .watching
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&c.name);
        });
    }
}

impl Launcher for DockerLauncher {
    fn launch(&self, spec: Spec) -> BoxFuture<'_, Result<Handle, super::Error>> {
        self.launch_inner(spec).boxed()
    }

    fn kill(&self, handle: &Handle) -> BoxFuture<'_, Result<(), super::Error>> {
        let handle = handle.clone();
        async move {
            let Some(c) = handle.container else {
                return Ok(());
            };
            let (docker, _) = self.daemon(&c.daemon).await?;
            remove(&docker, &c.daemon, &c.name).await?;
            Ok(())
        }
        .boxed()
    }

    /// Running, as the daemon says. A daemon that cannot be asked counts as alive: its
    /// containers are not failed for an API hiccup.
    fn is_alive(&self, handle: &Handle) -> BoxFuture<'_, bool> {
        let handle = handle.clone();
        async move {
            let Some(c) = handle.container else {
                return false;
            };
            let Ok((docker, _)) = self.daemon(&c.daemon).await else {
                return true;
            };
            match docker
                .inspect_container(&c.name, None::<InspectContainerOptions>)
                .await
            {
                Ok(info) => matches!(
                    state(&info),
                    Some(ContainerStateStatusEnum::RUNNING | ContainerStateStatusEnum::CREATED)
                ),
                Err(e) => status(&e) != Some(404),
            }
        }
        .boxed()
    }

    fn adopt(
        &self,
        execution_id: &ExecutionId,
        handle: &Handle,
        log_file: &Path,
    ) -> BoxFuture<'_, Result<bool, super::Error>> {
        let (execution_id, handle, log_file) =
            (execution_id.clone(), handle.clone(), log_file.to_path_buf());
        async move { Ok(self.adopt_inner(&execution_id, &handle, &log_file).await?) }.boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity<'a>(site: &'a str, task_name: &'a str, execution_id: &'a str) -> TaskIdentity<'a> {
        TaskIdentity {
            site,
            job_id: "202401010000000000000",
            task_id: "202401010000000000000_psi_0",
            task_name,
            task_version: 0,
            role: "guest",
            party_id: "9999",
            execution_id,
        }
    }

    #[test]
    fn names_are_docker_safe_bounded_and_unique_per_site_and_run() {
        let long = "a".repeat(200);
        let n = identity("/data/a", &long, "x_guest_9999").container_name();
        assert!(n.len() <= 128, "{n}");
        assert!(
            n.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)),
            "{n}"
        );
        let odd = identity("/data/a", "psi 0/ü", "x_guest_9999").container_name();
        assert!(odd.starts_with("ff-guest-9999-psi_0__-0-"), "{odd}");
        assert_ne!(
            identity("/data/a", "psi_0", "e1").container_name(),
            identity("/data/b", "psi_0", "e1").container_name()
        );
        assert_ne!(
            identity("/data/a", "psi_0", "e1").container_name(),
            identity("/data/a", "psi_0", "e2").container_name()
        );
        assert_eq!(
            identity("/data/a", "psi_0", "e1").container_name(),
            identity("/data/a", "psi_0", "e1").container_name()
        );
    }

    #[test]
    fn labels_carry_the_full_identity() {
        let l = identity("/data/a", "psi_0", "e1").labels();
        assert_eq!(l["ferroflow.site"], "/data/a");
        assert_eq!(l["ferroflow.execution_id"], "e1");
        assert_eq!(l["ferroflow.task_id"], "202401010000000000000_psi_0");
        assert_eq!(l["ferroflow.task_version"], "0");
        assert_eq!(l.len(), 8);
    }

    #[test]
    fn limits_env_mounts_and_network_reach_the_container() {
        let spec = Spec {
            execution_id: "e1".into(),
            env: vec![("CONFIG".into(), "{}".into())],
            log_file: "/logs/x".into(),
            ..Default::default()
        };
        let c = ContainerSpec {
            image: "img:1".into(),
            name: "ff-x".into(),
            mounts: vec!["/data/jobs/j".into()],
            cores: 4,
            memory_mb: 512,
            ..Default::default()
        };
        let body = create_body(&spec, &c, 2);
        let host = body.host_config.unwrap();
        assert_eq!(
            host.nano_cpus,
            Some(2_000_000_000),
            "capped at the daemon's CPUs"
        );
        assert_eq!(host.memory, Some(512 * 1024 * 1024));
        assert_eq!(host.network_mode.as_deref(), Some("host"));
        let m = &host.mounts.unwrap()[0];
        assert_eq!(
            (m.source.as_deref(), m.target.as_deref()),
            (Some("/data/jobs/j"), Some("/data/jobs/j"))
        );
        assert_eq!(body.env.unwrap(), vec!["CONFIG={}"]);
        assert_eq!(
            (body.cmd, body.entrypoint),
            (None, None),
            "the image's own entry point"
        );
        assert_eq!(host.readonly_rootfs, Some(true));
        assert_eq!(host.cap_drop, Some(vec!["ALL".to_string()]));
        assert_eq!(
            host.security_opt,
            Some(vec!["no-new-privileges:true".to_string()])
        );
        assert_eq!(host.memory_swap, host.memory, "no swap beyond the limit");
        assert_eq!((host.pid_mode, host.pids_limit), (None, None));
        let none = create_body(&spec, &ContainerSpec::default(), 2)
            .host_config
            .unwrap();
        assert_eq!((none.nano_cpus, none.memory), (None, None));
    }

    #[test]
    fn base_urls_are_checked() {
        assert_eq!(daemon_name(""), DEFAULT_DAEMON);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let e = rt.block_on(connect("ftp://x")).unwrap_err();
        assert!(matches!(e, Error::BaseUrl(_)), "{e}");
    }
}

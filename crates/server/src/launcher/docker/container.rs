//! One container's life over the Engine API: its create body (least privilege), directories
//! handed to its user, its log copied to the task's file, its exit awaited, its removal.

use super::*;

pub(super) fn container_handle(c: &ContainerSpec, id: &str) -> Handle {
    Handle {
        pid: 0,
        start_ticks: 0,
        container: Some(ContainerRef {
            daemon: c.daemon.clone(),
            name: c.name.clone(),
            id: id.to_string(),
        }),
    }
}

pub(super) fn state(info: &ContainerInspectResponse) -> Option<ContainerStateStatusEnum> {
    info.state.as_ref().and_then(|s| s.status)
}

/// A numeric `uid:gid` (a name cannot be resolved on the host).
pub(super) fn numeric_user(user: &str) -> Option<(u32, u32)> {
    let (u, g) = user.split_once(':').unwrap_or((user, user));
    Some((u.parse().ok()?, g.parse().ok()?))
}

/// When the site runs as root and the container as another user, the directories the task
/// writes in become that user's (recursively): a site that is not root shares its own
/// uid:gid with its containers and has nothing to hand over.
pub(super) fn hand_over(c: &ContainerSpec) -> Result<(), (PathBuf, std::io::Error)> {
    let Some((uid, gid)) = c.user.as_deref().and_then(numeric_user) else {
        return Ok(());
    };
    if uid == 0 || !nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    fn walk(p: &Path, uid: u32, gid: u32) -> Result<(), (PathBuf, std::io::Error)> {
        std::os::unix::fs::lchown(p, Some(uid), Some(gid)).map_err(|e| (p.to_path_buf(), e))?;
        let meta = std::fs::symlink_metadata(p).map_err(|e| (p.to_path_buf(), e))?;
        if meta.is_dir() {
            for e in std::fs::read_dir(p).map_err(|e| (p.to_path_buf(), e))? {
                let e = e.map_err(|e| (p.to_path_buf(), e))?;
                walk(&e.path(), uid, gid)?;
            }
        }
        Ok(())
    }
    for dir in &c.owned {
        walk(dir, uid, gid)?;
    }
    for dir in &c.shared {
        std::os::unix::fs::lchown(dir, Some(uid), Some(gid)).map_err(|e| (dir.clone(), e))?;
    }
    Ok(())
}

/// How every task container runs, whatever its image (docs/containers.md, "Least
/// privilege"): no capabilities, no privilege gained through set-uid files, a read-only
/// root file system with a private `/tmp`, only the mounts the spec names (read-only ones
/// read-only), the limits of the task.
pub(super) fn create_body(spec: &Spec, c: &ContainerSpec, cpus: i64) -> ContainerCreateBody {
    let bind = |p: &PathBuf, read_only: bool| Mount {
        target: Some(p.to_string_lossy().into_owned()),
        source: Some(p.to_string_lossy().into_owned()),
        typ: Some(MountType::BIND),
        read_only: read_only.then_some(true),
        ..Default::default()
    };
    let mounts = c
        .mounts
        .iter()
        .map(|p| bind(p, false))
        .chain(c.read_only.iter().map(|p| bind(p, true)))
        .collect();
    let memory = (c.memory_mb > 0).then(|| c.memory_mb * 1024 * 1024);
    ContainerCreateBody {
        image: Some(c.image.clone()),
        // A command line replaces the image's entry point (and with it the image's CMD).
        entrypoint: (!spec.argv.is_empty()).then(|| spec.argv.clone()),
        env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        labels: Some(c.labels.clone().into_iter().collect()),
        user: c.user.clone().filter(|u| !u.is_empty()),
        // The task directory, mounted at the same path: a task wrapper's `input/`/`output/`.
        working_dir: Some(spec.cwd.to_string_lossy().into_owned()),
        host_config: Some(HostConfig {
            network_mode: Some(if c.network.is_empty() {
                "host".into()
            } else {
                c.network.clone()
            }),
            mounts: Some(mounts),
            // Docker refuses more CPUs than the daemon's host has.
            nano_cpus: (c.cores > 0).then(|| c.cores.min(cpus.max(1)) * 1_000_000_000),
            memory,
            // No swap beyond the memory limit.
            memory_swap: memory,
            pids_limit: (c.pids_limit > 0).then_some(c.pids_limit),
            pid_mode: c.host_pid.then(|| "host".to_string()),
            readonly_rootfs: Some(true),
            tmpfs: Some(HashMap::from([(
                "/tmp".to_string(),
                "rw,nosuid,nodev,mode=1777".to_string(),
            )])),
            security_opt: Some(vec!["no-new-privileges:true".into()]),
            cap_drop: Some(vec!["ALL".into()]),
            auto_remove: Some(false),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub(super) async fn copy_logs(
    logs: impl Stream<Item = Result<bollard::container::LogOutput, ApiError>>,
    path: PathBuf,
    from_start: bool,
) {
    let file = tokio::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(!from_start)
        .truncate(from_start)
        .open(&path)
        .await;
    let mut file = match file {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(path = %path.display(), error = %e, "cannot open task log");
            return;
        }
    };
    let mut logs = std::pin::pin!(logs);
    while let Some(item) = logs.next().await {
        match item {
            Ok(out) => {
                if let Err(e) = file.write_all(out.as_ref()).await {
                    tracing::error!(path = %path.display(), error = %e, "cannot write task log");
                    break;
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "container output stream ended");
                break;
            }
        }
    }
    let _ = file.flush().await;
}

/// The container's exit code once it is not running; `None` if it is gone.
pub(super) async fn wait_exit(docker: &Docker, name: &str) -> Option<i64> {
    loop {
        let mut wait = std::pin::pin!(docker.wait_container(
            name,
            Some(WaitContainerOptions {
                condition: "not-running".into(),
            }),
        ));
        match wait.next().await {
            Some(Ok(r)) => return Some(r.status_code),
            Some(Err(ApiError::DockerContainerWaitError { code, .. })) => return Some(code),
            Some(Err(e)) if status(&e) == Some(404) => return None,
            other => {
                // The answer was lost (daemon restarting, connection cut): look again.
                tracing::debug!(container = name, ?other, "container wait interrupted");
                match docker
                    .inspect_container(name, None::<InspectContainerOptions>)
                    .await
                {
                    Ok(info)
                        if !matches!(
                            state(&info),
                            Some(
                                ContainerStateStatusEnum::RUNNING
                                    | ContainerStateStatusEnum::CREATED
                                    | ContainerStateStatusEnum::RESTARTING
                                    | ContainerStateStatusEnum::PAUSED
                            )
                        ) =>
                    {
                        return info.state.and_then(|s| s.exit_code);
                    }
                    Err(e) if status(&e) == Some(404) => return None,
                    _ => tokio::time::sleep(Duration::from_secs(1)).await,
                }
            }
        }
    }
}

/// Kills (if running) and removes a container with its anonymous volumes; a container that
/// is gone already is fine.
pub(super) async fn remove(docker: &Docker, base_url: &str, name: &str) -> Result<(), Error> {
    match docker
        .remove_container(
            name,
            Some(RemoveContainerOptions {
                force: true,
                v: true,
                ..Default::default()
            }),
        )
        .await
    {
        Ok(()) => Ok(()),
        Err(e) if matches!(status(&e), Some(404 | 409)) => Ok(()),
        Err(e) => Err(api(base_url, format!("cannot remove container {name}"))(e)),
    }
}

//! Tasks as local processes, each in its own process group so that stopping a task takes
//! everything it started.

use ferroflow_core::id::ExecutionId;
use ferroflow_wire::worker::EXECUTION_ID_ENV;
use std::fs::OpenOptions;
use std::process::Stdio;

use futures::FutureExt;
use futures::future::BoxFuture;
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use tokio::sync::mpsc;

use super::{Error, Exit, Handle, Launcher, Spec};

#[derive(Debug, Clone)]
pub struct ProcessLauncher {
    exits: mpsc::UnboundedSender<Exit>,
}

impl ProcessLauncher {
    pub fn new() -> (Self, super::Exits) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { exits: tx }, rx)
    }

    async fn launch_inner(&self, spec: Spec) -> Result<Handle, Error> {
        let program = spec.argv.first().ok_or(Error::NoCommand)?.clone();
        // The directories and the log file, on the blocking pool.
        let (cwd, log_file) = (spec.cwd.clone(), spec.log_file.clone());
        let prepared = tokio::task::spawn_blocking(move || {
            for dir in [Some(cwd.as_path()), log_file.parent()]
                .into_iter()
                .flatten()
            {
                std::fs::create_dir_all(dir).map_err(|source| Error::Prepare {
                    path: dir.to_path_buf(),
                    source,
                })?;
            }
            let open_log = || {
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log_file)
                    .map_err(|source| Error::Prepare {
                        path: log_file.clone(),
                        source,
                    })
            };
            Ok::<_, Error>((open_log()?, open_log()?))
        })
        .await
        .map_err(|e| Error::Prepare {
            path: spec.log_file.clone(),
            source: std::io::Error::other(e),
        })?;
        let (out, err) = prepared?;
        let mut cmd = tokio::process::Command::new(&program);
        cmd.args(&spec.argv[1..])
            .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(&spec.cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .process_group(0)
            .kill_on_drop(false);
        let mut child = cmd
            .spawn()
            .map_err(|source| Error::Spawn { program, source })?;
        let pid = child.id().map(i64::from).unwrap_or_default();
        let handle = Handle::process(pid, start_ticks(pid).unwrap_or_default());
        let exits = self.exits.clone();
        let execution_id = spec.execution_id.clone();
        let h = handle.clone();
        tokio::spawn(async move {
            let status = child.wait().await;
            let (code, signal) = match status {
                Ok(s) => {
                    use std::os::unix::process::ExitStatusExt;
                    (s.code(), s.signal())
                }
                Err(_) => (None, None),
            };
            let _ = exits.send(Exit {
                execution_id,
                handle: h,
                code,
                signal,
            });
        });
        Ok(handle)
    }
}

impl Launcher for ProcessLauncher {
    fn launch(&self, spec: Spec) -> BoxFuture<'_, Result<Handle, Error>> {
        self.launch_inner(spec).boxed()
    }

    fn kill(&self, handle: &Handle) -> BoxFuture<'_, Result<(), Error>> {
        let handle = handle.clone();
        async move { kill_group(&handle) }.boxed()
    }

    fn is_alive(&self, handle: &Handle) -> BoxFuture<'_, bool> {
        let alive = is_alive(handle);
        async move { alive }.boxed()
    }

    fn adopt(
        &self,
        execution_id: &ExecutionId,
        handle: &Handle,
        _log_file: &std::path::Path,
    ) -> BoxFuture<'_, Result<bool, Error>> {
        let (exits, execution_id, handle) =
            (self.exits.clone(), execution_id.clone(), handle.clone());
        // Not our child any more: its exit status is gone with the old site, so watch it.
        tokio::spawn(async move {
            while is_alive(&handle) {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            let _ = exits.send(Exit {
                execution_id,
                handle,
                code: None,
                signal: None,
            });
        });
        async { Ok(true) }.boxed()
    }

    fn find(&self, execution_id: &ExecutionId) -> BoxFuture<'_, Option<Handle>> {
        let found = find_by_marker(execution_id);
        async move { found }.boxed()
    }
}

/// The process whose environment has `FERROFLOW_EXECUTION_ID=<execution_id>` ([`EXECUTION_ID_ENV`]) (every task
/// process gets it), if one runs.
pub fn find_by_marker(execution_id: &ExecutionId) -> Option<Handle> {
    let marker = format!("{EXECUTION_ID_ENV}={execution_id}");
    let entries = std::fs::read_dir("/proc").ok()?;
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i64>().ok())
        else {
            continue;
        };
        let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        if env.split(|b| *b == 0).any(|var| var == marker.as_bytes()) {
            let handle = Handle::process(pid, start_ticks(pid).unwrap_or_default());
            if is_alive(&handle) {
                return Some(handle);
            }
        }
    }
    None
}

/// Kills the process group led by the handle's process, if that process is still the one
/// that was launched.
pub fn kill_group(handle: &Handle) -> Result<(), Error> {
    if handle.pid <= 0 {
        return Ok(());
    }
    if !is_alive(handle) {
        return Ok(());
    }
    let pid = Pid::from_raw(handle.pid as i32);
    match signal::killpg(pid, Signal::SIGKILL) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
        Err(e) => Err(Error::Kill {
            pid: handle.pid,
            reason: e.to_string(),
        }),
    }
}

/// Alive means: a process with that pid exists, started at the recorded time, and is not a
/// zombie.
pub fn is_alive(handle: &Handle) -> bool {
    match proc_stat(handle.pid) {
        Some((state, ticks)) => {
            state != 'Z' && state != 'X' && (handle.start_ticks == 0 || ticks == handle.start_ticks)
        }
        None => false,
    }
}

/// The process start time in clock ticks since boot (`/proc/<pid>/stat` field 22).
pub fn start_ticks(pid: i64) -> Option<i64> {
    proc_stat(pid).map(|(_, t)| t)
}

fn proc_stat(pid: i64) -> Option<(char, i64)> {
    if pid <= 0 {
        return None;
    }
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses: parse after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    // After ')' the fields start at 3 (state); field 22 is index 19 here.
    let ticks = fields.get(19)?.parse().ok()?;
    Some((state, ticks))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn launches_reports_exit_and_kills_the_group() {
        let dir = tempfile::tempdir().unwrap();
        let (launcher, mut exits) = ProcessLauncher::new();
        let spec = |id: &str, script: &str| Spec {
            execution_id: id.into(),
            argv: vec!["sh".into(), "-c".into(), script.into()],
            env: vec![("GREETING".into(), "hello".into())],
            cwd: dir.path().join(id),
            log_file: dir.path().join(id).join("log"),
            container: None,
        };

        let h = launcher
            .launch(spec("a", "echo $GREETING; exit 3"))
            .await
            .unwrap();
        let exit = exits.recv().await.unwrap();
        assert_eq!((exit.execution_id.as_str(), exit.code), ("a", Some(3)));
        assert_eq!(exit.handle, h);
        let log = std::fs::read_to_string(dir.path().join("a/log")).unwrap();
        assert_eq!(log.trim(), "hello");

        // A child of the task dies with it.
        let h = launcher
            .launch(spec("b", "sleep 30 & sleep 30"))
            .await
            .unwrap();
        assert!(launcher.is_alive(&h).await);
        launcher.kill(&h).await.unwrap();
        let exit = exits.recv().await.unwrap();
        assert_eq!(exit.signal, Some(9));
        assert!(!launcher.is_alive(&h).await);
    }

    #[test]
    fn a_reused_pid_is_not_the_task() {
        let me = std::process::id() as i64;
        let ticks = start_ticks(me).unwrap();
        assert!(is_alive(&Handle::process(me, ticks)));
        assert!(!is_alive(&Handle::process(me, ticks + 1)));
        assert!(!is_alive(&Handle::process(0, 0)));
    }
}

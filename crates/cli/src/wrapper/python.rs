//! The Python processes the wrapper starts: pyfate's CLI (`python -m fate.components component
//! ...`, `execution.md` §3.6a). (The standalone-storage helper is
//! `ferroflow_server::fate_storage`.)

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};

/// FATE's name for the interpreter of the algorithm process (`$EXECUTOR_ENV`).
pub const EXECUTOR_ENV: &str = "EXECUTOR_ENV";
/// What the FATE image sets to its venv's interpreter.
pub const FATE_PYTHON: &str = "FATE_PYTHON";

/// The interpreter pyfate runs with: `--python`, else `$EXECUTOR_ENV` (the provider's
/// `metadata.venv`, passed down by the site), else `$FATE_PYTHON`, else `python3`.
pub fn interpreter(explicit: Option<&Path>, get: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    explicit
        .map(Path::to_path_buf)
        .or_else(|| {
            get(EXECUTOR_ENV)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .or_else(|| {
            get(FATE_PYTHON)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .unwrap_or_else(|| PathBuf::from("python3"))
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot start {program} ({what})")]
    Spawn {
        what: &'static str,
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the output file {path}")]
    Output {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} failed ({status}): {detail}")]
    Failed {
        what: &'static str,
        status: String,
        detail: String,
    },
}

/// How a process ended, in words: `exit code 1`, `killed by signal 9 (SIGKILL)`.
pub fn describe(status: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(s)) => {
            let name = nix::sys::signal::Signal::try_from(s)
                .map(|s| format!(" ({s})"))
                .unwrap_or_default();
            format!("killed by signal {s}{name}")
        }
        _ => "ended".into(),
    }
}

/// One Python command: its arguments, its environment changes, where its output goes.
#[derive(Debug, Clone)]
pub struct Run<'a> {
    /// For messages (`component define`, `task execute`).
    pub what: &'static str,
    pub python: &'a Path,
    pub args: Vec<String>,
    pub cwd: &'a Path,
    /// stdout and stderr, appended.
    pub log: PathBuf,
    pub set_env: Vec<(String, String)>,
    pub remove_env: Vec<&'static str>,
}

impl Run<'_> {
    fn command(&self) -> Result<tokio::process::Command, Error> {
        if let Some(dir) = self.log.parent() {
            std::fs::create_dir_all(dir).map_err(|source| Error::Output {
                path: self.log.to_path_buf(),
                source,
            })?;
        }
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|source| Error::Output {
                path: self.log.to_path_buf(),
                source,
            })?;
        let err = out.try_clone().map_err(|source| Error::Output {
            path: self.log.to_path_buf(),
            source,
        })?;
        let mut cmd = tokio::process::Command::new(self.python);
        cmd.args(&self.args)
            .current_dir(self.cwd)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true);
        // The algorithm reaches the site only through the wrapper (its metric relay adds the
        // run's token), so the token stays with the wrapper.
        cmd.env_remove(crate::component::worker_client::TOKEN_ENV);
        for k in &self.remove_env {
            cmd.env_remove(k);
        }
        for (k, v) in &self.set_env {
            cmd.env(k, v);
        }
        Ok(cmd)
    }

    /// Runs it to its end.
    pub async fn status(&self) -> Result<ExitStatus, Error> {
        let mut cmd = self.command()?;
        tracing::info!(what = self.what, python = %self.python.display(), args = %self.args.join(" "), "start");
        let mut child = cmd.spawn().map_err(|source| Error::Spawn {
            what: self.what,
            program: self.python.display().to_string(),
            source,
        })?;
        child.wait().await.map_err(|source| Error::Spawn {
            what: self.what,
            program: self.python.display().to_string(),
            source,
        })
    }

    /// Runs it and fails unless it exits 0, quoting the end of its output.
    pub async fn success(&self) -> Result<(), Error> {
        let status = self.status().await?;
        if status.success() {
            return Ok(());
        }
        Err(Error::Failed {
            what: self.what,
            status: describe(&status),
            detail: tail(&self.log, 20),
        })
    }
}

/// The last `n` lines of a file (empty if unreadable).
pub fn tail(path: &Path, n: usize) -> String {
    let Ok(text) = std::fs::read_to_string(path) else {
        return String::new();
    };
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interpreter_comes_from_the_option_then_fates_variables() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let both = env(&[
            ("EXECUTOR_ENV", "/v/bin/python"),
            ("FATE_PYTHON", "/img/python"),
        ]);
        assert_eq!(
            interpreter(Some(Path::new("/x/python")), &both),
            Path::new("/x/python")
        );
        assert_eq!(interpreter(None, &both), Path::new("/v/bin/python"));
        let image = env(&[("EXECUTOR_ENV", ""), ("FATE_PYTHON", "/img/python")]);
        assert_eq!(interpreter(None, &image), Path::new("/img/python"));
        assert_eq!(interpreter(None, &env(&[])), Path::new("python3"));
    }

    #[test]
    fn signals_are_named() {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            describe(&ExitStatus::from_raw(9)),
            "killed by signal 9 (SIGKILL)"
        );
        assert_eq!(describe(&ExitStatus::from_raw(1 << 8)), "exit code 1");
    }
}

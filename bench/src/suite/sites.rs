//! The two servers under test, started and stopped by the suite, and the tables they read.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

pub(super) fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A `ferroflow serve` process, killed when dropped.
pub(crate) struct FfSite {
    pub(super) child: tokio::process::Child,
    pub(crate) pid: u32,
    pub(crate) url: String,
    pub(crate) db: PathBuf,
    pub(super) cold_start_ms: f64,
}

impl FfSite {
    pub(super) async fn start(dir: &Path, port: u16, pyfate: Option<&Path>) -> Result<FfSite> {
        Self::start_with(dir, port, pyfate, "").await
    }

    /// As [`FfSite::start`], with more of `service_conf.yaml` (top-level keys).
    pub(crate) async fn start_with(
        dir: &Path,
        port: u16,
        pyfate: Option<&Path>,
        extra: &str,
    ) -> Result<FfSite> {
        let exe = crate::ferroflow_exe()?;
        std::fs::create_dir_all(dir)?;
        let conf = dir.join("service_conf.yaml");
        let mut text = format!(
            "computing:\n  standalone:\n    cores: 100000\nupload_dir: {}\n{extra}",
            dir.join("upload").display()
        );
        if let Some(py) = pyfate {
            let _ = writeln!(text, "fate:\n  venv: {}", py.display());
        }
        std::fs::write(&conf, text)?;
        let log = std::fs::File::create(dir.join("serve.log"))?;
        let started = Instant::now();
        let mut child = tokio::process::Command::new(&exe)
            .args(["serve", "--port", &port.to_string(), "--data-dir"])
            .arg(dir.join("site"))
            .arg("--config")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()?;
        let pid = child.id().context("server pid")?;
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        loop {
            if let Ok(r) = http.get(format!("{url}/v2/site/info/query")).send().await
                && r.status().is_success()
            {
                break;
            }
            if let Some(status) = child.try_wait()? {
                bail!(
                    "ferroflow serve exited ({status}); see {}",
                    dir.join("serve.log").display()
                );
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!("ferroflow serve did not answer on {url}");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let cold_start_ms = started.elapsed().as_secs_f64() * 1000.0;
        Ok(FfSite {
            child,
            pid,
            url,
            db: dir.join("site").join("ferroflow.db"),
            cold_start_ms,
        })
    }

    pub(crate) async fn stop(mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
        let _ = self.child.start_kill();
    }
}

/// The real FATE Flow started by `bench/fate-flow.sh`, stopped when dropped.
pub(super) struct FateSite {
    pub(super) home: PathBuf,
    pub(super) python: PathBuf,
    pub(super) pid: u32,
    pub(super) url: String,
    pub(super) cold_start_ms: f64,
}

impl FateSite {
    pub(super) fn script(
        python: &Path,
        port: u16,
        cmd: &str,
        home: &Path,
    ) -> std::process::Command {
        let mut c = std::process::Command::new(repo().join("bench/fate-flow.sh"));
        c.arg(cmd)
            .arg(home)
            .env("FATE_FLOW_PYTHON", python)
            .env("PORT", port.to_string());
        c
    }

    pub(super) fn start(python: &Path, port: u16, home: &Path) -> Result<FateSite> {
        let out = Self::script(python, port, "up", home).output()?;
        eprintln!("{}", String::from_utf8_lossy(&out.stdout).trim());
        if !out.status.success() {
            bail!(
                "bench/fate-flow.sh up failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let read = |f: &str| std::fs::read_to_string(home.join(f)).unwrap_or_default();
        Ok(FateSite {
            home: home.to_path_buf(),
            python: python.to_path_buf(),
            pid: read("flow.pid").trim().parse().context("FATE Flow pid")?,
            url: format!("http://127.0.0.1:{port}"),
            cold_start_ms: read("cold_start_ms").trim().parse().unwrap_or(f64::NAN),
        })
    }

    pub(super) fn db(&self) -> PathBuf {
        self.home.join("fate_flow_sqlite.db")
    }
}

impl Drop for FateSite {
    fn drop(&mut self) {
        let port = self.url.rsplit(':').next().and_then(|p| p.parse().ok());
        let _ = Self::script(&self.python, port.unwrap_or(0), "down", &self.home).output();
    }
}

pub(super) fn upload_tables(python: &Path, port: u16) -> Result<()> {
    let data = repo().join("crates/cli/data");
    let out = std::process::Command::new(python)
        .arg(repo().join("bench/upload_tables.py"))
        .args(["--port", &port.to_string(), "--guest-csv"])
        .arg(data.join("breast_hetero_guest.csv"))
        .arg("--host-csv")
        .arg(data.join("breast_hetero_host.csv"))
        .output()?;
    if !out.status.success() {
        bail!(
            "uploading breast_hetero failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

//! `ferroflow-bench suite`: every workload against a `ferroflow serve` and, when a FATE Flow
//! 2.2 venv is given, against the real FATE Flow on the same machine, one after the other;
//! then the table (both figures and their ratio) printed and written as Markdown.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::StreamExt;

use crate::work::{self, Target, percentile};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Smaller counts: finishes in under 10 minutes on 2 cores.
    #[arg(long)]
    pub quick: bool,
    /// Where the Markdown report goes.
    #[arg(long, default_value = "docs/performance.md")]
    pub out: PathBuf,
    /// Python of a venv with pyfate 2.2 and fate_client 2.2 (ci/pyfate-venv.sh): the pyfate
    /// workloads run only with it.
    #[arg(long)]
    pub pyfate_python: Option<PathBuf>,
    /// Python of a venv with fate_flow 2.2 (ci/fate-flow-venv.sh): FATE Flow's column is
    /// measured only with it (else documented figures, marked as such).
    #[arg(long)]
    pub fate_flow_python: Option<PathBuf>,
    /// First of the ports used (ferroflow: this one; FATE Flow: this + 80).
    #[arg(long, default_value_t = 29300)]
    pub port: u16,
    /// Working directory (sites' data), kept after the run; a fresh temporary one if absent.
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// The command line to print as "how to reproduce".
    #[arg(long, default_value = "bench/run")]
    pub command: String,
}

struct Sizes {
    chain_runs: usize,
    pyfate_chain: usize,
    pyfate_runs: usize,
    lr_epochs: u32,
    reader_jobs: usize,
    queues: Vec<usize>,
    api_requests_ff: usize,
    api_requests_fate: usize,
    running_tasks: usize,
}

impl Sizes {
    fn new(quick: bool) -> Self {
        if quick {
            Sizes {
                chain_runs: 5,
                pyfate_chain: 3,
                pyfate_runs: 1,
                lr_epochs: 1,
                reader_jobs: 4,
                queues: vec![100, 1000],
                api_requests_ff: 4_000,
                api_requests_fate: 500,
                running_tasks: 1000,
            }
        } else {
            Sizes {
                chain_runs: 20,
                pyfate_chain: 4,
                pyfate_runs: 3,
                lr_epochs: 10,
                reader_jobs: 20,
                queues: vec![100, 1000, 10_000],
                api_requests_ff: 20_000,
                api_requests_fate: 20_000,
                running_tasks: 1000,
            }
        }
    }
}

/// One line of the table.
struct Row {
    section: &'static str,
    what: String,
    ff: Option<f64>,
    fate: Option<f64>,
    /// FATE's figure is a documented one, not measured in this run.
    fate_documented: bool,
    unit: &'static str,
    higher_is_better: bool,
}

#[derive(Default)]
struct Report {
    rows: Vec<Row>,
    notes: Vec<String>,
}

impl Report {
    fn add(&mut self, section: &'static str, what: impl Into<String>, unit: &'static str) {
        self.rows.push(Row {
            section,
            what: what.into(),
            ff: None,
            fate: None,
            fate_documented: false,
            unit,
            higher_is_better: matches!(unit, "jobs/s" | "req/s"),
        });
    }

    fn row(&mut self, section: &'static str, what: &str, unit: &'static str) -> &mut Row {
        if let Some(i) = self
            .rows
            .iter()
            .position(|r| r.section == section && r.what == what)
        {
            return &mut self.rows[i];
        }
        self.add(section, what, unit);
        self.rows.last_mut().expect("just added")
    }

    fn ff(&mut self, section: &'static str, what: &str, unit: &'static str, v: f64) {
        self.row(section, what, unit).ff = Some(v);
    }

    fn fate(&mut self, section: &'static str, what: &str, unit: &'static str, v: f64) {
        self.row(section, what, unit).fate = Some(v);
    }

    fn documented(&mut self, section: &'static str, what: &str, unit: &'static str, v: f64) {
        let r = self.row(section, what, unit);
        if r.fate.is_none() {
            r.fate = Some(v);
            r.fate_documented = true;
        }
    }

    fn note(&mut self, s: impl Into<String>) {
        let s = s.into();
        eprintln!("note: {s}");
        self.notes.push(s);
    }
}

fn fmt_value(v: Option<f64>, unit: &str) -> String {
    match v {
        None => "—".into(),
        Some(v) if v.is_nan() => "—".into(),
        Some(v) => {
            let digits = if v.abs() >= 100.0 {
                0
            } else if v.abs() >= 10.0 {
                1
            } else if v.abs() >= 1.0 {
                2
            } else {
                3
            };
            format!("{v:.digits$} {unit}")
        }
    }
}

fn ratio(r: &Row) -> String {
    match (r.ff, r.fate) {
        (Some(ff), Some(fate)) if ff > 0.0 && fate > 0.0 => {
            let x = if r.higher_is_better {
                ff / fate
            } else {
                fate / ff
            };
            if x >= 10.0 {
                format!("{x:.0}×")
            } else {
                format!("{x:.1}×")
            }
        }
        _ => "—".into(),
    }
}

const SECTIONS: [(&str, &str); 5] = [
    ("1", "Scheduling latency"),
    ("2", "Throughput"),
    ("3", "API latency (10,000 jobs in the database)"),
    ("4", "Footprint"),
    (
        "5",
        "A real job: reader → psi → coordinated_lr → evaluation",
    ),
];

fn table(report: &Report) -> String {
    let mut s = String::new();
    for (id, title) in SECTIONS {
        let rows: Vec<&Row> = report.rows.iter().filter(|r| r.section == id).collect();
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(s, "\n### {id}. {title}\n");
        let _ = writeln!(
            s,
            "| | ferroflow | FATE Flow 2.2 | ferroflow ahead by |\n|---|---:|---:|---:|"
        );
        for r in rows {
            let fate = if r.fate_documented {
                format!("{} (documented)", fmt_value(r.fate, r.unit))
            } else {
                fmt_value(r.fate, r.unit)
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                r.what,
                fmt_value(r.ff, r.unit),
                fate,
                ratio(r)
            );
        }
    }
    s
}

fn cmd_out(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("?")
        .trim()
        .to_string();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0 / 1024.0)
        .unwrap_or(0.0);
    format!(
        "{} logical CPUs ({model}), {mem_gib:.1} GiB RAM, {} {}, {}; one process of each server, loopback, SQLite",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        cmd_out("uname", &["-s"]),
        cmd_out("uname", &["-r"]),
        cmd_out("rustc", &["--version"]),
    )
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A `ferroflow serve` process, killed when dropped.
struct FfSite {
    child: tokio::process::Child,
    pid: u32,
    url: String,
    db: PathBuf,
    cold_start_ms: f64,
}

impl FfSite {
    async fn start(dir: &Path, port: u16, pyfate: Option<&Path>) -> Result<FfSite> {
        let exe = crate::ferroflow_exe()?;
        std::fs::create_dir_all(dir)?;
        let conf = dir.join("service_conf.yaml");
        let mut text = format!(
            "computing:\n  standalone:\n    cores: 100000\nupload_dir: {}\n",
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

    async fn stop(mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
        let _ = self.child.start_kill();
    }
}

/// The real FATE Flow started by `bench/fate-flow.sh`, stopped when dropped.
struct FateSite {
    home: PathBuf,
    python: PathBuf,
    pid: u32,
    url: String,
    cold_start_ms: f64,
}

impl FateSite {
    fn script(python: &Path, port: u16, cmd: &str, home: &Path) -> std::process::Command {
        let mut c = std::process::Command::new(repo().join("bench/fate-flow.sh"));
        c.arg(cmd)
            .arg(home)
            .env("FATE_FLOW_PYTHON", python)
            .env("PORT", port.to_string());
        c
    }

    fn start(python: &Path, port: u16, home: &Path) -> Result<FateSite> {
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

    fn db(&self) -> PathBuf {
        self.home.join("fate_flow_sqlite.db")
    }
}

impl Drop for FateSite {
    fn drop(&mut self) {
        let port = self.url.rsplit(':').next().and_then(|p| p.parse().ok());
        let _ = Self::script(&self.python, port.unwrap_or(0), "down", &self.home).output();
    }
}

fn upload_tables(python: &Path, port: u16) -> Result<()> {
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

/// Which side a measurement goes to.
#[derive(Clone, Copy, PartialEq)]
enum Side {
    Ff,
    Fate,
}

fn put(
    report: &mut Report,
    side: Side,
    section: &'static str,
    what: &str,
    unit: &'static str,
    v: f64,
) {
    match side {
        Side::Ff => report.ff(section, what, unit, v),
        Side::Fate => report.fate(section, what, unit, v),
    }
}

/// The workloads both servers run (pyfate's components, FATE's API).
async fn common(
    report: &mut Report,
    side: Side,
    t: &Target,
    db: &Path,
    sizes: &Sizes,
    pyfate: Option<&Path>,
    port: u16,
) -> Result<()> {
    let long = Duration::from_secs(1800);
    if let Some(py) = pyfate {
        let s = Instant::now();
        upload_tables(py, port)?;
        eprintln!(
            "{}: breast_hetero uploaded in {:.1} s",
            t.name,
            s.elapsed().as_secs_f64()
        );

        let n = sizes.pyfate_chain;
        let (dag, edges) = work::pyfate_chain(n);
        eprintln!(
            "{}: pyfate chain (reader + {} psi) x{}",
            t.name,
            n - 1,
            sizes.pyfate_runs
        );
        let r = work::run_jobs(t, &dag, &edges, 0, sizes.pyfate_runs, long).await?;
        let what = "pyfate chain: producer end → next start p50";
        put(report, side, "1", what, "ms", percentile(&r.gaps_ms, 50.0));
        let what = "pyfate chain: producer end → next start p99";
        put(report, side, "1", what, "ms", percentile(&r.gaps_ms, 99.0));
        let what = "pyfate chain: submit → first task start p50";
        put(
            report,
            side,
            "1",
            what,
            "ms",
            percentile(&r.first_start_ms, 50.0),
        );
        let what = "pyfate chain: submit → success p50";
        put(
            report,
            side,
            "1",
            what,
            "s",
            percentile(&r.total_ms, 50.0) / 1000.0,
        );
        let what = "pyfate chain: scheduling overhead (total − tasks' own run)";
        let over: Vec<f64> = r
            .total_ms
            .iter()
            .zip(&r.algo_ms)
            .map(|(a, b)| a - b)
            .collect();
        put(
            report,
            side,
            "1",
            what,
            "s",
            percentile(&over, 50.0) / 1000.0,
        );

        eprintln!("{}: {} queued reader-only jobs", t.name, sizes.reader_jobs);
        let tp = work::throughput(t, &work::pyfate_reader(), sizes.reader_jobs, 2, long).await?;
        let what = format!("{} queued pyfate reader-only jobs", sizes.reader_jobs);
        put(report, side, "2", &what, "jobs/s", tp.jobs_per_sec());
        let what = "server CPU per pyfate reader-only job (server process only)";
        put(
            report,
            side,
            "4",
            what,
            "ms",
            tp.server_cpu_secs * 1000.0 / tp.jobs as f64,
        );

        let (dag, edges) = work::pyfate_lr(sizes.lr_epochs);
        eprintln!(
            "{}: reader → psi → coordinated_lr ({} epochs) → evaluation",
            t.name, sizes.lr_epochs
        );
        let r = work::run_jobs(t, &dag, &edges, 0, 1, long).await?;
        let total = percentile(&r.total_ms, 50.0) / 1000.0;
        let algo = percentile(&r.algo_ms, 50.0) / 1000.0;
        put(
            report,
            side,
            "5",
            "submit → success (wall time)",
            "s",
            total,
        );
        put(
            report,
            side,
            "5",
            "tasks' own run time (sum over the chain, longest party)",
            "s",
            algo,
        );
        put(
            report,
            side,
            "5",
            "scheduling overhead (wall − tasks' own run)",
            "s",
            total - algo,
        );
        let what = "producer end → next start p50";
        put(report, side, "5", what, "ms", percentile(&r.gaps_ms, 50.0));
        if let Some(rss) = work::peak_rss_mib(t.pid) {
            put(
                report,
                side,
                "4",
                "server peak RSS over the run (VmHWM)",
                "MiB",
                rss,
            );
        }
    }

    // API latency over 10,000 jobs.
    let ids = work::fill_jobs(db, 10_000, "2099").await?;
    let requests = match side {
        Side::Ff => sizes.api_requests_ff,
        Side::Fate => sizes.api_requests_fate,
    };
    let jobs = Arc::new(work::job_queries(&ids));
    let lists = Arc::new(work::list_queries());
    for clients in [1usize, 8, 64] {
        for (path, qs) in [("/job/query", &jobs), ("/job/list/query", &lists)] {
            eprintln!("{}: GET {path} x{requests}, {clients} clients", t.name);
            let (p50, p99, rps) = work::api_latency(t, path, qs.clone(), clients, requests).await?;
            let c = if clients == 1 { "client" } else { "clients" };
            put(
                report,
                side,
                "3",
                &format!("`{path}` {clients} {c}: p50"),
                "ms",
                p50,
            );
            put(
                report,
                side,
                "3",
                &format!("`{path}` {clients} {c}: p99"),
                "ms",
                p99,
            );
            put(
                report,
                side,
                "3",
                &format!("`{path}` {clients} {c}: throughput"),
                "req/s",
                rps,
            );
        }
    }
    report.note(format!(
        "{}: {requests} requests per API row{}",
        t.name,
        if requests < 20_000 {
            " (20,000 in the full run; fewer in --quick to stay under 10 minutes)"
        } else {
            ""
        }
    ));
    Ok(())
}

/// What only ferroflow runs: the demo provider's trivial tasks (no Python), in numbers FATE
/// Flow could not take in the time.
async fn ferroflow_only(report: &mut Report, t: &Target, sizes: &Sizes) -> Result<()> {
    let long = Duration::from_secs(3600);
    let n = 10;
    let (dag, edges) = work::demo_chain(n, 0.0);
    eprintln!("ferroflow: demo chain of {n} x{}", sizes.chain_runs);
    let r = work::run_jobs(t, &dag, &edges, 1, sizes.chain_runs, long).await?;
    let w = "demo chain of 10 (no Python): producer end → next start p50";
    report.ff("1", w, "ms", percentile(&r.gaps_ms, 50.0));
    report.ff(
        "1",
        "demo chain: producer end → next start p99",
        "ms",
        percentile(&r.gaps_ms, 99.0),
    );
    report.ff(
        "1",
        "demo chain: submit → first task start p50",
        "ms",
        percentile(&r.first_start_ms, 50.0),
    );
    report.ff(
        "1",
        "demo chain: submit → success p50",
        "s",
        percentile(&r.total_ms, 50.0) / 1000.0,
    );

    let (one, _) = work::demo_chain(1, 0.0);
    let mut per_job = Vec::new();
    for &q in &sizes.queues {
        eprintln!("ferroflow: {q} queued one-task demo jobs");
        let tp = work::throughput(t, &one, q, 2, long).await?;
        report.ff(
            "2",
            &format!("{q} queued one-task demo jobs (no Python)"),
            "jobs/s",
            tp.jobs_per_sec(),
        );
        report.ff(
            "2",
            &format!("{q} queued: time per job"),
            "ms",
            1000.0 / tp.jobs_per_sec(),
        );
        per_job.push(1000.0 / tp.jobs_per_sec());
        report.note(format!(
            "ferroflow: {q} jobs submitted in {:.1} s (8 at a time)",
            tp.submit_secs
        ));
        if q == 1000 {
            report.ff(
                "4",
                "server CPU per one-task demo job",
                "ms",
                tp.server_cpu_secs * 1000.0 / q as f64,
            );
        }
    }
    if per_job.len() >= 2 {
        report.note(format!(
            "ferroflow: time per job grows {:.2}× from {} to {} queued jobs",
            per_job[per_job.len() - 1] / per_job[0],
            sizes.queues[0],
            sizes.queues[sizes.queues.len() - 1]
        ));
    }
    Ok(())
}

/// RSS with `tasks` tasks running at once (demo_sleep over two parties), then all stopped.
async fn running_footprint(report: &mut Report, t: &Target, tasks: usize) -> Result<()> {
    let jobs = tasks / 2;
    let (dag, _) = work::demo_chain(1, 120.0);
    eprintln!("ferroflow: {jobs} jobs x 2 parties of demo_sleep(120) running at once");
    let results: Vec<Result<String>> = futures::stream::iter(0..jobs)
        .map(|_| t.submit(&dag))
        .buffer_unordered(8)
        .collect()
        .await;
    let ids: Vec<String> = results.into_iter().collect::<Result<_>>()?;
    let started = Instant::now();
    let mut running = 0;
    while started.elapsed() < Duration::from_secs(300) {
        let v: serde_json::Value = t
            .http
            .get(format!("{}/v2/job/task/list/query", t.url))
            .query(&[("status", "running"), ("limit", "1"), ("page", "1")])
            .send()
            .await?
            .json()
            .await?;
        running = v["data"]["count"].as_u64().unwrap_or(0) as usize;
        if running >= tasks {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss = work::rss_mib(t.pid).unwrap_or(f64::NAN);
    report.ff(
        "4",
        &format!("server RSS with {tasks} tasks running"),
        "MiB",
        rss,
    );
    if running < tasks {
        report.note(format!(
            "ferroflow: only {running} of {tasks} tasks were running when RSS was read"
        ));
    }
    let _: Vec<Result<()>> = futures::stream::iter(ids.iter())
        .map(|id| t.stop(id))
        .buffer_unordered(8)
        .collect()
        .await;
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline && t.count("running").await? > 0 {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}

fn documented(report: &mut Report) {
    // shared/reference README: FATE Flow 2.2 on a 2-core machine, untraced, medians.
    report.documented(
        "1",
        "pyfate chain: producer end → next start p50",
        "ms",
        176.0,
    );
    report.documented(
        "1",
        "pyfate chain: submit → first task start p50",
        "ms",
        1930.0,
    );
    report.documented("3", "`/job/query` 1 client: p50", "ms", 5.1);
    report.documented("3", "`/job/query` 1 client: p99", "ms", 8.3);
    report.documented("3", "`/job/query` 8 clients: p50", "ms", 35.7);
    report.documented("3", "`/job/query` 8 clients: p99", "ms", 63.3);
    report.documented("4", "server RSS idle", "MiB", 99.5);
    report.documented("4", "server peak RSS over the run (VmHWM)", "MiB", 103.0);
    report.documented("5", "submit → success (wall time)", "s", 97.3);
}

pub async fn run(args: Args) -> Result<()> {
    let began = Instant::now();
    let sizes = Sizes::new(args.quick);
    let tmp = tempfile::tempdir()?;
    let work_dir = args
        .work_dir
        .clone()
        .unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&work_dir)?;
    let mut report = Report::default();
    let pyfate = args.pyfate_python.as_deref();
    if pyfate.is_none() {
        report.note("no --pyfate-python: the pyfate workloads were not run");
    }

    // ferroflow
    let ff_dir = work_dir.join("ferroflow");
    let _ = std::fs::remove_dir_all(&ff_dir);
    let site = FfSite::start(&ff_dir, args.port, pyfate).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    report.ff(
        "4",
        "cold start → first answered request",
        "ms",
        site.cold_start_ms,
    );
    report.ff(
        "4",
        "server RSS idle",
        "MiB",
        work::rss_mib(site.pid).unwrap_or(f64::NAN),
    );
    let t = Target::new("ferroflow", &site.url, site.pid, Duration::from_millis(20));
    ferroflow_only(&mut report, &t, &sizes).await?;
    common(
        &mut report,
        Side::Ff,
        &t,
        &site.db,
        &sizes,
        pyfate,
        args.port,
    )
    .await?;
    running_footprint(&mut report, &t, sizes.running_tasks).await?;
    report.ff(
        "4",
        "server peak RSS over the run (VmHWM)",
        "MiB",
        work::peak_rss_mib(site.pid).unwrap_or(f64::NAN),
    );
    site.stop().await;
    let ff_secs = began.elapsed().as_secs_f64();

    // FATE Flow
    let mut fate_secs = 0.0;
    if let Some(py) = &args.fate_flow_python {
        let s = Instant::now();
        let port = args.port + 80;
        let fate = FateSite::start(py, port, &work_dir.join("fate-flow"))?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        report.fate(
            "4",
            "cold start → first answered request",
            "ms",
            fate.cold_start_ms,
        );
        report.fate(
            "4",
            "server RSS idle",
            "MiB",
            work::rss_mib(fate.pid).unwrap_or(f64::NAN),
        );
        let t = Target::new("FATE Flow", &fate.url, fate.pid, Duration::from_millis(100));
        let r = common(
            &mut report,
            Side::Fate,
            &t,
            &fate.db(),
            &sizes,
            pyfate,
            port,
        )
        .await;
        if let Err(e) = r {
            report.note(format!(
                "FATE Flow: a workload failed, the rest of its column is missing: {e:#}"
            ));
        }
        drop(fate);
        fate_secs = s.elapsed().as_secs_f64();
    } else {
        report.note("no --fate-flow-python: FATE Flow's column holds documented figures only");
    }
    documented(&mut report);

    let total = began.elapsed().as_secs_f64();
    let tbl = table(&report);
    println!("{tbl}");
    for n in &report.notes {
        println!("- {n}");
    }
    let md = markdown(&args, &report, &tbl, total, ff_secs, fate_secs);
    if let Some(parent) = args.out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&args.out, md)?;
    eprintln!("wrote {} after {:.0} s", args.out.display(), total);
    Ok(())
}

fn markdown(args: &Args, report: &Report, tbl: &str, total: f64, ff: f64, fate: f64) -> String {
    let mode = if args.quick { "--quick" } else { "full" };
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Performance: ferroflow and FATE Flow 2.2, side by side\n"
    );
    let _ = writeln!(
        s,
        "Generated by `{}` (`bench/`, mode {mode}) on {} UTC; the run took {:.0} s \
         (ferroflow {:.0} s, FATE Flow {:.0} s). Do not edit by hand: run it again.\n",
        args.command,
        chrono::Utc::now().format("%Y-%m-%d %H:%M"),
        total,
        ff,
        fate
    );
    let _ = writeln!(s, "**Machine:** {}.\n", machine());
    // Read at run time, so that the prose can be corrected without rebuilding.
    s.push_str(&std::fs::read_to_string(repo().join("bench/method.md")).unwrap_or_default());
    s.push_str("\n## Results\n");
    s.push_str(tbl);
    if !report.notes.is_empty() {
        s.push_str("\n## Notes of this run\n\n");
        for n in &report.notes {
            let _ = writeln!(s, "- {n}");
        }
    }
    s
}

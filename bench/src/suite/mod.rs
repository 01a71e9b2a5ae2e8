//! `ferroflow-bench suite`: every workload against a `ferroflow serve` and, when a FATE Flow
//! 2.2 venv is given, against the real FATE Flow on the same machine, one after the other;
//! then the table (both figures and their ratio) printed and written as Markdown.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::work::{self, Target};

mod report;
pub(crate) mod sites;
mod workloads;

use report::{Report, Side, markdown, table};
use sites::{FateSite, FfSite};
use workloads::{common, documented, ferroflow_only, running_footprint};

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

pub(super) struct Sizes {
    pub(super) chain_runs: usize,
    pub(super) pyfate_chain: usize,
    pub(super) pyfate_runs: usize,
    pub(super) lr_epochs: u32,
    pub(super) reader_jobs: usize,
    pub(super) queues: Vec<usize>,
    pub(super) api_requests_ff: usize,
    pub(super) api_requests_fate: usize,
    pub(super) running_tasks: usize,
}

impl Sizes {
    pub(super) fn new(quick: bool) -> Self {
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

/// `ferroflow-bench query`: workload 3's `/v2/job/query` alone, against the `ferroflow` next
/// to this binary (copy another build's `ferroflow` there to compare two servers with the same
/// client): one demo job, copied to 10,000 jobs, then `requests` GETs per client count.
pub async fn query(requests: usize, clients: &[usize], port: u16) -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let site = FfSite::start(tmp.path(), port, None).await?;
    let t = Target::new("ferroflow", &site.url, site.pid, Duration::from_millis(20));
    let (dag, _) = work::demo_chain(1, 0.0);
    let job = t.submit(&dag).await?;
    t.wait(&job, Duration::from_secs(120)).await?;
    let ids = work::fill_jobs(&site.db, 10_000, "2099").await?;
    let jobs = std::sync::Arc::new(work::job_queries(&ids));
    for &c in clients {
        let (p50, p99, rps) =
            work::api_latency(&t, "/job/query", jobs.clone(), c, requests).await?;
        println!(
            "/v2/job/query {c} client(s), {requests} requests: p50 {p50:.2} ms, p99 {p99:.2} ms, {rps:.0} req/s"
        );
    }
    site.stop().await;
    Ok(())
}

/// A server's cold start, and its RSS once it has settled for a second.
async fn started(report: &mut Report, side: Side, cold_start_ms: f64, pid: u32) {
    let what = "cold start → first answered request";
    report::put(report, side, "4", what, "ms", cold_start_ms);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss = work::rss_mib(pid).unwrap_or(f64::NAN);
    report::put(report, side, "4", "server RSS idle", "MiB", rss);
}

/// The heading of `docs/performance.md`'s section written from `ferroflow-bench security`'s
/// figures; a suite run keeps it and what follows it (`ferroflow-bench instances`' section).
pub const SECURITY_SECTION: &str = "## What security costs";

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
    started(&mut report, Side::Ff, site.cold_start_ms, site.pid).await;
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
        started(&mut report, Side::Fate, fate.cold_start_ms, fate.pid).await;
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
    let mut md = markdown(&args, &report, &tbl, total, ff_secs, fate_secs);
    // The security section and the databases-and-instances one come from their own workloads
    // (`ferroflow-bench security`, `instances`): kept.
    if let Ok(old) = std::fs::read_to_string(&args.out)
        && let Some(at) = old.find(SECURITY_SECTION)
    {
        md.push('\n');
        md.push_str(&old[at..]);
    }
    if let Some(parent) = args.out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&args.out, md)?;
    eprintln!("wrote {} after {:.0} s", args.out.display(), total);
    Ok(())
}

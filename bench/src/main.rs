//! Benchmarks (not tests): prints figures, never asserts on them.
//!
//! `suite`: every workload of `docs/performance.md` against a `ferroflow serve` and, given
//! its venv, the real FATE Flow 2.2 on the same machine; writes the report. `bench/run`
//! builds and runs it (`bench/run --quick`: under 10 minutes on 2 cores).
//!
//! `chain`: a chain of 10 `demo_sleep seconds: 0` tasks over guest 9999 and host 10000 on one
//! standalone site with the real process launcher. Prints submit-to-success time and, per
//! task, the gap between its producer ending (the last party's end) and its own start.
//!
//! Run: `cargo run --release -p ferroflow-bench -- chain --runs 5`
//!
//! `query`: workload 3's `/v2/job/query` alone (10,000 jobs; 1 and 8 clients by default)
//! against the `ferroflow` binary next to this one, so two servers can be compared with the
//! same client.
//!
//! `upload`: a generated CSV of `--size-mb` MB uploaded to a `ferroflow serve` process through
//! `/v2/data/component/upload/file` (multipart, streamed from disk) or, with `--via file`,
//! `/v2/data/component/upload` (a file already on the server). Prints the throughput from the
//! request to the upload job's success, and the peak RSS (`VmHWM`) of the server process and
//! of the upload component's process: neither may grow with the file.
//!
//! Run: `cargo run --release -p ferroflow-bench -- upload --size-mb 1024`
//!
//! `security`: authentication off vs on in one run — `/v2/job/query` p50/p99 at 1 and 8
//! clients and a chain's producer-end → next-start gap (`security.rs`).
//!
//! Run: `cargo run --release -p ferroflow-bench -- security`
//!
//! `instances`: throughput and `/v2/job/query` latency on SQLite, PostgreSQL and MariaDB with
//! one instance and on PostgreSQL with two; the failover time of a killed instance
//! (`instances.rs`).
//!
//! Run: `cargo run --release -p ferroflow-bench -- instances`
//!
//! `dashboard`: the dashboard's page requests on a site holding `--jobs` jobs (`dashboard.rs`).
//!
//! Run: `cargo run --release -p ferroflow-bench -- dashboard --jobs 10000`

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use serde_json::{Value, json};

use ferroflow::client::Client;
use ferroflow_server::config::{Config, Overrides};
use ferroflow_server::{Options, Site};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// A chain of demo_sleep(0) tasks over two parties.
    Chain {
        #[arg(long, default_value_t = 5)]
        runs: usize,
        #[arg(long, default_value_t = 10)]
        tasks: usize,
    },
    /// Many queued jobs of demo_sleep(0) tasks over two parties on one `ferroflow serve`.
    Load {
        #[arg(long, default_value_t = 1000)]
        jobs: usize,
        #[arg(long, default_value_t = 3)]
        tasks: usize,
        /// Cores of the site's computing engine (each two-party job takes 2 x 4).
        #[arg(long, default_value_t = 32)]
        site_cores: i64,
    },
    /// `/v2/job/query` over 10,000 jobs on the `ferroflow serve` next to this binary.
    Query {
        #[arg(long, default_value_t = 4000)]
        requests: usize,
        #[arg(long, value_delimiter = ',', default_value = "1,8")]
        clients: Vec<usize>,
        #[arg(long, default_value_t = 29390)]
        port: u16,
    },
    /// Every workload against ferroflow and (with its venv) FATE Flow 2.2; writes the report.
    Suite(suite::Args),
    /// The dashboard's page requests on a site holding many jobs.
    Dashboard {
        #[arg(long, default_value_t = 10_000)]
        jobs: usize,
        #[arg(long, default_value_t = 50)]
        runs: usize,
    },
    /// What security costs: authentication off vs on, in one run (`security.rs`).
    Security {
        #[arg(long, default_value_t = 4000)]
        requests: usize,
        #[arg(long, value_delimiter = ',', default_value = "1,8")]
        clients: Vec<usize>,
        #[arg(long, default_value_t = 5)]
        runs: usize,
        #[arg(long, default_value_t = 10)]
        tasks: usize,
    },
    /// The store's backends and two instances of one site; failover (`instances.rs`).
    Instances(instances::Args),
    /// Upload a generated CSV and report MB/s and peak memory.
    Upload {
        #[arg(long, default_value_t = 1024)]
        size_mb: u64,
        /// `multipart` (upload/file, streamed) or `file` (a file on the server).
        #[arg(long, default_value = "multipart")]
        via: String,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.bench {
        Bench::Chain { runs, tasks } => rt.block_on(chain(runs, tasks)),
        Bench::Query {
            requests,
            clients,
            port,
        } => rt.block_on(suite::query(requests, &clients, port)),
        Bench::Load {
            jobs,
            tasks,
            site_cores,
        } => rt.block_on(load(jobs, tasks, site_cores)),
        Bench::Upload { size_mb, via } => rt.block_on(upload::run(size_mb, &via)),
        Bench::Suite(args) => rt.block_on(suite::run(args)),
        Bench::Instances(args) => rt.block_on(instances::run(args)),
        Bench::Dashboard { jobs, runs } => rt.block_on(dashboard::run(jobs, runs)),
        Bench::Security {
            requests,
            clients,
            runs,
            tasks,
        } => rt.block_on(security::run(requests, &clients, runs, tasks)),
    }
}

/// The `ferroflow` binary built next to this one runs the demo components.
fn ferroflow_exe() -> Result<PathBuf> {
    let me = std::env::current_exe()?;
    let exe = me.with_file_name("ferroflow");
    if !exe.exists() {
        bail!(
            "{} not found: build the ferroflow binary first (cargo build --release -p ferroflow)",
            exe.display()
        );
    }
    Ok(exe)
}

mod dashboard;
mod instances;
mod security;
mod suite;
mod upload;
mod work;

fn chain_dag(n: usize) -> Value {
    let mut tasks = serde_json::Map::new();
    for i in 0..n {
        let mut t = json!({"component_ref": "demo_sleep", "parameters": {"seconds": 0}});
        if i > 0 {
            t["inputs"] = json!({"data": {"input_data": {"task_output_artifact": {
                "producer_task": format!("t{}", i - 1), "output_artifact_key": "output_data"}}}});
        }
        tasks.insert(format!("t{i}"), t);
    }
    json!({
        "schema_version": "2.2.0",
        "dag": {
            "parties": [{"role": "guest", "party_id": ["9999"]}, {"role": "host", "party_id": ["10000"]}],
            "conf": {"task": {"provider": "demo:*@local"}},
            "stage": "default",
            "tasks": tasks,
        }
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// A standalone site in `dir`, in this process, with the demo provider run by the `ferroflow`
/// binary next to this one.
async fn demo_site(dir: &std::path::Path) -> Result<Site> {
    let exe = ferroflow_exe()?;
    let config = Config::load(
        None,
        &Overrides {
            port: Some(0),
            data_dir: Some(dir.to_path_buf()),
            ..Default::default()
        },
    )?;
    let mut opts = Options::new(config);
    opts.builtins = ferroflow::demo_provider(&exe.to_string_lossy());
    Ok(Site::start(opts, tokio::net::TcpListener::bind("127.0.0.1:0").await?).await?)
}

async fn chain(runs: usize, n: usize) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let site = demo_site(dir.path()).await?;
    let client = Client::new(&site.url);

    let mut totals = Vec::new();
    let mut gaps = Vec::new();
    let mut first_starts = Vec::new();
    // One warm-up run so that the binary and the database are in the page cache.
    for run in 0..=runs {
        let started = Instant::now();
        let job = client.submit(&chain_dag(n)).await?;
        let submitted_ms =
            chrono::Utc::now().timestamp_millis() - started.elapsed().as_millis() as i64;
        let status = client
            .wait(&job, Duration::from_secs(120), |_| {})
            .await
            .context("waiting for the chain")?;
        let total = started.elapsed().as_secs_f64() * 1000.0;
        if status != "success" {
            bail!("job {job} ended {status}");
        }
        if run == 0 {
            continue;
        }
        totals.push(total);
        let tasks = client.tasks(&job).await?;
        let time = |name: &str, key: &str| -> Vec<i64> {
            tasks
                .iter()
                .filter(|t| t["task_name"] == name)
                .filter_map(|t| t[key].as_i64())
                .collect()
        };
        first_starts
            .push((time("t0", "start_time").into_iter().min().unwrap_or(0) - submitted_ms) as f64);
        for i in 1..n {
            let producer_end = time(&format!("t{}", i - 1), "end_time")
                .into_iter()
                .max()
                .unwrap_or(0);
            for start in time(&format!("t{i}"), "start_time") {
                gaps.push((start - producer_end) as f64);
            }
        }
    }
    site.shutdown().await;

    for v in [&mut totals, &mut gaps, &mut first_starts] {
        v.sort_by(|a, b| a.total_cmp(b));
    }
    println!(
        "chain of {n} demo_sleep(seconds: 0) tasks, guest 9999 + host 10000, one standalone site, {runs} runs"
    );
    println!("(each task is a real `ferroflow component execute` process per party)\n");
    println!("{:<44} {:>10} {:>10}", "", "p50", "p99");
    println!(
        "{:<44} {:>8.1}ms {:>8.1}ms",
        "submit -> success (whole chain)",
        percentile(&totals, 50.0),
        percentile(&totals, 99.0)
    );
    println!(
        "{:<44} {:>8.1}ms {:>8.1}ms",
        "submit -> first task started",
        percentile(&first_starts, 50.0),
        percentile(&first_starts, 99.0)
    );
    println!(
        "{:<44} {:>8.1}ms {:>8.1}ms   (n = {})",
        "producer ended -> next task started",
        percentile(&gaps, 50.0),
        percentile(&gaps, 99.0),
        gaps.len()
    );
    println!(
        "\nFATE Flow 2.2 on a 2-core machine (shared/reference README): producer ended -> next task"
    );
    println!("started 176-553 ms; job create -> first task start 1.93 s (2 s scheduling tick).");
    let p50 = percentile(&gaps, 50.0).max(1.0);
    println!(
        "ratio (FATE's best case 176 ms / ferroflow p50): {:.0}x",
        176.0 / p50
    );
    Ok(())
}

/// Peak resident memory of a process, from `/proc/<pid>/status` (kB).
fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// A quantile from a Prometheus histogram in text format (the bucket's upper bound).
fn histogram_quantile(text: &str, name: &str, q: f64) -> Option<f64> {
    let mut buckets: Vec<(f64, f64)> = Vec::new();
    for line in text
        .lines()
        .filter(|l| l.starts_with(&format!("{name}_bucket")))
    {
        let le = line.split("le=\"").nth(1)?.split('"').next()?;
        let count: f64 = line.rsplit(' ').next()?.parse().ok()?;
        let bound = if le == "+Inf" {
            f64::INFINITY
        } else {
            le.parse().ok()?
        };
        buckets.push((bound, count));
    }
    let total = buckets.last()?.1;
    if total == 0.0 {
        return None;
    }
    buckets
        .iter()
        .find(|(_, c)| *c >= q * total)
        .map(|(b, _)| *b)
}

async fn load(jobs: usize, tasks: usize, site_cores: i64) -> Result<()> {
    let exe = ferroflow_exe()?;
    let dir = tempfile::tempdir()?;
    let conf = dir.path().join("service_conf.yaml");
    std::fs::write(
        &conf,
        format!("computing:\n  standalone:\n    cores: {site_cores}\n"),
    )?;
    let mut child = tokio::process::Command::new(&exe)
        .args(["serve", "--port", "0", "--data-dir"])
        .arg(dir.path().join("site"))
        .arg("--config")
        .arg(&conf)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().context("server pid")?;
    let stdout = child.stdout.take().context("server stdout")?;
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
    let url = loop {
        let line = lines.next_line().await?.context("server exited")?;
        if let Some(i) = line.find("http://") {
            break line[i..]
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let client = Client::new(&url);
    let idle_rss = peak_rss_kb(pid).unwrap_or(0);

    let started = Instant::now();
    let dag = chain_dag(tasks);
    let mut ids = Vec::with_capacity(jobs);
    let mut submits = futures_stream(&client, &dag, jobs).await?;
    ids.append(&mut submits);
    let submitted = started.elapsed();
    let http = reqwest::Client::new();
    let done_at = loop {
        let v: Value = http
            .get(format!("{url}/v2/job/list/query"))
            .query(&[("status", "success"), ("limit", "1")])
            .send()
            .await?
            .json()
            .await?;
        let failed: Value = http
            .get(format!("{url}/v2/job/list/query"))
            .query(&[("status", "failed"), ("limit", "1")])
            .send()
            .await?
            .json()
            .await?;
        if failed["data"]["count"].as_u64().unwrap_or(0) > 0 {
            bail!("a job failed");
        }
        if v["data"]["count"].as_u64().unwrap_or(0) >= (jobs * 2) as u64 {
            break started.elapsed();
        }
        if started.elapsed() > Duration::from_secs(3600) {
            bail!("not done after an hour");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let metrics = http
        .get(format!("{url}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let peak_rss = peak_rss_kb(pid).unwrap_or(0);
    let _ = child.start_kill();
    let ms = |v: Option<f64>| {
        v.map(|s| format!("{:.3} ms", s * 1000.0))
            .unwrap_or_else(|| "-".into())
    };
    println!(
        "{jobs} queued jobs of {tasks} demo_sleep(seconds: 0) tasks, guest 9999 + host 10000,"
    );
    println!(
        "one `ferroflow serve` with SQLite, site cores {site_cores} (job cores 4 per party)\n"
    );
    println!(
        "{:<44} {:>12}",
        "all jobs submitted in",
        format!("{:.2} s", submitted.as_secs_f64())
    );
    println!(
        "{:<44} {:>12}",
        "all jobs succeeded in",
        format!("{:.2} s", done_at.as_secs_f64())
    );
    println!(
        "{:<44} {:>12}",
        "throughput",
        format!("{:.1} jobs/s", jobs as f64 / done_at.as_secs_f64())
    );
    println!(
        "{:<44} {:>12}",
        "task runs launched",
        format!("{}", jobs * tasks * 2)
    );
    println!(
        "{:<44} {:>12}",
        "site RSS idle / peak",
        format!("{} / {} MiB", idle_rss / 1024, peak_rss / 1024)
    );
    for (label, name) in [
        (
            "decision (pure) p50 / p99",
            "ferroflow_schedule_decide_seconds",
        ),
        (
            "scheduling step p50 / p99",
            "ferroflow_schedule_step_seconds",
        ),
        ("admission pass p50 / p99", "ferroflow_admission_seconds"),
    ] {
        let p50 = ms(histogram_quantile(&metrics, name, 0.5));
        let p99 = ms(histogram_quantile(&metrics, name, 0.99));
        println!("{label:<44} {:>12}", format!("{p50} / {p99}"));
    }
    println!("\n(histogram quantiles are bucket upper bounds, within ~26%)");
    println!(
        "FATE Flow 2.2 admits at most one waiting job per 2 s scheduling tick: <= 0.5 jobs/s."
    );
    Ok(())
}

/// Submits `n` copies of a DAG, 8 at a time; the job ids in order.
async fn futures_stream(client: &Client, dag: &Value, n: usize) -> Result<Vec<String>> {
    use futures::StreamExt;
    let results: Vec<Result<String>> = futures::stream::iter(0..n)
        .map(|_| async { client.submit(dag).await })
        .buffered(8)
        .collect()
        .await;
    results.into_iter().collect()
}

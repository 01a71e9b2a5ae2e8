//! `instances`: the store's backends and several instances of one site, in one run.
//!
//! For SQLite, PostgreSQL and MariaDB with one `ferroflow serve`, and PostgreSQL with two
//! instances (`instance.leases`) sharing the database and the data directory: the throughput
//! of `--jobs` queued three-task demo jobs (guest 9999 + host 10000, `demo_sleep seconds: 0`,
//! submitted 8 at a time, spread over the instances), then `/v2/job/query` p50/p99 at
//! `--clients` clients over those jobs. Then failover: two instances on PostgreSQL behind a
//! TCP front, `--failover-jobs` jobs spread over both, one instance killed with -9; the time
//! from the kill until the other holds the first, and the last, of the jobs the dead one held
//! (read from `t_schedule_lease`), and whether every job succeeded.
//!
//! PostgreSQL and MariaDB are the test suite's servers (`crates/server/tests/it/dbserver.rs`:
//! Debian's packages, started in a temporary directory, durability settings off).
//!
//! Run: `cargo run --release -p ferroflow-bench -- instances`

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};

use ferroflow_core::id::JobId;
use ferroflow_server::store::Store;

#[path = "../../crates/server/tests/it/dbserver.rs"]
mod dbserver;

use dbserver::Backend;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = 1000)]
    jobs: usize,
    #[arg(long, default_value_t = 4000)]
    requests: usize,
    #[arg(long, default_value_t = 8)]
    clients: usize,
    #[arg(long, default_value_t = 200)]
    failover_jobs: usize,
    /// Cores of the site's computing engine (each two-party job takes 2 x 4).
    #[arg(long, default_value_t = 32)]
    site_cores: i64,
}

/// One `ferroflow serve`.
struct Instance {
    child: tokio::process::Child,
    url: String,
}

async fn serve(exe: &Path, data: &Path, conf: &Path) -> Result<Instance> {
    let mut child = tokio::process::Command::new(exe)
        .args(["serve", "--port", "0", "--data-dir"])
        .arg(data)
        .arg("--config")
        .arg(conf)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
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
    Ok(Instance { child, url })
}

/// A TCP front: each connection to the next instance that accepts it.
fn front(listener: TcpListener, backends: Vec<String>) {
    let next = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let (backends, next) = (backends.clone(), next.clone());
            tokio::spawn(async move {
                let first = next.fetch_add(1, Ordering::Relaxed);
                for i in 0..backends.len() {
                    if let Ok(mut out) =
                        TcpStream::connect(&backends[(first + i) % backends.len()]).await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                        return;
                    }
                }
            });
        }
    });
}

/// A site of `n` instances on `backend`: their processes, and the database URL.
async fn site(
    exe: &Path,
    dir: &Path,
    backend: Backend,
    n: usize,
    cores: i64,
) -> Result<(Vec<Instance>, String)> {
    let url = backend.fresh_url(dir);
    let db = match backend {
        Backend::Sqlite => format!(
            "database:\n  engine: sqlite\n  sqlite:\n    path: {}\n",
            url.trim_start_matches("sqlite://")
        ),
        _ => db_section(backend, &url),
    };
    let front_listener = TcpListener::bind("127.0.0.1:0").await?;
    let front_addr = front_listener.local_addr()?.to_string();
    let data = dir.join("shared");
    let mut instances = Vec::new();
    for i in 0..n {
        let mut conf = format!("{db}computing:\n  standalone:\n    cores: {cores}\n");
        if n > 1 {
            conf.push_str(&format!(
                "instance:\n  id: i{i}\n  leases: true\n  front: {front_addr}\n"
            ));
        }
        let path = dir.join(format!("service_conf_{i}.yaml"));
        std::fs::write(&path, conf)?;
        instances.push(serve(exe, &data, &path).await?);
    }
    if n > 1 {
        front(
            front_listener,
            instances
                .iter()
                .map(|i| i.url.trim_start_matches("http://").to_string())
                .collect(),
        );
    }
    Ok((instances, url))
}

/// The `database` section of a server URL (`scheme://user:pw@host:port/name`).
fn db_section(backend: Backend, url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let (creds, hostport_db) = rest.split_once('@').unwrap_or(("", rest));
    let (user, pw) = creds.split_once(':').unwrap_or((creds, ""));
    let (hostport, name) = hostport_db.split_once('/').unwrap_or((hostport_db, ""));
    let (host, port) = hostport.split_once(':').unwrap_or((hostport, ""));
    let engine = backend.engine();
    format!(
        "database:\n  engine: {engine}\n  {engine}:\n    name: {name}\n    user: {user}\n    \
         passwd: {pw}\n    host: {host}\n    port: {port}\n    max_connections: 8\n"
    )
}

async fn submit_all(
    http: &reqwest::Client,
    urls: &[String],
    dag: &Value,
    n: usize,
) -> Result<Vec<(usize, String)>> {
    let results: Vec<Result<(usize, String)>> = futures::stream::iter(0..n)
        .map(|i| async move {
            let at = i % urls.len();
            let v: Value = http
                .post(format!("{}/v2/job/submit", urls[at]))
                .json(&serde_json::json!({"dag_schema": dag}))
                .send()
                .await?
                .json()
                .await?;
            match v["job_id"].as_str() {
                Some(id) if v["code"] == 0 => Ok((at, id.to_string())),
                _ => bail!("submit refused: {v}"),
            }
        })
        .buffered(8)
        .collect()
        .await;
    results.into_iter().collect()
}

async fn count(http: &reqwest::Client, url: &str, status: &str) -> Result<u64> {
    let v: Value = http
        .get(format!("{url}/v2/job/list/query"))
        .query(&[("status", status), ("limit", "1")])
        .send()
        .await?
        .json()
        .await?;
    Ok(v["data"]["count"].as_u64().unwrap_or(0))
}

/// Waits until `jobs` jobs (two parties each) succeeded; fails on the first failed job.
async fn wait_all(http: &reqwest::Client, url: &str, jobs: usize) -> Result<()> {
    let started = Instant::now();
    loop {
        if count(http, url, "failed").await? > 0 {
            bail!("a job failed");
        }
        if count(http, url, "success").await? >= (jobs * 2) as u64 {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(3600) {
            bail!("not done after an hour");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `/v2/job/query?job_id=` latencies (ms) at `clients` clients, spread over the instances.
async fn query(
    http: &reqwest::Client,
    urls: &[String],
    jobs: &[String],
    requests: usize,
    clients: usize,
) -> Result<Vec<f64>> {
    let results: Vec<Result<f64>> = futures::stream::iter(0..requests)
        .map(|i| async move {
            let url = &urls[i % urls.len()];
            let job = &jobs[(i * 7919) % jobs.len()];
            let t = Instant::now();
            let v = job_query(http, url, job.as_str()).await?;
            if v["code"] != 0 {
                bail!("query failed: {v}");
            }
            Ok(t.elapsed().as_secs_f64() * 1000.0)
        })
        .buffer_unordered(clients)
        .collect()
        .await;
    let mut ms: Vec<f64> = results.into_iter().collect::<Result<_>>()?;
    ms.sort_by(|a, b| a.total_cmp(b));
    Ok(ms)
}

/// `/v2/job/query?job_id=` on one instance: its envelope.
async fn job_query(http: &reqwest::Client, url: &str, job: &str) -> Result<Value> {
    Ok(http
        .get(format!("{url}/v2/job/query"))
        .query(&[("job_id", job)])
        .send()
        .await?
        .json()
        .await?)
}

/// Whether every party of the job succeeded.
async fn ended(http: &reqwest::Client, url: &str, job: &JobId) -> Result<bool> {
    let v = job_query(http, url, job.as_str()).await?;
    let rows = v["data"].as_array().cloned().unwrap_or_default();
    Ok(!rows.is_empty() && rows.iter().all(|r| r["status"] == "success"))
}

fn exe() -> Result<PathBuf> {
    super::ferroflow_exe()
}

pub async fn run(args: Args) -> Result<()> {
    let exe = exe()?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .pool_max_idle_per_host(64)
        .build()?;
    let dag = super::chain_dag(3);
    println!(
        "{} queued jobs of 3 demo_sleep(seconds: 0) tasks, guest 9999 + host 10000, site cores {};",
        args.jobs, args.site_cores
    );
    println!(
        "then /v2/job/query?job_id= over them, {} requests at {} clients\n",
        args.requests, args.clients
    );
    println!(
        "| database | instances | throughput | time per job | /v2/job/query p50 | p99 |\n|---|---|---|---|---|---|"
    );
    for (name, backend, n) in [
        ("SQLite", Backend::Sqlite, 1),
        ("PostgreSQL", Backend::Postgres, 1),
        ("MariaDB", Backend::MariaDb, 1),
        ("PostgreSQL", Backend::Postgres, 2),
    ] {
        let dir = tempfile::tempdir()?;
        let (instances, _) = site(&exe, dir.path(), backend, n, args.site_cores).await?;
        let urls: Vec<String> = instances.iter().map(|i| i.url.clone()).collect();
        let started = Instant::now();
        let jobs = submit_all(&http, &urls, &dag, args.jobs).await?;
        wait_all(&http, &urls[0], args.jobs).await?;
        let took = started.elapsed().as_secs_f64();
        let ids: Vec<String> = jobs.into_iter().map(|(_, j)| j).collect();
        let ms = query(&http, &urls, &ids, args.requests, args.clients).await?;
        println!(
            "| {name} | {n} | {:.1} jobs/s | {:.1} ms | {:.2} ms | {:.2} ms |",
            args.jobs as f64 / took,
            took * 1000.0 / args.jobs as f64,
            super::percentile(&ms, 50.0),
            super::percentile(&ms, 99.0)
        );
        drop(instances);
    }
    failover(&exe, &http, &dag, &args).await
}

async fn failover(exe: &Path, http: &reqwest::Client, dag: &Value, args: &Args) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (mut instances, url) = site(exe, dir.path(), Backend::Postgres, 2, args.site_cores).await?;
    let urls: Vec<String> = instances.iter().map(|i| i.url.clone()).collect();
    let store = Store::open(&url).await?;
    let jobs = submit_all(http, &urls, dag, args.failover_jobs).await?;
    // Killed once every job is submitted, while the queue is long.
    let held: Vec<JobId> = store.leases_of("i1").await?;
    let mut b = instances.pop().context("two instances")?;
    b.child.start_kill()?;
    let _ = b.child.wait().await;
    let killed = Instant::now();
    let (mut first, mut last) = (None, None);
    let mut waiting: Vec<JobId> = held.clone();
    while !waiting.is_empty() {
        let mut still = Vec::new();
        for job in waiting {
            let owner = store.lease(&job).await?.map(|(owner, _)| owner);
            let dead = owner.as_deref() == Some("i1");
            // A job that ended just before the kill, its lease not yet released, needs no
            // scheduler: not a takeover.
            if dead && ended(http, &urls[0], &job).await? {
                continue;
            }
            if dead {
                still.push(job);
            } else {
                // Held by the survivor, or already released by it (the job ended).
                let t = killed.elapsed();
                first.get_or_insert(t);
                last = Some(t);
            }
        }
        waiting = still;
        if killed.elapsed() > Duration::from_secs(120) {
            bail!("{} jobs still held by the dead instance", waiting.len());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    wait_all(http, &urls[0], jobs.len()).await?;
    let total = killed.elapsed();
    println!(
        "\nfailover: two instances on PostgreSQL (lease 10 s), {} jobs spread over both, one killed with -9",
        jobs.len()
    );
    println!(
        "| the dead instance held | first taken over | last taken over | all jobs succeeded |\n|---|---|---|---|"
    );
    let s = |d: Option<Duration>| d.map_or("-".into(), |d| format!("{:.2} s", d.as_secs_f64()));
    println!(
        "| {} jobs | {} after the kill | {} after the kill | {:.1} s after the kill |",
        held.len(),
        s(first),
        s(last),
        total.as_secs_f64()
    );
    store.close().await;
    Ok(())
}

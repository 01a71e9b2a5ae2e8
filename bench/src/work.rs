//! The workloads, written against a site's api-1 only (`/v2/job/*`), so that one function
//! measures ferroflow and FATE Flow 2.2 alike; plus what is read from `/proc` and the sites'
//! SQLite files.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use serde_json::{Value, json};

/// One site under test, as the workloads see it.
#[derive(Clone)]
pub struct Target {
    pub name: &'static str,
    pub url: String,
    pub pid: u32,
    pub http: reqwest::Client,
    /// How often a waiting workload asks for a job's status.
    pub poll: Duration,
    /// FATE client credentials `(app_id, app_token)`: every request is signed with them.
    pub sign: Option<(String, String)>,
}

/// FATE's client signature headers (`appId`, `userName`, `Nonce`, `Timestamp`, `Signature =
/// md5_hex(md5_hex(app_id + user_name + nonce + timestamp) + app_token)`), as fate_client
/// sends them with an empty user name.
pub fn sign(
    req: reqwest::RequestBuilder,
    creds: &Option<(String, String)>,
) -> reqwest::RequestBuilder {
    use md5::{Digest, Md5};
    use std::sync::atomic::{AtomicU32, Ordering};
    static NONCE: AtomicU32 = AtomicU32::new(0);
    let Some((app_id, token)) = creds else {
        return req;
    };
    let hex = |b: &[u8]| -> String { b.iter().map(|x| format!("{x:02x}")).collect() };
    let nonce = (1000 + NONCE.fetch_add(1, Ordering::Relaxed) % 9000).to_string();
    let timestamp = now_ms().to_string();
    let inner = hex(&Md5::digest(
        format!("{app_id}{nonce}{timestamp}").as_bytes(),
    ));
    let signature = hex(&Md5::digest(format!("{inner}{token}").as_bytes()));
    req.header("appId", app_id.as_str())
        .header("userName", "")
        .header("Nonce", nonce)
        .header("Timestamp", timestamp)
        .header("Signature", signature)
}

impl Target {
    pub fn new(name: &'static str, url: &str, pid: u32, poll: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .pool_max_idle_per_host(128)
            .build()
            .expect("an HTTP client builds");
        Self {
            name,
            url: url.trim_end_matches('/').to_string(),
            pid,
            http,
            poll,
            sign: None,
        }
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value> {
        let v: Value = sign(
            self.http.get(format!("{}/v2{path}", self.url)).query(query),
            &self.sign,
        )
        .send()
        .await
        .with_context(|| format!("{}: GET {path}", self.name))?
        .json()
        .await
        .with_context(|| format!("{}: GET {path}", self.name))?;
        if v["code"].as_i64() != Some(0) {
            bail!("{}: GET {path}: {v}", self.name);
        }
        Ok(v)
    }

    pub async fn submit(&self, dag: &Value) -> Result<String> {
        let v: Value = sign(
            self.http
                .post(format!("{}/v2/job/submit", self.url))
                .json(&json!({ "dag_schema": dag })),
            &self.sign,
        )
        .send()
        .await
        .with_context(|| format!("{}: submit", self.name))?
        .json()
        .await?;
        match v["job_id"].as_str() {
            Some(id) if v["code"].as_i64() == Some(0) => Ok(id.to_string()),
            _ => bail!("{}: submit refused: {v}", self.name),
        }
    }

    pub async fn stop(&self, job_id: &str) -> Result<()> {
        sign(
            self.http
                .post(format!("{}/v2/job/stop", self.url))
                .json(&json!({ "job_id": job_id })),
            &self.sign,
        )
        .send()
        .await?;
        Ok(())
    }

    pub async fn job_rows(&self, job_id: &str) -> Result<Vec<Value>> {
        let v = self.get("/job/query", &[("job_id", job_id)]).await?;
        Ok(v["data"].as_array().cloned().unwrap_or_default())
    }

    pub async fn task_rows(&self, job_id: &str) -> Result<Vec<Value>> {
        let v = self.get("/job/task/query", &[("job_id", job_id)]).await?;
        Ok(v["data"].as_array().cloned().unwrap_or_default())
    }

    /// How many job rows (one per party) have this status.
    pub async fn count(&self, status: &str) -> Result<u64> {
        let v = self
            .get(
                "/job/list/query",
                &[("status", status), ("limit", "1"), ("page", "1")],
            )
            .await?;
        Ok(v["data"]["count"].as_u64().unwrap_or(0))
    }

    /// Waits until every row of the job has ended; its rows then.
    pub async fn wait(&self, job_id: &str, deadline: Duration) -> Result<Vec<Value>> {
        let start = Instant::now();
        loop {
            let rows = self.job_rows(job_id).await?;
            let ended = !rows.is_empty()
                && rows.iter().all(|r| {
                    matches!(
                        r["status"].as_str(),
                        Some("success" | "failed" | "canceled" | "timeout")
                    )
                });
            if ended {
                if let Some(bad) = rows.iter().find(|r| r["status"] != "success") {
                    bail!("{}: job {job_id} ended {}", self.name, bad["status"]);
                }
                return Ok(rows);
            }
            if start.elapsed() > deadline {
                bail!("{}: job {job_id} not done after {deadline:?}", self.name);
            }
            tokio::time::sleep(self.poll).await;
        }
    }
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// A chain (or any DAG) of tasks: each task's producer, for the gaps.
pub type Edges = Vec<(String, Option<String>)>;

#[derive(Default, Debug)]
pub struct JobTimes {
    /// Submit request sent → last row of the job ended (the job rows' `end_time`).
    pub total_ms: Vec<f64>,
    /// Submit request sent → first task process started.
    pub first_start_ms: Vec<f64>,
    /// The producer's last party ended → each party of the next task started.
    pub gaps_ms: Vec<f64>,
    /// Sum over tasks of the longest party's own run (start → end of its process).
    pub algo_ms: Vec<f64>,
}

fn times(rows: &[Value], task: &str, key: &str) -> Vec<i64> {
    rows.iter()
        .filter(|t| t["task_name"] == task)
        .filter_map(|t| t[key].as_i64())
        .collect()
}

/// Runs the DAG `runs` times one after the other (after `warmup` unmeasured runs).
pub async fn run_jobs(
    t: &Target,
    dag: &Value,
    edges: &Edges,
    warmup: usize,
    runs: usize,
    deadline: Duration,
) -> Result<JobTimes> {
    let mut out = JobTimes::default();
    for run in 0..warmup + runs {
        let submitted = now_ms();
        let job = t.submit(dag).await?;
        let rows = t.wait(&job, deadline).await?;
        if run < warmup {
            continue;
        }
        let end = rows.iter().filter_map(|r| r["end_time"].as_i64()).max();
        let end = end.unwrap_or_else(now_ms);
        out.total_ms.push((end - submitted) as f64);
        let tasks = t.task_rows(&job).await?;
        let first = tasks.iter().filter_map(|r| r["start_time"].as_i64()).min();
        if let Some(first) = first {
            out.first_start_ms.push((first - submitted) as f64);
        }
        let mut algo = 0i64;
        for (task, producer) in edges {
            let starts = times(&tasks, task, "start_time");
            let ends = times(&tasks, task, "end_time");
            let own = starts
                .iter()
                .zip(&ends)
                .map(|(s, e)| e - s)
                .max()
                .unwrap_or(0);
            algo += own;
            if let Some(p) = producer {
                let Some(producer_end) = times(&tasks, p, "end_time").into_iter().max() else {
                    continue;
                };
                for s in starts {
                    out.gaps_ms.push((s - producer_end) as f64);
                }
            }
        }
        out.algo_ms.push(algo as f64);
    }
    Ok(out)
}

#[derive(Debug)]
pub struct Throughput {
    pub jobs: usize,
    pub submit_secs: f64,
    pub total_secs: f64,
    pub server_cpu_secs: f64,
}

impl Throughput {
    pub fn jobs_per_sec(&self) -> f64 {
        self.jobs as f64 / self.total_secs
    }
}

/// `jobs` copies of a DAG submitted 8 at a time (queued behind each other), then waited for:
/// from the first submit to the last job row `success`. Rows per job: `rows_per_job`.
pub async fn throughput(
    t: &Target,
    dag: &Value,
    jobs: usize,
    rows_per_job: u64,
    deadline: Duration,
) -> Result<Throughput> {
    let before = t.count("success").await?;
    let failed_before = t.count("failed").await?;
    let cpu0 = cpu_secs(t.pid).unwrap_or(0.0);
    let started = Instant::now();
    let results: Vec<Result<String>> = futures::stream::iter(0..jobs)
        .map(|_| t.submit(dag))
        .buffer_unordered(8)
        .collect()
        .await;
    for r in results {
        r?;
    }
    let submit_secs = started.elapsed().as_secs_f64();
    let want = before + jobs as u64 * rows_per_job;
    loop {
        if t.count("success").await? >= want {
            break;
        }
        if t.count("failed").await? > failed_before {
            bail!("{}: a queued job failed", t.name);
        }
        if started.elapsed() > deadline {
            bail!("{}: {jobs} jobs not done after {deadline:?}", t.name);
        }
        tokio::time::sleep(t.poll).await;
    }
    let total_secs = started.elapsed().as_secs_f64();
    let server_cpu_secs = cpu_secs(t.pid).unwrap_or(0.0) - cpu0;
    Ok(Throughput {
        jobs,
        submit_secs,
        total_secs,
        server_cpu_secs,
    })
}

/// p50 and p99 of `requests` GETs shared by `clients` concurrent clients (each with its own
/// connection), in ms; and requests per second.
pub async fn api_latency(
    t: &Target,
    path: &str,
    queries: Arc<Vec<Vec<(String, String)>>>,
    clients: usize,
    requests: usize,
) -> Result<(f64, f64, f64)> {
    let started = Instant::now();
    let mut handles = Vec::new();
    for c in 0..clients {
        let url = format!("{}/v2{path}", t.url);
        let queries = queries.clone();
        let creds = t.sign.clone();
        let n = requests / clients + usize::from(c < requests % clients);
        handles.push(tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()?;
            let mut lat = Vec::with_capacity(n);
            for i in 0..n {
                let q = &queries[(c * 7919 + i * clients) % queries.len()];
                let s = Instant::now();
                let r = sign(http.get(&url).query(q), &creds).send().await?;
                let ok = r.status().is_success();
                let body = r.bytes().await?;
                if !ok || !body.starts_with(b"{") {
                    bail!("GET {url}: {}", String::from_utf8_lossy(&body));
                }
                lat.push(s.elapsed().as_secs_f64() * 1000.0);
            }
            anyhow::Ok(lat)
        }));
    }
    let mut all = Vec::with_capacity(requests);
    for h in handles {
        all.extend(h.await??);
    }
    let secs = started.elapsed().as_secs_f64();
    Ok((
        percentile(&all, 50.0),
        percentile(&all, 99.0),
        all.len() as f64 / secs,
    ))
}

/// Fills a site's `t_job` up to `target` jobs with copies of one succeeded job under new ids
/// (same schema name in FATE Flow and ferroflow), straight into its SQLite file. Returns the
/// job ids now in the table.
pub async fn fill_jobs(db: &Path, target: usize, prefix: &str) -> Result<Vec<String>> {
    use sqlx::Row;
    use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
    use sqlx::{ConnectOptions, Connection};
    let mut conn: SqliteConnection = SqliteConnectOptions::new()
        .filename(db)
        .busy_timeout(Duration::from_secs(30))
        .connect()
        .await
        .with_context(|| format!("opening {}", db.display()))?;
    let ids: Vec<String> = sqlx::query("SELECT DISTINCT f_job_id FROM t_job")
        .fetch_all(&mut conn)
        .await?
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect();
    let template: String =
        sqlx::query("SELECT f_job_id FROM t_job WHERE f_status = 'success' LIMIT 1")
            .fetch_one(&mut conn)
            .await
            .context("no succeeded job to copy")?
            .get(0);
    let cols: Vec<String> = sqlx::query("PRAGMA table_info(t_job)")
        .fetch_all(&mut conn)
        .await?
        .iter()
        .map(|r| r.get::<String, _>("name"))
        .collect();
    let list = cols.join(", ");
    let select = cols
        .iter()
        .map(|c| if c == "f_job_id" { "?" } else { c.as_str() })
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!("INSERT INTO t_job ({list}) SELECT {select} FROM t_job WHERE f_job_id = ?");
    let mut all = ids;
    let mut tx = conn.begin().await?;
    let mut i = 0usize;
    while all.len() < target {
        let id = format!("{prefix}{i:08}");
        i += 1;
        sqlx::query(&sql)
            .bind(&id)
            .bind(&template)
            .execute(&mut *tx)
            .await?;
        all.push(id);
    }
    tx.commit().await?;
    Ok(all)
}

fn proc_status(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Resident memory now, MiB.
pub fn rss_mib(pid: u32) -> Option<f64> {
    proc_status(pid, "VmRSS:").map(|kb| kb as f64 / 1024.0)
}

/// Peak resident memory, MiB.
pub fn peak_rss_mib(pid: u32) -> Option<f64> {
    proc_status(pid, "VmHWM:").map(|kb| kb as f64 / 1024.0)
}

/// User + system CPU seconds of the process itself (not its children).
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Job ids of every ended job for `/v2/job/query` — a spread sample of `ids`.
pub fn job_queries(ids: &[String]) -> Vec<Vec<(String, String)>> {
    ids.iter()
        .map(|id| vec![("job_id".to_string(), id.clone())])
        .collect()
}

pub fn list_queries() -> Vec<Vec<(String, String)>> {
    (1..=10)
        .map(|page| {
            vec![
                ("limit".to_string(), "10".to_string()),
                ("page".to_string(), page.to_string()),
            ]
        })
        .collect()
}

// --- DAGs ------------------------------------------------------------------------------

fn parties(arbiter: bool) -> Value {
    let mut p = vec![
        json!({"role": "guest", "party_id": ["9999"]}),
        json!({"role": "host", "party_id": ["10000"]}),
    ];
    if arbiter {
        p.push(json!({"role": "arbiter", "party_id": ["9999"]}));
    }
    Value::Array(p)
}

fn input(producer: &str, key: &str) -> Value {
    json!({"task_output_artifact": {"producer_task": producer, "output_artifact_key": key}})
}

/// `n` demo_sleep tasks of `seconds`, each consuming its producer's output, over guest 9999
/// and host 10000 (ferroflow's built-in demo provider).
pub fn demo_chain(n: usize, seconds: f64) -> (Value, Edges) {
    let mut tasks = serde_json::Map::new();
    let mut edges = Edges::new();
    for i in 0..n {
        let mut t = json!({"component_ref": "demo_sleep", "parameters": {"seconds": seconds}});
        let producer = (i > 0).then(|| format!("t{}", i - 1));
        if let Some(p) = &producer {
            t["inputs"] = json!({"data": {"input_data": input(p, "output_data")}});
        }
        tasks.insert(format!("t{i}"), t);
        edges.push((format!("t{i}"), producer));
    }
    let dag = json!({
        "schema_version": "2.2.0",
        "dag": {
            "parties": parties(false),
            "conf": {"task": {"provider": "demo:*@local"}},
            "stage": "default",
            "tasks": tasks,
        }
    });
    (dag, edges)
}

fn reader_party_tasks(reader: &str) -> Value {
    json!({
        "guest_9999": {"parties": [{"role": "guest", "party_id": ["9999"]}],
            "tasks": {reader: {"parameters": {"namespace": "experiment", "name": "breast_hetero_guest"}}}},
        "host_10000": {"parties": [{"role": "host", "party_id": ["10000"]}],
            "tasks": {reader: {"parameters": {"namespace": "experiment", "name": "breast_hetero_host"}}}},
    })
}

fn fate_dag(stage: &str, arbiter: bool, tasks: serde_json::Map<String, Value>) -> Value {
    json!({
        "schema_version": "2.2.0",
        "kind": "fate",
        "dag": {
            "parties": parties(arbiter),
            "conf": {"computing_partitions": 4},
            "stage": stage,
            "tasks": tasks,
            "party_tasks": reader_party_tasks("reader_0"),
        }
    })
}

fn guest_host() -> Value {
    parties(false)
}

/// pyfate's cheapest work: `reader_0`, then `n - 1` psi tasks each intersecting its
/// producer's output again, over guest 9999 and host 10000.
pub fn pyfate_chain(n: usize) -> (Value, Edges) {
    let mut tasks = serde_json::Map::new();
    let mut edges = Edges::new();
    tasks.insert(
        "reader_0".into(),
        json!({"component_ref": "reader", "parameters": {}, "parties": guest_host()}),
    );
    edges.push(("reader_0".into(), None));
    let mut prev = "reader_0".to_string();
    for i in 0..n.saturating_sub(1) {
        let name = format!("psi_{i}");
        tasks.insert(
            name.clone(),
            json!({"component_ref": "psi", "parameters": {}, "parties": guest_host(),
                   "inputs": {"data": {"input_data": input(&prev, "output_data")}}}),
        );
        edges.push((name.clone(), Some(prev)));
        prev = name;
    }
    (fate_dag("default", false, tasks), edges)
}

/// A reader-only job: pyfate's cheapest job.
pub fn pyfate_reader() -> Value {
    pyfate_chain(1).0
}

/// reader → psi → coordinated_lr → evaluation on breast_hetero, as FATE's examples run it.
pub fn pyfate_lr(epochs: u32) -> (Value, Edges) {
    let mut tasks = serde_json::Map::new();
    tasks.insert(
        "reader_0".into(),
        json!({"component_ref": "reader", "parameters": {}, "parties": guest_host(), "stage": "default"}),
    );
    tasks.insert(
        "psi_0".into(),
        json!({"component_ref": "psi", "parameters": {}, "parties": guest_host(), "stage": "default",
               "inputs": {"data": {"input_data": input("reader_0", "output_data")}}}),
    );
    tasks.insert(
        "lr_0".into(),
        json!({"component_ref": "coordinated_lr",
               "parameters": {
                   "epochs": epochs, "batch_size": 300,
                   "optimizer": {"method": "SGD", "optimizer_params": {"lr": 0.1}, "penalty": "l2", "alpha": 0.001},
                   "init_param": {"fit_intercept": true, "method": "zeros"},
                   "learning_rate_scheduler": {"method": "linear", "scheduler_params": {"start_factor": 0.7, "total_iters": 100}}},
               "inputs": {"data": {"train_data": input("psi_0", "output_data")}}}),
    );
    tasks.insert(
        "evaluation_0".into(),
        json!({"component_ref": "evaluation", "stage": "default",
               "parameters": {"default_eval_setting": "binary"},
               "parties": [{"role": "guest", "party_id": ["9999"]}],
               "inputs": {"data": {"input_datas": {"task_output_artifact": [
                   {"producer_task": "lr_0", "output_artifact_key": "train_output_data",
                    "parties": [{"role": "guest", "party_id": ["9999"]}]}]}}}}),
    );
    let edges = vec![
        ("reader_0".to_string(), None),
        ("psi_0".to_string(), Some("reader_0".to_string())),
        ("lr_0".to_string(), Some("psi_0".to_string())),
        ("evaluation_0".to_string(), Some("lr_0".to_string())),
    ];
    (fate_dag("train", true, tasks), edges)
}

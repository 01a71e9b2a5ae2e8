//! Interconnection end to end: a `ferroflow serve` site (party 9999: guest and arbiter) and a
//! real FATE Flow 2.2 site (party 10000: host) run FATE's real algorithms together, driven by
//! FATE's real pipeline SDK, with the commands going through ferroflow (FATE's proxy points at
//! it: HTTP `nginx` mode or gRPC `osx` mode) and the algorithm data through a real RabbitMQ
//! broker. Then the same between two ferroflow sites, over mutual TLS with signed commands.
//!
//! With the FATE Flow site, both sides sign and verify their commands with FATE's site scheme
//! (`authentication.site: true` on both), provisioned through the API as `api.md` §7.3 says,
//! and an unsigned command to ferroflow is refused.
//!
//! Each scenario runs reader -> psi -> coordinated_lr -> evaluation on breast_hetero (uploaded
//! on each site for its own party) and checks the job's status on both sites; the stop
//! scenarios check that a job stopped from the side that does not schedule it ends `canceled`
//! everywhere with no task process left. Wall times and per-task start delays are printed.
//!
//! They need: `FERROFLOW_PYFATE_PYTHON` (a Python with pyfate 2.2, fate_client 2.2 and pika:
//! `ci/pyfate-venv.sh`), `FERROFLOW_FATE_FLOW_PYTHON` (a Python with fate_flow 2.2 over that
//! one: `ci/fate-flow-venv.sh`) and Debian's `rabbitmq-server`; without them they fail and say
//! so. Like the pyfate tests they are `#[ignore]`d by a plain `cargo test` and run by CI:
//! `cargo test -p ferroflow --test interconnect -- --ignored --test-threads=1 --nocapture`.

#[path = "../e2e/support.rs"]
#[allow(dead_code)]
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::Server;

const GUEST: &str = "9999";
const HOST: &str = "10000";
/// The upstream task of each task of the job (a chain).
const CHAIN: [(&str, Option<&str>); 4] = [
    ("reader_0", None),
    ("psi_0", Some("reader_0")),
    ("lr_0", Some("psi_0")),
    ("evaluation_0", Some("lr_0")),
];

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn env_path(var: &str, how: &str) -> PathBuf {
    let p =
        std::env::var(var).unwrap_or_else(|_| panic!("{var} is not set: these tests need {how}"));
    let p = PathBuf::from(p);
    assert!(p.exists(), "{var}={} does not exist ({how})", p.display());
    p
}

fn pyfate_python() -> PathBuf {
    env_path(
        "FERROFLOW_PYFATE_PYTHON",
        "a Python with pyfate 2.2, fate_client 2.2 and pika (ci/pyfate-venv.sh)",
    )
}

fn fate_flow_python() -> PathBuf {
    env_path(
        "FERROFLOW_FATE_FLOW_PYTHON",
        "a Python with fate_flow 2.2 (ci/fate-flow-venv.sh)",
    )
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join(name)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `cmd` to its end, at most `limit`: past it the command's process group is killed and
/// the test fails with its output, so a job that never ends cannot hang the run.
fn run(cmd: &mut Command, what: &str, limit: Duration) -> String {
    try_run(cmd, what, limit).unwrap_or_else(|e| panic!("{e}"))
}

/// [`run`], with the failure (exit status or time limit, and the output's tail) as an error,
/// for callers that add what the sites say before failing. While the command runs a line is
/// printed every minute, so a slow step is told from a stuck one in CI's output.
fn try_run(cmd: &mut Command, what: &str, limit: Duration) -> Result<String, String> {
    use std::os::unix::process::CommandExt;
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut child = cmd
        .stdout(log.reopen().unwrap())
        .stderr(log.reopen().unwrap())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let start = Instant::now();
    let mut told = 0;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() > limit {
            let _ = Command::new("kill")
                .args(["-KILL", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            break None;
        }
        let minutes = start.elapsed().as_secs() / 60;
        if minutes > told {
            told = minutes;
            progress(&format!("{what}: still running after {minutes} min"));
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let text = std::fs::read_to_string(log.path()).unwrap_or_default();
    match status {
        Some(s) if s.success() => Ok(text),
        Some(s) => Err(format!(
            "{what} failed ({s}):\n{}",
            support::tail(&text, 60)
        )),
        None => Err(format!(
            "{what}: not done within {limit:?}:\n{}",
            support::tail(&text, 60)
        )),
    }
}

/// One line of the test's progress on stderr, with the time since the test binary began.
fn progress(what: &str) {
    static BEGAN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let t = BEGAN.get_or_init(Instant::now).elapsed().as_secs();
    eprintln!("[interconnect +{t} s] {what}");
}

/// A private RabbitMQ node (`ci/rabbitmq.sh`), stopped when dropped.
struct Broker {
    dir: PathBuf,
    port: u16,
    mng_port: u16,
    dist_port: u16,
}

impl Broker {
    fn start(dir: &Path) -> Broker {
        let b = Broker {
            dir: dir.join("rabbitmq"),
            port: free_port(),
            mng_port: free_port(),
            dist_port: free_port(),
        };
        let out = run(
            &mut b.script("start"),
            "starting RabbitMQ",
            Duration::from_secs(120),
        );
        eprintln!("{}", out.trim());
        b
    }

    fn script(&self, cmd: &str) -> Command {
        let mut c = Command::new(repo().join("ci/rabbitmq.sh"));
        c.arg(cmd)
            .arg(&self.dir)
            .env("MQ_PORT", self.port.to_string())
            .env("MQ_MNG_PORT", self.mng_port.to_string())
            .env("MQ_DIST_PORT", self.dist_port.to_string());
        c
    }

    /// ferroflow's `federation.rabbitmq` section, every party on this broker.
    fn ferroflow_section(&self) -> String {
        format!(
            "default_engines: {{computing: standalone, federation: rabbitmq, storage: standalone}}\n\
             federation:\n  rabbitmq: {{host: 127.0.0.1, port: {p}, mng_port: {m}, user: fate, \
             password: fate, mode: replication,\n    route_table: {{{GUEST}: {{host: 127.0.0.1, \
             port: {p}}}, {HOST}: {{host: 127.0.0.1, port: {p}}}}}}}\n",
            p = self.port,
            m = self.mng_port
        )
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.script("stop").output();
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    /// FATE's `proxy_name: nginx` pointed at ferroflow's HTTP port; ferroflow reaches FATE's
    /// HTTP port.
    Http,
    /// FATE's `proxy_name: osx` pointed at ferroflow's gRPC port; ferroflow reaches FATE's
    /// gRPC port.
    Grpc,
}

/// A real FATE Flow site (`ci/fate-flow-site.sh`), stopped when dropped.
struct FateSite {
    home: PathBuf,
    http_port: u16,
    grpc_port: u16,
}

impl FateSite {
    fn start(dir: &Path, broker: &Broker, mode: Mode, ff_http: u16, ff_grpc: u16) -> FateSite {
        let site = FateSite {
            home: dir.join("fate-flow-10000"),
            http_port: free_port(),
            grpc_port: free_port(),
        };
        let (proxy, proxy_port) = match mode {
            Mode::Http => ("nginx", ff_http),
            Mode::Grpc => ("osx", ff_grpc),
        };
        let mq = format!("127.0.0.1:{}", broker.port);
        let out = run(
            Command::new(repo().join("ci/fate-flow-site.sh"))
                .arg("up")
                .arg(&site.home)
                .env("FATE_FLOW_PYTHON", fate_flow_python())
                .env("PARTY_ID", HOST)
                .env("HTTP_PORT", site.http_port.to_string())
                .env("GRPC_PORT", site.grpc_port.to_string())
                .env("PROXY", proxy)
                .env("PROXY_PORT", proxy_port.to_string())
                .env("MQ_PORT", broker.port.to_string())
                .env("MQ_MNG_PORT", broker.mng_port.to_string())
                .env("MQ_ROUTES", format!("{GUEST}={mq},{HOST}={mq}"))
                .env("SITE_AUTH", "1"),
            "starting FATE Flow",
            Duration::from_secs(300),
        );
        eprintln!("{}", out.trim());
        site
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }
}

impl Drop for FateSite {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("ci/fate-flow-site.sh"))
            .arg("down")
            .arg(&self.home)
            .output();
    }
}

/// A ferroflow site for one party of these jobs: pyfate as provider `fate`, the broker as
/// federation, `routes` to the other party, `extra` configuration lines.
async fn ferroflow(
    dir: &Path,
    party: &str,
    broker: &Broker,
    http_port: u16,
    grpc_port: u16,
    routes: &str,
    extra_conf: &str,
) -> Server {
    let conf = format!(
        "fateflow: {{host: 127.0.0.1, grpc_port: {grpc_port}}}\n{}routes: {{{routes}}}\n\
         fate:\n  venv: {}\nupload_dir: {}\n{extra_conf}",
        broker.ferroflow_section(),
        pyfate_python().display(),
        dir.join("upload").display()
    );
    Server::launch(dir, party, Some(&conf), http_port).await
}

/// FATE's pipeline SDK against the site on `port` (`ic_job.py`).
fn sdk(dir: &Path, port: u16, args: &[&str]) -> Value {
    try_sdk(dir, port, args).unwrap_or_else(|e| panic!("{e}"))
}

/// [`sdk`], with its failure as an error.
fn try_sdk(dir: &Path, port: u16, args: &[&str]) -> Result<Value, String> {
    let out_file = dir.join(format!("sdk-{}.json", uuid::Uuid::new_v4().simple()));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interconnect/ic_job.py");
    let mut cmd = Command::new(pyfate_python());
    cmd.arg(script)
        .args(args)
        .args(["--port", &port.to_string()])
        .current_dir(dir);
    if args[0] != "upload" {
        cmd.arg("--out").arg(&out_file);
    }
    let what = format!("pipeline SDK {args:?} on port {port}");
    progress(&format!("{what}: started"));
    // An upload or a two-epoch job takes one to three minutes on two busy cores; ten are a
    // hung job.
    try_run(&mut cmd, &what, Duration::from_secs(600))?;
    progress(&format!("{what}: done"));
    if args[0] == "upload" {
        return Ok(Value::Null);
    }
    Ok(serde_json::from_str(&std::fs::read_to_string(&out_file).unwrap()).unwrap())
}

/// What every site says of its jobs that have not ended, with their tasks, and the tail of
/// ferroflow sites' logs (`<dir>/*/server.log`): printed when a job does not end, so CI's
/// output says where it stopped.
async fn diagnose(sites: &[&str], dir: &Path) -> String {
    let mut out = String::new();
    for s in sites {
        let jobs = match http().get(format!("{s}/v2/job/query")).send().await {
            Ok(r) => r.json::<Value>().await.unwrap_or_default(),
            Err(e) => {
                out.push_str(&format!("{s}: no answer: {e}\n"));
                continue;
            }
        };
        for j in jobs["data"].as_array().into_iter().flatten() {
            let status = j["status"].as_str().unwrap_or_default();
            let job = j["job_id"].as_str().unwrap_or_default();
            out.push_str(&format!(
                "{s}: job {job} {} {}: {status}\n",
                j["role"], j["party_id"]
            ));
            if ["success", "failed", "canceled"].contains(&status) {
                continue;
            }
            for t in task_rows(s, job).await {
                out.push_str(&format!(
                    "    task {} {} {} v{}: {}\n",
                    t["task_name"], t["role"], t["party_id"], t["task_version"], t["status"]
                ));
            }
        }
    }
    for site in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let log = site.path().join("server.log");
        if let Ok(text) = std::fs::read_to_string(&log) {
            out.push_str(&format!(
                "{} (tail):\n{}\n",
                log.display(),
                support::tail(&text, 40)
            ));
        }
    }
    out
}

fn upload_both(dir: &Path, guest_port: u16, host_port: u16) {
    let g = data("breast_hetero_guest.csv");
    let h = data("breast_hetero_host.csv");
    sdk(
        dir,
        guest_port,
        &[
            "upload",
            "--csv",
            g.to_str().unwrap(),
            "--name",
            "breast_hetero_guest",
            "--label",
        ],
    );
    sdk(
        dir,
        host_port,
        &[
            "upload",
            "--csv",
            h.to_str().unwrap(),
            "--name",
            "breast_hetero_host",
        ],
    );
}

async fn get(url: &str) -> Value {
    http()
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

/// `(role, party_id, status)` of the job's rows on the site at `base`.
async fn job_rows(base: &str, job: &str) -> Vec<(String, String, String)> {
    let v = get(&format!("{base}/v2/job/query?job_id={job}")).await;
    v["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|j| {
            let s = |k: &str| j[k].as_str().unwrap_or_default().to_string();
            (s("role"), s("party_id"), s("status"))
        })
        .collect()
}

async fn task_rows(base: &str, job: &str) -> Vec<Value> {
    let v = get(&format!("{base}/v2/job/task/query?job_id={job}")).await;
    v["data"].as_array().cloned().unwrap_or_default()
}

/// Polls until every row of the job on every site has one of `statuses`.
async fn wait_everywhere(sites: &[&str], job: &str, statuses: &[&str], deadline: Duration) {
    let start = Instant::now();
    loop {
        let mut all = Vec::new();
        for s in sites {
            all.push((s.to_string(), job_rows(s, job).await));
        }
        if all.iter().all(|(_, rows)| {
            !rows.is_empty() && rows.iter().all(|r| statuses.contains(&r.2.as_str()))
        }) {
            return;
        }
        assert!(
            start.elapsed() < deadline,
            "job {job} not {statuses:?} everywhere after {deadline:?}: {all:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What one run took: wall time, and per task the delay between its upstream task ending (on
/// its last party) and its own start (on its first party), from both sites' records. A site
/// may stamp a task's end when its process exits, after it reported success and the next
/// task was started: such a delay is negative.
fn report(label: &str, wall: Duration, tasks: &[Value]) {
    let mut start: BTreeMap<String, i64> = BTreeMap::new();
    let mut end: BTreeMap<String, i64> = BTreeMap::new();
    for t in tasks {
        let name = t["task_name"].as_str().unwrap_or_default().to_string();
        if let Some(s) = t["start_time"].as_i64() {
            let e = start.entry(name.clone()).or_insert(s);
            *e = (*e).min(s);
        }
        if let Some(x) = t["end_time"].as_i64() {
            let e = end.entry(name).or_insert(x);
            *e = (*e).max(x);
        }
    }
    let delays: Vec<String> = CHAIN
        .iter()
        .filter_map(|(task, up)| {
            let up = (*up)?;
            Some(format!("{task} {} ms", start.get(*task)? - end.get(up)?))
        })
        .collect();
    println!(
        "INTERCONNECT {label}: wall {:.1} s; start delays after upstream end: {}",
        wall.as_secs_f64(),
        delays.join(", ")
    );
}

async fn all_tasks(sites: &[&str], job: &str) -> Vec<Value> {
    let mut v = Vec::new();
    for s in sites {
        v.extend(task_rows(s, job).await);
    }
    v
}

/// Fits the job from the site on `port` with `scheduler`, then checks it succeeded on every
/// site and that the guest's evaluation produced its metrics.
async fn fit(
    dir: &Path,
    label: &str,
    site: (u16, &str),
    scheduler: &str,
    sites: &[&str],
    guest: &str,
) {
    let (port, party) = site;
    let t = Instant::now();
    progress(label);
    let r = match try_sdk(
        dir,
        port,
        &["fit", "--party", party, "--scheduler", scheduler],
    ) {
        Ok(r) => r,
        Err(e) => panic!("{label}: {e}\nthe sites:\n{}", diagnose(sites, dir).await),
    };
    let wall = t.elapsed();
    let job = r["job_id"].as_str().unwrap().to_string();
    wait_everywhere(sites, &job, &["success"], Duration::from_secs(60)).await;
    let rows: Vec<_> = {
        let mut v = Vec::new();
        for s in sites {
            v.extend(job_rows(s, &job).await);
        }
        v
    };
    let mut parties: Vec<(String, String)> =
        rows.iter().map(|r| (r.0.clone(), r.1.clone())).collect();
    parties.sort();
    assert_eq!(
        parties,
        vec![
            ("arbiter".into(), GUEST.into()),
            ("guest".into(), GUEST.into()),
            ("host".into(), HOST.into())
        ],
        "every party's row, on the site serving it"
    );
    let metrics = get(&format!(
        "{guest}/v2/output/metric/query?job_id={job}&role=guest&party_id={GUEST}&task_name=evaluation_0"
    ))
    .await;
    assert_eq!(metrics["code"], 0, "{metrics}");
    assert!(
        metrics.to_string().contains("auc"),
        "the guest's evaluation has its AUC: {metrics}"
    );
    report(label, wall, &all_tasks(sites, &job).await);
}

/// Processes still running for `job`: ferroflow's task processes carry the execution id in
/// their environment, FATE's the job id in their command line.
fn leftovers(job: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let pid = entry.file_name().to_string_lossy().to_string();
        if !pid.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let read = |f: &str| std::fs::read(entry.path().join(f)).unwrap_or_default();
        let env = String::from_utf8_lossy(&read("environ")).to_string();
        let cmd = String::from_utf8_lossy(&read("cmdline")).replace('\0', " ");
        if env.contains(&format!("FERROFLOW_EXECUTION_ID={job}")) || cmd.contains(job) {
            found.push(format!("{pid}: {cmd}"));
        }
    }
    found
}

/// Submits from `port` with `scheduler`, waits for psi to run on both parties' sites, stops the
/// job from `stopper`, and checks it ends `canceled` everywhere with nothing left running.
async fn stop(
    dir: &Path,
    label: &str,
    site: (u16, &str),
    scheduler: &str,
    stopper: &str,
    sites: &[&str],
) {
    let (port, party) = site;
    progress(label);
    let r = sdk(
        dir,
        port,
        &["submit", "--party", party, "--scheduler", scheduler],
    );
    let job = r["job_id"].as_str().unwrap().to_string();
    let start = Instant::now();
    loop {
        let tasks = all_tasks(sites, &job).await;
        let running = tasks
            .iter()
            .filter(|t| t["task_name"] == "psi_0" && t["party_status"] == "running")
            .count();
        if running >= 2 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "psi_0 never ran on both sides: {tasks:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let t = Instant::now();
    let reply: Value = http()
        .post(format!("{stopper}/v2/job/stop"))
        .json(&json!({"job_id": job}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        reply["code"], 0,
        "stop from the non-scheduler side: {reply}"
    );
    wait_everywhere(sites, &job, &["canceled"], Duration::from_secs(60)).await;
    let canceled = t.elapsed();
    let start = Instant::now();
    loop {
        let left = leftovers(&job);
        if left.is_empty() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "task processes left after the stop: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "INTERCONNECT {label}: stop -> canceled on both sites {:.1} s, no process left {:.1} s",
        canceled.as_secs_f64(),
        t.elapsed().as_secs_f64()
    );
}

/// A POST naming the caller as the `admin` app: app management answers only a caller with a
/// client role (the header is not verified while client authentication is off).
async fn post(url: &str, body: Value) -> Value {
    http()
        .post(url)
        .header("appId", "admin")
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"))
}

/// The test's HTTP client: a site that stops answering fails the call, never hangs the test.
fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// FATE's site authentication between ferroflow (`ffu`, party 9999) and FATE Flow (`fu`,
/// party 10000), as `api.md` §7.3: each receiver makes a site app for the sender's party and
/// grants it `site`; the sender stores it as the partner app of the receiver's party. Then an
/// unsigned command to ferroflow is refused.
async fn provision_site_auth(ffu: &str, fu: &str) {
    for (receiver, sender, sender_party, receiver_party) in
        [(ffu, fu, HOST, GUEST), (fu, ffu, GUEST, HOST)]
    {
        let made = post(
            &format!("{receiver}/v2/app/site/create"),
            json!({"party_id": sender_party}),
        )
        .await;
        assert_eq!(made["code"], 0, "site app at {receiver}: {made}");
        let d = &made["data"];
        let granted = post(
            &format!("{receiver}/v2/permission/grant"),
            json!({"app_id": d["app_id"], "role": "site"}),
        )
        .await;
        assert_eq!(granted["code"], 0, "site role at {receiver}: {granted}");
        let stored = post(
            &format!("{sender}/v2/app/partner/create"),
            json!({"party_id": receiver_party, "app_id": d["app_id"], "app_token": d["app_token"]}),
        )
        .await;
        assert_eq!(stored["code"], 0, "partner app at {sender}: {stored}");
    }
    // ferroflow authenticates its partners, so it runs only what it granted them: FATE Flow's
    // party may run the job's components on ferroflow's table.
    let granted = post(
        &format!("{ffu}/v2/permission/resource/grant"),
        json!({
            "party_id": HOST,
            "component": "reader,psi,coordinated_lr,evaluation",
            "dataset": [{"namespace": "interconnect", "name": "breast_hetero_guest"}],
        }),
    )
    .await;
    assert_eq!(granted["code"], 0, "grants at ferroflow: {granted}");
    let refused = post(
        &format!("{ffu}/v2/partner/job/status/update"),
        json!({"job_id": "x", "role": "guest", "party_id": GUEST, "status": "running"}),
    )
    .await;
    assert_eq!(refused["code"], 5001, "an unsigned command: {refused}");
}

async fn with_fate_flow(mode: Mode) {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let broker = Broker::start(dir);
    let (ff_http, ff_grpc) = (free_port(), free_port());
    let fate = FateSite::start(dir, &broker, mode, ff_http, ff_grpc);
    let to_fate = match mode {
        Mode::Http => fate.url(),
        Mode::Grpc => format!("grpc://127.0.0.1:{}", fate.grpc_port),
    };
    let ff = ferroflow(
        &dir.join("ferroflow-9999"),
        GUEST,
        &broker,
        ff_http,
        ff_grpc,
        &format!("{HOST}: '{to_fate}'"),
        "authentication: {site: true}\n",
    )
    .await;
    let (ffu, fu) = (ff.url.clone(), fate.url());
    let sites = [ffu.as_str(), fu.as_str()];
    progress(&format!(
        "ferroflow at {ffu}; provisioning site authentication"
    ));
    provision_site_auth(&ffu, &fu).await;
    upload_both(dir, ff_http, fate.http_port);
    let m = format!("{mode:?}");
    match mode {
        Mode::Http => {
            fit(
                dir,
                &format!("{m}: initiator ferroflow, scheduler ferroflow"),
                (ff_http, GUEST),
                GUEST,
                &sites,
                &ffu,
            )
            .await;
            fit(
                dir,
                &format!("{m}: initiator FATE Flow, scheduler FATE Flow"),
                (fate.http_port, HOST),
                HOST,
                &sites,
                &ffu,
            )
            .await;
            stop(
                dir,
                &format!("{m}: initiator FATE Flow, scheduler ferroflow, stopped at FATE Flow"),
                (fate.http_port, HOST),
                GUEST,
                &fu,
                &sites,
            )
            .await;
        }
        Mode::Grpc => {
            fit(
                dir,
                &format!("{m}: initiator ferroflow, scheduler FATE Flow"),
                (ff_http, GUEST),
                HOST,
                &sites,
                &ffu,
            )
            .await;
            fit(
                dir,
                &format!("{m}: initiator FATE Flow, scheduler ferroflow"),
                (fate.http_port, HOST),
                GUEST,
                &sites,
                &ffu,
            )
            .await;
            stop(
                dir,
                &format!("{m}: initiator ferroflow, scheduler FATE Flow, stopped at ferroflow"),
                (ff_http, GUEST),
                HOST,
                &ffu,
                &sites,
            )
            .await;
        }
    }
    ff.stop().await;
    drop(fate);
    drop(broker);
}

#[tokio::test]
#[ignore = "needs pyfate, fate_flow and RabbitMQ: CI's interconnection step"]
async fn ferroflow_and_fate_flow_over_http() {
    with_fate_flow(Mode::Http).await;
}

#[tokio::test]
#[ignore = "needs pyfate, fate_flow and RabbitMQ: CI's interconnection step"]
async fn ferroflow_and_fate_flow_over_grpc() {
    with_fate_flow(Mode::Grpc).await;
}

/// `ferroflow keys …` on a site's data dir.
fn keys(args: &[&str], data_dir: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ferroflow"))
        .arg("keys")
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .expect("ferroflow runs");
    assert!(
        out.status.success(),
        "ferroflow keys {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Two ferroflow sites of two organisations: credentials and cards from `ferroflow keys`,
/// one reaching the other over HTTPS and the other back over gRPC, both with mutual TLS, every
/// command signed.
#[tokio::test]
#[ignore = "needs pyfate and RabbitMQ: CI's interconnection step"]
async fn two_ferroflow_sites() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let broker = Broker::start(dir);
    let (a_http, a_grpc, b_http, b_grpc) = (free_port(), free_port(), free_port(), free_port());
    let (a_tls, b_tls) = (free_port(), free_port());
    let (a_dir, b_dir) = (dir.join("ferroflow-9999"), dir.join("ferroflow-10000"));
    let (a_data, b_data) = (a_dir.join("site"), b_dir.join("site"));
    for (data, party) in [(&a_data, GUEST), (&b_data, HOST)] {
        keys(&["init", "--party", party, "--host", "127.0.0.1"], data);
    }
    for (data, peer) in [(&a_data, &b_data), (&b_data, &a_data)] {
        let card = dir.join("card.json");
        std::fs::write(&card, keys(&["export"], peer)).unwrap();
        keys(&["add-peer", card.to_str().unwrap()], data);
    }
    let a = ferroflow(
        &a_dir,
        GUEST,
        &broker,
        a_http,
        a_grpc,
        &format!("{HOST}: 'https://127.0.0.1:{b_tls}'"),
        &format!("security: {{tls: {{grpc_port: {a_tls}}}}}\n"),
    )
    .await;
    let b = ferroflow(
        &b_dir,
        HOST,
        &broker,
        b_http,
        b_grpc,
        &format!("{GUEST}: 'grpcs://127.0.0.1:{a_tls}'"),
        &format!("security: {{tls: {{port: {b_tls}}}}}\n"),
    )
    .await;
    let (au, bu) = (a.url.clone(), b.url.clone());
    let sites = [au.as_str(), bu.as_str()];
    upload_both(dir, a_http, b_http);
    fit(
        dir,
        "two ferroflow sites: initiator 9999, scheduler 10000",
        (a_http, GUEST),
        HOST,
        &sites,
        &au,
    )
    .await;
    fit(
        dir,
        "two ferroflow sites: initiator 10000, scheduler 10000",
        (b_http, HOST),
        HOST,
        &sites,
        &au,
    )
    .await;
    stop(
        dir,
        "two ferroflow sites: scheduler 9999, stopped at 10000",
        (a_http, GUEST),
        GUEST,
        &bu,
        &sites,
    )
    .await;
    a.stop().await;
    b.stop().await;
    drop(broker);
}

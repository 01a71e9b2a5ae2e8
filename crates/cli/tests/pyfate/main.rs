//! FATE's real algorithms (pyfate 2.2) under a `ferroflow serve` process, driven by FATE's real
//! client (fate_client 2.2: the pipeline SDK and the `flow` CLI), on FATE's example data
//! (`crates/cli/data/breast_hetero_*.csv`).
//!
//! They need a Python with pyfate 2.2 and fate_client 2.2 (`ci/pyfate-venv.sh` makes one),
//! named by `FERROFLOW_PYFATE_PYTHON`; without it they fail and say so. They are `#[ignore]`d
//! by `cargo test` (the venv is a 6 GB install) and run by CI's pyfate step:
//! `cargo test -p ferroflow --test pyfate -- --ignored --test-threads=1`.

#[path = "../e2e/support.rs"]
#[allow(dead_code)]
mod support;
#[path = "../e2e/webdriver.rs"]
#[allow(dead_code)]
mod webdriver;

mod containers;
mod restart;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::Server;

const PYTHON_ENV: &str = "FERROFLOW_PYFATE_PYTHON";

/// One pyfate job at a time: the machine has 2 cores.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn python() -> PathBuf {
    let p = std::env::var(PYTHON_ENV).unwrap_or_else(|_| {
        panic!(
            "{PYTHON_ENV} is not set: these tests need a Python with pyfate 2.2 and fate_client \
             2.2; make one with `ci/pyfate-venv.sh <dir>` and set {PYTHON_ENV}=<dir>/bin/python"
        )
    });
    let p = PathBuf::from(p);
    assert!(
        p.exists(),
        "{PYTHON_ENV}={} does not exist (make it with ci/pyfate-venv.sh)",
        p.display()
    );
    p
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join(name)
}

/// A site's service_conf.yaml: the venv's pyfate as its `fate` provider, client
/// authentication on (every call of these tests is signed with the admin app it writes).
fn site_conf(dir: &Path) -> String {
    format!("{}authentication: {{client: true}}\n", open_conf(dir))
}

/// [`site_conf`] without authentication (a loopback-only site is open).
fn open_conf(dir: &Path) -> String {
    format!(
        "fate:\n  venv: {}\nupload_dir: {}\n",
        python().display(),
        dir.join("upload").display()
    )
}

async fn site(dir: &Path) -> Server {
    Server::start(dir, "9999", Some(&site_conf(dir))).await
}

/// `pipeline_job.py` (FATE's pipeline SDK) against `server`, on FATE's two example tables.
fn pipeline_job(server: &Server) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(python());
    cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pyfate/pipeline_job.py"))
        .args(["--port", &server.port().to_string(), "--guest-csv"])
        .arg(data("breast_hetero_guest.csv"))
        .arg("--host-csv")
        .arg(data("breast_hetero_host.csv"))
        .current_dir(&server.dir)
        .kill_on_drop(true);
    if let Some((id, token)) = &server.credentials {
        cmd.args(["--app-id", id, "--app-token", token]);
    }
    cmd
}

/// The `flow` CLI of fate_client, configured for this site by a settings file of its own (the
/// installed one is shared by every user of the venv).
fn flow(server: &Server, args: &[&str]) -> Value {
    let settings = server.dir.join("flow-settings.yaml");
    let (id, token) = server.credentials.clone().unwrap_or_default();
    std::fs::write(
        &settings,
        format!(
            "flow_service:\n  api_version: v2\n  ip: 127.0.0.1\n  port: {}\n  app_id: '{id}'\n  app_token: '{token}'\n",
            server.port()
        ),
    )
    .unwrap();
    let shim = "import sys, pathlib\nimport fate_client.flow_cli.flow as f\nf.config_path = pathlib.Path(sys.argv.pop(1))\nsys.argv[0] = 'flow'\nf.flow_cli()\n";
    let out = std::process::Command::new(python())
        .arg("-c")
        .arg(shim)
        .arg(&settings)
        .args(args)
        .output()
        .expect("python runs");
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "flow {args:?}: {e}: {text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

async fn tasks_of(server: &Server, job: &str, role: &str, party: &str) -> Vec<Value> {
    let v = server
        .get(&format!(
            "/v2/job/task/query?job_id={job}&role={role}&party_id={party}"
        ))
        .await;
    v["data"].as_array().cloned().unwrap_or_default()
}

fn assert_all_success(tasks: &[Value], job: &str) {
    assert!(!tasks.is_empty(), "job {job} has no tasks");
    for t in tasks {
        assert_eq!(
            t["status"], "success",
            "job {job} task {}: {}",
            t["task_name"], t["error_report"]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the pyfate venv (FERROFLOW_PYFATE_PYTHON); CI's pyfate step runs it"]
async fn the_pipeline_sdk_uploads_fits_evaluates_and_predicts() {
    let _one = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let server = site(dir.path()).await;
    let result_file = dir.path().join("result.json");
    let started = Instant::now();
    let out = pipeline_job(&server)
        .arg("--out")
        .arg(&result_file)
        .args(["--epochs", "10"])
        .output();
    let out = tokio::time::timeout(Duration::from_secs(1200), out)
        .await
        .expect("the pipeline ends within 20 minutes")
        .unwrap();
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
    assert!(
        out.status.success(),
        "the pipeline failed:\n{}\n{}\nsite log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        support::tail(&log, 40)
    );
    let result: Value = serde_json::from_slice(&std::fs::read(&result_file).unwrap()).unwrap();
    let train = result["train_job_id"].as_str().unwrap().to_string();
    let predict = result["predict_job_id"].as_str().unwrap().to_string();
    println!(
        "pipeline: train job {train}, predict job {predict}, AUC {}, {:.1} s",
        result["auc"],
        started.elapsed().as_secs_f64()
    );

    // Every task of every party succeeded, and the uploads were FATE's two-task jobs.
    for job in [&train, &predict] {
        for (role, party) in [("guest", "9999"), ("host", "10000"), ("arbiter", "9999")] {
            let tasks = tasks_of(&server, job, role, party).await;
            if role != "arbiter" || job == &train {
                assert_all_success(&tasks, job);
            }
        }
    }
    let table = server
        .get("/v2/table/query?namespace=experiment&name=breast_hetero_guest")
        .await;
    assert_eq!(table["data"]["count"], 569, "{table}");
    assert_eq!(table["data"]["engine"], "standalone", "{table}");

    // The uploaded dataframe read back: `/v2/data/download`, FATE's tar.gz of data/0.csv.
    let tgz = dir.path().join("table.tar.gz");
    let status = std::process::Command::new("curl")
        .args(server.curl_auth())
        .args(["-s", "-o"])
        .arg(&tgz)
        .arg(format!(
            "{}/v2/data/download?namespace=experiment&name=breast_hetero_host",
            server.url
        ))
        .status()
        .unwrap();
    assert!(status.success());
    let untar = dir.path().join("table");
    std::fs::create_dir_all(&untar).unwrap();
    let status = std::process::Command::new("tar")
        .arg("xzf")
        .arg(&tgz)
        .arg("-C")
        .arg(&untar)
        .status()
        .unwrap();
    assert!(status.success(), "not a tar.gz: {}", tgz.display());
    let text = std::fs::read_to_string(untar.join("data/0.csv")).unwrap();
    let mut lines = text.lines();
    assert!(
        lines.next().unwrap().starts_with("extend_sid,id,x0"),
        "{text:.300}"
    );
    assert_eq!(lines.count(), 569);

    // The evaluation's metrics through `flow output query-metric`.
    let metric = flow(
        &server,
        &[
            "output",
            "query-metric",
            "-j",
            &train,
            "-r",
            "guest",
            "-p",
            "9999",
            "-tn",
            "evaluation_0",
        ],
    );
    assert_eq!(metric["code"], 0, "{metric}");
    let text = metric["data"].to_string();
    assert!(text.contains("\"auc\""), "no auc in {text:.500}");
    let auc = metric["data"][0]["data"]["lr_0"]["train_set"][0]["val"]
        .as_f64()
        .unwrap_or_else(|| panic!("auc not where pyfate puts it: {text:.500}"));
    assert!(auc > 0.95, "AUC {auc}");
    println!("evaluation_0 AUC (flow output query-metric): {auc:.6}");

    // The dashboard draws pyfate's evaluation (its scores, ROC, KS and lift curves) and the
    // loss of lr_0, one point per item pyfate posted.
    // Client authentication is on: the dashboard's data answers 401 until the tab signs in
    // (the login page keeps the app's credentials for the tab and signs every call with them).
    let (app_id, app_token) = server
        .credentials
        .clone()
        .expect("client auth wrote admin.json");
    let b = webdriver::Browser::start().await;
    let refused = reqwest::get(format!("{}/ui/api/jobs", server.url))
        .await
        .unwrap();
    assert_eq!(
        refused.status(),
        401,
        "the dashboard's data without credentials"
    );
    b.goto(&format!("{}/ui/login", server.url)).await;
    b.wait_for(
        "the login state",
        "return document.querySelector('#login-state')?.textContent.includes('sign in')",
        Duration::from_secs(30),
    )
    .await;
    b.exec(
        "const f = document.querySelector('#login');
         f.querySelector('[name=app_id]').value = arguments[0];
         f.querySelector('[name=app_token]').value = arguments[1];
         f.querySelector('button[type=submit]').click();",
        serde_json::json!([app_id, app_token]),
    )
    .await;
    b.wait_for(
        "the job list after signing in",
        "return document.querySelector('tbody tr') ? true : null",
        Duration::from_secs(30),
    )
    .await;
    b.goto(&format!(
        "{}/ui/job/{train}/guest/9999/evaluation_0",
        server.url
    ))
    .await;
    let curves = b
        .wait_for(
            "the evaluation curves",
            "const e = document.querySelector('#evaluation .evaluation');
             if (!e) return null;
             const c = [...e.querySelectorAll('[data-curve]')].map(x => [x.getAttribute('data-curve'),
                 x.querySelector('polyline').getAttribute('points').split(' ').length]);
             return c.length >= 3 ? c : null;",
            Duration::from_secs(60),
        )
        .await;
    let curves: Vec<(String, usize)> = serde_json::from_value(curves).unwrap();
    for name in ["ROC", "KS", "Lift"] {
        assert!(
            curves.iter().any(|(n, points)| n == name && *points >= 2),
            "no {name} curve: {curves:?}"
        );
    }
    let shown = b.text("#evaluation tr[data-score='auc']").await;
    assert!(shown.contains(&format!("{auc:.6}")), "{shown} (AUC {auc})");
    b.scroll_to("#evaluation").await;
    b.screenshot("evaluation").await;
    b.assert_console_clean("the evaluation page").await;
    // Coordinated LR's loss is the arbiter's.
    let metrics = server
        .get(&format!(
            "/v2/output/metric/query?job_id={train}&role=arbiter&party_id=9999&task_name=lr_0"
        ))
        .await;
    let losses: usize = metrics["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["name"].as_str().is_some_and(|n| n.contains("loss")))
        .map(|m| m["data"].as_array().map_or(0, Vec::len))
        .sum();
    assert!(losses > 0, "lr_0 posted no loss: {metrics:.300}");
    b.goto(&format!("{}/ui/job/{train}/arbiter/9999/lr_0", server.url))
        .await;
    let points = b
        .wait_for(
            "lr_0's loss chart",
            "const c = [...document.querySelectorAll('#charts .chart')]
                 .filter(c => c.getAttribute('data-metric').includes('loss'));
             return c.length ? c.reduce((n, x) => n + x.querySelectorAll('circle.pt').length, 0) : null;",
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(points, losses, "one point per loss item");
    b.scroll_to("#charts").await;
    b.screenshot("loss-pyfate").await;
    b.assert_console_clean("lr_0's page").await;
    drop(b);
    let unsigned = reqwest::get(format!("{}/v2/job/query?job_id={train}", server.url))
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(unsigned["code"], 5001, "an unsigned call: {unsigned}");

    // The model through `flow output query-model`.
    let model = flow(
        &server,
        &[
            "output",
            "query-model",
            "-j",
            &train,
            "-r",
            "guest",
            "-p",
            "9999",
            "-tn",
            "lr_0",
        ],
    );
    assert_eq!(model["code"], 0, "{model}");
    assert!(
        model["data"]["output_model"]["data"]["estimator"]["param"]["coef_"].is_array(),
        "{model:.500}"
    );

    // The predict job's output data through `flow output download-data`.
    let out_dir = dir.path().join("predicted");
    let dl = flow(
        &server,
        &[
            "output",
            "download-data",
            "-j",
            &predict,
            "-r",
            "guest",
            "-p",
            "9999",
            "-tn",
            "lr_0",
            "-o",
            out_dir.to_str().unwrap(),
        ],
    );
    assert_eq!(dl["code"], 0, "{dl}");
    let csv = find_file(&out_dir, "0.csv").expect("a downloaded csv");
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    assert!(header.contains("predict_score"), "{header}");
    assert_eq!(lines.count(), 569, "predicted rows in {}", csv.display());

    // `inheritance`: the same DAG again, reader_0 and psi_0 taken over from the trained job,
    // lr_0 and evaluation_0 run again on the inherited psi output.
    let job = server
        .get(&format!(
            "/v2/job/query?job_id={train}&role=guest&party_id=9999"
        ))
        .await;
    let mut dag = job["data"][0]["dag"].clone();
    dag["dag"]["conf"]["inheritance"] =
        json!({"job_id": train, "task_list": ["reader_0", "psi_0"]});
    dag["dag"]["tasks"]["lr_0"]["parameters"]["epochs"] = json!(2);
    let r = server.curl_post("/v2/job/submit", &json!({ "dag_schema": dag }));
    assert_eq!(r["code"], 0, "{r}");
    let inherited = r["job_id"].as_str().unwrap().to_string();
    server
        .wait_job(&inherited, &["success"], Duration::from_secs(900))
        .await;
    let tasks = tasks_of(&server, &inherited, "guest", "9999").await;
    assert_all_success(&tasks, &inherited);
    assert_eq!(tasks.len(), 4, "{tasks:?}");
    let metric = flow(
        &server,
        &[
            "output",
            "query-metric",
            "-j",
            &inherited,
            "-r",
            "guest",
            "-p",
            "9999",
            "-tn",
            "evaluation_0",
        ],
    );
    assert!(
        metric["data"].to_string().contains("\"auc\""),
        "{metric:.300}"
    );
    server.stop().await;
}

fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    for e in std::fs::read_dir(dir).ok()? {
        let p = e.ok()?.path();
        if p.is_dir() {
            if let Some(f) = find_file(&p, name) {
                return Some(f);
            }
        } else if p.file_name().is_some_and(|n| n == name) {
            return Some(p);
        }
    }
    None
}

/// A two-party job of pyfate's `toy_example` (no input data).
fn toy_dag(data_num: i64) -> Value {
    let parties = support::parties(&[("guest", "9999"), ("host", "10000")]);
    json!({"dag_schema": {"schema_version": "2.2.0", "dag": {
        "parties": parties,
        "stage": "default",
        "conf": {"task": {"provider": "fate:2.2.0@local"}},
        "tasks": {"toy_0": {"component_ref": "toy_example", "parties": parties,
                            "parameters": {"data_num": data_num, "partition": 4}}},
    }}})
}

async fn wait_task<F: Fn(&Value) -> bool>(
    server: &Server,
    job: &str,
    role: &str,
    party: &str,
    what: &str,
    ok: F,
    deadline: Duration,
) -> Value {
    let start = Instant::now();
    loop {
        if let Some(t) = tasks_of(server, job, role, party)
            .await
            .into_iter()
            .find(&ok)
        {
            return t;
        }
        assert!(
            start.elapsed() < deadline,
            "{what}: not within {deadline:?}: {:?}",
            tasks_of(server, job, role, party).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the pyfate venv (FERROFLOW_PYFATE_PYTHON); CI's pyfate step runs it"]
async fn a_python_error_fails_its_job_with_the_traceback() {
    let _one = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let server = site(dir.path()).await;
    // data_num must be > 0: pyfate's parameter check raises inside the algorithm.
    let r = server.curl_post("/v2/job/submit", &toy_dag(0));
    assert_eq!(r["code"], 0, "{r}");
    let job = r["job_id"].as_str().unwrap().to_string();
    server
        .wait_job(&job, &["failed"], Duration::from_secs(300))
        .await;
    // Both parties raise; the one that fails first stops the other ("stopped: failed").
    let mut raised = None;
    for (role, party) in [("guest", "9999"), ("host", "10000")] {
        let t = wait_task(
            &server,
            &job,
            role,
            party,
            "a failed task",
            |t| t["party_status"] == "failed",
            Duration::from_secs(30),
        )
        .await;
        let error = t["error_report"].as_str().unwrap_or_default().to_string();
        if !error.starts_with("stopped") {
            raised = Some((role, party, error));
        }
    }
    let (role, party, error) = raised.expect("a party reports pyfate's error");
    assert!(error.contains("Traceback"), "{error}");
    assert!(error.contains("data_num"), "{error}");
    // ... and in the task's logs: the algorithm's own output and the wrapper's error line.
    let logs = dir
        .path()
        .join("site/logs")
        .join(&job)
        .join(role)
        .join(party)
        .join("toy_0");
    let execute = std::fs::read_to_string(logs.join("stdout/task_execute")).unwrap_or_default();
    assert!(
        execute.contains("data_num"),
        "task_execute: {execute:.2000}"
    );
    let errors = std::fs::read_to_string(logs.join("root/ERROR")).unwrap_or_default();
    assert!(errors.contains("Traceback"), "root/ERROR: {errors:.2000}");
    let via_api = server
        .get(&format!(
            "/v2/log/query?job_id={job}&role={role}&party_id={party}&task_name=toy_0&log_type=task_error"
        ))
        .await;
    assert!(via_api.to_string().contains("Traceback"), "{via_api:.1000}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the pyfate venv (FERROFLOW_PYFATE_PYTHON); CI's pyfate step runs it"]
async fn killing_the_algorithm_fails_its_task_within_seconds() {
    let _one = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let server = site(dir.path()).await;
    let r = server.curl_post("/v2/job/submit", &toy_dag(3_000_000));
    assert_eq!(r["code"], 0, "{r}");
    let job = r["job_id"].as_str().unwrap().to_string();
    // The guest's algorithm process: pyfate's `component execute` of its task parameters.
    let params = dir
        .path()
        .join("site/jobs")
        .join(&job)
        .join("guest/9999/toy_0/0/input/task_parameters.yaml");
    let start = Instant::now();
    let pid = loop {
        if let Some(pid) = process_with_arg(&params.display().to_string()) {
            break pid;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no algorithm process for {}",
            params.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Let it get into its work, then kill it from outside.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let killed = Instant::now();
    assert!(
        std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let t = wait_task(
        &server,
        &job,
        "guest",
        "9999",
        "guest failed after the kill",
        |t| t["party_status"] == "failed",
        Duration::from_secs(10),
    )
    .await;
    let after = killed.elapsed();
    println!(
        "task failed {:.2} s after its algorithm was killed",
        after.as_secs_f64()
    );
    assert!(after < Duration::from_secs(10));
    let error = t["error_report"].as_str().unwrap_or_default();
    assert!(error.contains("killed by signal 9"), "{error}");
    server
        .wait_job(&job, &["failed"], Duration::from_secs(60))
        .await;
    server.stop().await;
}

/// The pid of a process whose command line has `arg` (from /proc).
fn process_with_arg(arg: &str) -> Option<u32> {
    for e in std::fs::read_dir("/proc").ok()? {
        let Ok(e) = e else { continue };
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        if cmd.split(|b| *b == 0).any(|a| a == arg.as_bytes())
            && cmd.windows(7).any(|w| w == b"execute")
        {
            return Some(pid);
        }
    }
    None
}

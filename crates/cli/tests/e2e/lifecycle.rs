//! Reruns, retries, timeouts, unreachable participants and crashes, with real sites and real
//! task processes. Crashes are real too: `kill -9` of the site, or a failpoint that aborts it
//! between two steps that must both happen or be recovered.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::support::{Server, files_containing, parties};

/// Tasks of `(name, component, parameters, dependent_tasks)` over guest 9999 and host 10000.
fn dag(tasks: &[(&str, &str, Value, &[&str])], conf: Value) -> Value {
    let mut ts = serde_json::Map::new();
    for (name, component, params, after) in tasks {
        let mut t = json!({"component_ref": component, "parameters": params});
        if !after.is_empty() {
            t["dependent_tasks"] = json!(after);
        }
        ts.insert(name.to_string(), t);
    }
    let mut conf = conf;
    conf["task"] = json!({"provider": "demo:*@local"});
    json!({"dag_schema": {
        "schema_version": "2.2.0",
        "dag": {
            "parties": parties(&[("guest", "9999"), ("host", "10000")]),
            "conf": conf,
            "stage": "default",
            "tasks": ts,
        }
    }})
}

fn submit(server: &Server, body: &Value) -> String {
    let reply = server.curl_post("/v2/job/submit", body);
    assert_eq!(reply["code"], 0, "{reply}");
    reply["job_id"].as_str().unwrap().to_string()
}

/// Every launch recorded by the task processes happened once.
fn assert_launched_once(dir: &Path) {
    let launches = Server::launches(dir);
    let mut seen = BTreeSet::new();
    for l in &launches {
        assert!(
            seen.insert(l.clone()),
            "{l} was launched twice: {launches:?}"
        );
    }
}

#[tokio::test]
async fn a_rerun_with_a_changed_parameter_fixes_a_failed_job() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::launch(dir.path(), "9999", None, 0).await;
    let job = submit(
        &server,
        &dag(
            &[
                (
                    "check_0",
                    "demo_fail",
                    json!({"message": "the threshold is wrong"}),
                    &[],
                ),
                ("after_0", "demo_sleep", json!({"seconds": 0}), &["check_0"]),
            ],
            json!({}),
        ),
    );
    server
        .wait_job(&job, &["failed"], Duration::from_secs(30))
        .await;
    let reply = server.curl_post(
        "/v2/job/rerun",
        &json!({"job_id": job, "parameters": {"check_0": {"fail": false}}}),
    );
    assert_eq!(reply["code"], 0, "{reply}");
    server
        .wait_job(&job, &["success"], Duration::from_secs(30))
        .await;
    let tasks = server.tasks(&job).await;
    for t in tasks.iter().filter(|t| t["task_name"] == "check_0") {
        assert_eq!(
            (t["task_version"].as_i64(), t["party_status"].as_str()),
            (Some(1), Some("success"))
        );
    }
    // The failed first run is still there to read.
    let v0 = server.curl_get(&format!(
        "/v2/job/task/query?job_id={job}&task_name=check_0&task_version=0"
    ));
    // Both parties failed; one may have been stopped by the other's failure before it reported
    // its own.
    let mut told = 0;
    for t in v0["data"].as_array().unwrap() {
        let error = t["error_report"].as_str().unwrap();
        if error.contains("the threshold is wrong") {
            told += 1;
        } else {
            assert_eq!(error, "stopped: failed", "{v0}");
        }
    }
    assert!(told >= 1, "{v0}");
    assert_launched_once(dir.path());
    server.stop().await;
}

#[tokio::test]
async fn automatic_retries_run_a_task_again_until_it_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::launch(
        dir.path(),
        "9999",
        Some("scheduler: {retry_delay_ms: 50}\n"),
        0,
    )
    .await;
    let job = submit(
        &server,
        &dag(
            &[(
                "flaky_0",
                "demo_sleep",
                json!({"seconds": 0, "fail_times": 2}),
                &[],
            )],
            json!({"auto_retries": 2}),
        ),
    );
    server
        .wait_job(&job, &["success", "failed"], Duration::from_secs(30))
        .await;
    assert_eq!(server.job_statuses(&job).await, ["success", "success"]);
    let all = server.curl_get(&format!("/v2/job/task/list/query?job_id={job}"));
    let mut runs: Vec<(i64, String)> = all["data"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["role"] == "guest")
        .map(|t| {
            (
                t["task_version"].as_i64().unwrap(),
                t["party_status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    runs.sort();
    assert_eq!(
        runs,
        [
            (0, "failed".into()),
            (1, "failed".into()),
            (2, "success".into())
        ]
    );
    assert_launched_once(dir.path());
    server.stop().await;
}

#[tokio::test]
async fn a_timeout_ends_a_long_task() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::launch(
        dir.path(),
        "9999",
        Some("scheduler: {detector_interval_ms: 100}\n"),
        0,
    )
    .await;
    let mut body = dag(
        &[("long_0", "demo_sleep", json!({"seconds": 60}), &[])],
        json!({}),
    );
    body["dag_schema"]["dag"]["conf"]["task"]["timeout"] = json!(1);
    let started = Instant::now();
    let job = submit(&server, &body);
    server
        .wait_job(&job, &["timeout"], Duration::from_secs(20))
        .await;
    assert!(started.elapsed() < Duration::from_secs(15));
    for t in server.tasks(&job).await {
        assert_eq!(t["party_status"], "timeout");
        let pid = t["run_pid"].as_i64().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::fs::metadata(format!("/proc/{pid}")).is_ok()
            && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .unwrap_or_default()
                .contains(") Z")
        {
            assert!(
                Instant::now() < deadline,
                "the timed-out process {pid} lives on"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn a_job_survives_its_participant_site_going_away_for_20_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let b0 = Server::launch(&dir.path().join("b"), "10000", None, 0).await;
    let b_port = b0.port();
    b0.stop().await;
    let a_conf = format!("routes:\n  '10000': http://127.0.0.1:{b_port}\n");
    let a = Server::launch(&dir.path().join("a"), "9999", Some(&a_conf), 0).await;
    let b_conf = format!("routes:\n  '9999': {}\n", a.url);
    let b = Server::launch(&dir.path().join("b"), "10000", Some(&b_conf), b_port).await;
    let job = submit(
        &a,
        &dag(
            &[
                ("first_0", "demo_sleep", json!({"seconds": 3}), &[]),
                (
                    "second_0",
                    "demo_sleep",
                    json!({"seconds": 0}),
                    &["first_0"],
                ),
            ],
            json!({}),
        ),
    );
    // Wait until the host runs its first task, then take its site away.
    let start = Instant::now();
    while !b
        .tasks(&job)
        .await
        .iter()
        .any(|t| t["party_status"] == "running")
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the host never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    b.kill9().await;
    tokio::time::sleep(Duration::from_secs(20)).await; // the outage itself, not a wait for state
    assert_eq!(
        a.job_statuses(&job).await,
        ["running"],
        "the job waits for the host"
    );
    let b = Server::launch(&dir.path().join("b"), "10000", Some(&b_conf), b_port).await;
    a.wait_job(&job, &["success", "failed"], Duration::from_secs(60))
        .await;
    assert_eq!(a.job_statuses(&job).await, ["success"]);
    b.wait_job(&job, &["success", "failed"], Duration::from_secs(30))
        .await;
    assert_eq!(b.job_statuses(&job).await, ["success"]);
    assert_launched_once(&dir.path().join("b"));
    a.stop().await;
    b.stop().await;
}

/// A job over two parties: two tasks in a row, one retry allowed (a run whose launch was
/// decided but cut short is failed, never launched twice, and retried as a new version).
fn two_step(seconds: f64) -> Value {
    dag(
        &[
            ("a_0", "demo_sleep", json!({"seconds": seconds}), &[]),
            ("b_0", "demo_sleep", json!({"seconds": seconds}), &["a_0"]),
        ],
        json!({"auto_retries": 1}),
    )
}

/// The site aborts at each named point on the way from deciding to start a task to its report
/// being acknowledged; started again, it finishes the job, and no run starts twice.
#[tokio::test]
async fn a_crash_at_any_point_between_deciding_and_reporting_is_recovered() {
    let points = [
        "scheduler.job_recorded",
        "scheduler.task_decided",
        "partner.run_decided",
        "partner.launched",
        "worker.status_committed",
        "reporter.delivered",
    ];
    for point in points {
        let dir = tempfile::tempdir().unwrap();
        let conf = format!("failpoints: ['{point}']\nscheduler: {{retry_delay_ms: 50}}\n");
        let server = Server::launch(dir.path(), "9999", Some(&conf), 0).await;
        let port = server.port();
        let reply = server.curl_post_raw("/v2/job/submit", &two_step(0.2));
        let mut server = server;
        let deadline = Instant::now() + Duration::from_secs(30);
        while server.child.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "{point}: the failpoint was never reached"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let server = Server::launch(
            dir.path(),
            "9999",
            Some("scheduler: {retry_delay_ms: 50}\n"),
            port,
        )
        .await;
        let job = match reply
            .as_ref()
            .and_then(|r| r["job_id"].as_str().map(str::to_string))
        {
            Some(j) => j,
            // The crash cut the submission short: the job is in the database all the same.
            None => {
                let deadline = Instant::now() + Duration::from_secs(30);
                loop {
                    let list = server.curl_get("/v2/job/list/query");
                    if let Some(j) = list["data"]["data"][0]["job_id"].as_str() {
                        break j.to_string();
                    }
                    assert!(Instant::now() < deadline, "{point}: the job was lost");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        server
            .wait_job(&job, &["success", "failed"], Duration::from_secs(60))
            .await;
        assert_eq!(
            server.job_statuses(&job).await,
            ["success", "success"],
            "{point}"
        );
        assert_launched_once(dir.path());
        server.stop().await;
    }
}

/// 20 jobs of 3 tasks over two parties; the site is killed (`kill -9`) at random moments five
/// times and started again each time. Every job succeeds, no run starts twice, and nothing a
/// query returned before a crash is lost.
#[tokio::test]
async fn twenty_jobs_survive_five_kills_of_their_site() {
    let dir = tempfile::tempdir().unwrap();
    let conf = "scheduler: {retry_delay_ms: 50, resync_interval_ms: 500}\ncomputing: {standalone: {cores: 64}}\n";
    let mut server = Server::launch(dir.path(), "9999", Some(conf), 0).await;
    let port = server.port();
    let body = dag(
        &[
            ("a_0", "demo_sleep", json!({"seconds": 0.3}), &[]),
            ("b_0", "demo_sleep", json!({"seconds": 0.3}), &["a_0"]),
            ("c_0", "demo_sleep", json!({"seconds": 0.3}), &["b_0"]),
        ],
        json!({"auto_retries": 2}),
    );
    let mut jobs = Vec::new();
    for _ in 0..20 {
        jobs.push(submit(&server, &body));
    }
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut rng = Lcg(0x5eed_u64 ^ std::process::id() as u64);
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(200 + rng.next() % 1200)).await; // a random moment
        // What a client saw just before the crash.
        for job in &jobs {
            for s in server.job_statuses(job).await {
                if matches!(s.as_str(), "success" | "failed" | "canceled" | "timeout") {
                    seen.insert(job.clone(), s);
                }
            }
        }
        server.kill9().await;
        server = Server::launch(dir.path(), "9999", Some(conf), port).await;
        for (job, status) in &seen {
            let now = server.job_statuses(job).await;
            assert!(
                now.iter().all(|s| s == status),
                "job {job} was {status} before a crash, {now:?} after"
            );
        }
    }
    for job in &jobs {
        server
            .wait_job(
                job,
                &["success", "failed", "canceled"],
                Duration::from_secs(120),
            )
            .await;
        assert_eq!(
            server.job_statuses(job).await,
            ["success", "success"],
            "job {job}"
        );
    }
    assert_launched_once(dir.path());
    server.stop().await;
}

/// A small deterministic generator for the crash moments (printed seeds make a run repeatable).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

/// A demo task that needs its site while the site is down (its output recorded after a sleep,
/// then its report) waits until the site is back: nothing fails, nothing runs again.
#[tokio::test]
async fn demo_tasks_wait_out_a_site_that_is_down_when_they_call_it() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("guest.csv");
    std::fs::write(&csv, super::support::GUEST_CSV).unwrap();
    let mut server = Server::launch(dir.path(), "9999", None, 0).await;
    let port = server.port();
    let guest = parties(&[("guest", "9999")]);
    let body = json!({"dag_schema": {"schema_version": "2.2.0", "dag": {
        "parties": guest,
        "conf": {"task": {"provider": "demo:*@local"}, "auto_retries": 0},
        "stage": "default",
        "tasks": {
            "reader_0": {"component_ref": "demo_reader", "parameters": {"path": csv}},
            "sleep_0": {"component_ref": "demo_sleep", "parameters": {"seconds": 2},
                        "inputs": {"data": {"input_data": {"task_output_artifact": {
                            "producer_task": "reader_0", "output_artifact_key": "output_data"}}}}}
        }
    }}});
    let job = submit(&server, &body);
    // Its process has started: `running` is durable before the launch, and a kill between
    // the two leaves no process to call the site (the restart launches it then).
    let start = Instant::now();
    loop {
        let launched = Server::launches(dir.path());
        let sleeping = server.tasks(&job).await.into_iter().any(|t| {
            t["task_name"] == "sleep_0"
                && t["party_status"] == "running"
                && t["execution_id"]
                    .as_str()
                    .is_some_and(|id| launched.iter().any(|l| l == id))
        });
        if sleeping {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "sleep_0 never ran"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill9().await;
    // Down until the task has called and been refused: its output is then recorded late.
    let logs = dir.path().join("site/logs").join(&job);
    let down = Instant::now();
    // (Its input query, or the recording of its output, whichever the kill fell before.)
    let retried = |logs: &Path| {
        ["data tracking query", "data tracking save"]
            .iter()
            .any(|call| !files_containing(logs, &format!("{call} failed, retrying")).is_empty())
    };
    while !retried(&logs) {
        assert!(
            down.elapsed() < Duration::from_secs(30),
            "sleep_0 never called its site while it was down"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server = Server::launch(dir.path(), "9999", None, port).await;
    server
        .wait_job(
            &job,
            &["success", "failed", "canceled"],
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(server.job_statuses(&job).await, ["success"]);
    for t in server.tasks(&job).await {
        assert_eq!(t["task_version"], 0, "{t}");
        assert_eq!(t["party_status"], "success", "{t}");
    }
    assert_launched_once(dir.path());
    server.stop().await;
}

//! Jobs end to end: submitted with plain `curl`, the demo components as real task processes,
//! two sites as two processes.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::dbserver::{Backend, Password};
use super::support::{GUEST_CSV, Server, demo_csvs, files_containing, parties};

/// Five tasks with fan-out and fan-in; the arbiter takes part in the last two only:
/// reader_0 → (transform_a, transform_b) → join_0 (+arbiter) → train_0 (+arbiter).
pub fn fan_dag(dir: &Path, sync_type: &str) -> Value {
    let (g, h) = demo_csvs(dir);
    let data = parties(&[("guest", "9999"), ("host", "10000")]);
    let out = |p: &str| json!({"producer_task": p, "output_artifact_key": "output_data", "parties": data});
    json!({
        "schema_version": "2.2.0",
        "dag": {
            "parties": parties(&[("guest", "9999"), ("host", "10000"), ("arbiter", "9999")]),
            "conf": {"sync_type": sync_type, "cores": 8, "task": {"provider": "demo:*@local", "engine_run": {"cores": 4}}},
            "stage": "default",
            "tasks": {
                "reader_0": {"component_ref": "demo_reader", "parties": data},
                "transform_a": {"component_ref": "demo_transform", "parties": data, "parameters": {"scale": 1.0},
                    "inputs": {"data": {"input_data": {"task_output_artifact": out("reader_0")}}}},
                "transform_b": {"component_ref": "demo_transform", "parties": data, "parameters": {"scale": 2.0},
                    "inputs": {"data": {"input_data": {"task_output_artifact": out("reader_0")}}}},
                "join_0": {"component_ref": "demo_sleep", "parameters": {"seconds": 0},
                    "inputs": {"data": {"input_data": {"task_output_artifact": [out("transform_a"), out("transform_b")]}}}},
                "train_0": {"component_ref": "demo_train", "stage": "train",
                    "parameters": {"max_iter": 10, "learning_rate": 0.1, "label": "y"},
                    "inputs": {"data": {"train_data": {"task_output_artifact": out("join_0")}}}}
            },
            "party_tasks": {
                "guest_9999": {"parties": parties(&[("guest", "9999")]), "tasks": {"reader_0": {"parameters": {"path": g}}}},
                "host_10000": {"parties": parties(&[("host", "10000")]), "tasks": {"reader_0": {"parameters": {"path": h}}}}
            }
        }
    })
}

async fn run_fan_job(sync_type: &str) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), "9999", None).await;
    let reply = server.curl_post(
        "/v2/job/submit",
        &json!({"dag_schema": fan_dag(dir.path(), sync_type)}),
    );
    assert_eq!(reply["code"], 0, "{reply}");
    let job = reply["job_id"].as_str().unwrap().to_string();
    assert_eq!(reply["data"]["model_id"], job);
    server
        .wait_job(
            &job,
            &["success", "failed", "canceled"],
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(
        server.job_statuses(&job).await,
        vec!["success"; 3],
        "guest, host, arbiter"
    );

    let tasks = server.curl_get(&format!("/v2/job/task/query?job_id={job}"));
    let tasks = tasks["data"].as_array().unwrap();
    // reader, 2 transforms on 2 parties; join and train on 3.
    assert_eq!(tasks.len(), 2 + 4 + 3 + 3);
    for t in tasks {
        assert_eq!(
            (t["status"].as_str(), t["party_status"].as_str()),
            (Some("success"), Some("success")),
            "{}",
            t["execution_id"]
        );
        let (s, e) = (
            t["start_time"].as_i64().unwrap(),
            t["end_time"].as_i64().unwrap(),
        );
        assert!(s <= e, "{}", t["execution_id"]);
        assert_eq!(t["sync_type"], sync_type);
    }
    let arbiter: Vec<&str> = tasks
        .iter()
        .filter(|t| t["role"] == "arbiter")
        .map(|t| t["task_name"].as_str().unwrap())
        .collect();
    assert_eq!(arbiter.len(), 2);
    assert!(arbiter.contains(&"join_0") && arbiter.contains(&"train_0"));

    // The model, through api-1 and through api-3.
    let q = format!("job_id={job}&role=guest&party_id=9999&task_name=train_0");
    let models = server.curl_get(&format!("/v2/output/model/query?{q}"));
    assert_eq!(models["code"], 0, "{models}");
    let model = &models["data"]["output_model"];
    assert_eq!(model["coefficients"].as_array().unwrap().len(), 5);
    // api-3 answers only a task run presenting its worker token.
    let refused: Value = reqwest::get(format!(
        "{}/v2/worker/model/download?model_id={job}&model_version=0&role=guest&party_id=9999&task_name=train_0&output_key=output_model",
        server.url
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(refused["code"], 5001, "{refused}");
    let tar = reqwest::get(format!("{}/v2/output/model/download?{q}", server.url))
        .await
        .unwrap();
    assert_eq!(tar.headers()["content-type"], "application/x-tar");
    let bytes = tar.bytes().await.unwrap();
    let mut names = Vec::new();
    for entry in tar::Archive::new(&bytes[..]).entries().unwrap() {
        names.push(
            entry
                .unwrap()
                .path()
                .unwrap()
                .to_string_lossy()
                .into_owned(),
        );
    }
    assert!(
        names.iter().any(|n| n.ends_with("output_model.meta.yaml")),
        "{names:?}"
    );

    // One loss per iteration, decreasing.
    let metrics = server.curl_get(&format!("/v2/output/metric/query?{q}"));
    let losses: Vec<f64> = metrics["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["name"] == "loss")
        .map(|m| m["data"][0]["metric"][0].as_f64().unwrap())
        .collect();
    assert_eq!(losses.len(), 10);
    assert!(losses.windows(2).all(|w| w[1] < w[0]), "{losses:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_fan_out_fan_in_dag_submitted_with_curl_succeeds_for_every_party() {
    run_fan_job("callback").await;
}

#[tokio::test]
async fn the_same_dag_succeeds_in_poll_mode() {
    run_fan_job("poll").await;
}

pub(super) fn sleep_dag(seconds: f64, component: &str, extra: Value) -> Value {
    let mut params = json!({"seconds": seconds});
    if let Value::Object(m) = extra {
        params.as_object_mut().unwrap().extend(m);
    }
    json!({
        "schema_version": "2.2.0",
        "dag": {
            "parties": parties(&[("guest", "9999"), ("host", "10000")]),
            "conf": {"task": {"provider": "demo:*@local"}},
            "stage": "default",
            "tasks": {"only_0": {"component_ref": component, "parameters": params}}
        }
    })
}

fn process_gone(pid: i64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(s) => {
            s.rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next())
                == Some("Z")
        }
    }
}

#[tokio::test]
async fn stop_cancels_a_running_job_on_every_party_and_its_processes_are_gone() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), "9999", None).await;
    let reply = server.curl_post(
        "/v2/job/submit",
        &json!({"dag_schema": sleep_dag(60.0, "demo_sleep", json!({}))}),
    );
    let job = reply["job_id"].as_str().unwrap().to_string();
    let pids = {
        let start = Instant::now();
        loop {
            let tasks = server.tasks(&job).await;
            let pids: Vec<i64> = tasks.iter().filter_map(|t| t["run_pid"].as_i64()).collect();
            if pids.len() == 2 && tasks.iter().all(|t| t["party_status"] == "running") {
                break pids;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "tasks never ran: {tasks:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    assert!(pids.iter().all(|p| !process_gone(*p)));
    let stopped_at = Instant::now();
    let reply = server.curl_post("/v2/job/stop", &json!({"job_id": job}));
    assert_eq!(reply["code"], 0, "{reply}");
    server
        .wait_job(&job, &["canceled"], Duration::from_secs(10))
        .await;
    while !pids.iter().all(|p| process_gone(*p)) {
        assert!(
            stopped_at.elapsed() < Duration::from_secs(2),
            "task processes outlived the stop by 2 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The scheduler's verdict reaches every party's task rows too.
    let start = Instant::now();
    loop {
        let tasks = server.tasks(&job).await;
        if tasks
            .iter()
            .all(|t| t["status"] == "canceled" && t["party_status"] == "canceled")
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "tasks not canceled: {tasks:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn a_failing_task_fails_the_job_with_its_message() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), "9999", None).await;
    let dag = sleep_dag(
        0.0,
        "demo_fail",
        json!({"message": "the data is not what I expected"}),
    );
    let reply = server.curl_post("/v2/job/submit", &json!({"dag_schema": dag}));
    let job = reply["job_id"].as_str().unwrap().to_string();
    server
        .wait_job(&job, &["failed"], Duration::from_secs(30))
        .await;
    let tasks = server.curl_get(&format!("/v2/job/task/query?job_id={job}"));
    // Both parties fail; one may be stopped by the other's failure before it reports its own.
    let mut told = 0;
    for t in tasks["data"].as_array().unwrap() {
        assert_eq!(t["party_status"], "failed");
        let error = t["error_report"].as_str().unwrap();
        if error.contains("the data is not what I expected") {
            told += 1;
        } else {
            assert_eq!(error, "stopped: failed");
        }
    }
    assert!(told >= 1, "{tasks}");
    server.stop().await;
}

/// Two sites as two processes, each on its own database of `backend` (a new database on the
/// test binary's server for PostgreSQL and MariaDB), run one multi-party DAG.
async fn two_sites_as_two_processes_run_one_job(backend: Backend, via: Password) {
    let dir = tempfile::tempdir().unwrap();
    let site_conf = |name: &str| {
        let d = dir.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        backend.service_conf(&d, via)
    };
    // Each site learns the other's address from its route table; start B first on a port
    // chosen by the OS, then A pointing at it, then restart B pointing at A.
    let b0 = Server::start(&dir.path().join("b0"), "10000", None).await;
    let b_url = b0.url.clone();
    b0.stop().await;
    // The readers' tables are in the test's directory, beside both sites'.
    let allowed = format!("allowed_dirs: [{:?}]\n", dir.path().display().to_string());
    let (a_db, a_env) = site_conf("a");
    let env = |e: &Option<String>| -> Vec<(&'static str, String)> {
        e.iter()
            .map(|p| ("FERROFLOW_DB_PASSWORD", p.clone()))
            .collect()
    };
    let a_env = env(&a_env);
    let a = Server::launch_with_env(
        &dir.path().join("a"),
        "9999",
        Some(&format!("routes:\n  '10000': {b_url}\n{allowed}{a_db}")),
        0,
        &a_env
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect::<Vec<_>>(),
    )
    .await;
    let b_port: u16 = b_url.rsplit(':').next().unwrap().parse().unwrap();
    let (b_db, b_env) = site_conf("b");
    let b_env = env(&b_env);
    let b = Server::launch_with_env(
        &dir.path().join("b"),
        "10000",
        Some(&format!("routes:\n  '9999': {}\n{allowed}{b_db}", a.url)),
        b_port,
        &b_env
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect::<Vec<_>>(),
    )
    .await;
    let dag = fan_dag(dir.path(), "callback");
    let reply = a.curl_post("/v2/job/submit", &json!({"dag_schema": dag}));
    assert_eq!(reply["code"], 0, "{reply}");
    let job = reply["job_id"].as_str().unwrap().to_string();
    a.wait_job(&job, &["success", "failed"], Duration::from_secs(60))
        .await;
    assert_eq!(
        a.job_statuses(&job).await,
        vec!["success"; 2],
        "guest and arbiter on A"
    );
    b.wait_job(&job, &["success", "failed"], Duration::from_secs(30))
        .await;
    assert_eq!(b.job_statuses(&job).await, vec!["success"], "host on B");
    let host_tasks = b.tasks(&job).await;
    assert_eq!(host_tasks.len(), 5);
    assert!(
        host_tasks
            .iter()
            .all(|t| t["role"] == "host" && t["party_status"] == "success")
    );
    // The password is in no answer about the server and in no log line.
    let all = a.curl_get("/v2/server/query/all");
    assert_eq!(all["code"], 0, "{all}");
    if backend != Backend::Sqlite {
        assert_eq!(
            all["data"]["DATABASE"]["engine"],
            a_db.split_whitespace().nth(2).unwrap()
        );
    }
    let secret = Backend::password();
    assert!(!all.to_string().contains(secret), "{all}");
    a.stop().await;
    b.stop().await;
    for site in ["a", "b"] {
        assert!(
            files_containing(&dir.path().join(site), secret)
                .iter()
                .all(|f| f.ends_with("service_conf.yaml") || f.ends_with("db-password")),
            "the password is written where it was put only"
        );
    }
}

#[tokio::test]
async fn two_sites_as_two_processes_run_one_job_on_sqlite() {
    two_sites_as_two_processes_run_one_job(Backend::Sqlite, Password::Key).await;
}

#[tokio::test]
#[ignore = "starts PostgreSQL; run with --ignored"]
async fn two_sites_as_two_processes_run_one_job_on_postgresql() {
    two_sites_as_two_processes_run_one_job(Backend::Postgres, Password::File).await;
}

#[tokio::test]
#[ignore = "starts MariaDB; run with --ignored"]
async fn two_sites_as_two_processes_run_one_job_on_mariadb() {
    two_sites_as_two_processes_run_one_job(Backend::MariaDb, Password::Env).await;
}

/// `curl -F` as a user uploads a file.
fn curl_form(url: &str, fields: &[(&str, String)]) -> Value {
    let mut cmd = std::process::Command::new("curl");
    cmd.arg("-s");
    for (k, v) in fields {
        cmd.arg("-F").arg(format!("{k}={v}"));
    }
    let out = cmd.arg(url).output().expect("curl runs");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{url}: {e}: {:?}", String::from_utf8_lossy(&out.stdout)))
}

#[tokio::test]
async fn an_uploaded_table_feeds_a_dag_whose_model_moves_to_another_site() {
    let dir = tempfile::tempdir().unwrap();
    let a = Server::start(&dir.path().join("a"), "9999", None).await;
    let csv = dir.path().join("guest.csv");
    std::fs::write(&csv, GUEST_CSV).unwrap();

    // Upload through the multipart route: a local job runs the fate_flow upload component.
    let reply = curl_form(
        &format!("{}/v2/data/component/upload/file", a.url),
        &[
            ("head", "true".into()),
            ("partitions", "4".into()),
            (
                "meta",
                r#"{"delimiter": ",", "match_id_name": "id"}"#.into(),
            ),
            ("namespace", "experiment".into()),
            ("name", "demo_guest".into()),
            ("file", format!("@{}", csv.display())),
        ],
    );
    assert_eq!(reply["code"], 0, "{reply}");
    let upload_job = reply["job_id"].as_str().unwrap().to_string();
    let s = a
        .wait_job(&upload_job, &["success", "failed"], Duration::from_secs(60))
        .await;
    assert_eq!(s, ["success"], "upload job");
    let table = a.curl_get("/v2/table/query?namespace=experiment&name=demo_guest");
    assert_eq!(table["data"]["count"], 300, "{table}");

    // A demo DAG reading the table by namespace/name.
    let dag = json!({
        "schema_version": "2.2.0",
        "dag": {
            "parties": parties(&[("guest", "9999")]),
            "conf": {"task": {"provider": "demo:*@local"}},
            "stage": "default",
            "tasks": {
                "reader_0": {"component_ref": "demo_reader",
                    "parameters": {"namespace": "experiment", "name": "demo_guest"}},
                "train_0": {"component_ref": "demo_train", "stage": "train",
                    "parameters": {"max_iter": 5, "label": "y"},
                    "inputs": {"data": {"train_data": {"task_output_artifact": {
                        "producer_task": "reader_0", "output_artifact_key": "output_data"}}}}}
            }
        }
    });
    let reply = a.curl_post("/v2/job/submit", &json!({ "dag_schema": dag }));
    assert_eq!(reply["code"], 0, "{reply}");
    let job = reply["job_id"].as_str().unwrap().to_string();
    let s = a
        .wait_job(
            &job,
            &["success", "failed", "canceled"],
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(s, ["success"]);

    // Its outputs, downloaded.
    let q = format!("job_id={job}&role=guest&party_id=9999&task_name=train_0");
    let r = reqwest::get(format!("{}/v2/output/data/download?{q}", a.url))
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/gzip");
    let members = ferroflow_server::archive::untargz(&r.bytes().await.unwrap()).unwrap();
    let csv_out = members
        .iter()
        .find(|(n, _)| n == "train_output_data/0.csv")
        .expect("the trainer's table");
    assert_eq!(String::from_utf8_lossy(&csv_out.1).lines().count(), 301);
    let original = reqwest::get(format!("{}/v2/output/model/download?{q}", a.url))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();

    // Exported, imported into a second site, read back byte-identical.
    let reply = a.curl_post(
        "/v2/model/export",
        &json!({"model_id": job, "model_version": "0", "role": "guest", "party_id": "9999",
                "path": "exports"}),
    );
    assert_eq!(reply["code"], 0, "{reply}");
    let zip = dir
        .path()
        .join("a/site/upload/exports")
        .join(format!("{job}_0_guest_9999.zip"));
    assert!(zip.exists(), "{}", zip.display());
    // B reads the imported archive back through api-3 as a prediction task would, with no
    // task run to hold a worker token.
    let b = Server::start(
        &dir.path().join("b"),
        "10000",
        Some("authentication: {worker: false}"),
    )
    .await;
    let reply = curl_form(
        &format!("{}/v2/model/import", b.url),
        &[
            ("model_id", "imported".into()),
            ("model_version", "1".into()),
            ("file", format!("@{}", zip.display())),
        ],
    );
    assert_eq!(reply["code"], 0, "{reply}");
    let back = reqwest::get(format!(
        "{}/v2/worker/model/download?model_id=imported&model_version=1&role=guest&party_id=9999&task_name=train_0&output_key=output_model",
        b.url
    ))
    .await
    .unwrap()
    .bytes()
    .await
    .unwrap();
    assert_eq!(back, original, "the model reads back byte-identical");
    a.stop().await;
    b.stop().await;
}

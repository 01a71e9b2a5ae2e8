//! The demo provider's components as real `ferroflow component execute` processes, the way a
//! site launches them: CONFIG in the environment, the worker API at `mlmd`, the exit code and
//! the status report as the only results.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;
use tokio::process::Command;

#[path = "../src/component/fake_site.rs"]
mod fake_site;

use fake_site::FakeSite;

const JOB: &str = "202601010000000000002";
const GUEST_CSV: &str = include_str!("../data/demo_guest.csv");

fn ferroflow() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ferroflow"));
    c.env_remove("CONFIG")
        .env_remove("FATE_TASK_CONFIG")
        .env_remove("FERROFLOW_REPORT_DEADLINE_SECS");
    c.kill_on_drop(true);
    c
}

/// A CONFIG for `component` as task `<task>` of guest 9999, with FATE's logger document
/// pointing into `dir/logs`.
fn config(
    site: &FakeSite,
    dir: &Path,
    task: &str,
    component: &str,
    params: Value,
    inputs: Value,
) -> Value {
    let task_id = format!("{JOB}_{task}");
    let execution_id = format!("{task_id}_0_guest_9999");
    let task_logs = dir.join("logs").join(JOB).join("guest/9999").join(task);
    let handler = |file: &Path, level: &str| json!({"class": "logging.FileHandler", "delay": true, "filename": file, "formatter": "root", "level": level});
    json!({
        "model_id": JOB, "model_version": "0", "job_id": JOB, "task_id": task_id, "task_version": "0",
        "task_name": task, "provider_name": "demo", "party_task_id": execution_id, "component": component,
        "role": "guest", "party_id": "9999", "stage": "default", "parameters": params,
        "input_artifacts": inputs,
        "conf": {
            "computing": {"type": "standalone", "metadata": {"computing_id": execution_id, "options": {"data_dir": dir.join("data")}}},
            "device": {"type": "CPU", "metadata": {}},
            "federation": {"type": "standalone", "metadata": {"federation_id": format!("{task_id}_0"),
                "parties": {"local": {"role": "guest", "partyid": "9999"}, "parties": [{"role": "guest", "partyid": "9999"}]}}},
            "logger": {"config": {
                "version": 1,
                "handlers": {
                    "root_info": handler(&task_logs.join("root/INFO"), "INFO"),
                    "root_error": handler(&task_logs.join("root/ERROR"), "ERROR"),
                },
                "root": {"handlers": ["root_info", "root_error"], "level": "INFO"}
            }},
            "storage": "standalone"
        },
        "mlmd": site.mlmd(),
        "engine_run": {"cores": 4}, "computing_partitions": 8, "launcher_name": "default", "launcher_conf": {}
    })
}

fn task_log(dir: &Path, task: &str, level: &str) -> Option<String> {
    std::fs::read_to_string(
        dir.join("logs")
            .join(JOB)
            .join("guest/9999")
            .join(task)
            .join("root")
            .join(level),
    )
    .ok()
}

#[tokio::test]
async fn list_prints_the_components() {
    let out = ferroflow()
        .args(["component", "list"])
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "demo_reader\ndemo_transform\ndemo_train\ndemo_sleep\ndemo_fail\n"
    );
}

#[tokio::test]
async fn train_runs_as_a_process_with_its_config_in_the_environment() {
    let mut site = FakeSite::start().await;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("guest.csv");
    std::fs::write(&src, GUEST_CSV).unwrap();
    site.add_table(
        "experiment",
        "demo_guest",
        &format!("file://{}", src.display()),
        300,
    );
    let inputs = json!({"data": {"train_data": {"namespace": "experiment", "name": "demo_guest",
        "parties": [{"role": "guest", "party_id": ["9999"]}]}}, "model": null});
    let cfg = config(
        &site,
        dir.path(),
        "lr_0",
        "demo_train",
        json!({"max_iter": 5, "learning_rate": 0.3}),
        inputs,
    );

    let out = ferroflow()
        .args(["component", "execute"])
        .env("CONFIG", cfg.to_string())
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        site.next_status().await,
        json!({"execution_id": cfg["party_task_id"], "status": "success", "error": ""})
    );
    assert_eq!(
        site.calls_to(&format!(
            "/v2/worker/metric/save/{}",
            cfg["party_task_id"].as_str().unwrap()
        ))
        .len(),
        5
    );
    assert_eq!(site.calls_to("/v2/worker/model/save").len(), 1);
    let query = &site.calls_to("/v2/worker/data/tracking/query")[0];
    assert_eq!(
        query.query.get("namespace").map(String::as_str),
        Some("experiment")
    );
    let saved = site.calls_to("/v2/worker/data/tracking/save");
    assert_eq!(saved[0].json()["output_key"], "train_output_data");

    // the log lines went to stderr and to the task's INFO file; no error, no ERROR file
    let info = task_log(dir.path(), "lr_0", "INFO").expect("root/INFO written");
    assert!(
        info.lines().next().unwrap().starts_with("[INFO]["),
        "{info}"
    );
    assert!(
        info.contains("task start") && info.contains("status reported"),
        "{info}"
    );
    assert!(stderr.contains("task start"), "{stderr}");
    assert!(task_log(dir.path(), "lr_0", "ERROR").is_none());
}

#[tokio::test]
async fn demo_fail_exits_1_and_reports_its_message_from_a_yaml_config() {
    let mut site = FakeSite::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        &site,
        dir.path(),
        "fail_0",
        "demo_fail",
        json!({"message": "boom"}),
        json!({"data": null, "model": null}),
    );
    // FATE's local wrapper: YAML in FATE_TASK_CONFIG, named by --env-name
    let yaml = serde_yaml::to_string(&cfg).unwrap();
    let out = ferroflow()
        .args(["component", "execute", "--env-name", "FATE_TASK_CONFIG"])
        .env("FATE_TASK_CONFIG", yaml)
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        site.next_status().await,
        json!({"execution_id": cfg["party_task_id"], "status": "failed", "error": "demo_fail: boom"})
    );
    assert_eq!(site.calls().len(), 1, "only the status report");
    let error_log = task_log(dir.path(), "fail_0", "ERROR").expect("root/ERROR written");
    assert!(error_log.contains("demo_fail: boom"), "{error_log}");
}

#[tokio::test]
async fn config_from_a_file() {
    let mut site = FakeSite::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        &site,
        dir.path(),
        "sleep_0",
        "demo_sleep",
        json!({"seconds": 0.01}),
        json!({"data": null, "model": null}),
    );
    let file = dir.path().join("config.json");
    std::fs::write(&file, cfg.to_string()).unwrap();
    let out = ferroflow()
        .args(["component", "execute", "--config"])
        .arg(&file)
        .output()
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(site.next_status().await["status"], "success");
}

#[tokio::test]
async fn without_a_config_the_process_fails() {
    let out = ferroflow()
        .args(["component", "execute"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no CONFIG: environment variable CONFIG is not set"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_config_that_does_not_parse_is_still_reported_as_failed() {
    let mut site = FakeSite::start().await;
    let broken =
        json!({"party_task_id": "x_0_guest_9999", "mlmd": site.mlmd(), "component": "demo_fail"});
    let out = ferroflow()
        .args(["component", "execute"])
        .env("CONFIG", broken.to_string())
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let status = site.next_status().await;
    assert_eq!(status["execution_id"], "x_0_guest_9999");
    assert_eq!(status["status"], "failed");
    assert!(
        status["error"]
            .as_str()
            .unwrap()
            .starts_with("cannot read the CONFIG: not a task config"),
        "{status}"
    );
}

#[tokio::test]
async fn the_report_deadline_is_taken_from_the_environment() {
    let site = FakeSite::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(
        &site,
        dir.path(),
        "fail_0",
        "demo_fail",
        json!({}),
        json!({"data": null, "model": null}),
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    cfg["mlmd"]["metadata"]["port"] = json!(port); // nobody listens there
    let started = std::time::Instant::now();
    let out = ferroflow()
        .args(["component", "execute"])
        .env("CONFIG", cfg.to_string())
        .env("FERROFLOW_REPORT_DEADLINE_SECS", "0.5")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(started.elapsed() < Duration::from_secs(10));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("retrying") && stderr.contains("deadline reached"),
        "{stderr}"
    );
}

#[tokio::test]
async fn sleep_ends_at_once_on_sigterm() {
    let mut site = FakeSite::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        &site,
        dir.path(),
        "sleep_0",
        "demo_sleep",
        json!({"seconds": 600}),
        json!({"data": null, "model": null}),
    );
    let mut child = ferroflow()
        .args(["component", "execute"])
        .env("CONFIG", cfg.to_string())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    while let Some(line) = lines.next_line().await.unwrap() {
        if line.contains("sleeping") {
            break;
        }
    }
    let pid = child.id().unwrap().to_string();
    let kill = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(kill.success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("ended promptly")
        .unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(15));
    assert!(
        site.try_status().is_none(),
        "a killed task reports nothing; the site records the stop"
    );
}

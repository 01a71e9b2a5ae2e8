//! The wrapper run in-process against [`FakeSite`], with a fake pyfate: a shell script standing
//! in for `python -m fate.components component artifact-type|execute` that writes what pyfate
//! writes (define.yaml, the final meta) or fails as pyfate can fail. (The real pyfate runs in
//! `tests/pyfate`.)

use std::path::{Path, PathBuf};
use std::time::Duration;

use ferroflow_wire::task_config::TaskConfig;
use serde_json::{Value, json};

use super::*;
use crate::component::fake_site::{Body, FakeSite};
use crate::component::worker_client::{ClientOptions, ReportPolicy};

const JOB: &str = "202601010000000000009";

fn options() -> Options {
    Options {
        client: ClientOptions {
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(10),
            upload_timeout: Duration::from_secs(10),
            site_wait: Duration::from_secs(2),
            retry_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(100),
            token: None,
        },
        report: ReportPolicy::with_deadline(Duration::from_secs(10)),
        allowed_dirs: None,
    }
}

/// How the fake algorithm ends.
#[derive(Clone, Copy)]
enum Mode {
    /// Writes a data output, a model and the final meta; exits 0.
    Success,
    /// Writes `code: -1` with a traceback, exits 1 (pyfate's failure).
    Raises,
    /// Killed by SIGKILL before writing anything.
    Killed,
}

/// The fake `python`: records its `execute` arguments and environment in `dir`.
fn fake_python(dir: &Path, mode: Mode) -> PathBuf {
    let model_dir = dir.join("model_out");
    let execute = match mode {
        Mode::Success => format!(
            r#"mkdir -p {m}; echo '{{"w": [1.5]}}' > {m}/json_model
cat > "$result" <<EOF
{{"status": {{"code": 0}}, "io_meta": {{"inputs": {{"data": {{}}, "model": {{}}}}, "outputs": {{
  "data": {{"output_data": {{"uri": "standalone:///d/{JOB}_lr_0/abc", "type_name": "dataframe", "consumed": true,
      "metadata": {{"metadata": {{"schema": {{"k": 1}}}}, "data_overview": {{"count": 3, "samples": []}},
                   "source": {{"task_id": "{JOB}_lr_0", "party_task_id": "x", "task_name": "lr_0", "component": "coordinated_lr", "output_artifact_key": "output_data", "output_index": null}}}}}}}},
  "model": {{"output_model": {{"uri": "file://{m}/json_model", "type_name": "json_model", "consumed": true,
      "metadata": {{"metadata": {{}}, "source": {{"task_id": "{JOB}_lr_0", "party_task_id": "x", "task_name": "lr_0", "component": "coordinated_lr", "output_artifact_key": "output_model", "output_index": null}}}}}}}},
  "metric": {{}}}}}}}}
EOF
metric=$(grep -o 'http://127.0.0.1:[0-9]*/v2/worker/metric/save/[A-Za-z0-9_]*' "$config" | head -n1)
curl -s -X POST -H 'Content-Type: application/json' -d '{{"data": [{{"name": "loss", "type": null, "groups": [], "step_axis": "iterations", "data": [{{"step": 0, "metric": 0.5}}]}}]}}' "$metric"
echo algorithm done"#,
            m = model_dir.display()
        ),
        Mode::Raises => r#"echo 'ValueError: boom' >&2
printf '{"status": {"code": -1, "exceptions": "Traceback (most recent call last):\\n  File \\"x.py\\"\\nValueError: boom"}}' > "$result"
exit 1"#
            .to_string(),
        Mode::Killed => "kill -9 $$".to_string(),
    };
    let script = format!(
        r#"#!/bin/sh
# a stand-in for: python -m fate.components component <command> ...
cmd="$4"; shift 4
while [ $# -gt 0 ]; do
  case "$1" in
    --output-path) out="$2";;
    --config) config="$2";;
    --execution-final-meta-path) result="$2";;
  esac
  shift
done
case "$cmd" in
  artifact-type)
    cat > "$out" <<EOF
inputs:
  data: [{{name: train_data, is_multi: false, optional: false, types: [{{type_name: dataframe}}]}},
         {{name: validate_data, is_multi: false, optional: true, types: [{{type_name: dataframe}}]}}]
  model: []
outputs:
  data: [{{name: output_data, is_multi: false, optional: false, types: [{{type_name: dataframe}}]}}]
  model: [{{name: output_model, is_multi: false, optional: false, types: [{{type_name: json_model}}]}}]
  metric: [{{name: metric, is_multi: false, optional: false, types: [{{type_name: json_metric}}]}}]
EOF
    ;;
  execute)
    cp "$config" {dir}/seen_params.yaml
    env > {dir}/seen_env
    {execute}
    ;;
esac
"#,
        dir = dir.display()
    );
    let path = dir.join("python");
    std::fs::write(&path, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn config(site: &FakeSite, data_dir: &Path, inputs: Value) -> TaskConfig {
    let execution_id = format!("{JOB}_lr_0_0_guest_9999");
    TaskConfig::parse(
        &json!({
            "model_id": JOB, "model_version": "0", "job_id": JOB, "task_id": format!("{JOB}_lr_0"),
            "task_version": "0", "task_name": "lr_0", "provider_name": "fate",
            "party_task_id": execution_id, "component": "coordinated_lr", "role": "guest",
            "party_id": "9999", "stage": "train", "parameters": {"epochs": 2},
            "input_artifacts": inputs,
            "conf": {
                "computing": {"type": "standalone", "metadata": {"computing_id": execution_id, "options": {"data_dir": data_dir}}},
                "device": {"type": "CPU", "metadata": {}},
                "federation": {"type": "standalone", "metadata": {"federation_id": format!("{JOB}_lr_0_0"),
                    "parties": {"local": {"role": "guest", "partyid": "9999"}, "parties": [{"role": "guest", "partyid": "9999"}]}}},
                "logger": {"config": {}},
                "storage": "standalone"
            },
            "mlmd": site.mlmd(),
            "engine_run": {"cores": 4}, "computing_partitions": 8, "launcher_name": "default", "launcher_conf": {}
        })
        .to_string(),
    )
    .unwrap()
}

fn warehouse_input() -> Value {
    json!({"data": {"train_data": {"namespace": "experiment", "name": "guest",
                                   "parties": [{"role": "guest", "party_id": ["9999"]}]}},
           "model": null})
}

struct Run {
    ended: Ended,
    dir: tempfile::TempDir,
}

impl Run {
    fn params(&self) -> Value {
        serde_yaml::from_str(
            &std::fs::read_to_string(self.dir.path().join("seen_params.yaml")).unwrap(),
        )
        .unwrap()
    }
}

async fn run(site: &FakeSite, mode: Mode, inputs: Value) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let python = fake_python(dir.path(), mode);
    let data_dir = dir.path().join("data");
    let cfg = config(site, &data_dir, inputs);
    let task = dir.path().join("task");
    std::fs::create_dir_all(&task).unwrap();
    let dirs = Dirs::new(&task, &cfg);
    let ended = entrypoint(&cfg, &options(), &python, &dirs).await;
    Run { ended, dir }
}

#[tokio::test]
async fn a_successful_run_resolves_inputs_runs_pyfate_and_pushes_its_outputs() {
    let mut site = FakeSite::start().await;
    site.add_table("experiment", "guest", "standalone:///d/experiment/guest", 3);
    let r = run(&site, Mode::Success, warehouse_input()).await;
    assert_eq!(
        r.ended,
        Ended {
            code: 0,
            error: String::new()
        }
    );

    // What pyfate was given: the resolved input, the output URIs, the CONFIG's conf.
    let p = r.params();
    assert_eq!(p["party_task_id"], format!("{JOB}_lr_0_0_guest_9999"));
    assert_eq!(p["stage"], "train");
    assert_eq!(p["parameters"]["epochs"], 2);
    let input = &p["input_artifacts"]["train_data"];
    assert_eq!(input["uri"], "standalone:///d/experiment/guest");
    assert_eq!(input["type_name"], "dataframe");
    assert_eq!(input["metadata"]["metadata"]["options"]["partitions"], 8);
    assert!(p["input_artifacts"].get("validate_data").is_none());
    let outs = &p["output_artifacts"];
    let data_uri = outs["output_data"]["uri"].as_str().unwrap();
    let home = r.dir.path().join("data");
    assert!(
        data_uri.starts_with(&format!("standalone://{}/{JOB}_lr_0/", home.display())),
        "{data_uri}"
    );
    assert_eq!(
        outs["output_model"]["uri"],
        format!(
            "file://{}/task/output/output_model/json_model",
            r.dir.path().display()
        )
    );
    // Metrics go to the wrapper's relay, which passes them on to the site.
    let metric_uri = outs["metric"]["uri"].as_str().unwrap();
    assert!(
        metric_uri.starts_with("http://127.0.0.1:")
            && metric_uri.ends_with(&format!("/v2/worker/metric/save/{JOB}_lr_0_0_guest_9999"))
            && !metric_uri.starts_with(&site.addr),
        "{metric_uri}"
    );
    let metrics = site.calls_to(&format!("/v2/worker/metric/save/{JOB}_lr_0_0_guest_9999"));
    assert_eq!(metrics.len(), 1);
    assert_eq!(metrics[0].json()["data"][0]["data"][0]["metric"], 0.5);
    assert_eq!(p["conf"]["computing"]["type"], "standalone");
    let env = std::fs::read_to_string(r.dir.path().join("seen_env")).unwrap();
    assert!(
        env.contains(&format!("STANDALONE_DATA_PATH={}", home.display())),
        "{env}"
    );
    assert!(!env.lines().any(|l| l.starts_with("CONFIG=")));

    // What the site was told, in FATE's order.
    let saves = site.calls_to("/worker/data/tracking/save");
    assert_eq!(saves.len(), 1);
    let s = saves[0].json();
    assert_eq!(
        (s["namespace"].as_str(), s["name"].as_str()),
        (Some(&*format!("{JOB}_lr_0")), Some("abc"))
    );
    assert_eq!(s["partitions"], 16);
    assert_eq!(s["meta_data"]["k"], 1);
    let models = site.calls_to("/worker/model/save");
    assert_eq!(models.len(), 1);
    let Body::Form { fields, files } = &models[0].body else {
        panic!("model save is multipart")
    };
    assert_eq!(fields["output_key"], "output_model");
    assert_eq!(fields["type_name"], "json_model");
    let names: Vec<String> = tar::Archive::new(files["file"].1.as_slice())
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["json_model", "json_model.meta.yaml"]);
    let status = site.next_status().await;
    assert_eq!(status["status"], "success");
    assert_eq!(status["error"], "");
    // The raw output of pyfate's processes is kept where the site's log API finds it.
    let execute = std::fs::read_to_string(r.dir.path().join("task/stdout/task_execute")).unwrap();
    assert!(execute.contains("algorithm done"));
}

#[tokio::test]
async fn a_python_exception_is_reported_with_its_traceback() {
    let mut site = FakeSite::start().await;
    site.add_table("experiment", "guest", "standalone:///d/experiment/guest", 3);
    let r = run(&site, Mode::Raises, warehouse_input()).await;
    assert_eq!(r.ended.code, COMPONENT_RUN_FAILED);
    assert!(r.ended.error.contains("Traceback"), "{}", r.ended.error);
    assert!(r.ended.error.contains("ValueError: boom"));
    let status = site.next_status().await;
    assert_eq!(status["status"], "failed");
    assert!(
        status["error"]
            .as_str()
            .unwrap()
            .contains("ValueError: boom")
    );
    assert!(site.calls_to("/worker/data/tracking/save").is_empty());
    assert!(site.calls_to("/worker/model/save").is_empty());
    assert_eq!(exit_code(r.ended.code), ExitCode::from(215));
}

#[tokio::test]
async fn a_killed_algorithm_leaves_no_result_and_fails_its_task() {
    let mut site = FakeSite::start().await;
    site.add_table("experiment", "guest", "standalone:///d/experiment/guest", 3);
    let r = run(&site, Mode::Killed, warehouse_input()).await;
    assert_eq!(r.ended.code, NO_FOUND_RUN_RESULT);
    assert!(
        r.ended.error.contains("killed by signal 9"),
        "{}",
        r.ended.error
    );
    let status = site.next_status().await;
    assert_eq!(status["status"], "failed");
}

#[tokio::test]
async fn an_input_the_site_does_not_know_fails_the_wrapper() {
    let mut site = FakeSite::start().await;
    let r = run(&site, Mode::Success, warehouse_input()).await;
    assert_eq!(r.ended.code, TASK_RUN_FAILED);
    assert!(
        r.ended.error.contains("input `train_data`"),
        "{}",
        r.ended.error
    );
    let status = site.next_status().await;
    assert_eq!(status["status"], "failed");
    // pyfate never ran.
    assert!(!r.dir.path().join("seen_params.yaml").exists());
}

#[tokio::test]
async fn cleanup_removes_the_standalone_sessions() {
    let site = FakeSite::start().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = config(&site, &data, json!({"data": null, "model": null}));
    let keep = data.join("experiment/guest");
    for d in [
        data.join(format!("{JOB}_lr_0_0_guest_9999/t1")),
        data.join(format!("{JOB}_lr_0_0/__federation_status__.guest_9999")),
        keep.clone(),
    ] {
        std::fs::create_dir_all(d).unwrap();
    }
    cleanup(&cfg, Path::new("/nonexistent/python"), dir.path())
        .await
        .unwrap();
    assert!(!data.join(format!("{JOB}_lr_0_0_guest_9999")).exists());
    assert!(!data.join(format!("{JOB}_lr_0_0")).exists());
    assert!(keep.exists());
    // A second cleanup finds nothing to do.
    cleanup(&cfg, Path::new("/nonexistent/python"), dir.path())
        .await
        .unwrap();
}

#[test]
fn exit_codes_are_fates_modulo_256() {
    assert_eq!(exit_code(0), ExitCode::SUCCESS);
    assert_eq!(exit_code(TASK_RUN_FAILED), ExitCode::from(214));
    assert_eq!(exit_code(NO_FOUND_RUN_RESULT), ExitCode::from(216));
}

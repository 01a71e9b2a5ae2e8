//! A site killed with `kill -9` and started again on the same data and port while FATE's real
//! algorithms run: a reader → psi → coordinated_lr job still succeeds, every task at version
//! 0 (nothing was rerun), the model and every metric there once. The task processes outlive
//! the site; their calls (the wrapper's inputs, outputs and status, pyfate's metric posts
//! through the wrapper's relay) wait until it is back.

use super::*;

const GUEST: &str = "9999";
const HOST: &str = "10000";
const EPOCHS: i64 = 3;

/// How long the site stays down.
pub(crate) enum Outage {
    /// Until one of the job's tasks has logged that a call to the site failed and is retried:
    /// the restart is then sure to happen under a task that needed the site.
    UntilATaskRetries,
    /// A fixed time: the outage itself is what is tested.
    For(Duration),
}

/// FATE's two tables, uploaded by FATE's pipeline SDK.
pub(crate) async fn upload(server: &Server) {
    let out = pipeline_job(server).arg("--upload-only").output();
    let out = tokio::time::timeout(Duration::from_secs(600), out)
        .await
        .expect("the uploads end within 10 minutes")
        .unwrap();
    assert!(
        out.status.success(),
        "upload failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The DAG FATE's pipeline SDK submits for reader → psi → coordinated_lr (guest 9999, host
/// 10000, arbiter 9999), every task run by `provider`. `tol: 0` keeps the LR from stopping
/// early: it logs one loss per epoch.
pub(crate) fn lr_dag(provider: &str) -> Value {
    let gh = support::parties(&[("guest", GUEST), ("host", HOST)]);
    let all = support::parties(&[("guest", GUEST), ("host", HOST), ("arbiter", GUEST)]);
    let from = |task: &str| {
        json!({"task_output_artifact": {"producer_task": task, "output_artifact_key": "output_data",
                                        "parties": gh}})
    };
    json!({"dag_schema": {"schema_version": "2.2.0", "dag": {
        "parties": all,
        "stage": "train",
        "conf": {"task": {"provider": provider}},
        "tasks": {
            "reader_0": {"component_ref": "reader", "parameters": {}, "parties": gh, "stage": "default"},
            "psi_0": {"component_ref": "psi", "dependent_tasks": ["reader_0"], "parameters": {},
                      "inputs": {"data": {"input_data": from("reader_0")}}, "parties": gh,
                      "stage": "default"},
            "lr_0": {"component_ref": "coordinated_lr", "dependent_tasks": ["psi_0"],
                     "parameters": {"epochs": EPOCHS, "batch_size": 300, "tol": 0.0, "early_stop": "diff",
                                    "optimizer": {"method": "SGD", "optimizer_params": {"lr": 0.1},
                                                  "penalty": "l2", "alpha": 0.001},
                                    "init_param": {"fit_intercept": true, "method": "zeros"}},
                     "inputs": {"data": {"train_data": from("psi_0")}, "model": {}}}
        },
        "party_tasks": {
            "guest_9999": {"parties": support::parties(&[("guest", GUEST)]),
                           "tasks": {"reader_0": {"parameters": {"namespace": "experiment", "name": "breast_hetero_guest"}}}},
            "host_10000": {"parties": support::parties(&[("host", HOST)]),
                           "tasks": {"reader_0": {"parameters": {"namespace": "experiment", "name": "breast_hetero_host"}}}}
        }
    }}})
}

/// Runs the job on `server`; kills the site when the guest's algorithm process of `task` is
/// up, brings it back after `outage` on the same data and port, and checks that nothing was
/// lost. Returns the restarted site.
async fn restart_during(server: Server, task: &str, outage: Outage) -> Server {
    let conf = site_conf(&server.dir);
    restart_during_with(server, task, outage, "fate:2.2.0@local", &conf).await
}

/// [`restart_during`] with the tasks of `provider`, the site restarted with `conf`.
pub(crate) async fn restart_during_with(
    server: Server,
    task: &str,
    outage: Outage,
    provider: &str,
    conf: &str,
) -> Server {
    let dir = server.dir.clone();
    let port = server.port();
    let r = server.curl_post("/v2/job/submit", &lr_dag(provider));
    assert_eq!(r["code"], 0, "{r}");
    let job = r["job_id"].as_str().unwrap().to_string();
    let started = Instant::now();

    let params = dir
        .join("site/jobs")
        .join(&job)
        .join(format!("guest/{GUEST}/{task}/0/input/task_parameters.yaml"));
    while process_with_arg(&params.display().to_string()).is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "no algorithm process for {}",
            params.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.kill9().await;
    let down = Instant::now();
    let logs = dir.join("site/logs").join(&job);
    match outage {
        Outage::UntilATaskRetries => {
            while support::files_containing(&logs, "failed, retrying").is_empty() {
                assert!(
                    down.elapsed() < Duration::from_secs(600),
                    "no task of {job} called its site while it was down"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        // The outage itself, not a wait for state.
        Outage::For(d) => tokio::time::sleep(d).await,
    }
    let server = Server::start_on(&dir, GUEST, Some(conf), port).await;
    println!(
        "{task}: site down {:.1} s; tasks that retried: {:?}",
        down.elapsed().as_secs_f64(),
        support::files_containing(&logs, "failed, retrying")
            .iter()
            .map(|p| p.strip_prefix(&logs).unwrap().display().to_string())
            .collect::<Vec<_>>()
    );
    server
        .wait_job(
            &job,
            &["success", "failed", "canceled"],
            Duration::from_secs(900),
        )
        .await;
    println!(
        "job {job} ended {:.1} s after submit",
        started.elapsed().as_secs_f64()
    );

    for (role, party) in [("guest", GUEST), ("host", HOST), ("arbiter", GUEST)] {
        let tasks = tasks_of(&server, &job, role, party).await;
        assert_all_success(&tasks, &job);
        for t in &tasks {
            assert_eq!(t["task_version"], 0, "{role} {}: rerun", t["task_name"]);
        }
    }
    assert_eq!(
        server.job_statuses(&job).await,
        ["success"; 3],
        "one row a party"
    );

    // The model of both parties that train.
    for (role, party) in [("guest", GUEST), ("host", HOST)] {
        let model = flow(
            &server,
            &[
                "output",
                "query-model",
                "-j",
                &job,
                "-r",
                role,
                "-p",
                party,
                "-tn",
                "lr_0",
            ],
        );
        assert!(
            model["data"]["output_model"]["data"]["estimator"]["param"]["coef_"].is_array(),
            "{role}: {model:.500}"
        );
    }
    // Every metric once: psi's (its summary among them) on both sides, one loss per epoch on
    // the arbiter.
    for (role, party) in [("guest", GUEST), ("host", HOST)] {
        let m = metrics(&server, &job, role, party, "psi_0").await;
        let mut names: Vec<&str> = m.iter().filter_map(|r| r["name"].as_str()).collect();
        assert!(names.contains(&"summary"), "{role} psi_0: {m:?}");
        names.sort();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n, "{role} psi_0, a metric twice: {m:?}");
    }
    let m = metrics(&server, &job, "arbiter", GUEST, "lr_0").await;
    let mut steps: Vec<i64> = m
        .iter()
        .filter(|r| r["name"] == "lr_loss")
        .flat_map(|r| r["data"].as_array().cloned().unwrap_or_default())
        .filter_map(|d| d["step"].as_i64())
        .collect();
    steps.sort();
    assert_eq!(steps, (0..EPOCHS).collect::<Vec<_>>(), "{m:?}");
    server
}

/// The metric records of one task (`/v2/output/metric/query`).
async fn metrics(server: &Server, job: &str, role: &str, party: &str, task: &str) -> Vec<Value> {
    let v = server
        .get(&format!(
            "/v2/output/metric/query?job_id={job}&role={role}&party_id={party}&task_name={task}"
        ))
        .await;
    assert_eq!(v["code"], 0, "{v}");
    v["data"].as_array().cloned().unwrap_or_default()
}

/// One site, the tables uploaded once, three jobs: killed during psi, killed during lr, down
/// for a minute during lr (one test: the uploads and pyfate's start are the slow part).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the pyfate venv (FERROFLOW_PYFATE_PYTHON); CI's pyfate step runs it"]
async fn a_site_restarted_under_running_algorithms_loses_nothing() {
    let _one = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), GUEST, Some(&site_conf(dir.path()))).await;
    upload(&server).await;
    let server = restart_during(server, "psi_0", Outage::UntilATaskRetries).await;
    let server = restart_during(server, "lr_0", Outage::UntilATaskRetries).await;
    let server = restart_during(server, "lr_0", Outage::For(Duration::from_secs(60))).await;
    server.stop().await;
}

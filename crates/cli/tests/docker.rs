//! Algorithm containers end to end, against the real Docker Engine: `ferroflow serve` as a
//! real process, the demo image built by `ferroflow image demo`, registered as a `docker`
//! provider through `/v2/provider/register`, and DAGs whose every task runs in a container.
//!
//! Docker must be running (CI's machines have it); nothing here is skipped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::query_parameters::{KillContainerOptions, ListContainersOptions};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const GUEST_CSV: &str = include_str!("../data/demo_guest.csv");
const HOST_CSV: &str = include_str!("../data/demo_host.csv");
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The demo image of this very binary, built once per test run (a no-op when the daemon has
/// it already: the tag carries the content's digest).
fn demo_image() -> &'static str {
    static TAG: OnceLock<String> = OnceLock::new();
    TAG.get_or_init(|| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ferroflow"))
            .args(["image", "demo", "--content-tag"])
            .output()
            .expect("ferroflow image demo runs");
        assert!(
            out.status.success(),
            "the demo image builds (is Docker running?): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    })
}

async fn docker() -> Docker {
    Docker::connect_with_unix("/var/run/docker.sock", 60, bollard::API_DEFAULT_VERSION)
        .unwrap()
        .negotiate_version()
        .await
        .expect("the Docker daemon answers")
}

/// A `ferroflow serve` process whose container tasks may read files under `dir/inputs`.
struct Server {
    child: Child,
    url: String,
    dir: PathBuf,
    port: u16,
}

impl Server {
    async fn start(dir: &Path, port: u16) -> Server {
        std::fs::create_dir_all(dir.join("inputs")).unwrap();
        let conf = dir.join("service_conf.yaml");
        std::fs::write(
            &conf,
            format!("docker:\n  mounts: [{}]\n", dir.join("inputs").display()),
        )
        .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferroflow"));
        cmd.args(["serve", "--port", &port.to_string(), "--party-id", "9999"])
            .arg("--data-dir")
            .arg(dir.join("site"))
            .arg("--config")
            .arg(&conf)
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.join("server.log"))
                    .unwrap(),
            ))
            .kill_on_drop(true);
        let mut child = cmd.spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(i) = line.find("http://") {
                    return line[i..].split_whitespace().next().unwrap().to_string();
                }
            }
            panic!("server exited before listening");
        })
        .await
        .expect("server listening within 30 s");
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let port = url.rsplit(':').next().unwrap().parse().unwrap();
        Server {
            child,
            url,
            dir: dir.to_path_buf(),
            port,
        }
    }

    /// The `ferroflow.site` label of this site's containers.
    fn site(&self) -> String {
        self.dir.join("site").to_string_lossy().into_owned()
    }

    async fn post(&self, path: &str, body: &Value) -> Value {
        reqwest::Client::new()
            .post(format!("{}{path}", self.url))
            .json(body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn get(&self, path: &str) -> Value {
        reqwest::get(format!("{}{path}", self.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Registers the demo image as `demo:<version>@docker`.
    async fn register_demo_image(&self) {
        let reply = self
            .post(
                "/v2/provider/register",
                &json!({"name": "demo", "device": "docker", "version": VERSION,
                        "metadata": {"base_url": "", "image": demo_image()}}),
            )
            .await;
        assert_eq!(reply["code"], 0, "{reply}");
    }

    async fn tasks(&self, job: &str) -> Vec<Value> {
        let v = self.get(&format!("/v2/job/task/query?job_id={job}")).await;
        v["data"].as_array().cloned().unwrap_or_default()
    }

    async fn job_statuses(&self, job: &str) -> Vec<String> {
        let v = self.get(&format!("/v2/job/query?job_id={job}")).await;
        v["data"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|j| j["status"].as_str().unwrap().to_string())
            .collect()
    }

    async fn wait_job(&self, job: &str, statuses: &[&str], deadline: Duration) {
        let start = Instant::now();
        loop {
            let s = self.job_statuses(job).await;
            if !s.is_empty() && s.iter().all(|x| statuses.contains(&x.as_str())) {
                return;
            }
            if start.elapsed() > deadline {
                let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
                let tasks = self.tasks(job).await;
                panic!(
                    "job {job} still {s:?} after {deadline:?}\ntasks: {tasks:#?}\n{}",
                    tail(&log, 40)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn submit(&self, dag: Value) -> String {
        let reply = self
            .post("/v2/job/submit", &json!({"dag_schema": dag}))
            .await;
        assert_eq!(reply["code"], 0, "{reply}");
        reply["job_id"].as_str().unwrap().to_string()
    }

    /// Waits until every task of the job runs, in a running container.
    async fn wait_running(&self, job: &str, docker: &Docker, n: usize) -> Vec<Container> {
        let start = Instant::now();
        loop {
            let tasks = self.tasks(job).await;
            let running = containers(docker, &self.site())
                .await
                .into_iter()
                .filter(|c| c.running)
                .collect::<Vec<_>>();
            if tasks.len() == n
                && tasks.iter().all(|t| t["party_status"] == "running")
                && running.len() == n
            {
                return running;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "tasks never ran in containers: {tasks:#?} {running:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Ends the server at once, as a crash would (containers are left running).
    async fn crash(mut self) -> (PathBuf, u16) {
        self.child.start_kill().unwrap();
        let _ = self.child.wait().await;
        (self.dir.clone(), self.port)
    }

    async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .arg(pid.to_string())
                .status();
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

#[derive(Debug, Clone)]
struct Container {
    name: String,
    running: bool,
    labels: HashMap<String, String>,
}

/// The containers of a site, running or not.
async fn containers(docker: &Docker, site: &str) -> Vec<Container> {
    let filters = HashMap::from([("label".to_string(), vec![format!("ferroflow.site={site}")])]);
    docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_iter()
        .map(|c| Container {
            name: c.names.unwrap_or_default()[0]
                .trim_start_matches('/')
                .to_string(),
            running: c.state == Some(bollard::models::ContainerSummaryStateEnum::RUNNING),
            labels: c.labels.unwrap_or_default(),
        })
        .collect()
}

/// Waits until the site has no container left.
async fn wait_no_containers(docker: &Docker, site: &str, deadline: Duration) {
    let start = Instant::now();
    loop {
        let left = containers(docker, site).await;
        if left.is_empty() {
            return;
        }
        assert!(
            start.elapsed() < deadline,
            "containers left after {deadline:?}: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn parties(list: &[(&str, &str)]) -> Value {
    Value::Array(
        list.iter()
            .map(|(r, p)| json!({"role": r, "party_id": [p]}))
            .collect(),
    )
}

fn provider() -> String {
    format!("demo:{VERSION}@docker")
}

/// reader → transform → train for guest and host (+ arbiter in training), every task in a
/// container; the readers' files are outside the site's directories (a `docker.mounts` dir).
fn demo_dag(inputs: &Path) -> Value {
    let (g, h) = (inputs.join("guest.csv"), inputs.join("host.csv"));
    std::fs::write(&g, GUEST_CSV).unwrap();
    std::fs::write(&h, HOST_CSV).unwrap();
    let data = parties(&[("guest", "9999"), ("host", "10000")]);
    let out = |p: &str| json!({"producer_task": p, "output_artifact_key": "output_data", "parties": data});
    json!({
        "schema_version": "2.2.0",
        "dag": {
            "parties": parties(&[("guest", "9999"), ("host", "10000"), ("arbiter", "9999")]),
            "conf": {"task": {"provider": provider(), "engine_run": {"cores": 1}}},
            "stage": "default",
            "tasks": {
                "reader_0": {"component_ref": "demo_reader", "parties": data},
                "transform_0": {"component_ref": "demo_transform", "parties": data,
                    "parameters": {"scale": 2.0},
                    "inputs": {"data": {"input_data": {"task_output_artifact": out("reader_0")}}}},
                "train_0": {"component_ref": "demo_train", "stage": "train",
                    "parameters": {"max_iter": 5, "label": "y"},
                    "inputs": {"data": {"train_data": {"task_output_artifact": out("transform_0")}}}}
            },
            "party_tasks": {
                "guest_9999": {"parties": parties(&[("guest", "9999")]), "tasks": {"reader_0": {"parameters": {"path": g}}}},
                "host_10000": {"parties": parties(&[("host", "10000")]), "tasks": {"reader_0": {"parameters": {"path": h}}}}
            }
        }
    })
}

fn sleep_dag(seconds: f64) -> Value {
    json!({
        "schema_version": "2.2.0",
        "dag": {
            "parties": parties(&[("guest", "9999"), ("host", "10000")]),
            "conf": {"task": {"provider": provider(), "engine_run": {"cores": 1}}},
            "stage": "default",
            "tasks": {"sleep_0": {"component_ref": "demo_sleep", "parameters": {"seconds": seconds}}}
        }
    })
}

fn stdout_file(server: &Server, job: &str, role: &str, party: &str, task: &str) -> PathBuf {
    server
        .dir
        .join("site/logs")
        .join(job)
        .join(role)
        .join(party)
        .join(task)
        .join("stdout/task_entrypoint")
}

#[tokio::test]
async fn the_demo_dag_runs_with_every_task_in_a_container() {
    let dir = tempfile::tempdir().unwrap();
    let docker = docker().await;
    let server = Server::start(dir.path(), 0).await;

    // An image the daemon does not have is refused, saying so.
    let reply = server
        .post(
            "/v2/provider/register",
            &json!({"name": "demo", "device": "docker", "version": VERSION,
                    "metadata": {"base_url": "", "image": "ferroflow-no-such-image:0"}}),
        )
        .await;
    assert_eq!(reply["code"], 4000, "{reply}");
    let msg = reply["message"].as_str().unwrap();
    assert!(
        msg.contains("image ferroflow-no-such-image:0 not found on the docker daemon"),
        "{msg}"
    );

    server.register_demo_image().await;
    let q = server
        .get(&format!("/v2/provider/query?provider_name={}", provider()))
        .await;
    assert_eq!(q["data"][0]["metadata"]["image"], demo_image(), "{q}");

    let job = server.submit(demo_dag(&dir.path().join("inputs"))).await;
    server
        .wait_job(
            &job,
            &["success", "failed", "canceled"],
            Duration::from_secs(120),
        )
        .await;
    let tasks = server.tasks(&job).await;
    assert_eq!(
        server.job_statuses(&job).await,
        vec!["success"; 3],
        "{tasks:?}"
    );
    assert_eq!(tasks.len(), 2 + 2 + 3);
    for t in &tasks {
        assert_eq!(t["party_status"], "success", "{t}");
        assert_eq!(t["cmd"][0], "docker", "{t}");
        assert_eq!(t["cmd"][3], demo_image(), "{t}");
        assert!(t["run_pid"].is_null(), "{t}");
    }
    // The model came out of a container through api-3.
    let q = format!("job_id={job}&role=guest&party_id=9999&task_name=train_0");
    let models = server.get(&format!("/v2/output/model/query?{q}")).await;
    assert_eq!(
        models["data"]["output_model"]["coefficients"]
            .as_array()
            .map(Vec::len),
        Some(5),
        "{models}"
    );

    // Finished containers are removed; their output stays on the host: the stdout stream
    // and FATE's log files the component wrote through the mounted log directory.
    wait_no_containers(&docker, &server.site(), Duration::from_secs(30)).await;
    let out =
        std::fs::read_to_string(stdout_file(&server, &job, "guest", "9999", "train_0")).unwrap();
    assert!(out.contains("trained"), "{out}");
    let info = server
        .dir
        .join("site/logs")
        .join(&job)
        .join("guest/9999/train_0/root/INFO");
    assert!(
        std::fs::read_to_string(&info)
            .unwrap()
            .contains("iteration"),
        "{}",
        info.display()
    );
    let reply = server
        .post("/v2/provider/delete", &json!({"provider_name": provider()}))
        .await;
    assert_eq!(reply["data"], true, "{reply}");
    server.stop().await;
}

#[tokio::test]
async fn stopping_a_job_kills_and_removes_its_containers() {
    let dir = tempfile::tempdir().unwrap();
    let docker = docker().await;
    let server = Server::start(dir.path(), 0).await;
    server.register_demo_image().await;
    let job = server.submit(sleep_dag(120.0)).await;
    let running = server.wait_running(&job, &docker, 2).await;
    for c in &running {
        assert_eq!(c.labels["ferroflow.job_id"], job);
        assert_eq!(c.labels["ferroflow.task_version"], "0");
        assert!(c.name.starts_with("ff-"), "{}", c.name);
    }
    let reply = server.post("/v2/job/stop", &json!({"job_id": job})).await;
    assert_eq!(reply["code"], 0, "{reply}");
    server
        .wait_job(&job, &["canceled"], Duration::from_secs(20))
        .await;
    wait_no_containers(&docker, &server.site(), Duration::from_secs(20)).await;
    server.stop().await;
}

#[tokio::test]
async fn a_container_killed_from_outside_fails_its_task_with_the_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let docker = docker().await;
    let server = Server::start(dir.path(), 0).await;
    server.register_demo_image().await;
    let job = server.submit(sleep_dag(120.0)).await;
    let running = server.wait_running(&job, &docker, 2).await;
    let guest = running
        .iter()
        .find(|c| c.labels["ferroflow.role"] == "guest")
        .unwrap();
    // Its output reaches the host while it runs.
    let out = stdout_file(&server, &job, "guest", "9999", "sleep_0");
    let start = Instant::now();
    while !std::fs::read_to_string(&out)
        .unwrap_or_default()
        .contains("sleeping")
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no output streamed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    docker
        .kill_container(&guest.name, None::<KillContainerOptions>)
        .await
        .unwrap();
    server
        .wait_job(&job, &["failed"], Duration::from_secs(30))
        .await;
    let tasks = server.tasks(&job).await;
    let g = tasks.iter().find(|t| t["role"] == "guest").unwrap();
    let report = g["error_report"].as_str().unwrap();
    assert!(
        report.contains(&format!(
            "task container {} ended without reporting its status (exit code 137)",
            guest.name
        )),
        "{report}"
    );
    assert!(report.contains("sleeping"), "last output lines: {report}");
    wait_no_containers(&docker, &server.site(), Duration::from_secs(20)).await;
    server.stop().await;
}

#[tokio::test]
async fn a_restarted_site_adopts_its_running_containers_and_the_job_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let docker = docker().await;
    let server = Server::start(dir.path(), 0).await;
    server.register_demo_image().await;
    let job = server.submit(sleep_dag(8.0)).await;
    let before = server.wait_running(&job, &docker, 2).await;
    let (path, port) = server.crash().await;
    // The containers outlive the site; the CONFIG names its port, so it comes back there.
    let left = containers(&docker, &path.join("site").to_string_lossy()).await;
    assert_eq!(left.len(), 2, "{left:?} (before: {before:?})");

    let server = Server::start(&path, port).await;
    server
        .wait_job(
            &job,
            &["success", "failed", "canceled"],
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(server.job_statuses(&job).await, vec!["success"; 2]);
    let log = std::fs::read_to_string(path.join("server.log")).unwrap();
    assert_eq!(
        log.matches("container adopted").count(),
        2,
        "{}",
        tail(&log, 30)
    );
    // Adopted: watched to their end, then removed, their whole output on the host.
    wait_no_containers(&docker, &server.site(), Duration::from_secs(30)).await;
    for (role, party) in [("guest", "9999"), ("host", "10000")] {
        let out =
            std::fs::read_to_string(stdout_file(&server, &job, role, party, "sleep_0")).unwrap();
        assert!(
            out.contains("sleeping") && out.contains("status reported"),
            "{role}: {out}"
        );
    }
    server.stop().await;
}

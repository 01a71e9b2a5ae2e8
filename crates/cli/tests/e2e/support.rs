//! Real `ferroflow serve` processes for end-to-end tests.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const GUEST_CSV: &str = include_str!("../../data/demo_guest.csv");
pub const HOST_CSV: &str = include_str!("../../data/demo_host.csv");

/// A `ferroflow serve` process on an OS-chosen port.
pub struct Server {
    pub child: Child,
    pub url: String,
    pub dir: PathBuf,
    /// The admin app the site wrote (`credentials/admin.json`) when it authenticates
    /// clients: every call of these helpers is then signed with it, as fate_client signs.
    pub credentials: Option<(String, String)>,
}

impl Server {
    pub async fn start(dir: &Path, party_id: &str, config: Option<&str>) -> Server {
        Self::start_on(dir, party_id, config, 0).await
    }

    pub async fn start_on(dir: &Path, party_id: &str, config: Option<&str>, port: u16) -> Server {
        Self::launch(dir, party_id, config, port).await
    }

    /// Starts a site whose task processes record their launches in `<dir>/launches.log`.
    pub async fn launch(dir: &Path, party_id: &str, config: Option<&str>, port: u16) -> Server {
        Self::launch_with_env(dir, party_id, config, port, &[]).await
    }

    /// `launch` with more environment variables for the server.
    pub async fn launch_with_env(
        dir: &Path,
        party_id: &str,
        config: Option<&str>,
        port: u16,
        env: &[(&str, &str)],
    ) -> Server {
        std::fs::create_dir_all(dir).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferroflow"));
        cmd.env("FERROFLOW_LAUNCH_LOG", dir.join("launches.log"));
        cmd.envs(env.iter().copied());
        cmd.args([
            "serve",
            "--port",
            &port.to_string(),
            "--party-id",
            party_id,
            "--data-dir",
        ])
        .arg(dir.join("site"));
        // The tests write their tables beside the site's directory: let components read them.
        let allowed = format!("allowed_dirs: [{:?}]\n", dir.display().to_string());
        let c = match config {
            Some(c) if c.contains("allowed_dirs") => c.to_string(),
            Some(c) => format!("{c}\n{allowed}"),
            None => allowed,
        };
        let path = dir.join("service_conf.yaml");
        std::fs::write(&path, c).unwrap();
        cmd.arg("--config").arg(path);
        cmd.stdout(Stdio::piped()).stderr(Stdio::from(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join("server.log"))
                .unwrap(),
        ));
        cmd.kill_on_drop(true);
        let mut child = cmd.spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(i) = line.find("http://") {
                    return line[i..]
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_string();
                }
            }
            panic!("server exited before listening");
        })
        .await
        .expect("server listening within 30 s");
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let credentials = ferroflow_server::auth::credentials::read_admin_file(&dir.join("site"));
        Server {
            child,
            url,
            dir: dir.to_path_buf(),
            credentials,
        }
    }

    /// FATE's client signature headers for one call (none on an open site).
    pub fn auth_headers(&self) -> Vec<(String, String)> {
        match &self.credentials {
            Some((id, token)) => ferroflow_server::auth::fate::client_headers(
                id,
                token,
                "",
                chrono::Utc::now().timestamp_millis(),
            ),
            None => Vec::new(),
        }
    }

    /// `-H name: value` arguments of curl for [`Server::auth_headers`] (an empty user name is
    /// left out: the site reads a missing one as empty).
    pub fn curl_auth(&self) -> Vec<String> {
        self.auth_headers()
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .flat_map(|(k, v)| ["-H".to_string(), format!("{k}: {v}")])
            .collect()
    }

    /// `curl` as a user would type it.
    pub fn curl_post(&self, path: &str, body: &Value) -> Value {
        let file = self
            .dir
            .join(format!("body-{}.json", uuid::Uuid::new_v4().simple()));
        std::fs::write(&file, body.to_string()).unwrap();
        let out = std::process::Command::new("curl")
            .args(["-s", "-X", "POST", "-H", "Content-Type: application/json"])
            .args(self.curl_auth())
            .arg("--data")
            .arg(format!("@{}", file.display()))
            .arg(format!("{}{path}", self.url))
            .output()
            .expect("curl runs");
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{path}: {e}: {:?}", String::from_utf8_lossy(&out.stdout)))
    }

    /// `curl_post` that tolerates a site dying during the request (`None`).
    pub fn curl_post_raw(&self, path: &str, body: &Value) -> Option<Value> {
        let file = self
            .dir
            .join(format!("body-{}.json", uuid::Uuid::new_v4().simple()));
        std::fs::write(&file, body.to_string()).unwrap();
        let out = std::process::Command::new("curl")
            .args(["-s", "-X", "POST", "-H", "Content-Type: application/json"])
            .args(self.curl_auth())
            .arg("--data")
            .arg(format!("@{}", file.display()))
            .arg(format!("{}{path}", self.url))
            .output()
            .expect("curl runs");
        serde_json::from_slice(&out.stdout).ok()
    }

    pub fn curl_get(&self, path: &str) -> Value {
        let out = std::process::Command::new("curl")
            .args(["-s"])
            .args(self.curl_auth())
            .arg(format!("{}{path}", self.url))
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    pub async fn get(&self, path: &str) -> Value {
        let mut r = reqwest::Client::new().get(format!("{}{path}", self.url));
        for (k, v) in self.auth_headers() {
            r = r.header(k, v);
        }
        r.send().await.unwrap().json().await.unwrap()
    }

    pub async fn tasks(&self, job: &str) -> Vec<Value> {
        let v = self.get(&format!("/v2/job/task/query?job_id={job}")).await;
        v["data"].as_array().cloned().unwrap_or_default()
    }

    pub async fn job_statuses(&self, job: &str) -> Vec<String> {
        let v = self.get(&format!("/v2/job/query?job_id={job}")).await;
        v["data"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|j| j["status"].as_str().unwrap().to_string())
            .collect()
    }

    /// Waits until every local row of the job has one of `statuses`.
    pub async fn wait_job(&self, job: &str, statuses: &[&str], deadline: Duration) -> Vec<String> {
        let start = Instant::now();
        loop {
            let s = self.job_statuses(job).await;
            if !s.is_empty() && s.iter().all(|x| statuses.contains(&x.as_str())) {
                return s;
            }
            if start.elapsed() > deadline {
                let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
                panic!(
                    "job {job} still {s:?} after {deadline:?}\n{}",
                    tail(&log, 40)
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn port(&self) -> u16 {
        self.url.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// `kill -9`: the site dies at once; its task processes live on.
    pub async fn kill9(mut self) {
        self.child.start_kill().unwrap();
        let _ = self.child.wait().await;
    }

    /// Every launch the task processes recorded, by execution id.
    pub fn launches(dir: &Path) -> Vec<String> {
        std::fs::read_to_string(dir.join("launches.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect()
    }

    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .arg(pid.to_string())
                .status();
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

/// Every file under `dir` whose text contains `needle`.
pub fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            found.extend(files_containing(&p, needle));
        } else if std::fs::read(&p)
            .is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
        {
            found.push(p);
        }
    }
    found
}

pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The demo's guest and host CSV files, written into `dir`.
pub fn demo_csvs(dir: &Path) -> (PathBuf, PathBuf) {
    let (g, h) = (dir.join("guest.csv"), dir.join("host.csv"));
    std::fs::write(&g, GUEST_CSV).unwrap();
    std::fs::write(&h, HOST_CSV).unwrap();
    (g, h)
}

pub fn parties(list: &[(&str, &str)]) -> Value {
    Value::Array(
        list.iter()
            .map(|(r, p)| json!({"role": r, "party_id": [p]}))
            .collect(),
    )
}

/// A three-task chain of `demo_sleep(seconds)` over guest 9999 and host 10000.
pub fn sleep_chain(seconds: u64) -> Value {
    let mut tasks = serde_json::Map::new();
    for i in 0..3 {
        let mut t = json!({"component_ref": "demo_sleep", "parameters": {"seconds": seconds}});
        if i > 0 {
            t["inputs"] = json!({"data": {"input_data": {"task_output_artifact": {
                "producer_task": format!("t{}", i - 1), "output_artifact_key": "output_data"}}}});
        }
        tasks.insert(format!("t{i}"), t);
    }
    json!({
        "schema_version": "2.2.0",
        "dag": {
            "parties": [{"role": "guest", "party_id": ["9999"]}, {"role": "host", "party_id": ["10000"]}],
            "conf": {"task": {"provider": "demo:*@local"}},
            "stage": "default",
            "tasks": tasks,
        }
    })
}

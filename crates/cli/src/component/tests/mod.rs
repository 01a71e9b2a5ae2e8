//! Each component run in-process against [`FakeSite`]: the exact worker API calls, the status
//! report, and what ends up on disk.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ferroflow_wire::task_config::TaskConfig;
use ferroflow_wire::worker::ModelDownload;
use serde_json::{Value, json};

use super::fake_site::{Body, FakeSite};
use super::table::Table;
use super::worker_client::{ClientOptions, ReportPolicy, WorkerClient};
use super::*;

const JOB: &str = "202601010000000000001";

/// The worker token the tests' task runs present.
const TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn options() -> Options {
    Options {
        client: ClientOptions {
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(10),
            upload_timeout: Duration::from_secs(10),
            site_wait: Duration::from_secs(2),
            retry_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(100),
            token: Some(crate::component::worker_client::Token(TOKEN.into())),
        },
        report: ReportPolicy::with_deadline(Duration::from_secs(20)),
        allowed_dirs: None,
    }
}

/// A CONFIG as a FATE site builds it (`dag.md` §8), standalone computing in `data_dir`.
struct Cfg {
    task_name: String,
    component: String,
    role: String,
    party_id: String,
    version: String,
    params: Value,
    inputs: Value,
    data_dir: Option<PathBuf>,
}

impl Cfg {
    fn new(task_name: &str, component: &str, data_dir: &Path) -> Self {
        Self {
            task_name: task_name.into(),
            component: component.into(),
            role: "guest".into(),
            party_id: "9999".into(),
            version: "0".into(),
            params: json!({}),
            inputs: json!({"data": null, "model": null}),
            data_dir: Some(data_dir.to_path_buf()),
        }
    }

    fn params(mut self, p: Value) -> Self {
        self.params = p;
        self
    }

    fn input(mut self, key: &str, producer: &str, output: &str) -> Self {
        self.inputs = json!({"data": {key: {
            "producer_task": producer, "output_artifact_key": output, "output_artifact_type_alias": null,
            "parties": [{"role": self.role, "party_id": [self.party_id]}]
        }}, "model": null});
        self
    }

    fn party(mut self, role: &str, party_id: &str) -> Self {
        self.role = role.into();
        self.party_id = party_id.into();
        self
    }

    fn task_id(&self) -> String {
        format!("{JOB}_{}", self.task_name)
    }

    fn execution_id(&self) -> String {
        format!(
            "{}_{}_{}_{}",
            self.task_id(),
            self.version,
            self.role,
            self.party_id
        )
    }

    fn value(&self, site: &FakeSite) -> Value {
        let options = match &self.data_dir {
            Some(d) => json!({"data_dir": d}),
            None => json!({}),
        };
        json!({
            "model_id": JOB, "model_version": "0", "job_id": JOB, "task_id": self.task_id(),
            "task_version": self.version, "task_name": self.task_name, "provider_name": "demo",
            "party_task_id": self.execution_id(), "component": self.component, "role": self.role,
            "party_id": self.party_id, "stage": "default", "parameters": self.params,
            "input_artifacts": self.inputs,
            "conf": {
                "computing": {"type": "standalone", "metadata": {"computing_id": self.execution_id(), "options": options}},
                "device": {"type": "CPU", "metadata": {}},
                "federation": {"type": "standalone", "metadata": {
                    "federation_id": format!("{}_{}", self.task_id(), self.version),
                    "parties": {"local": {"role": self.role, "partyid": self.party_id},
                                "parties": [{"role": "guest", "partyid": "9999"}, {"role": "host", "partyid": "10000"}]}}},
                "logger": {"config": {}},
                "storage": "standalone"
            },
            "mlmd": site.mlmd(),
            "engine_run": {"cores": 4}, "computing_partitions": 8, "launcher_name": "default", "launcher_conf": {}
        })
    }

    fn config(&self, site: &FakeSite) -> TaskConfig {
        TaskConfig::parse(&self.value(site).to_string()).expect("a valid CONFIG")
    }
}

fn write_csv(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `demo_reader` on `csv` as task `reader_0` of `role`/`party_id`; returns the output's
/// tracking record.
async fn read_into_site(
    site: &mut FakeSite,
    dir: &Path,
    csv: &str,
    role: &str,
    party_id: &str,
) -> Value {
    let src = write_csv(dir, &format!("src_{role}.csv"), csv);
    let cfg = Cfg::new("reader_0", READER, dir)
        .party(role, party_id)
        .params(json!({"path": src}));
    let out = execute(cfg.config(site), &options()).await;
    assert_eq!(out.status, Status::Success, "{}", out.error);
    site.next_status().await;
    site.calls_to("/data/tracking/save")
        .last()
        .unwrap()
        .json()
        .clone()
}

fn paths(site: &FakeSite) -> Vec<String> {
    site.calls()
        .iter()
        .map(|c| format!("{} {}", c.method, c.path))
        .collect()
}

fn table_at(uri: &Value) -> Table {
    let path = uri.as_str().unwrap().strip_prefix("file://").unwrap();
    Table::parse(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A site that knows the demo guest table as `reader_0`'s output, and the calls it saw so far.
async fn site_with_guest_table(dir: &Path) -> (FakeSite, usize) {
    let mut site = FakeSite::start().await;
    read_into_site(&mut site, dir, sample::DEMO_GUEST_CSV, "guest", "9999").await;
    let before = site.calls().len();
    (site, before)
}

/// A loopback port nobody listens on.
fn unused_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A final status report that gives up after `deadline`, retrying quickly until then.
fn quick_report(deadline: Duration) -> ReportPolicy {
    ReportPolicy {
        deadline,
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(50),
    }
}

mod data;
mod loading;
mod outcomes;
mod site_calls;
mod train;

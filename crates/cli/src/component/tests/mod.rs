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

fn options() -> Options {
    Options {
        client: ClientOptions {
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(10),
            upload_timeout: Duration::from_secs(10),
            site_wait: Duration::from_secs(2),
            retry_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(100),
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

#[tokio::test]
async fn reader_writes_the_table_into_the_data_dir_and_records_it() {
    let mut site = FakeSite::start().await;
    let dir = tempfile::tempdir().unwrap();
    let src = write_csv(dir.path(), "in.csv", sample::DEMO_GUEST_CSV);
    let cfg = Cfg::new("reader_0", READER, dir.path()).params(json!({"path": src}));
    let out = execute(cfg.config(&site), &options()).await;
    assert_eq!(
        out,
        Outcome {
            status: Status::Success,
            error: String::new(),
            reported: true
        }
    );

    assert_eq!(
        paths(&site),
        [
            "POST /v2/worker/data/tracking/save",
            "POST /v2/worker/task/status"
        ]
    );
    let save = site.calls()[0].json().clone();
    let name = save["name"].as_str().unwrap().to_string();
    assert_eq!(name.len(), 32);
    assert!(name.chars().all(|c| c.is_ascii_hexdigit()));
    let file = dir.path().join(cfg.task_id()).join(format!("{name}.csv"));
    assert_eq!(
        save,
        json!({
            "execution_id": cfg.execution_id(),
            "meta_data": {"header": ["id", "y", "x0", "x1", "x2", "x3", "x4"], "id_column": "id", "delimiter": ","},
            "uri": format!("file://{}", file.display()),
            "output_key": "output_data",
            "namespace": cfg.task_id(),
            "name": name,
            "overview": {"count": 300, "samples": save["overview"]["samples"]},
            "partitions": 1,
            "source": {"task_id": cfg.task_id(), "party_task_id": cfg.execution_id(), "task_name": "reader_0",
                       "component": "demo_reader", "output_artifact_key": "output_data", "output_index": null},
            "data_type": "dataframe",
            "index": 0
        })
    );
    let samples = save["overview"]["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 10);
    assert_eq!(samples[0].as_array().unwrap().len(), 7);
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        sample::DEMO_GUEST_CSV
    );
    assert_eq!(
        site.next_status().await,
        json!({"execution_id": cfg.execution_id(), "status": "success", "error": ""})
    );
}

#[tokio::test]
async fn reader_opens_only_files_in_the_allowed_directories() {
    let mut site = FakeSite::start().await;
    let dir = tempfile::tempdir().unwrap();
    let src = write_csv(dir.path(), "in.csv", sample::DEMO_GUEST_CSV);
    let mut opts = options();
    opts.allowed_dirs = Some(vec![dir.path().to_path_buf()]);
    let cfg = Cfg::new("reader_0", READER, dir.path()).params(json!({"path": src}));
    let out = execute(cfg.config(&site), &opts).await;
    assert_eq!(out.status, Status::Success, "{}", out.error);
    site.next_status().await;
    for path in ["/etc/hostname", "file:///proc/self/environ"] {
        let cfg = Cfg::new("reader_0", READER, dir.path()).params(json!({ "path": path }));
        let out = execute(cfg.config(&site), &opts).await;
        assert_eq!(out.status, Status::Failed);
        assert!(
            out.error.contains("parameter `path`") && out.error.contains("allowed_dirs"),
            "{}",
            out.error
        );
        site.next_status().await;
    }
}

#[tokio::test]
async fn reader_finds_a_table_by_namespace_and_name() {
    let mut site = FakeSite::start().await;
    let dir = tempfile::tempdir().unwrap();
    let src = write_csv(dir.path(), "up.csv", sample::DEMO_HOST_CSV);
    site.add_table(
        "experiment",
        "demo_host",
        &format!("file://{}", src.display()),
        300,
    );
    let cfg = Cfg::new("reader_0", READER, dir.path())
        .params(json!({"namespace": "experiment", "name": "demo_host"}));
    let out = execute(cfg.config(&site), &options()).await;
    assert_eq!(out.status, Status::Success, "{}", out.error);
    let query = &site.calls()[0];
    assert_eq!(query.path, "/v2/worker/data/tracking/query");
    assert_eq!(
        query.query,
        [
            ("name".into(), "demo_host".into()),
            ("namespace".into(), "experiment".into())
        ]
        .into()
    );
    let save = site.calls_to("/data/tracking/save")[0].json().clone();
    assert_eq!(
        table_at(&save["uri"]).header(),
        ["id", "x5", "x6", "x7", "x8", "x9"]
    );
    assert_eq!(site.next_status().await["status"], "success");
}

#[tokio::test]
async fn reader_failures_name_the_problem() {
    let mut site = FakeSite::start().await;
    let dir = tempfile::tempdir().unwrap();

    let cfg = Cfg::new("reader_0", READER, dir.path());
    let out = execute(cfg.config(&site), &options()).await;
    assert_eq!(out.status, Status::Failed);
    assert_eq!(
        out.error,
        "demo_reader: parameter `path`: give `path`, or `namespace` and `name`"
    );
    assert_eq!(site.next_status().await["error"], out.error.as_str());

    let cfg = Cfg::new("reader_0", READER, dir.path()).params(json!({"path": "/no/such/file.csv"}));
    let out = execute(cfg.config(&site), &options()).await;
    assert!(
        out.error
            .starts_with("demo_reader: cannot read /no/such/file.csv: "),
        "{}",
        out.error
    );
    site.next_status().await;

    let src = write_csv(dir.path(), "in.csv", "id,x\n1,2\n");
    let mut cfg = Cfg::new("reader_0", READER, dir.path()).params(json!({"path": src}));
    cfg.data_dir = None;
    let out = execute(cfg.config(&site), &options()).await;
    assert!(
        out.error
            .contains("conf.computing.metadata.options.data_dir"),
        "{}",
        out.error
    );
    site.next_status().await;

    let cfg = Cfg::new("reader_0", READER, dir.path())
        .params(json!({"namespace": "nope", "name": "nope"}));
    let out = execute(cfg.config(&site), &options()).await;
    assert!(out.error.contains("code 7001"), "{}", out.error);
    assert_eq!(out.exit_code(), ExitCode::FAILURE);
}

#[tokio::test]
async fn transform_scales_and_drops_its_resolved_input() {
    let mut site = FakeSite::start().await;
    let dir = tempfile::tempdir().unwrap();
    let input = read_into_site(
        &mut site,
        dir.path(),
        "id,y,a,b,note\n1,1,0.5,2,x\n2,0,-1,4,y\n",
        "guest",
        "9999",
    )
    .await;

    let cfg = Cfg::new("transform_0", TRANSFORM, dir.path())
        .params(json!({"scale": 2, "drop_columns": ["b"]}))
        .input("input_data", "reader_0", "output_data");
    let out = execute(cfg.config(&site), &options()).await;
    assert_eq!(out.status, Status::Success, "{}", out.error);

    let calls = site.calls();
    let query = calls
        .iter()
        .find(|c| c.path == "/v2/worker/data/tracking/query")
        .unwrap();
    assert_eq!(
        query.query,
        [
            ("job_id", JOB),
            ("role", "guest"),
            ("party_id", "9999"),
            ("task_name", "reader_0"),
            ("output_key", "output_data")
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    );
    let save = site
        .calls_to("/data/tracking/save")
        .last()
        .unwrap()
        .json()
        .clone();
    assert_eq!(save["output_key"], "output_data");
    assert_eq!(save["namespace"], cfg.task_id());
    assert_ne!(save["uri"], input["uri"]);
    let t = table_at(&save["uri"]);
    assert_eq!(t.header(), ["id", "y", "a", "note"]);
    assert_eq!(t.rows(), [["1", "1", "1", "x"], ["2", "0", "-2", "y"]]);
    assert_eq!(site.next_status().await["status"], "success");
}

#[tokio::test]
async fn a_required_input_the_site_does_not_know_fails_the_task() {
    let mut site = FakeSite::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = Cfg::new("transform_0", TRANSFORM, dir.path()).input(
        "input_data",
        "reader_9",
        "output_data",
    );
    let out = execute(cfg.config(&site), &options()).await;
    assert_eq!(out.status, Status::Failed);
    assert_eq!(
        out.error,
        "demo_transform: input `input_data`: cannot resolve it: data tracking query: the site answered code 2005: failed"
    );
    assert_eq!(site.next_status().await["status"], "failed");
}

#[tokio::test]
async fn train_learns_posts_losses_saves_the_model_and_predictions() {
    let mut site = FakeSite::start().await;
    let dir = tempfile::tempdir().unwrap();
    read_into_site(
        &mut site,
        dir.path(),
        sample::DEMO_GUEST_CSV,
        "guest",
        "9999",
    )
    .await;
    let before = site.calls().len();

    let cfg = Cfg::new("lr_0", TRAIN, dir.path())
        .params(json!({"max_iter": 10}))
        .input("train_data", "reader_0", "output_data");
    let out = execute(cfg.config(&site), &options()).await;
    assert_eq!(out.status, Status::Success, "{}", out.error);

    let calls: Vec<_> = site.calls().into_iter().skip(before).collect();
    let seq: Vec<&str> = calls.iter().map(|c| c.path.as_str()).collect();
    let metric_path = format!("/v2/worker/metric/save/{}", cfg.execution_id());
    let mut want = vec!["/v2/worker/data/tracking/query"];
    want.extend(std::iter::repeat_n(metric_path.as_str(), 10));
    want.extend([
        "/v2/worker/model/save",
        "/v2/worker/data/tracking/save",
        "/v2/worker/task/status",
    ]);
    assert_eq!(seq, want);

    // one loss per iteration, in pyfate's shape, falling
    let mut losses = Vec::new();
    for (step, call) in calls[1..11].iter().enumerate() {
        let body = call.json();
        let item = &body["data"][0];
        assert_eq!(body["data"].as_array().unwrap().len(), 1);
        let point = &item["data"][0];
        assert!(point["timestamp"].as_f64().unwrap() > 1.7e9);
        assert_eq!(
            body,
            &json!({"data": [{"name": "loss", "type": "loss",
                "groups": [{"name": "default", "index": null}, {"name": "train", "index": null}],
                "step_axis": "iterations",
                "data": [{"step": step, "metric": [point["metric"][0]], "timestamp": point["timestamp"]}]}]})
        );
        losses.push(point["metric"][0].as_f64().unwrap());
    }
    assert!((losses[0] - std::f64::consts::LN_2).abs() < 1e-12);
    assert!(losses.windows(2).all(|w| w[1] < w[0]), "{losses:?}");

    // the model: multipart fields and an uncompressed tar of the model and its meta
    let Body::Form { fields, files } = &calls[11].body else {
        panic!("not multipart")
    };
    assert_eq!(
        fields,
        &[
            ("execution_id", cfg.execution_id().as_str()),
            ("model_id", JOB),
            ("model_version", "0"),
            ("output_key", "output_model"),
            ("type_name", "json_model")
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    );
    let (file_name, tar_bytes) = &files["file"];
    assert_eq!(file_name.as_deref(), Some("file"));
    let members = untar(tar_bytes);
    assert_eq!(
        members.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["output_model", "output_model.meta.yaml"]
    );
    let model: Value = serde_json::from_slice(&members[0].1).unwrap();
    assert_eq!(model["header"], json!(["x0", "x1", "x2", "x3", "x4"]));
    assert_eq!(model["label"], "y");
    assert_eq!(model["coefficients"].as_array().unwrap().len(), 5);
    assert!(model["intercept"].is_f64());
    assert_eq!(model["iterations"], 10);
    assert_eq!(model["losses"], json!(losses));
    assert_eq!(
        model["standardization"]["mean"].as_array().unwrap().len(),
        5
    );
    let meta: Value = serde_yaml::from_slice(&members[1].1).unwrap();
    assert_eq!(meta["model_key"], "output_model");
    assert_eq!(meta["type_name"], "json_model");
    assert_eq!(meta["index"], Value::Null);
    assert_eq!(meta["metadata"], json!({}));
    assert_eq!(
        meta["source"],
        json!({"task_id": cfg.task_id(), "party_task_id": cfg.execution_id(), "task_name": "lr_0",
               "component": "demo_train", "output_artifact_key": "output_model", "output_index": null})
    );
    assert_eq!(meta["model_overview"]["party"]["role"], "guest");
    assert_eq!(
        meta["model_overview"]["federated"]["parties"],
        json!({"guest": ["9999"], "host": ["10000"]})
    );

    // predictions
    let save = calls[12].json();
    assert_eq!(save["output_key"], "train_output_data");
    let t = table_at(&save["uri"]);
    assert_eq!(
        t.header(),
        ["id", "label", "predict_score", "predict_result"]
    );
    assert_eq!(t.len(), 300);
    let labels = t.numeric_column("label").unwrap();
    let results = t.numeric_column("predict_result").unwrap();
    let scores = t.numeric_column("predict_score").unwrap();
    assert!(scores.iter().all(|s| (0.0..=1.0).contains(s)));
    let accuracy = labels.iter().zip(&results).filter(|(a, b)| a == b).count() as f64 / 300.0;
    assert!(accuracy > 0.65, "{accuracy}");

    assert_eq!(site.next_status().await["status"], "success");

    // and the site gives the model back
    let client = WorkerClient::new(&format!("{}/v2", site.addr), options().client).unwrap();
    let mut query = ModelDownload {
        model_id: JOB.into(),
        model_version: "0".into(),
        role: "guest".into(),
        party_id: "9999".into(),
        task_name: "lr_0".into(),
        output_key: "output_model".into(),
    };
    assert_eq!(&client.download_model(&query).await.unwrap(), tar_bytes);
    query.output_key = "nope".into();
    let err = client.download_model(&query).await.unwrap_err();
    assert!(
        matches!(err, worker_client::Error::Code { code: 5008, .. }),
        "{err}"
    );
}

fn untar(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = tar::Archive::new(bytes);
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            assert_eq!(e.header().entry_type(), tar::EntryType::Regular);
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            (name, data)
        })
        .collect()
}

#[tokio::test]
async fn train_without_label_or_without_data_succeeds_doing_nothing() {
    let mut site = FakeSite::start().await;
    let dir = tempfile::tempdir().unwrap();
    read_into_site(
        &mut site,
        dir.path(),
        sample::DEMO_HOST_CSV,
        "host",
        "10000",
    )
    .await;
    let before = site.calls().len();

    // the host: data but no label
    let cfg = Cfg::new("lr_0", TRAIN, dir.path())
        .party("host", "10000")
        .input("train_data", "reader_0", "output_data");
    let out = execute(cfg.config(&site), &options()).await;
    assert_eq!(out.status, Status::Success, "{}", out.error);
    let seq: Vec<String> = paths(&site).into_iter().skip(before).collect();
    assert_eq!(
        seq,
        [
            "GET /v2/worker/data/tracking/query",
            "POST /v2/worker/task/status"
        ]
    );
    site.next_status().await;

    // the arbiter: no input at all
    let cfg = Cfg::new("lr_0", TRAIN, dir.path()).party("arbiter", "9999");
    let out = execute(cfg.config(&site), &options()).await;
    assert_eq!(out.status, Status::Success, "{}", out.error);
    assert_eq!(paths(&site).last().unwrap(), "POST /v2/worker/task/status");
    assert_eq!(site.next_status().await["execution_id"], cfg.execution_id());

    // an optional input the site does not know is dropped, as FATE's wrapper does
    let cfg = Cfg::new("lr_0", TRAIN, dir.path()).input("train_data", "reader_9", "output_data");
    let out = execute(cfg.config(&site), &options()).await;
    assert_eq!(out.status, Status::Success, "{}", out.error);
}

#[tokio::test]
async fn train_rejects_a_label_that_is_not_binary() {
    let mut site = FakeSite::start().await;
    let dir = tempfile::tempdir().unwrap();
    read_into_site(
        &mut site,
        dir.path(),
        "id,y,x\n1,0,1\n2,2,3\n",
        "guest",
        "9999",
    )
    .await;
    let cfg = Cfg::new("lr_0", TRAIN, dir.path()).input("train_data", "reader_0", "output_data");
    let out = execute(cfg.config(&site), &options()).await;
    assert_eq!(out.error, "demo_train: label `y` must be 0 or 1, found 2");
}

#[tokio::test]
async fn sleep_passes_its_first_input_through() {
    let mut site = FakeSite::start().await;
    let dir = tempfile::tempdir().unwrap();
    let input = read_into_site(&mut site, dir.path(), "id,x\n1,2\n", "guest", "9999").await;
    let cfg = Cfg::new("sleep_0", SLEEP, dir.path())
        .params(json!({"seconds": 0.05}))
        .input("input_data", "reader_0", "output_data");
    let out = execute(cfg.config(&site), &options()).await;
    assert_eq!(out.status, Status::Success, "{}", out.error);
    let save = site
        .calls_to("/data/tracking/save")
        .last()
        .unwrap()
        .json()
        .clone();
    assert_eq!(save["execution_id"], cfg.execution_id());
    assert_eq!(save["output_key"], "output_data");
    for k in [
        "uri",
        "namespace",
        "name",
        "meta_data",
        "source",
        "data_type",
        "overview",
    ] {
        assert_eq!(save[k], input[k], "{k}");
    }
    assert_eq!(site.next_status().await["status"], "success");

    // without input: no output
    let cfg = Cfg::new("sleep_0", SLEEP, dir.path());
    let before = site.calls().len();
    assert_eq!(
        execute(cfg.config(&site), &options()).await.status,
        Status::Success
    );
    assert_eq!(paths(&site)[before..], ["POST /v2/worker/task/status"]);
}

#[tokio::test]
async fn sleep_fails_while_the_version_is_below_fail_times() {
    let mut site = FakeSite::start().await;
    let dir = tempfile::tempdir().unwrap();
    for (version, want) in [
        ("0", Status::Failed),
        ("1", Status::Failed),
        ("2", Status::Success),
    ] {
        let mut cfg =
            Cfg::new("sleep_0", SLEEP, dir.path()).params(json!({"fail_times": 2, "seconds": "0"}));
        cfg.version = version.into();
        let out = execute(cfg.config(&site), &options()).await;
        assert_eq!(out.status, want, "version {version}: {}", out.error);
        let status = site.next_status().await;
        assert_eq!(status["execution_id"], cfg.execution_id());
        if want == Status::Failed {
            assert_eq!(
                status["error"],
                format!("demo_sleep: failing as asked: task_version {version} < fail_times 2")
            );
        }
    }
    let cfg = Cfg::new("sleep_0", SLEEP, dir.path()).params(json!({"seconds": -1}));
    let out = execute(cfg.config(&site), &options()).await;
    assert_eq!(
        out.error,
        "demo_sleep: parameter `seconds`: must not be negative"
    );
}

#[tokio::test]
async fn fail_reports_its_message() {
    let mut site = FakeSite::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = Cfg::new("fail_0", FAIL, dir.path()).params(json!({"message": "boom"}));
    let out = execute(cfg.config(&site), &options()).await;
    assert_eq!(
        out,
        Outcome {
            status: Status::Failed,
            error: "demo_fail: boom".into(),
            reported: true
        }
    );
    assert_eq!(out.exit_code(), ExitCode::FAILURE);
    assert_eq!(paths(&site), ["POST /v2/worker/task/status"]);
    assert_eq!(
        site.next_status().await,
        json!({"execution_id": cfg.execution_id(), "status": "failed", "error": "demo_fail: boom"})
    );
}

#[tokio::test]
async fn an_unknown_component_is_reported_as_a_failure() {
    let mut site = FakeSite::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = Cfg::new("x_0", "psi", dir.path());
    let out = execute(cfg.config(&site), &options()).await;
    assert_eq!(out.status, Status::Failed);
    assert!(
        out.error
            .starts_with("psi: unknown component `psi` (the demo provider has demo_reader,"),
        "{}",
        out.error
    );
    assert_eq!(site.next_status().await["error"], out.error.as_str());
}

#[tokio::test]
async fn a_panicking_component_is_reported_as_a_failure() {
    let mut site = FakeSite::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = Cfg::new("x_0", "test_panic", dir.path());
    let out = execute(cfg.config(&site), &options()).await;
    assert_eq!(
        out,
        Outcome {
            status: Status::Failed,
            error: "test_panic: panicked: as asked".into(),
            reported: true
        }
    );
    assert_eq!(
        site.next_status().await["error"],
        "test_panic: panicked: as asked"
    );
}

#[tokio::test]
async fn the_status_report_is_retried_while_the_site_refuses() {
    let mut site = FakeSite::start().await;
    let dir = tempfile::tempdir().unwrap();
    site.refuse_status(2);
    let cfg = Cfg::new("fail_0", FAIL, dir.path());
    let mut opts = options();
    opts.report = ReportPolicy::default();
    let out = execute(cfg.config(&site), &opts).await;
    assert!(out.reported);
    let answers: Vec<u16> = site.calls().iter().map(|c| c.answered).collect();
    assert_eq!(answers, [503, 503, 200]);
    assert!(
        site.calls()
            .iter()
            .all(|c| c.json()["execution_id"] == cfg.execution_id().as_str())
    );
    assert_eq!(site.next_status().await["status"], "failed");
    assert!(site.try_status().is_none(), "reported once");
}

#[tokio::test]
async fn an_unreachable_site_ends_the_run_at_the_deadline_with_failure() {
    // a port nobody listens on
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let site = FakeSite::start().await; // only for the CONFIG's shape
    let dir = tempfile::tempdir().unwrap();
    let mut v = Cfg::new("fail_0", FAIL, dir.path()).value(&site);
    v["mlmd"]["metadata"]["port"] = json!(port);
    let mut opts = options();
    opts.report = ReportPolicy {
        deadline: Duration::from_millis(400),
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(50),
    };
    let started = std::time::Instant::now();
    let out = execute(TaskConfig::parse(&v.to_string()).unwrap(), &opts).await;
    assert!(!out.reported);
    assert_eq!(out.exit_code(), ExitCode::FAILURE);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn ordinary_calls_wait_out_a_restarting_site() {
    let mut site = FakeSite::start().await;
    let dir = tempfile::tempdir().unwrap();
    read_into_site(
        &mut site,
        dir.path(),
        sample::DEMO_GUEST_CSV,
        "guest",
        "9999",
    )
    .await;
    let before = site.calls().len();
    site.refuse_all(6);
    let cfg = Cfg::new("lr_0", TRAIN, dir.path())
        .params(json!({"max_iter": 3}))
        .input("train_data", "reader_0", "output_data");
    let out = execute(cfg.config(&site), &options()).await;
    assert_eq!(out.status, Status::Success, "{}", out.error);
    let calls: Vec<_> = site.calls().into_iter().skip(before).collect();
    let refused: Vec<&str> = calls
        .iter()
        .filter(|c| c.answered == 503)
        .map(|c| c.path.as_str())
        .collect();
    assert_eq!(refused, ["/v2/worker/data/tracking/query"; 6]);
    let metric_path = format!("/v2/worker/metric/save/{}", cfg.execution_id());
    assert_eq!(site.calls_to(&metric_path).len(), 3, "each loss sent once");
    assert_eq!(site.calls_to("/v2/worker/model/save").len(), 1);
}

#[tokio::test]
async fn a_site_silent_past_the_wait_fails_the_task_saying_so() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let site = FakeSite::start().await; // only for the CONFIG's shape
    let dir = tempfile::tempdir().unwrap();
    let mut v = Cfg::new("lr_0", TRAIN, dir.path())
        .input("train_data", "reader_0", "output_data")
        .value(&site);
    v["mlmd"]["metadata"]["port"] = json!(port);
    let mut opts = options();
    opts.client.site_wait = Duration::from_millis(300);
    opts.report = ReportPolicy {
        deadline: Duration::from_millis(100),
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(50),
    };
    let out = execute(TaskConfig::parse(&v.to_string()).unwrap(), &opts).await;
    assert!(!out.reported);
    let want = format!(
        "input `train_data`: cannot resolve it: data tracking query: cannot reach the site at http://127.0.0.1:{port}/v2: no answer for 0 s ("
    );
    assert!(
        out.error.starts_with(&format!("demo_train: {want}")),
        "{}",
        out.error
    );
}

#[tokio::test]
async fn a_final_answer_to_the_status_report_is_not_retried() {
    let site = FakeSite::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut v = Cfg::new("fail_0", FAIL, dir.path()).value(&site);
    v["mlmd"]["metadata"]["api_version"] = json!("v9"); // every path → code 6000
    let out = execute(TaskConfig::parse(&v.to_string()).unwrap(), &options()).await;
    assert!(!out.reported);
    assert_eq!(site.calls().len(), 1);
}

mod loading;

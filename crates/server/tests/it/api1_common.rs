//! What the api-1 tests share: a finished demo job whose outputs (tables, a model, metrics)
//! were recorded through the worker API as the demo components record them.

use serde_json::{Value, json};

use super::support::TestSite;

pub const GUEST_CSV: &str = "id,y,x0,x1\n1,0,0.5,1.5\n2,1,-1.25,0.25\n3,1,2,3\n";

pub fn exec(job: &str, task: &str, version: u32, role: &str, party: &str) -> String {
    format!("{job}_{task}_{version}_{role}_{party}")
}

/// Writes `csv` as a table of the site (`<data_dir>/data/<ns>/<name>.csv`) and records it as
/// output `output_key` of the task run `execution_id`.
pub async fn save_table(
    site: &TestSite,
    execution_id: &str,
    output_key: &str,
    ns: &str,
    name: &str,
    csv: &str,
) {
    let dir = site.data_dir().join("data").join(ns);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.csv"));
    std::fs::write(&path, csv).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    let e = site
        .worker_post(
            execution_id,
            "/v2/worker/data/tracking/save",
            json!({
                "execution_id": execution_id, "output_key": output_key,
                "meta_data": {"header": header, "id_column": header[0], "delimiter": ","},
                "uri": format!("file://{}", path.display()), "namespace": ns, "name": name,
                "overview": {"count": rows.len(), "samples": rows}, "partitions": 1,
                "source": {"task_id": execution_id, "party_task_id": execution_id,
                           "task_name": "t", "component": "c",
                           "output_artifact_key": output_key, "output_index": null}, "data_type": "dataframe", "index": 0,
            }),
        )
        .await;
    assert_eq!(e.code, 0, "{}", e.message);
}

/// An uploaded table: `/v2/data/component/upload`, then what the upload component does
/// (write the table, record it, report success) through the worker API.
pub async fn uploaded_table(site: &TestSite, ns: &str, name: &str, csv: &str) -> String {
    let up = site.site.app.config.upload_dir.clone();
    std::fs::write(up.join(format!("{name}.csv")), csv).unwrap();
    let e = site
        .post(
            "/v2/data/component/upload",
            json!({"file": format!("{name}.csv"), "head": true, "partitions": 1,
                   "meta": {"delimiter": ","}, "namespace": ns, "name": name}),
        )
        .await;
    assert_eq!(e.code, 0, "{}", e.message);
    let job = e.job_id.unwrap();
    site.tick().await;
    let upload = exec(&job, "upload_0", 0, "local", "0");
    save_table(site, &upload, "table", ns, name, csv).await;
    site.report(&upload, "success", "").await;
    site.tick().await;
    job
}

/// A model archive as the demo components write it: `<key>` and `<key>.meta.yaml`.
pub fn model_tar(key: &str, model: &Value, task_id: &str) -> Vec<u8> {
    let meta = format!("model_key: {key}\ntype_name: json_model\nsource:\n  task_id: {task_id}\n");
    let mut b = tar::Builder::new(Vec::new());
    for (name, bytes) in [
        (key.to_string(), serde_json::to_vec(model).unwrap()),
        (format!("{key}.meta.yaml"), meta.into_bytes()),
    ] {
        let mut h = tar::Header::new_ustar();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, &name, bytes.as_slice()).unwrap();
    }
    b.into_inner().unwrap()
}

pub async fn save_model(
    site: &TestSite,
    execution_id: &str,
    model_id: &str,
    key: &str,
    tar: Vec<u8>,
) {
    let form = reqwest::multipart::Form::new()
        .text("model_id", model_id.to_string())
        .text("model_version", "0")
        .text("execution_id", execution_id.to_string())
        .text("output_key", key.to_string())
        .text("type_name", "json_model")
        .part(
            "file",
            reqwest::multipart::Part::bytes(tar).file_name("file"),
        );
    let e = site
        .worker_form(execution_id, "/v2/worker/model/save", form)
        .await;
    assert_eq!(e.code, 0, "{}", e.message);
}

/// The demo DAG for guest 9999 alone: `reader_0` (a table by namespace/name) → `train_0`.
pub fn reader_train_dag(ns: &str, name: &str) -> Value {
    json!({
        "schema_version": "2.2.0",
        "dag": {
            "parties": [{"role": "guest", "party_id": ["9999"]}],
            "conf": {"task": {"provider": "demo:0.1.0@local"}},
            "stage": "default",
            "tasks": {
                "reader_0": {"component_ref": "demo_reader", "parameters": {"namespace": ns, "name": name}},
                "train_0": {"component_ref": "demo_train", "stage": "train",
                    "inputs": {"data": {"train_data": {"task_output_artifact": {
                        "producer_task": "reader_0", "output_artifact_key": "output_data"}}}}},
            },
        }
    })
}

/// Runs `reader_train_dag` to success with the fake launcher: the reader's table, the
/// trainer's table, model `output_model` and two loss metrics are recorded. Returns the job id.
pub async fn finished_job(site: &TestSite) -> String {
    run_job(site, "success").await
}

/// As [`finished_job`], the trainer ending with `train_status` after writing its outputs.
pub async fn run_job(site: &TestSite, train_status: &str) -> String {
    uploaded_table(site, "experiment", "guest", GUEST_CSV).await;
    let job = site.submit(reader_train_dag("experiment", "guest")).await;
    site.tick().await;
    let reader = exec(&job, "reader_0", 0, "guest", "9999");
    save_table(
        site,
        &reader,
        "output_data",
        &format!("{job}_reader_0"),
        "r",
        GUEST_CSV,
    )
    .await;
    site.report(&reader, "success", "").await;
    site.tick().await;
    let train = exec(&job, "train_0", 0, "guest", "9999");
    for step in 0..2 {
        let e = site
            .worker_post(
                &train,
                &format!("/v2/worker/metric/save/{train}"),
                json!({"data": [{"name": "loss", "type": "loss",
                    "groups": [{"name": "default", "index": null}, {"name": "train", "index": null}],
                    "step_axis": "iterations", "data": [{"step": step, "metric": [0.69], "timestamp": 1.0}]}]}),
            )
            .await;
        assert_eq!(e.code, 0, "{}", e.message);
    }
    let tar = model_tar(
        "output_model",
        &json!({"coefficients": [1.0, 2.0]}),
        &format!("{job}_train_0"),
    );
    save_model(site, &train, &job, "output_model", tar).await;
    save_table(
        site,
        &train,
        "train_output_data",
        &format!("{job}_train_0"),
        "p",
        "id,label,predict_score\n1,0,0.2\n",
    )
    .await;
    site.report(&train, train_status, "").await;
    site.tick().await;
    assert!(
        site.job_statuses(&job)
            .await
            .iter()
            .all(|(_, _, s)| s == train_status),
        "the demo job ended {train_status}"
    );
    job
}

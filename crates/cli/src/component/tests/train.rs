//! `demo_train`: losses, model, predictions, and the inputs it refuses.

use super::*;

#[tokio::test]
async fn train_learns_posts_losses_saves_the_model_and_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let (mut site, before) = site_with_guest_table(dir.path()).await;

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
    assert!(
        calls.iter().all(|c| c.token.as_deref() == Some(TOKEN)),
        "every call carries the run's worker token"
    );

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

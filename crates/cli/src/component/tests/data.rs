//! The data components: `demo_reader` and `demo_transform`, and their inputs.

use super::*;

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

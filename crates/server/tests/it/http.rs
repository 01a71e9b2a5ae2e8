//! FATE's HTTP conventions on a real listener: codes, envelopes, quirks, validation.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::support::{SiteSpec, TestSite, sleep_dag};

#[tokio::test]
async fn unknown_routes_and_methods_answer_200_with_6000() {
    let site = TestSite::start(SiteSpec::standalone()).await;
    let r = site
        .http
        .get(format!("{}/v2/nothing/here", site.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v,
        json!({"code": 6000, "message": "<NotFound '404: Not Found'>"})
    );
    let r = site
        .http
        .get(format!("{}/v2/job/submit", site.url()))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v,
        json!({"code": 6000, "message": "<MethodNotAllowed '405: Method Not Allowed'>"})
    );
    site.stop().await;
}

/// A client reuses its connection after a call whose body the route does not need (FATE's
/// stubs, routes without parameters, unknown paths): the site reads the body anyway, so the
/// connection stays open for the next call (fate_client's `model.store` then `model.restore`).
#[tokio::test]
async fn a_connection_stays_usable_after_a_body_nobody_needed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let site = TestSite::start(SiteSpec::standalone()).await;
    let addr = site.url().trim_start_matches("http://").to_string();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let body = format!("{{\"pad\": \"{}\"}}", "x".repeat(64 * 1024));
    let calls = [
        ("POST", "/v2/model/store"),
        ("POST", "/v2/model/restore"),
        ("POST", "/v2/model/load"),
        ("POST", "/v2/job/queue/clean"),
        ("GET", "/v2/server/fateflow"),
        ("GET", "/v2/server/query/all"),
        ("GET", "/v2/site/info/query"),
        ("GET", "/v2/permission/role/query"),
        ("POST", "/v2/nothing/here"),
        ("POST", "/v2/server/fateflow"),
    ];
    for (i, (method, path)) in calls.iter().enumerate() {
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        conn.write_all(request.as_bytes())
            .await
            .unwrap_or_else(|e| panic!("request {i} ({path}): cannot send it: {e}"));
        // One answer (a JSON envelope, its length announced), then the next request.
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let answered = loop {
            let text = String::from_utf8_lossy(&got).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let len = text[..end]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap())
                    })
                    .expect("content-length");
                if got.len() >= end + 4 + len {
                    break text;
                }
            }
            let n = tokio::time::timeout(std::time::Duration::from_secs(10), conn.read(&mut buf))
                .await
                .expect("an answer within 10 s")
                .unwrap();
            assert!(
                n > 0,
                "request {i} ({path}): the site closed the connection"
            );
            got.extend_from_slice(&buf[..n]);
        };
        assert!(answered.starts_with("HTTP/1.1 200"), "{path}: {answered}");
        assert!(
            !answered.to_ascii_lowercase().contains("connection: close"),
            "{path}: {answered}"
        );
    }
    site.stop().await;
}

#[tokio::test]
async fn json_is_read_only_with_a_json_content_type() {
    let site = TestSite::start(SiteSpec::standalone()).await;
    let r = site
        .http
        .post(format!("{}/v2/job/stop", site.url()))
        .header("content-type", "text/plain")
        .body(r#"{"job_id": "1"}"#)
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v,
        json!({"code": 5001, "message": "Invalid request.", "data": {"json": {"job_id": ["Missing data for required field."]}}})
    );
    let r = site
        .http
        .post(format!("{}/v2/job/stop", site.url()))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v,
        json!({"code": 6000, "message": "<BadRequest '400: Bad Request'>"})
    );
    site.stop().await;
}

#[tokio::test]
async fn double_slashes_and_trailing_slashes_reach_the_route() {
    let site = TestSite::start(SiteSpec::standalone()).await;
    for path in ["/v2//job/query", "/v2/job/query/", "/v2//job//query/"] {
        let r = site
            .http
            .get(format!("{}{path}?job_id=1", site.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["code"], 1001, "{path}: {v}");
        assert_eq!(v["message"], "No found job: job_id[1]");
    }
    site.stop().await;
}

#[tokio::test]
async fn queries_without_filters_find_nothing() {
    let site = TestSite::start(SiteSpec::standalone()).await;
    assert_eq!(site.get("/v2/job/query", &[]).await.code, 1001);
    assert_eq!(site.get("/v2/job/task/query", &[]).await.code, 2000);
    let e = site.get("/v2/provider/query", &[]).await;
    assert_eq!((e.code, e.data), (0, Some(json!([]))));
    site.stop().await;
}

#[tokio::test]
async fn standalone_sites_say_so() {
    let site = TestSite::start(SiteSpec::standalone()).await;
    let e = site.get("/v2/site/info/query", &[]).await;
    assert_eq!((e.code, e.message.as_str()), (3000, "Site is standalone"));
    site.stop().await;
}

#[tokio::test]
async fn providers_register_query_and_delete() {
    let site = TestSite::start(SiteSpec::standalone()).await;
    let e = site.get("/v2/provider/query", &[("name", "demo")]).await;
    let data = e.data.unwrap();
    assert_eq!(data[0]["provider_name"], "demo:0.1.0@local");

    // A docker provider's image must exist on the daemon: the tests' own small image.
    let image = crate::docker::sh_image().await;
    let reg = json!({"name": "algo", "device": "docker", "version": "1.0", "metadata": {"base_url": "", "image": image}});
    let e = site.post("/v2/provider/register", reg.clone()).await;
    assert_eq!((e.code, e.message.as_str()), (0, "create success"));
    let e = site.post("/v2/provider/register", reg).await;
    assert_eq!(e.message, "update success");
    let e = site
        .post(
            "/v2/provider/register",
            json!({"name": "x", "device": "gpu", "version": "1", "metadata": {}}),
        )
        .await;
    assert_eq!(e.code, 4001);
    // Kubernetes is refused until this site can run it, saying so.
    let e = site
        .post(
            "/v2/provider/register",
            json!({"name": "fate", "device": "k8s", "version": "2.2.0",
                   "metadata": {"image": "fate:2.2.0", "namespace": "fate"}}),
        )
        .await;
    assert_eq!(e.code, 4001, "{}", e.message);
    assert!(
        e.message.contains("k8s") && e.message.contains("cannot run tasks on Kubernetes yet"),
        "{}",
        e.message
    );
    let e = site.post("/v2/provider/register", json!({"name": "x", "device": "local", "version": "1", "metadata": {"path": "/no/such/dir"}})).await;
    assert_eq!(e.code, 8001);
    let e = site
        .post(
            "/v2/provider/register",
            json!({"name": "x", "device": "local"}),
        )
        .await;
    assert_eq!(
        e.data.unwrap(),
        json!({"json": {"version": ["Missing data for required field."]}})
    );

    let e = site
        .get(
            "/v2/provider/query",
            &[("provider_name", "algo:1.0@docker")],
        )
        .await;
    assert_eq!(e.data.unwrap()[0]["metadata"]["image"], image);
    assert_eq!(
        site.post("/v2/provider/delete", json!({"name": "algo"}))
            .await
            .data,
        Some(json!(true))
    );
    assert_eq!(
        site.get("/v2/provider/query", &[("name", "algo")])
            .await
            .data,
        Some(json!([]))
    );
    site.stop().await;
}

/// A local `fate` provider, as FATE users register it: its components come from its Python
/// (`-m fate.components component list`), its tasks run ferroflow's task wrapper with that
/// Python, and uploads become FATE's two-task jobs.
#[tokio::test]
async fn a_local_fate_provider_runs_pyfate_through_the_task_wrapper() {
    let site = TestSite::start(SiteSpec::standalone()).await;
    let dir = tempfile::tempdir().unwrap();
    let python = dir.path().join("python");
    std::fs::write(
        &python,
        "#!/bin/sh\n[ \"$*\" = \"-m fate.components component list\" ] || exit 3\n\
         echo \"{'buildin': ['reader', 'psi', 'dataframe_transformer'], 'thirdparty': []}\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).unwrap();
    let reg = json!({"name": "fate", "device": "local", "version": "2.2.0",
                     "metadata": {"path": "", "venv": python}});
    let e = site.post("/v2/provider/register", reg).await;
    assert_eq!((e.code, e.message.as_str()), (0, "create success"), "{e:?}");
    // A Python without pyfate is refused.
    let e = site
        .post(
            "/v2/provider/register",
            json!({"name": "fate", "device": "local", "version": "9.9.9",
                   "metadata": {"path": "", "venv": "/bin/false"}}),
        )
        .await;
    assert_eq!(e.code, 4000, "{e:?}");
    assert!(
        e.message.contains("cannot list pyfate's components"),
        "{}",
        e.message
    );

    let parties = json!([{"role": "guest", "party_id": ["9999"]}]);
    let job = site
        .submit(json!({"schema_version": "2.2.0", "dag": {
            "parties": parties, "stage": "default",
            "conf": {"task": {"provider": "fate:2.2.0@local"}},
            "tasks": {"reader_0": {"component_ref": "reader", "parties": parties,
                                   "parameters": {"namespace": "ns", "name": "t"}}},
        }}))
        .await;
    for _ in 0..5 {
        site.tick().await;
    }
    let spec = site
        .launcher
        .spec_of(&format!("{job}_reader_0_0_guest_9999"));
    assert_eq!(&spec.argv[1..], ["task", "entrypoint"]);
    let env: BTreeMap<_, _> = spec.env.iter().cloned().collect();
    assert_eq!(env["EXECUTOR_ENV"], python.display().to_string());
    assert!(env["CONFIG"].contains("\"component\":\"reader\""));

    // Uploads are FATE's: a standalone table, then pyfate's dataframe transformer.
    let file = site.data_dir().join("upload").join("in.csv");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, "id,y,x0\n1,0,0.5\n").unwrap();
    let e = site
        .post(
            "/v2/data/component/upload",
            json!({"file": file, "head": true, "partitions": 2, "meta": {"delimiter": ","},
                   "namespace": "experiment", "name": "t"}),
        )
        .await;
    assert_eq!(e.code, 0, "{e:?}");
    let upload_job = e.job_id.unwrap();
    let tasks = site.tasks(&upload_job).await;
    let names: Vec<&str> = tasks.keys().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(names, ["transformer_0", "upload_0"]);
    let transformer = &tasks[&(
        "transformer_0".to_string(),
        "local".to_string(),
        "0".to_string(),
    )];
    assert_eq!(transformer["provider_name"], "fate:2.2.0@local");
    for _ in 0..5 {
        site.tick().await;
    }
    let spec = site
        .launcher
        .spec_of(&format!("{upload_job}_upload_0_0_local_0"));
    let env: BTreeMap<_, _> = spec.env.iter().cloned().collect();
    assert_eq!(env["EXECUTOR_ENV"], python.display().to_string());
    assert!(env["CONFIG"].contains("\"storage_engine\":\"standalone\""));
    site.stop().await;
}

/// Each invalid DAG is refused with 1000 and a message naming the problem, and nothing is
/// created: the job table stays empty.
#[tokio::test]
async fn invalid_dags_are_refused_before_anything_is_created() {
    let site = TestSite::start(SiteSpec::standalone()).await;
    let base = || {
        sleep_dag(
            &[("a", "demo_sleep", &[]), ("b", "demo_sleep", &["a"])],
            json!({}),
        )
    };
    let mut cases: Vec<(&str, Value, Vec<&str>)> = Vec::new();

    let mut cycle = base();
    cycle["dag"]["tasks"]["a"]["inputs"] = json!({"data": {"input_data": {"task_output_artifact": {"producer_task": "b", "output_artifact_key": "output_data"}}}});
    cases.push(("cycle", cycle, vec!["cycle", "a -> b -> a"]));

    let mut unknown = base();
    unknown["dag"]["tasks"]["b"]["inputs"]["data"]["input_data"]["task_output_artifact"][0]["producer_task"] =
        json!("nope");
    cases.push(("unknown producer", unknown, vec!["dag.tasks.b", "nope"]));

    let mut key = base();
    key["dag"]["tasks"]["b"]["inputs"]["data"]["input_data"]["task_output_artifact"][0]["output_artifact_key"] =
        json!("model_out");
    cases.push((
        "unknown output key",
        key,
        vec![
            "dag.tasks.b.inputs.data.input_data",
            "no output \"model_out\"",
            "output_data",
        ],
    ));

    let mut input = base();
    let chans = input["dag"]["tasks"]["b"]["inputs"]["data"]["input_data"].take();
    input["dag"]["tasks"]["b"]["inputs"]["data"] = json!({"train_data": chans});
    cases.push((
        "unknown input key",
        input,
        vec!["dag.tasks.b.inputs.data.train_data", "no input"],
    ));

    let mut undeclared = base();
    undeclared["dag"]["tasks"]["a"]["parties"] = json!([{"role": "arbiter", "party_id": ["9999"]}]);
    cases.push((
        "undeclared party",
        undeclared,
        vec!["dag.tasks.a", "arbiter"],
    ));

    let mut bad_role = base();
    bad_role["dag"]["parties"][1]["role"] = json!("watcher");
    cases.push(("unknown role", bad_role, vec!["watcher"]));

    let mut provider = base();
    provider["dag"]["conf"]["task"]["provider"] = json!("nosuch:1.0@local");
    cases.push(("unknown provider", provider, vec!["nosuch:1.0@local"]));

    // FATE's default provider (`fate`) is not registered on this site: one problem per task,
    // naming both parties once.
    let default_provider = sleep_dag(&[("a", "demo_sleep", &[])], json!({"task": {}}));
    cases.push((
        "unregistered default provider",
        default_provider,
        vec![
            "(1 problem)",
            "dag.tasks.a.conf.provider: the default provider: provider fate:",
            "is not registered",
            "(on guest 9999, host 10000)",
        ],
    ));

    let mut component = base();
    component["dag"]["tasks"]["a"]["component_ref"] = json!("psi");
    cases.push(("unknown component", component, vec!["dag.tasks.a", "psi"]));

    let mut missing = base();
    missing["dag"]["tasks"]["a"]
        .as_object_mut()
        .unwrap()
        .remove("component_ref");
    missing["dag"]["tasks"]["b"]
        .as_object_mut()
        .unwrap()
        .remove("component_ref");
    cases.push((
        "missing fields, all reported",
        missing,
        vec!["dag.tasks.a", "dag.tasks.b", "component_ref"],
    ));

    let dup = r#"{"dag_schema": {"schema_version": "2.2.0", "dag": {
        "parties": [{"role": "guest", "party_id": ["9999"]}], "stage": "default",
        "conf": {"task": {"provider": "demo:0.1.0@local"}},
        "tasks": {"a": {"component_ref": "demo_sleep"}, "a": {"component_ref": "demo_sleep"}}}}}"#;

    for (what, dag, needles) in cases {
        let e = site
            .post("/v2/job/submit", json!({"dag_schema": dag}))
            .await;
        assert_eq!(e.code, 1000, "{what}: {}", e.message);
        for n in needles {
            assert!(
                e.message.contains(n),
                "{what}: {n:?} not in {:?}",
                e.message
            );
        }
    }
    let r = site
        .http
        .post(format!("{}/v2/job/submit", site.url()))
        .header("content-type", "application/json")
        .body(dup)
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], 1000, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("dag.tasks.a: task name appears more than once"),
        "{v}"
    );

    let e = site.get("/v2/job/list/query", &[]).await;
    assert_eq!(e.data.unwrap()["count"], 0, "no job row anywhere");
    site.stop().await;
}

#[tokio::test]
async fn list_and_notes_and_dependency() {
    let site = TestSite::start(SiteSpec::standalone()).await;
    let job = site
        .submit(sleep_dag(
            &[("a", "demo_sleep", &[]), ("b", "demo_sleep", &["a"])],
            json!({}),
        ))
        .await;
    let e = site.get("/v2/job/list/query", &[("limit", "1")]).await;
    let data = e.data.unwrap();
    assert_eq!(data["count"], 2, "one row per party");
    assert_eq!(data["data"].as_array().unwrap().len(), 1);
    assert!(data["data"][0]["partners"].is_array());

    let e = site
        .post(
            "/v2/job/notes/add",
            json!({"job_id": job, "role": "guest", "party_id": "9999", "notes": "hello"}),
        )
        .await;
    assert_eq!(e.code, 0);
    let e = site
        .get("/v2/job/query", &[("job_id", &job), ("role", "guest")])
        .await;
    assert_eq!(e.data.unwrap()[0]["description"], "hello");

    let e = site
        .get(
            "/v2/job/dag/dependency",
            &[("job_id", &job), ("role", "guest"), ("party_id", "9999")],
        )
        .await;
    let d = e.data.unwrap();
    assert_eq!(d["component_list"], json!(["a", "b"]));
    assert_eq!(d["dependencies"]["a"], json!([{"up_output_info": []}]));
    assert_eq!(d["dependencies"]["b"][0]["component_name"], "a");
    site.stop().await;
}

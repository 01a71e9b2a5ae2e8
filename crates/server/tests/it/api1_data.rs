//! `/v2/data/*`, `/v2/table/*`, `/v2/output/*` and `/v2/job/data/view` over HTTP: each route
//! succeeds, and refuses bad input with FATE's code and a message that says what is wrong.

use serde_json::{Value, json};

use super::api1_common::{GUEST_CSV, exec, finished_job, run_job, uploaded_table};
use super::support::{SiteSpec, TestSite};

fn small_uploads(c: &mut ferroflow_server::config::Config) {
    c.upload_max_bytes = 1024;
}

fn upload_body(file: &str) -> Value {
    json!({"file": file, "head": true, "partitions": 4,
           "meta": {"delimiter": ",", "match_id_name": "id"},
           "namespace": "experiment", "name": "g", "extend_sid": false})
}

#[tokio::test]
async fn upload_submits_a_local_job_and_checks_the_file_first() {
    let site = TestSite::start(SiteSpec::standalone()).await;
    let up = site.site.app.config.upload_dir.clone();
    std::fs::write(up.join("g.csv"), GUEST_CSV).unwrap();
    let e = site
        .post("/v2/data/component/upload", upload_body("g.csv"))
        .await;
    assert_eq!(e.code, 0, "{}", e.message);
    assert_eq!(
        e.data.unwrap(),
        json!({"name": "g", "namespace": "experiment"})
    );
    let job = e.job_id.unwrap();
    // The job is FATE's local job: role local, party 0, one upload task of fate_flow.
    let q = site
        .get(
            "/v2/job/query",
            &[("job_id", &job), ("role", "local"), ("party_id", "0")],
        )
        .await;
    assert_eq!(q.code, 0, "{}", q.message);
    site.tick().await;
    let launched = site.launcher.launched();
    assert_eq!(launched, [exec(&job, "upload_0", 0, "local", "0")]);
    let t = site.tasks(&job).await;
    let task = &t[&("upload_0".into(), "local".into(), "0".into())];
    assert_eq!(task["component"], "upload");
    assert!(
        task["provider_name"]
            .as_str()
            .unwrap()
            .starts_with("fate_flow:")
    );
    let params = &task["component_parameters"]["parameters"];
    assert_eq!(params["namespace"], "experiment");
    assert!(params["file"].as_str().unwrap().ends_with("/upload/g.csv"));

    // Without namespace/name: `upload/<uuid>`.
    let mut b = upload_body("g.csv");
    b.as_object_mut().unwrap().remove("name");
    let e = site.post("/v2/data/component/upload", b).await;
    assert_eq!(e.data.unwrap()["namespace"], "upload");

    let bad = |file: &str, content: &str| {
        std::fs::write(up.join(file), content).unwrap();
    };
    bad("empty.csv", "");
    bad("ragged.csv", "id,x\n1,2\n3\n");
    bad("semi.csv", "id;x\n1;2\n");
    bad("nohead.csv", "\n1,2\n");
    for (file, code, words) in [
        ("missing.csv", 8001, "No found file or dir"),
        ("../../etc/passwd", 5001, "`..` is not allowed"),
        ("/etc/passwd", 5001, "outside the directories"),
        ("empty.csv", 5001, "the file is empty"),
        ("ragged.csv", 5001, "line 3 has 1 fields, the header has 2"),
        ("semi.csv", 5001, "seems to use"),
        ("nohead.csv", 5001, "no header"),
    ] {
        let e = site
            .post("/v2/data/component/upload", upload_body(file))
            .await;
        assert_eq!(e.code, code, "{file}: {}", e.message);
        assert!(e.message.contains(words), "{file}: {}", e.message);
    }
    let mut b = upload_body("g.csv");
    b["name"] = json!("../x");
    let e = site.post("/v2/data/component/upload", b).await;
    assert_eq!(e.code, 5001, "{}", e.message);
    let e = site
        .post(
            "/v2/data/component/upload",
            json!({"file": "g.csv", "head": "maybe"}),
        )
        .await;
    assert_eq!(e.code, 5001);
    assert_eq!(
        e.data.unwrap(),
        json!({"json": {"head": ["Not a valid boolean."]}})
    );
    assert_eq!(
        site.launcher.launched().len(),
        1,
        "no job for a refused upload"
    );
    site.stop().await;
}

fn form(bytes: &[u8]) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new()
        .text("head", "True")
        .text("partitions", "4")
        .text("meta", "{\"delimiter\": \",\"}")
        .text("namespace", "exp")
        .text("name", "h")
        .text("role", "local")
        .part(
            "file",
            reqwest::multipart::Part::bytes(bytes.to_vec()).file_name("h.csv"),
        )
}

#[tokio::test]
async fn upload_file_streams_the_part_and_refuses_what_is_too_big() {
    let site = TestSite::start(SiteSpec {
        configure: Some(small_uploads),
        ..SiteSpec::standalone()
    })
    .await;
    let incoming = site.site.app.config.upload_dir.join(".incoming");
    let e = site
        .post_form("/v2/data/component/upload/file", form(GUEST_CSV.as_bytes()))
        .await;
    assert_eq!(e.code, 0, "{}", e.message);
    assert_eq!(e.data.unwrap(), json!({"name": "h", "namespace": "exp"}));
    let job = e.job_id.unwrap();
    let t = site.tasks(&job).await;
    let p =
        &t[&("upload_0".into(), "local".into(), "0".into())]["component_parameters"]["parameters"];
    assert_eq!(p["is_temp_file"], true);
    let saved = p["file"].as_str().unwrap();
    assert_eq!(std::fs::read_to_string(saved).unwrap(), GUEST_CSV);

    let count = || std::fs::read_dir(&incoming).unwrap().count();
    let before = count();
    let big = format!("id,x\n{}", "1,2\n".repeat(400));
    let e = site
        .post_form("/v2/data/component/upload/file", form(big.as_bytes()))
        .await;
    assert_eq!(e.code, 5001, "{}", e.message);
    assert!(e.message.contains("upload_max_bytes"), "{}", e.message);
    let e = site
        .post_form("/v2/data/component/upload/file", form(b"id,x\n1\n"))
        .await;
    assert!(e.message.contains("line 2 has 1 fields"), "{}", e.message);
    assert_eq!(count(), before, "refused uploads leave nothing behind");

    let no_file = reqwest::multipart::Form::new()
        .text("head", "true")
        .text("partitions", "4")
        .text("meta", "{}");
    let e = site
        .post_form("/v2/data/component/upload/file", no_file)
        .await;
    assert_eq!((e.code, e.message.as_str()), (5007, "No Found File"));
    let bad_meta = reqwest::multipart::Form::new()
        .text("head", "true")
        .text("partitions", "4")
        .text("meta", "{not json")
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"id\n1\n".to_vec()).file_name("f"),
        );
    let e = site
        .post_form("/v2/data/component/upload/file", bad_meta)
        .await;
    assert_eq!(e.code, 5001);
    assert!(e.data.unwrap()["form"]["meta"].is_array());
    assert_eq!(count(), before);
    site.stop().await;
}

#[tokio::test]
async fn download_transformer_and_data_download() {
    let site = TestSite::start(SiteSpec::standalone()).await;
    uploaded_table(&site, "experiment", "guest", GUEST_CSV).await;
    // /v2/data/component/download
    let e = site
        .post(
            "/v2/data/component/download",
            json!({"namespace": "experiment", "name": "guest", "path": "out"}),
        )
        .await;
    assert_eq!(e.code, 0, "{}", e.message);
    let d = e.data.unwrap();
    assert!(d["path"].as_str().unwrap().ends_with("/upload/out"), "{d}");
    assert!(e.job_id.is_some());
    for (body, code) in [
        (json!({"namespace": "experiment", "name": "guest"}), 5001),
        (
            json!({"namespace": "experiment", "name": "nope", "path": "out"}),
            7001,
        ),
        (
            json!({"namespace": "experiment", "name": "guest", "path": "/etc"}),
            5001,
        ),
        (
            json!({"namespace": "experiment", "name": "guest", "path": "a/../../b"}),
            5001,
        ),
    ] {
        let e = site.post("/v2/data/component/download", body.clone()).await;
        assert_eq!(e.code, code, "{body}: {}", e.message);
    }
    // /v2/data/component/dataframe/transformer
    let tr = |ns: &str, drop: bool| {
        json!({"data_warehouse": {"namespace": ns, "name": "guest"},
               "namespace": "experiment", "name": "guest", "drop": drop})
    };
    let e = site
        .post(
            "/v2/data/component/dataframe/transformer",
            tr("experiment", true),
        )
        .await;
    assert_eq!(e.code, 0, "{}", e.message);
    assert_eq!(
        e.data.unwrap(),
        json!({"name": "guest", "namespace": "experiment"})
    );
    uploaded_table(&site, "experiment", "guest", GUEST_CSV).await;
    let e = site
        .post(
            "/v2/data/component/dataframe/transformer",
            tr("experiment", false),
        )
        .await;
    assert_eq!(e.code, 7002, "{}", e.message);
    let e = site
        .post(
            "/v2/data/component/dataframe/transformer",
            tr("elsewhere", true),
        )
        .await;
    assert_eq!(e.code, 7001, "{}", e.message);
    // GET /v2/data/download
    let (ct, cd, bytes) = site
        .raw(
            site.http
                .get(format!("{}/v2/data/download", site.url()))
                .query(&[("namespace", "experiment"), ("name", "guest")]),
        )
        .await;
    assert_eq!(ct, "application/gzip");
    assert!(cd.contains("download_data_experiment_guest.tar.gz"), "{cd}");
    let members = ferroflow_server::archive::untargz(&bytes).unwrap();
    assert_eq!(
        members[0],
        ("data/0.csv".to_string(), GUEST_CSV.as_bytes().to_vec())
    );
    let meta: Value = serde_json::from_slice(&members[1].1).unwrap();
    assert_eq!(meta, json!({"header": ["id", "y", "x0", "x1"]}));
    let e = site
        .get(
            "/v2/data/download",
            &[("namespace", "experiment"), ("name", "nope")],
        )
        .await;
    assert_eq!(e.code, 7001);
    site.stop().await;
}

#[tokio::test]
async fn tables_are_queried_deleted_and_bound() {
    let site = TestSite::start(SiteSpec {
        // It reads a bound table through api-3 as a task would, with no task run to hold a
        // worker token.
        configure: Some(|c| c.auth.worker = false),
        ..SiteSpec::standalone()
    })
    .await;
    uploaded_table(&site, "experiment", "guest", GUEST_CSV).await;
    let e = site
        .get(
            "/v2/table/query",
            &[
                ("namespace", "experiment"),
                ("name", "guest"),
                ("display", "true"),
            ],
        )
        .await;
    assert_eq!(e.code, 0, "{}", e.message);
    let d = e.data.unwrap();
    for k in [
        "namespace",
        "name",
        "count",
        "meta",
        "engine",
        "path",
        "source",
        "data_type",
        "display",
    ] {
        assert!(d.get(k).is_some(), "{k} in {d}");
    }
    assert_eq!(d["count"], 3);
    assert_eq!(d["display"][0], json!(["1", "0", "0.5", "1.5"]));
    let e = site
        .get(
            "/v2/table/query",
            &[("namespace", "experiment"), ("name", "x")],
        )
        .await;
    assert_eq!(
        (e.code, e.message.as_str()),
        (7001, "No found table: namespace[experiment],name[x]")
    );
    let e = site
        .get("/v2/table/query", &[("namespace", "experiment")])
        .await;
    assert_eq!(e.code, 5001);

    // bind/path: a CSV in the upload directory becomes a table the worker API resolves.
    let up = site.site.app.config.upload_dir.clone();
    std::fs::write(up.join("bound.csv"), GUEST_CSV).unwrap();
    let e = site
        .post(
            "/v2/table/bind/path",
            json!({"namespace": "b", "name": "t", "path": "bound.csv"}),
        )
        .await;
    assert_eq!(e.code, 0, "{}", e.message);
    let w = site
        .get(
            "/v2/worker/data/tracking/query",
            &[("namespace", "b"), ("name", "t")],
        )
        .await;
    let info = &w.data.unwrap()[0];
    assert_eq!(
        (info["engine"].as_str(), info["count"].as_i64()),
        (Some("path"), Some(3))
    );
    assert!(info["path"].as_str().unwrap().ends_with("/bound.csv"));
    std::os::unix::fs::symlink("/etc", up.join("escape")).unwrap();
    for (path, code) in [
        ("nope.csv", 8001),
        ("/etc/hosts", 5001),
        ("escape/hosts", 5001),
        ("../x", 5001),
    ] {
        let e = site
            .post(
                "/v2/table/bind/path",
                json!({"namespace": "b", "name": "t2", "path": path}),
            )
            .await;
        assert_eq!(e.code, code, "{path}: {}", e.message);
    }

    // delete: the meta, and the file of a table the site owns; a bound file stays.
    let file = site.data_dir().join("data/experiment/guest.csv");
    assert!(file.exists());
    let e = site
        .post(
            "/v2/table/delete",
            json!({"namespace": "experiment", "name": "guest"}),
        )
        .await;
    assert_eq!(e.code, 0, "{}", e.message);
    assert!(!file.exists());
    let e = site
        .post("/v2/table/delete", json!({"namespace": "b", "name": "t"}))
        .await;
    assert_eq!(e.code, 0);
    assert!(up.join("bound.csv").exists());
    let e = site
        .post(
            "/v2/table/delete",
            json!({"namespace": "experiment", "name": "guest"}),
        )
        .await;
    assert_eq!(e.code, 7001);
    site.stop().await;
}

#[tokio::test]
async fn outputs_of_a_finished_job() {
    let site = TestSite::start(SiteSpec::standalone()).await;
    let job = finished_job(&site).await;
    let task = |name: &'static str| {
        vec![
            ("job_id", job.clone()),
            ("role", "guest".into()),
            ("party_id", "9999".into()),
            ("task_name", name.to_string()),
        ]
    };
    let q = |v: &Vec<(&'static str, String)>| {
        v.iter().map(|(k, x)| (*k, x.clone())).collect::<Vec<_>>()
    };
    let get = |path: &'static str, t: Vec<(&'static str, String)>| {
        let site = &site;
        async move {
            let pairs: Vec<(&str, &str)> = t.iter().map(|(k, v)| (*k, v.as_str())).collect();
            site.get_value(path, &pairs).await
        }
    };
    // metrics
    let m = get("/v2/output/metric/query", q(&task("train_0"))).await;
    assert_eq!(m["code"], 0);
    assert_eq!(m["data"].as_array().unwrap().len(), 2);
    let k = get("/v2/output/metric/key/query", q(&task("train_0"))).await;
    assert_eq!(
        k["data"],
        json!([{"name": "loss", "type": "loss", "step_axis": "iterations",
                "groups": [{"name": "default", "index": null}, {"name": "train", "index": null}]}])
    );
    // models
    let mq = get("/v2/output/model/query", q(&task("train_0"))).await;
    assert_eq!(
        mq["data"],
        json!({"output_model": {"coefficients": [1.0, 2.0]}})
    );
    let pairs: Vec<(&str, String)> = task("train_0");
    let (ct, cd, tar) = site
        .raw(
            site.http
                .get(format!("{}/v2/output/model/download", site.url()))
                .query(&pairs),
        )
        .await;
    assert_eq!(ct, "application/x-tar");
    assert!(cd.contains("output_model"), "{cd}");
    assert_eq!(tar.len() % 512, 0);
    let none = get("/v2/output/model/query", q(&task("reader_0"))).await;
    assert_eq!(none["code"], 2005);
    // data
    let t = get("/v2/output/data/table", q(&task("train_0"))).await;
    assert_eq!(
        t,
        json!({"train_output_data": [{"namespace": format!("{job}_train_0"), "name": "p"}]})
    );
    let d = get("/v2/output/data/display", q(&task("reader_0"))).await;
    assert_eq!(d["output_data"][0]["total"], 3);
    assert_eq!(
        d["output_data"][0]["data"][0],
        json!(["1", "0", "0.5", "1.5"])
    );
    let (ct, cd, gz) = site
        .raw(
            site.http
                .get(format!("{}/v2/output/data/download", site.url()))
                .query(&task("reader_0")),
        )
        .await;
    assert_eq!(ct, "application/gzip");
    assert!(cd.contains(&format!("{job}_guest_9999_reader_0")), "{cd}");
    let members = ferroflow_server::archive::untargz(&gz).unwrap();
    let names: Vec<&str> = members.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["output_data/0.csv", "output_data/0.meta"]);
    assert_eq!(members[0].1, GUEST_CSV.as_bytes());
    // failures: an unknown task (2000), a bare route's error is still an envelope.
    for path in [
        "/v2/output/metric/query",
        "/v2/output/metric/key/query",
        "/v2/output/model/query",
        "/v2/output/model/download",
        "/v2/output/data/table",
        "/v2/output/data/display",
        "/v2/output/data/download",
    ] {
        let v = get(path, q(&task("nope_0"))).await;
        assert_eq!(v["code"], 2000, "{path}: {v}");
        let v = site.get_value(path, &[("job_id", &job)]).await;
        assert_eq!(v["code"], 5001, "{path}: {v}");
    }
    // deletes
    let body = json!({"job_id": job, "role": "guest", "party_id": "9999", "task_name": "train_0"});
    let e = site.post("/v2/output/metric/delete", body.clone()).await;
    assert_eq!((e.code, e.data.clone()), (0, Some(json!(true))));
    let e = site.post("/v2/output/metric/delete", body.clone()).await;
    assert_eq!(e.data, Some(json!(false)));
    let e = site.post("/v2/output/model/delete", body.clone()).await;
    assert_eq!(e.code, 0, "{}", e.message);
    let e = site.post("/v2/output/model/delete", body.clone()).await;
    assert_eq!(e.code, 2005);
    let e = site
        .post("/v2/output/metric/delete", json!({"job_id": job}))
        .await;
    assert_eq!(e.code, 5001);
    site.stop().await;
}

#[tokio::test]
async fn earlier_runs_stay_addressable() {
    let site = TestSite::start(SiteSpec::standalone()).await;
    let job = run_job(&site, "failed").await;
    // Rerun train_0: version 1 succeeds without outputs; version 0's are still there.
    let e = site.post("/v2/job/rerun", json!({"job_id": job})).await;
    assert_eq!(e.code, 0, "{}", e.message);
    site.tick().await;
    site.tick().await;
    let v1 = exec(&job, "train_0", 1, "guest", "9999");
    assert!(
        site.launcher.launched().contains(&v1),
        "{:?}",
        site.launcher.launched()
    );
    site.report(&v1, "success", "").await;
    site.tick().await;
    let base = [
        ("job_id", job.as_str()),
        ("role", "guest"),
        ("party_id", "9999"),
        ("task_name", "train_0"),
    ];
    assert_eq!(
        site.get_value("/v2/output/model/query", &base).await["code"],
        2005
    );
    let mut v0 = base.to_vec();
    v0.push(("task_version", "0"));
    let m0 = site.get_value("/v2/output/model/query", &v0).await;
    assert_eq!(
        m0["data"]["output_model"]["coefficients"],
        json!([1.0, 2.0])
    );
    let t0 = site.get_value("/v2/output/data/table", &v0).await;
    assert!(t0.get("train_output_data").is_some(), "{t0}");
    let mut v9 = base.to_vec();
    v9.push(("task_version", "9"));
    assert_eq!(
        site.get_value("/v2/output/model/query", &v9).await["code"],
        2000
    );
    site.stop().await;
}

#[tokio::test]
async fn data_view_lists_what_readers_read() {
    let site = TestSite::start(SiteSpec::standalone()).await;
    let job = finished_job(&site).await;
    let e = site
        .get(
            "/v2/job/data/view",
            &[("job_id", &job), ("role", "guest"), ("party_id", "9999")],
        )
        .await;
    assert_eq!(e.code, 0, "{}", e.message);
    assert_eq!(
        e.data.unwrap(),
        json!({"role": "guest", "party_id": "9999",
               "data_view": {"guest": {"9999": [{"namespace": "experiment", "name": "guest"}]}}})
    );
    let e = site
        .get(
            "/v2/job/data/view",
            &[("job_id", "nope"), ("role", "guest"), ("party_id", "9999")],
        )
        .await;
    assert_eq!(e.code, 1001);
    let e = site.get("/v2/job/data/view", &[("job_id", &job)]).await;
    assert_eq!(e.code, 5001);
    site.stop().await;
}

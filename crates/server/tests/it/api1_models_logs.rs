//! `/v2/model/*`, `/v2/log/*` and `/v2/job/log/download` over HTTP.

use serde_json::json;

use super::api1_common::finished_job;
use super::support::{SiteSpec, TestSite};

fn two_sites_spec() -> SiteSpec {
    SiteSpec::standalone()
}

#[tokio::test]
async fn models_are_exported_imported_elsewhere_and_deleted() {
    let a = TestSite::start(two_sites_spec()).await;
    let job = finished_job(&a).await;
    let export = json!({"model_id": job, "model_version": "0", "role": "guest",
                        "party_id": "9999", "path": "exports"});
    let e = a.post("/v2/model/export", export.clone()).await;
    assert_eq!(e.code, 0, "{}", e.message);
    assert!(e.data.is_none());
    let zip_path = a
        .site
        .app
        .config
        .upload_dir
        .join("exports")
        .join(format!("{job}_0_guest_9999.zip"));
    let zip = std::fs::read(&zip_path).unwrap();
    let members = ferroflow_server::archive::unzip(&zip).unwrap();
    let key = format!("{job}/0/guest/9999/train_0/output_model");
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].0, key);
    let q = [
        ("job_id", job.as_str()),
        ("role", "guest"),
        ("party_id", "9999"),
        ("task_name", "train_0"),
    ];
    let (_, _, original) = a
        .raw(
            a.http
                .get(format!("{}/v2/output/model/download", a.url()))
                .query(&q),
        )
        .await;
    assert_eq!(
        members[0].1, original,
        "the zip holds the archive as the task saved it"
    );
    for (path, code) in [("/etc", 5001), ("../out", 5001)] {
        let mut b = export.clone();
        b["path"] = json!(path);
        let e = a.post("/v2/model/export", b).await;
        assert_eq!(e.code, code, "{path}: {}", e.message);
    }
    let mut b = export.clone();
    b["model_id"] = json!("nope");
    assert_eq!(a.post("/v2/model/export", b).await.code, 2005);
    assert_eq!(
        a.post("/v2/model/export", json!({"model_id": "x"}))
            .await
            .code,
        5001
    );

    // Import into a second site, under a new id; read back byte-identical.
    let b_site = TestSite::start(SiteSpec {
        party_id: "10000",
        // It reads the archive back through api-3 as a prediction task would, with no task
        // run to hold a worker token.
        configure: Some(|c| c.auth.worker = false),
        ..SiteSpec::standalone()
    })
    .await;
    let form = |bytes: Vec<u8>| {
        reqwest::multipart::Form::new()
            .text("model_id", "imported")
            .text("model_version", "7")
            .part(
                "file",
                reqwest::multipart::Part::bytes(bytes).file_name("m.zip"),
            )
    };
    let e = b_site
        .post_form("/v2/model/import", form(zip.clone()))
        .await;
    assert_eq!(e.code, 0, "{}", e.message);
    let (ct, _, back) = b_site
        .raw(
            b_site
                .http
                .get(format!("{}/v2/worker/model/download", b_site.url()))
                .query(&[
                    ("model_id", "imported"),
                    ("model_version", "7"),
                    ("role", "guest"),
                    ("party_id", "9999"),
                    ("task_name", "train_0"),
                    ("output_key", "output_model"),
                ]),
        )
        .await;
    assert_eq!(ct, "application/x-tar");
    assert_eq!(back, original);
    let e = b_site
        .post_form("/v2/model/import", form(b"not a zip".to_vec()))
        .await;
    assert_eq!(e.code, 5001, "{}", e.message);
    let no_file = reqwest::multipart::Form::new()
        .text("model_id", "x")
        .text("model_version", "1");
    assert_eq!(
        b_site.post_form("/v2/model/import", no_file).await.code,
        5007
    );
    let missing = reqwest::multipart::Form::new().text("model_id", "x");
    assert_eq!(
        b_site.post_form("/v2/model/import", missing).await.code,
        5001
    );

    // delete
    let e = b_site
        .post(
            "/v2/model/delete",
            json!({"model_id": "imported", "model_version": "7", "role": "guest"}),
        )
        .await;
    assert_eq!((e.code, e.data), (0, Some(json!({"count": true}))));
    let e = b_site
        .post(
            "/v2/model/delete",
            json!({"model_id": "imported", "model_version": "7"}),
        )
        .await;
    assert_eq!(e.code, 2005);
    assert_eq!(b_site.post("/v2/model/delete", json!({})).await.code, 5001);

    // Stubs, as upstream.
    for route in ["load", "migrate", "store", "restore"] {
        let e = a.post(&format!("/v2/model/{route}"), json!({})).await;
        assert_eq!((e.code, e.message.as_str()), (0, "success"), "{route}");
        let r = a
            .http
            .get(format!("{}/v2/model/{route}", a.url()))
            .send()
            .await
            .unwrap();
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["code"], 6000, "{route}: GET is not a route");
    }
    a.stop().await;
    b_site.stop().await;
}

#[tokio::test]
async fn logs_are_counted_paged_masked_and_downloaded() {
    let site = TestSite::start(SiteSpec::standalone()).await;
    let job = finished_job(&site).await;
    let dir = site
        .site
        .app
        .config
        .logs_dir()
        .join(&job)
        .join("guest/9999/train_0/root");
    std::fs::create_dir_all(&dir).unwrap();
    let lines: Vec<String> = (1..=5)
        .map(|i| format!("line {i} from 10.0.0.{i}:9380"))
        .collect();
    std::fs::write(dir.join("INFO"), lines.join("\n") + "\n").unwrap();
    let base = [
        ("job_id", job.as_str()),
        ("role", "guest"),
        ("party_id", "9999"),
        ("task_name", "train_0"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut v = base.to_vec();
        v.extend_from_slice(extra);
        v
    };
    let e = site
        .get("/v2/log/count", &with(&[("log_type", "task_info")]))
        .await;
    assert_eq!((e.code, e.data), (0, Some(json!(5))));
    let e = site
        .get(
            "/v2/log/query",
            &with(&[("log_type", "task_info"), ("begin", "2"), ("end", "3")]),
        )
        .await;
    assert_eq!(
        e.data.unwrap(),
        json!([{"line_num": 2, "content": "line 2 from xxx.xxx.xxx.xxx:9380"},
               {"line_num": 3, "content": "line 3 from xxx.xxx.xxx.xxx:9380"}])
    );
    // Nothing to read: 0 lines, an empty list; an unknown type: count 0, query 6000.
    let e = site
        .get("/v2/log/count", &with(&[("log_type", "task_error")]))
        .await;
    assert_eq!(e.data, Some(json!(0)));
    let e = site
        .get("/v2/log/query", &with(&[("log_type", "task_error")]))
        .await;
    assert_eq!(e.data, Some(json!([])));
    let e = site
        .get("/v2/log/count", &with(&[("log_type", "nonsense")]))
        .await;
    assert_eq!(e.data, Some(json!(0)));
    let e = site
        .get("/v2/log/query", &with(&[("log_type", "nonsense")]))
        .await;
    assert_eq!(e.code, 6000);
    let e = site
        .get(
            "/v2/log/query",
            &[("log_type", "task_info"), ("job_id", &job)],
        )
        .await;
    assert_eq!(e.code, 5001, "role is required");
    let e = site
        .get(
            "/v2/log/query",
            &with(&[
                ("log_type", "task_info"),
                ("instance_id", "flow-elsewhere-1"),
            ]),
        )
        .await;
    assert_eq!(e.code, 6004);
    let e = site
        .get(
            "/v2/log/query",
            &[
                ("log_type", "task_info"),
                ("job_id", "../../etc"),
                ("role", "guest"),
                ("party_id", "1"),
            ],
        )
        .await;
    assert_eq!(e.code, 5001, "{}", e.message);

    // download: the job's log directory.
    let (ct, cd, gz) = site
        .raw(
            site.http
                .post(format!("{}/v2/job/log/download", site.url()))
                .json(&json!({"job_id": job})),
        )
        .await;
    assert_eq!(ct, "application/gzip");
    assert!(cd.contains(&format!("job_{job}_log.tar.gz")), "{cd}");
    let members = ferroflow_server::archive::untargz(&gz).unwrap();
    assert!(
        members
            .iter()
            .any(|(n, _)| n.ends_with("guest/9999/train_0/root/INFO")),
        "{:?}",
        members.iter().map(|m| &m.0).collect::<Vec<_>>()
    );
    let e = site
        .post(
            "/v2/job/log/download",
            json!({"job_id": "202001010000000000000"}),
        )
        .await;
    assert_eq!(e.code, 8001, "{}", e.message);
    assert_eq!(
        site.post("/v2/job/log/download", json!({})).await.code,
        5001
    );
    site.stop().await;
}

//! Worker tokens on api-3: a task run writes only its own status, outputs, models and
//! metrics and reads only its own party's; refusals (5001 without a token, 5003 with any
//! other) change nothing and leave only an audit row.

use serde_json::{Value, json};

use super::support::{SiteSpec, TestSite, sleep_dag};

const HEADER: &str = ferroflow_server::run::token::HEADER;

fn exec(job: &str, task: &str, version: u32, role: &str, party: &str) -> String {
    format!("{job}_{task}_{version}_{role}_{party}")
}

/// A request with whatever token header the test chooses (`None`: none).
async fn send(req: reqwest::RequestBuilder, token: Option<&str>) -> Value {
    let req = match token {
        Some(t) => req.header(HEADER, t),
        None => req,
    };
    let r = req.send().await.unwrap();
    assert_eq!(
        r.status(),
        200,
        "refusals are answered as FATE answers errors"
    );
    r.json().await.unwrap()
}

async fn party_status(site: &TestSite, job: &str, role: &str, party: &str) -> String {
    site.tasks(job).await[&("a".to_string(), role.to_string(), party.to_string())]["party_status"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn audit(site: &TestSite, query: &[(&str, &str)]) -> Value {
    let e = site.get("/v2/audit/query", query).await;
    assert_eq!(e.code, 0, "{}", e.message);
    e.data.unwrap()
}

#[tokio::test]
async fn a_task_run_writes_and_reads_only_as_itself() {
    let site = TestSite::start(SiteSpec::standalone()).await;
    let job = site
        .submit(sleep_dag(&[("a", "demo_sleep", &[])], json!({})))
        .await;
    site.tick().await;
    let guest = exec(&job, "a", 0, "guest", "9999");
    let host = exec(&job, "a", 0, "host", "10000");
    let guest_token = site.token(&guest);
    assert_ne!(
        guest_token,
        site.token(&host),
        "every run has its own token"
    );
    let url = |p: &str| format!("{}{p}", site.url());
    let status = json!({"execution_id": host, "status": "success", "error": ""});

    // No token, a malformed one: 5001. Someone else's or an unknown one: 5003.
    let refusals: Vec<(Option<String>, i64)> = vec![
        (None, 5001),
        (Some("not-a-token".into()), 5001),
        (Some("0".repeat(64)), 5003),
        (Some(guest_token.clone()), 5003),
    ];
    for (token, code) in &refusals {
        let e = send(
            site.http.post(url("/v2/worker/task/status")).json(&status),
            token.as_deref(),
        )
        .await;
        assert_eq!(e["code"], *code, "{token:?}: {e}");
    }
    // Every api-3 route, naming the host's run (or its party) with the guest's token.
    let tar = reqwest::multipart::Form::new()
        .text("model_id", job.clone())
        .text("model_version", "0")
        .text("execution_id", host.clone())
        .text("output_key", "output_model")
        .text("type_name", "json_model")
        .part(
            "file",
            reqwest::multipart::Part::bytes(vec![0u8; 512]).file_name("file"),
        );
    let metric = json!({"name": "loss", "type": "loss", "groups": [], "step_axis": "iterations",
        "data": [{"step": 0, "metric": [0.5], "timestamp": 1.0}]});
    let others = [
        site.http.post(url("/v2/worker/data/tracking/save")).json(&json!({
            "execution_id": host, "output_key": "output_data", "meta_data": {}, "uri": "file:///x.csv",
            "namespace": "ns", "name": "stolen", "overview": {}, "source": {}, "data_type": "dataframe",
            "index": 0})),
        site.http.post(url("/v2/worker/metric/save")).json(&json!({"execution_id": host, "data": [metric]})),
        site.http.post(url(&format!("/v2/worker/metric/save/{host}"))).json(&json!({"data": [metric]})),
        site.http.post(url("/v2/worker/model/save")).multipart(tar),
        site.http.get(url("/v2/worker/data/tracking/query")).query(&[
            ("job_id", job.as_str()), ("role", "host"), ("party_id", "10000"), ("task_name", "a")]),
        site.http.get(url("/v2/worker/model/download")).query(&[
            ("model_id", job.as_str()), ("model_version", "0"), ("role", "host"),
            ("party_id", "10000"), ("task_name", "a"), ("output_key", "output_model")]),
    ];
    for req in others {
        let e = send(req, Some(&guest_token)).await;
        assert_eq!(e["code"], 5003, "{e}");
    }
    assert_eq!(party_status(&site, &job, "host", "10000").await, "running");
    let tables = site
        .worker_get(
            &host,
            "/v2/worker/data/tracking/query",
            &[("namespace", "ns"), ("name", "stolen")],
        )
        .await;
    assert_eq!(tables.code, 7001, "no table was recorded");
    let metrics = site
        .get(
            "/v2/output/metric/query",
            &[
                ("job_id", &job),
                ("role", "host"),
                ("party_id", "10000"),
                ("task_name", "a"),
            ],
        )
        .await;
    assert!(
        metrics
            .data
            .as_ref()
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty),
        "no metric was stored: {metrics:?}"
    );

    // Each run as itself is served.
    site.report(&host, "success", "").await;
    site.report(&guest, "success", "").await;
    assert_eq!(party_status(&site, &job, "host", "10000").await, "success");

    // The refusals are in the audit log, with the run they named, and counted.
    let refused = audit(
        &site,
        &[("group", "worker"), ("result", "refused"), ("limit", "100")],
    )
    .await;
    assert_eq!(refused["count"], 10, "{refused}");
    let rows = refused["audits"].as_array().unwrap();
    assert!(
        rows.iter()
            .all(|r| r["peer"].as_str().unwrap().starts_with("127.0.0.1:"))
    );
    assert!(rows.iter().any(|r| r["caller"] == format!("task {host}")
        && r["route"] == "/v2/worker/task/status"
        && r["code"] == 5003
        && r["verified"] == false));
    let ok = audit(&site, &[("group", "worker"), ("result", "ok")]).await;
    assert_eq!(
        ok["count"], 3,
        "the two reports and the query as the host: {ok}"
    );
    assert!(
        ok["audits"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["caller"] == format!("task {guest}") && r["verified"] == true)
    );
    let text = site
        .http
        .get(format!("{}/metrics", site.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#"ferroflow_auth_total{group="worker",result="refused"} 10"#),
        "{text}"
    );
    assert!(text.contains("ferroflow_audit_dropped_total 0"));
    site.stop().await;
}

#[tokio::test]
async fn a_new_version_retires_the_old_runs_token() {
    let site = TestSite::start(SiteSpec::standalone()).await;
    let job = site
        .submit(sleep_dag(&[("a", "demo_sleep", &[])], json!({})))
        .await;
    site.tick().await;
    for (role, party) in [("guest", "9999"), ("host", "10000")] {
        site.report(&exec(&job, "a", 0, role, party), "failed", "boom")
            .await;
    }
    site.tick().await;
    let e = site.post("/v2/job/rerun", json!({"job_id": job})).await;
    assert_eq!(e.code, 0, "{}", e.message);
    site.tick().await;
    let (old, new) = (
        exec(&job, "a", 0, "guest", "9999"),
        exec(&job, "a", 1, "guest", "9999"),
    );
    let old_token = site.token(&old);
    let url = format!("{}/v2/worker/task/status", site.url());
    for target in [&new, &old] {
        let e = send(
            site.http
                .post(&url)
                .json(&json!({"execution_id": target, "status": "success", "error": ""})),
            Some(&old_token),
        )
        .await;
        assert_eq!(e["code"], 5003, "{target}: {e}");
    }
    assert_eq!(
        site.tasks(&job).await[&("a".into(), "guest".into(), "9999".into())]["task_version"],
        1
    );
    site.report(&new, "success", "").await;
    site.stop().await;
}

#[tokio::test]
async fn a_restarted_site_accepts_its_readopted_runs_tokens() {
    let site = TestSite::start(SiteSpec::standalone()).await;
    let job = site
        .submit(sleep_dag(&[("a", "demo_sleep", &[])], json!({})))
        .await;
    site.tick().await;
    let guest = exec(&job, "a", 0, "guest", "9999");
    let token = site.token(&guest);
    let parked = site.park().await;
    let site = parked.start().await;
    let e = send(
        site.http
            .post(format!("{}/v2/worker/task/status", site.url()))
            .json(&json!({"execution_id": guest, "status": "success", "error": ""})),
        Some(&token),
    )
    .await;
    assert_eq!(e["code"], 0, "{e}");
    site.stop().await;
}

#[tokio::test]
async fn with_client_and_site_authentication_every_call_is_audited_and_the_log_is_restricted() {
    let site = TestSite::start(SiteSpec {
        configure: Some(|c| {
            c.auth.client = Some(true);
            c.auth.site = Some(true);
        }),
        ..SiteSpec::standalone()
    })
    .await;
    let (admin, token) =
        ferroflow_server::auth::credentials::read_admin_file(&site.data_dir()).unwrap();
    let signed = |r: reqwest::RequestBuilder, app: &str, token: &str| {
        let now = ferroflow_server::clock::Clock::now_ms(&site.clock);
        ferroflow_server::auth::fate::client_headers(app, token, "", now)
            .into_iter()
            .fold(r, |r, (k, v)| r.header(k, v))
    };
    // A claimed, unknown app: refused, and audited under the name it claimed.
    let e = site
        .raw(
            site.http
                .get(format!("{}/v2/job/query", site.url()))
                .header("appId", "someone")
                .query(&[("job_id", "202601010000000000001")]),
        )
        .await;
    assert!(String::from_utf8_lossy(&e.2).contains("5001"), "{e:?}");
    let e = site
        .raw(signed(
            site.http
                .get(format!("{}/v2/job/query", site.url()))
                .query(&[("job_id", "202601010000000000001")]),
            &admin,
            &token,
        ))
        .await;
    assert!(String::from_utf8_lossy(&e.2).contains("1001"), "{e:?}");
    let e = site
        .raw(signed(
            site.http
                .post(format!("{}/v2/job/submit", site.url()))
                .json(&json!({"dag_schema": sleep_dag(&[("a", "demo_sleep", &[])], json!({}))})),
            &admin,
            &token,
        ))
        .await;
    assert!(
        String::from_utf8_lossy(&e.2).contains("\"code\":0"),
        "{e:?}"
    );
    site.tick().await;
    // Without a verified super_client the log is refused (and that refusal is audited).
    let e = site.get("/v2/audit/query", &[]).await;
    assert_eq!(e.code, 5001, "{}", e.message);
    // A client app without `super_client`: 5004.
    let made = site
        .raw(signed(
            site.http
                .post(format!("{}/v2/app/client/create", site.url()))
                .json(&json!({"app_name": "reader"})),
            &admin,
            &token,
        ))
        .await;
    let made: serde_json::Value = serde_json::from_slice(&made.2).unwrap();
    assert_eq!(made["code"], 0, "{made}");
    let (reader, reader_token) = (
        made["data"]["app_id"].as_str().unwrap().to_string(),
        made["data"]["app_token"].as_str().unwrap().to_string(),
    );
    let e = site
        .raw(signed(
            site.http.get(format!("{}/v2/audit/query", site.url())),
            &reader,
            &reader_token,
        ))
        .await;
    assert!(String::from_utf8_lossy(&e.2).contains("5004"), "{e:?}");
    // The admin app reads it.
    let e = site
        .raw(signed(
            site.http.get(format!("{}/v2/audit/query", site.url())),
            &admin,
            &token,
        ))
        .await;
    assert!(
        String::from_utf8_lossy(&e.2).contains("\"code\":0"),
        "{e:?}"
    );

    let app = &site.site.app;
    app.audit.flush().await;
    let (rows, _) = app
        .store
        .query_audit(&ferroflow_server::store::AuditFilter {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(rows.iter().any(|r| r.group == "client"
        && r.caller == "app someone"
        && r.route == "/v2/job/query"
        && r.code == 5001
        && r.result == "refused"));
    assert!(rows.iter().any(|r| r.group == "client"
        && r.caller == format!("app {admin}")
        && r.verified
        && r.route == "/v2/job/query"
        && r.code == 1001
        && r.result == "ok"));
    assert!(
        rows.iter()
            .any(|r| r.group == "site" && r.route == "/v2/partner/job/create" && r.code == 0),
        "the scheduler's commands to its own parties are audited too"
    );
    assert!(rows.iter().any(|r| r.group == "client"
        && r.caller == format!("app {reader}")
        && r.route == "/v2/audit/query"
        && r.code == 5004
        && r.result == "refused"));
    assert!(rows.iter().all(|r| !r.peer.is_empty()));
    site.stop().await;
}

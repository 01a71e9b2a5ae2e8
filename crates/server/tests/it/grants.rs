//! Grants enforced where a partner's job would run: site B (party 10000) checks what the
//! initiator (party 9999, on site A) was granted before it stores anything.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::support::{SiteSpec, TestSite};
use super::two_sites::tick;

/// Site A (guest 9999, initiator and scheduler) and site B (host 10000) checking grants.
async fn pair() -> (TestSite, TestSite) {
    let la = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let lb = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (ua, ub) = (
        format!("http://{}", la.local_addr().unwrap()),
        format!("http://{}", lb.local_addr().unwrap()),
    );
    let a = TestSite::start_on(
        SiteSpec {
            party_id: "9999",
            routes: BTreeMap::from([("10000".to_string(), ub)]),
            ..SiteSpec::standalone()
        },
        tempfile::tempdir().unwrap(),
        la,
    )
    .await;
    let b = TestSite::start_on(
        SiteSpec {
            party_id: "10000",
            routes: BTreeMap::from([("9999".to_string(), ua)]),
            configure: Some(|c| c.auth.permission = true),
            ..SiteSpec::standalone()
        },
        tempfile::tempdir().unwrap(),
        lb,
    )
    .await;
    (a, b)
}

/// A reader (a table by namespace/name) and a sleeper on guest 9999 and host 10000.
fn dag() -> Value {
    json!({
        "schema_version": "2.2.0",
        "dag": {
            "parties": [{"role": "guest", "party_id": ["9999"]}, {"role": "host", "party_id": ["10000"]}],
            "conf": {"task": {"provider": "demo:0.1.0@local"}},
            "stage": "default",
            "tasks": {
                "reader_0": {"component_ref": "demo_reader",
                    "parameters": {"namespace": "experiment", "name": "breast"}},
                "sleep_0": {"component_ref": "demo_sleep", "parameters": {"seconds": 0},
                    "inputs": {"data": {"input_data": {"task_output_artifact": {
                        "producer_task": "reader_0", "output_artifact_key": "output_data"}}}}},
            },
        }
    })
}

async fn jobs_on(site: &TestSite) -> usize {
    let e = site.get("/v2/job/list/query", &[]).await;
    assert_eq!(e.code, 0, "{}", e.message);
    e.data.unwrap()["count"].as_u64().unwrap() as usize
}

async fn grant(b: &TestSite, body: Value) {
    let e = b.post("/v2/permission/resource/grant", body).await;
    assert_eq!(e.code, 0, "{}", e.message);
}

#[tokio::test]
async fn a_partner_runs_here_only_what_it_was_granted() {
    let (a, b) = pair().await;
    // No grants: refused on B with FATE's 5005, failed everywhere, the initiator's client
    // told why; B keeps no row of it.
    let e = a.post("/v2/job/submit", json!({"dag_schema": dag()})).await;
    assert_eq!(e.code, 1002, "{}", e.message);
    assert!(
        e.message
            .contains("No Permission: type[component],component_name[demo_reader]"),
        "{}",
        e.message
    );
    assert_eq!(jobs_on(&b).await, 0);
    let refused = b.get("/v2/audit/query", &[("result", "refused")]).await;
    let rows = refused.data.unwrap();
    assert_eq!(rows["count"], 1, "{rows}");
    assert_eq!(rows["audits"][0]["code"], 5005);
    assert_eq!(rows["audits"][0]["route"], "/v2/partner/job/create");

    // Components granted, the dataset not: refused naming the dataset.
    grant(
        &b,
        json!({"party_id": "9999", "component": "demo_reader,demo_sleep"}),
    )
    .await;
    let e = a.post("/v2/job/submit", json!({"dag_schema": dag()})).await;
    assert_eq!(e.code, 1002, "{}", e.message);
    assert!(
        e.message.contains(
            r#"No Permission: type[dataset],dataset[{"name":"breast","namespace":"experiment"}]"#
        ),
        "{}",
        e.message
    );
    assert_eq!(jobs_on(&b).await, 0);

    // Everything granted: the job is created on both and runs.
    grant(
        &b,
        json!({"party_id": "9999", "dataset": [{"namespace": "experiment", "name": "breast"}]}),
    )
    .await;
    let job = a.submit(dag()).await;
    tick(&a, &b).await;
    assert_eq!(jobs_on(&b).await, 1);
    assert_eq!(
        b.launcher.launched(),
        vec![format!("{job}_reader_0_0_host_10000")],
        "the host's reader runs on B"
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn site_authentication_alone_enforces_grants() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = ferroflow_server::config::Config::for_test("10000", dir.path());
    assert!(c.auth.worker, "worker tokens are on by default");
    c.auth.site = Some(true);
    assert!(ferroflow_server::controller::permission::enforced_by(
        &c.auth
    ));
    c.auth.site = Some(false);
    assert!(!ferroflow_server::controller::permission::enforced_by(
        &c.auth
    ));
}

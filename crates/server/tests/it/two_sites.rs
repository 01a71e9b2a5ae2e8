//! Two sites in one process, parties split between them by their route tables: every
//! command crosses HTTP between them.

use std::collections::BTreeMap;

use serde_json::json;

use super::support::{SiteSpec, TestSite, sleep_dag};

pub async fn pair() -> (TestSite, TestSite) {
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
            autostart: false,
            cores: None,
            configure: None,
        },
        tempfile::tempdir().unwrap(),
        la,
    )
    .await;
    let b = TestSite::start_on(
        SiteSpec {
            party_id: "10000",
            routes: BTreeMap::from([("9999".to_string(), ua)]),
            autostart: false,
            cores: None,
            configure: None,
        },
        tempfile::tempdir().unwrap(),
        lb,
    )
    .await;
    (a, b)
}

pub async fn tick(a: &TestSite, b: &TestSite) {
    for _ in 0..3 {
        a.tick().await;
        b.tick().await;
    }
}

pub async fn run_chain(a: &TestSite, b: &TestSite, scheduler: &str) {
    let job = a
        .submit(sleep_dag(
            &[("a", "demo_sleep", &[]), ("b", "demo_sleep", &["a"])],
            json!({"scheduler_party_id": scheduler}),
        ))
        .await;
    tick(a, b).await;
    let ga = a.launcher.launched();
    let hb = b.launcher.launched();
    assert_eq!(
        ga,
        vec![format!("{job}_a_0_guest_9999")],
        "guest runs on site A"
    );
    assert_eq!(
        hb,
        vec![format!("{job}_a_0_host_10000")],
        "host runs on site B"
    );
    for t in ["a", "b"] {
        a.report(&format!("{job}_{t}_0_guest_9999"), "success", "")
            .await;
        b.report(&format!("{job}_{t}_0_host_10000"), "success", "")
            .await;
        tick(a, b).await;
    }
    assert_eq!(
        a.job_statuses(&job).await,
        vec![("guest".into(), "9999".into(), "success".into())]
    );
    assert_eq!(
        b.job_statuses(&job).await,
        vec![("host".into(), "10000".into(), "success".into())]
    );
}

#[tokio::test]
async fn a_job_across_two_sites_with_the_initiator_scheduling() {
    let (a, b) = pair().await;
    run_chain(&a, &b, "9999").await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_job_across_two_sites_scheduled_by_the_other_site() {
    let (a, b) = pair().await;
    run_chain(&a, &b, "10000").await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_stop_on_one_site_cancels_on_both() {
    let (a, b) = pair().await;
    let job = a
        .submit(sleep_dag(&[("a", "demo_sleep", &[])], json!({})))
        .await;
    tick(&a, &b).await;
    assert_eq!((a.launcher.alive_count(), b.launcher.alive_count()), (1, 1));
    let e = b.post("/v2/job/stop", json!({"job_id": job})).await;
    assert_eq!(e.code, 0, "{}", e.message);
    tick(&a, &b).await;
    assert_eq!((a.launcher.alive_count(), b.launcher.alive_count()), (0, 0));
    assert_eq!(a.job_statuses(&job).await[0].2, "canceled");
    assert_eq!(b.job_statuses(&job).await[0].2, "canceled");
    a.stop().await;
    b.stop().await;
}

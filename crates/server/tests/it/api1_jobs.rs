//! The job routes no other test calls, and the failure of routes without parameters (a wrong
//! method).

use serde_json::{Value, json};

use super::api1_common::finished_job;
use super::support::{SiteSpec, TestSite, sleep_dag};

#[tokio::test]
async fn task_list_queue_clean_and_clean() {
    let site = TestSite::start(SiteSpec::standalone()).await;
    let job = finished_job(&site).await;
    let e = site
        .get(
            "/v2/job/task/list/query",
            &[("job_id", &job), ("limit", "1"), ("page", "1")],
        )
        .await;
    assert_eq!(e.code, 0, "{}", e.message);
    let d = e.data.unwrap();
    assert_eq!(
        (d["count"].as_i64(), d["data"].as_array().map(Vec::len)),
        (Some(2), Some(1))
    );
    let e = site
        .get(
            "/v2/job/task/list/query",
            &[("job_id", &job), ("order", "sideways")],
        )
        .await;
    assert_eq!(e.code, 5001, "{}", e.message);
    let e = site.get("/v2/job/task/list/query", &[("limit", "x")]).await;
    assert_eq!(e.code, 5001);

    // A job that waits (the scheduler is not ticked) is cancelled by queue/clean.
    let waiting = site
        .submit(sleep_dag(&[("a", "demo_sleep", &[])], json!({})))
        .await;
    let e = site.post("/v2/job/queue/clean", json!({})).await;
    assert_eq!(e.code, 0, "{}", e.message);
    assert!(e.data.unwrap().get(&waiting).is_some());
    let r = site
        .http
        .get(format!("{}/v2/job/queue/clean", site.url()))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], 6000, "GET is not a route: {v}");

    let e = site.post("/v2/job/clean", json!({"job_id": job})).await;
    assert_eq!(e.code, 0, "{}", e.message);
    assert_eq!(
        site.get("/v2/job/query", &[("job_id", &job)]).await.code,
        1001
    );
    assert_eq!(
        site.post("/v2/job/clean", json!({"job_id": job}))
            .await
            .code,
        1001
    );
    assert_eq!(site.post("/v2/job/clean", json!({})).await.code, 5001);
    site.stop().await;
}

#[tokio::test]
async fn routes_without_parameters_refuse_a_wrong_method() {
    let site = TestSite::start(SiteSpec::standalone()).await;
    for path in [
        "/v2/permission/role/query",
        "/v2/server/fateflow",
        "/v2/server/query/all",
        "/v2/site/info/query",
    ] {
        let e = site.post(path, json!({})).await;
        assert_eq!(
            (e.code, e.message.as_str()),
            (6000, "<MethodNotAllowed '405: Method Not Allowed'>"),
            "{path}"
        );
    }
    site.stop().await;
}

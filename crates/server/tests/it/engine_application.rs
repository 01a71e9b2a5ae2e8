//! A task's application on its computing engine (a Spark application): the task wrapper
//! reports it with `running`; the site records it in the task's `engine_conf` while the task
//! runs, refuses a malformed one (it is shown on the dashboard), and keeps what an ended task had.

use serde_json::{Value, json};

use super::support::{SiteSpec, TestSite, sleep_dag};

/// The guest's row of task `a`.
async fn guest_task(site: &TestSite, job: &str) -> Value {
    site.tasks(job).await[&("a".to_string(), "guest".to_string(), "9999".to_string())].clone()
}

#[tokio::test]
async fn a_running_task_records_its_engine_application_and_nothing_malformed() {
    let site = TestSite::start(SiteSpec::standalone()).await;
    let job = site
        .submit(sleep_dag(&[("a", "demo_sleep", &[])], json!({})))
        .await;
    site.tick().await;
    let guest = format!("{job}_a_0_guest_9999");
    let good = json!({"engine": "spark", "application_id": "app-20261204172600-0003",
                      "ui": "http://127.0.0.1:4040", "master": "spark://127.0.0.1:7077"});
    let report = |application: Value| json!({"execution_id": guest, "status": "running", "engine_application": application});
    let with = |k: &str, v: Value| {
        let mut a = good.clone();
        a[k] = v;
        a
    };
    let malformed = [
        json!("spark"),
        json!([good.clone()]),
        with("engine", json!("eggroll")),
        with("engine", Value::Null),
        with("application_id", json!("")),
        with("application_id", json!("app 1")),
        with("application_id", json!("<img src=x onerror=alert(1)>")),
        with("application_id", json!(7)),
        with("ui", json!("javascript:alert(1)")),
        with("ui", json!(format!("http://{}", "a".repeat(600)))),
        with("master", json!("spark://h:7077\nforged log line")),
    ];
    for a in malformed {
        let e = site
            .worker_post(&guest, "/v2/worker/task/status", report(a.clone()))
            .await;
        assert_ne!(e.code, 0, "accepted {a}");
        assert!(
            e.message.contains("Invalid") || e.message.contains("engine_application"),
            "{a}: {}",
            e.message
        );
    }
    assert_eq!(
        guest_task(&site, &job).await["engine_conf"],
        json!({}),
        "nothing recorded"
    );

    let e = site
        .worker_post(&guest, "/v2/worker/task/status", report(good.clone()))
        .await;
    assert_eq!(e.code, 0, "{}", e.message);
    let task = guest_task(&site, &job).await;
    assert_eq!(task["engine_conf"], json!({"computing": good}), "{task}");
    assert_eq!(task["party_status"], "running", "{task}");

    // An ended task keeps the application it ran as.
    site.report(&guest, "success", "").await;
    let late = with("application_id", json!("app-late"));
    let e = site
        .worker_post(&guest, "/v2/worker/task/status", report(late))
        .await;
    assert_eq!(e.code, 0, "{}", e.message);
    assert_eq!(
        guest_task(&site, &job).await["engine_conf"],
        json!({"computing": good}),
        "a report after the end changes nothing"
    );
    site.stop().await;
}

//! Reaching the site: the status report's retries, a restarting site, one that never answers.

use super::*;

#[tokio::test]
async fn the_status_report_is_retried_while_the_site_refuses() {
    let mut site = FakeSite::start().await;
    let dir = tempfile::tempdir().unwrap();
    site.refuse_status(2);
    let cfg = Cfg::new("fail_0", FAIL, dir.path());
    let mut opts = options();
    opts.report = ReportPolicy::default();
    let out = execute(cfg.config(&site), &opts).await;
    assert!(out.reported);
    let answers: Vec<u16> = site.calls().iter().map(|c| c.answered).collect();
    assert_eq!(answers, [503, 503, 200]);
    assert!(
        site.calls()
            .iter()
            .all(|c| c.json()["execution_id"] == cfg.execution_id().as_str())
    );
    assert_eq!(site.next_status().await["status"], "failed");
    assert!(site.try_status().is_none(), "reported once");
}

#[tokio::test]
async fn an_unreachable_site_ends_the_run_at_the_deadline_with_failure() {
    // a port nobody listens on
    let port = unused_port();
    let site = FakeSite::start().await; // only for the CONFIG's shape
    let dir = tempfile::tempdir().unwrap();
    let mut v = Cfg::new("fail_0", FAIL, dir.path()).value(&site);
    v["mlmd"]["metadata"]["port"] = json!(port);
    let mut opts = options();
    opts.report = quick_report(Duration::from_millis(400));
    let started = std::time::Instant::now();
    let out = execute(TaskConfig::parse(&v.to_string()).unwrap(), &opts).await;
    assert!(!out.reported);
    assert_eq!(out.exit_code(), ExitCode::FAILURE);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn ordinary_calls_wait_out_a_restarting_site() {
    let dir = tempfile::tempdir().unwrap();
    let (site, before) = site_with_guest_table(dir.path()).await;
    site.refuse_all(6);
    let cfg = Cfg::new("lr_0", TRAIN, dir.path())
        .params(json!({"max_iter": 3}))
        .input("train_data", "reader_0", "output_data");
    let out = execute(cfg.config(&site), &options()).await;
    assert_eq!(out.status, Status::Success, "{}", out.error);
    let calls: Vec<_> = site.calls().into_iter().skip(before).collect();
    let refused: Vec<&str> = calls
        .iter()
        .filter(|c| c.answered == 503)
        .map(|c| c.path.as_str())
        .collect();
    assert_eq!(refused, ["/v2/worker/data/tracking/query"; 6]);
    let metric_path = format!("/v2/worker/metric/save/{}", cfg.execution_id());
    assert_eq!(site.calls_to(&metric_path).len(), 3, "each loss sent once");
    assert_eq!(site.calls_to("/v2/worker/model/save").len(), 1);
}

#[tokio::test]
async fn a_site_silent_past_the_wait_fails_the_task_saying_so() {
    let port = unused_port();
    let site = FakeSite::start().await; // only for the CONFIG's shape
    let dir = tempfile::tempdir().unwrap();
    let mut v = Cfg::new("lr_0", TRAIN, dir.path())
        .input("train_data", "reader_0", "output_data")
        .value(&site);
    v["mlmd"]["metadata"]["port"] = json!(port);
    let mut opts = options();
    opts.client.site_wait = Duration::from_millis(300);
    opts.report = quick_report(Duration::from_millis(100));
    let out = execute(TaskConfig::parse(&v.to_string()).unwrap(), &opts).await;
    assert!(!out.reported);
    let want = format!(
        "input `train_data`: cannot resolve it: data tracking query: cannot reach the site at http://127.0.0.1:{port}/v2: no answer for 0 s ("
    );
    assert!(
        out.error.starts_with(&format!("demo_train: {want}")),
        "{}",
        out.error
    );
}

#[tokio::test]
async fn a_final_answer_to_the_status_report_is_not_retried() {
    let site = FakeSite::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut v = Cfg::new("fail_0", FAIL, dir.path()).value(&site);
    v["mlmd"]["metadata"]["api_version"] = json!("v9"); // every path → code 6000
    let out = execute(TaskConfig::parse(&v.to_string()).unwrap(), &options()).await;
    assert!(!out.reported);
    assert_eq!(site.calls().len(), 1);
}

//! The scheduler on one standalone site with a fake launcher: the test finishes tasks through
//! the worker API and ticks the scheduler itself, so every step is deterministic.

use serde_json::json;

use super::support::{SiteSpec, TestSite, sleep_dag};
use crate::dbserver::Backend;

fn exec(job: &str, task: &str, version: u32, role: &str, party: &str) -> String {
    format!("{job}_{task}_{version}_{role}_{party}")
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

async fn finish(site: &TestSite, job: &str, task: &str, status: &str) {
    for (role, party) in [("guest", "9999"), ("host", "10000")] {
        site.report(&exec(job, task, 0, role, party), status, "")
            .await;
    }
    site.tick().await;
}

async fn a_chain_runs_in_order_and_succeeds_everywhere(_db: Backend) {
    let site = TestSite::start(SiteSpec::standalone()).await;
    let dag = sleep_dag(
        &[
            ("a", "demo_sleep", &[]),
            ("b", "demo_sleep", &["a"]),
            ("c", "demo_sleep", &["b"]),
        ],
        json!({}),
    );
    let job = site.submit(dag).await;
    site.tick().await;
    assert_eq!(
        sorted(site.launcher.launched()),
        vec![
            exec(&job, "a", 0, "guest", "9999"),
            exec(&job, "a", 0, "host", "10000")
        ],
        "only the root starts, on both parties"
    );
    let tasks = site.tasks(&job).await;
    let b = &tasks[&("b".into(), "guest".into(), "9999".into())];
    assert_eq!(b["party_status"], "waiting");
    assert_eq!(b["wait_reason"], "waiting for inputs from a");

    finish(&site, &job, "a", "success").await;
    assert_eq!(site.launcher.launched().len(), 4, "b started right after a");
    finish(&site, &job, "b", "success").await;
    finish(&site, &job, "c", "success").await;

    for (role, party, status) in site.job_statuses(&job).await {
        assert_eq!(status, "success", "{role} {party}");
    }
    for (k, t) in site.tasks(&job).await {
        assert_eq!(
            (t["status"].as_str(), t["party_status"].as_str()),
            (Some("success"), Some("success")),
            "{k:?}"
        );
        assert!(t["start_time"].as_i64().is_some() && t["end_time"].as_i64().is_some());
    }
    let jobs = site
        .get("/v2/job/query", &[("job_id", &job)])
        .await
        .data
        .unwrap();
    assert!(
        jobs.as_array()
            .unwrap()
            .iter()
            .all(|j| j["progress"] == 100)
    );
    site.stop().await;
}

async fn fan_out_waits_for_cores_and_says_so(_db: Backend) {
    let site = TestSite::start(SiteSpec::standalone()).await;
    // Default budget: job cores 4, task cores 4, so one task at a time per party.
    let dag = sleep_dag(
        &[
            ("a", "demo_sleep", &[]),
            ("b", "demo_sleep", &["a"]),
            ("c", "demo_sleep", &["a"]),
            ("d", "demo_sleep", &["b", "c"]),
        ],
        json!({}),
    );
    let job = site.submit(dag).await;
    site.tick().await;
    finish(&site, &job, "a", "success").await;
    assert_eq!(site.launcher.launched().len(), 4, "b started, c waits");
    let tasks = site.tasks(&job).await;
    let c = &tasks[&("c".into(), "guest".into(), "9999".into())];
    assert!(
        c["wait_reason"].as_str().unwrap().contains("no cores left"),
        "{}",
        c["wait_reason"]
    );
    finish(&site, &job, "b", "success").await;
    assert_eq!(site.launcher.launched().len(), 6, "c got b's cores");
    finish(&site, &job, "c", "success").await;
    finish(&site, &job, "d", "success").await;
    assert!(
        site.job_statuses(&job)
            .await
            .iter()
            .all(|(_, _, s)| s == "success")
    );
    site.stop().await;
}

async fn more_cores_run_siblings_together(_db: Backend) {
    let site = TestSite::start(SiteSpec::standalone()).await;
    let dag = sleep_dag(
        &[
            ("a", "demo_sleep", &[]),
            ("b", "demo_sleep", &["a"]),
            ("c", "demo_sleep", &["a"]),
        ],
        json!({"cores": 8, "task": {"provider": "demo:0.1.0@local", "engine_run": {"cores": 4}}}),
    );
    let job = site.submit(dag).await;
    site.tick().await;
    finish(&site, &job, "a", "success").await;
    assert_eq!(site.launcher.launched().len(), 6, "b and c at once");
    site.stop().await;
}

async fn a_failure_fails_the_job_with_its_message(_db: Backend) {
    let site = TestSite::start(SiteSpec::standalone()).await;
    // The fake launcher runs nothing: the test reports the failure as the task would.
    let dag = sleep_dag(
        &[("a", "demo_sleep", &[]), ("b", "demo_sleep", &["a"])],
        json!({}),
    );
    let job = site.submit(dag).await;
    site.tick().await;
    site.report(
        &exec(&job, "a", 0, "guest", "9999"),
        "failed",
        "demo_fail: the message",
    )
    .await;
    site.tick().await;
    let tasks = site.tasks(&job).await;
    let a = &tasks[&("a".into(), "guest".into(), "9999".into())];
    assert_eq!(a["party_status"], "failed");
    assert_eq!(a["error_report"], "demo_fail: the message");
    // The host's copy was stopped as soon as the task failed elsewhere.
    let a_host = &tasks[&("a".into(), "host".into(), "10000".into())];
    assert_eq!(a_host["party_status"], "failed");
    assert_eq!(site.launcher.alive_count(), 0);
    assert!(
        site.job_statuses(&job)
            .await
            .iter()
            .all(|(_, _, s)| s == "failed")
    );
    assert_eq!(site.launcher.launched().len(), 2, "b never started");
    site.stop().await;
}

async fn stop_cancels_everywhere_and_kills_the_processes(_db: Backend) {
    let site = TestSite::start(SiteSpec::standalone()).await;
    let job = site
        .submit(sleep_dag(
            &[("a", "demo_sleep", &[]), ("b", "demo_sleep", &["a"])],
            json!({}),
        ))
        .await;
    site.tick().await;
    assert_eq!(site.launcher.alive_count(), 2);
    let e = site.post("/v2/job/stop", json!({"job_id": job})).await;
    assert_eq!(e.code, 0, "{}", e.message);
    site.tick().await;
    assert_eq!(site.launcher.alive_count(), 0);
    assert!(
        site.job_statuses(&job)
            .await
            .iter()
            .all(|(_, _, s)| s == "canceled"),
        "{:?}",
        site.job_statuses(&job).await
    );
    let tasks = site.tasks(&job).await;
    assert_eq!(
        tasks[&("a".into(), "host".into(), "10000".into())]["status"],
        "canceled"
    );
    assert_eq!(
        tasks[&("b".into(), "host".into(), "10000".into())]["party_status"],
        "waiting"
    );
    site.stop().await;
}

async fn a_repeated_start_launches_once(_db: Backend) {
    let site = TestSite::start(SiteSpec::standalone()).await;
    let job = site
        .submit(sleep_dag(&[("a", "demo_sleep", &[])], json!({})))
        .await;
    site.tick().await;
    let body = json!({"job_id": job, "role": "guest", "party_id": "9999", "task_id": format!("{job}_a"), "task_version": 0});
    for _ in 0..3 {
        assert_eq!(
            site.post("/v2/partner/task/start", body.clone()).await.code,
            0
        );
    }
    assert_eq!(site.launcher.launched().len(), 2);
    site.stop().await;
}

async fn a_process_that_dies_unreported_fails_with_its_exit_code(_db: Backend) {
    let site = TestSite::start(SiteSpec::standalone()).await;
    let job = site
        .submit(sleep_dag(&[("a", "demo_sleep", &[])], json!({})))
        .await;
    site.tick().await;
    site.launcher
        .exit(&exec(&job, "a", 0, "guest", "9999"), 137);
    let t = super::support::eventually(
        std::time::Duration::from_secs(5),
        "failed by exit",
        || async {
            let tasks = site.tasks(&job).await;
            let t = tasks[&("a".into(), "guest".into(), "9999".into())].clone();
            (t["party_status"] == "failed").then_some(t)
        },
    )
    .await;
    assert!(
        t["error_report"]
            .as_str()
            .unwrap()
            .contains("exit code 137"),
        "{}",
        t["error_report"]
    );
    site.tick().await;
    assert!(
        site.job_statuses(&job)
            .await
            .iter()
            .all(|(_, _, s)| s == "failed")
    );
    site.stop().await;
}

async fn poll_mode_collects_instead_of_being_told(_db: Backend) {
    let site = TestSite::start(SiteSpec::standalone()).await;
    let job = site
        .submit(sleep_dag(
            &[("a", "demo_sleep", &[]), ("b", "demo_sleep", &["a"])],
            json!({"sync_type": "poll"}),
        ))
        .await;
    site.tick().await;
    finish(&site, &job, "a", "success").await;
    assert_eq!(site.launcher.launched().len(), 4);
    finish(&site, &job, "b", "success").await;
    assert!(
        site.job_statuses(&job)
            .await
            .iter()
            .all(|(_, _, s)| s == "success")
    );
    let tasks = site.tasks(&job).await;
    assert!(tasks.values().all(|t| t["sync_type"] == "poll"));
    site.stop().await;
}

async fn queued_jobs_wait_for_cores_in_priority_order(_db: Backend) {
    // Room for one two-party job: each party's job takes 4 of the site's 8 cores.
    let site = TestSite::start(SiteSpec {
        cores: Some(8),
        ..SiteSpec::standalone()
    })
    .await;
    let first = site
        .submit(sleep_dag(&[("a", "demo_sleep", &[])], json!({})))
        .await;
    site.tick().await;
    let low = site
        .submit(sleep_dag(&[("a", "demo_sleep", &[])], json!({})))
        .await;
    let high = site
        .submit(sleep_dag(
            &[("a", "demo_sleep", &[])],
            json!({"priority": 5}),
        ))
        .await;
    site.tick().await;
    assert_eq!(site.launcher.launched().len(), 2, "only the first job runs");
    let q = site
        .get("/v2/job/query", &[("job_id", &high), ("role", "guest")])
        .await
        .data
        .unwrap();
    let reason = q[0]["wait_reason"].as_str().unwrap();
    assert!(reason.contains("no free cores on guest 9999"), "{reason}");
    let q = site
        .get("/v2/job/query", &[("job_id", &low), ("role", "guest")])
        .await
        .data
        .unwrap();
    assert!(
        q[0]["wait_reason"].as_str().unwrap().contains("queued"),
        "{}",
        q[0]["wait_reason"]
    );

    finish(&site, &first, "a", "success").await;
    let launched = site.launcher.launched();
    assert_eq!(launched.len(), 4);
    assert!(
        launched[2].starts_with(&high),
        "the higher priority goes first: {launched:?}"
    );
    site.stop().await;
}

async fn a_job_larger_than_the_site_fails_at_once(_db: Backend) {
    let site = TestSite::start(SiteSpec {
        cores: Some(4),
        ..SiteSpec::standalone()
    })
    .await;
    let job = site
        .submit(sleep_dag(&[("a", "demo_sleep", &[])], json!({"cores": 64})))
        .await;
    site.tick().await;
    assert!(
        site.job_statuses(&job)
            .await
            .iter()
            .all(|(_, _, s)| s == "failed")
    );
    let q = site
        .get("/v2/job/query", &[("job_id", &job), ("role", "guest")])
        .await
        .data
        .unwrap();
    assert!(q[0]["status"] == "failed");
    site.stop().await;
}

async fn rerun_runs_what_failed_as_a_new_version(_db: Backend) {
    let site = TestSite::start(SiteSpec::standalone()).await;
    let job = site
        .submit(sleep_dag(
            &[("a", "demo_sleep", &[]), ("b", "demo_sleep", &["a"])],
            json!({}),
        ))
        .await;
    site.tick().await;
    finish(&site, &job, "a", "success").await;
    site.report(&exec(&job, "b", 0, "guest", "9999"), "failed", "first try")
        .await;
    site.tick().await;
    assert!(
        site.job_statuses(&job)
            .await
            .iter()
            .all(|(_, _, s)| s == "failed")
    );

    let e = site.post("/v2/job/rerun", json!({"job_id": job})).await;
    assert_eq!(e.code, 0, "{}", e.message);
    site.tick().await;
    let launched = site.launcher.launched();
    assert_eq!(
        sorted(launched[4..].to_vec()),
        [
            exec(&job, "b", 1, "guest", "9999"),
            exec(&job, "b", 1, "host", "10000")
        ]
    );
    for (role, party) in [("guest", "9999"), ("host", "10000")] {
        site.report(&exec(&job, "b", 1, role, party), "success", "")
            .await;
    }
    site.tick().await;
    assert!(
        site.job_statuses(&job)
            .await
            .iter()
            .all(|(_, _, s)| s == "success")
    );
    // The failed version stays readable.
    let v0 = site
        .get(
            "/v2/job/task/query",
            &[
                ("job_id", &job),
                ("task_name", "b"),
                ("task_version", "0"),
                ("role", "guest"),
            ],
        )
        .await;
    assert_eq!(v0.data.unwrap()[0]["error_report"], "first try");
    site.stop().await;
}

async fn a_report_that_skips_running_still_lands(_db: Backend) {
    // A fast task can fail before its `running` report was delivered: the scheduler then
    // hears `failed` for a party it still has as `waiting`.
    let site = TestSite::start(SiteSpec::standalone()).await;
    let job = site
        .submit(sleep_dag(&[("a", "demo_sleep", &[])], json!({})))
        .await;
    let e = site
        .post(
            "/v2/scheduler/task/report",
            json!({"job_id": job, "role": "guest", "party_id": "9999", "task_id": format!("{job}_a"),
                   "task_version": 0, "status": "failed"}),
        )
        .await;
    assert_eq!(e.code, 0, "{}", e.message);
    let e = site
        .post(
            "/v2/scheduler/task/report",
            json!({"job_id": job, "role": "guest", "party_id": "9999", "task_id": format!("{job}_a"),
                   "task_version": 0, "status": "success"}),
        )
        .await;
    assert_eq!(e.code, 2002, "an end status is final");
    site.stop().await;
}

crate::on_backends!(
    a_chain_runs_in_order_and_succeeds_everywhere,
    fan_out_waits_for_cores_and_says_so,
    more_cores_run_siblings_together,
    a_failure_fails_the_job_with_its_message,
    stop_cancels_everywhere_and_kills_the_processes,
    a_repeated_start_launches_once,
    a_process_that_dies_unreported_fails_with_its_exit_code,
    poll_mode_collects_instead_of_being_told,
    queued_jobs_wait_for_cores_in_priority_order,
    a_job_larger_than_the_site_fails_at_once,
    rerun_runs_what_failed_as_a_new_version,
    a_report_that_skips_running_still_lands,
);

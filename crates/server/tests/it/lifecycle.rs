//! Retries, timeouts, reruns, inheritance, recovery after a restart and unreachable parties,
//! on sites with a fake launcher, a manual clock and explicit ticks.

use ferroflow_server::clock::Clock;
use serde_json::json;

use super::support::{SiteSpec, TestSite, sleep_dag};

fn exec(job: &str, task: &str, version: u32, role: &str, party: &str) -> String {
    format!("{job}_{task}_{version}_{role}_{party}")
}

async fn report_all(site: &TestSite, job: &str, task: &str, version: u32, status: &str) {
    for (role, party) in [("guest", "9999"), ("host", "10000")] {
        site.report(&exec(job, task, version, role, party), status, "")
            .await;
    }
    site.tick().await;
}

fn launched_versions(site: &TestSite, job: &str, task: &str) -> Vec<String> {
    let mut v: Vec<String> = site
        .launcher
        .launched()
        .into_iter()
        .filter(|e| e.starts_with(&format!("{job}_{task}_")))
        .collect();
    v.sort();
    v
}

async fn statuses(site: &TestSite, job: &str) -> Vec<String> {
    site.job_statuses(job)
        .await
        .into_iter()
        .map(|(_, _, s)| s)
        .collect()
}

#[tokio::test]
async fn a_task_that_fails_twice_is_retried_after_a_back_off_and_succeeds() {
    let site = TestSite::start(SiteSpec::standalone()).await;
    let job = site
        .submit(sleep_dag(
            &[("a", "demo_sleep", &[]), ("b", "demo_sleep", &["a"])],
            json!({"auto_retries": 2}),
        ))
        .await;
    site.tick().await;
    report_all(&site, &job, "a", 0, "failed").await;
    assert_eq!(
        statuses(&site, &job).await,
        ["running", "running"],
        "a retry is coming"
    );
    assert_eq!(
        launched_versions(&site, &job, "a").len(),
        2,
        "not before its back-off"
    );
    let tasks = site.tasks(&job).await;
    assert_eq!(
        tasks[&("a".into(), "guest".into(), "9999".into())]["task_version"],
        1
    );

    site.clock.advance(1_000);
    site.tick().await;
    assert_eq!(
        launched_versions(&site, &job, "a").len(),
        4,
        "version 1 after 1 s"
    );
    report_all(&site, &job, "a", 1, "failed").await;
    site.clock.advance(1_000);
    site.tick().await;
    assert_eq!(
        launched_versions(&site, &job, "a").len(),
        4,
        "version 2 waits 2 s"
    );
    site.clock.advance(1_000);
    site.tick().await;
    assert_eq!(launched_versions(&site, &job, "a").len(), 6);
    report_all(&site, &job, "a", 2, "success").await;
    report_all(&site, &job, "b", 0, "success").await;
    assert_eq!(statuses(&site, &job).await, ["success", "success"]);
    site.stop().await;
}

#[tokio::test]
async fn retries_run_out() {
    let site = TestSite::start(SiteSpec::standalone()).await;
    let mut dag = sleep_dag(&[("a", "demo_sleep", &[])], json!({}));
    // A task's own conf overrides the job's retries.
    dag["dag"]["tasks"]["a"]["conf"] = json!({"auto_retries": 1});
    let job = site.submit(dag).await;
    site.tick().await;
    report_all(&site, &job, "a", 0, "failed").await;
    site.clock.advance(1_000);
    site.tick().await;
    report_all(&site, &job, "a", 1, "failed").await;
    assert_eq!(statuses(&site, &job).await, ["failed", "failed"]);
    site.stop().await;
}

#[tokio::test]
async fn a_task_past_its_timeout_ends_as_timeout_and_so_does_the_job() {
    let site = TestSite::start(SiteSpec::standalone()).await;
    let job = site
        .submit(sleep_dag(
            &[("a", "demo_sleep", &[])],
            json!({"task": {"provider": "demo:0.1.0@local", "timeout": 5}}),
        ))
        .await;
    site.tick().await;
    assert_eq!(site.launcher.alive_count(), 2);
    site.clock.advance(5_000);
    site.tick().await;
    assert_eq!(site.launcher.alive_count(), 2, "not before the limit");
    site.clock.advance(1);
    site.tick().await;
    assert_eq!(site.launcher.alive_count(), 0, "killed");
    let tasks = site.tasks(&job).await;
    let a = &tasks[&("a".into(), "guest".into(), "9999".into())];
    assert_eq!(
        (a["party_status"].as_str(), a["status"].as_str()),
        (Some("timeout"), Some("timeout"))
    );
    assert!(
        a["error_report"]
            .as_str()
            .unwrap()
            .contains("timeout of 5 s")
    );
    assert_eq!(statuses(&site, &job).await, ["timeout", "timeout"]);
    site.stop().await;
}

#[tokio::test]
async fn rerun_of_one_task_reruns_its_dependants_with_changed_parameters() {
    let site = TestSite::start(SiteSpec::standalone()).await;
    let job = site
        .submit(sleep_dag(
            &[
                ("a", "demo_sleep", &[]),
                ("b", "demo_sleep", &["a"]),
                ("c", "demo_sleep", &[]),
            ],
            json!({"cores": 8}),
        ))
        .await;
    site.tick().await;
    report_all(&site, &job, "a", 0, "success").await;
    report_all(&site, &job, "c", 0, "success").await;
    report_all(&site, &job, "b", 0, "success").await;
    assert_eq!(statuses(&site, &job).await, ["success", "success"]);

    let e = site
        .post(
            "/v2/job/rerun",
            json!({"job_id": job, "task_name": "a", "parameters": {"a": {"seconds": 7}}}),
        )
        .await;
    assert_eq!(e.code, 0, "{}", e.message);
    site.tick().await;
    assert_eq!(launched_versions(&site, &job, "a").len(), 4);
    assert_eq!(
        launched_versions(&site, &job, "c").len(),
        2,
        "c does not depend on a"
    );
    let tasks = site.tasks(&job).await;
    let a = &tasks[&("a".into(), "host".into(), "10000".into())];
    assert_eq!(a["task_version"], 1);
    assert_eq!(a["component_parameters"]["parameters"]["seconds"], 7);
    assert_eq!(
        tasks[&("b".into(), "host".into(), "10000".into())]["task_version"],
        1,
        "b reset"
    );
    report_all(&site, &job, "a", 1, "success").await;
    report_all(&site, &job, "b", 1, "success").await;
    assert_eq!(statuses(&site, &job).await, ["success", "success"]);
    site.stop().await;
}

#[tokio::test]
async fn inherited_tasks_are_taken_over_not_run() {
    let site = TestSite::start(SiteSpec::standalone()).await;
    let dag = sleep_dag(
        &[("a", "demo_sleep", &[]), ("b", "demo_sleep", &["a"])],
        json!({}),
    );
    let first = site.submit(dag.clone()).await;
    site.tick().await;
    // a's output, as its process would record it.
    for (role, party) in [("guest", "9999"), ("host", "10000")] {
        let e = site
            .worker_post(
                &exec(&first, "a", 0, role, party),
                "/v2/worker/data/tracking/save",
                json!({"execution_id": exec(&first, "a", 0, role, party), "meta_data": {}, "uri": "file:///x.csv",
                       "output_key": "output_data", "namespace": "ns", "name": format!("t_{role}"), "overview": {},
                       "source": {}, "data_type": "dataframe", "index": 0}),
            )
            .await;
        assert_eq!(e.code, 0, "{}", e.message);
    }
    report_all(&site, &first, "a", 0, "success").await;
    report_all(&site, &first, "b", 0, "success").await;

    let mut second = dag.clone();
    second["dag"]["conf"]["inheritance"] = json!({"job_id": first, "task_list": ["a"]});
    let job = site.submit(second).await;
    site.tick().await;
    assert!(
        launched_versions(&site, &job, "a").is_empty(),
        "a is not run"
    );
    assert_eq!(
        launched_versions(&site, &job, "b").len(),
        2,
        "b starts at once"
    );
    let q = site
        .worker_get(
            &exec(&job, "b", 0, "guest", "9999"),
            "/v2/worker/data/tracking/query",
            &[
                ("job_id", &job),
                ("role", "guest"),
                ("party_id", "9999"),
                ("task_name", "a"),
            ],
        )
        .await;
    assert_eq!(
        q.data.unwrap()[0]["name"],
        "t_guest",
        "a's output is the earlier job's"
    );
    report_all(&site, &job, "b", 0, "success").await;
    assert_eq!(statuses(&site, &job).await, ["success", "success"]);

    let mut bad = dag;
    bad["dag"]["conf"]["inheritance"] =
        json!({"job_id": "202001010000000000000", "task_list": ["a"]});
    let e = site
        .post("/v2/job/submit", json!({"dag_schema": bad}))
        .await;
    assert_eq!(e.code, 1007, "{}", e.message);
    site.stop().await;
}

#[tokio::test]
async fn a_restarted_site_adopts_live_tasks_and_fails_lost_ones() {
    let site = TestSite::start(SiteSpec::standalone()).await;
    let job = site
        .submit(sleep_dag(&[("a", "demo_sleep", &[])], json!({})))
        .await;
    site.tick().await;
    let parked = site.park().await;
    // The host's process dies while the site is down; the guest's lives on.
    parked.launcher.vanish(&exec(&job, "a", 0, "host", "10000"));
    let site = parked.start().await;
    assert_eq!(
        site.launcher.adopted(),
        vec![exec(&job, "a", 0, "guest", "9999")]
    );
    site.tick().await;
    let tasks = site.tasks(&job).await;
    let host = &tasks[&("a".into(), "host".into(), "10000".into())];
    assert_eq!(host["party_status"], "failed");
    assert!(
        host["error_report"]
            .as_str()
            .unwrap()
            .contains("without reporting"),
        "{}",
        host["error_report"]
    );
    assert_eq!(statuses(&site, &job).await, ["failed", "failed"]);
    assert_eq!(site.launcher.launched().len(), 2, "nothing launched twice");
    site.stop().await;
}

#[tokio::test]
async fn a_crash_between_deciding_and_launching_is_failed_not_relaunched() {
    let site = TestSite::start(SiteSpec::standalone()).await;
    let job = site
        .submit(sleep_dag(
            &[("a", "demo_sleep", &[])],
            json!({"auto_retries": 1}),
        ))
        .await;
    site.tick().await;
    let parked = site.park().await;
    // As if the site died right after recording the decision: no process, no pid.
    for (role, party) in [("guest", "9999"), ("host", "10000")] {
        parked.launcher.vanish(&exec(&job, "a", 0, role, party));
    }
    // Edit the database as the crash left it: the launch decided, no pid recorded.
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(parked.database()).await.unwrap();
    for table in ["t_task", "t_launch"] {
        let col = if table == "t_task" {
            "f_run_pid"
        } else {
            "f_pid"
        };
        let mark = if parked.database().starts_with("postgres") {
            "$1"
        } else {
            "?"
        };
        let sql = format!("UPDATE {table} SET {col} = NULL WHERE f_execution_id = {mark}");
        sqlx::query(&sql)
            .bind(exec(&job, "a", 0, "guest", "9999"))
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
    let site = parked.start().await;
    let tasks = site.tasks(&job).await;
    assert!(
        tasks
            .values()
            .all(|t| t["task_version"] == 0 && t["party_status"] == "failed"),
        "{tasks:?}"
    );
    let guest = &tasks[&("a".into(), "guest".into(), "9999".into())];
    assert!(
        guest["error_report"]
            .as_str()
            .unwrap()
            .contains("not launched"),
        "{}",
        guest["error_report"]
    );
    site.tick().await;
    site.clock.advance(1_000);
    site.tick().await;
    let launched = site.launcher.launched();
    assert_eq!(
        launched.iter().filter(|e| e.contains("_a_0_")).count(),
        2,
        "version 0 ran once: {launched:?}"
    );
    assert_eq!(
        launched.iter().filter(|e| e.contains("_a_1_")).count(),
        2,
        "the retry is version 1"
    );
    site.stop().await;
}

#[tokio::test]
async fn an_interrupted_creation_is_resumed() {
    let site = TestSite::start(SiteSpec::standalone()).await;
    let job_id = ferroflow_core::id::JobId::new("202601010000000000000");
    let dag = sleep_dag(
        &[("a", "demo_sleep", &[])],
        json!({"scheduler_party_id": "9999", "initiator_party_id": "9999",
        "sync_type": "callback", "model_id": "m", "model_version": "0"}),
    );
    let new = ferroflow_server::store::NewScheduleJob {
        job_id: job_id.clone(),
        priority: 0,
        dag: dag.clone(),
        parties: vec![
            ferroflow_core::id::Party::new(ferroflow_core::id::Role::Guest, "9999"),
            ferroflow_core::id::Party::new(ferroflow_core::id::Role::Host, "10000"),
        ],
        initiator_party_id: "9999".into(),
        scheduler_party_id: "9999".into(),
        tasks: vec![ferroflow_server::store::NewScheduleTask {
            task_id: ferroflow_core::id::TaskId::of(&job_id, &"a".into()),
            task_name: "a".into(),
            component: "demo_sleep".into(),
            version: 0,
            parties: vec![
                ferroflow_core::id::Party::new(ferroflow_core::id::Role::Guest, "9999"),
                ferroflow_core::id::Party::new(ferroflow_core::id::Role::Host, "10000"),
            ],
            order: 0,
            deps: vec![],
            auto_retries: 0,
            sync_type: ferroflow_core::dag::SyncType::Callback,
            not_before: None,
        }],
    };
    site.site
        .app
        .store
        .create_schedule_job(&new, site.clock.now_ms())
        .await
        .unwrap();
    site.tick().await;
    assert_eq!(
        site.launcher.launched().len(),
        2,
        "created on the parties and started"
    );
    site.stop().await;
}

#[tokio::test]
async fn a_participant_that_goes_away_is_waited_for_then_converges() {
    let (a, b) = super::two_sites::pair().await;
    let job = a
        .submit(sleep_dag(
            &[("a", "demo_sleep", &[]), ("b", "demo_sleep", &["a"])],
            json!({}),
        ))
        .await;
    super::two_sites::tick(&a, &b).await;
    let parked = b.park().await;
    a.report(&exec(&job, "a", 0, "guest", "9999"), "success", "")
        .await;
    a.tick().await;
    a.clock.advance(60_000);
    a.tick().await;
    assert_eq!(
        statuses(&a, &job).await,
        ["running"],
        "the job waits for the host"
    );
    let b = parked.start().await;
    // The host's task finished while its site was down; its report arrives now.
    b.report(&exec(&job, "a", 0, "host", "10000"), "success", "")
        .await;
    super::two_sites::tick(&a, &b).await;
    a.report(&exec(&job, "b", 0, "guest", "9999"), "success", "")
        .await;
    b.report(&exec(&job, "b", 0, "host", "10000"), "success", "")
        .await;
    super::two_sites::tick(&a, &b).await;
    assert_eq!(statuses(&a, &job).await, ["success"]);
    assert_eq!(statuses(&b, &job).await, ["success"]);
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_participant_gone_for_longer_than_the_deadline_fails_the_job() {
    let (a, b) = super::two_sites::pair().await;
    let job = a
        .submit(sleep_dag(&[("a", "demo_sleep", &[])], json!({})))
        .await;
    super::two_sites::tick(&a, &b).await;
    let _parked = b.park().await;
    a.report(&exec(&job, "a", 0, "guest", "9999"), "success", "")
        .await;
    a.tick().await;
    // The scheduler notices the host is gone when it next asks after its task.
    a.clock.advance(2_000);
    a.tick().await;
    a.clock.advance(601_000);
    a.tick().await;
    assert_eq!(statuses(&a, &job).await, ["failed"]);
    let reason = a
        .site
        .app
        .store
        .schedule_job(&job.as_str().into())
        .await
        .unwrap()
        .unwrap()
        .wait_reason
        .unwrap();
    assert!(reason.contains("host 10000 unreachable"), "{reason}");
    a.stop().await;
}

#[tokio::test]
async fn clean_removes_every_version_of_a_jobs_outputs() {
    let site = TestSite::start(SiteSpec::standalone()).await;
    let job = site
        .submit(sleep_dag(&[("a", "demo_sleep", &[])], json!({})))
        .await;
    site.tick().await;
    let data_dir = site.site.app.config.standalone_data_dir();
    let mut files = Vec::new();
    let mut save = async |version: u32| {
        for (role, party) in [("guest", "9999"), ("host", "10000")] {
            let task_id = format!("{job}_a");
            let file = data_dir
                .join(&task_id)
                .join(format!("v{version}_{role}.csv"));
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, "id,x\n1,2\n").unwrap();
            let e = site
                .worker_post(
                    &exec(&job, "a", version, role, party),
                    "/v2/worker/data/tracking/save",
                    json!({"execution_id": exec(&job, "a", version, role, party), "meta_data": {},
                           "uri": format!("file://{}", file.display()), "output_key": "output_data",
                           "namespace": task_id, "name": format!("v{version}_{role}"), "overview": {},
                           "source": {}, "data_type": "dataframe", "index": 0}),
                )
                .await;
            assert_eq!(e.code, 0, "{}", e.message);
            files.push(file);
        }
    };
    save(0).await;
    report_all(&site, &job, "a", 0, "failed").await;
    assert_eq!(
        site.post("/v2/job/rerun", json!({"job_id": job}))
            .await
            .code,
        0
    );
    site.tick().await;
    save(1).await;
    report_all(&site, &job, "a", 1, "success").await;
    assert_eq!(statuses(&site, &job).await, ["success", "success"]);

    let e = site.post("/v2/job/clean", json!({"job_id": job})).await;
    assert_eq!(e.code, 0, "{}", e.message);
    for f in &files {
        assert!(!f.exists(), "{} was left behind", f.display());
    }
    assert_eq!(
        site.get("/v2/job/query", &[("job_id", &job)]).await.code,
        1001
    );
    let q = site
        .worker_get(
            &exec(&job, "a", 1, "guest", "9999"),
            "/v2/worker/data/tracking/query",
            &[("namespace", &format!("{job}_a")), ("name", "v0_guest")],
        )
        .await;
    assert_eq!(q.code, 7001, "the older version's table is gone too");
    site.stop().await;
}

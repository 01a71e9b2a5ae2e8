//! The store against real databases: SQLite in a temp dir, and PostgreSQL and MariaDB
//! servers started by the tests (`dbserver`); every test runs on each backend.

use ferroflow_core::id::{JobKey, Role, TaskId, TaskKey};
use ferroflow_core::status::{JobStatus, TaskStatus};
use ferroflow_server::store::{
    Apply, Cas, InstanceRow, JobListFilter, NewJob, NewTask, Runner, Store,
};
use serde_json::json;

use crate::dbserver::Backend;

mod instances;
mod schema;

async fn open(db: Backend) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&db.fresh_url(dir.path())).await.unwrap();
    (dir, store)
}

fn me() -> Runner {
    Runner {
        instance_id: "i1".into(),
        host: "h1".into(),
    }
}

fn job_key() -> JobKey {
    JobKey {
        job_id: "202401010000000000000".into(),
        role: Role::Guest,
        party_id: "9999".into(),
    }
}

fn new_job(cores: i64) -> NewJob {
    NewJob {
        key: job_key(),
        dag: json!({"dag": {}}),
        parties: json!([]),
        initiator_party_id: "9999".into(),
        scheduler_party_id: "9999".into(),
        model_id: "m".into(),
        model_version: "0".into(),
        engine_name: "standalone".into(),
        cores,
        inheritance: json!({}),
        user_name: String::new(),
    }
}

fn task_key(name: &str) -> TaskKey {
    let k = job_key();
    TaskKey {
        task_id: TaskId::of(&k.job_id, &name.into()),
        job_id: k.job_id,
        task_version: 0,
        role: k.role,
        party_id: k.party_id,
    }
}

fn new_task(name: &str, cores: i64) -> NewTask {
    NewTask {
        key: task_key(name),
        task_name: name.into(),
        component: "demo_sleep".into(),
        scheduler_party_id: "9999".into(),
        component_parameters: json!({"k": 1}),
        task_run: json!({"cores": cores}),
        task_cores: cores,
        provider_name: "demo:0.1.0@local".into(),
        sync_type: ferroflow_core::dag::SyncType::Callback,
        timeout: Some(10),
        launcher_name: None,
    }
}

async fn create_is_idempotent_and_rows_read_back(db: Backend) {
    let (_d, s) = open(db).await;
    assert!(
        s.create_job(&new_job(4), &[new_task("a", 4)], 1)
            .await
            .unwrap()
    );
    assert!(
        !s.create_job(&new_job(4), &[new_task("a", 4)], 2)
            .await
            .unwrap()
    );
    let job = s.job(&job_key()).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Ready);
    assert_eq!((job.cores, job.remaining_cores), (4, 4));
    let task = s.task(&task_key("a")).await.unwrap().unwrap();
    assert_eq!(task.party_status, TaskStatus::Waiting);
    assert_eq!(task.component_parameters, json!({"k": 1}));
    assert_eq!(
        task.execution_id.as_str(),
        format!("{}_a_0_guest_9999", job_key().job_id)
    );
    assert!(!task.resource_in_use);
}

async fn status_changes_follow_the_table(db: Backend) {
    let (_d, s) = open(db).await;
    s.create_job(&new_job(4), &[new_task("a", 4)], 1)
        .await
        .unwrap();
    let k = job_key();
    assert_eq!(
        s.set_job_status(&k, JobStatus::Running, 2).await.unwrap(),
        Cas::Rejected {
            current: Some(JobStatus::Ready)
        }
    );
    assert!(
        s.set_job_status(&k, JobStatus::Waiting, 2)
            .await
            .unwrap()
            .applied()
    );
    assert!(
        s.set_job_status(&k, JobStatus::Running, 3)
            .await
            .unwrap()
            .applied()
    );
    assert!(
        s.set_job_status(&k, JobStatus::Success, 10)
            .await
            .unwrap()
            .applied()
    );
    let job = s.job(&k).await.unwrap().unwrap();
    assert_eq!(
        (job.start_time, job.end_time, job.elapsed),
        (Some(3), Some(10), Some(7))
    );
    assert_eq!(job.tag, "job_end");

    let t = task_key("a");
    assert!(
        !s.set_party_status(&t, TaskStatus::Failed, None, 4)
            .await
            .unwrap()
            .applied()
    );
    assert!(
        s.set_party_status(&t, TaskStatus::Running, None, 4)
            .await
            .unwrap()
            .applied()
    );
    assert!(
        s.set_party_status(&t, TaskStatus::Failed, Some("boom"), 6)
            .await
            .unwrap()
            .applied()
    );
    let task = s.task(&t).await.unwrap().unwrap();
    assert_eq!(task.error_report, "boom");
    assert_eq!(task.elapsed, Some(2));
    assert_eq!(
        s.set_party_status(&t, TaskStatus::Success, None, 7)
            .await
            .unwrap(),
        Cas::Rejected {
            current: Some(TaskStatus::Failed)
        }
    );
}

async fn cores_are_taken_and_given_back(db: Backend) {
    let (_d, s) = open(db).await;
    s.register_engine("standalone", 6, 0).await.unwrap();
    s.create_job(&new_job(4), &[new_task("a", 4), new_task("b", 4)], 1)
        .await
        .unwrap();
    let k = job_key();
    assert_eq!(
        s.apply_job_resource(&k, "standalone", 2).await.unwrap(),
        Apply::Applied
    );
    assert_eq!(
        s.apply_job_resource(&k, "standalone", 2).await.unwrap(),
        Apply::Applied,
        "idempotent"
    );
    assert_eq!(s.engine_cores("standalone").await.unwrap(), (6, 2));

    assert_eq!(
        s.apply_task_resource(&task_key("a"), 3).await.unwrap(),
        Some(true)
    );
    assert_eq!(
        s.apply_task_resource(&task_key("b"), 3).await.unwrap(),
        Some(false),
        "job budget spent"
    );
    assert!(
        s.set_party_status(&task_key("a"), TaskStatus::Running, None, 4)
            .await
            .unwrap()
            .applied()
    );
    assert!(
        s.set_party_status(&task_key("a"), TaskStatus::Success, None, 5)
            .await
            .unwrap()
            .applied()
    );
    assert_eq!(
        s.apply_task_resource(&task_key("b"), 6).await.unwrap(),
        Some(true),
        "a gave its cores back"
    );

    assert!(
        s.set_job_status(&k, JobStatus::Waiting, 7)
            .await
            .unwrap()
            .applied()
    );
    assert!(
        s.set_job_status(&k, JobStatus::Failed, 8)
            .await
            .unwrap()
            .applied()
    );
    assert_eq!(
        s.engine_cores("standalone").await.unwrap(),
        (6, 6),
        "an ended job returns its cores"
    );

    s.register_engine("standalone", 8, 9).await.unwrap();
    assert_eq!(s.engine_cores("standalone").await.unwrap(), (8, 8));
}

async fn limit_exceeded_is_told_apart_from_busy(db: Backend) {
    let (_d, s) = open(db).await;
    s.register_engine("standalone", 4, 0).await.unwrap();
    s.create_job(&new_job(8), &[], 1).await.unwrap();
    assert_eq!(
        s.apply_job_resource(&job_key(), "standalone", 2)
            .await
            .unwrap(),
        Apply::LimitExceeded {
            needed: 8,
            total: 4
        }
    );
}

async fn a_restarted_store_keeps_everything(db: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let url = db.fresh_url(dir.path());
    let s = Store::open(&url).await.unwrap();
    s.create_job(&new_job(4), &[new_task("a", 4)], 1)
        .await
        .unwrap();
    s.close().await;
    let s = Store::open(&url).await.unwrap();
    assert!(s.job(&job_key()).await.unwrap().is_some());
}

async fn a_run_is_decided_once_however_many_ask_at_once(db: Backend) {
    let (_d, s) = open(db).await;
    s.create_job(&new_job(4), &[new_task("a", 4)], 1)
        .await
        .unwrap();
    let key = task_key("a");
    let attempts = (0..16).map(|i| {
        let s = s.clone();
        let key = key.clone();
        tokio::spawn(async move {
            let runner = Runner {
                instance_id: format!("i{i}"),
                host: format!("host{i}"),
            };
            s.begin_run(&key, &format!("h{i}"), &runner, 10 + i)
                .await
                .unwrap()
                .applied()
        })
    });
    let wins = futures::future::join_all(attempts)
        .await
        .into_iter()
        .filter(|r| *r.as_ref().unwrap())
        .count();
    assert_eq!(wins, 1);
    let launch = s.launch(&key.execution_id()).await.unwrap().unwrap();
    assert_eq!(launch.pid, None, "decided, not yet launched");
    // The run names the one instance that decided it, and only that one watches it.
    let runner = s.runner(&key.execution_id()).await.unwrap().unwrap();
    assert_eq!(runner.host, runner.instance_id.replace('i', "host"));
    assert_eq!(
        s.running_tasks_of(&runner.instance_id).await.unwrap().len(),
        1
    );
    assert!(s.running_tasks_of("someone else").await.unwrap().is_empty());
    // Even once the run is over, the same version is never decided again.
    assert!(
        s.set_party_status(&key, TaskStatus::Failed, None, 20)
            .await
            .unwrap()
            .applied()
    );
    assert!(
        !s.begin_run(&key, "h-again", &runner, 21)
            .await
            .unwrap()
            .applied()
    );
}

async fn every_committed_status_change_is_in_the_event_log_with_its_cause(db: Backend) {
    let (_d, s) = open(db).await;
    s.create_job(&new_job(4), &[new_task("a", 4)], 1)
        .await
        .unwrap();
    let job = job_key();
    let t = task_key("a");
    ferroflow_server::store::with_cause("POST /v2/partner/job/start", async {
        assert!(
            s.set_job_status(&job, JobStatus::Waiting, 2)
                .await
                .unwrap()
                .applied()
        );
        assert!(
            s.set_job_status(&job, JobStatus::Running, 3)
                .await
                .unwrap()
                .applied()
        );
    })
    .await;
    // A refused transition changes nothing, and logs nothing.
    assert!(
        !s.set_job_status(&job, JobStatus::Ready, 4)
            .await
            .unwrap()
            .applied()
    );
    assert!(s.begin_run(&t, "h", &me(), 5).await.unwrap().applied());
    let error = "<b>boom</b>";
    assert!(
        s.set_party_status(&t, TaskStatus::Failed, Some(error), 6)
            .await
            .unwrap()
            .applied()
    );
    let events = s.job_events(job.job_id.as_str(), 0, 100).await.unwrap();
    let seen: Vec<_> = events
        .iter()
        .map(|e| {
            (
                e.view.as_str(),
                e.task_id.is_some(),
                e.from.as_deref().unwrap_or(""),
                e.to.as_str(),
                e.cause.as_str(),
                e.time,
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (
                "party",
                false,
                "ready",
                "waiting",
                "POST /v2/partner/job/start",
                2
            ),
            (
                "party",
                false,
                "waiting",
                "running",
                "POST /v2/partner/job/start",
                3
            ),
            ("party", true, "waiting", "running", "site", 5),
            ("party", true, "running", "failed", "site", 6),
        ]
    );
    assert_eq!(events[3].detail.as_deref(), Some(error));
    assert_eq!(events[3].role.as_deref(), Some("guest"));
    // Paging after an event id.
    let rest = s
        .job_events(job.job_id.as_str(), events[1].id, 100)
        .await
        .unwrap();
    assert_eq!(rest.len(), 2);
    assert_eq!(s.timings.task_run.count(), 1);
}

async fn the_dashboards_job_list_pages_and_filters(db: Backend) {
    let (_d, s) = open(db).await;
    for i in 0..5 {
        let mut j = new_job(4);
        j.key.job_id = format!("20240101000000000000{i}").as_str().into();
        s.create_job(&j, &[], 100 + i).await.unwrap();
    }
    let mut j = new_job(4);
    j.key.job_id = "202401010000000000009".into();
    j.key.role = Role::Host;
    j.key.party_id = "10000".into();
    s.create_job(&j, &[], 200).await.unwrap();
    let f = ferroflow_server::store::UiJobFilter {
        limit: 2,
        ..Default::default()
    };
    let (total, page) = s.ui_jobs(&f).await.unwrap();
    assert_eq!(total, 6);
    let ids: Vec<_> = page.iter().map(|r| r.job_id.as_str()).collect();
    assert_eq!(ids, ["202401010000000000009", "202401010000000000004"]);
    let (_, page3) = s
        .ui_jobs(&ferroflow_server::store::UiJobFilter {
            offset: 4,
            ..f.clone()
        })
        .await
        .unwrap();
    assert_eq!(page3.len(), 2);
    let (total, rows) = s
        .ui_jobs(&ferroflow_server::store::UiJobFilter {
            party_id: Some("10000".into()),
            ..f.clone()
        })
        .await
        .unwrap();
    assert_eq!((total, rows[0].role.as_str()), (1, "host"));
    let (total, _) = s
        .ui_jobs(&ferroflow_server::store::UiJobFilter {
            since: Some(102),
            until: Some(104),
            statuses: vec!["ready".into()],
            ..f.clone()
        })
        .await
        .unwrap();
    assert_eq!(total, 2);
    let (total, _) = s
        .ui_jobs(&ferroflow_server::store::UiJobFilter {
            job_id_prefix: Some("2024%".into()),
            ..f
        })
        .await
        .unwrap();
    assert_eq!(total, 0, "LIKE wildcards in the prefix are literal");
}

async fn a_resent_metric_is_stored_once(db: Backend) {
    use ferroflow_server::store::MetricRow;
    let (_d, store) = open(db).await;
    let metric = |step: i64, kind: Option<&str>| MetricRow {
        job_id: "j1".into(),
        role: "guest".into(),
        party_id: "9999".into(),
        task_name: "lr_0".into(),
        task_id: "j1_lr_0".into(),
        task_version: 0,
        name: "loss".into(),
        kind: kind.map(str::to_string),
        groups: json!([{"name": "default", "index": null}]),
        step_axis: None,
        data: json!([{"step": step, "metric": 0.5}]),
    };
    store.insert_metrics(&[metric(0, None)], 1).await.unwrap();
    // the same post again (its answer was lost), then the next step with the first resent
    store
        .insert_metrics(&[metric(0, None), metric(1, None)], 2)
        .await
        .unwrap();
    // a different type is a different metric
    store
        .insert_metrics(&[metric(0, Some("loss"))], 3)
        .await
        .unwrap();
    let rows = store
        .metrics_of("j1", "guest", "9999", "lr_0", 0)
        .await
        .unwrap();
    let seen: Vec<(i64, Option<String>)> = rows
        .iter()
        .map(|r| (r.data[0]["step"].as_i64().unwrap(), r.kind.clone()))
        .collect();
    assert_eq!(seen, [(0, None), (1, None), (0, Some("loss".into()))]);
    // another version of the task keeps its own
    let mut v1 = metric(0, None);
    v1.task_version = 1;
    store.insert_metrics(&[v1], 4).await.unwrap();
    assert_eq!(
        store
            .metrics_of("j1", "guest", "9999", "lr_0", 1)
            .await
            .unwrap()
            .len(),
        1
    );
}

/// What differs between the backends and must not show: keys compare byte-wise (MySQL's
/// default collations ignore case), text longer than MySQL's TEXT, four-byte UTF-8, LIKE
/// wildcards taken literally, and an update that changes nothing still counts its row
/// (MySQL counts changed rows unless told otherwise).
async fn text_keys_and_counts_mean_the_same_everywhere(db: Backend) {
    let (_d, s) = open(db).await;
    let mut upper = new_job(0);
    upper.key.job_id = "202401010000000000000A".into();
    let mut lower = new_job(0);
    lower.key.job_id = "202401010000000000000a".into();
    // Longer than 64 KiB, with characters outside the BMP.
    let long = "🦀 ferroflow ".repeat(6000);
    upper.dag = json!({"dag": {"note": long}});
    assert!(s.create_job(&upper, &[], 1).await.unwrap());
    assert!(
        s.create_job(&lower, &[], 1).await.unwrap(),
        "keys differ by case"
    );
    let back = s.job(&upper.key).await.unwrap().unwrap();
    assert_eq!(back.dag["dag"]["note"], long.as_str());
    assert_eq!(s.job(&lower.key).await.unwrap().unwrap().dag, lower.dag);

    assert!(
        s.set_job_description(&upper.key, "50%_off!", 2)
            .await
            .unwrap()
    );
    assert!(
        s.set_job_description(&upper.key, "50%_off!", 3)
            .await
            .unwrap(),
        "an update to the same value still finds its row"
    );
    assert!(
        s.set_job_description(&lower.key, "50 off", 2)
            .await
            .unwrap()
    );
    // As wildcards, `5%f` would match the first, `50%` and `%_` both.
    for (pattern, expect) in [
        ("50%_off!", 1),
        ("5%f", 0),
        ("50%", 1),
        ("%_", 1),
        ("!", 1),
        ("50 off", 1),
    ] {
        let (n, rows) = s
            .list_jobs(&JobListFilter {
                description_like: Some(pattern.into()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!((n, rows.len()), (expect, expect as usize), "{pattern:?}");
    }
}

crate::on_backends!(
    create_is_idempotent_and_rows_read_back,
    status_changes_follow_the_table,
    cores_are_taken_and_given_back,
    limit_exceeded_is_told_apart_from_busy,
    a_restarted_store_keeps_everything,
    a_run_is_decided_once_however_many_ask_at_once,
    every_committed_status_change_is_in_the_event_log_with_its_cause,
    the_dashboards_job_list_pages_and_filters,
    a_resent_metric_is_stored_once,
    text_keys_and_counts_mean_the_same_everywhere,
);

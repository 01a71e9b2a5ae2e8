//! Two instances of one site (`instance.leases`) in one process, on one database and data
//! directory: one scheduler per job, api-3 calls and reads on either instance.

use serde_json::json;

use super::support::{SiteSpec, TestSite, sleep_dag};
use crate::dbserver::Backend;

fn exec(job: &str, task: &str, role: &str, party: &str) -> String {
    format!("{job}_{task}_0_{role}_{party}")
}

async fn one_scheduler_per_job_and_calls_on_either_instance(_db: Backend) {
    let spec = SiteSpec {
        configure: Some(|c| c.instance.leases = true),
        ..SiteSpec::standalone()
    };
    let a = TestSite::start(spec).await;
    let b = TestSite::start_beside(&a).await;
    // Both announce themselves, and either lists both.
    let seen = a.get("/v2/server/fateflow", &[]).await;
    assert_eq!(
        seen.data
            .as_ref()
            .and_then(|d| d.as_object())
            .map(|m| m.len()),
        Some(2)
    );

    let dag = sleep_dag(
        &[("a", "demo_sleep", &[]), ("b", "demo_sleep", &["a"])],
        json!({}),
    );
    // Created through B: B holds the job's lease, and A's passes leave it alone.
    let job = b.submit(dag).await;
    a.tick().await;
    assert!(
        a.launcher.launched().is_empty(),
        "A never schedules B's job"
    );
    b.tick().await;
    let started = b.launcher.launched();
    assert_eq!(started.len(), 2, "B started the root on both parties");

    // The task processes' reports land on A (any instance answers api-3); A tells the
    // scheduler, and B, which holds the job, starts what follows.
    for (role, party) in [("guest", "9999"), ("host", "10000")] {
        let e = exec(&job, "a", role, party);
        let r: serde_json::Value = b
            .as_task(
                &e,
                reqwest::Client::new()
                    .post(format!("{}/v2/worker/task/status", a.url()))
                    .json(&json!({"execution_id": e, "status": "success", "error": ""})),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["code"], 0, "{r}");
    }
    a.tick().await;
    assert!(a.launcher.launched().is_empty(), "A still launches nothing");
    b.tick().await;
    assert_eq!(b.launcher.launched().len(), 4, "b started after a, by B");

    for e in [
        exec(&job, "b", "guest", "9999"),
        exec(&job, "b", "host", "10000"),
    ] {
        b.report(&e, "success", "").await;
    }
    b.tick().await;
    a.tick().await;
    // Either instance answers for the job, and its lease is gone once it has settled.
    for site in [&a, &b] {
        for (role, party, status) in site.job_statuses(&job).await {
            assert_eq!(status, "success", "{role} {party}");
        }
    }
    let store = &a.site.app.store;
    let id = ferroflow_core::id::JobId::new(&job);
    assert_eq!(store.lease(&id).await.unwrap(), None);

    // Both instances draw job ids from one clock (here a frozen one): they draw the same id,
    // or one already used, and the one refused draws again.
    let one = sleep_dag(&[("a", "demo_sleep", &[])], json!({}));
    let from_a = a.submit(one.clone()).await;
    let from_b = b.submit(one).await;
    let mut ids = vec![job.clone(), from_a.clone(), from_b.clone()];
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "{job} {from_a} {from_b}");
    for (site, id) in [(&a, &from_a), (&b, &from_b)] {
        let id = ferroflow_core::id::JobId::new(id);
        let (holder, _) = store.lease(&id).await.unwrap().expect("leased");
        assert_eq!(
            holder, site.site.app.instance.id,
            "its creator schedules it"
        );
    }
    b.stop().await;
    a.stop().await;
}

crate::on_backends!(one_scheduler_per_job_and_calls_on_either_instance);

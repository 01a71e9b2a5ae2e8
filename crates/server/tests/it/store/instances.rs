//! Several instances on one database: leases of a job's scheduling, heartbeats, takeover of
//! a stopped instance's runs, dirty marks.

use super::*;

/// A job's lease: one holder at a time, renewed by its holder, taken over once expired,
/// released only by its holder.
async fn a_lease_has_one_holder_until_it_expires(db: Backend) {
    let (_d, s) = open(db).await;
    let job = "202401010000000000000".into();
    assert_eq!(s.lease(&job).await.unwrap(), None);
    assert!(s.take_lease(&job, "a", 1_000, 10_000).await.unwrap());
    assert!(!s.take_lease(&job, "b", 2_000, 10_000).await.unwrap());
    assert!(
        s.take_lease(&job, "a", 5_000, 10_000).await.unwrap(),
        "renewed"
    );
    assert!(
        s.take_lease(&job, "a", 5_000, 10_000).await.unwrap(),
        "renewed unchanged"
    );
    assert_eq!(s.lease(&job).await.unwrap(), Some(("a".into(), 15_000)));
    assert!(
        !s.take_lease(&job, "b", 15_000, 10_000).await.unwrap(),
        "not yet expired"
    );
    assert!(
        s.take_lease(&job, "b", 15_001, 10_000).await.unwrap(),
        "taken over"
    );
    assert!(
        !s.take_lease(&job, "a", 15_002, 10_000).await.unwrap(),
        "lost"
    );
    assert!(!s.release_lease(&job, "a").await.unwrap());
    assert!(s.release_lease(&job, "b").await.unwrap());
    assert_eq!(s.lease(&job).await.unwrap(), None);
    assert!(s.take_lease(&job, "a", 20_000, 10_000).await.unwrap());
}

/// Instances (stores with their own connections on one database) asking for the same
/// leases at once: each lease is granted to exactly one of them.
async fn of_instances_asking_at_once_one_gets_each_lease(db: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let url = db.fresh_url(dir.path());
    let mut instances = Vec::new();
    for _ in 0..4 {
        instances.push(Store::open(&url).await.unwrap());
    }
    for n in 0..10 {
        let job = format!("2024010100000000000{n:02}").into();
        let asks = instances
            .iter()
            .enumerate()
            .map(|(i, s)| s.take_lease(&job, ["a", "b", "c", "d"][i], 1_000, 10_000));
        let granted: Vec<bool> = futures::future::join_all(asks)
            .await
            .into_iter()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(granted.iter().filter(|g| **g).count(), 1, "{granted:?}");
        let (holder, _) = instances[0].lease(&job).await.unwrap().unwrap();
        let winner = granted.iter().position(|g| *g).unwrap();
        assert_eq!(holder, ["a", "b", "c", "d"][winner]);
    }
}

/// Instances beat; a run of one that stopped beating is orphaned, and of instances taking it
/// over at once, one gets it.
async fn a_stopped_instances_runs_are_taken_over_once(db: Backend) {
    let (_d, s) = open(db).await;
    let row = |id: &str, beat: i64| InstanceRow {
        instance_id: id.into(),
        host: "h1".into(),
        http_port: 9380,
        grpc_port: 9360,
        url: "http://127.0.0.1:9380".into(),
        version: "0".into(),
        start_time: 1,
        heartbeat: beat,
    };
    s.beat(&row("i1", 1_000)).await.unwrap();
    s.beat(&row("i2", 1_000)).await.unwrap();
    s.beat(&row("i1", 5_000)).await.unwrap();
    let alive = |since| {
        let s = s.clone();
        async move {
            s.instances(since)
                .await
                .unwrap()
                .into_iter()
                .map(|i| (i.instance_id, i.heartbeat))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        alive(0).await,
        vec![("i1".to_string(), 5_000), ("i2".to_string(), 1_000)]
    );
    assert_eq!(alive(2_000).await, vec![("i1".to_string(), 5_000)]);

    s.create_job(&new_job(4), &[new_task("a", 4)], 1)
        .await
        .unwrap();
    let key = task_key("a");
    let i2 = Runner {
        instance_id: "i2".into(),
        host: "h2".into(),
    };
    assert!(s.begin_run(&key, "t", &i2, 2).await.unwrap().applied());
    // i2 still counts as alive since 0: nothing orphaned; since 2000 it does not.
    assert!(s.orphaned_runs("i1", 0).await.unwrap().is_empty());
    let orphans = s.orphaned_runs("i1", 2_000).await.unwrap();
    assert_eq!(orphans, vec![key.execution_id()]);
    assert!(
        s.orphaned_runs("i2", 2_000).await.unwrap().is_empty(),
        "never its own"
    );
    let claims = (0..8).map(|i| {
        let s = s.clone();
        let id = key.execution_id();
        tokio::spawn(async move {
            let to = Runner {
                instance_id: format!("new{i}"),
                host: "h1".into(),
            };
            s.claim_run(&id, "i2", &to).await.unwrap()
        })
    });
    let wins = futures::future::join_all(claims)
        .await
        .into_iter()
        .filter(|r| *r.as_ref().unwrap())
        .count();
    assert_eq!(wins, 1);
    let taker = s.runner(&key.execution_id()).await.unwrap().unwrap();
    assert!(taker.instance_id.starts_with("new"));
    assert_eq!(taker.host, "h2", "the run stays where it runs");
}

/// A change another instance learns of marks the holder's lease; the holder takes each mark
/// once; marks never land on the marker's own leases or on jobs nobody holds.
async fn dirty_marks_reach_the_holder_once(db: Backend) {
    let (_d, s) = open(db).await;
    let (a, b) = (
        ferroflow_core::id::JobId::new("j-a"),
        ferroflow_core::id::JobId::new("j-b"),
    );
    assert!(s.take_lease(&a, "i1", 1_000, 10_000).await.unwrap());
    assert!(s.take_lease(&b, "i2", 1_000, 10_000).await.unwrap());
    s.mark_lease_dirty(&a, "i2").await.unwrap();
    s.mark_lease_dirty(&b, "i2").await.unwrap(); // its own: nothing
    s.mark_lease_dirty(&ferroflow_core::id::JobId::new("nobody"), "i2")
        .await
        .unwrap();
    assert_eq!(s.take_dirty_leases("i1").await.unwrap(), vec![a.clone()]);
    assert!(s.take_dirty_leases("i1").await.unwrap().is_empty());
    assert!(s.take_dirty_leases("i2").await.unwrap().is_empty());
    // Renewal covers every lease of its holder; a stopping instance lets all go.
    assert_eq!(s.renew_leases("i1", 5_000, 10_000).await.unwrap(), 1);
    assert_eq!(s.lease(&a).await.unwrap(), Some(("i1".into(), 15_000)));
    assert_eq!(s.leases_of("i2").await.unwrap(), vec![b.clone()]);
    s.release_leases_of("i2").await.unwrap();
    assert_eq!(s.lease(&b).await.unwrap(), None);
}

/// A job id drawn by two instances at once (their clocks may agree to the microsecond):
/// the lease of a new job goes to one of them, and an id whose lease row exists is never
/// claimed anew, even once that lease expired.
async fn a_new_jobs_id_is_claimed_by_one_instance(db: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let url = db.fresh_url(dir.path());
    let (a, b) = (
        Store::open(&url).await.unwrap(),
        Store::open(&url).await.unwrap(),
    );
    for n in 0..10 {
        let job = format!("2024010100000000001{n:02}").into();
        let (ga, gb) = futures::future::join(
            a.claim_new_lease(&job, "a", 1_000, 10_000),
            b.claim_new_lease(&job, "b", 1_000, 10_000),
        )
        .await;
        assert!(ga.unwrap() ^ gb.unwrap(), "job {job}: exactly one claim");
        assert!(
            !a.claim_new_lease(&job, "a", 50_000, 10_000).await.unwrap(),
            "an expired lease is taken over, never claimed as new"
        );
    }
}

crate::on_backends!(
    a_new_jobs_id_is_claimed_by_one_instance,
    a_lease_has_one_holder_until_it_expires,
    of_instances_asking_at_once_one_gets_each_lease,
    a_stopped_instances_runs_are_taken_over_once,
    dirty_marks_reach_the_holder_once,
);

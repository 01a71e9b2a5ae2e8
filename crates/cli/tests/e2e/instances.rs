//! Several instances of one site (`instance.leases`) on one real PostgreSQL: two `ferroflow
//! serve` processes sharing the database and the data directory, a small TCP front before
//! them (what nginx or HAProxy is in a deployment: tasks call it), one instance killed with
//! -9 while jobs run.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};

use super::dbserver::{Backend, Password};
use super::support::{Server, tail};

/// A TCP front: each connection goes to the next instance in turn, or to the one after it
/// when that one refuses (a dead instance), as a load balancer's health check would.
fn front(listener: TcpListener, backends: Vec<String>) -> tokio::task::JoinHandle<()> {
    let next = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                return;
            };
            let (backends, next) = (backends.clone(), next.clone());
            tokio::spawn(async move {
                let first = next.fetch_add(1, Ordering::Relaxed);
                for i in 0..backends.len() {
                    let addr = &backends[(first + i) % backends.len()];
                    if let Ok(mut outbound) = TcpStream::connect(addr).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        return;
                    }
                }
            });
        }
    })
}

/// Starts one instance in `dir`, its data directory the shared one.
async fn instance(dir: &Path, shared: &Path, conf: &str, launches: &Path) -> Server {
    std::fs::create_dir_all(dir).unwrap();
    std::os::unix::fs::symlink(shared, dir.join("site")).unwrap();
    let log = launches.display().to_string();
    Server::launch_with_env(
        dir,
        "9999",
        Some(conf),
        0,
        &[("FERROFLOW_LAUNCH_LOG", log.as_str())],
    )
    .await
}

async fn submit(http: &reqwest::Client, url: &str, dag: &Value) -> Option<String> {
    let r = http
        .post(format!("{url}/v2/job/submit"))
        .json(&json!({"dag_schema": dag}))
        .send()
        .await
        .ok()?;
    let v: Value = r.json().await.ok()?;
    (v["code"] == 0).then(|| v["job_id"].as_str().unwrap().to_string())
}

async fn get(http: &reqwest::Client, url: &str, path: &str) -> Value {
    http.get(format!("{url}{path}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
#[ignore = "starts PostgreSQL and two ferroflow instances (200 jobs, a kill -9); run with --ignored"]
async fn an_instance_killed_midway_loses_no_job_and_runs_no_task_twice() {
    const JOBS: usize = 200;
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    let launches = dir.path().join("launches.log");
    let (db, _) = Backend::Postgres.service_conf(dir.path(), Password::Key);
    // The front is bound first, so that the instances can be told its address (tasks call
    // it); it forwards once the instances listen.
    let front_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let front_url = format!("http://{}", front_listener.local_addr().unwrap());
    let conf = format!(
        "{db}instance:\n  leases: true\n  front: {}\n\
         computing:\n  standalone:\n    cores: 64\n",
        front_url.trim_start_matches("http://")
    );
    let a = instance(&dir.path().join("a"), &shared, &conf, &launches).await;
    let b = instance(&dir.path().join("b"), &shared, &conf, &launches).await;
    let _front = front(
        front_listener,
        vec![
            format!("127.0.0.1:{}", a.port()),
            format!("127.0.0.1:{}", b.port()),
        ],
    );
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();

    // Both announce themselves through FATE's registry route, on either instance.
    let seen = get(&http, &a.url, "/v2/server/fateflow").await;
    assert_eq!(seen["data"].as_object().map(|m| m.len()), Some(2), "{seen}");

    let dag = crate::support::sleep_chain(0);
    let mut accepted = Vec::new();
    let mut on_b = Vec::new();
    for i in 0..JOBS / 2 {
        let url = if i % 2 == 0 { &a.url } else { &b.url };
        let job = submit(&http, url, &dag).await;
        if i % 2 == 1 {
            on_b.extend(job.clone());
        }
        accepted.extend(job);
    }
    assert_eq!(accepted.len(), JOBS / 2, "every submit before the kill");
    let b_dir = b.dir.clone();
    b.kill9().await;
    let killed = Instant::now();
    let killed_ms = chrono::Utc::now().timestamp_millis();
    for _ in JOBS / 2..JOBS {
        // Through the front, as users would: the dead instance refuses, the other answers.
        accepted.extend(submit(&http, &front_url, &dag).await);
    }

    // Every accepted job succeeds, on every party, every task at version 0.
    let deadline = Duration::from_secs(600);
    let mut pending: BTreeSet<String> = accepted.iter().cloned().collect();
    while !pending.is_empty() {
        let mut done = Vec::new();
        for job in &pending {
            let v = get(&http, &a.url, &format!("/v2/job/query?job_id={job}")).await;
            let statuses: Vec<&str> = v["data"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|j| j["status"].as_str())
                .collect();
            assert!(
                !statuses
                    .iter()
                    .any(|s| ["failed", "canceled", "timeout"].contains(s)),
                "job {job}: {statuses:?}"
            );
            if statuses.len() == 2 && statuses.iter().all(|s| *s == "success") {
                done.push(job.clone());
            }
        }
        for job in done {
            pending.remove(&job);
        }
        if killed.elapsed() > deadline {
            let log = std::fs::read_to_string(a.dir.join("server.log")).unwrap_or_default();
            panic!(
                "{} jobs not done after {deadline:?}: {:?}\n{}",
                pending.len(),
                pending.iter().take(5).collect::<Vec<_>>(),
                tail(&log, 60)
            );
        }
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    for job in &accepted {
        let v = get(&http, &a.url, &format!("/v2/job/task/query?job_id={job}")).await;
        let tasks = v["data"].as_array().cloned().unwrap_or_default();
        assert_eq!(tasks.len(), 6, "three tasks on two parties: {v}");
        for t in &tasks {
            assert_eq!(t["task_version"], 0, "{job}: {t}");
            assert_eq!(t["party_status"], "success", "{job}: {t}");
        }
    }
    // Jobs the killed instance held were scheduled to their end by the other one.
    let mut ends_after_kill = Vec::new();
    for job in &on_b {
        let v = get(&http, &a.url, &format!("/v2/job/query?job_id={job}")).await;
        let end = v["data"][0]["end_time"].as_i64().unwrap_or(0);
        if end > killed_ms {
            ends_after_kill.push(end - killed_ms);
        }
    }
    assert!(
        !ends_after_kill.is_empty(),
        "no job of the killed instance was left to take over"
    );
    ends_after_kill.sort();
    println!(
        "{} of the killed instance's {} jobs ended after the kill, the first {} ms after it",
        ends_after_kill.len(),
        on_b.len(),
        ends_after_kill[0]
    );
    // Each run was launched once, whichever instance launched it.
    let log = std::fs::read_to_string(&launches).unwrap();
    let mut runs: BTreeMap<&str, usize> = BTreeMap::new();
    for l in log.lines().filter_map(|l| l.split_whitespace().next()) {
        *runs.entry(l).or_default() += 1;
    }
    let twice: Vec<_> = runs.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "launched more than once: {twice:?}");
    assert_eq!(runs.len(), accepted.len() * 6, "one run per task and party");
    // The dead instance is no longer listed once its heartbeat is older than a lease.
    let listed = Instant::now();
    loop {
        let seen = get(&http, &a.url, "/v2/server/fateflow").await;
        if seen["data"].as_object().map(|m| m.len()) == Some(1) {
            break;
        }
        assert!(
            listed.elapsed() < Duration::from_secs(30),
            "{seen}\n(the killed instance's log: {})",
            tail(
                &std::fs::read_to_string(b_dir.join("server.log")).unwrap_or_default(),
                20
            )
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    a.stop().await;
}

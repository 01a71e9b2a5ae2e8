//! What the tests ask the sites over HTTP: jobs and tasks, waits with a deadline, the
//! timings printed per run.

use super::*;

pub(crate) async fn get(url: &str) -> Value {
    http()
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

/// `(role, party_id, status)` of the job's rows on the site at `base`.
pub(crate) async fn job_rows(base: &str, job: &str) -> Vec<(String, String, String)> {
    let v = get(&format!("{base}/v2/job/query?job_id={job}")).await;
    v["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|j| {
            let s = |k: &str| j[k].as_str().unwrap_or_default().to_string();
            (s("role"), s("party_id"), s("status"))
        })
        .collect()
}

pub(crate) async fn task_rows(base: &str, job: &str) -> Vec<Value> {
    let v = get(&format!("{base}/v2/job/task/query?job_id={job}")).await;
    v["data"].as_array().cloned().unwrap_or_default()
}

/// Polls until every row of the job on every site has one of `statuses`.
pub(crate) async fn wait_everywhere(
    sites: &[&str],
    job: &str,
    statuses: &[&str],
    deadline: Duration,
) {
    let start = Instant::now();
    loop {
        let mut all = Vec::new();
        for s in sites {
            all.push((s.to_string(), job_rows(s, job).await));
        }
        if all.iter().all(|(_, rows)| {
            !rows.is_empty() && rows.iter().all(|r| statuses.contains(&r.2.as_str()))
        }) {
            return;
        }
        assert!(
            start.elapsed() < deadline,
            "job {job} not {statuses:?} everywhere after {deadline:?}: {all:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What one run took: wall time, and per task the delay between its upstream task ending (on
/// its last party) and its own start (on its first party), from both sites' records. A site
/// may stamp a task's end when its process exits, after it reported success and the next
/// task was started: such a delay is negative.
pub(crate) fn report(label: &str, wall: Duration, tasks: &[Value]) {
    let mut start: BTreeMap<String, i64> = BTreeMap::new();
    let mut end: BTreeMap<String, i64> = BTreeMap::new();
    for t in tasks {
        let name = t["task_name"].as_str().unwrap_or_default().to_string();
        if let Some(s) = t["start_time"].as_i64() {
            let e = start.entry(name.clone()).or_insert(s);
            *e = (*e).min(s);
        }
        if let Some(x) = t["end_time"].as_i64() {
            let e = end.entry(name).or_insert(x);
            *e = (*e).max(x);
        }
    }
    let delays: Vec<String> = CHAIN
        .iter()
        .filter_map(|(task, up)| {
            let up = (*up)?;
            Some(format!("{task} {} ms", start.get(*task)? - end.get(up)?))
        })
        .collect();
    println!(
        "INTERCONNECT {label}: wall {:.1} s; start delays after upstream end: {}",
        wall.as_secs_f64(),
        delays.join(", ")
    );
}

pub(crate) async fn all_tasks(sites: &[&str], job: &str) -> Vec<Value> {
    let mut v = Vec::new();
    for s in sites {
        v.extend(task_rows(s, job).await);
    }
    v
}

/// A POST naming the caller as the `admin` app: app management answers only a caller with a
/// client role (the header is not verified while client authentication is off).
pub(crate) async fn post(url: &str, body: Value) -> Value {
    http()
        .post(url)
        .header("appId", "admin")
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"))
}

/// The test's HTTP client: a site that stops answering fails the call, never hangs the test.
pub(crate) fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

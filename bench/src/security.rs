//! `security`: what being secure costs, measured in one run on two `ferroflow serve` sites that
//! differ only in `authentication` — all off (`client`, `site`, `worker` false) and all on
//! (`client` and `site` true; worker tokens are on by default). With client authentication on,
//! this client signs every request FATE's way with the admin credentials the site writes to
//! `<data_dir>/credentials/admin.json` (FATE's `admin`/`fate_flow_admin` when that file is
//! absent). Figures: `/v2/job/query` p50/p99 at 1 and 8 clients over 10,000 jobs, and the gap
//! from a producer's end to the next task's start in a chain of demo tasks (every task run
//! presents its worker token, every authenticated call is audited).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use serde_json::Value;

use crate::suite::sites::FfSite;
use crate::work::{self, Target};

/// One side's figures.
struct Figures {
    /// (clients, p50 ms, p99 ms, req/s)
    query: Vec<(usize, f64, f64, f64)>,
    gap_p50: f64,
    gap_p99: f64,
    total_p50: f64,
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The admin credentials a site with client authentication writes, or FATE's defaults.
fn admin_credentials(data_dir: &Path) -> (String, String) {
    let file = data_dir.join("credentials").join("admin.json");
    let read = std::fs::read(&file)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
    let field = |v: &Value, names: &[&str]| {
        names
            .iter()
            .find_map(|n| v.get(*n).and_then(Value::as_str).map(str::to_string))
    };
    match read {
        Some(v) => (
            field(&v, &["app_id", "appId"]).unwrap_or_else(|| "admin".into()),
            field(&v, &["app_token", "appToken", "token"])
                .unwrap_or_else(|| "fate_flow_admin".into()),
        ),
        None => ("admin".into(), "fate_flow_admin".into()),
    }
}

async fn measure(
    dir: &Path,
    secure: bool,
    requests: usize,
    clients: &[usize],
    runs: usize,
    tasks: usize,
) -> Result<Figures> {
    let conf = if secure {
        "authentication:\n  client: true\n  site: true\n  worker: true\n"
    } else {
        "authentication:\n  client: false\n  site: false\n  worker: false\n"
    };
    let site = FfSite::start_with(dir, free_port()?, None, conf).await?;
    let mut t = Target::new(
        if secure { "secure" } else { "open" },
        &site.url,
        site.pid,
        Duration::from_millis(20),
    );
    if secure {
        t.sign = Some(admin_credentials(&dir.join("site")));
    }
    let (dag, edges) = work::demo_chain(tasks, 0.0);
    let times = work::run_jobs(&t, &dag, &edges, 1, runs, Duration::from_secs(300)).await?;
    let ids = work::fill_jobs(&site.db, 10_000, "2099").await?;
    let jobs = Arc::new(work::job_queries(&ids));
    let mut query = Vec::new();
    for &c in clients {
        let (p50, p99, rps) =
            work::api_latency(&t, "/job/query", jobs.clone(), c, requests).await?;
        query.push((c, p50, p99, rps));
    }
    site.stop().await;
    Ok(Figures {
        query,
        gap_p50: work::percentile(&times.gaps_ms, 50.0),
        gap_p99: work::percentile(&times.gaps_ms, 99.0),
        total_p50: work::percentile(&times.total_ms, 50.0),
    })
}

pub async fn run(requests: usize, clients: &[usize], runs: usize, tasks: usize) -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let open = measure(
        &tmp.path().join("open"),
        false,
        requests,
        clients,
        runs,
        tasks,
    )
    .await?;
    let secure = measure(
        &tmp.path().join("secure"),
        true,
        requests,
        clients,
        runs,
        tasks,
    )
    .await?;
    let ratio = |a: f64, b: f64| b / a;
    println!("| figure | authentication off | on | on / off |");
    println!("|---|---:|---:|---:|");
    for ((c, p50, p99, rps), (_, s50, s99, srps)) in open.query.iter().zip(&secure.query) {
        println!(
            "| `/v2/job/query` {c} client(s), p50 (ms) | {p50:.2} | {s50:.2} | {:.2} |",
            ratio(*p50, *s50)
        );
        println!(
            "| `/v2/job/query` {c} client(s), p99 (ms) | {p99:.2} | {s99:.2} | {:.2} |",
            ratio(*p99, *s99)
        );
        println!(
            "| `/v2/job/query` {c} client(s), req/s | {rps:.0} | {srps:.0} | {:.2} |",
            ratio(*rps, *srps)
        );
    }
    println!(
        "| chain of {tasks}: producer end → next start, p50 (ms) | {:.1} | {:.1} | {:.2} |",
        open.gap_p50,
        secure.gap_p50,
        ratio(open.gap_p50, secure.gap_p50)
    );
    println!(
        "| chain of {tasks}: producer end → next start, p99 (ms) | {:.1} | {:.1} | {:.2} |",
        open.gap_p99,
        secure.gap_p99,
        ratio(open.gap_p99, secure.gap_p99)
    );
    println!(
        "| chain of {tasks}: submit → end, p50 (ms) | {:.0} | {:.0} | {:.2} |",
        open.total_p50,
        secure.total_p50,
        ratio(open.total_p50, secure.total_p50)
    );
    Ok(())
}

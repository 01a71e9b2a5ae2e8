//! The workloads: those both servers run, those only ferroflow can (demo tasks, 1,000 running
//! tasks), and FATE Flow's documented figures where it cannot be run.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use futures::StreamExt;

use crate::work::{self, Target, percentile};

use super::Sizes;
use super::report::{Report, Side, put};
use super::sites::upload_tables;

/// The workloads both servers run (pyfate's components, FATE's API).
pub(super) async fn common(
    report: &mut Report,
    side: Side,
    t: &Target,
    db: &Path,
    sizes: &Sizes,
    pyfate: Option<&Path>,
    port: u16,
) -> Result<()> {
    let long = Duration::from_secs(1800);
    if let Some(py) = pyfate {
        let s = Instant::now();
        upload_tables(py, port)?;
        eprintln!(
            "{}: breast_hetero uploaded in {:.1} s",
            t.name,
            s.elapsed().as_secs_f64()
        );

        let n = sizes.pyfate_chain;
        let (dag, edges) = work::pyfate_chain(n);
        eprintln!(
            "{}: pyfate chain (reader + {} psi) x{}",
            t.name,
            n - 1,
            sizes.pyfate_runs
        );
        let r = work::run_jobs(t, &dag, &edges, 0, sizes.pyfate_runs, long).await?;
        let what = "pyfate chain: producer end → next start p50";
        put(report, side, "1", what, "ms", percentile(&r.gaps_ms, 50.0));
        let what = "pyfate chain: producer end → next start p99";
        put(report, side, "1", what, "ms", percentile(&r.gaps_ms, 99.0));
        let what = "pyfate chain: submit → first task start p50";
        put(
            report,
            side,
            "1",
            what,
            "ms",
            percentile(&r.first_start_ms, 50.0),
        );
        let what = "pyfate chain: submit → success p50";
        put(
            report,
            side,
            "1",
            what,
            "s",
            percentile(&r.total_ms, 50.0) / 1000.0,
        );
        let what = "pyfate chain: scheduling overhead (total − tasks' own run)";
        let over: Vec<f64> = r
            .total_ms
            .iter()
            .zip(&r.algo_ms)
            .map(|(a, b)| a - b)
            .collect();
        put(
            report,
            side,
            "1",
            what,
            "s",
            percentile(&over, 50.0) / 1000.0,
        );

        eprintln!("{}: {} queued reader-only jobs", t.name, sizes.reader_jobs);
        let tp = work::throughput(t, &work::pyfate_reader(), sizes.reader_jobs, 2, long).await?;
        let what = format!("{} queued pyfate reader-only jobs", sizes.reader_jobs);
        put(report, side, "2", &what, "jobs/s", tp.jobs_per_sec());
        let what = "server CPU per pyfate reader-only job (server process only)";
        put(
            report,
            side,
            "4",
            what,
            "ms",
            tp.server_cpu_secs * 1000.0 / tp.jobs as f64,
        );

        let (dag, edges) = work::pyfate_lr(sizes.lr_epochs);
        eprintln!(
            "{}: reader → psi → coordinated_lr ({} epochs) → evaluation",
            t.name, sizes.lr_epochs
        );
        let r = work::run_jobs(t, &dag, &edges, 0, 1, long).await?;
        let total = percentile(&r.total_ms, 50.0) / 1000.0;
        let algo = percentile(&r.algo_ms, 50.0) / 1000.0;
        put(
            report,
            side,
            "5",
            "submit → success (wall time)",
            "s",
            total,
        );
        put(
            report,
            side,
            "5",
            "tasks' own run time (sum over the chain, longest party)",
            "s",
            algo,
        );
        put(
            report,
            side,
            "5",
            "scheduling overhead (wall − tasks' own run)",
            "s",
            total - algo,
        );
        let what = "producer end → next start p50";
        put(report, side, "5", what, "ms", percentile(&r.gaps_ms, 50.0));
        if let Some(rss) = work::peak_rss_mib(t.pid) {
            put(
                report,
                side,
                "4",
                "server peak RSS over the run (VmHWM)",
                "MiB",
                rss,
            );
        }
    }

    // API latency over 10,000 jobs.
    let ids = work::fill_jobs(db, 10_000, "2099").await?;
    let requests = match side {
        Side::Ff => sizes.api_requests_ff,
        Side::Fate => sizes.api_requests_fate,
    };
    let jobs = Arc::new(work::job_queries(&ids));
    let lists = Arc::new(work::list_queries());
    for clients in [1usize, 8, 64] {
        for (path, qs) in [("/job/query", &jobs), ("/job/list/query", &lists)] {
            eprintln!("{}: GET {path} x{requests}, {clients} clients", t.name);
            let (p50, p99, rps) = work::api_latency(t, path, qs.clone(), clients, requests).await?;
            let c = if clients == 1 { "client" } else { "clients" };
            put(
                report,
                side,
                "3",
                &format!("`{path}` {clients} {c}: p50"),
                "ms",
                p50,
            );
            put(
                report,
                side,
                "3",
                &format!("`{path}` {clients} {c}: p99"),
                "ms",
                p99,
            );
            put(
                report,
                side,
                "3",
                &format!("`{path}` {clients} {c}: throughput"),
                "req/s",
                rps,
            );
        }
    }
    report.note(format!(
        "{}: {requests} requests per API row{}",
        t.name,
        if requests < 20_000 {
            " (20,000 in the full run; fewer in --quick to stay under 10 minutes)"
        } else {
            ""
        }
    ));
    Ok(())
}

/// What only ferroflow runs: the demo provider's trivial tasks (no Python), in numbers FATE
/// Flow could not take in the time.
pub(super) async fn ferroflow_only(report: &mut Report, t: &Target, sizes: &Sizes) -> Result<()> {
    let long = Duration::from_secs(3600);
    let n = 10;
    let (dag, edges) = work::demo_chain(n, 0.0);
    eprintln!("ferroflow: demo chain of {n} x{}", sizes.chain_runs);
    let r = work::run_jobs(t, &dag, &edges, 1, sizes.chain_runs, long).await?;
    let w = "demo chain of 10 (no Python): producer end → next start p50";
    report.ff("1", w, "ms", percentile(&r.gaps_ms, 50.0));
    report.ff(
        "1",
        "demo chain: producer end → next start p99",
        "ms",
        percentile(&r.gaps_ms, 99.0),
    );
    report.ff(
        "1",
        "demo chain: submit → first task start p50",
        "ms",
        percentile(&r.first_start_ms, 50.0),
    );
    report.ff(
        "1",
        "demo chain: submit → success p50",
        "s",
        percentile(&r.total_ms, 50.0) / 1000.0,
    );

    let (one, _) = work::demo_chain(1, 0.0);
    let mut per_job = Vec::new();
    for &q in &sizes.queues {
        eprintln!("ferroflow: {q} queued one-task demo jobs");
        let tp = work::throughput(t, &one, q, 2, long).await?;
        report.ff(
            "2",
            &format!("{q} queued one-task demo jobs (no Python)"),
            "jobs/s",
            tp.jobs_per_sec(),
        );
        report.ff(
            "2",
            &format!("{q} queued: time per job"),
            "ms",
            1000.0 / tp.jobs_per_sec(),
        );
        per_job.push(1000.0 / tp.jobs_per_sec());
        report.note(format!(
            "ferroflow: {q} jobs submitted in {:.1} s (8 at a time)",
            tp.submit_secs
        ));
        if q == 1000 {
            report.ff(
                "4",
                "server CPU per one-task demo job",
                "ms",
                tp.server_cpu_secs * 1000.0 / q as f64,
            );
        }
    }
    if per_job.len() >= 2 {
        report.note(format!(
            "ferroflow: time per job grows {:.2}× from {} to {} queued jobs",
            per_job[per_job.len() - 1] / per_job[0],
            sizes.queues[0],
            sizes.queues[sizes.queues.len() - 1]
        ));
    }
    Ok(())
}

/// RSS with `tasks` tasks running at once (demo_sleep over two parties), then all stopped.
pub(super) async fn running_footprint(report: &mut Report, t: &Target, tasks: usize) -> Result<()> {
    let jobs = tasks / 2;
    let (dag, _) = work::demo_chain(1, 120.0);
    eprintln!("ferroflow: {jobs} jobs x 2 parties of demo_sleep(120) running at once");
    let results: Vec<Result<String>> = futures::stream::iter(0..jobs)
        .map(|_| t.submit(&dag))
        .buffer_unordered(8)
        .collect()
        .await;
    let ids: Vec<String> = results.into_iter().collect::<Result<_>>()?;
    let started = Instant::now();
    let mut running = 0;
    while started.elapsed() < Duration::from_secs(300) {
        let v: serde_json::Value = t
            .http
            .get(format!("{}/v2/job/task/list/query", t.url))
            .query(&[("status", "running"), ("limit", "1"), ("page", "1")])
            .send()
            .await?
            .json()
            .await?;
        running = v["data"]["count"].as_u64().unwrap_or(0) as usize;
        if running >= tasks {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss = work::rss_mib(t.pid).unwrap_or(f64::NAN);
    report.ff(
        "4",
        &format!("server RSS with {tasks} tasks running"),
        "MiB",
        rss,
    );
    if running < tasks {
        report.note(format!(
            "ferroflow: only {running} of {tasks} tasks were running when RSS was read"
        ));
    }
    let _: Vec<Result<()>> = futures::stream::iter(ids.iter())
        .map(|id| t.stop(id))
        .buffer_unordered(8)
        .collect()
        .await;
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline && t.count("running").await? > 0 {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}

pub(super) fn documented(report: &mut Report) {
    // shared/reference README: FATE Flow 2.2 on a 2-core machine, untraced, medians.
    report.documented(
        "1",
        "pyfate chain: producer end → next start p50",
        "ms",
        176.0,
    );
    report.documented(
        "1",
        "pyfate chain: submit → first task start p50",
        "ms",
        1930.0,
    );
    report.documented("3", "`/job/query` 1 client: p50", "ms", 5.1);
    report.documented("3", "`/job/query` 1 client: p99", "ms", 8.3);
    report.documented("3", "`/job/query` 8 clients: p50", "ms", 35.7);
    report.documented("3", "`/job/query` 8 clients: p99", "ms", 63.3);
    report.documented("4", "server RSS idle", "MiB", 99.5);
    report.documented("4", "server peak RSS over the run (VmHWM)", "MiB", 103.0);
    report.documented("5", "submit → success (wall time)", "s", 97.3);
}

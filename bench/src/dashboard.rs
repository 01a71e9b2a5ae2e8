//! `dashboard`: what the dashboard's pages cost on a site holding many jobs. One real demo
//! job runs on a standalone site; its `t_job` rows are then copied into `--jobs` jobs (every
//! tenth `failed`, creation times a second apart), straight into the site's database. Then
//! each page's requests are timed, in the order the browser makes them: the jobs page (HTML,
//! script, style, its first `/ui/api/jobs` page), a filtered and a deep page of the list, and
//! a job's page data; plus the same list request answered `304` (the live poll of an unchanged
//! list).
//!
//! Run: `cargo run --release -p ferroflow-bench -- dashboard --jobs 10000`

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use sqlx::Row;

use ferroflow::client::Client;

use crate::{demo_site, percentile};

pub async fn run(jobs: usize, reps: usize) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let site = demo_site(dir.path()).await?;
    let db_url = site.app.config.database.url.clone();
    let client = Client::new(&site.url);
    let data = dir.path().join("csv");
    std::fs::create_dir_all(&data)?;
    let (g, h) = (data.join("guest.csv"), data.join("host.csv"));
    std::fs::write(&g, ferroflow::component::sample::DEMO_GUEST_CSV)?;
    std::fs::write(&h, ferroflow::component::sample::DEMO_HOST_CSV)?;
    let job = client.submit(&ferroflow::demo::dag(&g, &h)).await?;
    let status = client.wait(&job, Duration::from_secs(120), |_| {}).await?;
    if status != "success" {
        bail!("the demo job ended {status}");
    }

    // Copies of the job's rows: job id `<id>c<i>`, created `i` seconds earlier.
    let started = Instant::now();
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&db_url).await?;
    let columns: Vec<String> = sqlx::query("SELECT name FROM pragma_table_info('t_job')")
        .fetch_all(&pool)
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>("name"))
        .collect::<Result<_, _>>()?;
    let select: Vec<String> = columns
        .iter()
        .map(|c| match c.as_str() {
            "f_job_id" => "f_job_id || 'c' || i".to_string(),
            "f_create_time" => "f_create_time - i * 1000".to_string(),
            "f_status" => "CASE WHEN i % 10 = 0 THEN 'failed' ELSE f_status END".to_string(),
            c => c.to_string(),
        })
        .collect();
    let sql = format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {})
         INSERT INTO t_job ({}) SELECT {} FROM t_job, n WHERE f_job_id = '{job}'",
        jobs.saturating_sub(1),
        columns.join(", "),
        select.join(", ")
    );
    sqlx::query(&sql)
        .execute(&pool)
        .await
        .context("copying the job")?;
    let rows: i64 = sqlx::query("SELECT COUNT(*) AS n FROM t_job")
        .fetch_one(&pool)
        .await?
        .try_get("n")?;
    sqlx::query("ANALYZE").execute(&pool).await?;
    pool.close().await;
    println!(
        "dashboard: {jobs} jobs ({rows} party rows of t_job) on one standalone site, made in {:.1} s; {reps} runs each\n",
        started.elapsed().as_secs_f64()
    );

    let http = reqwest::Client::new();
    let base = site.url.clone();
    let get = |path: String, etag: Option<String>| {
        let http = http.clone();
        let url = format!("{base}{path}");
        async move {
            let mut req = http.get(&url);
            if let Some(t) = etag {
                req = req.header("If-None-Match", t);
            }
            let r = req.send().await?;
            let status = r.status().as_u16();
            let etag = r
                .headers()
                .get("etag")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body = r.bytes().await?;
            anyhow::Ok((status, etag, body.len()))
        }
    };
    let first_page = "/ui/api/jobs?page=1&size=50".to_string();
    let (_, list_etag, list_bytes) = get(first_page.clone(), None).await?;
    let pages: Vec<(&str, Vec<String>, Option<String>)> = vec![
        (
            "jobs page: HTML + app.js + style.css + first 50 rows",
            vec![
                "/ui/".into(),
                "/ui/assets/app.js".into(),
                "/ui/assets/style.css".into(),
                first_page.clone(),
            ],
            None,
        ),
        (
            "list, first page only (/ui/api/jobs)",
            vec![first_page.clone()],
            None,
        ),
        (
            "list, unchanged (304 to If-None-Match)",
            vec![first_page.clone()],
            list_etag,
        ),
        (
            "list filtered: status=failed, party 10000",
            vec!["/ui/api/jobs?status=failed&party_id=10000&page=1&size=50".into()],
            None,
        ),
        (
            "list, page 200 (offset 9950 of 30000 rows)",
            vec!["/ui/api/jobs?page=200&size=50".into()],
            None,
        ),
        (
            "job page: HTML + /ui/api/job + /ui/api/events",
            vec![
                format!("/ui/job/{job}"),
                format!("/ui/api/job?job_id={job}"),
                format!("/ui/api/events?job_id={job}&after=0"),
            ],
            None,
        ),
    ];
    println!("{:<54} {:>10} {:>10}", "", "p50", "p95");
    for (name, paths, etag) in pages {
        let mut times = Vec::with_capacity(reps);
        for run in 0..=reps {
            let t = Instant::now();
            for p in &paths {
                let (status, _, _) = get(p.clone(), etag.clone()).await?;
                if status != 200 && status != 304 {
                    bail!("{p}: HTTP {status}");
                }
            }
            if run > 0 {
                times.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        times.sort_by(|a, b| a.total_cmp(b));
        println!(
            "{name:<54} {:>8.2}ms {:>8.2}ms",
            percentile(&times, 50.0),
            percentile(&times, 95.0)
        );
    }
    println!("\n(first list page: {list_bytes} bytes of JSON)");
    site.shutdown().await;
    Ok(())
}

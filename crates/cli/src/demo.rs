//! `ferroflow demo`: a standalone site in a fresh directory runs
//! `demo_reader → demo_transform → demo_train` for guest 9999, host 10000 and arbiter 9999 on
//! the bundled sample data, with live progress, then shows the outcome and how to look further.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use ferroflow_server::config::{Config, Overrides};
use ferroflow_server::{Options, Site};

use crate::builtins;
use crate::client::{Client, Credentials};
use crate::component::sample::{DEMO_GUEST_CSV, DEMO_HOST_CSV};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Where to keep the site's files (default: a new directory under the system temp dir).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Keep the site (and its dashboard) up after the job until Ctrl-C.
    #[arg(long)]
    pub keep: bool,
}

/// The demo DAG over two CSV files.
pub fn dag(guest_csv: &Path, host_csv: &Path) -> Value {
    let guest = json!([{"role": "guest", "party_id": ["9999"]}]);
    let host = json!([{"role": "host", "party_id": ["10000"]}]);
    let data_parties =
        json!([{"role": "guest", "party_id": ["9999"]}, {"role": "host", "party_id": ["10000"]}]);
    json!({
        "schema_version": "2.2.0",
        "dag": {
            "parties": [
                {"role": "guest", "party_id": ["9999"]},
                {"role": "host", "party_id": ["10000"]},
                {"role": "arbiter", "party_id": ["9999"]}
            ],
            "conf": {"task": {"provider": "demo:*@local"}},
            "stage": "default",
            "tasks": {
                "reader_0": {"component_ref": "demo_reader", "parties": data_parties},
                "transform_0": {
                    "component_ref": "demo_transform",
                    "parties": data_parties,
                    "parameters": {"scale": 1.0},
                    "inputs": {"data": {"input_data": {"task_output_artifact": {
                        "producer_task": "reader_0", "output_artifact_key": "output_data"}}}}
                },
                "train_0": {
                    "component_ref": "demo_train",
                    "stage": "train",
                    "parameters": {"max_iter": 10, "learning_rate": 0.1, "label": "y"},
                    "inputs": {"data": {"train_data": {"task_output_artifact": {
                        "producer_task": "transform_0", "output_artifact_key": "output_data",
                        "parties": data_parties}}}}
                }
            },
            "party_tasks": {
                "guest_9999": {"parties": guest, "tasks": {"reader_0": {"parameters": {"path": guest_csv}}}},
                "host_10000": {"parties": host, "tasks": {"reader_0": {"parameters": {"path": host_csv}}}}
            }
        }
    })
}

pub async fn run(args: Args) -> Result<bool> {
    let dir = match args.dir {
        Some(d) => d,
        None => tempfile::Builder::new()
            .prefix("ferroflow-demo-")
            .tempdir()?
            .keep(),
    };
    let data = dir.join("data");
    std::fs::create_dir_all(&data)?;
    let (guest_csv, host_csv) = (data.join("demo_guest.csv"), data.join("demo_host.csv"));
    std::fs::write(&guest_csv, DEMO_GUEST_CSV)?;
    std::fs::write(&host_csv, DEMO_HOST_CSV)?;

    let site_dir = dir.join("site");
    let config = Config::load(
        None,
        &Overrides {
            port: Some(0),
            data_dir: Some(site_dir.clone()),
            ..Default::default()
        },
    )?;
    // The demo's tables sit beside the site's directory: let components read them.
    let mut config = config;
    config.allowed_dirs.push(data.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let mut opts = Options::new(config);
    opts.builtins = builtins();
    let site = Site::start(opts, listener)
        .await
        .context("cannot start the site")?;
    println!(
        "ferroflow demo: a standalone site at {} (party 9999 serves guest 9999, host 10000, arbiter 9999)",
        site.url
    );

    // A demo site listens on loopback only and stays open, unless its config turns client
    // authentication on: then it signs with the admin app the site wrote.
    let credentials = if site.app.config.auth.client() {
        Credentials::from_env().or_else(|| Credentials::from_data_dir(&site.app.config.data_dir))
    } else {
        None
    };
    let client = Client::new(&site.url).with_credentials(credentials);
    let started = Instant::now();
    let job_id = client.submit(&dag(&guest_csv, &host_csv)).await?;
    println!("submitted job {job_id}: reader_0 -> transform_0 -> train_0\n");
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let status = client
        .wait(&job_id, Duration::from_secs(300), |tasks| {
            for t in tasks {
                let key = format!(
                    "{} {} {}",
                    t["task_name"].as_str().unwrap_or(""),
                    t["role"].as_str().unwrap_or(""),
                    t["party_id"].as_str().unwrap_or("")
                );
                let st = t["party_status"].as_str().unwrap_or("").to_string();
                if seen.get(&key) != Some(&st) {
                    println!(
                        "  [{:>6.2}s] {:<12} {:<8} {:<6} {}",
                        started.elapsed().as_secs_f64(),
                        t["task_name"].as_str().unwrap_or(""),
                        t["role"].as_str().unwrap_or(""),
                        t["party_id"].as_str().unwrap_or(""),
                        st
                    );
                    seen.insert(key, st);
                }
            }
        })
        .await?;
    println!(
        "\njob {job_id}: {status} in {:.2} s",
        started.elapsed().as_secs_f64()
    );

    if status != "success" {
        for t in client.tasks(&job_id).await? {
            if let Some(e) = t["error_report"].as_str().filter(|e| !e.is_empty()) {
                println!("  {} {} {}: {e}", t["task_name"], t["role"], t["party_id"]);
            }
        }
    } else {
        show_result(&client, &job_id).await?;
    }
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "ferroflow".into());
    println!(
        "\nThe site's files are kept in {}. To look further:",
        site_dir.display()
    );
    println!(
        "  {exe} serve --data-dir {} --port 9380",
        site_dir.display()
    );
    let q = format!("job_id={job_id}&role=guest&party_id=9999&task_name=train_0");
    println!("  curl -s 'http://127.0.0.1:9380/v2/job/query?job_id={job_id}'");
    println!("  curl -s 'http://127.0.0.1:9380/v2/job/task/query?job_id={job_id}'");
    println!("  curl -s 'http://127.0.0.1:9380/v2/output/metric/query?{q}'");
    println!("  curl -s 'http://127.0.0.1:9380/v2/output/model/query?{q}'");
    println!("\nDashboard of the demo site: {}/ui/job/{job_id}", site.url);
    if args.keep {
        println!("(the site stays up until Ctrl-C)");
        crate::serve::shutdown_signal().await;
        println!("stopping");
    } else {
        println!("(the site stops now; `demo --keep` keeps it up until Ctrl-C)");
    }
    site.shutdown().await;
    Ok(status == "success")
}

async fn show_result(client: &Client, job_id: &str) -> Result<()> {
    let metrics = client.metrics(job_id, "guest", "9999", "train_0").await?;
    let losses: Vec<(i64, f64)> = metrics
        .iter()
        .filter(|m| m["name"] == "loss")
        .flat_map(|m| m["data"].as_array().cloned().unwrap_or_default())
        .filter_map(|d| Some((d["step"].as_i64()?, d["metric"].get(0)?.as_f64()?)))
        .collect();
    if losses.is_empty() {
        bail!("the trained model posted no loss");
    }
    let max = losses.iter().map(|(_, l)| *l).fold(f64::MIN, f64::max);
    println!("\nloss of train_0 on guest 9999 (logistic regression on the guest's features):");
    for (step, loss) in &losses {
        let bar = "#".repeat(((loss / max) * 40.0).round() as usize);
        println!("  iteration {step:>2}  {loss:.4}  {bar}");
    }
    let model = client.models(job_id, "guest", "9999", "train_0").await?;
    if let Some(m) = model.get("output_model") {
        let n = m["coefficients"].as_array().map(Vec::len).unwrap_or(0);
        println!(
            "model output_model: {n} coefficients, intercept {}",
            m["intercept"]
        );
    }
    Ok(())
}

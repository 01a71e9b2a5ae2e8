//! The upload benchmark: a generated CSV through the data API of a real `ferroflow serve`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use ferroflow::client::Client;

/// Writes `size_mb` MB of `id,y,x0..x9` rows.
fn generate(path: &Path, size_mb: u64) -> Result<u64> {
    let target = size_mb * 1_000_000;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut written: u64 = 0;
    let header = "id,y,x0,x1,x2,x3,x4,x5,x6,x7,x8,x9\n";
    w.write_all(header.as_bytes())?;
    written += header.len() as u64;
    let mut row = String::with_capacity(128);
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut i: u64 = 0;
    while written < target {
        row.clear();
        row.push_str(&i.to_string());
        row.push_str(if i.is_multiple_of(3) { ",1" } else { ",0" });
        for _ in 0..10 {
            // SplitMix64: deterministic values with 4 decimals.
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            let v = (z % 40_000) as f64 / 10_000.0 - 2.0;
            row.push_str(&format!(",{v:.4}"));
        }
        row.push('\n');
        w.write_all(row.as_bytes())?;
        written += row.len() as u64;
        i += 1;
    }
    w.flush()?;
    Ok(written)
}

/// `VmHWM` of a process, in KiB.
fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// A file as a request body, read in 256 KiB chunks.
fn file_stream(file: tokio::fs::File) -> reqwest::Body {
    let stream = futures::stream::unfold(file, |mut f| async move {
        let mut buf = vec![0u8; 256 << 10];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(buf), f))
            }
            Err(e) => Some((Err(e), f)),
        }
    });
    reqwest::Body::wrap_stream(stream)
}

fn ferroflow_exe() -> Result<PathBuf> {
    let exe = std::env::current_exe()?.with_file_name("ferroflow");
    if !exe.exists() {
        bail!(
            "{} not found: build it first (cargo build --release -p ferroflow)",
            exe.display()
        );
    }
    Ok(exe)
}

pub async fn run(size_mb: u64, via: &str) -> Result<()> {
    if via != "multipart" && via != "file" {
        bail!("--via is multipart or file, not {via:?}");
    }
    let dir = tempfile::tempdir()?;
    let data_dir = dir.path().join("site");
    let upload_dir = data_dir.join("upload");
    std::fs::create_dir_all(&upload_dir)?;
    let csv = if via == "file" {
        upload_dir.join("big.csv")
    } else {
        dir.path().join("big.csv")
    };
    println!("generating {size_mb} MB of CSV ...");
    let bytes = generate(&csv, size_mb)?;

    let conf = dir.path().join("service_conf.yaml");
    std::fs::write(
        &conf,
        format!("upload_max_bytes: {}\n", bytes * 2 + (1 << 20)),
    )?;
    let mut child = tokio::process::Command::new(ferroflow_exe()?)
        .args(["serve", "--port", "0", "--data-dir"])
        .arg(&data_dir)
        .arg("--config")
        .arg(&conf)
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(
            dir.path().join("server.log"),
        )?))
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().context("server pid")?;
    let mut lines = BufReader::new(child.stdout.take().context("server stdout")?).lines();
    let url = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(i) = line.find("http://") {
                return Some(
                    line[i..]
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_string(),
                );
            }
        }
        None
    })
    .await
    .context("server did not start")?
    .context("server exited")?;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let rss_idle = peak_rss_kb(pid).unwrap_or(0);
    let http = reqwest::Client::new();

    let started = Instant::now();
    let reply: Value = if via == "multipart" {
        let file = tokio::fs::File::open(&csv).await?;
        let part = reqwest::multipart::Part::stream_with_length(file_stream(file), bytes)
            .file_name("big.csv");
        let form = reqwest::multipart::Form::new()
            .text("head", "true")
            .text("partitions", "4")
            .text("meta", r#"{"delimiter": ",", "match_id_name": "id"}"#)
            .text("namespace", "bench")
            .text("name", "big")
            .part("file", part);
        http.post(format!("{url}/v2/data/component/upload/file"))
            .multipart(form)
            .send()
            .await?
            .json()
            .await?
    } else {
        http.post(format!("{url}/v2/data/component/upload"))
            .json(&json!({"file": "big.csv", "head": true, "partitions": 4,
                          "meta": {"delimiter": ",", "match_id_name": "id"},
                          "namespace": "bench", "name": "big"}))
            .send()
            .await?
            .json()
            .await?
    };
    let accepted = started.elapsed().as_secs_f64();
    if reply["code"] != 0 {
        bail!("upload refused: {reply}");
    }
    let job = reply["job_id"].as_str().context("job id")?.to_string();
    let client = Client::new(&url);
    let status = client.wait(&job, Duration::from_secs(3600), |_| {}).await?;
    let total = started.elapsed().as_secs_f64();
    if status != "success" {
        bail!(
            "upload job {job} ended {status} (see {})",
            dir.path().join("server.log").display()
        );
    }
    let rss_server = peak_rss_kb(pid).unwrap_or(0);
    let log = data_dir
        .join("logs")
        .join(&job)
        .join("local/0/upload_0/root/INFO");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let field = |k: &str| {
        text.lines()
            .filter(|l| l.contains("upload written"))
            .find_map(|l| {
                l.split_whitespace()
                    .find_map(|w| w.strip_prefix(k))
                    .map(str::to_string)
            })
    };
    let table: Value = http
        .get(format!("{url}/v2/table/query?namespace=bench&name=big"))
        .send()
        .await?
        .json()
        .await?;
    let _ = child.kill().await;

    let mb = bytes as f64 / 1e6;
    println!(
        "upload of {mb:.0} MB ({} rows) via {via}",
        table["data"]["count"]
    );
    println!(
        "  request accepted after  {accepted:>8.2} s   ({:.1} MB/s received)",
        if via == "multipart" {
            mb / accepted
        } else {
            f64::NAN
        }
    );
    println!(
        "  table ready after       {total:>8.2} s   ({:.1} MB/s end to end)",
        mb / total
    );
    if let Some(s) = field("mb_per_s=") {
        println!(
            "  component conversion    {:>8} MB/s",
            s.parse::<f64>().map(|v| format!("{v:.1}")).unwrap_or(s)
        );
    }
    println!(
        "  server peak RSS         {:>8.1} MB   (idle: {:.1} MB)",
        rss_server as f64 / 1024.0,
        rss_idle as f64 / 1024.0
    );
    if let Some(kb) = field("peak_rss_kb=").and_then(|v| v.parse::<f64>().ok()) {
        println!("  upload component peak   {:>8.1} MB", kb / 1024.0);
    }
    Ok(())
}

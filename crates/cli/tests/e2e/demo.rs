//! `ferroflow demo`: it ends with the demo job's dashboard address; with `--keep` the site stays
//! up, serving it, until a signal.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const DASHBOARD: &str = "Dashboard of the demo site: ";

#[tokio::test]
async fn the_demo_ends_with_its_dashboard_and_keep_keeps_it_up_until_a_signal() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferroflow"))
        .args(["demo", "--keep", "--dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    let url = tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(url) = line.strip_prefix(DASHBOARD) {
                return url.trim().to_string();
            }
            seen.push(line);
        }
        panic!(
            "the demo ended without a dashboard address:\n{}",
            seen.join("\n")
        );
    })
    .await
    .expect("the demo job ends within 2 minutes");
    assert!(
        seen.iter().any(|l| l.contains(": success in ")),
        "{}",
        seen.join("\n")
    );
    // The site is still up and serves the job's page.
    let page = reqwest::get(&url).await.unwrap();
    assert_eq!(page.status(), 200, "{url}");
    assert!(page.text().await.unwrap().contains("data-view=\"job\""));
    let pid = child.id().unwrap();
    let status = std::process::Command::new("kill")
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("the demo stops on SIGTERM")
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    assert!(
        reqwest::get(&url).await.is_err(),
        "the site still answers after the demo stopped"
    );
}

//! Two sites as two `ferroflow serve` processes that know each other only through the peer
//! cards `ferroflow keys` made: every site command over mutual TLS (HTTPS one way, gRPC the
//! other), signed.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::json;

use super::jobs::fan_dag;
use super::support::Server;

fn ferroflow(args: &[&str], data_dir: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ferroflow"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .expect("ferroflow runs");
    assert!(
        out.status.success(),
        "ferroflow {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn two_sites_over_mutual_tls_with_cards_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let (a_dir, b_dir) = (dir.path().join("a"), dir.path().join("b"));
    let (a_site, b_site) = (a_dir.join("site"), b_dir.join("site"));
    for (site, party) in [(&a_site, "9999"), (&b_site, "10000")] {
        ferroflow(
            &["keys", "init", "--party", party, "--host", "127.0.0.1"],
            site,
        );
        use std::os::unix::fs::PermissionsExt as _;
        for f in ["site.key", "sign.key", "site.crt"] {
            let mode = std::fs::metadata(site.join("credentials").join(f))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
    }
    for (site, peer) in [(&a_site, &b_site), (&b_site, &a_site)] {
        let card = dir.path().join("card.json");
        std::fs::write(&card, ferroflow(&["keys", "export"], peer)).unwrap();
        let out = ferroflow(&["keys", "add-peer", card.to_str().unwrap()], site);
        assert!(out.contains("trusted key"), "{out}");
    }
    let listed = ferroflow(&["keys", "list"], &a_site);
    assert!(listed.contains("parties 10000"), "{listed}");

    let (a_grpcs, b_https) = (free_port(), free_port());
    let allowed = format!("allowed_dirs: [{:?}]\n", dir.path().display().to_string());
    let a = Server::start(
        &a_dir,
        "9999",
        Some(&format!(
            "security: {{tls: {{grpc_port: {a_grpcs}}}}}\n\
             routes:\n  '10000': https://127.0.0.1:{b_https}\n{allowed}"
        )),
    )
    .await;
    let b = Server::start(
        &b_dir,
        "10000",
        Some(&format!(
            "security: {{tls: {{port: {b_https}}}}}\n\
             routes:\n  '9999': grpcs://127.0.0.1:{a_grpcs}\n{allowed}"
        )),
    )
    .await;

    // Without a certificate of a trusted site, the site port answers nothing.
    let curl = Command::new("curl")
        .args(["-sk", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"])
        .arg(format!("https://127.0.0.1:{b_https}/v2/partner/job/create"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&curl.stdout),
        "000",
        "refused at the handshake"
    );

    let dag = fan_dag(dir.path(), "callback");
    let reply = a.curl_post("/v2/job/submit", &json!({"dag_schema": dag}));
    assert_eq!(reply["code"], 0, "{reply}");
    let job = reply["job_id"].as_str().unwrap().to_string();
    a.wait_job(&job, &["success", "failed"], Duration::from_secs(60))
        .await;
    assert_eq!(a.job_statuses(&job).await, vec!["success"; 2]);
    b.wait_job(&job, &["success", "failed"], Duration::from_secs(30))
        .await;
    assert_eq!(b.job_statuses(&job).await, vec!["success"]);
    a.stop().await;
    b.stop().await;
}

//! ferroflow sites authenticating each other: mutual TLS on the site ports (HTTPS and gRPC),
//! Ed25519-signed commands, replay refusal, and a relay that passes a signature on untouched.
//! Every refused command leaves no job on its target.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use tokio::net::TcpListener;

use ferroflow_core::id::PartyId;
use ferroflow_server::config::{Config, TlsConfig};
use ferroflow_server::federation::Command;
use ferroflow_server::federation::route::Route;
use ferroflow_server::federation::sign;
use ferroflow_server::tls::credentials;
use ferroflow_wire::Envelope;

use super::support::{Listeners, SiteSpec, TestSite, sleep_dag};
use super::two_sites::run_chain;

/// A site's listeners and credentials, made before it starts (peers need its card and
/// addresses first).
struct Node {
    party: &'static str,
    dir: tempfile::TempDir,
    http: TcpListener,
    tls: TcpListener,
    grpcs: TcpListener,
    files: TlsConfig,
}

impl Node {
    async fn new(party: &'static str) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let files = TlsConfig::in_dir(&dir.path().join("credentials"));
        credentials::init(&files, &[party.to_string()], &["127.0.0.1".into()]).unwrap();
        let bind = || TcpListener::bind("127.0.0.1:0");
        Node {
            party,
            dir,
            http: bind().await.unwrap(),
            tls: bind().await.unwrap(),
            grpcs: bind().await.unwrap(),
            files,
        }
    }

    fn https(&self) -> String {
        format!("https://{}", self.tls.local_addr().unwrap())
    }

    fn grpcs(&self) -> String {
        format!("grpcs://{}", self.grpcs.local_addr().unwrap())
    }

    /// This node trusts `other`'s card.
    fn trusts(&self, other: &Node) {
        let card = credentials::export(&other.files).unwrap();
        credentials::add_peer(&self.files, &card.to_text()).unwrap();
    }

    async fn start(self, routes: &[(&str, String)]) -> TestSite {
        let spec = SiteSpec {
            party_id: self.party,
            routes: routes
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect::<BTreeMap<_, _>>(),
            autostart: false,
            cores: None,
            configure: Some(secure),
        };
        let extra = Listeners {
            grpc: None,
            tls: Some(self.tls),
            grpcs: Some(self.grpcs),
        };
        TestSite::start_with(spec, self.dir, self.http, extra).await
    }
}

/// `security.tls` with the files `keys init` wrote in the site's data dir.
fn secure(c: &mut Config) {
    c.tls = Some(TlsConfig::in_dir(&c.data_dir.join("credentials")));
}

fn tls_url(site: &TestSite) -> String {
    format!("https://{}", site.site.tls_addr.unwrap())
}

/// A client presenting `site`'s certificate.
fn client_of(site: &TestSite) -> reqwest::Client {
    let sec = site.site.app.fed.security().unwrap();
    reqwest::Client::builder()
        .use_preconfigured_tls(sec.http_client_config())
        .build()
        .unwrap()
}

/// A job creation for `host` (a valid one: a participant accepting it stores the job).
fn create(job_id: &str, host: &str) -> Value {
    let mut schema = sleep_dag(
        &[("a", "demo_sleep", &[])],
        json!({"scheduler_party_id": "9999", "initiator_party_id": "9999"}),
    );
    schema["dag"]["parties"][1]["party_id"] = json!([host]);
    json!({
        "dag": schema["dag"],
        "schema_version": "2.2.0",
        "job_id": job_id,
        "role": "host",
        "party_id": host,
    })
}

fn job_create(job_id: &str, host: &str) -> ferroflow_wire::partner::JobCreate {
    let v = create(job_id, host);
    ferroflow_wire::partner::JobCreate {
        dag: v["dag"].clone(),
        schema_version: "2.2.0".into(),
        kind: None,
        target: ferroflow_wire::partner::JobTarget {
            job_id: job_id.into(),
            role: "host".into(),
            party_id: host.into(),
        },
    }
}

fn command(dest: &str, path: &str, body: &Value) -> Command {
    Command {
        dest: PartyId::new(dest),
        method: "POST".into(),
        path: path.into(),
        headers: vec![
            ("dest-party-id".into(), dest.into()),
            ("service".into(), "fateflow".into()),
            ("initiator-party-id".into(), "9999".into()),
        ],
        body: serde_json::to_vec(body).unwrap().into(),
    }
}

/// Sends `cmd` as it is over `client` to `base`; the envelope, or the transport's error.
async fn send(client: &reqwest::Client, base: &str, cmd: &Command) -> Result<Envelope, String> {
    let mut req = client
        .post(format!("{base}{}", cmd.path))
        .header("content-type", "application/json")
        .body(cmd.body.clone());
    for (k, v) in &cmd.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let resp = req.send().await.map_err(|e| format!("{e:?}"))?;
    assert_eq!(resp.status(), 200);
    resp.json().await.map_err(|e| e.to_string())
}

async fn has_job(site: &TestSite, job_id: &str) -> bool {
    let e = site.get("/v2/job/query", &[("job_id", job_id)]).await;
    e.code == 0
        && e.data
            .is_some_and(|d| d.as_array().is_some_and(|a| !a.is_empty()))
}

#[tokio::test]
async fn a_job_across_two_sites_over_mutual_tls_with_signed_commands() {
    let (na, nb) = (Node::new("9999").await, Node::new("10000").await);
    na.trusts(&nb);
    nb.trusts(&na);
    // A reaches B over HTTPS, B reaches A over gRPC with TLS.
    let (to_b, to_a) = (nb.https(), na.grpcs());
    let a = na.start(&[("10000", to_b)]).await;
    let b = nb.start(&[("9999", to_a)]).await;
    // B schedules: A's submit and reports go to B over HTTPS, B's commands to A over gRPC.
    run_chain(&a, &b, "10000").await;
    let grpc = |s: &TestSite| {
        s.site
            .app
            .fed
            .counters
            .over_grpc
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    assert!(grpc(&b) > 0, "B's commands went over gRPC with TLS");
    assert_eq!(grpc(&a), 0, "A's went over HTTPS");
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn refused_commands_leave_no_trace() {
    let (na, nb, nc, nd) = (
        Node::new("9999").await,
        Node::new("10000").await,
        Node::new("10001").await,
        Node::new("7777").await,
    );
    na.trusts(&nb);
    nb.trusts(&na);
    nb.trusts(&nc);
    nc.trusts(&nb);
    // D trusts B, B does not know D: only B's refusal can stop D.
    nd.trusts(&nb);
    let (to_b, to_b_grpcs) = (nb.https(), nb.grpcs());
    let a = na.start(&[("10000", to_b.clone())]).await;
    let b = nb.start(&[]).await;
    // C reaches B over gRPC with TLS.
    let c = nc.start(&[("10000", to_b_grpcs)]).await;
    let d = nd.start(&[("10000", to_b.clone())]).await;
    let base = tls_url(&b);
    let route = Route::parse(&to_b).unwrap();
    let path = "/v2/partner/job/create";

    // An unknown certificate: no answer at all, the handshake fails.
    let job = "202612040000000000001";
    let signed = d
        .site
        .app
        .fed
        .signed(&command("10000", path, &create(job, "10000")), &route);
    let e = send(&client_of(&d), &base, &signed).await;
    assert!(e.is_err(), "an unknown certificate was answered: {e:?}");
    // Nor does a plain client get in.
    assert!(
        reqwest::Client::new()
            .post(format!("{base}{path}"))
            .send()
            .await
            .is_err()
    );
    assert!(!has_job(&b, job).await);

    // A trusted certificate (C's) signing for a party it does not serve (A's 9999).
    let job = "202612040000000000002";
    let cmd = command("10000", path, &create(job, "10000"));
    let sec_c = c.site.app.fed.security().unwrap();
    let nonce = sign::nonce();
    let mut forged = cmd.clone();
    forged.headers.push(("src-party-id".into(), "9999".into()));
    forged.headers.extend(sec_c.signing.headers(&sign::Signed {
        method: "POST",
        path,
        body: &cmd.body,
        timestamp_ms: sign::now_ms(),
        nonce: &nonce,
        src: "9999",
        dest: "10000",
        initiator: "9999",
    }));
    let e = send(&client_of(&c), &base, &forged).await.unwrap();
    assert_eq!(e.code, 5004, "{}", e.message);
    assert!(
        e.message.contains("not a party of signing key"),
        "{}",
        e.message
    );
    assert!(!has_job(&b, job).await);

    // A's own signature, its body changed on the way.
    let mut tampered = a.site.app.fed.signed(&cmd, &route);
    tampered.body = serde_json::to_vec(&create("202612040000000000009", "10000"))
        .unwrap()
        .into();
    let e = send(&client_of(&a), &base, &tampered).await.unwrap();
    assert_eq!(e.code, 5003, "{}", e.message);
    assert!(!has_job(&b, "202612040000000000009").await);
    assert!(!has_job(&b, job).await);

    // Over the TLS port, unsigned is refused; so is anything but a site command.
    let e = send(&client_of(&a), &base, &cmd).await.unwrap();
    assert_eq!(e.code, 5004, "{}", e.message);
    assert!(!has_job(&b, job).await);
    let e: Envelope = client_of(&a)
        .get(format!("{base}/v2/job/query?job_id={job}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(e.code, 5004, "api-1 over the site port: {}", e.message);

    // A connection that never says anything holds up no one's handshake.
    let _silent = tokio::net::TcpStream::connect(b.site.tls_addr.unwrap())
        .await
        .unwrap();
    // Signed properly it is accepted once; the same bytes again are a replay.
    let signed = a.site.app.fed.signed(&cmd, &route);
    let e = send(&client_of(&a), &base, &signed).await.unwrap();
    assert_eq!(e.code, 0, "{}", e.message);
    assert!(has_job(&b, job).await);
    let e = send(&client_of(&a), &base, &signed).await.unwrap();
    assert_eq!(e.code, 5003, "{}", e.message);
    assert!(e.message.contains("replayed"), "{}", e.message);
    // A signed command replayed on the plain port is refused the same way.
    let e = send(&reqwest::Client::new(), b.url(), &signed)
        .await
        .unwrap();
    assert_eq!(e.code, 5003, "{}", e.message);

    // Each refusal's only trace is its audit row on B: the handshakes (D's certificate, the
    // client without one), the forged source, the changed body, the unsigned command, api-1
    // on the site port, the replays.
    let rows = super::support::eventually(
        std::time::Duration::from_secs(10),
        "B's audit rows of every refusal",
        || async {
            b.site.app.audit.flush().await;
            let (rows, _) = b
                .site
                .app
                .store
                .query_audit(&ferroflow_server::store::AuditFilter {
                    limit: 1000,
                    ..Default::default()
                })
                .await
                .unwrap();
            let handshakes = rows
                .iter()
                .filter(|r| r.group == "tls" && r.result == "refused")
                .count();
            (handshakes >= 2).then_some(rows)
        },
    )
    .await;
    let refused = |code: i64, route: &str| {
        rows.iter()
            .filter(|r| r.code == code && r.route == route && r.result == "refused")
            .count()
    };
    assert_eq!(refused(5004, path), 2, "forged source, unsigned: {rows:?}");
    assert_eq!(
        refused(5003, path),
        3,
        "changed body, two replays: {rows:?}"
    );
    assert_eq!(refused(5004, "/v2/job/query"), 1, "api-1 on the site port");
    assert!(
        rows.iter()
            .filter(|r| r.group == "tls")
            .all(|r| !r.peer.is_empty() && r.code == 5004),
        "{rows:?}"
    );

    for s in [a, b, c, d] {
        s.stop().await;
    }
}

/// A → relay B → C: B passes A's signed command on untouched (A to B over HTTPS, B to C
/// over gRPC with TLS); C verifies A's signature although the connection is B's.
#[tokio::test]
async fn a_relayed_command_keeps_its_senders_signature() {
    let (na, nb, nc) = (
        Node::new("9999").await,
        Node::new("8888").await,
        Node::new("10000").await,
    );
    // TLS hops: A↔B, B↔C. Signatures: C knows A's key (A's card), A knows nothing of C.
    na.trusts(&nb);
    nb.trusts(&na);
    nb.trusts(&nc);
    nc.trusts(&nb);
    nc.trusts(&na);
    let (to_b, to_c) = (nb.https(), nc.grpcs());
    let a = na.start(&[("10000", to_b.clone())]).await;
    let b = nb.start(&[("10000", to_c)]).await;
    let c = nc.start(&[]).await;

    let job = "202612040000000000003";
    let e = a
        .site
        .app
        .fed
        .send(
            &PartyId::new("10000"),
            ferroflow_wire::partner::JOB_CREATE,
            &job_create(job, "10000"),
        )
        .await;
    assert_eq!(e.code, 0, "{}", e.message);
    assert!(has_job(&c, job).await, "created on C through B");
    assert!(!has_job(&b, job).await, "the relay keeps nothing");

    // A command captured on the way and sent again through the relay: C has seen it.
    let job = "202612040000000000004";
    let cmd = command("10000", "/v2/partner/job/create", &create(job, "10000"));
    let signed = a.site.app.fed.signed(&cmd, &Route::parse(&to_b).unwrap());
    let e = send(&client_of(&a), &tls_url(&b), &signed).await.unwrap();
    assert_eq!(e.code, 0, "{}", e.message);
    assert!(has_job(&c, job).await);
    let e = send(&client_of(&a), &tls_url(&b), &signed).await.unwrap();
    assert_eq!(e.code, 5003, "{}", e.message);

    // A relay that changes what it passes on (here the initiator, which decides permission
    // checks) is caught by C.
    let job = "202612040000000000005";
    let cmd = command("10000", "/v2/partner/job/create", &create(job, "10000"));
    let mut changed = a.site.app.fed.signed(&cmd, &Route::parse(&to_b).unwrap());
    changed.headers.retain(|(k, _)| k != "initiator-party-id");
    changed
        .headers
        .push(("initiator-party-id".into(), "10000".into()));
    let e = b.site.app.fed.relay(changed).await.unwrap();
    assert_eq!(e["code"], 5003, "{e}");
    assert!(!has_job(&c, job).await);

    for s in [a, b, c] {
        s.stop().await;
    }
}

//! A site standing where FATE sites put their proxy: commands for parties it does not serve
//! are passed on by its route table, over HTTP (`dest-party-id`) and over gRPC (`unaryCall`),
//! and a party without a route or an answer is FATE's 104 naming it.

use std::collections::BTreeMap;

use prost::Message as _;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use ferroflow_server::federation::grpc::{self, Packet};

use super::support::{SiteSpec, TestSite, sleep_dag};
use super::two_sites::run_chain;

pub async fn bind() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap().to_string();
    (l, a)
}

fn spec(party: &'static str, routes: &[(&str, String)]) -> SiteSpec {
    SiteSpec {
        party_id: party,
        routes: routes
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect::<BTreeMap<_, _>>(),
        autostart: false,
        cores: None,
        configure: None,
    }
}

fn multi_party(c: &mut ferroflow_server::config::Config) {
    c.engines.federation = "rabbitmq".into();
}

/// A counter (or a labelled series) from a site's `/metrics`.
async fn metric(site: &TestSite, series: &str) -> u64 {
    let (_, _, body) = site
        .raw(reqwest::Client::new().get(format!("{}/metrics", site.url())))
        .await;
    let text = String::from_utf8(body).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{series} not in /metrics"))
}

/// A relay-only site (party 8888) and two sites that know nothing but the relay (`default`),
/// every site reached over `scheme` (`http` or `grpc`).
async fn behind_a_relay(scheme: &str) -> [TestSite; 3] {
    let grpc = scheme == "grpc";
    let mut listeners = Vec::new();
    for _ in 0..3 {
        let (http, http_addr) = bind().await;
        let (g, grpc_addr) = bind().await;
        let addr = if grpc { grpc_addr } else { http_addr };
        listeners.push((http, grpc.then_some(g), format!("{scheme}://{addr}")));
    }
    let [relay, a, b] = [0, 1, 2].map(|i| listeners[i].2.clone());
    let specs = [
        spec("8888", &[("9999", a), ("10000", b)]),
        spec("9999", &[("default", relay.clone())]),
        spec("10000", &[("default", relay)]),
    ];
    let mut sites = Vec::new();
    for (spec, (http, grpc, _)) in specs.into_iter().zip(listeners) {
        let dir = tempfile::tempdir().unwrap();
        sites.push(TestSite::start_with_grpc(spec, dir, http, grpc).await);
    }
    sites.try_into().unwrap_or_else(|_| unreachable!())
}

#[tokio::test]
async fn jobs_run_with_every_command_relayed_over_http() {
    let [relay, sa, sb] = behind_a_relay("http").await;
    run_chain(&sa, &sb, "9999").await;
    // Commands to 10000 and 10000's reports, none direct: the sites know only the relay.
    assert!(metric(&relay, "ferroflow_commands_relayed_total").await > 0);
    assert_eq!(
        metric(&relay, "ferroflow_commands_undelivered_total").await,
        0
    );
    for s in [relay, sa, sb] {
        s.stop().await;
    }
}

#[tokio::test]
async fn jobs_run_with_every_command_relayed_over_grpc() {
    let [relay, sa, sb] = behind_a_relay("grpc").await;
    run_chain(&sa, &sb, "10000").await;
    for s in [&sa, &sb, &relay] {
        assert!(metric(s, "ferroflow_commands_sent_total{transport=\"grpc\"}").await > 0);
    }
    assert!(metric(&relay, "ferroflow_commands_relayed_total").await > 0);
    assert_eq!(
        metric(&relay, "ferroflow_commands_undelivered_total").await,
        0
    );
    for s in [relay, sa, sb] {
        s.stop().await;
    }
}

/// What a FATE Flow site sends in `proxy_name: osx` mode, answered as a FATE Flow site
/// answers (`federation.md` §4.2, §5).
#[tokio::test]
async fn a_fate_packet_is_answered_like_fate_flow() {
    let (l, _) = bind().await;
    let (g, addr) = bind().await;
    let site = TestSite::start_with_grpc(
        SiteSpec::standalone(),
        tempfile::tempdir().unwrap(),
        l,
        Some(g),
    )
    .await;
    let job = site
        .submit(sleep_dag(&[("a", "demo_sleep", &[])], json!({})))
        .await;
    let headers = json!({"dest-party-id": "9999", "service": "fateflow", "initiator-party-id": ""});
    let body = json!({"job_id": job, "role": "guest", "party_id": "9999", "task_id": format!("{job}_a"), "task_version": 0});
    let packet = Packet {
        header: Some(grpc::Metadata {
            task: Some(grpc::Task {
                task_id: job.clone(),
                model: Some(grpc::Model {
                    name: "headers".into(),
                    data_key: headers.to_string(),
                }),
            }),
            src: Some(grpc::Topic {
                name: job.clone(),
                party_id: "9999".into(),
                role: "fateflow".into(),
                callback: None,
            }),
            dst: Some(grpc::Topic {
                name: job.clone(),
                party_id: "9999".into(),
                role: "fateflow".into(),
                callback: None,
            }),
            command: Some(grpc::CommandName {
                name: "/v2/partner/task/collect".into(),
            }),
            operator: "POST".into(),
            conf: Some(grpc::Conf {
                overall_timeout: 10,
                ..Default::default()
            }),
            ..Default::default()
        }),
        body: Some(grpc::Data {
            key: "/v2/partner/task/collect".into(),
            value: body.to_string().into_bytes(),
        }),
    };
    let reply = unary_call(&addr, packet).await;
    let value: Value = serde_json::from_slice(&reply.body.as_ref().unwrap().value).unwrap();
    assert_eq!(value["code"], 0, "{value}");
    assert_eq!(value["data"]["party_status"], "waiting");
    let h = reply.header.unwrap();
    assert_eq!(h.conf.unwrap().overall_timeout, 30_000);
    assert_eq!(h.src.unwrap().party_id, "9999");
    assert_eq!(h.command.unwrap().name, "/v2/partner/task/collect");
    site.stop().await;
}

pub async fn unary_call(addr: &str, packet: Packet) -> Packet {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = tonic::client::Grpc::new(channel);
    client.ready().await.unwrap();
    let path = axum::http::uri::PathAndQuery::from_static(grpc::UNARY_CALL);
    // A raw round trip through prost first: the packet is what any gRPC client sends.
    let packet = Packet::decode(packet.encode_to_vec().as_slice()).unwrap();
    client
        .unary(
            tonic::Request::new(packet),
            path,
            tonic_prost::ProstCodec::<Packet, Packet>::default(),
        )
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test]
async fn a_party_without_route_or_answer_is_104_naming_it() {
    let (closed, dead) = bind().await;
    drop(closed);
    let mut s = spec(
        "9999",
        &[
            ("10000", format!("http://{dead}")),
            ("10001", format!("grpc://{dead}")),
        ],
    );
    s.configure = Some(multi_party);
    let site = TestSite::start(s).await;
    let send = |party: &'static str| {
        let url = format!("{}/v2/partner/job/status/update", site.url());
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .header("dest-party-id", party)
                .json(
                    &json!({"job_id": "x", "role": "host", "party_id": party, "status": "running"}),
                )
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };
    let none = send("10002").await;
    assert_eq!(none["code"], 104);
    assert!(
        none["message"]
            .as_str()
            .unwrap()
            .contains("party 10002: no route"),
        "{none}"
    );
    let http = send("10000").await;
    assert_eq!(http["code"], 104);
    let m = http["message"].as_str().unwrap();
    assert!(
        m.contains(&format!("party 10000 at http://{dead}")) && m.contains("cannot connect"),
        "{m}"
    );
    let grpc = send("10001").await;
    assert_eq!(grpc["code"], 104);
    let m = grpc["message"].as_str().unwrap();
    assert!(m.contains(&format!("party 10001 at grpc://{dead}")), "{m}");

    // A job naming a party nobody routes is refused at submission, naming it.
    let mut dag = sleep_dag(&[("a", "demo_sleep", &[])], json!({}));
    dag["dag"]["parties"][1]["party_id"] = json!(["10002"]);
    let e = site
        .post("/v2/job/submit", json!({ "dag_schema": dag }))
        .await;
    assert_ne!(e.code, 0);
    assert!(e.message.contains("10002"), "{}", e.message);
    site.stop().await;
}

#[tokio::test]
async fn route_tables_that_loop_end_in_104() {
    let ((la, a), (lp, p)) = (bind().await, bind().await);
    let sa = TestSite::start_on(
        spec("9999", &[("10000", format!("http://{p}"))]),
        tempfile::tempdir().unwrap(),
        la,
    )
    .await;
    let sp = TestSite::start_on(
        spec("8888", &[("10000", format!("http://{a}"))]),
        tempfile::tempdir().unwrap(),
        lp,
    )
    .await;
    let r: Value = reqwest::Client::new()
        .post(format!("{}/v2/partner/job/stop", sa.url()))
        .header("dest-party-id", "10000")
        .json(&json!({"job_id": "x", "role": "host", "party_id": "10000"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["code"], 104);
    assert!(r["message"].as_str().unwrap().contains("loop"), "{r}");
    sa.stop().await;
    sp.stop().await;
}

/// A foreign initiator may send `/scheduler/job/create` without `initiator-party-id` and without
/// the conf fields; FATE participants silently drop a job that lacks any of them.
#[tokio::test]
async fn a_created_job_carries_every_conf_field_fate_participants_need() {
    let site = TestSite::start(SiteSpec::standalone()).await;
    let dag = sleep_dag(&[("a", "demo_sleep", &[])], json!({}));
    let r: Value = reqwest::Client::new()
        .post(format!("{}/v2/scheduler/job/create", site.url()))
        .json(&dag)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["code"], 0, "{r}");
    let job = r["job_id"].as_str().unwrap().to_string();
    assert!(job.len() <= 25, "FATE's job id column");
    let q = site.get_value("/v2/job/query", &[("job_id", &job)]).await;
    let conf = &q["data"][0]["dag"]["dag"]["conf"];
    for field in [
        "model_id",
        "model_version",
        "sync_type",
        "scheduler_party_id",
        "initiator_party_id",
    ] {
        assert!(
            conf[field].as_str().is_some_and(|s| !s.is_empty()),
            "{field} missing in {conf}"
        );
    }
    assert_eq!(conf["initiator_party_id"], "9999");
    site.stop().await;
}

//! FATE's site authentication on real sites over HTTP and gRPC: commands between sites signed
//! and verified, unsigned ones refused, ferroflow's own scheme left to its verifier.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use ferroflow_server::auth::fate;
use ferroflow_server::clock::Clock;
use ferroflow_server::federation::{Command, grpc};

use super::auth::{send, site_on, with};
use super::relay::{bind, unary_call};
use super::support::{SiteSpec, TestSite, sleep_dag};
use super::two_sites::{run_chain, tick};

#[tokio::test]
async fn a_site_signs_commands_to_its_own_parties_and_refuses_unsigned_ones() {
    let site = TestSite::start(SiteSpec {
        configure: Some(site_on),
        ..SiteSpec::standalone()
    })
    .await;
    // Submit goes to the scheduler and every party over HTTP, signed with the own party's
    // site app (made at start, also its partner entry).
    let job = site
        .submit(sleep_dag(&[("a", "demo_sleep", &[])], json!({})))
        .await;
    tick(&site, &site).await;
    assert_eq!(site.launcher.launched().len(), 2, "guest and host run");

    let update = json!({"job_id": job, "role": "guest", "party_id": "9999", "status": "running"});
    let url = format!("{}/v2/partner/job/status/update", site.url());
    let v = send(site.http.post(&url).json(&update)).await;
    assert_eq!(
        (v["code"].as_i64(), v["message"].as_str()),
        (Some(5001), Some("invalid parameter: appId"))
    );
    let v = send(
        site.http
            .post(format!("{}/v2/scheduler/job/stop", site.url()))
            .json(&json!({"job_id": job})),
    )
    .await;
    assert_eq!(v["code"], 5001, "{v}");
    assert_eq!(
        site.launcher.alive_count(),
        2,
        "the refused stop stopped nothing"
    );

    // A client app has no `site` role: 5004 naming app, path and method.
    let created = site
        .post("/v2/app/client/create", json!({"app_name": "c"}))
        .await;
    assert_eq!(created.code, 5005, "no appId: the app rules refuse");
    let own = site.site.app.store.partners(Some("9999")).await.unwrap()[0].clone();
    site.site
        .app
        .store
        .set_roles(&own.app_id, &["client"], 0)
        .await
        .unwrap();
    let headers = fate::site_headers(&own.app_id, &own.app_token, "", site.clock.now_ms());
    let v = send(with(site.http.post(&url).json(&update), &headers)).await;
    assert_eq!(v["code"], 5004, "{v}");
    assert_eq!(
        v["message"],
        format!(
            "Authentication Failed: app_id[{}, path[/v2/partner/job/status/update, method[POST]]]",
            own.app_id
        )
    );
    site.site
        .app
        .store
        .set_roles(&own.app_id, &["site"], 0)
        .await
        .unwrap();
    // A signature with another initiator than signed does not verify.
    let mut forged = fate::site_headers(&own.app_id, &own.app_token, "", site.clock.now_ms());
    forged.retain(|(k, _)| k != "initiatorPartyId");
    forged.push(("initiatorPartyId".into(), "10000".into()));
    let v = send(with(site.http.post(&url).json(&update), &forged)).await;
    assert_eq!(v["code"], 5003, "{v}");

    // Without a partner app for a party, commands to it are not sent: 104 naming why.
    assert!(site.site.app.store.delete_partner("9999").await.unwrap());
    let v = site.post("/v2/job/stop", json!({"job_id": job})).await;
    assert_eq!(
        v.code, 104,
        "the local stop is done, the scheduler not told: {}",
        v.message
    );
    let e = site
        .post(
            "/v2/job/submit",
            json!({"dag_schema": sleep_dag(&[("a", "demo_sleep", &[])], json!({}))}),
        )
        .await;
    assert_eq!(e.code, 104, "{}", e.message);
    assert!(
        e.message.contains("No found appid: party_id[9999]"),
        "{}",
        e.message
    );
    site.stop().await;
}

#[tokio::test]
async fn a_command_signed_with_ferroflows_own_scheme_is_left_to_its_verifier() {
    let site = TestSite::start(SiteSpec {
        configure: Some(site_on),
        ..SiteSpec::standalone()
    })
    .await;
    let v = send(
        site.http
            .post(format!("{}/v2/partner/job/status/update", site.url()))
            .header("X-Ferroflow-Signature", "x")
            .json(
                &json!({"job_id": "x", "role": "guest", "party_id": "9999", "status": "running"}),
            ),
    )
    .await;
    assert_ne!(v["code"], 5001, "not FATE's check: {v}");
    site.stop().await;
}

/// Two ferroflow sites with FATE's site scheme, provisioned through the API as `api.md` §7.3
/// says: each receiver makes a site app for the sender and grants it `site`; each sender
/// stores it as the partner app of the receiver's party.
#[tokio::test]
async fn two_sites_run_a_job_with_signed_commands() {
    let la = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let lb = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (ua, ub) = (
        format!("http://{}", la.local_addr().unwrap()),
        format!("http://{}", lb.local_addr().unwrap()),
    );
    let spec = |party: &'static str, other: &str, url: String| SiteSpec {
        party_id: party,
        routes: BTreeMap::from([(other.to_string(), url)]),
        autostart: false,
        cores: None,
        configure: Some(site_on),
    };
    let a = TestSite::start_on(spec("9999", "10000", ub), tempfile::tempdir().unwrap(), la).await;
    let b = TestSite::start_on(spec("10000", "9999", ua), tempfile::tempdir().unwrap(), lb).await;
    // Unprovisioned: the job cannot be created (no partner app to sign with).
    let e = a
        .post(
            "/v2/job/submit",
            json!({"dag_schema": sleep_dag(&[("a", "demo_sleep", &[])], json!({}))}),
        )
        .await;
    assert_ne!(e.code, 0);
    for (receiver, sender, sender_party, receiver_party) in
        [(&b, &a, "9999", "10000"), (&a, &b, "10000", "9999")]
    {
        let made = receiver
            .post("/v2/app/site/create", json!({"party_id": sender_party}))
            .await;
        assert_eq!(made.code, 0, "{}", made.message);
        let d = made.data.unwrap();
        let granted = receiver
            .post(
                "/v2/permission/grant",
                json!({"app_id": d["app_id"], "role": "site"}),
            )
            .await;
        assert_eq!(granted.code, 0, "{}", granted.message);
        let stored = sender
            .post(
                "/v2/app/partner/create",
                json!({"party_id": receiver_party, "app_id": d["app_id"], "app_token": d["app_token"]}),
            )
            .await;
        assert_eq!(stored.code, 0, "{}", stored.message);
        // A site that authenticates its partners runs only what it granted them.
        let granted = receiver
            .post(
                "/v2/permission/resource/grant",
                json!({"party_id": sender_party, "component": "demo_sleep"}),
            )
            .await;
        assert_eq!(granted.code, 0, "{}", granted.message);
    }
    run_chain(&a, &b, "10000").await;
    a.stop().await;
    b.stop().await;
}

/// A FATE site's command over gRPC carries its signature in the packet's headers.
#[tokio::test]
async fn a_command_over_grpc_is_verified_from_the_packets_headers() {
    let (l, _) = bind().await;
    let (g, addr) = bind().await;
    let site = TestSite::start_with_grpc(
        SiteSpec {
            configure: Some(site_on),
            ..SiteSpec::standalone()
        },
        tempfile::tempdir().unwrap(),
        l,
        Some(g),
    )
    .await;
    let own = site.site.app.store.partners(Some("9999")).await.unwrap()[0].clone();
    let own_address = site.site.app.fed.own_address().clone();
    let command = |headers: Vec<(String, String)>| Command {
        dest: "9999".into(),
        method: "POST".into(),
        path: "/v2/partner/job/status/update".into(),
        headers,
        body: bytes::Bytes::from(
            json!({"job_id": "x", "role": "guest", "party_id": "9999", "status": "running"})
                .to_string(),
        ),
    };
    let reply = |cmd: Command| {
        let packet = grpc::request_packet(&cmd, &own_address, std::time::Duration::from_secs(5));
        let addr = addr.clone();
        async move {
            let r = unary_call(&addr, packet).await;
            serde_json::from_slice::<Value>(&r.body.unwrap().value).unwrap()
        }
    };
    let v = reply(command(vec![("dest-party-id".into(), "9999".into())])).await;
    assert_eq!(v["code"], 5001, "{v}");
    let signed = fate::site_headers(&own.app_id, &own.app_token, "", site.clock.now_ms());
    let cmd = command(signed);
    let v = reply(cmd.clone()).await;
    assert!(
        ![5000, 5001, 5002, 5003, 5004].contains(&v["code"].as_i64().unwrap()),
        "{v}"
    );
    let v = reply(cmd).await;
    assert_eq!(v["code"], 5003, "a packet sent again is a replay: {v}");
    site.stop().await;
}

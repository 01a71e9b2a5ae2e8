//! FATE's client authentication on a real site over HTTP: signed api-1 calls, roles, refusals
//! that change nothing, the loopback rule, `admin.json`, the dashboard's data (site commands:
//! `site_auth`).

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use ferroflow_server::auth::{credentials, fate};
use ferroflow_server::clock::Clock;
use ferroflow_server::config::Config;
use ferroflow_server::store::JobFilter;

use super::support::{SiteSpec, TestSite, sleep_dag};

fn client_on(c: &mut Config) {
    c.auth.client = Some(true);
}

pub(crate) fn site_on(c: &mut Config) {
    c.auth.site = Some(true);
}

fn admin(site: &TestSite) -> (String, String) {
    credentials::read_admin_file(&site.data_dir()).expect("admin.json is written at start")
}

/// `headers` on a request.
pub(crate) fn with(
    mut r: reqwest::RequestBuilder,
    headers: &[(String, String)],
) -> reqwest::RequestBuilder {
    for (k, v) in headers {
        r = r.header(k.as_str(), v.as_str());
    }
    r
}

pub(crate) async fn send(r: reqwest::RequestBuilder) -> Value {
    let resp = r.send().await.unwrap();
    assert_eq!(
        resp.status(),
        200,
        "refusals are FATE envelopes, never HTTP errors"
    );
    resp.json().await.unwrap()
}

/// A signed api-1 call as fate_client makes it, dated by the site's clock.
async fn call(
    site: &TestSite,
    method: &str,
    path: &str,
    body: Value,
    (app_id, token): (&str, &str),
) -> Value {
    let headers = fate::client_headers(app_id, token, "", site.clock.now_ms());
    let url = format!("{}{path}", site.url());
    let r = match method {
        "GET" => site.http.get(url).query(
            &body
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect::<Vec<_>>(),
        ),
        _ => site.http.post(url).json(&body),
    };
    send(with(r, &headers)).await
}

async fn stored_jobs(site: &TestSite) -> usize {
    site.site
        .app
        .store
        .query_jobs(&JobFilter::default())
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn unsigned_expired_unknown_wrong_and_replayed_calls_are_refused_and_change_nothing() {
    let site = TestSite::start(SiteSpec {
        configure: Some(client_on),
        ..SiteSpec::standalone()
    })
    .await;
    let (id, token) = admin(&site);
    assert_eq!(id, "admin");
    assert_ne!(token, "fate_flow_admin", "no well-known token");
    let submit = json!({"dag_schema": sleep_dag(&[("a", "demo_sleep", &[])], json!({}))});
    let url = format!("{}/v2/job/submit", site.url());
    let now = site.clock.now_ms();
    let good = fate::client_headers(&id, &token, "", now);
    let replace = |name: &str, value: &str| -> Vec<(String, String)> {
        let mut h: Vec<_> = good.iter().filter(|(k, _)| k != name).cloned().collect();
        if !value.is_empty() {
            h.push((name.to_string(), value.to_string()));
        }
        h
    };
    let resigned = |ts: i64| {
        let mut h = fate::client_headers(&id, &token, "", ts);
        h.retain(|(k, _)| k != "Nonce" && k != "Signature");
        h.push(("Nonce".into(), "1234".into()));
        h.push((
            "Signature".into(),
            fate::sign(&id, "", "1234", &ts.to_string(), &token),
        ));
        h
    };
    let unknown = fate::client_headers("nobody", &token, "", now);
    type Headers = Vec<(String, String)>;
    let cases: Vec<(&str, Headers, i64, &str)> = vec![
        (
            "unsigned",
            Vec::new(),
            5001,
            "Invalid parameter: name[appId]",
        ),
        (
            "no nonce",
            replace("Nonce", ""),
            5001,
            "Invalid parameter: name[Nonce]",
        ),
        (
            "a short nonce",
            replace("Nonce", "12"),
            5001,
            "Invalid parameter: name[Nonce]",
        ),
        (
            "no timestamp",
            replace("Timestamp", ""),
            5001,
            "Invalid parameter: name[Timestamp]",
        ),
        (
            "no signature",
            replace("Signature", ""),
            5001,
            "Invalid parameter: name[Signature]",
        ),
        (
            "61 s old",
            resigned(now - 61_000),
            5000,
            "Request has expired",
        ),
        (
            "61 s ahead",
            resigned(now + 61_000),
            5000,
            "Request has expired",
        ),
        (
            "an unknown app",
            unknown,
            5002,
            "No found appid: app_id[nobody]",
        ),
        (
            "a wrong signature",
            replace("Signature", &fate::sign(&id, "", "1234", "1", "guess")),
            5003,
            "varify failed!",
        ),
        (
            "another user than signed",
            replace("userName", "mallory"),
            5003,
            "varify failed!",
        ),
    ];
    for (what, headers, code, message) in cases {
        let v = send(with(site.http.post(&url).json(&submit), &headers)).await;
        assert_eq!(v["code"], code, "{what}: {v}");
        assert!(
            v["message"].as_str().unwrap().starts_with(message),
            "{what}: {v}"
        );
    }
    assert_eq!(
        stored_jobs(&site).await,
        0,
        "a refused submit stores nothing"
    );

    // Signed: accepted once; the same signed request again is a replay.
    let v = send(with(site.http.post(&url).json(&submit), &good)).await;
    assert_eq!(v["code"], 0, "{v}");
    let job = v["job_id"].as_str().unwrap().to_string();
    assert_eq!(stored_jobs(&site).await, 2, "guest and host rows");
    let v = send(with(site.http.post(&url).json(&submit), &good)).await;
    assert_eq!(v["code"], 5003, "{v}");
    assert!(v["message"].as_str().unwrap().contains("replay"), "{v}");
    assert_eq!(
        stored_jobs(&site).await,
        2,
        "the replayed submit stored nothing"
    );
    // fate_client's headers repeat among honest calls (4 digits, whole seconds): the same
    // headers on another call are that call, answered; a read may come again (a poll).
    for _ in 0..2 {
        let v = send(with(
            site.http
                .get(format!("{}/v2/job/query", site.url()))
                .query(&[("job_id", &job)]),
            &good,
        ))
        .await;
        assert_eq!(v["code"], 0, "{v}");
        assert_eq!(v["data"].as_array().unwrap().len(), 2, "{v}");
    }
    let other = json!({"dag_schema": sleep_dag(&[("b", "demo_sleep", &[])], json!({}))});
    let v = send(with(site.http.post(&url).json(&other), &good)).await;
    assert_eq!(v["code"], 0, "another submit with the same headers: {v}");
    let v = send(with(site.http.post(&url).json(&other), &good)).await;
    assert_eq!(v["code"], 5003, "that submit again: {v}");
    assert_eq!(stored_jobs(&site).await, 4, "each submit stored once");

    // Task processes' routes are not under client authentication: they answer to their
    // run's worker token, whatever the client headers say.
    let v = send(with(
        site.http
            .get(format!("{}/v2/worker/model/download", site.url()))
            .query(&[("model_id", "x")]),
        &fate::client_headers(&id, &token, "", site.clock.now_ms()),
    ))
    .await;
    assert_eq!(v["code"], 5001, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("X-Ferroflow-Worker-Token"),
        "{v}"
    );
    site.stop().await;
}

#[tokio::test]
async fn roles_decide_which_routes_an_app_may_call() {
    let site = TestSite::start(SiteSpec {
        configure: Some(client_on),
        ..SiteSpec::standalone()
    })
    .await;
    let (aid, atok) = admin(&site);
    let a = (aid.as_str(), atok.as_str());
    let created = call(
        &site,
        "POST",
        "/v2/app/client/create",
        json!({"app_name": "alice"}),
        a,
    )
    .await;
    assert_eq!(created["code"], 0, "{created}");
    let id = created["data"]["app_id"].as_str().unwrap().to_string();
    let token = created["data"]["app_token"].as_str().unwrap().to_string();
    let alice = (id.as_str(), token.as_str());
    // No role yet: nothing passes the policy.
    let v = call(&site, "GET", "/v2/job/query", json!({}), alice).await;
    assert_eq!(
        (v["code"].as_i64(), v["message"].as_str()),
        (Some(5004), Some("Authentication Failed"))
    );
    let v = call(
        &site,
        "POST",
        "/v2/permission/grant",
        json!({"app_id": id, "role": "client"}),
        a,
    )
    .await;
    assert_eq!(v["code"], 0, "{v}");
    let v = call(&site, "GET", "/v2/provider/query", json!({}), alice).await;
    assert_eq!(v["code"], 0, "{v}");
    // A client may not manage apps or roles (super_client only).
    for (m, path, body) in [
        ("POST", "/v2/app/client/create", json!({"app_name": "eve"})),
        (
            "POST",
            "/v2/permission/grant",
            json!({"app_id": id, "role": "super_client"}),
        ),
    ] {
        let v = call(&site, m, path, body, alice).await;
        assert_eq!(v["code"], 5004, "{path}: {v}");
    }
    let v = call(
        &site,
        "GET",
        "/v2/app/client/query",
        json!({"app_name": "alice"}),
        a,
    )
    .await;
    assert_eq!(v["data"][0]["app_token"], "******", "{v}");
    site.stop().await;
}

/// Apps, roles and partner apps are kept in memory between calls (`store::cache`): a change
/// through the site's routes is seen by the very next call, never after a delay.
#[tokio::test]
async fn a_revoked_role_a_deleted_app_and_a_deleted_partner_are_refused_on_the_next_call() {
    fn both_on(c: &mut Config) {
        client_on(c);
        site_on(c);
    }
    let site = TestSite::start(SiteSpec {
        configure: Some(both_on),
        ..SiteSpec::standalone()
    })
    .await;
    let (aid, atok) = admin(&site);
    let a = (aid.as_str(), atok.as_str());
    let created = call(
        &site,
        "POST",
        "/v2/app/client/create",
        json!({"app_name": "alice"}),
        a,
    )
    .await;
    let id = created["data"]["app_id"].as_str().unwrap().to_string();
    let token = created["data"]["app_token"].as_str().unwrap().to_string();
    let alice = (id.as_str(), token.as_str());
    let grant = json!({"app_id": id, "role": "client"});
    let v = call(&site, "POST", "/v2/permission/grant", grant.clone(), a).await;
    assert_eq!(v["code"], 0, "{v}");
    let allowed = |v: &Value| v["code"] == 0;
    for _ in 0..2 {
        let v = call(&site, "GET", "/v2/provider/query", json!({}), alice).await;
        assert!(allowed(&v), "granted (and now read from memory): {v}");
    }

    // The role revoked: refused at once; granted again: allowed at once.
    let v = call(&site, "POST", "/v2/permission/delete", grant.clone(), a).await;
    assert_eq!(v["code"], 0, "{v}");
    let v = call(&site, "GET", "/v2/provider/query", json!({}), alice).await;
    assert_eq!(
        v["code"], 5004,
        "the revoked role is refused on the next call: {v}"
    );
    let v = call(&site, "POST", "/v2/permission/grant", grant, a).await;
    assert_eq!(v["code"], 0, "{v}");
    let v = call(&site, "GET", "/v2/provider/query", json!({}), alice).await;
    assert!(allowed(&v), "granted again: {v}");

    // The app deleted: unknown on the next call.
    let v = call(
        &site,
        "POST",
        "/v2/app/client/delete",
        json!({"app_id": id}),
        a,
    )
    .await;
    assert_eq!(
        (v["code"].as_i64(), &v["data"]),
        (Some(0), &json!({"status": true})),
        "{v}"
    );
    let v = call(&site, "GET", "/v2/provider/query", json!({}), alice).await;
    assert_eq!(
        (v["code"].as_i64(), v["message"].as_str()),
        (
            Some(5002),
            Some(format!("No found appid: app_id[{id}]").as_str())
        ),
        "the deleted app is refused on the next call"
    );

    // The own party's partner app: commands are signed with it (a submit goes to the
    // scheduler and the parties over HTTP). Deleted: the next submit cannot be signed;
    // created again: the next one is.
    let submit = json!({"dag_schema": sleep_dag(&[("a", "demo_sleep", &[])], json!({}))});
    let v = call(&site, "POST", "/v2/job/submit", submit.clone(), a).await;
    assert_eq!(v["code"], 0, "{v}");
    let own = site.site.app.config.party_id.to_string();
    let own_app = site.site.app.store.app(&own).await.unwrap().unwrap();
    let v = call(
        &site,
        "POST",
        "/v2/app/partner/delete",
        json!({"party_id": own}),
        a,
    )
    .await;
    assert_eq!(v["code"], 0, "{v}");
    let v = call(&site, "POST", "/v2/job/submit", submit.clone(), a).await;
    assert_eq!(v["code"], 104, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains(&format!("No found appid: party_id[{own}]")),
        "{v}"
    );
    let v = call(
        &site,
        "POST",
        "/v2/app/partner/create",
        json!({"party_id": own, "app_id": own_app.app_id, "app_token": own_app.app_token}),
        a,
    )
    .await;
    assert_eq!(v["code"], 0, "{v}");
    let v = call(&site, "POST", "/v2/job/submit", submit, a).await;
    assert_eq!(
        v["code"], 0,
        "signed with the partner app created again: {v}"
    );
    site.stop().await;
}

/// Log lines written while a test runs on this thread (the site runs on it too).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_site_listening_beyond_loopback_authenticates_and_keeps_tokens_private() {
    use std::os::unix::fs::PermissionsExt;
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let site = TestSite::start_on(
        SiteSpec::standalone(),
        tempfile::tempdir().unwrap(),
        listener,
    )
    .await;
    let auth = site.site.app.config.auth;
    assert!(auth.client() && auth.site(), "on by default: {auth:?}");
    let file = credentials::admin_file(&site.data_dir());
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(file.parent().unwrap()), 0o700);
    let (id, token) = admin(&site);

    let v = site.get("/v2/job/query", &[]).await;
    assert_eq!(v.code, 5001, "unsigned: {}", v.message);
    let v = call(&site, "GET", "/v2/provider/query", json!({}), (&id, &token)).await;
    assert_eq!(v["code"], 0, "{v}");
    let created = call(
        &site,
        "POST",
        "/v2/app/client/create",
        json!({"app_name": "bob"}),
        (&id, &token),
    )
    .await;
    let bob_token = created["data"]["app_token"].as_str().unwrap().to_string();
    let v = call(
        &site,
        "GET",
        "/v2/app/client/query",
        json!({"app_name": "admin"}),
        (&id, &token),
    )
    .await;
    assert_eq!(v["data"][0]["app_token"], "******", "{v}");
    let own = site.site.app.config.party_id.to_string();
    let own_token = site
        .site
        .app
        .store
        .apps(Some(&own), None, None)
        .await
        .unwrap()[0]
        .app_token
        .clone();
    for (what, path, q) in [
        ("site apps", "/v2/app/site/query", json!({"party_id": own})),
        (
            "partners",
            "/v2/app/partner/query",
            json!({"party_id": own}),
        ),
    ] {
        let v = call(&site, "GET", path, q, (&id, &token)).await;
        assert_eq!(v["code"], 0, "{what}: {v}");
        assert!(!v.to_string().contains(&own_token), "{what}: {v}");
    }
    // A restart keeps the admin token (and the file).
    let site = site.park().await.start().await;
    assert_eq!(admin(&site), (id.clone(), token.clone()));
    site.stop().await;

    // The capture works on this thread (a line of the test's own proves it: the site's own
    // lines may race with other tests' subscribers for tracing's global level hint).
    tracing::info!("capture-canary");
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("capture-canary"), "the logs are captured");
    for secret in [&token, &bob_token, &own_token] {
        assert!(!text.contains(secret.as_str()), "a token in the logs");
    }
}

#[tokio::test]
async fn a_site_turned_off_beyond_loopback_stays_open_and_loopback_stays_open() {
    fn off(c: &mut Config) {
        c.auth.client = Some(false);
        c.auth.site = Some(false);
    }
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let site = TestSite::start_on(
        SiteSpec {
            configure: Some(off),
            ..SiteSpec::standalone()
        },
        tempfile::tempdir().unwrap(),
        listener,
    )
    .await;
    assert!(!site.site.app.config.auth.any());
    assert_eq!(site.get("/v2/provider/query", &[]).await.code, 0);
    site.stop().await;
    let site = TestSite::start(SiteSpec::standalone()).await;
    assert!(!site.site.app.config.auth.any(), "loopback only: open");
    assert!(credentials::read_admin_file(&site.data_dir()).is_none());
    site.stop().await;
}

/// The dashboard's data routes answer what api-1 answers: behind the same check, with a 401
/// that sends the page to its login; the pages themselves hold no data and stay open.
#[tokio::test]
async fn the_dashboards_data_needs_a_signed_call_when_client_authentication_is_on() {
    let site = TestSite::start(SiteSpec {
        configure: Some(client_on),
        ..SiteSpec::standalone()
    })
    .await;
    let (id, token) = admin(&site);
    let url = format!("{}/ui/api/jobs", site.url());
    let refused = site.http.get(&url).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["code"], 5001, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("/ui/login"),
        "{body}"
    );
    let headers = fate::client_headers(&id, &token, "", site.clock.now_ms());
    let ok = with(site.http.get(&url), &headers).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    let page = site
        .http
        .get(format!("{}/ui/login", site.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200, "the login page itself is open");
    site.stop().await;
}

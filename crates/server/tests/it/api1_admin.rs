//! `/v2/app/*`, `/v2/permission/*`, `/v2/server/*` over HTTP, and every api-1 route served.

use serde_json::{Value, json};

use super::support::{SiteSpec, TestSite};

/// Site authentication alone: app management answers while api-1 calls stay unsigned, so the
/// app rules (the `appId` header) are seen by themselves (signed calls: `auth.rs`).
fn auth_on(c: &mut ferroflow_server::config::Config) {
    c.auth.site = Some(true);
}

/// A site configured as FATE's files are: passwords in the database and federation sections.
fn with_secrets(c: &mut ferroflow_server::config::Config) {
    let raw = ferroflow_wire::service_conf::RawServiceConf::from_yaml(
        "database:\n  engine: sqlite\n  mysql: {name: fate_flow, user: fate, passwd: hunter2-db, \
         host: 127.0.0.1, port: 3306}\nfederation:\n  rabbitmq: {host: 127.0.0.1, user: fate, \
         password: hunter2-mq}\n",
    )
    .unwrap();
    c.raw = raw;
}

/// `/v2/server/query/all` answers the configured sections, but no password (FATE's answers
/// them), and no other server route or the dashboard's site page names one.
#[tokio::test]
async fn no_answer_holds_a_configured_password() {
    let site = TestSite::start(SiteSpec {
        configure: Some(with_secrets),
        ..SiteSpec::standalone()
    })
    .await;
    let all = site.get("/v2/server/query/all", &[]).await.data.unwrap();
    assert_eq!(all["DATABASE"]["mysql"]["user"], "fate");
    assert_eq!(all["DATABASE"]["mysql"]["passwd"], "******");
    assert_eq!(all["FEDERATION"]["rabbitmq"]["password"], "******");
    for (path, query) in [
        ("/v2/server/query/all", vec![]),
        ("/v2/server/fateflow", vec![]),
        ("/v2/server/query", vec![("server_name", "DATABASE")]),
        ("/ui/api/site", vec![]),
    ] {
        let (_, _, body) = site
            .raw(site.http.get(format!("{}{path}", site.url())).query(&query))
            .await;
        let body = String::from_utf8_lossy(&body);
        assert!(!body.contains("hunter2"), "{path}: {body}");
    }
    let ui = site.get_value("/ui/api/site", &[]).await;
    let engine = crate::dbserver::Backend::from_env().engine();
    assert_eq!(ui["database"], engine, "{ui}");
}

#[tokio::test]
async fn every_api1_route_is_served() {
    let site = TestSite::start(SiteSpec::standalone()).await;
    for (method, path) in ferroflow_wire::client::ROUTES {
        let req = match method {
            "GET" => site.http.get(format!("{}{path}", site.url())),
            _ => site
                .http
                .post(format!("{}{path}", site.url()))
                .header("content-type", "application/json")
                .body("{}"),
        };
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 200, "{method} {path}");
        let ct = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let bytes = r.bytes().await.unwrap();
        if ct != "application/json" {
            continue;
        }
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_ne!(
            v["message"], "<NotFound '404: Not Found'>",
            "{method} {path} is not served"
        );
        assert_ne!(
            v["message"], "<MethodNotAllowed '405: Method Not Allowed'>",
            "{method} {path}"
        );
    }
    site.stop().await;
}

#[tokio::test]
async fn app_and_role_management_is_restricted_while_authentication_is_off() {
    let site = TestSite::start(SiteSpec::standalone()).await;
    for (path, body, func) in [
        (
            "/v2/app/client/create",
            json!({"app_name": "a"}),
            "create_client_app",
        ),
        (
            "/v2/app/client/delete",
            json!({"app_id": "1"}),
            "delete_client_app",
        ),
        (
            "/v2/app/site/create",
            json!({"party_id": "1"}),
            "create_site_app",
        ),
        (
            "/v2/app/site/delete",
            json!({"party_id": "1"}),
            "delete_site_app",
        ),
        (
            "/v2/app/partner/create",
            json!({"party_id": "1", "app_id": "a", "app_token": "t"}),
            "create_partner_app",
        ),
        (
            "/v2/app/partner/delete",
            json!({"party_id": "1"}),
            "delete_partner_app",
        ),
        (
            "/v2/permission/grant",
            json!({"app_id": "1", "role": "client"}),
            "grant",
        ),
        (
            "/v2/permission/delete",
            json!({"app_id": "1", "role": "client"}),
            "delete",
        ),
    ] {
        let e = site.post(path, body).await;
        assert_eq!(
            (e.code, e.message.as_str()),
            (6001, format!("func {func}, function restricted").as_str()),
            "{path}"
        );
    }
    for (path, q) in [
        ("/v2/app/client/query", vec![("app_id", "1")]),
        ("/v2/app/site/query", vec![("party_id", "1")]),
        ("/v2/app/partner/query", vec![("party_id", "1")]),
        ("/v2/permission/query", vec![("app_id", "1")]),
    ] {
        assert_eq!(site.get(path, &q).await.code, 6001, "{path}");
    }
    let e = site.get("/v2/permission/role/query", &[]).await;
    assert_eq!((e.code, e.data), (0, Some(json!([]))));
    site.stop().await;
}

#[tokio::test]
async fn apps_are_stored_and_tokens_shown_only_on_creation() {
    let site = TestSite::start(SiteSpec {
        configure: Some(auth_on),
        ..SiteSpec::standalone()
    })
    .await;
    let admin = |path: &str, body: Value| {
        site.http
            .post(format!("{}{path}", site.url()))
            .header("appId", "admin")
            .json(&body)
    };
    let send = |r: reqwest::RequestBuilder| async move {
        r.send().await.unwrap().json::<Value>().await.unwrap()
    };
    // client apps, through the admin app created at start
    let created = send(admin("/v2/app/client/create", json!({"app_name": "alice"}))).await;
    assert_eq!(created["code"], 0, "{created}");
    let id = created["data"]["app_id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 8);
    assert_eq!(created["data"]["app_token"].as_str().unwrap().len(), 16);
    assert_eq!(created["data"]["app_type"], "client");
    let q = send(
        site.http
            .get(format!("{}/v2/app/client/query", site.url()))
            .header("appId", "admin")
            .query(&[("app_name", "alice")]),
    )
    .await;
    assert_eq!(q["data"][0]["app_id"], id.as_str());
    assert_eq!(
        q["data"][0]["app_token"], "******",
        "queries never show tokens"
    );
    let none = send(
        site.http
            .get(format!("{}/v2/app/client/query", site.url()))
            .header("appId", "admin"),
    )
    .await;
    assert_eq!(none["data"], json!([]));
    // app rules
    let e = site
        .post("/v2/app/client/create", json!({"app_name": "x"}))
        .await;
    assert_eq!(e.code, 5005, "no appId header");
    let e = send(
        site.http
            .post(format!("{}/v2/app/client/create", site.url()))
            .header("appId", "nobody")
            .json(&json!({"app_name": "x"})),
    )
    .await;
    assert_eq!(e["code"], 5002);
    let e = send(admin("/v2/app/client/delete", json!({"app_id": "admin"}))).await;
    assert_eq!(e["code"], 5005, "admin cannot be deleted");
    let e = send(admin("/v2/app/client/delete", json!({"app_id": id}))).await;
    assert_eq!(e["data"], json!({"status": true}));
    let e = send(admin("/v2/app/client/delete", json!({"app_id": id}))).await;
    assert_eq!(e["data"], json!({"status": false}));

    // site apps
    let e = site
        .post("/v2/app/site/create", json!({"party_id": "10000"}))
        .await;
    assert_eq!(e.code, 0, "{}", e.message);
    let d = e.data.unwrap();
    assert_eq!(
        (d["app_name"].as_str(), d["app_type"].as_str()),
        (Some("10000"), Some("site"))
    );
    let e = site
        .get("/v2/app/site/query", &[("party_id", "10000")])
        .await;
    assert_eq!(e.data.as_ref().unwrap()[0]["app_token"], "******");
    assert_eq!(site.get("/v2/app/site/query", &[]).await.code, 5001);
    let e = site
        .post("/v2/app/site/delete", json!({"party_id": "10000"}))
        .await;
    assert_eq!(e.data, Some(json!({"status": true})));
    // The own party's site app exists from the start.
    let e = site
        .get("/v2/app/site/query", &[("party_id", "9999")])
        .await;
    assert_eq!(e.data.unwrap().as_array().unwrap().len(), 1);

    // partner credentials
    let body = json!({"party_id": "10000", "app_id": "a1", "app_token": "t1"});
    let e = site.post("/v2/app/partner/create", body.clone()).await;
    assert_eq!(e.data, Some(body.clone()));
    let e = site.post("/v2/app/partner/create", body).await;
    assert_eq!(e.data, Some(json!({})), "a party has one entry");
    let e = site
        .get("/v2/app/partner/query", &[("party_id", "10000")])
        .await;
    assert_eq!(e.data.as_ref().unwrap()[0]["app_id"], "a1");
    assert_eq!(e.data.as_ref().unwrap()[0]["app_token"], "******");
    assert_eq!(
        site.get("/v2/app/partner/query", &[]).await.data,
        Some(json!([]))
    );
    let e = site
        .post("/v2/app/partner/delete", json!({"party_id": "10000"}))
        .await;
    assert_eq!(e.data, Some(json!({"status": true})));
    assert_eq!(
        site.post("/v2/app/partner/create", json!({"party_id": "1"}))
            .await
            .code,
        5001
    );
    site.stop().await;
}

#[tokio::test]
async fn roles_and_resources_are_granted() {
    let site = TestSite::start(SiteSpec {
        configure: Some(auth_on),
        ..SiteSpec::standalone()
    })
    .await;
    let e = site.get("/v2/permission/role/query", &[]).await;
    assert_eq!(
        e.data.unwrap(),
        json!([
            "client",
            "super_client",
            "site",
            "worker",
            "super_worker",
            "bfia",
            "super_bfia"
        ])
    );
    let created = site
        .post("/v2/app/site/create", json!({"party_id": "10000"}))
        .await;
    let site_app = created.data.unwrap()["app_id"]
        .as_str()
        .unwrap()
        .to_string();
    let e = site
        .post(
            "/v2/permission/grant",
            json!({"app_id": site_app, "role": "site"}),
        )
        .await;
    assert_eq!(e.data, Some(json!({"status": true})));
    let e = site
        .get("/v2/permission/query", &[("app_id", &site_app)])
        .await;
    let policies = e.data.unwrap()["site"].as_array().unwrap().clone();
    assert!(policies.contains(&json!(["site", "/v2/partner/job/create", "POST"])));
    for (body, code) in [
        (json!({"app_id": site_app, "role": "client"}), 5009),
        (json!({"app_id": site_app, "role": "emperor"}), 5001),
        (json!({"app_id": "nobody", "role": "site"}), 5002),
        (json!({"app_id": site_app}), 5001),
    ] {
        let e = site.post("/v2/permission/grant", body.clone()).await;
        assert_eq!(e.code, code, "{body}: {}", e.message);
    }
    let e = site
        .post(
            "/v2/permission/delete",
            json!({"app_id": site_app, "role": "site"}),
        )
        .await;
    assert_eq!(e.data, Some(json!({"status": true})));
    assert_eq!(
        site.get("/v2/permission/query", &[("app_id", "nobody")])
            .await
            .code,
        5002
    );
    let e = site
        .get("/v2/permission/query", &[("app_id", "admin")])
        .await;
    // FATE's 67 api-1 routes and ferroflow's audit log.
    assert!(e.data.unwrap()["super_client"].as_array().unwrap().len() == 68);

    // resources (stored whatever the switches)
    let e = site
        .post(
            "/v2/permission/resource/grant",
            json!({"party_id": "10000", "component": "demo_reader,demo_train",
                   "dataset": [{"namespace": "experiment", "name": "guest"}]}),
        )
        .await;
    assert_eq!(e.code, 0, "{}", e.message);
    let e = site
        .get("/v2/permission/resource/query", &[("party_id", "10000")])
        .await;
    assert_eq!(
        e.data.unwrap(),
        json!({"component": ["demo_reader", "demo_train"],
               "dataset": [{"name": "guest", "namespace": "experiment"}]})
    );
    for body in [
        json!({"party_id": "10000", "component": "no_such"}),
        json!({"party_id": "10000", "dataset": [{"name": "x"}]}),
        json!({"party_id": "10000", "dataset": "*"}),
    ] {
        let e = site
            .post("/v2/permission/resource/grant", body.clone())
            .await;
        assert_eq!(e.code, 5006, "{body}: {}", e.message);
    }
    let e = site
        .post(
            "/v2/permission/resource/delete",
            json!({"party_id": "10000", "component": "*", "dataset": "*"}),
        )
        .await;
    assert_eq!(e.code, 0, "{}", e.message);
    let e = site
        .get("/v2/permission/resource/query", &[("party_id", "10000")])
        .await;
    assert_eq!(e.data.unwrap(), json!({"component": [], "dataset": []}));
    let e = site
        .get(
            "/v2/permission/resource/query",
            &[("party_id", "1"), ("dataset", "{}")],
        )
        .await;
    assert_eq!(e.code, 5001, "a mapping in a query string never validates");
    assert_eq!(
        site.post("/v2/permission/resource/delete", json!({}))
            .await
            .code,
        5001
    );
    site.stop().await;
}

#[tokio::test]
async fn servers_and_services_are_registered() {
    let site = TestSite::start(SiteSpec::standalone()).await;
    let e = site.get("/v2/server/fateflow", &[]).await;
    let d = e.data.unwrap();
    let (id, inst) = d.as_object().unwrap().iter().next().unwrap();
    assert!(id.starts_with("flow-127.0.0.1-"), "{id}");
    for k in [
        "instance_id",
        "timestamp",
        "version",
        "host",
        "grpc_port",
        "http_port",
    ] {
        assert!(inst.get(k).is_some(), "{k}");
    }
    let e = site
        .post(
            "/v2/server/registry",
            json!({"server_name": "fateboard", "host": "127.0.0.1", "port": 8080}),
        )
        .await;
    assert_eq!(
        e.data.unwrap(),
        json!({"server_name": "FATEBOARD", "host": "127.0.0.1", "port": 8080, "protocol": "http"})
    );
    let e = site
        .get("/v2/server/query", &[("server_name", "FateBoard")])
        .await;
    assert_eq!(e.data.unwrap()["server_name"], "FATEBOARD");
    let all = site.get("/v2/server/query/all", &[]).await.data.unwrap();
    assert_eq!(
        all["FATEBOARD"],
        json!({"host": "127.0.0.1", "port": 8080, "protocol": "http"})
    );
    let e = site
        .post(
            "/v2/server/service/registry",
            json!({"server_name": "fateboard", "service_name": "upload", "uri": "/api/up",
                   "params": {"a": 1}}),
        )
        .await;
    assert_eq!(e.code, 0, "{}", e.message);
    let e = site
        .get(
            "/v2/server/service/query",
            &[("server_name", "fateboard"), ("service_name", "upload")],
        )
        .await;
    let s = e.data.unwrap();
    assert_eq!(
        (s["url"].as_str(), s["method"].as_str()),
        (Some("http://127.0.0.1:8080/api/up"), Some("POST"))
    );
    let e = site
        .post(
            "/v2/server/service/delete",
            json!({"server_name": "fateboard", "service_name": "upload"}),
        )
        .await;
    assert_eq!(e.message, "success");
    let e = site
        .post(
            "/v2/server/service/delete",
            json!({"server_name": "fateboard", "service_name": "upload"}),
        )
        .await;
    assert_eq!((e.code, e.message.as_str()), (0, "failed"));
    let e = site
        .post("/v2/server/delete", json!({"server_name": "fateboard"}))
        .await;
    assert_eq!(e.message, "success");
    // failures
    assert_eq!(
        site.get("/v2/server/query", &[("server_name", "fateboard")])
            .await
            .code,
        6003
    );
    assert_eq!(site.get("/v2/server/query", &[]).await.code, 5001);
    let e = site
        .get(
            "/v2/server/service/query",
            &[("server_name", "x"), ("service_name", "y")],
        )
        .await;
    assert_eq!(e.code, 6003);
    let e = site
        .post(
            "/v2/server/service/registry",
            json!({"server_name": "nope", "service_name": "s", "uri": "/"}),
        )
        .await;
    assert_eq!(e.code, 6003);
    let e = site
        .post(
            "/v2/server/registry",
            json!({"server_name": "s", "host": "h", "port": "http"}),
        )
        .await;
    assert_eq!(e.code, 5001);
    let e = site
        .post(
            "/v2/server/registry",
            json!({"server_name": "s", "host": "h", "port": 70000}),
        )
        .await;
    assert_eq!(e.code, 5001);
    assert_eq!(site.post("/v2/server/delete", json!({})).await.code, 5001);
    site.stop().await;
}

//! The HTTP edge, route by route from its table (`http::edge::ROUTES`): every class of bad
//! request is refused on every route it applies to, with FATE's code, before any handler.

use serde_json::{Value, json};

use ferroflow_server::http::edge::{Lookup, ROUTES, Route};
use ferroflow_wire::Envelope;

use crate::support::{SiteSpec, TestSite};

/// Sends `fields` the way the route takes them: the query of a GET, the JSON body of a POST,
/// the form of a multipart upload.
async fn send(site: &TestSite, r: &Route, fields: &Value) -> Envelope {
    let url = format!("{}{}", site.url(), r.path.replace("{execution_id}", "e_1"));
    let req = if r.multipart {
        let mut form = reqwest::multipart::Form::new();
        for (k, v) in fields.as_object().unwrap() {
            form = form.text(
                k.clone(),
                v.as_str().map(str::to_string).unwrap_or(v.to_string()),
            );
        }
        site.http.post(url).multipart(form)
    } else if r.method == "GET" {
        let q: Vec<(String, String)> = fields
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str().map(str::to_string).unwrap_or(v.to_string()),
                )
            })
            .collect();
        site.http.get(url).query(&q)
    } else {
        site.http.post(url).json(fields)
    };
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200, "{} {}", r.method, r.path);
    let bytes = resp.bytes().await.unwrap();
    serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "{} {}: not an envelope ({e}): {:.300}",
            r.method,
            r.path,
            String::from_utf8_lossy(&bytes)
        )
    })
}

fn location(r: &Route) -> &'static str {
    match (r.multipart, r.method) {
        (true, _) => "form",
        (false, "GET") => "querystring",
        _ => "json",
    }
}

#[tokio::test]
async fn every_route_of_the_table_is_served() {
    let site = TestSite::start(SiteSpec::standalone()).await;
    assert!(ROUTES.len() >= 90, "{}", ROUTES.len());
    for r in ROUTES {
        let e = send(&site, r, &json!({})).await;
        assert!(
            !e.message.contains("404: Not Found") && !e.message.contains("405: Method"),
            "{} {}: {}",
            r.method,
            r.path,
            e.message
        );
    }
    site.stop().await;
}

#[tokio::test]
async fn a_body_that_is_not_an_object_is_refused_on_every_route() {
    let site = TestSite::start(SiteSpec::standalone()).await;
    for r in ROUTES
        .iter()
        .filter(|r| r.takes_fields && r.method == "POST")
    {
        for body in [json!([{"name": "x"}]), json!("x"), json!(3), json!(null)] {
            let url = format!("{}{}", site.url(), r.path.replace("{execution_id}", "e_1"));
            let e: Envelope = site
                .http
                .post(url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(e.code, 5001, "{} with {body}: {}", r.path, e.message);
            if !r.multipart {
                assert_eq!(
                    e.data,
                    Some(json!({"json": {"_schema": ["Invalid input type."]}})),
                    "{} with {body}",
                    r.path
                );
            }
        }
    }
    site.stop().await;
}

#[tokio::test]
async fn ids_names_and_paths_out_of_shape_are_refused_on_every_route() {
    let site = TestSite::start(SiteSpec::standalone()).await;
    let bad: Vec<(&str, String)> = vec![
        ("job_id", "../202601010000000000001".into()),
        ("job_id", "1".repeat(65)),
        ("role", "guest/x".into()),
        ("party_id", "9999 ".into()),
        ("task_name", "t".repeat(97)),
        ("task_id", "a\\b".into()),
        ("model_id", "m\n".into()),
        ("model_version", "..".into()),
        ("namespace", "n".repeat(256)),
        ("name", "x\u{1}y".into()),
        ("server_name", "s".repeat(65)),
        ("service_name", "s".repeat(65)),
        ("provider_name", "p".repeat(129)),
        ("path", "p".repeat(300)),
        ("file", "a/".repeat(2100)),
    ];
    for r in ROUTES.iter().filter(|r| r.takes_fields) {
        for (field, value) in &bad {
            let e = send(&site, r, &json!({ *field: value })).await;
            assert_eq!(
                e.code, 5001,
                "{} {} {field}: {}",
                r.method, r.path, e.message
            );
            let messages = &e.data.as_ref().unwrap()[location(r)][field];
            assert!(
                messages[0]
                    .as_str()
                    .is_some_and(|m| m.starts_with("Not a valid")),
                "{} {field}: {e:?}",
                r.path
            );
        }
    }
    site.stop().await;
}

#[tokio::test]
async fn unknown_ids_are_not_found_on_every_route_that_acts_on_them() {
    let site = TestSite::start(SiteSpec::standalone()).await;
    let ids = json!({"job_id": "202601010000000000001", "role": "guest", "party_id": "9999",
                     "task_id": "202601010000000000001_reader_0", "task_version": 0,
                     "log_type": "jobSchedule", "new_version": 1});
    let mut checked = 0;
    for r in ROUTES.iter().filter(|r| r.lookup != Lookup::None) {
        let e = send(&site, r, &ids).await;
        let want = match r.lookup {
            Lookup::Job => 1001,
            Lookup::Task => 2000,
            Lookup::None => unreachable!(),
        };
        assert_eq!(e.code, want, "{} {}: {}", r.method, r.path, e.message);
        assert!(e.message.contains("202601010000000000001"), "{}", e.message);
        checked += 1;
    }
    assert!(checked >= 4);
    site.stop().await;
}

#[tokio::test]
async fn paths_outside_the_allowed_directories_are_refused_first_and_never_shown() {
    let site = TestSite::start(SiteSpec::standalone()).await;
    let data_dir = site.data_dir().canonicalize().unwrap();
    let mut checked = 0;
    for r in ROUTES.iter().filter(|r| !r.paths.is_empty()) {
        for field in r.paths {
            for (value, why) in [("/etc", "outside"), ("a/../../etc", "`..`")] {
                // Nested fields (`metadata.path`) as nested objects.
                let mut fields = json!({});
                let mut at = &mut fields;
                let parts: Vec<&str> = field.split('.').collect();
                for p in &parts[..parts.len() - 1] {
                    at[*p] = json!({});
                    at = &mut at[*p];
                }
                at[parts[parts.len() - 1]] = json!(value);
                let e = send(&site, r, &fields).await;
                assert_eq!(e.code, 5001, "{} {field}={value}: {}", r.path, e.message);
                assert!(e.message.contains(why), "{}: {}", r.path, e.message);
                if why == "outside" {
                    assert!(e.message.contains("allowed_dirs"), "{}", e.message);
                }
                assert!(
                    !e.message.contains(&*data_dir.to_string_lossy()),
                    "{}: {}",
                    r.path,
                    e.message
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 10);

    // A file that is not there: 8001, its place named by the setting, not the directory.
    let e = site
        .post(
            "/v2/data/component/upload",
            json!({"file": "nope.csv", "head": true, "partitions": 1,
                   "meta": {"delimiter": ","}, "namespace": "n", "name": "t"}),
        )
        .await;
    assert_eq!(e.code, 8001, "{}", e.message);
    assert!(e.message.contains("<upload_dir>/nope.csv"), "{}", e.message);
    assert!(
        !e.message.contains(&*data_dir.to_string_lossy()),
        "{}",
        e.message
    );
    // A name too long for the file system: said in words, no OS error.
    let e = site
        .post(
            "/v2/data/component/upload",
            json!({"file": "x".repeat(1 << 20), "head": true, "partitions": 1,
                   "meta": {"delimiter": ","}, "namespace": "n", "name": "t"}),
        )
        .await;
    assert_eq!(e.code, 5001);
    assert!(!e.to_value().to_string().contains("os error"), "{e:?}");
    site.stop().await;
}

#[tokio::test]
async fn component_file_parameters_outside_the_allowed_directories_are_refused_at_submit() {
    let mut spec = SiteSpec::standalone();
    spec.routes
        .insert("10000".into(), "http://127.0.0.1:9".into());
    let site = TestSite::start(spec).await;
    let dag = |path: &str| {
        json!({"parties": [{"role": "guest", "party_id": ["9999"]}],
               "tasks": {"reader_0": {"component_ref": "demo_reader"}},
               "party_tasks": {"guest_9999": {"parties": [{"role": "guest", "party_id": ["9999"]}],
                   "tasks": {"reader_0": {"parameters": {"path": path}}}}}})
    };
    let mut checked = 0;
    for r in ROUTES.iter().filter(|r| r.dag.is_some()) {
        let field = r.dag.unwrap();
        for path in [
            "/etc/hostname",
            "file:///proc/self/environ",
            "x/../../../etc",
        ] {
            let d = if field == "dag_schema" {
                json!({"schema_version": "2.2.0", "dag": dag(path)})
            } else {
                dag(path)
            };
            let e = send(&site, r, &json!({ field: d })).await;
            assert_eq!(e.code, 5001, "{} {path}: {}", r.path, e.message);
            assert!(
                e.message.contains("tasks.reader_0.parameters.path"),
                "{}",
                e.message
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 6);
    // A party this site does not serve opens its own files: not judged here.
    let e = send(
        &site,
        ferroflow_server::http::edge::route("POST", "/v2/partner/job/create").unwrap(),
        &json!({"dag": {"parties": [{"role": "host", "party_id": ["10000"]}],
                        "tasks": {"reader_0": {"component_ref": "demo_reader",
                                               "parameters": {"path": "/etc/hostname"}}}}}),
    )
    .await;
    assert!(!e.message.contains("parameters.path"), "{}", e.message);
    site.stop().await;
}

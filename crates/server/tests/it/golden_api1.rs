//! Golden test of answers: every request the reference traces (real `fate_client` 2.2 against
//! FATE Flow 2.2) sent to the routes of data, tables, outputs, models, logs, apps,
//! permissions and servers is replayed against a ferroflow site, and our answer must have
//! FATE's code, content type, and the same keys with the same JSON types (values that are
//! ids, times or algorithm output excepted).
//!
//! The site is prepared to hold what the trace's site held: the trace's tables are uploaded
//! (the upload component's work done through the worker API), and its job is a finished
//! demo job whose task names stand in for the trace's (`lr_0` → `train_0`, `psi_0` →
//! `reader_0`); the trace's ids, roles and party ids are replaced by ours.

use std::path::PathBuf;

use serde_json::{Map, Value};

use super::api1_common::{GUEST_CSV, finished_job, uploaded_table};
use super::support::{SiteSpec, TestSite};

/// The api-1 pages this test covers (the others are covered by earlier golden tests).
const PAGES: &[&str] = &[
    "/v2/data/",
    "/v2/table/",
    "/v2/output/",
    "/v2/log/",
    "/v2/model/",
    "/v2/app/",
    "/v2/permission/",
    "/v2/server/",
    "/v2/job/log/download",
    "/v2/job/data/view",
];

/// Where an answer holds algorithm output or a table's schema: only its presence counts.
const OPAQUE: &[&str] = &[
    "/v2/output/model/query:data.*",
    "/v2/table/query:data.meta",
    "/v2/output/data/display:*.*.data",
    "/v2/output/data/display:*.*.metadata",
];

fn traces_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/reference-traces")
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn opaque(route: &str, path: &str) -> bool {
    OPAQUE.iter().any(|o| {
        let (r, p) = o.split_once(':').unwrap_or_default();
        r == route && {
            let want: Vec<&str> = p.split('.').collect();
            let got: Vec<&str> = path.trim_start_matches('.').split('.').collect();
            want.len() == got.len() && want.iter().zip(&got).all(|(w, g)| *w == "*" || w == g)
        }
    })
}

/// Collects where `ours` differs from `fate` in keys or types. `null` on either side matches
/// anything (FATE leaves many fields null); arrays compare their first items.
fn same_shape(route: &str, path: &str, fate: &Value, ours: &Value, out: &mut Vec<String>) {
    if opaque(route, path) || fate.is_null() || ours.is_null() {
        return;
    }
    match (fate, ours) {
        (Value::Object(a), Value::Object(b)) => {
            // Maps keyed by data (output keys, instance ids) compare their values pairwise.
            let keyed_by_data = (path.is_empty()
                && (route == "/v2/output/data/table" || route == "/v2/output/data/display"))
                || (route == "/v2/output/model/query" && path == ".data");
            if keyed_by_data {
                for (k, v) in a {
                    match b.get(k) {
                        Some(w) => same_shape(route, &format!("{path}.*"), v, w, out),
                        None => out.push(format!("{route}{path}: no key {k}")),
                    }
                }
                return;
            }
            for k in a.keys() {
                match b.get(k) {
                    Some(w) => same_shape(route, &format!("{path}.{k}"), &a[k], w, out),
                    None => out.push(format!("{route}{path}: FATE has `{k}`, we do not")),
                }
            }
            for k in b.keys() {
                if !a.contains_key(k) {
                    out.push(format!("{route}{path}: we have `{k}`, FATE does not"));
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            if let (Some(x), Some(y)) = (a.first(), b.first()) {
                same_shape(route, &format!("{path}.*"), x, y, out);
            }
        }
        (a, b) if kind(a) != kind(b) => out.push(format!(
            "{route}{path}: FATE {} ({a}), ours {} ({b})",
            kind(a),
            kind(b)
        )),
        _ => {}
    }
}

/// The trace's request with our ids in place of its own.
struct Rewrite {
    job: String,
    upload_dir: PathBuf,
}

impl Rewrite {
    fn value(&self, key: &str, v: &str) -> String {
        match key {
            "job_id" => self.job.clone(),
            "role" => "guest".into(),
            "party_id" => "9999".into(),
            "task_name" => match v {
                "lr_0" => "train_0".into(),
                "psi_0" => "reader_0".into(),
                other => other.into(),
            },
            "file" => {
                let name = v.rsplit('/').next().unwrap_or(v);
                self.upload_dir.join(name).display().to_string()
            }
            "path" => "golden".into(),
            _ => v.into(),
        }
    }

    fn query(&self, q: &str) -> Vec<(String, String)> {
        serde_urlencoded::from_str::<Vec<(String, String)>>(q)
            .unwrap()
            .into_iter()
            .map(|(k, v)| {
                let v = self.value(&k, &v);
                (k, v)
            })
            .collect()
    }

    fn body(&self, b: &Value) -> Value {
        match b {
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| {
                        let v = match v {
                            Value::String(s) => Value::String(self.value(k, s)),
                            other => other.clone(),
                        };
                        (k.clone(), v)
                    })
                    .collect::<Map<String, Value>>(),
            ),
            other => other.clone(),
        }
    }
}

fn recorded_json(body: &Value) -> Option<Value> {
    if body.get("truncated").and_then(Value::as_bool) == Some(true) {
        return None;
    }
    body.get("json").cloned().or_else(|| {
        body.get("text")
            .and_then(Value::as_str)
            .and_then(|t| serde_json::from_str(t).ok())
    })
}

#[tokio::test]
async fn answers_have_fates_codes_keys_and_types() {
    let site = TestSite::start(SiteSpec::standalone()).await;
    let up = site.site.app.config.upload_dir.clone();
    // The trace's tables (its upload requests name the same files, found in `upload_dir`).
    for name in ["breast_hetero_guest", "breast_hetero_host"] {
        uploaded_table(&site, "experiment", name, GUEST_CSV).await;
    }
    let job = finished_job(&site).await;
    let logs = site.site.app.config.logs_dir().join(&job);
    std::fs::create_dir_all(logs.join("guest/9999/train_0/root")).unwrap();
    std::fs::write(
        logs.join("guest/9999/train_0/root/INFO"),
        "[INFO] one\n[INFO] two\n",
    )
    .unwrap();
    std::fs::write(logs.join("guest/9999/INFO"), "[INFO] one\n").unwrap();
    std::fs::write(logs.join("fate_flow_schedule.log"), "[INFO] scheduled\n").unwrap();
    let rw = Rewrite {
        job: job.clone(),
        upload_dir: up.clone(),
    };

    let mut failures = Vec::new();
    let mut checked = 0;
    let mut files: Vec<PathBuf> = std::fs::read_dir(traces_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for line in text.lines() {
            let ex: Value = serde_json::from_str(line).unwrap();
            let path = ex["path"].as_str().unwrap_or_default().to_string();
            if ex["caller"] != "client->flow" || !PAGES.iter().any(|p| path.starts_with(p)) {
                continue;
            }
            let method = ex["method"].as_str().unwrap_or_default();
            let url = format!("{}{path}", site.url());
            let query = rw.query(ex["query"].as_str().unwrap_or_default());
            let req = match method {
                "GET" => site.http.get(&url).query(&query),
                _ => {
                    let body = ex["req_body"]["json"].clone();
                    site.http.post(&url).query(&query).json(&rw.body(&body))
                }
            };
            let r = req.send().await.unwrap();
            let what = format!(
                "{}: {method} {path}",
                file.file_name().unwrap().to_string_lossy()
            );
            checked += 1;
            let ct = |h: &reqwest::header::HeaderMap| {
                h.get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string()
            };
            let ours_ct = ct(r.headers());
            let fate_ct = ex["resp_headers"]["Content-Type"]
                .as_str()
                .unwrap_or_default();
            if ours_ct != fate_ct {
                failures.push(format!("{what}: content type {ours_ct}, FATE {fate_ct}"));
                continue;
            }
            let bytes = r.bytes().await.unwrap();
            if fate_ct != "application/json" {
                if fate_ct == "application/gzip" && !bytes.starts_with(&[0x1f, 0x8b]) {
                    failures.push(format!("{what}: not gzip"));
                }
                continue;
            }
            let ours: Value = serde_json::from_slice(&bytes).unwrap();
            let Some(fate) = recorded_json(&ex["resp_body"]) else {
                // A truncated recording: the code must still be success.
                if ours.get("code").is_some_and(|c| c != 0) {
                    failures.push(format!("{what}: answered {ours}"));
                }
                continue;
            };
            if fate.get("code") != ours.get("code") {
                failures.push(format!(
                    "{what}: code {}, FATE {}",
                    ours["code"], fate["code"]
                ));
                continue;
            }
            same_shape(&path, "", &fate, &ours, &mut failures);
        }
    }
    println!("golden api-1 answers: {checked} exchanges replayed");
    assert!(checked >= 20, "only {checked} exchanges found");
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
    site.stop().await;
}

//! A fake site for tests: the worker API (api-3) on `127.0.0.1:0`, recording every call.
//! Shared by the in-crate tests and `tests/components.rs` (included there by `#[path]`), so it
//! uses nothing of the crate.
//!
//! It behaves like a small FATE Flow: tables recorded by `tracking/save` are found again by
//! `tracking/query` (by producer task or by namespace/name), saved models can be downloaded,
//! and status reports are delivered to the test through a channel. `refuse_status(n)` makes
//! the next `n` status reports answer 503, as a restarting site would.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// One request as the site saw it.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub body: Body,
    /// The HTTP status it was answered with.
    pub answered: u16,
    /// The worker token it carried (`x-ferroflow-worker-token`).
    pub token: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Empty,
    Json(Value),
    /// Multipart: text fields, and file parts as (filename, bytes).
    Form {
        fields: BTreeMap<String, String>,
        files: BTreeMap<String, (Option<String>, Vec<u8>)>,
    },
    Other(Vec<u8>),
}

impl Call {
    pub fn json(&self) -> &Value {
        match &self.body {
            Body::Json(v) => v,
            other => panic!("{} {}: not a JSON body: {other:?}", self.method, self.path),
        }
    }
}

#[derive(Default)]
struct Inner {
    calls: Mutex<Vec<Call>>,
    /// Bodies of accepted `tracking/save` calls.
    tracked: Mutex<Vec<Value>>,
    /// Tables known by namespace/name without a save (like uploaded ones): (ns, name) → info.
    tables: Mutex<BTreeMap<(String, String), Value>>,
    /// (model_id, model_version, output_key) → tar.
    models: Mutex<BTreeMap<(String, String, String), Vec<u8>>>,
    refuse_status: AtomicU32,
    /// Calls of any route still to answer 503, as a restarting site would.
    refuse_all: AtomicU32,
    statuses: Mutex<Option<mpsc::UnboundedSender<Value>>>,
}

pub struct FakeSite {
    /// `http://127.0.0.1:<port>`.
    pub addr: String,
    inner: Arc<Inner>,
    statuses: mpsc::UnboundedReceiver<Value>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeSite {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeSite {
    pub async fn start() -> Self {
        let (tx, statuses) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            statuses: Mutex::new(Some(tx)),
            ..Default::default()
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = format!("http://{}", listener.local_addr().expect("addr"));
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        Self {
            addr,
            inner,
            statuses,
            server,
        }
    }

    /// The `mlmd` block of a CONFIG pointing here.
    pub fn mlmd(&self) -> Value {
        let port: u16 = self
            .addr
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port");
        json!({"type": "flow", "metadata": {"host": "127.0.0.1", "port": port, "protocol": "http", "api_version": "v2"}})
    }

    pub fn calls(&self) -> Vec<Call> {
        self.inner.calls.lock().unwrap().clone()
    }

    /// The calls to paths ending with `suffix` that were answered 200.
    pub fn calls_to(&self, suffix: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.path.ends_with(suffix) && c.answered == 200)
            .collect()
    }

    /// Makes the next `n` status reports fail with 503.
    pub fn refuse_status(&self, n: u32) {
        self.inner.refuse_status.store(n, Ordering::SeqCst);
    }

    /// Makes the next `n` calls of any route fail with 503.
    pub fn refuse_all(&self, n: u32) {
        self.inner.refuse_all.store(n, Ordering::SeqCst);
    }

    /// Registers a table for by-name queries, as an upload would have.
    pub fn add_table(&self, namespace: &str, name: &str, path: &str, count: usize) {
        let info = json!({
            "namespace": namespace, "name": name, "count": count, "meta": {"header": ["id"]},
            "engine": "file", "path": path, "source": {}, "data_type": "dataframe"
        });
        self.inner
            .tables
            .lock()
            .unwrap()
            .insert((namespace.into(), name.into()), info);
    }

    /// The next accepted status report.
    pub async fn next_status(&mut self) -> Value {
        self.statuses.recv().await.expect("status channel open")
    }

    /// An accepted status report if one has arrived, without waiting.
    pub fn try_status(&mut self) -> Option<Value> {
        self.statuses.try_recv().ok()
    }
}

fn envelope(code: i64, message: &str) -> Response {
    axum::Json(json!({"code": code, "message": message})).into_response()
}

fn envelope_data(data: Value) -> Response {
    axum::Json(json!({"code": 0, "message": "success", "data": data})).into_response()
}

async fn handle(State(site): State<Arc<Inner>>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let token = req
        .headers()
        .get("x-ferroflow-worker-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let query: BTreeMap<String, String> =
        Query::<BTreeMap<String, String>>::try_from_uri(req.uri())
            .map(|q| q.0)
            .unwrap_or_default();
    let body = read_body(req).await;
    let response = answer(&site, &method, &path, &query, &body);
    site.calls.lock().unwrap().push(Call {
        method: method.to_string(),
        path,
        query,
        body,
        answered: response.status().as_u16(),
        token,
    });
    response
}

async fn read_body(req: Request) -> Body {
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if is_multipart {
        let mut mp = Multipart::from_request(req, &()).await.expect("multipart");
        let (mut fields, mut files) = (BTreeMap::new(), BTreeMap::new());
        while let Some(field) = mp.next_field().await.expect("field") {
            let name = field.name().unwrap_or_default().to_string();
            match field.file_name().map(str::to_string) {
                Some(file_name) => {
                    files.insert(
                        name,
                        (
                            Some(file_name),
                            field.bytes().await.expect("bytes").to_vec(),
                        ),
                    );
                }
                None => {
                    fields.insert(name, field.text().await.expect("text"));
                }
            }
        }
        return Body::Form { fields, files };
    }
    let bytes = Bytes::from_request(req, &()).await.unwrap_or_default();
    if bytes.is_empty() {
        Body::Empty
    } else {
        serde_json::from_slice(&bytes)
            .map(Body::Json)
            .unwrap_or(Body::Other(bytes.to_vec()))
    }
}

fn answer(
    site: &Inner,
    method: &Method,
    path: &str,
    query: &BTreeMap<String, String>,
    body: &Body,
) -> Response {
    if site
        .refuse_all
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return (StatusCode::SERVICE_UNAVAILABLE, "restarting").into_response();
    }
    let Some(route) = path.strip_prefix("/v2/worker/") else {
        return envelope(6000, &format!("no route {path}"));
    };
    match (method.as_str(), route) {
        ("POST", "task/status") => {
            let remaining = site.refuse_status.load(Ordering::SeqCst);
            if remaining > 0 {
                site.refuse_status.store(remaining - 1, Ordering::SeqCst);
                return (StatusCode::SERVICE_UNAVAILABLE, "restarting").into_response();
            }
            if let Body::Json(v) = body
                && let Some(tx) = site.statuses.lock().unwrap().as_ref()
            {
                let _ = tx.send(v.clone());
            }
            envelope(0, "success")
        }
        ("POST", "data/tracking/save") => {
            if let Body::Json(v) = body {
                site.tracked.lock().unwrap().push(v.clone());
            }
            envelope(0, "success")
        }
        ("GET", "data/tracking/query") => tracking_query(site, query),
        ("POST", "model/save") => {
            let Body::Form { fields, files } = body else {
                return envelope(5008, "not multipart");
            };
            let Some((_, tar)) = files.get("file") else {
                return envelope(5008, "KeyError: 'file'");
            };
            let key = |k: &str| fields.get(k).cloned().unwrap_or_default();
            site.models.lock().unwrap().insert(
                (key("model_id"), key("model_version"), key("output_key")),
                tar.clone(),
            );
            envelope(0, "success")
        }
        ("GET", "model/download") => {
            let key = |k: &str| query.get(k).cloned().unwrap_or_default();
            match site.models.lock().unwrap().get(&(
                key("model_id"),
                key("model_version"),
                key("output_key"),
            )) {
                Some(tar) => {
                    let mut headers = HeaderMap::new();
                    headers.insert(
                        header::CONTENT_TYPE,
                        "application/x-tar".parse().expect("mime"),
                    );
                    (headers, tar.clone()).into_response()
                }
                None => envelope(
                    5008,
                    "Request uri /v2/worker/model/download failed: No found model",
                ),
            }
        }
        ("POST", r) if r.starts_with("metric/save") => match body {
            Body::Json(v) if v["data"].as_array().is_some_and(|d| !d.is_empty()) => {
                envelope(0, "success")
            }
            _ => envelope(5008, "no metric data"),
        },
        _ => envelope(6000, &format!("no route {method} {path}")),
    }
}

fn tracking_query(site: &Inner, q: &BTreeMap<String, String>) -> Response {
    if q.contains_key("namespace") || q.contains_key("name") {
        let (ns, name) = (
            q.get("namespace").cloned().unwrap_or_default(),
            q.get("name").cloned().unwrap_or_default(),
        );
        if let Some(info) = site.tables.lock().unwrap().get(&(ns.clone(), name.clone())) {
            return envelope_data(json!([info]));
        }
        let tracked = site.tracked.lock().unwrap();
        return match tracked
            .iter()
            .find(|t| t["namespace"] == ns.as_str() && t["name"] == name.as_str())
        {
            Some(t) => envelope_data(json!([info_of(t)])),
            None => envelope(7001, &format!("no found table {ns}.{name}")),
        };
    }
    let get = |k: &str| q.get(k).map(String::as_str).unwrap_or_default();
    let suffix = format!("_{}_{}", get("role"), get("party_id"));
    let tracked = site.tracked.lock().unwrap();
    let found: Vec<Value> = tracked
        .iter()
        .filter(|t| {
            t["source"]["task_name"] == get("task_name")
                && t["execution_id"]
                    .as_str()
                    .is_some_and(|e| e.ends_with(&suffix) && e.starts_with(get("job_id")))
                && (!q.contains_key("output_key") || t["output_key"] == get("output_key"))
        })
        .map(info_of)
        .collect();
    if found.is_empty() {
        envelope(2005, "failed")
    } else {
        envelope_data(Value::Array(found))
    }
}

/// A tracking save as the data-table info the query answers with (`api.md` §9.6).
fn info_of(t: &Value) -> Value {
    json!({
        "namespace": t["namespace"], "name": t["name"], "count": t["overview"]["count"],
        "meta": t["meta_data"], "engine": "file", "path": t["uri"], "source": t["source"],
        "data_type": t["data_type"],
    })
}

//! The HTTP edge: FATE Flow 2.2's routes, envelopes and quirks, one module per FATE page.
//! Handlers parse parameters, call one controller function and wrap its result. Errors arrive
//! as the application layer's domain errors and get FATE's return code here: the refusals FATE
//! types in `fault::typed`, every other failure in `ApiError::envelope` (100, or 5008 on
//! worker routes). The quirks (see `docs/compat.md`):
//! - every answer is HTTP 200, errors carry a non-zero `code` (unknown route and wrong method
//!   included, as FATE's generic handler answers them);
//! - `//` in a path is merged and a trailing `/` ignored before routing (FATE's task client
//!   calls `/v2//worker/...`; FATE answers 308, we route directly);
//! - JSON bodies are read only with a JSON content type;
//! - two output routes answer a bare object, downloads answer files.

mod app;
mod audit;
mod data;
pub mod edge;
mod extract;
mod fault;
mod job;
mod log;
mod model;
mod output;
mod partner;
mod permission;
mod provider;
mod relay;
mod scheduler;
mod server;
mod signed;
mod site;
mod table;
mod worker;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Request, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use ferroflow_wire::{Envelope, RetCode};

use crate::app::App;
use crate::controller::Error;

pub use extract::Req;

/// A handler's answer.
pub enum Reply {
    Envelope(Envelope),
    /// A success whose data is already serialized (`ok_serialized`).
    Serialized(Vec<u8>),
    /// A JSON object without the envelope (`/v2/output/data/table|display`).
    Bare(Value),
    File {
        content_type: &'static str,
        filename: String,
        bytes: Vec<u8>,
    },
}

impl From<Envelope> for Reply {
    fn from(e: Envelope) -> Self {
        Reply::Envelope(e)
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        match self {
            Reply::Envelope(e) => json_response(&e.into_value()),
            Reply::Serialized(mut body) => {
                body.push(b'\n');
                json_body(body)
            }
            Reply::Bare(v) => json_response(&v),
            Reply::File {
                content_type,
                filename,
                bytes,
            } => {
                let mut r = (StatusCode::OK, bytes).into_response();
                let h = r.headers_mut();
                h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
                if let Ok(v) =
                    HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
                {
                    h.insert(header::CONTENT_DISPOSITION, v);
                }
                r
            }
        }
    }
}

fn json_response(v: &Value) -> Response {
    let mut body = serde_json::to_vec(v).unwrap_or_default();
    body.push(b'\n');
    json_body(body)
}

fn json_body(body: Vec<u8>) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// A failed call, answered as FATE would: HTTP 200 and a code.
pub struct ApiError {
    error: Error,
    /// Worker routes report untyped failures as 5008 with the request URL.
    worker_url: Option<String>,
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        Self {
            error,
            worker_url: None,
        }
    }
}

impl From<ferroflow_wire::Invalid> for ApiError {
    fn from(i: ferroflow_wire::Invalid) -> Self {
        Error::Invalid(i).into()
    }
}

impl ApiError {
    pub fn for_worker(self, url: &str) -> Self {
        Self {
            worker_url: Some(url.to_string()),
            ..self
        }
    }

    pub fn into_reply(self) -> Reply {
        Reply::Envelope(self.envelope())
    }

    fn envelope(&self) -> Envelope {
        if let Some(e) = fault::typed(&self.error) {
            return e;
        }
        match &self.error {
            Error::Store(e)
            | Error::Run(crate::run::Error::Store(e))
            | Error::Schedule(crate::scheduler::job::Error::Store(e)) => {
                tracing::error!(error = %e, detail = ?e, "storage failure");
                self.untyped("database error")
            }
            other => self.untyped(&other.to_string()),
        }
    }

    fn untyped(&self, message: &str) -> Envelope {
        match &self.worker_url {
            Some(url) => Envelope::with_code(
                RetCode::ComponentOutputException,
                format!("Request uri {url} failed: {message}"),
            ),
            None => Envelope::with_code(RetCode::ServerException, message.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = json_response(&self.envelope().to_value());
        // A task's call that met a database outage is answered 503 with the same envelope:
        // the task's client waits the outage out as it waits out a restarting site, rather
        // than failing the run for a fault of the site (FATE answers 200; its own workers
        // fail on the code either way).
        if self.worker_url.is_some() && self.is_storage() {
            *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        }
        r
    }
}

impl ApiError {
    fn is_storage(&self) -> bool {
        matches!(
            &self.error,
            Error::Store(_)
                | Error::Run(crate::run::Error::Store(_))
                | Error::Schedule(crate::scheduler::job::Error::Store(_))
        )
    }
}

pub type ApiResult = Result<Reply, ApiError>;

pub fn ok(e: Envelope) -> ApiResult {
    Ok(Reply::Envelope(e))
}

/// `ok(Envelope::ok_data(json!(data)))`, the same bytes, written straight from `data`: query
/// answers carry whole DAGs, and building a JSON tree of them first doubled their cost.
pub fn ok_serialized<T: serde::Serialize>(data: &T) -> ApiResult {
    /// The envelope's keys in the order `Envelope::into_value` writes them (sorted).
    #[derive(serde::Serialize)]
    struct Ok<'a, T> {
        code: i64,
        data: &'a T,
        message: &'static str,
    }
    let body = serde_json::to_vec(&Ok {
        code: 0,
        data,
        message: "success",
    })
    .map_err(|e| ApiError::from(Error::Answer(e)))?;
    Ok(Reply::Serialized(body))
}

/// Every route of the site.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .merge(job::routes())
        .merge(provider::routes())
        .merge(site::routes())
        .merge(output::routes())
        .merge(data::routes())
        .merge(table::routes())
        .merge(model::routes())
        .merge(log::routes())
        .merge(app::routes())
        .merge(permission::routes())
        .merge(server::routes())
        .merge(partner::routes())
        .merge(scheduler::routes())
        .merge(worker::routes())
        .merge(audit::routes())
        .merge(crate::ui::routes())
        .route("/metrics", axum::routing::get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(1 << 30))
        .layer(axum::middleware::from_fn_with_state(app.clone(), cause))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            scrub_paths,
        ))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            authenticate,
        ))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            signed::verify,
        ))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            relay::relay,
        ))
        .layer(axum::middleware::from_fn(signed::scope))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            audit_calls,
        ))
        .with_state(app)
}

/// FATE's authentication ([`crate::auth::admit`]), before any handler: a refused request is
/// answered here (HTTP 200, FATE's code) and reaches nothing; an admitted one carries its
/// [`crate::auth::Caller`]. Commands relayed to other sites pass before this (their
/// destination verifies them).
async fn authenticate(
    axum::extract::State(app): axum::extract::State<Arc<App>>,
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    match crate::auth::admit(&app, &mut req).await {
        Ok(Some(caller)) => {
            let who = match &caller {
                crate::auth::Caller::Client { app_id, .. } => format!("app {app_id}"),
                crate::auth::Caller::Site { app_id, party } => match party {
                    Some(p) => format!("party {p} (app {app_id})"),
                    None => format!("app {app_id}"),
                },
            };
            crate::audit::verified(&mut req, &who);
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Ok(None) => next.run(req).await,
        Err(refusal) => {
            tracing::info!(%method, %path, code = refusal.code.code(), "request refused");
            if path.starts_with(crate::ui::API_PREFIX) {
                // The dashboard's script answers a 401 with its login page.
                let body = serde_json::json!({
                    "error": format!("{} (log in at /ui/login)", refusal.message),
                    "code": refusal.code.code(),
                });
                let mut r = json_response(&body);
                *r.status_mut() = StatusCode::UNAUTHORIZED;
                return r;
            }
            json_response(&Envelope::with_code(refusal.code, refusal.message).into_value())
        }
    }
}

/// Names the request as the cause of every status change it commits (the event log): the
/// route and, for a command from a site, the calling party.
/// Task processes' calls (api-3) are counted here, by route.
async fn cause(
    axum::extract::State(app): axum::extract::State<Arc<App>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if let Some(route) = worker::route_of(req.uri().path()) {
        app.metrics.worker_calls.add(route);
    }
    let h = req.headers();
    let header = |name: &str| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let from = match (header("src-party-id"), header("initiator-party-id")) {
        (Some(party), _) => format!(" from party {party}"),
        (None, Some(party)) => format!(" (job initiator party {party})"),
        _ => String::new(),
    };
    let cause = format!("{} {}{from}", req.method(), req.uri().path());
    crate::store::with_cause(cause, next.run(req)).await
}

/// The route group of a path, for the audit log: `worker` (api-3), `site` (api-2, api-4) or
/// `client` (the rest of `/v2/`); `None` for the dashboard and `/metrics`.
fn group_of(path: &str) -> Option<&'static str> {
    if path.starts_with("/v2/worker/") {
        return Some("worker");
    }
    match crate::auth::group_of(path) {
        crate::auth::Group::Client => Some("client"),
        crate::auth::Group::Site => Some("site"),
        crate::auth::Group::Open => None,
    }
}

/// The audit log of HTTP calls (`crate::audit`): every call to an authenticated route group,
/// and every refusal in any group, with the caller (verified by a check — a
/// [`crate::audit::Caller`] extension or the [`crate::audit::Slot`] — or as the request
/// claims it: `appId`, `src-party-id`, the task run named), the route, the answer's code, the
/// time and the peer address.
async fn audit_calls(
    axum::extract::State(app): axum::extract::State<Arc<App>>,
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let Some(group) = group_of(req.uri().path()) else {
        return next.run(req).await;
    };
    let auth = &app.config.auth;
    let authenticated = match group {
        "worker" => auth.worker,
        "site" => auth.site(),
        _ => auth.client(),
    };
    let slot = crate::audit::Slot::default();
    req.extensions_mut().insert(slot.clone());
    let before = req
        .extensions()
        .get::<crate::audit::Caller>()
        .map(|c| c.0.clone());
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0)
        .or_else(|| {
            req.extensions()
                .get::<axum::extract::ConnectInfo<crate::tls::TlsPeer>>()
                .map(|c| c.0.addr)
        });
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let claimed = claimed_caller(req.headers());
    let resp = next.run(req).await;
    let after = resp
        .extensions()
        .get::<crate::audit::Caller>()
        .map(|c| c.0.clone());
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == b"application/json");
    let (resp, code) = if is_json {
        let (parts, body) = resp.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        let code = envelope_code(&bytes);
        (
            Response::from_parts(parts, axum::body::Body::from(bytes)),
            code,
        )
    } else {
        (resp, 0)
    };
    let (caller, verified) = match (before.or(after), slot.get()) {
        (Some(c), _) => (c, true),
        (None, Some((c, v))) => (c, v),
        (None, None) => (claimed, false),
    };
    if authenticated || crate::audit::is_refusal(code, verified) {
        let route = edge::route(&method, &path).map_or(path.as_str(), |r| r.path);
        crate::audit::record(
            &app.audit,
            app.now(),
            &crate::audit::Event {
                group,
                caller: &caller,
                verified,
                method: &method,
                route,
                code,
                peer,
                detail: "",
            },
        );
    }
    resp
}

/// The caller as a request's headers name it: FATE's `appId` (clients, signing sites) and
/// `src-party-id` (a command from a site).
fn claimed_caller(h: &axum::http::HeaderMap) -> String {
    let header = |name: &str| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
    };
    match (header("appId"), header("src-party-id")) {
        (Some(app_id), Some(party)) => format!("party {party} app {app_id}"),
        (Some(app_id), None) => format!("app {app_id}"),
        (None, Some(party)) => format!("party {party}"),
        (None, None) => String::new(),
    }
}

/// The `code` of an envelope (its first key, as every answer here writes it); 0 otherwise.
fn envelope_code(body: &[u8]) -> i64 {
    let Some(rest) = body.strip_prefix(br#"{"code":"#) else {
        return 0;
    };
    let digits: Vec<u8> = rest
        .iter()
        .copied()
        .take_while(|b| b.is_ascii_digit() || *b == b'-')
        .collect();
    std::str::from_utf8(&digits)
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(0)
}

/// A failed api-1 answer names the site's directories by their settings ([`edge::scrub`]).
/// Successes (which start `{"code":0,`) pass untouched.
async fn scrub_paths(
    axum::extract::State(app): axum::extract::State<Arc<App>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let internal = edge::is_internal(req.uri().path());
    let resp = next.run(req).await;
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == b"application/json");
    if internal || !is_json {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    if bytes.starts_with(br#"{"code":0,"#) {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    }
    match edge::scrub(&edge::directories(&app), &bytes) {
        Some(clean) => {
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, axum::body::Body::from(clean))
        }
        None => Response::from_parts(parts, axum::body::Body::from(bytes)),
    }
}

/// Prometheus' text format.
async fn metrics(axum::extract::State(app): axum::extract::State<Arc<App>>) -> Response {
    let mut text = app.metrics.render();
    app.audit.render(&mut text);
    app.fed.counters.render(&mut text);
    app.store.timings.render(&mut text);
    match app.store.site_load().await {
        Ok(load) => {
            use crate::metrics::render_gauges;
            for (name, help, values) in [
                (
                    "ferroflow_scheduled_jobs",
                    "Jobs scheduled by this site, by federated status.",
                    &load.scheduled_jobs,
                ),
                (
                    "ferroflow_party_jobs",
                    "Job rows of this site's parties, by status.",
                    &load.party_jobs,
                ),
                (
                    "ferroflow_party_tasks",
                    "Task runs of this site's parties, by party status.",
                    &load.party_tasks,
                ),
            ] {
                render_gauges(name, help, "status", values, &mut text);
            }
            render_gauges(
                "ferroflow_cores",
                "Cores of the computing engine, by use.",
                "use",
                &[
                    ("in_use".into(), load.cores - load.remaining_cores),
                    ("free".into(), load.remaining_cores),
                ],
                &mut text,
            );
        }
        Err(e) => tracing::error!(error = %e, "metrics: cannot read the site's load"),
    }
    let mut r = (StatusCode::OK, text).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    r
}

async fn not_found(_: extract::Drained) -> Reply {
    Envelope::with_code(RetCode::ServerException, "<NotFound '404: Not Found'>").into()
}

async fn method_not_allowed(_: extract::Drained) -> Reply {
    Envelope::with_code(
        RetCode::ServerException,
        "<MethodNotAllowed '405: Method Not Allowed'>",
    )
    .into()
}

/// Merges repeated slashes and drops a trailing one, keeping the query.
pub fn normalize_path<B>(mut req: Request<B>) -> Request<B> {
    let path = req.uri().path();
    if !(path.contains("//") || (path.len() > 1 && path.ends_with('/'))) {
        return req;
    }
    let mut clean = String::with_capacity(path.len());
    for c in path.chars() {
        if c == '/' && clean.ends_with('/') {
            continue;
        }
        clean.push(c);
    }
    if clean.len() > 1 && clean.ends_with('/') {
        clean.pop();
    }
    let pq = match req.uri().query() {
        Some(q) => format!("{clean}?{q}"),
        None => clean,
    };
    let mut parts = req.uri().clone().into_parts();
    if let Ok(pq) = pq.parse() {
        parts.path_and_query = Some(pq);
        if let Ok(uri) = Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
    req
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_of(r: ApiResult) -> Vec<u8> {
        let Ok(Reply::Serialized(b)) = r else {
            panic!("not a serialized answer")
        };
        b
    }

    #[test]
    fn serialized_answers_are_the_envelopes_bytes() {
        let data = serde_json::json!([{"job_id": "1", "dag": {"z": 1, "a": [1.5, "x"]}}, {}]);
        let envelope = serde_json::to_vec(&Envelope::ok_data(data.clone()).into_value()).unwrap();
        assert_eq!(body_of(ok_serialized(&data)), envelope);
        let empty: Vec<Value> = Vec::new();
        assert_eq!(
            body_of(ok_serialized(&empty)),
            br#"{"code":0,"data":[],"message":"success"}"#
        );
    }

    #[test]
    fn codes_are_read_from_the_envelope() {
        assert_eq!(envelope_code(br#"{"code":5003,"message":"x"}"#), 5003);
        assert_eq!(envelope_code(br#"{"code":0,"data":[]}"#), 0);
        assert_eq!(envelope_code(b"[1]"), 0);
        assert_eq!(group_of("/v2/worker/task/status"), Some("worker"));
        assert_eq!(group_of("/v2/partner/job/create"), Some("site"));
        assert_eq!(group_of("/v2/job/query"), Some("client"));
        assert_eq!(group_of("/metrics"), None);
    }

    #[test]
    fn paths_are_normalized() {
        let n = |p: &str| {
            normalize_path(Request::builder().uri(p).body(()).unwrap())
                .uri()
                .to_string()
        };
        assert_eq!(n("/v2//worker/task/status"), "/v2/worker/task/status");
        assert_eq!(n("/v2/job/query/?job_id=1"), "/v2/job/query?job_id=1");
        assert_eq!(n("/v2/job/query"), "/v2/job/query");
        assert_eq!(n("/"), "/");
    }
}

//! The dashboard: pages under `/ui/` served by the site itself, assets compiled into the
//! binary, plain HTML, CSS and JavaScript (the DAG and the charts are SVG drawn by the page).
//!
//! Every page is one shell (`assets/index.html`) that names its view and arguments; the
//! script renders the view from JSON: FATE's own routes where they answer what a page needs
//! (tasks, metrics, models, logs, providers, stop and rerun), and the read-only `/ui/api/*`
//! routes of `api` where they do not (the paged job list, the event log, the site's state).
//! Pages stay live by conditional polling: every `/ui/api` answer carries an ETag, and an
//! unchanged answer is a bodiless 304.
//!
//! Unknown job or task ids are answered with the "not found" view and HTTP 404, decided here
//! (not by the script), so a wrong link never shows a blank page. The script writes every
//! value as text (`textContent`, SVG text nodes), never as markup.
//!
//! # Layout
//! - `api`: the JSON routes.
//! - `assets/`: `index.html`, `app.js`, `style.css`.

mod api;

/// The dashboard's data routes: behind client authentication when it is on (`auth::group_of`),
/// the pages themselves are not.
pub const API_PREFIX: &str = "/ui/api/";

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use ferroflow_core::id::JobId;

use crate::app::App;
use crate::store::TaskFilter;

const INDEX: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const STYLE_CSS: &str = include_str!("assets/style.css");

/// The dashboard's routes, mounted beside FATE's.
pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/ui", get(jobs_page))
        .route("/ui/jobs", get(jobs_page))
        .route("/ui/site", get(site_page))
        .route("/ui/login", get(login_page))
        .route("/ui/job/{job_id}", get(job_page))
        .route(
            "/ui/job/{job_id}/{role}/{party_id}/{task_name}",
            get(task_page),
        )
        .route("/ui/assets/{name}", get(asset))
        .merge(api::routes())
        .route("/ui/{*rest}", get(unknown_page))
}

/// The shell naming `view` with its arguments, HTML-escaped into attributes.
fn page(status: StatusCode, view: &str, args: serde_json::Value) -> Response {
    let html = INDEX
        .replace("__VIEW__", &escape_html(view))
        .replace("__ARGS__", &escape_html(&args.to_string()));
    let mut r = (status, html).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn not_found(what: &str, args: serde_json::Value) -> Response {
    page(
        StatusCode::NOT_FOUND,
        "notfound",
        json!({"what": what, "args": args}),
    )
}

async fn jobs_page() -> Response {
    page(StatusCode::OK, "jobs", json!({}))
}

async fn site_page() -> Response {
    page(StatusCode::OK, "site", json!({}))
}

/// The page says whether the site checks credentials itself: its data routes would answer a
/// tab that has not signed in with a 401 (which a browser logs as an error).
async fn login_page(State(app): State<Arc<App>>) -> Response {
    page(
        StatusCode::OK,
        "login",
        json!({"client_authentication": app.config.auth.client()}),
    )
}

async fn unknown_page(Path(rest): Path<String>) -> Response {
    not_found("page", json!({"path": format!("/ui/{rest}")}))
}

async fn job_page(State(app): State<Arc<App>>, Path(job_id): Path<String>) -> Response {
    match app.store.jobs_of(&JobId::new(&job_id)).await {
        Ok(rows) if !rows.is_empty() => page(StatusCode::OK, "job", json!({"job_id": job_id})),
        Ok(_) => not_found("job", json!({"job_id": job_id})),
        Err(e) => error_page(&e),
    }
}

async fn task_page(
    State(app): State<Arc<App>>,
    Path((job_id, role, party_id, task_name)): Path<(String, String, String, String)>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let args = json!({"job_id": job_id, "role": role, "party_id": party_id,
        "task_name": task_name, "task_version": q.get("task_version")});
    let found = app
        .store
        .query_tasks(&TaskFilter {
            job_id: Some(job_id.clone()),
            role: Some(role.clone()),
            party_id: Some(party_id.clone()),
            task_name: Some(task_name.clone()),
            ..Default::default()
        })
        .await;
    match found {
        Ok(rows) if !rows.is_empty() => page(StatusCode::OK, "task", args),
        Ok(_) => not_found("task", args),
        Err(e) => error_page(&e),
    }
}

fn error_page(e: &crate::store::Error) -> Response {
    tracing::error!(error = %e, detail = ?e, "dashboard page");
    page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "error",
        json!({"message": "database error"}),
    )
}

async fn asset(Path(name): Path<String>) -> Response {
    let (body, kind) = match name.as_str() {
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "style.css" => (STYLE_CSS, "text/css; charset=utf-8"),
        _ => return not_found("asset", json!({"name": name})),
    };
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    // Assets change only with the binary; the ETag is the binary's version and their size.
    if let Ok(v) =
        HeaderValue::from_str(&format!("\"{}-{}\"", env!("CARGO_PKG_VERSION"), body.len()))
    {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// A JSON answer with an ETag of its bytes; 304 without a body when the caller has them.
pub(crate) fn json_etag(headers: &HeaderMap, body: Vec<u8>) -> Response {
    let tag = format!("\"{:016x}\"", fnv1a(&body));
    let mut r = if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag))
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = (StatusCode::OK, body).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        r
    };
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// FNV-1a, 64 bits: stable across processes, so an ETag survives a restart of the site.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

pub(crate) fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_arguments_stays_text() {
        assert_eq!(
            escape_html(r#"<script>alert("x")</script>&'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"
        );
        let r = page(StatusCode::OK, "job", json!({"job_id": "<b>x</b>"}));
        assert_eq!(r.status(), StatusCode::OK);
    }

    #[test]
    fn an_unchanged_answer_is_a_304() {
        let first = json_etag(&HeaderMap::new(), b"{\"a\":1}".to_vec());
        let tag = first.headers()[header::ETAG].clone();
        let mut h = HeaderMap::new();
        h.insert(header::IF_NONE_MATCH, tag);
        assert_eq!(
            json_etag(&h, b"{\"a\":1}".to_vec()).status(),
            StatusCode::NOT_MODIFIED
        );
        assert_eq!(
            json_etag(&h, b"{\"a\":2}".to_vec()).status(),
            StatusCode::OK
        );
    }
}

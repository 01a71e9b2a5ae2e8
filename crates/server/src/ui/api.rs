//! `/ui/api/*`: read-only JSON for the dashboard where FATE's routes are not enough. Plain
//! JSON with HTTP statuses (400 bad parameter, 404 unknown id), not FATE's envelope: these
//! routes are the dashboard's own, no FATE client calls them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use ferroflow_core::id::JobId;
use ferroflow_wire::client::TaskQuery;

use super::json_etag;
use crate::app::App;
use crate::controller;
use crate::federation::route::Route;
use crate::store::{ProviderFilter, UiJobFilter};

type Params = Query<HashMap<String, String>>;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/ui/api/jobs", get(jobs))
        .route("/ui/api/job", get(job))
        .route("/ui/api/events", get(events))
        .route("/ui/api/site", get(site))
}

/// An answer that is not data.
struct Failure(StatusCode, String);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (
            self.0,
            [("content-type", "application/json")],
            json!({"error": self.1}).to_string(),
        )
            .into_response()
    }
}

impl From<crate::store::Error> for Failure {
    fn from(e: crate::store::Error) -> Self {
        tracing::error!(error = %e, detail = ?e, "dashboard api");
        Failure(StatusCode::INTERNAL_SERVER_ERROR, "database error".into())
    }
}

type Answer = Result<Response, Failure>;

fn answer(headers: &HeaderMap, v: &impl serde::Serialize) -> Answer {
    let body = serde_json::to_vec(v)
        .map_err(|e| Failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(json_etag(headers, body))
}

fn text(q: &HashMap<String, String>, key: &str) -> Option<String> {
    q.get(key)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn int(q: &HashMap<String, String>, key: &str) -> Result<Option<i64>, Failure> {
    text(q, key)
        .map(|v| {
            v.parse::<i64>().map_err(|_| {
                Failure(
                    StatusCode::BAD_REQUEST,
                    format!("{key} must be an integer, not {v:?}"),
                )
            })
        })
        .transpose()
}

fn required(q: &HashMap<String, String>, key: &str) -> Result<String, Failure> {
    text(q, key).ok_or_else(|| Failure(StatusCode::BAD_REQUEST, format!("{key} is required")))
}

/// More statuses than there are is a hostile request (each is a bound parameter).
const MAX_STATUSES: usize = 16;

/// `/ui/api/jobs?status=a,b&party_id=&role=&tag=&job_id=&since=&until=&page=&size=`: one page
/// of the job list (a row per local party of a job), newest first, with the total.
async fn jobs(State(app): State<Arc<App>>, headers: HeaderMap, Query(q): Params) -> Answer {
    let page = int(&q, "page")?.unwrap_or(1).max(1);
    let size = int(&q, "size")?.unwrap_or(50).clamp(1, 500);
    let statuses: Vec<String> = text(&q, "status")
        .map(|s| {
            s.split(',')
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if statuses.len() > MAX_STATUSES {
        return Err(Failure(
            StatusCode::BAD_REQUEST,
            format!("at most {MAX_STATUSES} statuses"),
        ));
    }
    let filter = UiJobFilter {
        statuses,
        party_id: text(&q, "party_id"),
        role: text(&q, "role"),
        tag: text(&q, "tag"),
        job_id_prefix: text(&q, "job_id"),
        since: int(&q, "since")?,
        until: int(&q, "until")?,
        offset: (page - 1).saturating_mul(size),
        limit: size,
    };
    let (total, rows) = app.store.ui_jobs(&filter).await?;
    answer(
        &headers,
        &json!({"total": total, "page": page, "size": size, "jobs": rows}),
    )
}

/// `/ui/api/job?job_id=`: everything the job page shows but the events: every local party's
/// job row, the latest run of each local party task, and, on the scheduler's site, the
/// federated statuses and every party's reported task statuses (remote parties included).
async fn job(State(app): State<Arc<App>>, headers: HeaderMap, Query(q): Params) -> Answer {
    let job_id = required(&q, "job_id")?;
    let id = JobId::new(&job_id);
    let rows = app.store.jobs_of(&id).await?;
    if rows.is_empty() {
        return Err(Failure(
            StatusCode::NOT_FOUND,
            format!("no job {job_id} on this site"),
        ));
    }
    let schedule = app.store.schedule_job(&id).await?;
    let wait_reason = schedule.as_ref().and_then(|s| s.wait_reason.clone());
    let jobs: Vec<_> = rows
        .into_iter()
        .map(|r| controller::job::job_record(r, wait_reason.clone()))
        .collect();
    let tasks = match controller::job::query_tasks(
        &app,
        &TaskQuery {
            job_id: Some(job_id.clone()),
            ..Default::default()
        },
    )
    .await
    {
        Ok(t) => t,
        Err(controller::Error::Store(e)) => return Err(e.into()),
        Err(_) => Vec::new(),
    };
    let scheduled = match &schedule {
        None => Value::Null,
        Some(s) => {
            let federated = app.store.latest_task_statuses(&id).await?;
            let reported = app.store.schedule_tasks_of(&id).await?;
            json!({
                "status": s.status.as_str(),
                "progress": s.progress,
                "wait_reason": s.wait_reason,
                "cancel_signal": s.cancel_signal,
                "start_time": s.start_time,
                "end_time": s.end_time,
                "create_time": s.create_time,
                "tasks": federated.iter().map(|t| json!({
                    "task_name": t.task_name.to_string(),
                    "task_id": t.task_id.to_string(),
                    "task_version": t.task_version,
                    "status": t.status.as_str(),
                    "deps": t.deps.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
                    "wait_reason": t.wait_reason,
                    "not_before": t.not_before,
                })).collect::<Vec<_>>(),
                "party_tasks": reported.iter().map(|t| json!({
                    "task_name": t.task_name.to_string(),
                    "task_version": t.task_version,
                    "role": t.party.role.as_str(),
                    "party_id": t.party.party_id.to_string(),
                    "status": t.status.as_str(),
                    "error_report": t.error_report,
                    "start_time": t.start_time,
                    "end_time": t.end_time,
                })).collect::<Vec<_>>(),
            })
        }
    };
    answer(
        &headers,
        &json!({"job_id": job_id, "jobs": jobs, "tasks": tasks, "scheduler": scheduled}),
    )
}

/// `/ui/api/events?job_id=&after=`: the job's event log after event `after`, oldest first.
async fn events(State(app): State<Arc<App>>, headers: HeaderMap, Query(q): Params) -> Answer {
    let job_id = required(&q, "job_id")?;
    let after = int(&q, "after")?.unwrap_or(0);
    let limit = int(&q, "limit")?.unwrap_or(1000).clamp(1, 5000);
    if after == 0 && app.store.jobs_of(&JobId::new(&job_id)).await?.is_empty() {
        return Err(Failure(
            StatusCode::NOT_FOUND,
            format!("no job {job_id} on this site"),
        ));
    }
    let events = app.store.job_events(&job_id, after, limit).await?;
    answer(&headers, &json!({"job_id": job_id, "events": events}))
}

/// `/ui/api/site`: this site, its partners and whether they answer, its load, its providers
/// and their components.
async fn site(State(app): State<Arc<App>>, headers: HeaderMap) -> Answer {
    let c = &app.config;
    let load = app.store.site_load().await?;
    let mut partners = Vec::new();
    let probes = c.routes.iter().map(|(party, route)| async move {
        let (kind, address) = match route {
            Route::Local => ("local", String::new()),
            Route::Http(u) => ("http", u.clone()),
            Route::Grpc(a) => ("grpc", a.clone()),
            Route::Grpcs(a) => ("grpcs", a.clone()),
        };
        let probe = match route {
            Route::Local => json!({"answers": true, "detail": "this site"}),
            _ => probe(&address).await,
        };
        json!({"party_id": party.to_string(), "kind": kind, "address": address, "probe": probe})
    });
    for p in futures::future::join_all(probes).await {
        partners.push(p);
    }
    let default_route = c.default_route.as_ref().map(|r| r.to_string());
    let components = app.store.components().await?;
    let providers: Vec<Value> = app
        .store
        .query_providers(&ProviderFilter::default())
        .await?
        .into_iter()
        .map(|p| {
            let names: Vec<&str> = components
                .iter()
                .filter(|c| c.provider_name == p.provider_name)
                .map(|c| c.component_name.as_str())
                .collect();
            json!({"provider_name": p.provider_name, "name": p.name, "version": p.version,
                "device": p.device.as_str(), "components": names})
        })
        .collect();
    answer(
        &headers,
        &json!({
            "party_id": c.party_id.to_string(),
            "version": env!("CARGO_PKG_VERSION"),
            "instances": [{
                "instance_id": c.instance_id(),
                "host": c.host,
                "http_port": c.http_port,
                "grpc_port": if c.serve_grpc { Some(c.grpc_port) } else { None },
                "version": env!("CARGO_PKG_VERSION"),
            }],
            "standalone": c.is_standalone(),
            "database": app.store.backend().as_str(),
            "client_authentication": c.auth.client(),
            "partners": partners,
            "default_route": default_route,
            "providers": providers,
            "load": load,
        }),
    )
}

/// Whether a partner's address takes a connection, within a second.
async fn probe(address: &str) -> Value {
    let rest = address.split_once("://").map_or(address, |(_, r)| r);
    let hostport = rest.split('/').next().unwrap_or(rest).to_string();
    let started = Instant::now();
    match tokio::time::timeout(
        Duration::from_secs(1),
        tokio::net::TcpStream::connect(&hostport),
    )
    .await
    {
        Ok(Ok(_)) => json!({"answers": true,
            "latency_ms": started.elapsed().as_secs_f64() * 1e3}),
        Ok(Err(e)) => json!({"answers": false, "detail": e.to_string()}),
        Err(_) => json!({"answers": false, "detail": "no answer within 1 s"}),
    }
}

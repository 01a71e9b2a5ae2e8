//! `/v2/worker/*` (api-3): task processes calling their site. Untyped failures are 5008 with
//! the request URL, as upstream answers them.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use serde_json::json;

use ferroflow_wire::worker::{
    DataTrackingQuery, DataTrackingSave, MetricSave, ModelDownload, ModelSave, TaskStatusReport,
};
use ferroflow_wire::{Envelope, RetCode};

use super::{ApiError, ApiResult, Reply, Req, ok};
use crate::app::App;
use crate::controller::{Error, worker};

/// The api-3 route a path is, for counting calls (a fixed set: paths come from outside).
pub fn route_of(path: &str) -> Option<&'static str> {
    const ROUTES: [&str; 6] = [
        "/v2/worker/task/status",
        "/v2/worker/model/save",
        "/v2/worker/model/download",
        "/v2/worker/data/tracking/query",
        "/v2/worker/data/tracking/save",
        "/v2/worker/metric/save",
    ];
    if let Some(id) = path.strip_prefix("/v2/worker/metric/save/") {
        return (!id.is_empty() && !id.contains('/'))
            .then_some("/v2/worker/metric/save/{execution_id}");
    }
    ROUTES.into_iter().find(|r| *r == path)
}

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v2/worker/task/status", post(task_status))
        .route("/v2/worker/model/save", post(model_save))
        .route("/v2/worker/model/download", get(model_download))
        .route("/v2/worker/data/tracking/query", get(tracking_query))
        .route("/v2/worker/data/tracking/save", post(tracking_save))
        .route("/v2/worker/metric/save", post(metric_save))
        .route(
            "/v2/worker/metric/save/{execution_id}",
            post(metric_save_path),
        )
}

fn w(url: &str) -> impl Fn(Error) -> ApiError + '_ {
    move |e| ApiError::from(e).for_worker(url)
}

async fn task_status(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r: TaskStatusReport = req.parse()?;
    worker::report_status(&app, &r).await.map_err(w(&req.url))?;
    ok(Envelope::ok())
}

async fn model_save(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r: ModelSave = req.parse()?;
    let Some(file) = &req.file else {
        return ok(Envelope::error(RetCode::NoFoundFile, &[]));
    };
    worker::save_model(&app, &r, file)
        .await
        .map_err(w(&req.url))?;
    ok(Envelope::ok())
}

async fn model_download(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let q: ModelDownload = req.parse()?;
    let (filename, bytes) = worker::download_model(&app, &q)
        .await
        .map_err(w(&req.url))?;
    Ok(Reply::File {
        content_type: "application/x-tar",
        filename,
        bytes,
    })
}

async fn tracking_query(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let q: DataTrackingQuery = req.parse()?;
    let infos = worker::query_tracking(&app, &q)
        .await
        .map_err(w(&req.url))?;
    ok(Envelope::ok_data(json!(infos)))
}

async fn tracking_save(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r: DataTrackingSave = req.parse()?;
    worker::save_tracking(&app, &r).await.map_err(w(&req.url))?;
    ok(Envelope::ok())
}

async fn metric_save(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r = MetricSave::from_params(&req.params, None)?;
    worker::save_metrics(&app, &r).await.map_err(w(&req.url))?;
    ok(Envelope::ok())
}

async fn metric_save_path(
    State(app): State<Arc<App>>,
    Path(execution_id): Path<String>,
    req: Req,
) -> ApiResult {
    let r = MetricSave::from_params(&req.params, Some(&execution_id))?;
    worker::save_metrics(&app, &r).await.map_err(w(&req.url))?;
    ok(Envelope::ok())
}

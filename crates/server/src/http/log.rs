//! `/v2/log/*` and `/v2/job/log/download`.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use serde_json::json;

use ferroflow_wire::Envelope;
use ferroflow_wire::client::JobIdBody;
use ferroflow_wire::client::model::{LogCount, LogQuery};

use super::{ApiResult, Reply, Req, ok};
use crate::app::App;
use crate::controller::log;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v2/log/count", get(count))
        .route("/v2/log/query", get(query))
        .route("/v2/job/log/download", post(download))
}

async fn count(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let q: LogCount = req.parse()?;
    ok(Envelope::ok_data(json!(log::count(&app, &q).await?)))
}

async fn query(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let q: LogQuery = req.parse()?;
    ok(Envelope::ok_data(json!(log::query(&app, &q).await?)))
}

async fn download(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let b: JobIdBody = req.parse()?;
    let (filename, bytes) = log::download(&app, &b.job_id).await?;
    Ok(Reply::File {
        content_type: "application/gzip",
        filename,
        bytes,
    })
}

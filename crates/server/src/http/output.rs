//! `/v2/output/*`.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use serde_json::json;

use ferroflow_wire::Envelope;
use ferroflow_wire::client::{OutputDataDownload, OutputTask};

use super::{ApiResult, Reply, Req, ok};
use crate::app::App;
use crate::controller::output;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v2/output/metric/query", get(metric_query))
        .route("/v2/output/metric/key/query", get(metric_keys))
        .route("/v2/output/metric/delete", post(metric_delete))
        .route("/v2/output/model/query", get(model_query))
        .route("/v2/output/model/download", get(model_download))
        .route("/v2/output/model/delete", post(model_delete))
        .route("/v2/output/data/download", get(data_download))
        .route("/v2/output/data/table", get(data_table))
        .route("/v2/output/data/display", get(data_display))
}

async fn metric_query(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let q = OutputTask::from_query(&req.params)?;
    ok(Envelope::ok_data(json!(output::metrics(&app, &q).await?)))
}

async fn metric_keys(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let q = OutputTask::from_query(&req.params)?;
    ok(Envelope::ok_data(json!(
        output::metric_keys(&app, &q).await?
    )))
}

async fn metric_delete(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let q = OutputTask::from_json(&req.params)?;
    ok(Envelope::ok_data(json!(
        output::delete_metrics(&app, &q).await?
    )))
}

async fn model_query(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let q = OutputTask::from_query(&req.params)?;
    ok(Envelope::ok_data(output::models(&app, &q).await?))
}

async fn model_download(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let q = OutputTask::from_query(&req.params)?;
    let (filename, bytes) = output::model_archive(&app, &q).await?;
    Ok(Reply::File {
        content_type: "application/x-tar",
        filename,
        bytes,
    })
}

async fn model_delete(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let q = OutputTask::from_json(&req.params)?;
    output::delete_models(&app, &q).await?;
    ok(Envelope::ok())
}

async fn data_download(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let q: OutputDataDownload = req.parse()?;
    let (filename, bytes) = output::data_archive(&app, &q.task, q.output_key.as_deref()).await?;
    Ok(Reply::File {
        content_type: "application/gzip",
        filename,
        bytes,
    })
}

/// A bare object, no envelope (FATE quirk); errors still come as envelopes.
async fn data_table(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let q = OutputTask::from_query(&req.params)?;
    Ok(Reply::Bare(output::data_tables(&app, &q).await?))
}

async fn data_display(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let q = OutputTask::from_query(&req.params)?;
    Ok(Reply::Bare(output::data_display(&app, &q).await?))
}

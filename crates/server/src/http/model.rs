//! `/v2/model/*`.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use serde_json::json;

use ferroflow_wire::client::model::{ModelDelete, ModelExport, ModelImport};
use ferroflow_wire::{Envelope, RetCode};

use super::{ApiResult, Req, ok};
use crate::app::App;
use crate::controller::model;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v2/model/load", post(stub))
        .route("/v2/model/migrate", post(stub))
        .route("/v2/model/store", post(stub))
        .route("/v2/model/restore", post(stub))
        .route("/v2/model/export", post(export))
        .route("/v2/model/import", post(import))
        .route("/v2/model/delete", post(delete))
}

/// Stubs upstream: success, nothing done (docs/compat.md).
async fn stub(_: super::extract::Drained) -> ApiResult {
    ok(Envelope::ok())
}

async fn export(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r: ModelExport = req.parse()?;
    model::export(&app, &r).await?;
    ok(Envelope::ok())
}

async fn import(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r: ModelImport = req.parse()?;
    let Some(file) = &req.file else {
        return ok(Envelope::error(RetCode::NoFoundFile, &[]));
    };
    model::import(&app, &r, file).await?;
    ok(Envelope::ok())
}

async fn delete(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r: ModelDelete = req.parse()?;
    ok(Envelope::ok_data(
        json!({"count": model::delete(&app, &r).await?}),
    ))
}

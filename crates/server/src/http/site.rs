//! `/v2/site/info/query`.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde_json::json;

use ferroflow_wire::{Envelope, RetCode};

use super::{ApiResult, ok};
use crate::app::App;

pub fn routes() -> Router<Arc<App>> {
    Router::new().route("/v2/site/info/query", get(info))
}

/// A standalone site answers 3000 as FATE does (the pipeline SDK then uses its own party id).
async fn info(State(app): State<Arc<App>>, _: super::extract::Drained) -> ApiResult {
    if app.config.is_standalone() {
        return ok(Envelope::error(RetCode::SiteIsStandalone, &[]));
    }
    ok(Envelope::ok_data(json!({"party_id": app.config.party_id})))
}

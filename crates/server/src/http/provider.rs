//! `/v2/provider/*`.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use serde_json::json;

use ferroflow_wire::Envelope;
use ferroflow_wire::client::{ProviderFilter, ProviderRegister};

use super::{ApiResult, Req, ok};
use crate::app::App;
use crate::controller::provider;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v2/provider/register", post(register))
        .route("/v2/provider/query", get(query))
        .route("/v2/provider/delete", post(delete))
}

async fn register(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r: ProviderRegister = req.parse()?;
    ok(Envelope::ok_message(provider::register(&app, &r).await?))
}

async fn query(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let f = ProviderFilter::from_query(&req.params)?;
    ok(Envelope::ok_data(json!(provider::query(&app, &f).await?)))
}

async fn delete(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let f = ProviderFilter::from_json(&req.params)?;
    ok(Envelope::ok_data(json!(provider::delete(&app, &f).await?)))
}

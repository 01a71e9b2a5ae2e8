//! `/v2/table/*`.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};

use ferroflow_wire::Envelope;
use ferroflow_wire::client::data::{TableBindPath, TableDelete, TableQuery};

use super::{ApiResult, Req, ok};
use crate::app::App;
use crate::controller::table;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v2/table/query", get(query))
        .route("/v2/table/delete", post(delete))
        .route("/v2/table/bind/path", post(bind_path))
}

async fn query(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let q: TableQuery = req.parse()?;
    ok(Envelope::ok_data(table::query(&app, &q).await?))
}

async fn delete(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r: TableDelete = req.parse()?;
    table::delete(&app, &r.namespace, &r.name).await?;
    ok(Envelope::ok())
}

async fn bind_path(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r: TableBindPath = req.parse()?;
    table::bind_path(&app, &r).await?;
    ok(Envelope::ok())
}

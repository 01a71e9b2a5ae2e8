//! `/v2/server/*`.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};

use ferroflow_wire::Envelope;
use ferroflow_wire::client::admin::{ServerName, ServerRegistry, ServiceName, ServiceRegistry};

use super::{ApiResult, Req, ok};
use crate::app::App;
use crate::controller::server;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v2/server/fateflow", get(fateflow))
        .route("/v2/server/query/all", get(query_all))
        .route("/v2/server/query", get(query))
        .route("/v2/server/registry", post(registry))
        .route("/v2/server/delete", post(delete))
        .route("/v2/server/service/query", get(service_query))
        .route("/v2/server/service/registry", post(service_registry))
        .route("/v2/server/service/delete", post(service_delete))
}

fn done(deleted: bool) -> Envelope {
    Envelope::ok_message(if deleted { "success" } else { "failed" })
}

async fn fateflow(State(app): State<Arc<App>>, _: super::extract::Drained) -> ApiResult {
    ok(Envelope::ok_data(server::fateflow(&app).await?))
}

async fn query_all(State(app): State<Arc<App>>, _: super::extract::Drained) -> ApiResult {
    ok(Envelope::ok_data(server::query_all(&app).await?))
}

async fn query(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let q = ServerName::from_query(&req.params)?;
    ok(Envelope::ok_data(
        server::query(&app, &q.server_name).await?,
    ))
}

async fn registry(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r: ServerRegistry = req.parse()?;
    ok(Envelope::ok_data(server::registry(&app, &r).await?))
}

async fn delete(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r = ServerName::from_json(&req.params)?;
    ok(done(server::delete(&app, &r.server_name).await?))
}

async fn service_query(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let q = ServiceName::from_query(&req.params)?;
    ok(Envelope::ok_data(
        server::query_service(&app, &q.server_name, &q.service_name).await?,
    ))
}

async fn service_registry(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r: ServiceRegistry = req.parse()?;
    server::register_service(&app, &r).await?;
    ok(Envelope::ok())
}

async fn service_delete(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r = ServiceName::from_json(&req.params)?;
    ok(done(
        server::delete_service(&app, &r.server_name, &r.service_name).await?,
    ))
}

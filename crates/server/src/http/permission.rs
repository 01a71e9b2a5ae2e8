//! `/v2/permission/*`.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use serde_json::json;

use ferroflow_wire::Envelope;
use ferroflow_wire::client::admin::{AppIdQuery, ResourceGrant, ResourceQuery, RoleGrant};

use super::{ApiResult, Req, ok};
use crate::app::App;
use crate::controller::permission;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v2/permission/grant", post(grant))
        .route("/v2/permission/delete", post(delete))
        .route("/v2/permission/query", get(query))
        .route("/v2/permission/role/query", get(role_query))
        .route("/v2/permission/resource/grant", post(resource_grant))
        .route("/v2/permission/resource/delete", post(resource_delete))
        .route("/v2/permission/resource/query", get(resource_query))
}

async fn grant(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r: RoleGrant = req.parse()?;
    let s = permission::grant(&app, &r.app_id, &r.role).await?;
    ok(Envelope::ok_data(json!({ "status": s })))
}

async fn delete(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r: RoleGrant = req.parse()?;
    let s = permission::delete(&app, &r.app_id, &r.role).await?;
    ok(Envelope::ok_data(json!({ "status": s })))
}

async fn query(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let q: AppIdQuery = req.parse()?;
    ok(Envelope::ok_data(permission::query(&app, &q.app_id).await?))
}

async fn role_query(State(app): State<Arc<App>>, _: super::extract::Drained) -> ApiResult {
    ok(Envelope::ok_data(json!(permission::roles(&app))))
}

async fn resource_grant(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r: ResourceGrant = req.parse()?;
    permission::grant_resource(&app, &r).await?;
    ok(Envelope::ok())
}

async fn resource_delete(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r: ResourceGrant = req.parse()?;
    permission::delete_resource(&app, &r).await?;
    ok(Envelope::ok())
}

async fn resource_query(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let q: ResourceQuery = req.parse()?;
    ok(Envelope::ok_data(
        permission::query_resource(&app, &q.party_id).await?,
    ))
}

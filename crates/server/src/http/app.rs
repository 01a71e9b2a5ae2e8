//! `/v2/app/*` (FATE's `client_app.py`).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use serde_json::json;

use ferroflow_wire::Envelope;
use ferroflow_wire::client::admin::{
    AppIdBody, ClientCreate, ClientQuery, PartnerCreate, PartyIdBody, PartyIdQuery,
};

use super::{ApiResult, Req, ok};
use crate::app::App;
use crate::controller::app as apps;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v2/app/client/create", post(client_create))
        .route("/v2/app/client/delete", post(client_delete))
        .route("/v2/app/client/query", get(client_query))
        .route("/v2/app/site/create", post(site_create))
        .route("/v2/app/site/delete", post(site_delete))
        .route("/v2/app/site/query", get(site_query))
        .route("/v2/app/partner/create", post(partner_create))
        .route("/v2/app/partner/delete", post(partner_delete))
        .route("/v2/app/partner/query", get(partner_query))
}

/// The calling app, from the `appId` header client authentication uses.
fn caller(req: &Req) -> Option<&str> {
    req.params.header("appid")
}

fn status(s: bool) -> Envelope {
    Envelope::ok_data(json!({ "status": s }))
}

async fn client_create(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r: ClientCreate = req.parse()?;
    ok(Envelope::ok_data(
        apps::create_client(&app, caller(&req), &r.app_name).await?,
    ))
}

async fn client_delete(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r: AppIdBody = req.parse()?;
    ok(status(
        apps::delete_client(&app, caller(&req), &r.app_id).await?,
    ))
}

async fn client_query(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let q: ClientQuery = req.parse()?;
    let list = apps::query_client(
        &app,
        caller(&req),
        q.app_id.as_deref(),
        q.app_name.as_deref(),
    )
    .await?;
    ok(Envelope::ok_data(json!(list)))
}

async fn site_create(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r: PartyIdBody = req.parse()?;
    ok(Envelope::ok_data(
        apps::create_site(&app, &r.party_id).await?,
    ))
}

async fn site_delete(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r: PartyIdBody = req.parse()?;
    ok(status(apps::delete_site(&app, &r.party_id).await?))
}

async fn site_query(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let q = PartyIdQuery::required(&req.params)?;
    let list = apps::query_site(&app, q.party_id.as_deref().unwrap_or_default()).await?;
    ok(Envelope::ok_data(json!(list)))
}

async fn partner_create(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r: PartnerCreate = req.parse()?;
    ok(Envelope::ok_data(
        apps::create_partner(&app, &r.party_id, &r.app_id, &r.app_token).await?,
    ))
}

async fn partner_delete(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r: PartyIdBody = req.parse()?;
    ok(status(apps::delete_partner(&app, &r.party_id).await?))
}

async fn partner_query(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let q = PartyIdQuery::optional(&req.params)?;
    ok(Envelope::ok_data(json!(
        apps::query_partner(&app, q.party_id.as_deref()).await?
    )))
}

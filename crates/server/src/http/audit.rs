//! `GET /v2/audit/query` (ferroflow): the audit log, filtered and paged, newest first. With
//! client authentication on, only a verified caller with role `super_client` (the `admin` app
//! has it) may read it, as FATE restricts its `app` and `permission` pages.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde_json::json;

use ferroflow_wire::Envelope;

use super::{ApiError, ApiResult, Req, ok};
use crate::app::App;
use crate::controller::{Denial, Error, Input};
use crate::store::AuditFilter;

pub fn routes() -> Router<Arc<App>> {
    Router::new().route(crate::audit::QUERY_ROUTE, get(query))
}

/// A page holds at most this many rows (default 100).
const MAX_LIMIT: i64 = 1000;

async fn query(
    State(app): State<Arc<App>>,
    caller: Option<axum::Extension<crate::auth::Caller>>,
    req: Req,
) -> ApiResult {
    // Client authentication admitted this call only for a role with a policy for this route
    // (`super_client`: `auth::policy`); a call that reached here unverified is refused anyway.
    if app.config.auth.client() && caller.is_none() {
        return Err(ApiError::from(Error::refuse(Denial::Unauthenticated, &[])));
    }
    let text = |k: &str| {
        req.params
            .query
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let number = |k: &str| -> Result<Option<i64>, ApiError> {
        text(k)
            .map(|v| {
                v.parse::<i64>().map_err(|_| {
                    ApiError::from(Error::refuse_with(
                        Input::Parameter,
                        format!("Invalid parameter: {k}[{v}] is not an integer"),
                    ))
                })
            })
            .transpose()
    };
    let filter = AuditFilter {
        group: text("group"),
        result: text("result"),
        caller: text("caller"),
        route: text("route"),
        code: number("code")?,
        since: number("since")?,
        until: number("until")?,
        page: number("page")?.unwrap_or(1).max(1),
        limit: number("limit")?.unwrap_or(100).clamp(1, MAX_LIMIT),
    };
    // Every row recorded before this call is readable by it.
    app.audit.flush().await;
    let (rows, count) = app.store.query_audit(&filter).await.map_err(Error::from)?;
    ok(Envelope::ok_data(json!({"count": count, "audits": rows})))
}

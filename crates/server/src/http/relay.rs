//! The HTTP side of standing where FATE sites put their proxy (FATE's `proxy_name: nginx`):
//! a site-to-site command (`/v2/partner/*`, `/v2/scheduler/*`) whose `dest-party-id` names a
//! party this site does not serve is passed on by the route table instead of being handled.
//! Anything else goes to the handlers.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use ferroflow_core::id::PartyId;
use ferroflow_wire::{Envelope, RetCode};

use crate::app::App;
use crate::federation::Command;

/// Commands are small JSON documents (a DAG at most); anything bigger is not one.
const MAX_COMMAND_BYTES: usize = 64 << 20;

/// Headers that belong to one connection, not to the command.
const HOP_BY_HOP: [&str; 8] = [
    "host",
    "content-length",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "upgrade",
    "proxy-connection",
];

pub async fn relay(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if !(path.starts_with("/v2/partner/") || path.starts_with("/v2/scheduler/")) {
        return next.run(req).await;
    }
    let dest = req
        .headers()
        .get("dest-party-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(PartyId::new);
    let Some(dest) = dest.filter(|d| !app.fed.is_local(d)) else {
        return next.run(req).await;
    };
    let (parts, body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| parts.uri.path().to_string());
    let body = match axum::body::to_bytes(body, MAX_COMMAND_BYTES).await {
        Ok(b) => b,
        Err(e) => {
            let e = Envelope::with_code(
                RetCode::InvalidParameter,
                format!("command body unreadable: {e}"),
            );
            return super::json_response(&e.to_value());
        }
    };
    let headers = parts
        .headers
        .iter()
        .filter(|(k, _)| !HOP_BY_HOP.contains(&k.as_str()))
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let cmd = Command {
        dest,
        method: parts.method.as_str().to_string(),
        path,
        headers,
        body,
    };
    let reply = match app.fed.relay(cmd).await {
        Ok(v) => v,
        Err(u) => {
            tracing::debug!(%u, "relayed command not delivered");
            u.envelope().to_value()
        }
    };
    super::json_response(&reply)
}

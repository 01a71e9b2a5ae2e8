//! The HTTP edge of ferroflow's site authentication (`docs/security.md`), in two
//! layers around the relay:
//! - [`scope`], outermost: a request over the site TLS port (from a trusted certificate) must
//!   be a site command carrying a ferroflow signature, relayed or not;
//! - [`verify`], inside the relay (so it sees only commands handled here): a site command with
//!   an `X-Ferroflow-Signature` is verified before any handler runs, and the signer is put in
//!   the request's extensions ([`sign::Verified`]). A refusal changes nothing.
//!
//! Site commands without a ferroflow signature that did not come over the TLS port are left
//! to FATE's own site authentication.

use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use ferroflow_core::id::PartyId;

use crate::app::App;
use crate::federation::sign::{self, Refusal};
use crate::tls::{self, TlsPeer};

/// Commands are small JSON documents (a DAG at most); anything bigger is not one.
const MAX_COMMAND_BYTES: usize = 64 << 20;

fn refuse(r: &Refusal) -> Response {
    super::json_response(&r.envelope().to_value())
}

fn peer_of(req: &Request) -> Option<TlsPeer> {
    req.extensions()
        .get::<ConnectInfo<TlsPeer>>()
        .map(|c| c.0.clone())
}

pub async fn scope(req: Request, next: Next) -> Response {
    if let Some(peer) = peer_of(&req) {
        let signed = req.headers().contains_key(sign::SIGNATURE);
        if let Err(r) = tls::admit(&peer, req.uri().path(), signed) {
            return refuse(&r);
        }
    }
    next.run(req).await
}

pub async fn verify(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    if !tls::is_site_command(req.uri().path()) || !req.headers().contains_key(sign::SIGNATURE) {
        return next.run(req).await;
    }
    let who = peer_of(&req)
        .map(|p| p.to_string())
        .unwrap_or_else(|| "plain HTTP".into());
    let Some(sec) = app.fed.security() else {
        tls::refused(&who, &Refusal::NoCredentials);
        return refuse(&Refusal::NoCredentials);
    };
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, MAX_COMMAND_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            let r = Refusal::Mismatch;
            tls::refused(&who, &"command body unreadable or too large");
            return refuse(&r);
        }
    };
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or_else(|| parts.uri.path());
    let dest = header(sign::DEST_PARTY).unwrap_or_default();
    let verified = sec
        .verifier
        .verify(
            &sign::Received {
                method: parts.method.as_str(),
                path,
                body: &body,
                headers: &header,
            },
            sign::now_ms(),
        )
        .and_then(|v| {
            // The signature names its destination; a command for a party served elsewhere
            // never reaches here (the relay passed it on), so this is one signed for another.
            if dest.is_empty() || !app.fed.is_local(&PartyId::new(dest.clone())) {
                Err(Refusal::NotHere(dest.clone()))
            } else {
                Ok(v)
            }
        });
    match verified {
        Ok(v) => {
            let mut req = Request::from_parts(parts, axum::body::Body::from(body));
            crate::audit::verified(&mut req, &format!("party {} (key {})", v.src, v.key_id));
            req.extensions_mut().insert(v);
            next.run(req).await
        }
        Err(r) => {
            tls::refused(&format!("{who}, {} {path}", parts.method), &r);
            refuse(&r)
        }
    }
}

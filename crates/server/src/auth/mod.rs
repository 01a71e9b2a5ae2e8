//! Who may call this site: FATE's authentication scheme (`api.md` §7), on both sides.
//!
//! - api-1 (client routes): `fate_client`'s signed headers, checked when
//!   `authentication.client` is on;
//! - api-2 and api-4 (commands between sites): FATE Flow's site signature, checked when
//!   `authentication.site` is on — and added to the commands this site sends
//!   ([`crate::federation::Federation::signing`] decides the scheme, [`fate::site_headers`]
//!   makes them);
//! - api-3 (task processes) is not authenticated, as in FATE; the dashboard and `/metrics`
//!   neither (see `docs/security.md`).
//!
//! [`admit`] runs once per request, before any handler (a middleware of [`crate::http`]), and
//! decides in FATE's order: headers (5001), window (5000), app (5002), signature and replay
//! (5003), role policy (5004). A refusal changes nothing. The caller admitted is put into the
//! request's extensions as a [`Caller`].
//!
//! Both switches are on by default when the site listens on an address other than loopback
//! ([`crate::config::AuthSwitches::resolve`]).

pub mod credentials;
pub mod fate;
pub mod policy;
pub mod replay;

use axum::body::Body;
use axum::extract::Request;
use axum::http::HeaderMap;

use ferroflow_core::id::PartyId;
use ferroflow_wire::RetCode;

use crate::app::App;
use fate::{Kind, Refusal, Signed};
use replay::{Key, Seen};

/// The header of ferroflow-to-ferroflow signed commands, verified by its own verifier.
pub const FERROFLOW_SIGNATURE: &str = "x-ferroflow-signature";

/// Who made an admitted request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// An app calling api-1: its id and the `userName` it signed.
    Client { app_id: String, user_name: String },
    /// A site calling api-2/api-4: its app id, and the party a site app was made for.
    Site {
        app_id: String,
        party: Option<PartyId>,
    },
}

impl Caller {
    pub fn app_id(&self) -> &str {
        match self {
            Caller::Client { app_id, .. } | Caller::Site { app_id, .. } => app_id,
        }
    }
}

/// Which check a route gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// api-1.
    Client,
    /// api-2 and api-4.
    Site,
    /// api-3 (task processes), the dashboard's pages and scripts, `/metrics`.
    Open,
}

pub fn group_of(path: &str) -> Group {
    // The dashboard's data routes answer what api-1 answers (jobs, tasks, events): behind the
    // same check. Its pages and scripts hold no data and stay open (the login page is one).
    if path.starts_with(crate::ui::API_PREFIX) {
        return Group::Client;
    }
    if ["/v2/partner/", "/v2/scheduler/"]
        .iter()
        .any(|p| path.starts_with(p))
    {
        Group::Site
    } else if path.starts_with("/v2/worker/") || !path.starts_with("/v2/") {
        Group::Open
    } else {
        Group::Client
    }
}

/// An api-2/api-4 request signed with ferroflow's own scheme (`X-Ferroflow-Signature`) is
/// verified by that scheme's verifier, not by FATE's site check: the one place that decides.
pub fn left_to_ferroflow_verifier(headers: &HeaderMap) -> bool {
    headers.contains_key(FERROFLOW_SIGNATURE)
}

/// Decides one request. `Ok(None)`: nothing to check (an open route, or the switch is off).
pub async fn admit(app: &App, req: &mut Request) -> Result<Option<Caller>, Refusal> {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let path = path.as_str();
    let headers = req.headers();
    let kind = match group_of(path) {
        Group::Client if app.config.auth.client() => Kind::Client,
        Group::Site if app.config.auth.site() && !left_to_ferroflow_verifier(headers) => Kind::Site,
        _ => return Ok(None),
    };
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let signed = Signed::parse(kind, header)?;
    let now = app.now();
    signed.check_time(now)?;
    let found = app.store.app(&signed.app_id).await.map_err(database)?;
    let Some(found) = found else {
        return Err(Refusal::new(
            RetCode::NoFoundAppid,
            format!("No found appid: app_id[{}]", signed.app_id),
        ));
    };
    signed.verify(&found.app_token)?;
    // A read changes nothing: the same read again is harmless, and an honest client sends it
    // (the pipeline polls ten times a second, and its headers repeat once in 9,000 pairs).
    if !req.method().is_safe() {
        let key = Key {
            app_id: signed.app_id.clone(),
            nonce: signed.nonce.clone(),
            timestamp: signed.timestamp.clone(),
            signature: signed.signature.clone(),
            request: digest_of(req).await,
        };
        let forget_at = signed.timestamp_ms.saturating_add(fate::PAST_WINDOW_MS);
        match app.replay.admit(key, now, forget_at) {
            Ok(()) => {}
            Err(Seen::Replayed) => {
                return Err(Refusal::new(
                    RetCode::VerifyFailed,
                    "varify failed! this signed request was seen before (replay)",
                ));
            }
            Err(Seen::Full) => {
                return Err(Refusal::new(
                    RetCode::VerifyFailed,
                    "varify failed! too many signed requests within a minute; try again",
                ));
            }
        }
    }
    let roles = app.store.roles_of(&signed.app_id).await.map_err(database)?;
    let allowed = roles.iter().any(|r| policy::permits(r, &method, path));
    if !allowed {
        return Err(Refusal::new(
            RetCode::AuthenticationFailed,
            match kind {
                Kind::Client => "Authentication Failed".to_string(),
                Kind::Site => format!(
                    "Authentication Failed: app_id[{}, path[{path}, method[{method}]]]",
                    signed.app_id
                ),
            },
        ));
    }
    Ok(Some(match kind {
        Kind::Client => Caller::Client {
            app_id: signed.app_id,
            user_name: signed.who,
        },
        Kind::Site => Caller::Site {
            party: (found.app_type == "site").then(|| PartyId::new(&found.app_name)),
            app_id: signed.app_id,
        },
    }))
}

/// How much of a body the replay digest reads: a command is small; an upload past this is told
/// apart by its declared length and its first mebibyte.
const DIGEST_PREFIX_BYTES: usize = 1 << 20;

/// The request's digest for the replay cache ([`replay::request_digest`]). The body's prefix is
/// read and put back in front of the rest, so the handler reads the body it was sent (a read
/// error stays in the body, for the handler to meet).
async fn digest_of(req: &mut Request) -> [u8; 32] {
    use futures::StreamExt;
    let body = std::mem::take(req.body_mut());
    let mut rest = body.into_data_stream();
    let mut read: Vec<Result<bytes::Bytes, axum::Error>> = Vec::new();
    let mut prefix = Vec::new();
    while prefix.len() < DIGEST_PREFIX_BYTES {
        match rest.next().await {
            Some(Ok(chunk)) => {
                let room = DIGEST_PREFIX_BYTES - prefix.len();
                prefix.extend_from_slice(&chunk[..chunk.len().min(room)]);
                read.push(Ok(chunk));
            }
            Some(Err(e)) => {
                read.push(Err(e));
                break;
            }
            None => break,
        }
    }
    *req.body_mut() = Body::from_stream(futures::stream::iter(read).chain(rest));
    let length = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let target = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or_else(|| req.uri().path());
    replay::request_digest(req.method().as_str(), target, length, &prefix)
}

fn database(e: crate::store::Error) -> Refusal {
    tracing::error!(error = %e, "authentication: cannot read apps");
    Refusal::new(RetCode::ServerException, "database error")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups() {
        assert_eq!(group_of("/v2/job/submit"), Group::Client);
        assert_eq!(group_of("/v2/app/client/create"), Group::Client);
        assert_eq!(group_of("/v2/nothing"), Group::Client);
        assert_eq!(group_of("/v2/partner/job/create"), Group::Site);
        assert_eq!(group_of("/v2/scheduler/task/report"), Group::Site);
        assert_eq!(group_of("/v2/worker/task/status"), Group::Open);
        assert_eq!(group_of("/ui/api/jobs"), Group::Client);
        assert_eq!(group_of("/ui/job/x"), Group::Open);
        assert_eq!(group_of("/metrics"), Group::Open);
    }
}

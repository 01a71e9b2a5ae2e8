//! Reads a request into FATE's parameter locations (`api.md` §2).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header;
use axum::response::IntoResponse;

use ferroflow_wire::params::{Params, normalize_header};
use ferroflow_wire::{Envelope, RetCode};

use super::{ApiError, Reply};
use crate::app::App;
use crate::controller::Error;

/// A request's parameters, its `file` part if any, and its URL (for worker error messages).
pub struct Req {
    pub params: Params,
    pub file: Option<Bytes>,
    pub url: String,
    /// The JSON body as sent, for readers that must see it before it becomes a map.
    pub raw_json: Option<Bytes>,
}

impl FromRequest<Arc<App>> for Req {
    type Rejection = axum::response::Response;

    async fn from_request(req: Request, state: &Arc<App>) -> Result<Self, Self::Rejection> {
        let url = format!("{}{}", state.own_url, req.uri().path());
        let method = req.method().as_str().to_string();
        let path = req.uri().path().to_string();
        let slot = req.extensions().get::<crate::audit::Slot>().cloned();
        let mut params = Params::default();
        if let Some(q) = req.uri().query() {
            params.query =
                serde_urlencoded::from_str::<Vec<(String, String)>>(q).unwrap_or_default();
        }
        params.headers = req
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((normalize_header(k.as_str()), v.to_str().ok()?.to_string())))
            .collect();
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let mime = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
        let mut file = None;
        let mut raw_json = None;
        let mut body_json = None;
        if mime == "multipart/form-data" {
            let mut mp = Multipart::from_request(req, state)
                .await
                .map_err(|_| bad_request())?;
            while let Ok(Some(field)) = mp.next_field().await {
                let name = field.name().unwrap_or_default().to_string();
                if field.file_name().is_some() {
                    let bytes = field.bytes().await.map_err(|_| bad_request())?;
                    if name == "file" {
                        file = Some(bytes);
                    }
                    params.files.push(name);
                } else {
                    let text = field.text().await.map_err(|_| bad_request())?;
                    params.form.push((name, text));
                }
            }
        } else {
            let body = Bytes::from_request(req, state)
                .await
                .map_err(|_| bad_request())?;
            if is_json(&mime) {
                if !body.iter().all(u8::is_ascii_whitespace) {
                    let v: serde_json::Value =
                        serde_json::from_slice(&body).map_err(|_| bad_request())?;
                    params = Params {
                        json: v.as_object().cloned().unwrap_or_default(),
                        ..params
                    };
                    raw_json = Some(body);
                    body_json = Some(v);
                }
            } else if mime == "application/x-www-form-urlencoded" {
                params.form = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body)
                    .unwrap_or_default();
            }
        }
        // A task's call that meets a database outage here (the edge's lookups, the token's run)
        // is answered as its handler would answer it: 503, which the task waits out.
        let refuse = |e: crate::controller::Error| {
            let e = ApiError::from(e);
            if path.starts_with("/v2/worker/") {
                e.for_worker(&url).into_response()
            } else {
                e.into_response()
            }
        };
        super::edge::admit(state, &method, &path, &params, body_json.as_ref())
            .await
            .map_err(refuse)?;
        // api-3: the run's worker token, after the shape checks (which read nothing) and
        // before the handler reads or writes anything.
        if state.config.auth.worker
            && let Some(route) = super::edge::route(&method, &path)
            && let Some(claim) = super::edge::worker_claim(route, &path, &params)
        {
            if let Some(s) = &slot {
                s.claim(&claim.describe());
            }
            let token = params.header(crate::run::token::HEADER);
            let run = crate::controller::worker::authorize(state, token, &claim)
                .await
                .map_err(refuse)?;
            if let Some(s) = &slot {
                s.verify(&format!("task {run}"));
            }
        }
        Ok(Req {
            params,
            file,
            url,
            raw_json,
        })
    }
}

fn is_json(mime: &str) -> bool {
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

fn bad_request() -> axum::response::Response {
    Reply::from(Envelope::with_code(
        RetCode::ServerException,
        "<BadRequest '400: Bad Request'>",
    ))
    .into_response()
}

impl Req {
    /// Reads a typed request from the parameters.
    pub fn parse<T: ferroflow_wire::FromParams>(&self) -> Result<T, ApiError> {
        T::from_params(&self.params).map_err(|i| ApiError::from(Error::Invalid(i)))
    }

    /// Reads a command's body: the type its route names, the one its sender serialises.
    pub fn command<B: ferroflow_wire::FromParams>(
        &self,
        _route: ferroflow_wire::Route<B>,
    ) -> Result<B, ApiError> {
        self.parse()
    }
}

/// A request body no handler needs, read to its end and dropped: a body left unread makes the
/// server close the connection after its answer, and a client that reuses it (fate_client's
/// pooled `requests` session) fails its next call with "Remote end closed connection".
pub struct Drained;

impl<S: Send + Sync> FromRequest<S> for Drained {
    type Rejection = std::convert::Infallible;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        use futures::StreamExt;
        let mut body = req.into_body().into_data_stream();
        while let Some(Ok(_)) = body.next().await {}
        Ok(Drained)
    }
}

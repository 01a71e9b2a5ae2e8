//! `/v2/data/*` and `/v2/job/data/view`.
//!
//! `upload/file` reads its multipart body itself: the file part is streamed to disk (never
//! held in memory) and refused past `upload_max_bytes`, so a large upload runs in bounded
//! memory and an oversized one leaves nothing behind.

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::http::header;
use axum::routing::{get, post};
use tokio::io::AsyncWriteExt;

use ferroflow_wire::client::JobPartyQuery;
use ferroflow_wire::client::data::{
    ComponentDownload, DataDownload, Transformer, Upload, UploadFile,
};
use ferroflow_wire::params::{Params, normalize_header};
use ferroflow_wire::{Envelope, FromParams, RetCode};

use super::{ApiResult, Reply, Req, ok};
use crate::app::App;
use crate::controller::{Error, Input, data};

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v2/data/component/upload", post(upload))
        .route(
            "/v2/data/component/upload/file",
            post(upload_file).layer(DefaultBodyLimit::disable()),
        )
        .route("/v2/data/component/download", post(component_download))
        .route(
            "/v2/data/component/dataframe/transformer",
            post(transformer),
        )
        .route("/v2/data/download", get(download))
        .route("/v2/job/data/view", get(data_view))
}

async fn upload(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r: Upload = req.parse()?;
    ok(data::upload(&app, &r).await?)
}

fn bad_request() -> Reply {
    Envelope::with_code(RetCode::ServerException, "<BadRequest '400: Bad Request'>").into()
}

fn too_large(filename: &str, limit: u64) -> Error {
    Error::refuse_with(
        Input::Parameter,
        format!(
            "Invalid parameter: file[{filename}]: larger than this site accepts ({limit} bytes, upload_max_bytes)"
        ),
    )
}

/// Streams the multipart body: form fields into `Params`, the `file` part to `saved`.
async fn receive(
    app: &App,
    req: Request,
    saved: &std::path::Path,
) -> Result<(Params, Option<String>), Reply> {
    let mut params = Params {
        headers: req
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((normalize_header(k.as_str()), v.to_str().ok()?.to_string())))
            .collect(),
        ..Default::default()
    };
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    if !is_multipart {
        return Ok((params, None));
    }
    let mut mp = Multipart::from_request(req, &())
        .await
        .map_err(|_| bad_request())?;
    let mut filename = None;
    let limit = app.config.upload_max_bytes;
    loop {
        let field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(_) => return Err(bad_request()),
        };
        let name = field.name().unwrap_or_default().to_string();
        if let Some(fname) = field.file_name().map(str::to_string) {
            params.files.push(name.clone());
            if name != "file" || filename.is_some() {
                continue;
            }
            let mut field = field;
            if let Some(dir) = saved.parent() {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(|e| Reply::from(internal(&e)))?;
            }
            let mut out = tokio::fs::File::create(saved)
                .await
                .map_err(|e| Reply::from(internal(&e)))?;
            let mut written: u64 = 0;
            loop {
                match field.chunk().await {
                    Ok(Some(chunk)) => {
                        written += chunk.len() as u64;
                        if written > limit {
                            drop(out);
                            let _ = tokio::fs::remove_file(saved).await;
                            return Err(
                                super::ApiError::from(too_large(&fname, limit)).into_reply()
                            );
                        }
                        out.write_all(&chunk)
                            .await
                            .map_err(|e| Reply::from(internal(&e)))?;
                    }
                    Ok(None) => break,
                    Err(_) => {
                        drop(out);
                        let _ = tokio::fs::remove_file(saved).await;
                        return Err(bad_request());
                    }
                }
            }
            out.flush().await.map_err(|e| Reply::from(internal(&e)))?;
            filename = Some(fname);
        } else {
            let text = field.text().await.map_err(|_| bad_request())?;
            params.form.push((name, text));
        }
    }
    Ok((params, filename))
}

fn internal(e: &std::io::Error) -> Envelope {
    tracing::error!(error = %e, "cannot keep an upload");
    Envelope::with_code(RetCode::ServerException, "cannot keep the uploaded file")
}

async fn upload_file(State(app): State<Arc<App>>, req: Request) -> ApiResult {
    let saved = data::incoming_path(&app);
    let (params, filename) = match receive(&app, req, &saved).await {
        Ok(r) => r,
        Err(reply) => return Ok(reply),
    };
    let cleanup = || {
        let _ = std::fs::remove_file(&saved);
    };
    // The edge's field shapes, which `Req` checks for other routes.
    let form = match super::edge::check_fields(&params)
        .and_then(|()| UploadFile::from_params(&params))
        .and_then(|f| Ok((f.meta_object()?, f)))
    {
        Ok(f) => f,
        Err(i) => {
            cleanup();
            return Err(i.into());
        }
    };
    let Some(filename) = filename else {
        cleanup();
        return ok(Envelope::error(RetCode::NoFoundFile, &[]));
    };
    let (meta, f) = form;
    let r = data::UploadedFile {
        head: f.head,
        partitions: f.partitions,
        meta,
        extend_sid: f.extend_sid,
        namespace: f.namespace,
        name: f.name,
        filename,
    };
    ok(data::upload_file(&app, &r, &saved).await?)
}

async fn component_download(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r: ComponentDownload = req.parse()?;
    ok(data::component_download(&app, &r).await?)
}

async fn transformer(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r: Transformer = req.parse()?;
    ok(data::transformer(&app, &r).await?)
}

async fn download(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let q: DataDownload = req.parse()?;
    let (filename, bytes) = data::download(&app, &q).await?;
    Ok(Reply::File {
        content_type: "application/gzip",
        filename,
        bytes,
    })
}

async fn data_view(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let q: JobPartyQuery = req.parse()?;
    ok(Envelope::ok_data(data::data_view(&app, &q).await?))
}

//! `/v2/partner/*` (api-2): a scheduler's commands to this site's parties.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use serde_json::json;

use ferroflow_wire::Envelope;
use ferroflow_wire::partner as wire;

use super::{ApiResult, Req, ok};
use crate::app::App;
use crate::controller::partner;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route(&wire::JOB_CREATE.served(), post(job_create))
        .route(&wire::JOB_START.served(), post(job_start))
        .route(&wire::JOB_STATUS_UPDATE.served(), post(job_status_update))
        .route(&wire::JOB_UPDATE.served(), post(job_update))
        .route(&wire::JOB_RESOURCE_APPLY.served(), post(job_resource_apply))
        .route(
            &wire::JOB_RESOURCE_RETURN.served(),
            post(job_resource_return),
        )
        .route(&wire::JOB_STOP.served(), post(job_stop))
        .route(
            &wire::TASK_RESOURCE_APPLY.served(),
            post(task_resource_apply),
        )
        .route(
            &wire::TASK_RESOURCE_RETURN.served(),
            post(task_resource_return),
        )
        .route(&wire::TASK_START.served(), post(task_start))
        .route(&wire::TASK_COLLECT.served(), post(task_collect))
        .route(&wire::TASK_STATUS_UPDATE.served(), post(task_status_update))
        .route(&wire::TASK_STOP.served(), post(task_stop))
        .route(&wire::TASK_RERUN.served(), post(task_rerun))
}

async fn job_create(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r = req.command(wire::JOB_CREATE)?;
    let initiator = req.params.header("initiator-party-id");
    partner::create_job(&app, r, initiator).await?;
    ok(Envelope::ok())
}

async fn job_start(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let t = req.command(wire::JOB_START)?;
    partner::start_job(&app, &t).await?;
    ok(Envelope::ok())
}

async fn job_status_update(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r = req.command(wire::JOB_STATUS_UPDATE)?;
    partner::update_job_status(&app, &r.target, &r.status).await?;
    ok(Envelope::ok())
}

async fn job_update(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r = req.command(wire::JOB_UPDATE)?;
    partner::update_job(&app, &r).await?;
    ok(Envelope::ok())
}

async fn job_resource_apply(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let t = req.command(wire::JOB_RESOURCE_APPLY)?;
    partner::apply_job_resource(&app, &t).await?;
    ok(Envelope::ok())
}

async fn job_resource_return(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let t = req.command(wire::JOB_RESOURCE_RETURN)?;
    partner::return_job_resource(&app, &t).await?;
    ok(Envelope::ok())
}

async fn job_stop(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r = req.command(wire::JOB_STOP)?;
    partner::stop_job(&app, &r).await?;
    ok(Envelope::ok())
}

async fn task_resource_apply(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let t = req.command(wire::TASK_RESOURCE_APPLY)?;
    partner::apply_task_resource(&app, &t).await?;
    ok(Envelope::ok())
}

async fn task_resource_return(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let t = req.command(wire::TASK_RESOURCE_RETURN)?;
    partner::return_task_resource(&app, &t).await?;
    ok(Envelope::ok())
}

async fn task_start(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let t = req.command(wire::TASK_START)?;
    partner::start_task(&app, &t).await?;
    ok(Envelope::ok())
}

async fn task_collect(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let t = req.command(wire::TASK_COLLECT)?;
    ok(Envelope::ok_data(json!(
        partner::collect_task(&app, &t).await?
    )))
}

async fn task_status_update(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r = req.command(wire::TASK_STATUS_UPDATE)?;
    partner::update_task_status(&app, &r.target, &r.status).await?;
    ok(Envelope::ok())
}

async fn task_stop(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r = req.command(wire::TASK_STOP)?;
    partner::stop_task(&app, &r).await?;
    ok(Envelope::ok())
}

async fn task_rerun(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r = req.command(wire::TASK_RERUN)?;
    partner::rerun_task(&app, &r).await?;
    ok(Envelope::ok())
}

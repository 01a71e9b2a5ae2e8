//! `/v2/partner/*` (api-2): a scheduler's commands to this site's parties.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use serde_json::json;

use ferroflow_wire::Envelope;
use ferroflow_wire::partner::{
    JobCreate, JobStop, JobTarget, JobUpdate, StatusUpdate, TaskRerun, TaskStop, TaskTarget,
};

use super::{ApiResult, Req, ok};
use crate::app::App;
use crate::controller::partner;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v2/partner/job/create", post(job_create))
        .route("/v2/partner/job/start", post(job_start))
        .route("/v2/partner/job/status/update", post(job_status_update))
        .route("/v2/partner/job/update", post(job_update))
        .route("/v2/partner/job/resource/apply", post(job_resource_apply))
        .route("/v2/partner/job/resource/return", post(job_resource_return))
        .route("/v2/partner/job/stop", post(job_stop))
        .route("/v2/partner/task/resource/apply", post(task_resource_apply))
        .route(
            "/v2/partner/task/resource/return",
            post(task_resource_return),
        )
        .route("/v2/partner/task/start", post(task_start))
        .route("/v2/partner/task/collect", post(task_collect))
        .route("/v2/partner/task/status/update", post(task_status_update))
        .route("/v2/partner/task/stop", post(task_stop))
        .route("/v2/partner/task/rerun", post(task_rerun))
}

async fn job_create(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r: JobCreate = req.parse()?;
    partner::create_job(&app, r).await?;
    ok(Envelope::ok())
}

async fn job_start(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let t: JobTarget = req.parse()?;
    partner::start_job(&app, &t).await?;
    ok(Envelope::ok())
}

async fn job_status_update(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r: StatusUpdate<JobTarget> = req.parse()?;
    partner::update_job_status(&app, &r.target, &r.status).await?;
    ok(Envelope::ok())
}

async fn job_update(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r: JobUpdate = req.parse()?;
    partner::update_job(&app, &r).await?;
    ok(Envelope::ok())
}

async fn job_resource_apply(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let t: JobTarget = req.parse()?;
    partner::apply_job_resource(&app, &t).await?;
    ok(Envelope::ok())
}

async fn job_resource_return(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let t: JobTarget = req.parse()?;
    partner::return_job_resource(&app, &t).await?;
    ok(Envelope::ok())
}

async fn job_stop(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r: JobStop = req.parse()?;
    partner::stop_job(&app, &r).await?;
    ok(Envelope::ok())
}

async fn task_resource_apply(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let t: TaskTarget = req.parse()?;
    partner::apply_task_resource(&app, &t).await?;
    ok(Envelope::ok())
}

async fn task_resource_return(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let t: TaskTarget = req.parse()?;
    partner::return_task_resource(&app, &t).await?;
    ok(Envelope::ok())
}

async fn task_start(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let t: TaskTarget = req.parse()?;
    partner::start_task(&app, &t).await?;
    ok(Envelope::ok())
}

async fn task_collect(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let t: TaskTarget = req.parse()?;
    ok(Envelope::ok_data(json!(
        partner::collect_task(&app, &t).await?
    )))
}

async fn task_status_update(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r: StatusUpdate<TaskTarget> = req.parse()?;
    partner::update_task_status(&app, &r.target, &r.status).await?;
    ok(Envelope::ok())
}

async fn task_stop(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r: TaskStop = req.parse()?;
    partner::stop_task(&app, &r).await?;
    ok(Envelope::ok())
}

async fn task_rerun(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r: TaskRerun = req.parse()?;
    partner::rerun_task(&app, &r).await?;
    ok(Envelope::ok())
}

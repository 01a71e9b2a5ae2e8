//! `/v2/scheduler/*` (api-4): requests to the site that schedules a job.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::post;

use ferroflow_wire::Envelope;
use ferroflow_wire::scheduler as wire;

use super::{ApiResult, Req, ok};
use crate::app::App;
use crate::controller::scheduler;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route(&wire::JOB_CREATE.served(), post(job_create))
        .route(&wire::JOB_STOP.served(), post(job_stop))
        .route(&wire::JOB_RERUN.served(), post(job_rerun))
        .route(&wire::TASK_REPORT.served(), post(task_report))
}

async fn job_create(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r = req.command(wire::JOB_CREATE)?;
    let created = scheduler::create_job(&app, r).await?;
    ok(Envelope::ok_data(created.data).with_job_id(created.job_id.to_string()))
}

async fn job_stop(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r = req.command(wire::JOB_STOP)?;
    scheduler::stop_job(&app, &r).await?;
    ok(Envelope::ok())
}

async fn job_rerun(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r = req.command(wire::JOB_RERUN)?;
    scheduler::rerun_job(&app, &r).await?;
    ok(Envelope::ok())
}

async fn task_report(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r = req.command(wire::TASK_REPORT)?;
    scheduler::report_task(&app, &r).await?;
    ok(Envelope::ok())
}

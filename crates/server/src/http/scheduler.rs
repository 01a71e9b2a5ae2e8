//! `/v2/scheduler/*` (api-4): requests to the site that schedules a job.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::post;

use ferroflow_wire::Envelope;
use ferroflow_wire::scheduler::{JobCreate, JobRerun, JobStop, TaskReport};

use super::{ApiResult, Req, ok};
use crate::app::App;
use crate::controller::scheduler;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v2/scheduler/job/create", post(job_create))
        .route("/v2/scheduler/job/stop", post(job_stop))
        .route("/v2/scheduler/job/rerun", post(job_rerun))
        .route("/v2/scheduler/task/report", post(task_report))
}

async fn job_create(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r: JobCreate = req.parse()?;
    ok(scheduler::create_job(&app, r).await?)
}

async fn job_stop(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r: JobStop = req.parse()?;
    ok(scheduler::stop_job(&app, &r).await?)
}

async fn job_rerun(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r: JobRerun = req.parse()?;
    ok(scheduler::rerun_job(&app, &r).await?)
}

async fn task_report(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r: TaskReport = req.parse()?;
    scheduler::report_task(&app, &r).await?;
    ok(Envelope::ok())
}

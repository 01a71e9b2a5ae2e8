//! `/v2/job/*`.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};

use ferroflow_wire::Envelope;
use ferroflow_wire::client::{
    JobIdBody, JobListQuery, JobPartyQuery, JobQuery, JobSubmit, NotesAdd, TaskListQuery, TaskQuery,
};
use ferroflow_wire::dag::DagSchema;

use super::{ApiResult, Req, ok, ok_serialized};
use crate::app::App;
use crate::controller::job;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v2/job/submit", post(submit))
        .route("/v2/job/query", get(query))
        .route("/v2/job/stop", post(stop))
        .route("/v2/job/rerun", post(rerun))
        .route("/v2/job/list/query", get(list))
        .route("/v2/job/task/query", get(task_query))
        .route("/v2/job/task/list/query", get(task_list))
        .route("/v2/job/notes/add", post(notes_add))
        .route("/v2/job/dag/dependency", get(dependency))
        .route("/v2/job/clean", post(clean))
        .route("/v2/job/queue/clean", post(queue_clean))
}

async fn submit(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let r: JobSubmit = req.parse()?;
    let schema = match &req.raw_json {
        Some(raw) => DagSchema::from_submit_body(raw).map(Option::unwrap_or_default),
        None => DagSchema::from_value(r.dag_schema),
    };
    ok(job::submit(&app, schema).await?)
}

async fn query(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let q: JobQuery = req.parse()?;
    ok_serialized(&job::query(&app, &q).await?)
}

async fn stop(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let b: JobIdBody = req.parse()?;
    ok(job::stop(&app, &b.job_id).await?)
}

async fn rerun(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    // FATE's body is `{job_id}`; ferroflow also takes `task_name` and `parameters`.
    let r: ferroflow_wire::scheduler::JobRerun = req.parse()?;
    ok(job::rerun(&app, &r).await?)
}

async fn list(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let q: JobListQuery = req.parse()?;
    ok(Envelope::ok_data(job::list(&app, &q).await?))
}

async fn task_query(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let q: TaskQuery = req.parse()?;
    ok_serialized(&job::query_tasks(&app, &q).await?)
}

async fn task_list(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let q: TaskListQuery = req.parse()?;
    ok(Envelope::ok_data(job::list_tasks(&app, &q).await?))
}

async fn notes_add(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let q: NotesAdd = req.parse()?;
    job::add_notes(&app, &q).await?;
    ok(Envelope::ok())
}

async fn dependency(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let q: JobPartyQuery = req.parse()?;
    ok(Envelope::ok_data(job::dependency(&app, &q).await?))
}

async fn clean(State(app): State<Arc<App>>, req: Req) -> ApiResult {
    let b: JobIdBody = req.parse()?;
    job::clean(&app, &b.job_id).await?;
    ok(Envelope::ok())
}

async fn queue_clean(State(app): State<Arc<App>>, _: super::extract::Drained) -> ApiResult {
    ok(Envelope::ok_data(job::clean_queue(&app).await?))
}

//! api-2: what a participant does when its job's scheduler commands it
//! (`api.md` §11, `lifecycle.md` §7). Every command is idempotent, because a scheduler
//! repeats what it is not sure was delivered.

use serde_json::{Value, json};

use ferroflow_core::dag::config::{self, JobMeta};
use ferroflow_core::dag::{self, DagSchema, PlannedTask, SyncType, resource};
use ferroflow_core::id::{JobKey, Party, PartyId, TaskId, TaskKey};
use ferroflow_core::status::{JobStatus, TaskStatus};
use ferroflow_wire::partner::{self as wire, Collected, JobTarget, TaskTarget};

use super::keys::{job_key, task_key};
use super::{Clash, Error, Input, Missing, Op, Result, Shortage};
use crate::app::{App, Event};
use crate::run::{self, launch_spec, run_info, stop_task_row};
use crate::store::{Apply, Cas, NewJob, NewTask, TaskRow};

fn job_details(k: &JobKey) -> [(&'static str, String); 3] {
    [
        ("job_id", k.job_id.to_string()),
        ("role", k.role.to_string()),
        ("party_id", k.party_id.to_string()),
    ]
}

fn task_details(k: &TaskKey) -> [(&'static str, String); 5] {
    [
        ("job_id", k.job_id.to_string()),
        ("role", k.role.to_string()),
        ("party_id", k.party_id.to_string()),
        ("task_id", k.task_id.to_string()),
        ("task_version", k.task_version.to_string()),
    ]
}

fn fate_err(case: impl super::Case, details: &[(&'static str, String)]) -> Error {
    case.with(super::Detail::Fields(details.to_vec()))
}

fn create_failed(detail: impl std::fmt::Display) -> Error {
    Error::refuse(Op::CreateJob, &[("detail", &detail.to_string())])
}

/// `/partner/job/create`: validate the DAG for this party, plan its tasks, check the
/// initiator's grants (`permission::check_job`), build their CONFIGs, and store the job and
/// its tasks in one transaction. A repeat is a no-op. `initiator` is the command's
/// `initiator-party-id` header (the DAG's `initiator_party_id` when absent).
pub async fn create_job(app: &App, req: wire::JobCreate, initiator: Option<&str>) -> Result<()> {
    let key = job_key(&req.target)?;
    let party = Party::new(key.role, key.party_id.clone());
    let schema = DagSchema::from_value(json!({
        "dag": req.dag, "schema_version": req.schema_version, "kind": req.kind,
    }))
    .map_err(create_failed)?;
    let dag = dag::validate(&schema).map_err(create_failed)?;
    if !dag.parties.contains(&party) {
        return Err(create_failed(format!("{party} is not a party of this job")));
    }
    let catalog = app.catalog().await?;
    let plan = dag::plan_party(&dag, &party, &catalog).map_err(create_failed)?;

    let conf = &dag.conf;
    let scheduler_party_id = conf
        .scheduler_party_id
        .clone()
        .ok_or_else(|| create_failed("dag.conf.scheduler_party_id is required"))?;
    let initiator_party_id = conf
        .initiator_party_id
        .clone()
        .unwrap_or_else(|| scheduler_party_id.clone());
    super::permission::check_job(
        app,
        initiator
            .filter(|i| !i.is_empty())
            .unwrap_or(initiator_party_id.as_str()),
        &plan.tasks,
    )
    .await?;
    let sync_type = conf.sync_type.unwrap_or(app.config.job_default.sync_type);
    let model_id = conf
        .model_id
        .clone()
        .unwrap_or_else(|| key.job_id.to_string());
    let model_version = conf.model_version.clone().unwrap_or_else(|| "0".into());
    let meta = JobMeta {
        job_id: key.job_id.clone(),
        model_id: model_id.clone(),
        model_version: model_version.clone(),
        computing_partitions: conf.computing_partitions,
    };
    let job_engine_run = conf
        .task
        .get("engine_run")
        .and_then(Value::as_object)
        .cloned();

    let mut tasks = Vec::with_capacity(plan.tasks.len());
    let mut max_cores = 0;
    for t in &plan.tasks {
        let res = resource::task_resources(
            key.role,
            job_engine_run.as_ref(),
            &t.conf,
            &app.resource_defaults,
        );
        max_cores = max_cores.max(res.cores);
        tasks.push(new_task(
            app,
            &key,
            &scheduler_party_id,
            sync_type,
            &meta,
            t,
            0,
            &res,
        )?);
    }
    let cores = resource::job_cores(key.role, conf.cores, max_cores, &app.resource_defaults);
    let parties = schema
        .dag
        .as_ref()
        .and_then(|d| d.parties.as_ref())
        .map(|p| serde_json::to_value(p).unwrap_or(Value::Null))
        .unwrap_or(json!([]));
    let inheritance = conf
        .inheritance
        .as_ref()
        .map(|i| json!({"job_id": i.job_id, "task_list": i.task_list}))
        .unwrap_or(json!({}));
    let job = NewJob {
        key: key.clone(),
        dag: schema.to_value(),
        parties,
        initiator_party_id,
        scheduler_party_id,
        model_id,
        model_version,
        engine_name: app.config.engines.computing.clone(),
        cores,
        inheritance,
        user_name: String::new(),
    };
    if app.store.create_job(&job, &tasks, app.now()).await? {
        tracing::info!(job_id = %key.job_id, party = %party, tasks = tasks.len(), "job created");
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn new_task(
    app: &App,
    key: &JobKey,
    scheduler: &PartyId,
    sync_type: SyncType,
    meta: &JobMeta,
    t: &PlannedTask,
    version: u32,
    res: &resource::TaskResources,
) -> Result<NewTask> {
    let party = Party::new(key.role, key.party_id.clone());
    let cfg = config::build(meta, &party, t, version, &res.engine_run, &app.site_env);
    let component_parameters = serde_json::to_value(&cfg).map_err(Error::TaskConfig)?;
    Ok(NewTask {
        key: TaskKey {
            job_id: key.job_id.clone(),
            task_id: TaskId::of(&key.job_id, &t.name),
            task_version: version,
            role: key.role,
            party_id: key.party_id.clone(),
        },
        task_name: t.name.clone(),
        component: t.component.clone(),
        scheduler_party_id: scheduler.clone(),
        component_parameters,
        task_run: Value::Object(res.engine_run.clone()),
        task_cores: res.cores,
        provider_name: t.provider.to_string(),
        sync_type,
        timeout: t.timeout,
        launcher_name: (t.launcher_name != "default").then(|| t.launcher_name.clone()),
    })
}

/// `/partner/job/status/update`.
pub async fn update_job_status(app: &App, target: &JobTarget, status: &str) -> Result<()> {
    let key = job_key(target)?;
    let to: JobStatus = status.parse().map_err(|_| {
        Error::refuse_with(Input::Parameter, format!("unknown job status {status:?}"))
    })?;
    match app.store.set_job_status(&key, to, app.now()).await? {
        Cas::Applied => {
            if to.is_end() {
                // The job's cores went back to the engine: another job may fit now.
                app.emit(Event::Admission);
            }
            Ok(())
        }
        Cas::Rejected { current: None } => Err(Error::job_not_found(key.job_id.as_str())),
        Cas::Rejected { current: Some(_) } => {
            let mut d = job_details(&key).to_vec();
            d.push(("status", status.to_string()));
            Err(fate_err(Clash::JobStatus, &d))
        }
    }
}

/// `/partner/job/update`: progress only grows.
pub async fn update_job(app: &App, req: &wire::JobUpdate) -> Result<()> {
    let key = job_key(&req.target)?;
    if req.progress > 0.0
        && app
            .store
            .set_job_progress(&key, req.progress as i64, app.now())
            .await?
    {
        return Ok(());
    }
    Err(fate_err(Clash::JobStatus, &job_details(&key)))
}

/// `/partner/job/resource/apply`: 1006 when the job can never fit, 1005 when not now.
pub async fn apply_job_resource(app: &App, target: &JobTarget) -> Result<()> {
    let key = job_key(target)?;
    match app
        .store
        .apply_job_resource(&key, &app.config.engines.computing, app.now())
        .await?
    {
        Apply::Applied => Ok(()),
        Apply::NotFound => Err(Error::job_not_found(key.job_id.as_str())),
        Apply::LimitExceeded { needed, total } => Err(Error::refuse_with(
            Shortage::JobNever,
            format!("Resource limit exceeded: {needed} cores asked, the engine has {total}"),
        )),
        Apply::Busy { needed, remaining } => {
            let mut d = job_details(&key).to_vec();
            d.push(("operation_type", "apply".into()));
            d.push(("needed_cores", needed.to_string()));
            d.push(("free_cores", remaining.to_string()));
            Err(fate_err(Shortage::JobNow, &d))
        }
    }
}

pub async fn return_job_resource(app: &App, target: &JobTarget) -> Result<()> {
    let key = job_key(target)?;
    if app.store.job(&key).await?.is_none() {
        return Err(Error::job_not_found(key.job_id.as_str()));
    }
    // A returned job is a rolled-back admission: no new room for anyone, so no event (one
    // would make admission retry the same job at once, forever).
    app.store.return_job_resource(&key, app.now()).await?;
    Ok(())
}

/// `/partner/job/start`: the job runs on this party (a job already running is fine).
pub async fn start_job(app: &App, target: &JobTarget) -> Result<()> {
    let key = job_key(target)?;
    let Some(job) = app.store.job(&key).await? else {
        return Err(Error::job_not_found(key.job_id.as_str()));
    };
    // Inherited tasks are taken over before anything can start.
    if matches!(job.status, JobStatus::Waiting | JobStatus::Ready) {
        super::inheritance::load(app, &job).await?;
    }
    match app
        .store
        .set_job_status(&key, JobStatus::Running, app.now())
        .await?
    {
        Cas::Applied
        | Cas::Rejected {
            current: Some(JobStatus::Running),
        } => Ok(()),
        Cas::Rejected { current: None } => Err(Error::job_not_found(key.job_id.as_str())),
        Cas::Rejected { current: Some(_) } => {
            let mut d = job_details(&key).to_vec();
            d.push(("status", "running".into()));
            Err(fate_err(Clash::JobStatus, &d))
        }
    }
}

/// `/partner/job/stop`: stop every running task of this party's job with the stop status
/// (FATE sends none and means `failed`), then end the job row.
pub async fn stop_job(app: &App, req: &wire::JobStop) -> Result<()> {
    let key = job_key(&req.target)?;
    let status = match req.stop_status.as_deref() {
        None => TaskStatus::Failed,
        Some(s) => s.parse().map_err(|_| {
            Error::refuse_with(Input::Parameter, format!("unknown stop status {s:?}"))
        })?,
    };
    stop_party_job(app, &key, status).await
}

pub(crate) async fn stop_party_job(app: &App, key: &JobKey, status: TaskStatus) -> Result<()> {
    let Some(job) = app.store.job(key).await? else {
        return Err(Error::job_not_found(key.job_id.as_str()));
    };
    // A job that ended well has no task left running; one that still runs is a leftover.
    let task_status = if status.is_success() {
        TaskStatus::Failed
    } else {
        status
    };
    let mut failures = Vec::new();
    for task in app.store.latest_tasks_of(key).await? {
        if task.party_status == TaskStatus::Running
            && let Err(e) = stop_task_row(app, &task, task_status).await
        {
            failures.push(format!("{}: {e}", task.task_name));
        }
    }
    if !failures.is_empty() {
        let mut d = job_details(key).to_vec();
        d.push(("detail", failures.join("; ")));
        return Err(fate_err(Op::StopJob, &d));
    }
    let job_status = JobStatus::from_task(status);
    if job.status != job_status && job.status.can_become(job_status) {
        // Rejected only when the row moved on meanwhile (another stop, the job's end): the
        // status already there stands.
        app.store
            .set_job_status(key, job_status, app.now())
            .await?
            .expected("party job stopped");
        app.emit(Event::Admission);
    }
    Ok(())
}

/// `/partner/task/resource/apply`.
pub async fn apply_task_resource(app: &App, target: &TaskTarget) -> Result<()> {
    let key = task_key(target)?;
    match app.store.apply_task_resource(&key, app.now()).await? {
        Some(true) => Ok(()),
        Some(false) => {
            let mut d = task_details(&key).to_vec();
            d.push(("operation_type", "apply".into()));
            Err(fate_err(Shortage::TaskNow, &d))
        }
        None => Err(fate_err(Missing::Task, &task_details(&key))),
    }
}

pub async fn return_task_resource(app: &App, target: &TaskTarget) -> Result<()> {
    let key = task_key(target)?;
    app.store.return_task_resource(&key, app.now()).await?;
    Ok(())
}

/// `/partner/task/status/update`: the federated status. An end status while this party's
/// process still runs means another party decided the outcome: stop ours too.
pub async fn update_task_status(app: &App, target: &TaskTarget, status: &str) -> Result<()> {
    let key = task_key(target)?;
    let to: TaskStatus = status.parse().map_err(|_| {
        Error::refuse_with(Input::Parameter, format!("unknown task status {status:?}"))
    })?;
    let cas = app.store.set_task_status(&key, to, app.now()).await?;
    if to.is_end()
        && cas.applied()
        && let Some(task) = app.store.task(&key).await?
    {
        run::cleanup::start(app, &task).await;
    }
    if to.is_interrupt()
        && let Some(task) = app.store.task(&key).await?
        && task.party_status == TaskStatus::Running
    {
        stop_task_row(app, &task, to).await?;
    }
    match cas {
        Cas::Applied => Ok(()),
        Cas::Rejected { current: None } => Err(fate_err(Missing::Task, &task_details(&key))),
        Cas::Rejected { current: Some(_) } => {
            let mut d = task_details(&key).to_vec();
            d.push(("status", status.to_string()));
            Err(fate_err(Clash::TaskStatus, &d))
        }
    }
}

/// `/partner/task/start`: marks the task running (durably) and launches it. A repeated
/// start of a task that left `waiting` launches nothing.
pub async fn start_task(app: &App, target: &TaskTarget) -> Result<()> {
    let key = task_key(target)?;
    let Some(task) = app.store.task(&key).await? else {
        return Err(fate_err(Missing::Task, &task_details(&key)));
    };
    if task.party_status != TaskStatus::Waiting {
        return Ok(());
    }
    let mut spec = match launch_spec(app, &task).await {
        Ok(spec) => spec,
        Err(e) => return fail_start(app, &task, &e.to_string()).await,
    };
    // The run's own worker token: in its environment next to CONFIG, its hash durable with
    // the decision to launch, before the process exists.
    let token = match run::token::Token::generate() {
        Ok(t) => t,
        Err(e) => return fail_start(app, &task, &format!("no worker token: {e}")).await,
    };
    spec.env
        .push((run::token::ENV.to_string(), token.secret().to_string()));
    if !app
        .store
        .begin_run(&key, &token.hash(), &app.instance.runner, app.now())
        .await?
        .applied()
    {
        // Someone else moved it on between our read and now: they launched it.
        return Ok(());
    }
    app.failpoint("partner.run_decided");
    app.metrics.launch_decided(
        &task.execution_id,
        if spec.container.is_some() {
            "container"
        } else {
            "process"
        },
    );
    app.emit(Event::Report);
    match app.launcher.launch(spec.clone()).await {
        Ok(handle) => {
            app.failpoint("partner.launched");
            app.metrics
                .launches
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let run = run_info(app, &spec, &handle);
            app.store.record_run(&key, &run, app.now()).await?;
            match &handle.container {
                Some(c) => {
                    tracing::info!(execution_id = %task.execution_id, container = %c.name, "task launched")
                }
                None => {
                    tracing::info!(execution_id = %task.execution_id, pid = handle.pid, "task launched")
                }
            }
            Ok(())
        }
        Err(e) => {
            app.metrics.run_ended(&task.execution_id);
            app.metrics
                .launch_failures
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let msg = format!("launch failed: {e}: {}", source_chain(&e));
            // Rejected only when a stop raced the launch: the stop's status stands.
            app.store
                .set_party_status(&key, TaskStatus::Failed, Some(&msg), app.now())
                .await?
                .expected("launch failed");
            app.emit(Event::Report);
            Err(fate_err(Op::StartTask, &task_details(&key)))
        }
    }
}

async fn fail_start(app: &App, task: &TaskRow, reason: &str) -> Result<()> {
    let key = task.key();
    let now = app.now();
    // `waiting` cannot become `failed` directly. Either step is rejected only when another
    // start or a stop moved the task on meanwhile: what it set stands.
    app.store
        .set_party_status(&key, TaskStatus::Running, None, now)
        .await?
        .expected("start failed: running");
    app.store
        .set_party_status(&key, TaskStatus::Failed, Some(reason), now)
        .await?
        .expected("start failed");
    app.emit(Event::Report);
    tracing::warn!(execution_id = %task.execution_id, reason, "task not started");
    let mut d = task_details(&key).to_vec();
    d.push(("reason", reason.to_string()));
    Err(fate_err(Op::StartTask, &d))
}

fn source_chain(e: &dyn std::error::Error) -> String {
    let mut parts = Vec::new();
    let mut cur = e.source();
    while let Some(s) = cur {
        parts.push(s.to_string());
        cur = s.source();
    }
    parts.join(": ")
}

/// `/partner/task/collect`.
pub async fn collect_task(app: &App, target: &TaskTarget) -> Result<Collected> {
    let key = task_key(target)?;
    let t = app
        .store
        .task(&key)
        .await?
        .ok_or_else(|| fate_err(Missing::Task, &task_details(&key)))?;
    Ok(Collected {
        job_id: t.job_id.to_string(),
        task_id: t.task_id.to_string(),
        task_version: i64::from(t.task_version),
        role: t.role.to_string(),
        party_id: t.party_id.to_string(),
        status: t.status.to_string(),
        party_status: t.party_status.to_string(),
        start_time: t.start_time,
        update_time: Some(t.update_time),
        end_time: t.end_time,
        elapsed: t.elapsed,
    })
}

/// `/partner/task/stop`: kill the process and record the stop status.
pub async fn stop_task(app: &App, req: &wire::TaskStop) -> Result<()> {
    let key = task_key(&req.target)?;
    let status = match req.status.as_deref() {
        None => TaskStatus::Failed,
        Some(s) => s.parse().map_err(|_| {
            Error::refuse_with(Input::Parameter, format!("unknown task status {s:?}"))
        })?,
    };
    let Some(task) = app.store.task(&key).await? else {
        return Err(fate_err(Missing::Task, &task_details(&key)));
    };
    stop_task_row(app, &task, status).await.map_err(|e| {
        let mut d = task_details(&key).to_vec();
        d.push(("detail", e.to_string()));
        fate_err(Op::StopTask, &d)
    })
}

/// `/partner/task/rerun`: a new version of the task, `waiting`, with its CONFIG rebuilt.
pub async fn rerun_task(app: &App, req: &wire::TaskRerun) -> Result<()> {
    let key = task_key(&req.target)?;
    let Some(old) = app.store.task(&key).await? else {
        return Ok(());
    };
    // The replaced run will never start: its cores go back to the job.
    if old.party_status == TaskStatus::Waiting && old.resource_in_use {
        app.store.return_task_resource(&key, app.now()).await?;
    }
    let Some(job) = app.store.job(&old.job_key()).await? else {
        return Ok(());
    };
    let new_version = u32::try_from(req.new_version)
        .map_err(|_| Error::refuse_with(Input::Parameter, "new_version must not be negative"))?;
    let schema = DagSchema::from_value(job.dag.clone()).map_err(create_failed)?;
    let dag = dag::validate(&schema).map_err(create_failed)?;
    let party = Party::new(key.role, key.party_id.clone());
    let catalog = app.catalog().await?;
    let plan = dag::plan_party(&dag, &party, &catalog).map_err(create_failed)?;
    let Some(t) = plan.tasks.iter().find(|t| t.name == old.task_name) else {
        return Ok(());
    };
    let meta = JobMeta {
        job_id: key.job_id.clone(),
        model_id: job.model_id.clone(),
        model_version: job.model_version.clone(),
        computing_partitions: dag.conf.computing_partitions,
    };
    let job_engine_run = dag
        .conf
        .task
        .get("engine_run")
        .and_then(Value::as_object)
        .cloned();
    let res = resource::task_resources(
        key.role,
        job_engine_run.as_ref(),
        &t.conf,
        &app.resource_defaults,
    );
    let mut new = new_task(
        app,
        &job.key(),
        &job.scheduler_party_id,
        old.sync_type,
        &meta,
        t,
        new_version,
        &res,
    )?;
    // A rerun keeps the parameters the previous run had (earlier reruns may have changed
    // them) and applies the ones it is given.
    let mut params = old
        .component_parameters
        .get("parameters")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if let Some(changed) = &req.parameters {
        for (k, v) in changed {
            params.insert(k.clone(), v.clone());
        }
    }
    new.component_parameters["parameters"] = Value::Object(params);
    app.store.add_task_version(&new, app.now()).await?;
    Ok(())
}

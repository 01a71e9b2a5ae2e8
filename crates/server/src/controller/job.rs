//! `/v2/job/*`: what users ask of jobs (`api.md` §10.3). The initiator validates a DAG fully
//! before anything is sent anywhere, so a rejected DAG creates nothing on any site.

use serde_json::{Value, json};

use ferroflow_core::dag::{self, DagErrors, DagSchema};
use ferroflow_core::id::{JobId, JobKey, PartyId};
use ferroflow_core::status::{JobStatus, TaskStatus};
use ferroflow_wire::client::{
    self as wire, JobListQuery, JobQuery, NotesAdd, TaskListQuery, TaskQuery,
};
use ferroflow_wire::dag::ShapeError;
use ferroflow_wire::records::{JobRecord, TaskRecord};
use ferroflow_wire::task_config::InputArtifacts;
use ferroflow_wire::{Envelope, scheduler as sched};

use super::keys::role;
use super::partner::stop_party_job;
use super::{Error, Input, Missing, Result};
use crate::app::App;
use crate::store::{JobFilter, JobListFilter, JobRow, TaskFilter, TaskRow};

/// `/v2/job/submit`: fill the initiator's defaults, validate everything this site can check
/// (the DAG itself, and providers and components of the parties it serves), then ask the
/// scheduler to create the job. The scheduler's answer is the answer.
/// A job that names its computing engine (`dag.conf.engine.name`) runs only where that engine
/// is offered: this site's `default_engines.computing`.
fn offered_engine(app: &App, schema: &DagSchema) -> Result<()> {
    let asked = schema
        .dag
        .as_ref()
        .and_then(|d| d.conf.as_ref())
        .and_then(|c| c.engine.as_ref())
        .and_then(|e| e.name.as_deref())
        .map(str::trim)
        .filter(|n| !n.is_empty());
    match asked {
        Some(name) if !name.eq_ignore_ascii_case(&app.config.engines.computing) => {
            Err(Error::refuse_with(
                Input::Dag,
                format!(
                    "dag.conf.engine.name: the job asks for the computing engine {name:?}; \
                     this site offers {:?}",
                    app.config.engines.computing
                ),
            ))
        }
        _ => Ok(()),
    }
}

pub async fn submit(app: &App, schema: Result<DagSchema, ShapeError>) -> Result<Envelope> {
    let mut schema =
        schema.map_err(|e| Error::refuse_with(Input::Dag, format!("invalid DAG: {e}")))?;
    let own = app.config.party_id.clone();
    {
        let conf = schema.conf_mut();
        conf.initiator_party_id = Some(own.to_string());
        if conf.scheduler_party_id.as_deref().is_none_or(str::is_empty) {
            conf.scheduler_party_id = Some(own.to_string());
        }
        if conf.computing_partitions.is_none_or(|n| n == 0) {
            conf.computing_partitions = Some(app.config.job_default.computing_partitions);
        }
    }
    offered_engine(app, &schema)?;
    let dag = dag::validate(&schema)?;
    let catalog = app.catalog().await?;
    // The same problem on several parties is listed once, naming them all.
    let mut problems: Vec<(ferroflow_core::dag::DagError, Vec<String>)> = Vec::new();
    for party in dag.parties.iter().filter(|p| app.fed.is_local(&p.party_id)) {
        if let Err(DagErrors(errors)) = dag::plan_party(&dag, party, &catalog) {
            // The parties are named once, after the problem.
            let on_party = format!(" on {party}:");
            for mut e in errors {
                e.problem = e.problem.replacen(&on_party, ":", 1);
                match problems.iter_mut().find(|(p, _)| *p == e) {
                    Some((_, parties)) => parties.push(party.to_string()),
                    None => problems.push((e, vec![party.to_string()])),
                }
            }
        }
    }
    let problems: Vec<ferroflow_core::dag::DagError> = problems
        .into_iter()
        .map(|(mut e, parties)| {
            e.problem = format!("{} (on {})", e.problem, parties.join(", "));
            e
        })
        .collect();
    if !problems.is_empty() {
        return Err(DagErrors(problems).into());
    }
    let local: Vec<ferroflow_core::id::Party> = dag
        .parties
        .iter()
        .filter(|p| app.fed.is_local(&p.party_id))
        .cloned()
        .collect();
    super::inheritance::check(app, &dag, &local).await?;
    let scheduler = dag.conf.scheduler_party_id.clone().unwrap_or(own.clone());
    let reply = app
        .fed
        .send_as(
            &scheduler,
            sched::JOB_CREATE,
            &sched::JobCreate {
                dag: serde_json::to_value(&schema.dag).unwrap_or(Value::Null),
                schema_version: schema.schema_version.clone().unwrap_or_default(),
                // `DagSchema::to_value`'s default kind.
                kind: Some(schema.kind.clone().unwrap_or_else(|| "fate".into())),
                initiator_party_id: None,
            },
            own.as_str(),
        )
        .await;
    if reply.is_ok()
        && let Some(job_id) = &reply.job_id
    {
        let dir = app.config.jobs_dir().join(job_id);
        let yaml = serde_yaml::to_string(&schema.to_value()).unwrap_or_default();
        if let Err(e) = crate::blocking::io(move || {
            std::fs::create_dir_all(&dir)?;
            std::fs::write(dir.join("dag.yaml"), yaml)
        })
        .await
        {
            tracing::warn!(job_id, error = %e, "cannot keep the submitted DAG");
        }
        tracing::info!(job_id, "job submitted");
    }
    Ok(reply)
}

fn details_of(q: &JobQuery) -> Vec<(&'static str, String)> {
    [
        ("job_id", &q.job_id),
        ("role", &q.role),
        ("party_id", &q.party_id),
        ("status", &q.status),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.clone().map(|v| (k, v)))
    .collect()
}

/// `/v2/job/query`.
pub async fn query(app: &App, q: &JobQuery) -> Result<Vec<JobRecord>> {
    let not_found = || {
        let d = details_of(q);
        let d: Vec<(&str, &str)> = d.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Error::refuse(Missing::Job, &d)
    };
    if q.is_empty() {
        return Err(not_found());
    }
    let rows = app
        .store
        .query_jobs(&JobFilter {
            job_id: q.job_id.clone(),
            role: q.role.clone(),
            party_id: q.party_id.clone(),
            status: q.status.clone(),
            user_name: q.user_name.clone(),
        })
        .await?;
    if rows.is_empty() {
        return Err(not_found());
    }
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let reason = wait_reason(app, &r).await?;
        out.push(job_record(r, reason));
    }
    Ok(out)
}

/// Why a job waits (or was failed by the scheduler), when this site schedules it.
async fn wait_reason(app: &App, r: &JobRow) -> Result<Option<String>> {
    // A running or successful job holds nothing back; a waiting one says why it waits, a
    // failed one why it failed when the scheduler decided it.
    if matches!(r.status, JobStatus::Running | JobStatus::Success) {
        return Ok(None);
    }
    Ok(app
        .store
        .schedule_job(&r.job_id)
        .await?
        .and_then(|j| j.wait_reason))
}

pub fn job_record(r: JobRow, wait_reason: Option<String>) -> JobRecord {
    JobRecord {
        protocol: r.protocol,
        flow_id: r.flow_id,
        job_id: r.job_id.to_string(),
        user_name: r.user_name,
        description: r.description,
        tag: r.tag,
        dag: r.dag,
        parties: r.parties,
        initiator_party_id: r.initiator_party_id.to_string(),
        scheduler_party_id: r.scheduler_party_id.to_string(),
        status: r.status.to_string(),
        status_code: r.status_code,
        inheritance: r.inheritance,
        role: r.role.to_string(),
        party_id: r.party_id.to_string(),
        progress: r.progress,
        model_id: r.model_id,
        model_version: r.model_version,
        engine_name: r.engine_name,
        cores: r.cores,
        memory: r.memory,
        remaining_cores: r.remaining_cores,
        remaining_memory: r.remaining_memory,
        resource_in_use: r.resource_in_use,
        apply_resource_time: r.apply_resource_time,
        return_resource_time: r.return_resource_time,
        start_time: r.start_time,
        end_time: r.end_time,
        elapsed: r.elapsed,
        create_time: r.create_time,
        update_time: r.update_time,
        wait_reason,
    }
}

pub fn task_record(r: TaskRow, wait_reason: Option<String>) -> TaskRecord {
    TaskRecord {
        protocol: r.protocol,
        job_id: r.job_id.to_string(),
        role: r.role.to_string(),
        party_id: r.party_id.to_string(),
        task_name: r.task_name.to_string(),
        component: r.component,
        task_id: r.task_id.to_string(),
        task_version: i64::from(r.task_version),
        execution_id: r.execution_id.into_string(),
        scheduler_party_id: r.scheduler_party_id.to_string(),
        status: r.status.to_string(),
        status_code: r.status_code,
        component_parameters: r.component_parameters,
        task_run: r.task_run,
        memory: r.memory,
        task_cores: r.task_cores,
        resource_in_use: r.resource_in_use,
        worker_id: r.worker_id,
        cmd: r.cmd,
        run_ip: r.run_ip,
        run_port: r.run_port,
        run_pid: r.run_pid,
        party_status: r.party_status.to_string(),
        provider_name: r.provider_name,
        task_parameters: r.task_parameters,
        engine_conf: r.engine_conf,
        kill_status: r.kill_status,
        error_report: r.error_report,
        sync_type: r.sync_type.as_str().to_string(),
        timeout: r.timeout,
        launcher_name: r.launcher_name,
        start_time: r.start_time,
        end_time: r.end_time,
        elapsed: r.elapsed,
        create_time: r.create_time,
        update_time: r.update_time,
        wait_reason,
    }
}

/// `/v2/job/stop`: stop this site's parties at once (canceled), then ask the scheduler to stop
/// the job everywhere; its answer is the answer.
pub async fn stop(app: &App, job_id: &str) -> Result<Envelope> {
    let rows = app.store.jobs_of(&JobId::new(job_id)).await?;
    let Some(first) = rows.first() else {
        return Err(Error::job_not_found(job_id));
    };
    let scheduler = first.scheduler_party_id.clone();
    for r in &rows {
        if !r.status.is_end()
            && let Err(e) = stop_party_job(app, &r.key(), TaskStatus::Canceled).await
        {
            tracing::warn!(job_id, error = %e, "local stop incomplete");
        }
    }
    let body = sched::JobStop {
        job_id: job_id.to_string(),
        stop_status: Some(JobStatus::Canceled.to_string()),
    };
    Ok(app.fed.send(&scheduler, sched::JOB_STOP, &body).await)
}

/// `/v2/job/rerun`: asks the scheduler to rerun what did not succeed.
pub async fn rerun(app: &App, req: &sched::JobRerun) -> Result<Envelope> {
    let rows = app.store.jobs_of(&JobId::new(&req.job_id)).await?;
    let Some(first) = rows.first() else {
        return Err(Error::job_not_found(&req.job_id));
    };
    Ok(app
        .fed
        .send(&first.scheduler_party_id, sched::JOB_RERUN, req)
        .await)
}

const ORDERABLE: &[&str] = &[
    "job_id",
    "create_time",
    "update_time",
    "start_time",
    "end_time",
    "elapsed",
    "status",
    "role",
    "party_id",
    "progress",
    "description",
    "tag",
];

/// `/v2/job/list/query`.
pub async fn list(app: &App, q: &JobListQuery) -> Result<Value> {
    let order_by = match (&q.order_by, &q.order) {
        (None, None) => None,
        (col, dir) => {
            let col = col.clone().unwrap_or_else(|| "create_time".into());
            if !ORDERABLE.contains(&col.as_str()) {
                return Err(Error::refuse_with(
                    Input::Parameter,
                    format!("cannot order by {col:?} (one of {})", ORDERABLE.join(", ")),
                ));
            }
            let asc = match dir.as_deref().unwrap_or("desc") {
                "asc" => true,
                "desc" => false,
                other => {
                    return Err(Error::refuse_with(
                        Input::Parameter,
                        format!("order must be asc or desc, got {other:?}"),
                    ));
                }
            };
            Some((col, asc))
        }
    };
    let f = JobListFilter {
        job_id_like: q.job_id.clone(),
        description_like: q.description.clone(),
        party_id_like: q.party_id.clone(),
        roles: q.role.clone().unwrap_or_default(),
        statuses: q.status.clone().unwrap_or_default(),
        user_name: q.user_name.clone(),
        order_by,
        limit: q.limit.max(0),
        offset: if q.limit > 0 && q.page > 0 {
            q.limit * (q.page - 1)
        } else {
            0
        },
    };
    let (count, rows) = app.store.list_jobs(&f).await?;
    let mut data = Vec::new();
    for r in rows {
        let partners = partners_of(&r);
        if let Some(p) = &q.partner
            && !partners.contains(p)
        {
            continue;
        }
        let mut v = serde_json::to_value(job_record(r, None)).unwrap_or(Value::Null);
        v["partners"] = json!(partners);
        data.push(v);
    }
    Ok(json!({"count": count, "data": data}))
}

/// Every party id of the job but the row's own, sorted.
fn partners_of(r: &JobRow) -> Vec<String> {
    let mut ids: Vec<String> = r
        .parties
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| {
            p.get("party_id")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|v| v.as_str().map(str::to_string))
        .filter(|id| id != r.party_id.as_str())
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// `/v2/job/task/query`: the latest version of each party task.
pub async fn query_tasks(app: &App, q: &TaskQuery) -> Result<Vec<TaskRecord>> {
    let not_found = || Error::refuse(Missing::Task, &[]);
    if q.is_empty() {
        return Err(not_found());
    }
    let rows = app
        .store
        .query_tasks(&TaskFilter {
            job_id: q.job_id.clone(),
            role: q.role.clone(),
            party_id: q.party_id.clone(),
            status: q.status.clone(),
            task_name: q.task_name.clone(),
            task_id: q.task_id.clone(),
            task_version: q.task_version,
        })
        .await?;
    if rows.is_empty() {
        return Err(not_found());
    }
    let mut reasons = std::collections::HashMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let reason = if r.party_status == TaskStatus::Waiting {
            if !reasons.contains_key(&r.job_id) {
                let statuses = app.store.latest_task_statuses(&r.job_id).await?;
                reasons.insert(r.job_id.clone(), statuses);
            }
            reasons[&r.job_id]
                .iter()
                .find(|s| s.task_id == r.task_id && s.task_version == r.task_version)
                .and_then(|s| s.wait_reason.clone())
        } else {
            None
        };
        out.push(task_record(r, reason));
    }
    Ok(out)
}

/// `/v2/job/task/list/query`: every version, newest first.
pub async fn list_tasks(app: &App, q: &TaskListQuery) -> Result<Value> {
    let asc = match q.order.as_deref() {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(other) => {
            return Err(Error::refuse_with(
                Input::Parameter,
                format!("order must be asc or desc, got {other:?}"),
            ));
        }
    };
    let f = TaskFilter {
        job_id: q.job_id.clone(),
        role: q.role.clone(),
        party_id: q.party_id.clone(),
        task_name: q.task_name.clone(),
        ..Default::default()
    };
    let offset = if q.limit > 0 && q.page > 0 {
        q.limit * (q.page - 1)
    } else {
        0
    };
    let (count, rows) = app
        .store
        .list_tasks(&f, q.limit.max(0), offset, asc)
        .await?;
    let data: Vec<TaskRecord> = rows.into_iter().map(|r| task_record(r, None)).collect();
    Ok(json!({"count": count, "data": data}))
}

/// `/v2/job/notes/add`.
pub async fn add_notes(app: &App, q: &NotesAdd) -> Result<()> {
    let key = JobKey {
        job_id: JobId::new(&q.job_id),
        role: role(&q.role)?,
        party_id: PartyId::new(&q.party_id),
    };
    if app
        .store
        .set_job_description(&key, &q.notes, app.now())
        .await?
    {
        Ok(())
    } else {
        Err(Error::refuse(
            Missing::Job,
            &[
                ("job_id", &q.job_id),
                ("role", &q.role),
                ("party_id", &q.party_id),
            ],
        ))
    }
}

/// `/v2/job/dag/dependency`: the tasks a party runs, in order, and what each reads from.
pub async fn dependency(app: &App, q: &wire::JobPartyQuery) -> Result<Value> {
    let key = JobKey {
        job_id: JobId::new(&q.job_id),
        role: role(&q.role)?,
        party_id: PartyId::new(&q.party_id),
    };
    let job = app.store.job(&key).await?.ok_or_else(|| {
        Error::refuse(
            Missing::Job,
            &[
                ("job_id", &q.job_id),
                ("role", &q.role),
                ("party_id", &q.party_id),
            ],
        )
    })?;
    let schema = DagSchema::from_value(job.dag).map_err(Error::StoredDag)?;
    let dag = dag::validate(&schema)?;
    let catalog = app.catalog().await?;
    let plan = dag::plan_party(
        &dag,
        &ferroflow_core::id::Party::new(key.role, key.party_id.clone()),
        &catalog,
    )?;
    let mut list = Vec::new();
    let mut stage = serde_json::Map::new();
    let mut module = serde_json::Map::new();
    let mut deps = serde_json::Map::new();
    for t in &plan.tasks {
        list.push(json!(t.name));
        stage.insert(t.name.to_string(), json!(t.stage.as_str()));
        module.insert(t.name.to_string(), json!(t.component));
        let mut entries = dependency_entries(&t.inputs);
        if entries.is_empty() {
            entries.push(json!({"up_output_info": []}));
        }
        deps.insert(t.name.to_string(), Value::Array(entries));
    }
    Ok(json!({
        "component_list": list, "component_stage": stage, "component_module": module,
        "dependencies": deps,
    }))
}

fn dependency_entries(inputs: &InputArtifacts) -> Vec<Value> {
    use ferroflow_wire::dag::Channel;
    let mut out = Vec::new();
    for (class, map) in [("data", &inputs.data), ("model", &inputs.model)] {
        for (key, channels) in map.iter().flat_map(|m| m.iter()) {
            for c in channels.iter() {
                if let Channel::TaskOutput(t) = c {
                    out.push(json!({
                        "type": key, "model_type": class,
                        "component_name": t.producer_task, "up_output_info": [t.output_artifact_key],
                    }));
                }
            }
        }
    }
    out
}

/// `/v2/job/queue/clean`: cancel every job waiting on this site.
pub async fn clean_queue(app: &App) -> Result<Value> {
    let rows = app
        .store
        .query_jobs(&JobFilter {
            status: Some("waiting".into()),
            ..Default::default()
        })
        .await?;
    let mut out = serde_json::Map::new();
    let mut seen = std::collections::BTreeSet::new();
    for r in rows {
        if !seen.insert(r.job_id.clone()) {
            continue;
        }
        let body = sched::JobStop {
            job_id: r.job_id.to_string(),
            stop_status: Some(JobStatus::Canceled.to_string()),
        };
        let reply = app
            .fed
            .send(&r.scheduler_party_id, sched::JOB_STOP, &body)
            .await;
        out.insert(r.job_id.to_string(), reply.to_value());
    }
    Ok(Value::Object(out))
}

/// `/v2/job/clean`: stop the job, then remove everything it left on this site, every task
/// version included: rows, metrics, models and the tables its tasks wrote (not the tables it
/// only read). Upstream keeps older versions' tables (W-out-5).
pub async fn clean(app: &App, job_id: &str) -> Result<()> {
    let id = JobId::new(job_id);
    if app.store.jobs_of(&id).await?.is_empty() {
        return Err(Error::job_not_found(job_id));
    }
    let reply = stop(app, job_id).await?;
    if !reply.is_ok() {
        tracing::warn!(job_id, code = reply.code, message = %reply.message, "stop before clean incomplete");
    }
    let outputs = app.store.tracking_of_job(job_id).await?;
    // Tables written by this job's tasks live in a namespace named after the task id; a
    // reader's output only points at a table that belongs to someone else.
    let produced: Vec<&crate::store::TrackingRow> = outputs
        .iter()
        .filter(|t| !t.uri.is_empty() && t.namespace == t.task_id)
        .collect();
    let data_dir = app.config.standalone_data_dir();
    for t in &produced {
        if let Some(path) = t.uri.strip_prefix("file://").map(std::path::PathBuf::from)
            && path.starts_with(&data_dir)
        {
            let _ = tokio::fs::remove_file(&path).await;
        }
    }
    let models = app.store.models_of_job(job_id).await?;
    for m in &models {
        if let Err(e) =
            crate::model_store::delete(&app.models, &m.storage_key, m.task_version).await
        {
            tracing::warn!(job_id, key = %m.storage_key, error = %e, "cannot delete a model");
        }
    }
    let tables: Vec<(String, String)> = produced
        .iter()
        .map(|t| (t.namespace.clone(), t.name.clone()))
        .collect();
    app.store.delete_job(job_id, &tables).await?;
    tracing::info!(
        job_id,
        tables = tables.len(),
        models = models.len(),
        "job cleaned"
    );
    Ok(())
}

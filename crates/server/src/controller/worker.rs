//! api-3: what task processes tell their own site (`api.md` §12, `execution.md` §5). Every
//! call carries its run's worker token ([`authorize`], before anything else is read);
//! untyped failures become 5008 at the edge.

use ferroflow_core::id::ExecutionId;
use std::io::Read;

use serde_json::{Value, json};

use ferroflow_core::status::TaskStatus;
use ferroflow_wire::worker::{self as wire, DataTableInfo};

use super::{Denial, Error, Input, Missing, Result};
use crate::app::{App, Event};
use crate::store::{MetricRow, ModelMetaRow, TableMetaRow, TaskFilter, TaskRow, TrackingRow};

/// The task run an api-3 request names (`http::edge::TaskNamed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Writes: the run itself (`None` when the request names none: the handler refuses it).
    Execution(Option<String>),
    /// Reads of a party's outputs: the caller's own party.
    Party {
        role: Option<String>,
        party_id: Option<String>,
    },
}

impl Claim {
    /// The caller as the request names it, for the audit log.
    pub fn describe(&self) -> String {
        match self {
            Claim::Execution(e) => format!("task {}", e.as_deref().unwrap_or("")),
            Claim::Party { role, party_id } => format!(
                "party {} {}",
                role.as_deref().unwrap_or(""),
                party_id.as_deref().unwrap_or("")
            ),
        }
    }
}

/// Whether `token` (the request's worker-token header) belongs to the task run the request
/// names: a run writes only its own status, outputs, models and metrics, and reads only its
/// own party's. The token of a run superseded by a newer version of its task no longer works.
/// Answers the run's execution id; refusals are 5001 (no token, or not a token's shape) and
/// 5003 (any other token), and change nothing.
pub async fn authorize(app: &App, token: Option<&str>, claim: &Claim) -> Result<ExecutionId> {
    use crate::run::token;
    let header = "X-Ferroflow-Worker-Token";
    let token = token
        .map(str::trim)
        .filter(|t| token::well_formed(t))
        .ok_or_else(|| Error::refuse(Input::Parameter, &[("name", header)]))?;
    let refused = || {
        Error::refuse_with(
            Denial::Token,
            "varify failed!: not the worker token of this task run",
        )
    };
    let run = app
        .store
        .run_by_token(&token::hash(token))
        .await?
        .ok_or_else(refused)?;
    let mine = !run.superseded
        && match claim {
            Claim::Execution(e) => e.as_deref().is_none_or(|e| e == run.execution_id.as_str()),
            Claim::Party { role, party_id } => {
                role.as_deref().is_none_or(|r| r == run.role)
                    && party_id.as_deref().is_none_or(|p| p == run.party_id)
            }
        };
    if mine {
        if let Some((took, how)) = app.metrics.called(&run.execution_id) {
            tracing::info!(execution_id = %run.execution_id, run = how, seconds = took.as_secs_f64(), "first call of a task run");
        }
        Ok(run.execution_id)
    } else {
        Err(refused())
    }
}

async fn task_of(app: &App, execution_id: &ExecutionId) -> Result<TaskRow> {
    app.store
        .task_by_execution_id(execution_id)
        .await?
        .ok_or_else(|| Error::refuse(Missing::Task, &[("execution_id", execution_id.as_str())]))
}

/// `/worker/task/status`: the task's own verdict. A worker that reports before it was marked
/// running (or a failure of a task never marked running) still lands in a valid end status.
pub async fn report_status(app: &App, req: &wire::TaskStatusReport) -> Result<()> {
    let task = task_of(app, &ExecutionId::from(req.execution_id.as_str())).await?;
    let to: TaskStatus = req.status.parse().map_err(|_| {
        Error::refuse_with(
            Input::Parameter,
            format!("unknown task status {:?}", req.status),
        )
    })?;
    let key = task.key();
    let error = req.error.as_deref().filter(|e| !e.is_empty());
    let now = app.now();
    if task.party_status == TaskStatus::Waiting && !TaskStatus::Waiting.can_become(to) {
        // Rejected only when the row left `waiting` meanwhile; the report's own transition
        // below decides.
        app.store
            .set_party_status(&key, TaskStatus::Running, None, now)
            .await?
            .expected("reported before running");
    }
    // Before the status: a report that ends the task still records where it ran.
    if let Some(a) = &req.engine_application {
        let recorded = app
            .store
            .set_engine_conf(&key, &a.engine_conf(), now)
            .await?;
        tracing::info!(
            execution_id = %req.execution_id,
            engine = %a.engine,
            application_id = %a.application_id,
            ui = %a.ui,
            recorded,
            "task's engine application"
        );
    }
    let cas = app.store.set_party_status(&key, to, error, now).await?;
    app.failpoint("worker.status_committed");
    if cas.applied() {
        tracing::info!(execution_id = %req.execution_id, status = %to, "task reported");
    } else {
        tracing::debug!(execution_id = %req.execution_id, status = %to, ?cas, "task report not applied");
    }
    app.emit(Event::Report);
    Ok(())
}

/// A process ended. If it never reported, it failed: say how, with the end of its output.
pub async fn process_exited(app: &App, exit: &crate::launcher::Exit) -> Result<()> {
    app.metrics.run_ended(&exit.execution_id);
    let Some(task) = app.store.task_by_execution_id(&exit.execution_id).await? else {
        return Ok(());
    };
    // A container's name is unique to its task run, so its exit is this run's even when the
    // run is not recorded yet; a process must be the recorded one.
    let (this_run, what) = match &exit.handle.container {
        Some(c) => (
            crate::run::run_handle(&task)
                .and_then(|h| h.container)
                .is_none_or(|r| r.name == c.name),
            format!("task container {}", c.name),
        ),
        None => (task.run_pid == Some(exit.handle.pid), "task process".into()),
    };
    if task.party_status != TaskStatus::Running || !this_run {
        return Ok(());
    }
    let log = crate::run::stdout_file(app, &task);
    let tail = crate::blocking::io(move || Ok(tail_lines(&log, 20)))
        .await
        .unwrap_or_default();
    let mut msg = format!(
        "{what} ended without reporting its status ({})",
        exit.describe()
    );
    if !tail.is_empty() {
        msg.push_str("; last output:\n");
        msg.push_str(&tail);
    }
    if app
        .store
        .set_party_status(&task.key(), TaskStatus::Failed, Some(&msg), app.now())
        .await?
        .applied()
    {
        tracing::warn!(execution_id = %exit.execution_id, "{}", exit.describe());
        app.emit(Event::Report);
    }
    Ok(())
}

fn tail_lines(path: &std::path::Path, n: usize) -> String {
    let Ok(text) = std::fs::read_to_string(path) else {
        return String::new();
    };
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// `/worker/data/tracking/save`: records an output and registers its table.
pub async fn save_tracking(app: &App, req: &wire::DataTrackingSave) -> Result<()> {
    let task = task_of(app, &ExecutionId::from(req.execution_id.as_str())).await?;
    let now = app.now();
    app.store
        .save_tracking(
            &TrackingRow {
                job_id: task.job_id.to_string(),
                task_id: task.task_id.to_string(),
                task_version: i64::from(task.task_version),
                task_name: task.task_name.to_string(),
                role: task.role.to_string(),
                party_id: task.party_id.to_string(),
                output_key: req.output_key.clone(),
                index: req.index,
                uri: req.uri.clone(),
                namespace: req.namespace.clone(),
                name: req.name.clone(),
            },
            now,
        )
        .await?;
    if !req.uri.is_empty() {
        let engine = req.uri.split("://").next().unwrap_or("file").to_string();
        let meta = TableMetaRow {
            namespace: req.namespace.clone(),
            name: req.name.clone(),
            address: json!({"path": req.uri}),
            engine,
            options: json!({}),
            partitions: req.partitions.unwrap_or(1),
            delimiter: req
                .meta_data
                .get("delimiter")
                .and_then(Value::as_str)
                .unwrap_or(",")
                .to_string(),
            have_head: true,
            extend_sid: false,
            data_meta: Value::Object(req.meta_data.clone()),
            count: req.overview.get("count").and_then(Value::as_i64),
            part_of_data: req.overview.get("samples").cloned().unwrap_or(json!([])),
            source: Value::Object(req.source.clone()),
            data_type: req.data_type.clone(),
            disable: false,
            description: String::new(),
            create_time: now,
            update_time: now,
        };
        app.store.upsert_table_meta(&meta, now).await?;
    }
    Ok(())
}

fn table_info(t: &TableMetaRow, uri: Option<&str>) -> DataTableInfo {
    let path = uri
        .filter(|u| !u.is_empty())
        .map(str::to_string)
        .or_else(|| {
            t.address
                .get("path")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_default();
    DataTableInfo {
        namespace: t.namespace.clone(),
        name: t.name.clone(),
        count: t.count,
        meta: t.data_meta.clone(),
        engine: t.engine.clone(),
        path,
        source: t.source.clone(),
        data_type: t.data_type.clone(),
    }
}

/// `/worker/data/tracking/query`: by table, or by producer task (its latest version).
pub async fn query_tracking(app: &App, q: &wire::DataTrackingQuery) -> Result<Vec<DataTableInfo>> {
    if q.namespace.is_some() || q.name.is_some() {
        let (ns, name) = (
            q.namespace.clone().unwrap_or_default(),
            q.name.clone().unwrap_or_default(),
        );
        let t =
            app.store.table_meta(&ns, &name).await?.ok_or_else(|| {
                Error::refuse(Missing::Table, &[("namespace", &ns), ("name", &name)])
            })?;
        return Ok(vec![table_info(&t, None)]);
    }
    let filter = TaskFilter {
        job_id: q.job_id.clone(),
        role: q.role.clone(),
        party_id: q.party_id.clone(),
        task_name: q.task_name.clone(),
        ..Default::default()
    };
    let task = app
        .store
        .query_tasks(&filter)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| {
            Error::refuse(
                Missing::Task,
                &[
                    ("job_id", q.job_id.as_deref().unwrap_or("")),
                    ("role", q.role.as_deref().unwrap_or("")),
                    ("party_id", q.party_id.as_deref().unwrap_or("")),
                    ("task_name", q.task_name.as_deref().unwrap_or("")),
                ],
            )
        })?;
    let rows = app
        .store
        .tracking_of(
            task.job_id.as_str(),
            task.task_id.as_str(),
            i64::from(task.task_version),
            task.role.as_str(),
            task.party_id.as_str(),
            q.output_key.as_deref(),
        )
        .await?;
    if rows.is_empty() {
        return Err(Error::refuse_with(Missing::ModelOutput, "failed"));
    }
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        match app.store.table_meta(&r.namespace, &r.name).await? {
            Some(t) => out.push(table_info(&t, Some(&r.uri))),
            None => out.push(DataTableInfo {
                namespace: r.namespace.clone(),
                name: r.name.clone(),
                count: None,
                meta: json!({}),
                engine: r.uri.split("://").next().unwrap_or_default().to_string(),
                path: r.uri.clone(),
                source: json!({}),
                data_type: "data_unresolved".into(),
            }),
        }
    }
    Ok(out)
}

/// `{model_id}/{model_version}/{role}/{party_id}/{task_name}/{output_key}`.
pub fn storage_key(
    model_id: &str,
    model_version: &str,
    role: &str,
    party_id: &str,
    task_name: &str,
    output_key: &str,
) -> String {
    format!("{model_id}/{model_version}/{role}/{party_id}/{task_name}/{output_key}")
}

/// `/worker/model/save`: stores the tar (atomically) and its metas.
pub async fn save_model(app: &App, req: &wire::ModelSave, tar: &[u8]) -> Result<()> {
    let task = task_of(app, &ExecutionId::from(req.execution_id.as_str())).await?;
    let key = storage_key(
        &req.model_id,
        &req.model_version,
        task.role.as_str(),
        task.party_id.as_str(),
        task.task_name.as_str(),
        &req.output_key,
    );
    let version = i64::from(task.task_version);
    let metas = tar_metas(tar).map_err(|source| Error::Model {
        what: "model archive".into(),
        source,
    })?;
    crate::model_store::put(&app.models, &key, version, tar.to_vec())
        .await
        .map_err(|source| Error::Model {
            what: format!("model {key}"),
            source,
        })?;
    let now = app.now();
    app.store
        .upsert_model_meta(
            &ModelMetaRow {
                storage_key: key,
                task_version: version,
                model_id: req.model_id.clone(),
                model_version: req.model_version.clone(),
                job_id: task.job_id.to_string(),
                role: task.role.to_string(),
                party_id: task.party_id.to_string(),
                task_name: task.task_name.to_string(),
                output_key: req.output_key.clone(),
                type_name: req.type_name.clone(),
                meta_data: Value::Array(metas),
                storage_engine: app.models.engine().into(),
                create_time: now,
            },
            now,
        )
        .await?;
    Ok(())
}

/// The `*.meta.yaml` members of a model tar, as JSON.
pub(crate) fn tar_metas(tar: &[u8]) -> std::io::Result<Vec<Value>> {
    let mut out = Vec::new();
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let name = entry.path()?.to_string_lossy().into_owned();
        if name.ends_with(".meta.yaml") {
            let mut text = String::new();
            entry.read_to_string(&mut text)?;
            if let Ok(v) = serde_yaml::from_str::<Value>(&text) {
                out.push(v);
            }
        }
    }
    Ok(out)
}

/// The stored models of a tar, by member name (metas excluded), JSON-decoded when possible.
pub fn tar_models(tar: &[u8]) -> std::io::Result<Vec<(String, Value)>> {
    let mut out = Vec::new();
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries()? {
        let mut entry = entry?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry.path()?.to_string_lossy().into_owned();
        if name.ends_with(".meta.yaml") {
            continue;
        }
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes)?;
        let v = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        out.push((name, v));
    }
    Ok(out)
}

/// `/worker/model/download`: the newest archive stored under the key.
pub async fn download_model(app: &App, q: &wire::ModelDownload) -> Result<(String, Vec<u8>)> {
    let key = storage_key(
        &q.model_id,
        &q.model_version,
        &q.role,
        &q.party_id,
        &q.task_name,
        &q.output_key,
    );
    let meta = app.store.model_by_key(&key).await?.ok_or(Error::NoModel {
        python: false,
        source: None,
    })?;
    let bytes = crate::model_store::get(&app.models, &key, meta.task_version)
        .await
        .map_err(|e| Error::NoModel {
            python: false,
            source: Some(e),
        })?;
    Ok((q.output_key.clone(), bytes))
}

/// `/worker/metric/save[/<execution_id>]`.
pub async fn save_metrics(app: &App, req: &wire::MetricSave) -> Result<()> {
    let execution_id = ExecutionId::from(req.execution_id.clone().unwrap_or_default());
    let task = task_of(app, &execution_id).await?;
    if req.data.is_empty() {
        return Err(Error::Refused("no metric data".into()));
    }
    let rows: Vec<MetricRow> = req
        .data
        .iter()
        .map(|m| MetricRow {
            job_id: task.job_id.to_string(),
            role: task.role.to_string(),
            party_id: task.party_id.to_string(),
            task_name: task.task_name.to_string(),
            task_id: task.task_id.to_string(),
            task_version: i64::from(task.task_version),
            name: m.name.clone(),
            kind: m.kind.clone(),
            groups: serde_json::to_value(&m.groups).unwrap_or(json!([])),
            step_axis: m.step_axis.clone(),
            data: m.data.clone(),
        })
        .collect();
    app.store.insert_metrics(&rows, app.now()).await?;
    Ok(())
}

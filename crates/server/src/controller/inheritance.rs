//! `dag.conf.inheritance`: a new job takes over the results of tasks of an earlier job
//! instead of running them (`lifecycle.md` §12). The initiator checks that the earlier tasks
//! succeeded on its parties; each participant, when its job starts, copies the earlier runs'
//! outputs, metrics, models and logs to the new job and marks the tasks succeeded, which the
//! scheduler learns from the usual reports. The scheduler never starts an inherited task.

use serde_json::Value;

use ferroflow_core::dag::{Dag, InheritanceConf};
use ferroflow_core::id::{JobId, Party};
use ferroflow_core::status::TaskStatus;

use super::worker::storage_key;
use super::{Error, Op, Result};
use crate::app::{App, Event};
use crate::store::{JobRow, MetricRow, ModelMetaRow, TaskFilter, TaskRow, TrackingRow};

fn failed(job_id: &str, task: &str, reason: &str) -> Error {
    Error::refuse(
        Op::InheritJob,
        &[("job_id", job_id), ("task", task), ("reason", reason)],
    )
}

/// The initiator's check: for every party this site serves, each inherited task it runs
/// succeeded in the earlier job.
pub async fn check(app: &App, dag: &Dag, local: &[Party]) -> Result<()> {
    let Some(inh) = &dag.conf.inheritance else {
        return Ok(());
    };
    if inh.task_list.is_empty() {
        return Err(failed(&inh.job_id, "", "task_list is empty"));
    }
    if app
        .store
        .jobs_of(&JobId::new(&inh.job_id))
        .await?
        .is_empty()
    {
        return Err(failed(&inh.job_id, "", "no such job on this site"));
    }
    for name in &inh.task_list {
        let Some(node) = dag.task(name) else {
            return Err(failed(
                &inh.job_id,
                name.as_str(),
                "not a task of the new job",
            ));
        };
        for party in local.iter().filter(|p| node.runs_on(p)) {
            if source(app, inh, name.as_str(), party).await?.is_none() {
                let why = format!("not succeeded on {party} in job {}", inh.job_id);
                return Err(failed(&inh.job_id, name.as_str(), &why));
            }
        }
    }
    Ok(())
}

/// The earlier job's latest run of `task` on `party`, if it succeeded.
async fn source(
    app: &App,
    inh: &InheritanceConf,
    task: &str,
    party: &Party,
) -> Result<Option<TaskRow>> {
    let rows = app
        .store
        .query_tasks(&TaskFilter {
            job_id: Some(inh.job_id.clone()),
            role: Some(party.role.to_string()),
            party_id: Some(party.party_id.to_string()),
            task_name: Some(task.to_string()),
            ..Default::default()
        })
        .await?;
    Ok(rows
        .into_iter()
        .next()
        .filter(|t| t.party_status.is_success()))
}

/// A participant's part, when its job starts: copy what the inherited tasks produced and mark
/// them succeeded. Repeating it (a repeated start) copies nothing twice.
pub async fn load(app: &App, job: &JobRow) -> Result<()> {
    let Some(src_job) = job
        .inheritance
        .get("job_id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    else {
        return Ok(());
    };
    let names: Vec<String> = job
        .inheritance
        .get("task_list")
        .and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let inh = InheritanceConf {
        job_id: src_job.to_string(),
        task_list: names.iter().map(|n| n.as_str().into()).collect(),
    };
    let party = Party::new(job.role, job.party_id.clone());
    for name in &names {
        let Some(task) = app
            .store
            .query_tasks(&TaskFilter {
                job_id: Some(job.job_id.to_string()),
                role: Some(job.role.to_string()),
                party_id: Some(job.party_id.to_string()),
                task_name: Some(name.clone()),
                ..Default::default()
            })
            .await?
            .into_iter()
            .next()
        else {
            continue; // this party does not run it
        };
        if task.party_status != TaskStatus::Waiting {
            continue;
        }
        let Some(src) = source(app, &inh, name, &party).await? else {
            return Err(failed(src_job, name, &format!("not succeeded on {party}")));
        };
        copy_outputs(app, &src, &task, job).await?;
        let note = format!(
            "inherited from job {src_job} (version {})",
            src.task_version
        );
        if app
            .store
            .set_party_status(&task.key(), TaskStatus::Success, None, app.now())
            .await?
            .applied()
        {
            tracing::info!(execution_id = %task.execution_id, note, "task inherited");
            app.emit(Event::Report);
        }
    }
    Ok(())
}

async fn copy_outputs(app: &App, src: &TaskRow, dst: &TaskRow, job: &JobRow) -> Result<()> {
    let now = app.now();
    let (role, party) = (dst.role.as_str(), dst.party_id.as_str());
    let src_version = i64::from(src.task_version);
    let dst_version = i64::from(dst.task_version);
    for t in app
        .store
        .tracking_of(
            src.job_id.as_str(),
            src.task_id.as_str(),
            src_version,
            role,
            party,
            None,
        )
        .await?
    {
        let row = TrackingRow {
            job_id: dst.job_id.to_string(),
            task_id: dst.task_id.to_string(),
            task_version: dst_version,
            task_name: dst.task_name.to_string(),
            ..t
        };
        app.store.save_tracking(&row, now).await?;
    }
    let metrics: Vec<MetricRow> = app
        .store
        .metrics_of(
            src.job_id.as_str(),
            role,
            party,
            src.task_name.as_str(),
            src_version,
        )
        .await?
        .into_iter()
        .map(|m| MetricRow {
            job_id: dst.job_id.to_string(),
            task_id: dst.task_id.to_string(),
            task_version: dst_version,
            ..m
        })
        .collect();
    if !metrics.is_empty() {
        app.store.insert_metrics(&metrics, now).await?;
    }
    for m in app
        .store
        .models_of(
            src.job_id.as_str(),
            role,
            party,
            src.task_name.as_str(),
            src_version,
        )
        .await?
    {
        let key = storage_key(
            &job.model_id,
            &job.model_version,
            role,
            party,
            dst.task_name.as_str(),
            &m.output_key,
        );
        let bytes = crate::model_store::get(&app.models, &m.storage_key, m.task_version)
            .await
            .map_err(|source| Error::Model {
                what: format!("inherited model {}", m.storage_key),
                source,
            })?;
        crate::model_store::put(&app.models, &key, dst_version, bytes)
            .await
            .map_err(|source| Error::Model {
                what: format!("model {key}"),
                source,
            })?;
        let meta = ModelMetaRow {
            storage_key: key,
            task_version: dst_version,
            model_id: job.model_id.clone(),
            model_version: job.model_version.clone(),
            job_id: dst.job_id.to_string(),
            create_time: now,
            ..m
        };
        app.store.upsert_model_meta(&meta, now).await?;
    }
    // Logs, as upstream copies them; a missing directory is not an error.
    let logs = app.config.logs_dir();
    let from = logs
        .join(src.job_id.as_str())
        .join(role)
        .join(party)
        .join(src.task_name.as_str());
    let to = logs
        .join(dst.job_id.as_str())
        .join(role)
        .join(party)
        .join(dst.task_name.as_str());
    if from.is_dir()
        && let Err(e) = crate::blocking::io(move || copy_dir(&from, &to)).await
    {
        tracing::warn!(error = %e, "inherited logs not copied");
    }
    Ok(())
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

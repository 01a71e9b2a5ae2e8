//! Watching this site's running tasks for what no report will tell: a process lost across a
//! restart of the site, and a task that runs longer than its timeout.
//!
//! At start, every task the database says is running gets its process back (by pid and start
//! time, so a reused pid is never taken for it, or by the execution id in its environment when
//! the site died before recording the pid) and is watched again, or, if it is gone without
//! having reported, is failed (an automatic retry then runs it again as a new version: a run
//! is never launched twice). Upstream only checks that some process has the pid (W-det-3).

use crate::app::{App, Event};
use crate::controller::worker;
use crate::launcher::Exit;
use crate::run::{self, stdout_file};
use crate::store::{self, RunInfo};
use ferroflow_core::provider::Device;
use ferroflow_core::status::TaskStatus;

/// Re-adopts or fails every running task of this site (of this instance, when it is one of
/// several: the runs of others are theirs, or taken over by `instance` when they stop
/// beating). Run once, at start.
pub async fn recover(app: &App) -> Result<(), store::Error> {
    for t in mine(app).await? {
        // Containers are found again by `site::recover_containers`, by their labels.
        if run::run_handle(&t).is_some_and(|h| h.container.is_some()) {
            continue;
        }
        recover_task(app, &t).await?;
    }
    Ok(())
}

/// The running tasks this process watches: all of the site's, or, as one of several
/// instances, those whose run it launched or took over.
pub async fn mine(app: &App) -> Result<Vec<store::TaskRow>, store::Error> {
    if app.config.instance.leases {
        app.store.running_tasks_of(&app.instance.id).await
    } else {
        app.store.running_tasks().await
    }
}

/// Gets a running task's process back and watches it, or fails the run when it is gone.
pub async fn recover_task(app: &App, t: &store::TaskRow) -> Result<(), store::Error> {
    {
        let t = t.clone();
        let recorded = run::run_handle(&t);
        let handle = match recorded {
            Some(h) => Some(h),
            None => {
                let docker = run::provider_of(app, &t)
                    .await
                    .ok()
                    .flatten()
                    .is_some_and(|p| p.device == Device::Docker);
                if docker {
                    return Ok(());
                }
                let found = app.launcher.find(&t.execution_id).await;
                if let Some(h) = &found {
                    let run = RunInfo {
                        pid: Some(h.pid),
                        start_ticks: Some(h.start_ticks),
                        worker_id: uuid::Uuid::new_v4().simple().to_string(),
                        cmd: Vec::new(),
                        run_ip: app.config.host.clone(),
                        run_port: i64::from(app.site_env.mlmd_port),
                    };
                    app.store.record_run(&t.key(), &run, app.now()).await?;
                }
                found
            }
        };
        match handle {
            Some(h) if app.launcher.is_alive(&h).await => {
                let log = stdout_file(app, &t);
                match app.launcher.adopt(&t.execution_id, &h, &log).await {
                    Ok(_) => {
                        app.store.set_adopted(&t.execution_id, app.now()).await?;
                        tracing::info!(execution_id = %t.execution_id, pid = h.pid, "task process adopted");
                    }
                    Err(e) => {
                        tracing::error!(execution_id = %t.execution_id, error = %e, "cannot adopt a task process")
                    }
                }
            }
            Some(h) => {
                // Gone while the site was down, without a report that reached us.
                let exit = Exit {
                    execution_id: t.execution_id.clone(),
                    handle: h,
                    code: None,
                    signal: None,
                };
                if let Err(e) = worker::process_exited(app, &exit).await {
                    tracing::error!(execution_id = %t.execution_id, error = %e, "cannot fail a lost task");
                }
            }
            None => {
                let msg = "the site stopped after deciding to launch this task and before it started; \
                           it was not launched";
                if app
                    .store
                    .set_party_status(&t.key(), TaskStatus::Failed, Some(msg), app.now())
                    .await?
                    .applied()
                {
                    tracing::warn!(execution_id = %t.execution_id, "task never launched");
                    app.emit(Event::Report);
                }
            }
        }
    }
    Ok(())
}

/// Ends, as `timeout`, every running task past its timeout (upstream records these as
/// `failed`, W-det-1).
pub async fn check_timeouts(app: &App) -> Result<(), store::Error> {
    let now = app.now();
    for t in mine(app).await? {
        let (Some(limit), Some(start)) = (t.timeout, t.start_time) else {
            continue;
        };
        if limit <= 0 || now - start <= limit.saturating_mul(1000) {
            continue;
        }
        let msg = format!("ran longer than its timeout of {limit} s");
        if app
            .store
            .set_party_status(&t.key(), TaskStatus::Timeout, Some(&msg), now)
            .await?
            .applied()
        {
            tracing::warn!(execution_id = %t.execution_id, limit, "task timed out");
            app.emit(Event::Report);
            if let Some(h) = run::run_handle(&t)
                && let Err(e) = app.launcher.kill(&h).await
            {
                tracing::error!(execution_id = %t.execution_id, error = %e, "cannot kill a timed-out task");
            }
            app.store.set_kill_status(&t.key(), now).await?;
        }
    }
    Ok(())
}

//! The heartbeat of an instance: its `t_instance` row, its leases renewed, and the runs of
//! instances that stopped beating taken over.

use ferroflow_core::status::TaskStatus;

use crate::app::{App, Event};
use crate::store::{self, InstanceRow};

/// This instance's row in `t_instance`.
fn row(app: &App, now: i64, started: i64) -> InstanceRow {
    let c = &app.config;
    InstanceRow {
        instance_id: app.instance.id.clone(),
        host: app.instance.runner.host.clone(),
        http_port: i64::from(c.http_port),
        grpc_port: i64::from(c.grpc_port),
        url: app.own_url.clone(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        start_time: started,
        heartbeat: now,
    }
}

/// One heartbeat: the instance's row, its leases renewed, and (with several instances) the
/// runs of instances that stopped beating taken over.
pub async fn beat(app: &App, started: i64) -> store::Result<()> {
    let now = app.now();
    app.store.beat(&row(app, now, started)).await?;
    if !app.instance.leases {
        return Ok(());
    }
    app.instance.renew(&app.store, now).await?;
    take_over(app, now).await
}

/// Runs until `stop` resolves: a beat every third of a lease.
pub async fn run(
    app: std::sync::Arc<App>,
    started: i64,
    stop: impl std::future::Future<Output = ()>,
) {
    let period = std::time::Duration::from_millis((app.instance.lease_ms / 3).max(100) as u64);
    let mut every = tokio::time::interval(period);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = every.tick() => {
                let r = store::with_cause("instance heartbeat", beat(&app, started)).await;
                if let Err(e) = r {
                    tracing::warn!(error = %e, "instance heartbeat failed");
                }
            }
        }
    }
}

/// Takes over the running tasks of instances that stopped beating.
async fn take_over(app: &App, now: i64) -> store::Result<()> {
    let me = &app.instance.runner;
    for execution_id in app
        .store
        .orphaned_runs(&me.instance_id, now - app.instance.lease_ms)
        .await?
    {
        let Some(from) = app.store.runner(&execution_id).await? else {
            continue;
        };
        if !app
            .store
            .claim_run(&execution_id, &from.instance_id, me)
            .await?
        {
            continue; // another instance took it
        }
        let Some(task) = app.store.task_by_execution_id(&execution_id).await? else {
            continue;
        };
        tracing::warn!(%execution_id, from = %from.instance_id, host = %from.host, "taking over a run of a stopped instance");
        let handle = crate::run::run_handle(&task);
        if let Some(h) = handle.as_ref().filter(|h| h.container.is_some()) {
            // A container is seen through its daemon, wherever the instance ran.
            let log = crate::run::stdout_file(app, &task);
            match app.launcher.adopt(&execution_id, h, &log).await {
                Ok(_) => {
                    app.store.set_adopted(&execution_id, app.now()).await?;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(%execution_id, error = %e, "cannot adopt the container of a stopped instance")
                }
            }
        } else if from.host == me.host {
            crate::detector::recover_task(app, &task).await?;
            continue;
        }
        let msg = format!(
            "its instance {} on host {} stopped, and the run cannot be seen from {}",
            from.instance_id, from.host, me.host
        );
        if app
            .store
            .set_party_status(&task.key(), TaskStatus::Failed, Some(&msg), app.now())
            .await?
            .applied()
        {
            app.emit(Event::Report);
        }
    }
    Ok(())
}

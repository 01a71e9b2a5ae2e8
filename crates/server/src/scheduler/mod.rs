//! The scheduling loop: event-driven, level-triggered from the database.
//!
//! Events (a task report, a new job, freed cores) mark jobs dirty; each dirty job gets one
//! step (`step`): load its state, decide (pure, `ferroflow_core::schedule`), commit, then act.
//! Waiting jobs are admitted by `admission` in priority order, skipping over jobs that cannot
//! get cores rather than blocking behind them. A periodic resync re-marks every unsettled job,
//! so a lost event or an unreachable party only delays work; and since all state is in the
//! database, recovering from a restart is simply starting the loop.
//!
//! With several instances of a site (`crate::instance`), a step or an admission first holds
//! the job's lease, and the short poll also picks up the jobs other instances marked dirty.
//!
//! Tests drive it with [`Scheduler::tick`] instead of the background loop.

mod admission;
pub mod job;
mod step;

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::StreamExt;
use tokio::sync::{Mutex, mpsc};

use ferroflow_core::id::JobId;

use crate::app::{App, Event};
use crate::reporter;

/// How many jobs are stepped at once.
const CONCURRENCY: usize = 8;

pub struct Scheduler {
    app: Arc<App>,
    events: Mutex<mpsc::UnboundedReceiver<Event>>,
}

#[derive(Debug, Default)]
struct Pending {
    jobs: BTreeSet<JobId>,
    admission: bool,
    reports: bool,
}

impl Pending {
    fn note(&mut self, e: Event) {
        match e {
            Event::Job(j) => {
                self.jobs.insert(j);
            }
            Event::Admission => self.admission = true,
            Event::Report => self.reports = true,
        }
    }

    fn is_empty(&self) -> bool {
        self.jobs.is_empty() && !self.admission && !self.reports
    }
}

impl Scheduler {
    pub fn new(app: Arc<App>, events: mpsc::UnboundedReceiver<Event>) -> Self {
        Self {
            app,
            events: Mutex::new(events),
        }
    }

    /// Runs until `shutdown` resolves.
    pub async fn run(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        let cfg = self.app.config.scheduler.clone();
        let mut resync = tokio::time::interval(cfg.resync_interval);
        let mut poll = tokio::time::interval(cfg.poll_interval);
        resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        let mut events = self.events.lock().await;
        loop {
            let mut pending = Pending::default();
            tokio::select! {
                biased;
                _ = &mut shutdown => return,
                e = events.recv() => match e {
                    Some(e) => pending.note(e),
                    None => return,
                },
                _ = resync.tick() => self.mark_unsettled(&mut pending).await,
                _ = poll.tick() => self.mark_polling(&mut pending).await,
            }
            while let Ok(e) = events.try_recv() {
                pending.note(e);
            }
            self.process(pending).await;
        }
    }

    /// Handles every queued event and everything it causes, until nothing is left; with
    /// `resync`, first re-examines every unsettled job as the periodic pass does. For tests.
    pub async fn tick(&self, resync: bool) {
        let mut pending = Pending::default();
        if resync {
            self.mark_unsettled(&mut pending).await;
            self.mark_polling(&mut pending).await;
        }
        loop {
            {
                let mut events = self.events.lock().await;
                while let Ok(e) = events.try_recv() {
                    pending.note(e);
                }
            }
            if pending.is_empty() {
                return;
            }
            self.process(std::mem::take(&mut pending)).await;
        }
    }

    async fn mark_unsettled(&self, pending: &mut Pending) {
        match self.app.store.unsettled_schedule_jobs().await {
            Ok(jobs) => pending.jobs.extend(jobs),
            Err(e) => tracing::error!(error = %e, "cannot list unsettled jobs"),
        }
        pending.admission = true;
        pending.reports = true;
    }

    async fn mark_polling(&self, pending: &mut Pending) {
        match self.app.store.polling_schedule_jobs().await {
            Ok(jobs) => pending.jobs.extend(jobs),
            Err(e) => tracing::error!(error = %e, "cannot list polled jobs"),
        }
        // What other instances learnt about jobs held here (reports, commands, stops).
        if self.app.instance.leases {
            match self
                .app
                .store
                .take_dirty_leases(&self.app.instance.id)
                .await
            {
                Ok(jobs) if !jobs.is_empty() => {
                    pending.jobs.extend(jobs);
                    pending.admission = true;
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "cannot list jobs marked by other instances"),
            }
        }
    }

    async fn process(&self, pending: Pending) {
        let app = &self.app;
        if pending.reports {
            reporter::deliver(app).await;
        }
        futures::stream::iter(pending.jobs)
            .for_each_concurrent(CONCURRENCY, |job_id| async move {
                let started = std::time::Instant::now();
                let result =
                    crate::store::with_cause("scheduler step", step::run(app, &job_id)).await;
                app.metrics.step.observe(started.elapsed());
                if let Err(e) = result {
                    tracing::error!(job_id = %job_id, error = %e, detail = ?e, "scheduling step failed");
                }
            })
            .await;
        let started = std::time::Instant::now();
        if pending.admission
            && let Err(e) = crate::store::with_cause("scheduler admission", admission::run(app))
                .await
                .inspect(|_| app.metrics.admission.observe(started.elapsed()))
        {
            tracing::error!(error = %e, detail = ?e, "admission failed");
        }
    }
}

//! This process among the instances of its site (`instance.leases`, `docs/deploy.md`).
//!
//! Several instances share the site's database and a directory (`data_dir`). Any of them
//! answers any call; a job's scheduling belongs to the instance holding its lease
//! (`t_schedule_lease`, taken by compare-and-swap, renewed by its holder's heartbeat, released
//! when the job has settled). An instance that learns of a change to a job another holds
//! marks the lease dirty, and the holder's scheduler picks marked jobs up on its short poll
//! (`scheduler.poll_interval_ms`), so events cross instances in a poll interval while one
//! instance keeps its in-process events.
//!
//! Each instance beats (`t_instance`, shown by `/v2/server/fateflow`). When one stops beating
//! for a lease's length, its leases have expired too and the others' schedulers take its jobs;
//! its running tasks are taken over one by one (compare-and-swap on the run's instance): a
//! process on this host is adopted (pid and start time, as after a restart), a container is
//! adopted through its daemon, and a run on another host, which cannot be seen from here, is
//! failed, so the job's retry policy decides (its worker token is superseded by the new
//! version, so the old process can no longer write anything).
//!
//! # Layout
//! - this file: [`Instance`], the leases as this process knows them (no I/O besides the store).
//! - `heartbeat`: the beat, the renewal, the takeover of a stopped instance's runs.

pub mod heartbeat;

use std::collections::HashMap;
use std::sync::Mutex;

use ferroflow_core::id::JobId;

use crate::store::{self, Runner, Store};

/// This process as an instance of its site: who it is, and the leases it knows of.
#[derive(Debug)]
pub struct Instance {
    pub id: String,
    /// This instance and the host its tasks run on, as each run records it.
    pub runner: Runner,
    /// Jobs are scheduled under leases (several instances).
    pub leases: bool,
    pub lease_ms: i64,
    /// Leases held here, with their expiry as last taken or renewed.
    held: Mutex<HashMap<JobId, i64>>,
    /// Leases another instance held when last asked, with their expiry then.
    elsewhere: Mutex<HashMap<JobId, i64>>,
}

impl Instance {
    pub fn new(id: String, host: String, leases: bool, lease: std::time::Duration) -> Self {
        Self {
            runner: Runner {
                instance_id: id.clone(),
                host,
            },
            id,
            leases,
            lease_ms: lease.as_millis() as i64,
            held: Mutex::new(HashMap::new()),
            elsewhere: Mutex::new(HashMap::new()),
        }
    }

    /// Whether this instance may schedule `job_id` now: always with one instance; with
    /// several, when it holds the job's lease (taken here if free or expired). A lease known
    /// to be fresh is not asked for again; one another instance holds is not asked for before
    /// it would expire.
    pub async fn hold(&self, store: &Store, job_id: &JobId, now: i64) -> store::Result<bool> {
        if !self.leases {
            return Ok(true);
        }
        if lock(&self.held)
            .get(job_id)
            .is_some_and(|&until| until - now > self.lease_ms / 2)
        {
            return Ok(true);
        }
        if lock(&self.elsewhere)
            .get(job_id)
            .is_some_and(|&until| now <= until)
        {
            return Ok(false);
        }
        if store
            .take_lease(job_id, &self.id, now, self.lease_ms)
            .await?
        {
            lock(&self.held).insert(job_id.clone(), now + self.lease_ms);
            lock(&self.elsewhere).remove(job_id);
            return Ok(true);
        }
        let until = store.lease(job_id).await?.map_or(now, |(_, until)| until);
        lock(&self.held).remove(job_id);
        lock(&self.elsewhere).insert(job_id.clone(), until);
        Ok(false)
    }

    /// Takes the lease of a job about to be created under a freshly drawn id; `false` when
    /// the id is taken (another instance drew the same one, or its lease row is there): the
    /// caller draws another. Always granted with one instance.
    pub async fn claim_new(&self, store: &Store, job_id: &JobId, now: i64) -> store::Result<bool> {
        if !self.leases {
            return Ok(true);
        }
        if store
            .claim_new_lease(job_id, &self.id, now, self.lease_ms)
            .await?
        {
            lock(&self.held).insert(job_id.clone(), now + self.lease_ms);
            return Ok(true);
        }
        Ok(false)
    }

    /// Whether this instance held `job_id`'s lease when it last looked.
    pub fn holds(&self, job_id: &JobId) -> bool {
        !self.leases || lock(&self.held).contains_key(job_id)
    }

    /// Lets the lease of a settled job go.
    pub async fn release(&self, store: &Store, job_id: &JobId) -> store::Result<()> {
        if !self.leases {
            return Ok(());
        }
        lock(&self.held).remove(job_id);
        store.release_lease(job_id, &self.id).await?;
        Ok(())
    }

    /// Renews every lease held here, and learns which they are.
    pub async fn renew(&self, store: &Store, now: i64) -> store::Result<()> {
        store.renew_leases(&self.id, now, self.lease_ms).await?;
        let mine = store.leases_of(&self.id).await?;
        *lock(&self.held) = mine.into_iter().map(|j| (j, now + self.lease_ms)).collect();
        lock(&self.elsewhere).retain(|_, until| *until >= now);
        Ok(())
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

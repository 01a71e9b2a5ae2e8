//! One scheduling decision for one running job, as data (`lifecycle.md` §6.3).
//!
//! The scheduler loads a [`JobView`] from its tables, calls [`decide`], commits the status
//! changes it returns, and only then performs the effects (status pushes, task starts,
//! stops). Because the decision is a pure function of durable state, replaying it after a
//! crash gives the same answer, so recovery is just "decide again".
//!
//! Departures from upstream: a status change the transition table refuses is not used for the
//! rest of the round (W-sched-11); stop fan-outs happen once per change, not every round
//! (W-sched-10); a failed task with retries left is retried without failing the job first.

use crate::aggregate::{self, RoundCode};
use crate::id::{Party, TaskName, TaskVersion};
use crate::status::{JobStatus, TaskStatus};

/// What the scheduler knows of a job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobView {
    pub status: JobStatus,
    pub cancel_requested: bool,
    pub progress: u32,
    /// The latest version of every task, in topological order.
    pub tasks: Vec<TaskView>,
    /// Now (ms), for retry back-offs.
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TaskView {
    pub name: TaskName,
    pub version: TaskVersion,
    /// The stored federated status.
    pub status: TaskStatus,
    /// Each party's reported status.
    pub parties: Vec<(Party, TaskStatus)>,
    /// Tasks that must succeed before this one starts.
    pub deps: Vec<TaskName>,
    /// Automatic retries left.
    pub auto_retries: u32,
    /// A retried run may not start before this time (ms).
    pub not_before: Option<i64>,
    /// Inherited from an earlier job: its parties copy the outputs and report it done, so it
    /// is never started here.
    pub inherited: bool,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Decision {
    /// New federated statuses, to write and then push to the task's parties.
    pub task_status: Vec<(TaskName, TaskStatus)>,
    /// Waiting tasks whose dependencies all succeeded, in scan order.
    pub ready: Vec<TaskName>,
    /// Tasks that just reached an end status: stop them everywhere (kills leftovers,
    /// triggers cleanup).
    pub stop: Vec<(TaskName, TaskStatus)>,
    /// Failed or timed-out tasks with retries left: run them again as a new version.
    pub retry: Vec<TaskName>,
    /// The job's new status, if it changes.
    pub job_status: Option<JobStatus>,
    /// The job's new progress, if it grew.
    pub progress: Option<u32>,
}

impl Decision {
    pub fn is_empty(&self) -> bool {
        *self == Decision::default()
    }
}

pub fn decide(job: &JobView) -> Decision {
    let mut d = Decision::default();
    let mut effective: Vec<TaskStatus> = Vec::with_capacity(job.tasks.len());

    for t in &job.tasks {
        let party: Vec<TaskStatus> = t.parties.iter().map(|(_, s)| *s).collect();
        let computed = aggregate::federated_task_status(&party);
        let status = if computed != t.status && t.status.can_become(computed) {
            d.task_status.push((t.name.clone(), computed));
            if computed.is_end() {
                d.stop.push((t.name.clone(), computed));
            }
            computed
        } else {
            t.status
        };
        effective.push(status);
    }

    // Retries are decided before the job status, so that a task about to run again counts
    // as waiting rather than failing the job.
    let mut as_job_sees = effective.clone();
    if !job.cancel_requested {
        for (i, t) in job.tasks.iter().enumerate() {
            if effective[i].is_auto_rerun() && t.auto_retries > 0 {
                d.retry.push(t.name.clone());
                as_job_sees[i] = TaskStatus::Waiting;
            }
        }
    }

    let interrupted = as_job_sees.iter().any(|s| s.is_interrupt());
    let mut round = RoundCode::NoNext;
    if !job.cancel_requested && !interrupted {
        for (i, t) in job.tasks.iter().enumerate() {
            if effective[i] != TaskStatus::Waiting {
                continue;
            }
            // Something still comes for these: a backed-off retry, or inherited results.
            if t.inherited || t.not_before.is_some_and(|at| at > job.now) {
                round = RoundCode::HaveNext;
                continue;
            }
            let deps_done = t.deps.iter().all(|dep| {
                job.tasks
                    .iter()
                    .position(|o| &o.name == dep)
                    .is_some_and(|j| effective[j].is_success())
            });
            if deps_done {
                d.ready.push(t.name.clone());
                round = RoundCode::HaveNext;
            }
        }
    }
    if !d.retry.is_empty() {
        round = RoundCode::HaveNext;
    }

    let computed = aggregate::job_status(&as_job_sees, round).unwrap_or(job.status);
    let computed = if computed == JobStatus::Waiting && job.cancel_requested {
        JobStatus::Canceled
    } else {
        computed
    };
    if computed != job.status && job.status.can_become(computed) {
        d.job_status = Some(computed);
    }

    let progress = aggregate::progress(&effective);
    if progress > job.progress {
        d.progress = Some(progress);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::Role;
    use TaskStatus::*;

    fn guest() -> Party {
        Party::new(Role::Guest, "9999")
    }
    fn host() -> Party {
        Party::new(Role::Host, "10000")
    }

    fn task(name: &str, status: TaskStatus, parties: &[TaskStatus], deps: &[&str]) -> TaskView {
        let ps = [guest(), host()];
        TaskView {
            name: name.into(),
            version: 0,
            status,
            parties: parties
                .iter()
                .enumerate()
                .map(|(i, s)| (ps[i].clone(), *s))
                .collect(),
            deps: deps.iter().map(|d| TaskName::from(*d)).collect(),
            auto_retries: 0,
            not_before: None,
            inherited: false,
        }
    }

    fn job(tasks: Vec<TaskView>) -> JobView {
        JobView {
            status: JobStatus::Running,
            cancel_requested: false,
            progress: 0,
            tasks,
            now: 1_000,
        }
    }

    #[test]
    fn roots_are_ready_first() {
        let d = decide(&job(vec![
            task("a", Waiting, &[Waiting, Waiting], &[]),
            task("b", Waiting, &[Waiting, Waiting], &["a"]),
        ]));
        assert_eq!(d.ready, vec![TaskName::from("a")]);
        assert!(d.job_status.is_none());
    }

    #[test]
    fn success_of_every_party_releases_the_next_task_in_the_same_decision() {
        let d = decide(&job(vec![
            task("a", Running, &[Success, Success], &[]),
            task("b", Waiting, &[Waiting, Waiting], &["a"]),
        ]));
        assert_eq!(d.task_status, vec![("a".into(), Success)]);
        assert_eq!(d.stop, vec![("a".into(), Success)]);
        assert_eq!(d.ready, vec![TaskName::from("b")]);
        assert_eq!(d.progress, Some(50));
    }

    #[test]
    fn a_half_done_task_is_still_running() {
        let d = decide(&job(vec![task("a", Running, &[Success, Running], &[])]));
        assert!(d.task_status.is_empty());
        assert!(d.ready.is_empty());
        assert!(d.job_status.is_none());
    }

    #[test]
    fn all_done_means_success() {
        let d = decide(&job(vec![
            task("a", Success, &[Success, Success], &[]),
            task("b", Running, &[Success, Success], &["a"]),
        ]));
        assert_eq!(d.job_status, Some(JobStatus::Success));
        assert_eq!(d.progress, Some(100));
    }

    #[test]
    fn a_failure_stops_new_starts_and_fails_the_job_once_nothing_runs() {
        let d = decide(&job(vec![
            task("a", Running, &[Failed, Success], &[]),
            task("b", Waiting, &[Waiting, Waiting], &[]),
        ]));
        assert_eq!(d.task_status, vec![("a".into(), Failed)]);
        assert!(d.ready.is_empty(), "no new task starts after a failure");
        assert_eq!(d.job_status, Some(JobStatus::Failed));
    }

    #[test]
    fn running_beats_failures_in_the_job_status() {
        let d = decide(&job(vec![
            task("a", Running, &[Failed, Failed], &[]),
            task("b", Running, &[Running, Running], &[]),
        ]));
        assert_eq!(d.job_status, None, "stays running while b runs");
        assert_eq!(d.stop, vec![("a".into(), Failed)]);
    }

    #[test]
    fn cancel_keeps_waiting_tasks_waiting_and_cancels_the_job() {
        let mut j = job(vec![
            task("a", Running, &[Canceled, Failed], &[]),
            task("b", Waiting, &[Waiting, Waiting], &["a"]),
        ]);
        j.cancel_requested = true;
        let d = decide(&j);
        assert_eq!(d.task_status, vec![("a".into(), Canceled)]);
        assert!(d.ready.is_empty());
        assert_eq!(d.job_status, Some(JobStatus::Canceled));
    }

    #[test]
    fn cancel_of_a_job_with_nothing_started() {
        let mut j = job(vec![task("a", Waiting, &[Waiting, Waiting], &[])]);
        j.cancel_requested = true;
        assert_eq!(decide(&j).job_status, Some(JobStatus::Canceled));
    }

    #[test]
    fn a_refused_transition_is_not_used() {
        // Marked running by the scheduler, parties not started yet: stays running.
        let d = decide(&job(vec![task("a", Running, &[Waiting, Waiting], &[])]));
        assert!(d.task_status.is_empty());
        assert!(d.ready.is_empty(), "a running task is never started again");
    }

    #[test]
    fn retries_keep_the_job_running() {
        let mut t = task("a", Running, &[Failed, Success], &[]);
        t.auto_retries = 1;
        let d = decide(&job(vec![
            t,
            task("b", Waiting, &[Waiting, Waiting], &["a"]),
        ]));
        assert_eq!(d.retry, vec![TaskName::from("a")]);
        assert_eq!(d.job_status, None);
        assert!(d.ready.is_empty());
    }

    #[test]
    fn fan_in_waits_for_every_producer() {
        let d = decide(&job(vec![
            task("a", Success, &[Success, Success], &[]),
            task("b", Running, &[Running, Success], &[]),
            task("c", Waiting, &[Waiting, Waiting], &["a", "b"]),
        ]));
        assert!(d.ready.is_empty());
    }

    #[test]
    fn a_backed_off_retry_waits_for_its_time() {
        let mut t = task("a", Waiting, &[Waiting, Waiting], &[]);
        t.version = 1;
        t.not_before = Some(2_000);
        let d = decide(&job(vec![t.clone()]));
        assert!(d.ready.is_empty());
        assert_eq!(d.job_status, None, "the job keeps running meanwhile");
        let mut j = job(vec![t]);
        j.now = 2_000;
        assert_eq!(decide(&j).ready, vec![TaskName::from("a")]);
    }

    #[test]
    fn inherited_tasks_are_never_started() {
        let mut t = task("a", Waiting, &[Waiting, Waiting], &[]);
        t.inherited = true;
        let d = decide(&job(vec![
            t,
            task("b", Waiting, &[Waiting, Waiting], &["a"]),
        ]));
        assert!(d.ready.is_empty());
        assert_eq!(d.job_status, None);
        let mut t = task("a", Waiting, &[Success, Success], &[]);
        t.inherited = true;
        let d = decide(&job(vec![
            t,
            task("b", Waiting, &[Waiting, Waiting], &["a"]),
        ]));
        assert_eq!(d.task_status, vec![("a".into(), Success)]);
        assert_eq!(d.ready, vec![TaskName::from("b")]);
    }
}

//! The two aggregation rules (`lifecycle.md` §4), with opposite priorities on purpose:
//! a task takes the *mildest* interrupt of its parties (a user's cancel beats the failures it
//! causes elsewhere), a job takes the *worst* interrupt of its tasks.

use crate::status::{JobStatus, TaskStatus};

/// Whether this scheduling round found a task whose inputs are all ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoundCode {
    HaveNext,
    NoNext,
}

/// The federated status of one task from its parties' statuses (§4.1).
pub fn federated_task_status(party_statuses: &[TaskStatus]) -> TaskStatus {
    use TaskStatus::*;
    if party_statuses.is_empty() {
        return Failed;
    }
    let set: Vec<TaskStatus> = dedup(party_statuses.iter().map(|s| s.normalized()));
    if set.len() == 1 {
        return set[0];
    }
    for interrupt in [Canceled, Timeout, Failed] {
        if set.contains(&interrupt) {
            return interrupt;
        }
    }
    // Some parties running, or some done and others not yet: the task is under way.
    Running
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no job status follows from task statuses {0:?}")]
pub struct Undecidable(pub Vec<TaskStatus>);

/// The job status from its tasks' federated statuses and the round code (§4.2).
pub fn job_status(
    task_statuses: &[TaskStatus],
    round: RoundCode,
) -> Result<JobStatus, Undecidable> {
    use TaskStatus::*;
    let set: Vec<TaskStatus> = dedup(task_statuses.iter().map(|s| s.normalized()));
    if set.len() == 1 {
        return Ok(JobStatus::from_task(set[0]));
    }
    if set.contains(&Running) {
        return Ok(JobStatus::Running);
    }
    if set.contains(&Waiting) && round == RoundCode::HaveNext {
        return Ok(JobStatus::Running);
    }
    for interrupt in [Failed, Timeout, Canceled] {
        if set.contains(&interrupt) {
            return Ok(JobStatus::from_task(interrupt));
        }
    }
    if set.len() == 2 && set.contains(&Waiting) && set.contains(&Success) {
        return Ok(JobStatus::Canceled);
    }
    Err(Undecidable(set))
}

/// Percentage of tasks in an end status, rounded down.
pub fn progress(task_statuses: &[TaskStatus]) -> u32 {
    if task_statuses.is_empty() {
        return 0;
    }
    let ended = task_statuses.iter().filter(|s| s.is_end()).count();
    (ended * 100 / task_statuses.len()) as u32
}

fn dedup(it: impl Iterator<Item = TaskStatus>) -> Vec<TaskStatus> {
    let mut v: Vec<TaskStatus> = Vec::new();
    for s in it {
        if !v.contains(&s) {
            v.push(s);
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use JobStatus as J;
    use TaskStatus::*;

    #[test]
    fn task_cases() {
        let cases: &[(&[TaskStatus], TaskStatus)] = &[
            (&[], Failed),
            (&[Waiting], Waiting),
            (&[Success, Pass], Success),
            (&[Running, Failed], Failed),
            (&[Success, Waiting], Running),
            (&[Canceled, Failed], Canceled),
            (&[Timeout, Failed], Timeout),
            (&[Canceled, Timeout], Canceled),
            (&[Running, Waiting], Running),
            (&[Running, Success], Running),
        ];
        for (input, want) in cases {
            assert_eq!(federated_task_status(input), *want, "{input:?}");
        }
    }

    #[test]
    fn job_cases() {
        use RoundCode::*;
        let cases: &[(&[TaskStatus], RoundCode, J)] = &[
            (&[Success, Success], NoNext, J::Success),
            (&[Success, Pass], NoNext, J::Success),
            (&[Waiting, Waiting], NoNext, J::Waiting),
            (&[Running, Failed], NoNext, J::Running),
            (&[Waiting, Success], HaveNext, J::Running),
            (&[Waiting, Success], NoNext, J::Canceled),
            (&[Failed, Canceled, Waiting], NoNext, J::Failed),
            (&[Timeout, Canceled], NoNext, J::Timeout),
            (&[Canceled, Success], NoNext, J::Canceled),
            (&[Waiting, Failed], HaveNext, J::Running),
        ];
        for (input, round, want) in cases {
            assert_eq!(
                job_status(input, *round).unwrap(),
                *want,
                "{input:?} {round:?}"
            );
        }
    }

    #[test]
    fn progress_counts_end_statuses() {
        assert_eq!(progress(&[Success, Running, Waiting]), 33);
        assert_eq!(progress(&[Success, Failed]), 100);
        assert_eq!(progress(&[]), 0);
    }

    proptest::proptest! {
        /// The federated status never claims success unless every party succeeded.
        #[test]
        fn success_needs_every_party(v in proptest::collection::vec(0usize..7, 1..6)) {
            let statuses: Vec<TaskStatus> = v.iter().map(|i| TaskStatus::ALL[*i]).collect();
            let s = federated_task_status(&statuses);
            if s == Success {
                proptest::prop_assert!(statuses.iter().all(|p| p.is_success()));
            }
        }

        /// A job is only successful when all of its tasks are.
        #[test]
        fn job_success_needs_every_task(v in proptest::collection::vec(0usize..7, 1..8), have in proptest::bool::ANY) {
            let statuses: Vec<TaskStatus> = v.iter().map(|i| TaskStatus::ALL[*i]).collect();
            let round = if have { RoundCode::HaveNext } else { RoundCode::NoNext };
            if let Ok(J::Success) = job_status(&statuses, round) {
                proptest::prop_assert!(statuses.iter().all(|p| p.is_success()));
            }
        }
    }
}

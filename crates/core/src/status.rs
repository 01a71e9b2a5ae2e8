//! Job and task statuses with FATE's spellings, their transition tables (`lifecycle.md` §3)
//! and the groups the rules speak of. Anything not in a table is rejected, never an error.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown status {0:?}")]
pub struct UnknownStatus(pub String);

/// The status of a job: of the federated job on the scheduler, or of one party's job row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobStatus {
    Ready,
    Waiting,
    Running,
    Canceled,
    Timeout,
    Failed,
    Success,
}

/// The status of a task: a party's own execution status (`party_status`) or the federated
/// status the scheduler derives from all parties (`status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TaskStatus {
    Waiting,
    Running,
    Canceled,
    Timeout,
    Failed,
    Pass,
    Success,
}

impl JobStatus {
    pub const ALL: [JobStatus; 7] = [
        JobStatus::Ready,
        JobStatus::Waiting,
        JobStatus::Running,
        JobStatus::Canceled,
        JobStatus::Timeout,
        JobStatus::Failed,
        JobStatus::Success,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Ready => "ready",
            JobStatus::Waiting => "waiting",
            JobStatus::Running => "running",
            JobStatus::Canceled => "canceled",
            JobStatus::Timeout => "timeout",
            JobStatus::Failed => "failed",
            JobStatus::Success => "success",
        }
    }

    /// The one table of allowed job transitions.
    pub fn can_become(self, next: JobStatus) -> bool {
        use JobStatus::*;
        match self {
            Ready => matches!(next, Waiting | Canceled | Timeout | Failed),
            Waiting => matches!(next, Running | Canceled | Timeout | Failed | Success),
            Running => matches!(next, Canceled | Timeout | Failed | Success),
            Canceled => matches!(next, Waiting),
            Timeout => matches!(next, Failed | Success | Waiting),
            Failed => matches!(next, Waiting | Canceled),
            Success => matches!(next, Waiting),
        }
    }

    pub fn is_end(self) -> bool {
        matches!(
            self,
            JobStatus::Canceled | JobStatus::Timeout | JobStatus::Failed | JobStatus::Success
        )
    }

    pub fn is_interrupt(self) -> bool {
        matches!(
            self,
            JobStatus::Canceled | JobStatus::Timeout | JobStatus::Failed
        )
    }

    /// The task status of the same spelling, for aggregation over task statuses.
    pub fn from_task(s: TaskStatus) -> JobStatus {
        match s {
            TaskStatus::Waiting => JobStatus::Waiting,
            TaskStatus::Running => JobStatus::Running,
            TaskStatus::Canceled => JobStatus::Canceled,
            TaskStatus::Timeout => JobStatus::Timeout,
            TaskStatus::Failed => JobStatus::Failed,
            TaskStatus::Pass | TaskStatus::Success => JobStatus::Success,
        }
    }
}

impl TaskStatus {
    pub const ALL: [TaskStatus; 7] = [
        TaskStatus::Waiting,
        TaskStatus::Running,
        TaskStatus::Canceled,
        TaskStatus::Timeout,
        TaskStatus::Failed,
        TaskStatus::Pass,
        TaskStatus::Success,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Waiting => "waiting",
            TaskStatus::Running => "running",
            TaskStatus::Canceled => "canceled",
            TaskStatus::Timeout => "timeout",
            TaskStatus::Failed => "failed",
            TaskStatus::Pass => "pass",
            TaskStatus::Success => "success",
        }
    }

    /// The one table of allowed task transitions. `waiting → success` exists for inherited
    /// tasks and for workers that report before they were marked running.
    pub fn can_become(self, next: TaskStatus) -> bool {
        use TaskStatus::*;
        match self {
            Waiting => matches!(next, Running | Success),
            Running => matches!(next, Canceled | Timeout | Failed | Pass | Success),
            Canceled => matches!(next, Waiting),
            Timeout => matches!(next, Failed | Success),
            Failed | Pass | Success => false,
        }
    }

    pub fn is_end(self) -> bool {
        !self.is_ongoing()
    }

    /// The allowed steps from `self` to `to`: the direct transition, or one through
    /// `running` (a party reports only its latest status, so a fast task can go from
    /// `waiting` to `failed` between two reports). `None` when `to` cannot be reached.
    pub fn path_to(self, to: TaskStatus) -> Option<Vec<TaskStatus>> {
        if self.can_become(to) {
            Some(vec![to])
        } else if self.can_become(TaskStatus::Running) && TaskStatus::Running.can_become(to) {
            Some(vec![TaskStatus::Running, to])
        } else {
            None
        }
    }

    pub fn is_ongoing(self) -> bool {
        matches!(self, TaskStatus::Waiting | TaskStatus::Running)
    }

    pub fn is_interrupt(self) -> bool {
        matches!(
            self,
            TaskStatus::Canceled | TaskStatus::Timeout | TaskStatus::Failed
        )
    }

    pub fn is_success(self) -> bool {
        matches!(self, TaskStatus::Pass | TaskStatus::Success)
    }

    /// Statuses that trigger an automatic retry.
    pub fn is_auto_rerun(self) -> bool {
        matches!(self, TaskStatus::Timeout | TaskStatus::Failed)
    }

    /// `pass` counts as `success` in every aggregation.
    pub fn normalized(self) -> TaskStatus {
        if self == TaskStatus::Pass {
            TaskStatus::Success
        } else {
            self
        }
    }
}

macro_rules! spelled {
    ($t:ty) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $t {
            type Err = UnknownStatus;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                <$t>::ALL
                    .into_iter()
                    .find(|st| st.as_str() == s)
                    .ok_or_else(|| UnknownStatus(s.to_string()))
            }
        }
    };
}

spelled!(JobStatus);
spelled!(TaskStatus);

#[cfg(test)]
mod tests {
    use super::*;

    /// Every (from, to) pair against the table in lifecycle.md §3.1.
    #[test]
    fn job_transition_table() {
        let allowed: &[(&str, &[&str])] = &[
            ("ready", &["waiting", "canceled", "timeout", "failed"]),
            (
                "waiting",
                &["running", "canceled", "timeout", "failed", "success"],
            ),
            ("running", &["canceled", "timeout", "failed", "success"]),
            ("canceled", &["waiting"]),
            ("timeout", &["failed", "success", "waiting"]),
            ("failed", &["waiting", "canceled"]),
            ("success", &["waiting"]),
        ];
        for from in JobStatus::ALL {
            let row = allowed.iter().find(|(f, _)| *f == from.as_str()).unwrap().1;
            for to in JobStatus::ALL {
                assert_eq!(
                    from.can_become(to),
                    row.contains(&to.as_str()),
                    "{from} -> {to}"
                );
            }
        }
    }

    /// Every (from, to) pair against the table in lifecycle.md §3.2.
    #[test]
    fn task_transition_table() {
        let allowed: &[(&str, &[&str])] = &[
            ("waiting", &["running", "success"]),
            (
                "running",
                &["canceled", "timeout", "failed", "pass", "success"],
            ),
            ("canceled", &["waiting"]),
            ("timeout", &["failed", "success"]),
            ("failed", &[]),
            ("pass", &[]),
            ("success", &[]),
        ];
        for from in TaskStatus::ALL {
            let row = allowed.iter().find(|(f, _)| *f == from.as_str()).unwrap().1;
            for to in TaskStatus::ALL {
                assert_eq!(
                    from.can_become(to),
                    row.contains(&to.as_str()),
                    "{from} -> {to}"
                );
            }
        }
    }

    #[test]
    fn spellings_round_trip() {
        for s in JobStatus::ALL {
            assert_eq!(s.as_str().parse::<JobStatus>().unwrap(), s);
        }
        for s in TaskStatus::ALL {
            assert_eq!(s.as_str().parse::<TaskStatus>().unwrap(), s);
        }
        assert!("finished".parse::<JobStatus>().is_err());
    }

    #[test]
    fn paths_go_through_running_when_needed() {
        use TaskStatus::*;
        assert_eq!(Waiting.path_to(Failed), Some(vec![Running, Failed]));
        assert_eq!(Waiting.path_to(Success), Some(vec![Success]));
        assert_eq!(Running.path_to(Canceled), Some(vec![Canceled]));
        assert_eq!(Failed.path_to(Success), None);
        assert_eq!(Waiting.path_to(Waiting), None);
    }

    #[test]
    fn groups() {
        use TaskStatus::*;
        assert!(Waiting.is_ongoing() && Running.is_ongoing());
        for s in [Canceled, Timeout, Failed, Pass, Success] {
            assert!(s.is_end());
        }
        assert!(Timeout.is_auto_rerun() && Failed.is_auto_rerun() && !Canceled.is_auto_rerun());
    }
}

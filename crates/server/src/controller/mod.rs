//! The use cases, one module per FATE page: what each API call does, independent of HTTP.
//! Handlers parse, call one of these, and wrap the result; errors become return codes only
//! at the edge (`http`).

pub mod app;
pub mod data;
pub mod inheritance;
pub mod job;
pub mod keys;
pub mod log;
pub mod model;
pub mod output;
pub mod partner;
pub mod permission;
pub mod provider;
pub mod scheduler;
pub mod server;
pub mod table;
pub mod worker;

use ferroflow_core::dag::DagErrors;
use ferroflow_wire::{Invalid, RetCode};

use crate::store;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A FATE typed error: its code and full message.
    #[error("{message}")]
    Fate { code: RetCode, message: String },
    #[error("{0}")]
    Invalid(#[from] Invalid),
    #[error("{0}")]
    Dag(#[from] DagErrors),
    #[error("storage failure")]
    Store(#[from] store::Error),
    /// A task could not be launched or stopped.
    #[error(transparent)]
    Run(#[from] crate::run::Error),
    /// The scheduler could not act on a job across its parties.
    #[error(transparent)]
    Schedule(#[from] crate::scheduler::job::Error),
    #[error("{0}")]
    Internal(String),
}

impl Error {
    /// FATE's typed error: base message and `k[v]` details.
    pub fn fate(code: RetCode, details: &[(&str, &str)]) -> Self {
        Error::Fate {
            code,
            message: code.message(details),
        }
    }

    pub fn with_message(code: RetCode, message: impl Into<String>) -> Self {
        Error::Fate {
            code,
            message: message.into(),
        }
    }

    pub fn job_not_found(job_id: &str) -> Self {
        Error::fate(RetCode::JobNotFound, &[("job_id", job_id)])
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

//! The use cases, one module per FATE page: what each API call does, independent of HTTP.
//! Handlers parse, call one of these, and wrap the result. A controller chooses FATE's typed
//! error where FATE has one (`Error::fate`); every other error keeps its source and gets its
//! code at the edge (`http::ApiError`).

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
    /// A model archive in the model store could not be read or written (`what`: `model <key>`).
    #[error("{what}: {source}")]
    Model {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// An answer's archive (`kind`: archive, zip) could not be built.
    #[error("cannot build the {kind}: {source}")]
    Archive {
        kind: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A file of the site could not be read or written.
    #[error("{}: {source}", path.display())]
    File {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A task's CONFIG could not be written as JSON.
    #[error("task config: {0}")]
    TaskConfig(#[source] serde_json::Error),
    /// A job's stored DAG no longer reads as one.
    #[error("stored DAG: {0}")]
    StoredDag(#[source] ferroflow_wire::dag::ShapeError),
    /// A refusal or failure with no error behind it, in FATE's words where it has some.
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

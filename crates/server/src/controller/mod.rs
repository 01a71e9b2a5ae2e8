//! The use cases, one module per FATE page: what each API call does, independent of HTTP.
//! Handlers parse, call one of these, and wrap the result. A controller says what went wrong
//! in domain words (`Error`: not found, bad input, denied, conflict with the current status,
//! failed with a reason, …) with FATE's wording of the case; failures keep their source. No
//! controller knows a return code: the edge maps every error to one (`http::fault`).

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

use std::fmt;

use ferroflow_core::dag::DagErrors;
use ferroflow_core::id::JobId;
use ferroflow_wire::Invalid;
use serde_json::Value;

use crate::store;

/// What a use case looked for and did not find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    Job,
    Task,
    Table,
    /// A task's model output.
    ModelOutput,
    File,
    App,
    Instance,
    Server,
}

/// What input a use case refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// A request parameter.
    Parameter,
    /// A job's DAG or its configuration.
    Dag,
    /// A provider's metadata.
    Provider,
    /// A provider's device.
    Device,
    /// A role that does not fit the app it is given to.
    RoleType,
}

/// Why a caller was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// Not allowed to do this (roles, grants).
    Permission,
    /// Not authenticated.
    Unauthenticated,
    /// Not the worker token of the task run it names.
    Token,
    /// A function this site does not offer.
    Restricted,
}

/// What a change met in the current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clash {
    /// The table exists already.
    TableExists,
    /// The job's current status does not allow the change.
    JobStatus,
    /// The task's current status does not allow the change.
    TaskStatus,
}

/// An operation that failed, with its reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    CreateJob,
    StopJob,
    StartTask,
    StopTask,
    InheritJob,
    Grant,
}

/// The cores a job or task asked for and did not get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shortage {
    /// More than the site has at all: the job can never run here.
    JobNever,
    /// Not free now.
    JobNow,
    TaskNow,
}

/// FATE's wording of a refusal: `k[v]` details after its code's base message, or the whole
/// message. The words are chosen here, the code at the edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detail {
    Fields(Vec<(&'static str, String)>),
    Message(String),
}

impl Detail {
    pub fn fields(fields: &[(&'static str, &str)]) -> Self {
        Detail::Fields(fields.iter().map(|(k, v)| (*k, v.to_string())).collect())
    }

    pub fn message(message: impl Into<String>) -> Self {
        Detail::Message(message.into())
    }
}

impl fmt::Display for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Detail::Fields(d) => {
                for (i, (k, v)) in d.iter().enumerate() {
                    let sep = if i == 0 { "" } else { "," };
                    write!(f, "{sep}{k}[{v}]")?;
                }
                Ok(())
            }
            Detail::Message(m) => f.write_str(m),
        }
    }
}

/// The application layer's errors: refusals in domain words (`NotFound`, `Invalid…`,
/// `Denied`, `Conflict`, `Failed`, `NoResources`), each with FATE's wording of its case, and
/// failures that keep their source. FATE's return codes are chosen at the edge
/// (`http::fault`), in one place.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0:?} not found: {1}")]
    NotFound(Missing, Detail),
    #[error("invalid {0:?}: {1}")]
    BadInput(Input, Detail),
    #[error("denied ({0:?}): {1}")]
    Denied(Denial, Detail),
    #[error("conflict ({0:?}): {1}")]
    Conflict(Clash, Detail),
    #[error("{0:?} failed: {1}")]
    Failed(Op, Detail),
    #[error("no resources ({0:?}): {1}")]
    NoResources(Shortage, Detail),
    /// Parties refused to create the job: their reasons, and every party's answer (`data`).
    #[error("Create job failed: {}", .refused.join("; "))]
    CreateRefused {
        job_id: JobId,
        refused: Vec<String>,
        data: Value,
    },
    /// A request refused with its reason, where FATE has no typed error for the case.
    #[error("{0}")]
    Refused(String),
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
    /// A task's model is not recorded (`source` none) or its archive not readable. In FATE's
    /// words, as Python's `ValueError` on the output page (`python`).
    #[error("{}", no_model(*.python, .source.as_ref()))]
    NoModel {
        python: bool,
        #[source]
        source: Option<std::io::Error>,
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
    /// An answer could not be serialized.
    #[error("serializing an answer: {0}")]
    Answer(#[source] serde_json::Error),
    /// Every job id drawn was taken (by other instances drawing at the same moment).
    #[error("no unused job id in {draws} draws")]
    NoFreeJobId { draws: usize },
    /// A job's row was gone right after it was written.
    #[error("job {0} vanished while being created")]
    Vanished(JobId),
}

fn no_model(python: bool, source: Option<&std::io::Error>) -> String {
    let text = match source {
        Some(e) => format!("No found model: {e}"),
        None => "No found model".to_string(),
    };
    if python {
        format!("ValueError('{text}')")
    } else {
        text
    }
}

/// A refusal's case: which domain error it makes with its detail.
pub trait Case {
    fn with(self, detail: Detail) -> Error;
}

macro_rules! case {
    ($kind:ty => $variant:ident) => {
        impl Case for $kind {
            fn with(self, detail: Detail) -> Error {
                Error::$variant(self, detail)
            }
        }
    };
}
case!(Missing => NotFound);
case!(Input => BadInput);
case!(Denial => Denied);
case!(Clash => Conflict);
case!(Op => Failed);
case!(Shortage => NoResources);

impl Error {
    /// A refusal with FATE's `k[v]` details.
    pub fn refuse(case: impl Case, fields: &[(&'static str, &str)]) -> Self {
        case.with(Detail::fields(fields))
    }

    /// A refusal with FATE's whole message.
    pub fn refuse_with(case: impl Case, message: impl Into<String>) -> Self {
        case.with(Detail::message(message))
    }

    /// An invalid request parameter, in FATE's words (`Invalid parameter: …`).
    pub fn bad_parameter(message: impl Into<String>) -> Self {
        Error::refuse_with(Input::Parameter, message)
    }

    pub fn job_not_found(job_id: &str) -> Self {
        Error::refuse(Missing::Job, &[("job_id", job_id)])
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

//! The built-in demo provider's components, run as `ferroflow component execute` processes
//! under the algorithm-container contract (docs/demo-provider.md): read the task CONFIG,
//! resolve inputs and write outputs through the site's worker API, and end by reporting
//! `success` or `failed` exactly once.
//!
//! # Layout
//! - this file: the CLI (`execute`, `list`), loading the CONFIG, dispatch, the final report.
//! - [`worker_client`]: the api-3 client (envelopes, retries, the status report's deadline).
//! - [`task`]: what components share — parameters, input resolution, writing tables,
//!   saving models and metrics.
//! - [`table`]: the CSV table format; [`lr`]: logistic regression, pure.
//! - [`log`]: log lines to stderr and to the task's log files.
//! - one file per component: [`reader`], [`transform`], [`train`], [`sleep`], [`fail`].
//! - [`sample`]: the two-party sample data set.
//!
//! # Environment
//! `CONFIG` (or the variable named by `--env-name`; `FATE_TASK_CONFIG` as a fallback), and
//! [`REPORT_DEADLINE_ENV`] (seconds the final status report keeps retrying; default 600),
//! [`worker_client::SITE_WAIT_ENV`] (seconds every other call waits out a site that does not
//! answer; default 180).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use ferroflow_wire::task_config::{Mlmd, TaskConfig};
use tracing::Level;
use tracing_subscriber::layer::SubscriberExt;

mod fail;
pub mod flow;
pub(crate) mod log;
mod lr;
mod reader;
pub mod sample;
mod sleep;
mod table;
pub(crate) mod task;
mod train;
mod transform;
pub(crate) mod worker_client;

#[cfg(test)]
pub(crate) mod fake_site;
#[cfg(test)]
mod tests;

use task::Task;
use worker_client::{ClientOptions, ReportPolicy, WorkerClient};

pub const READER: &str = "demo_reader";
pub const TRANSFORM: &str = "demo_transform";
pub const TRAIN: &str = "demo_train";
pub const SLEEP: &str = "demo_sleep";
pub const FAIL: &str = "demo_fail";

const COMPONENTS: &[&str] = &[READER, TRANSFORM, TRAIN, SLEEP, FAIL];

/// The environment variable with the number of seconds (fractions allowed) the final status
/// report keeps retrying while the site does not answer.
pub const REPORT_DEADLINE_ENV: &str = "FERROFLOW_REPORT_DEADLINE_SECS";
/// Where FATE's local wrapper puts the CONFIG; read when the default variable is unset.
const FATE_TASK_CONFIG: &str = "FATE_TASK_CONFIG";
const DEFAULT_ENV_NAME: &str = "CONFIG";

/// The components of the demo provider, for the site to register.
pub fn names() -> &'static [&'static str] {
    COMPONENTS
}

#[derive(clap::Subcommand)]
pub enum Command {
    /// Runs the task a CONFIG describes and reports its end status to the site.
    Execute(ExecuteArgs),
    /// Prints the names of the demo provider's components, one per line.
    List,
}

#[derive(clap::Args)]
pub struct ExecuteArgs {
    /// Read the CONFIG (JSON or YAML) from this file instead of the environment.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The environment variable holding the CONFIG.
    #[arg(long, value_name = "VAR", default_value = DEFAULT_ENV_NAME)]
    env_name: String,
}

pub fn run(command: Command) -> ExitCode {
    match command {
        Command::List => {
            for name in names() {
                println!("{name}");
            }
            ExitCode::SUCCESS
        }
        Command::Execute(args) => execute_process(args),
    }
}

/// Everything a component can fail with. Messages name what went wrong; the causes follow in
/// the source chain, which [`error_chain`] flattens for the status report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown component `{0}` (the demo provider has {list}; fate_flow has {flow})", list = COMPONENTS.join(", "), flow = flow::COMPONENTS.join(", "))]
    UnknownComponent(String),
    #[error("parameter `{name}`: {reason}")]
    Param { name: String, reason: String },
    #[error("input `{key}`: {reason}")]
    Input { key: String, reason: String },
    #[error("input `{key}`: cannot resolve it")]
    InputQuery {
        key: String,
        #[source]
        source: worker_client::Error,
    },
    #[error("table {path}")]
    Table {
        path: String,
        #[source]
        source: table::Error,
    },
    #[error("cannot {action} {path}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the CONFIG names no storage directory (conf.computing.metadata.options.data_dir, or localfs_dir on a Spark site)"
    )]
    NoDataDir,
    #[error(
        "unsupported table location `{0}`: only file:// URIs and absolute paths are readable here"
    )]
    Uri(String),
    #[error("{reason}")]
    Data { reason: String },
    #[error("cannot build the model archive")]
    ModelTar(#[source] std::io::Error),
    #[error(transparent)]
    Worker(#[from] worker_client::Error),
    /// The component was asked to fail (`demo_fail`, `demo_sleep`'s `fail_times`).
    #[error("{0}")]
    Requested(String),
}

/// An error and its causes on one line, skipping causes whose text is already there.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let t = s.to_string();
        if !text.contains(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        source = s.source();
    }
    text
}

/// The environment variable with the directories (a JSON list) the site lets components'
/// file parameters point into; unset, nothing is confined (a component run by hand).
pub const ALLOWED_DIRS_ENV: &str = "FERROFLOW_ALLOWED_DIRS";

/// Knobs of a run, read from the environment once, at the top.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub client: ClientOptions,
    pub report: ReportPolicy,
    /// Where file parameters (`path`, `file`) may point ([`ALLOWED_DIRS_ENV`]).
    pub allowed_dirs: Option<Vec<PathBuf>>,
}

impl Options {
    /// Options from the environment; an unreadable value is reported and replaced by its default.
    pub(crate) fn from_env(get: &dyn Fn(&str) -> Option<String>) -> (Self, Option<String>) {
        let mut options = Options::default();
        let mut warnings = Vec::new();
        for (var, slot) in [
            (REPORT_DEADLINE_ENV, &mut options.report.deadline),
            (worker_client::SITE_WAIT_ENV, &mut options.client.site_wait),
        ] {
            let Some(v) = get(var) else { continue };
            match v
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(|s| Duration::try_from_secs_f64(s).ok())
            {
                Some(d) => *slot = d,
                None => warnings.push(format!(
                    "{var}={v:?} is not a number of seconds, using the default"
                )),
            }
        }
        options.client.token = get(worker_client::TOKEN_ENV)
            .filter(|t| !t.is_empty())
            .map(worker_client::Token);
        if let Some(v) = get(ALLOWED_DIRS_ENV) {
            match serde_json::from_str::<Vec<PathBuf>>(&v) {
                Ok(dirs) => options.allowed_dirs = Some(dirs),
                // Unreadable: nothing may be opened, rather than anything.
                Err(_) => {
                    options.allowed_dirs = Some(Vec::new());
                    warnings.push(format!(
                        "{ALLOWED_DIRS_ENV} is not a JSON list of directories"
                    ));
                }
            }
        }
        let warning = (!warnings.is_empty()).then(|| warnings.join("; "));
        (options, warning)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Success,
    Failed,
}

impl Status {
    /// The spelling the worker API takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Success => "success",
            Status::Failed => "failed",
        }
    }
}

/// How a run ended: its status, the error reported with it, and whether the site got it.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub status: Status,
    pub error: String,
    pub reported: bool,
}

impl Outcome {
    /// 0 only for a success the site knows about: a lost report must not look like success to
    /// whoever watches the process.
    pub fn exit_code(&self) -> ExitCode {
        if self.status == Status::Success && self.reported {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}

/// Runs one task and reports its end status; never returns without having tried to report.
pub async fn execute(config: TaskConfig, options: &Options) -> Outcome {
    let execution_id = config.party_task_id.clone();
    let component = config.component.clone();
    let client = match WorkerClient::new(&config.mlmd.base_url(), options.client.clone()) {
        Ok(c) => c,
        Err(e) => {
            let error = format!("cannot create the worker API client: {}", error_chain(&e));
            tracing::error!(%error, "task failed");
            return Outcome {
                status: Status::Failed,
                error,
                reported: false,
            };
        }
    };
    tracing::info!(
        component = %component,
        execution_id = %execution_id,
        task_version = %config.task_version,
        site = %config.mlmd.base_url(),
        "task start"
    );
    let client_for_report = client.clone();
    let mut task = Task::new(config, client);
    task.allowed_dirs = options.allowed_dirs.clone();
    // Run as its own task so that a panic comes back as an error to report, not as a
    // process that dies silently and leaves its task `running` on the site.
    let joined = tokio::spawn(async move { dispatch(&task).await }).await;
    let (status, error) = match joined {
        Ok(Ok(())) => {
            tracing::info!("task succeeded");
            (Status::Success, String::new())
        }
        Ok(Err(e)) => {
            let error = format!("{component}: {}", error_chain(&e));
            tracing::error!(%error, "task failed");
            (Status::Failed, error)
        }
        Err(e) => {
            let error = format!("{component}: {}", panic_message(e));
            tracing::error!(%error, "task failed");
            (Status::Failed, error)
        }
    };
    let reported = report(
        &client_for_report,
        &execution_id,
        status,
        &error,
        &options.report,
    )
    .await;
    Outcome {
        status,
        error,
        reported,
    }
}

fn panic_message(e: tokio::task::JoinError) -> String {
    match e.try_into_panic() {
        Ok(payload) => {
            let text = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".into());
            format!("panicked: {text}")
        }
        Err(e) => format!("cancelled: {e}"),
    }
}

async fn dispatch(task: &Task) -> Result<(), Error> {
    match task.config.component.as_str() {
        READER => reader::run(task).await,
        TRANSFORM => transform::run(task).await,
        TRAIN => train::run(task).await,
        SLEEP => sleep::run(task).await,
        FAIL => fail::run(task).await,
        flow::UPLOAD => flow::upload_run(task).await,
        flow::DOWNLOAD => flow::download_run(task).await,
        flow::TRANSFORMER => flow::transformer_run(task).await,
        #[cfg(test)]
        "test_panic" => panic!("as asked"),
        other => Err(Error::UnknownComponent(other.to_string())),
    }
}

pub(crate) async fn report(
    client: &WorkerClient,
    execution_id: &str,
    status: Status,
    error: &str,
    policy: &ReportPolicy,
) -> bool {
    match client
        .report_status(execution_id, status.as_str(), error, policy)
        .await
    {
        Ok(()) => {
            tracing::info!(status = status.as_str(), "status reported");
            true
        }
        Err(e) => {
            tracing::error!(status = status.as_str(), error = %error_chain(&e), "status report failed");
            false
        }
    }
}

/// Why no CONFIG could be had.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LoadError {
    #[error("cannot read the CONFIG file {path}")]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no CONFIG: environment variable {0} is not set and --config was not given")]
    Unset(String),
}

/// The CONFIG text: `--config FILE`, else the variable `--env-name` names, else (for the
/// default name only) `FATE_TASK_CONFIG`, where FATE's local wrapper puts it.
pub(crate) fn config_text(
    config: Option<&std::path::Path>,
    env_name: &str,
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<String, LoadError> {
    if let Some(path) = config {
        return std::fs::read_to_string(path).map_err(|source| LoadError::File {
            path: path.to_path_buf(),
            source,
        });
    }
    get(env_name)
        .or_else(|| {
            if env_name == DEFAULT_ENV_NAME {
                get(FATE_TASK_CONFIG)
            } else {
                None
            }
        })
        .ok_or_else(|| LoadError::Unset(env_name.to_string()))
}

/// The two fields a failure report needs, from a CONFIG too broken to read whole, so that even
/// then the site learns why its task died.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct ReportTarget {
    pub(crate) party_task_id: String,
    pub(crate) mlmd: Mlmd,
}

impl ReportTarget {
    pub(crate) fn parse(text: &str) -> Option<Self> {
        serde_json::from_str(text)
            .ok()
            .or_else(|| serde_yaml::from_str(text).ok())
    }
}

/// Test hook: when set, every component process appends `<execution id> <pid>` to this file
/// as it starts, so crash tests can check that no run was ever started twice.
pub const LAUNCH_LOG_ENV: &str = "FERROFLOW_LAUNCH_LOG";

fn record_launch(path: &str, execution_id: &str) {
    use std::io::Write;
    // One short append per process: atomic enough on a local file system (O_APPEND).
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = f.write_all(format!("{execution_id} {}\n", std::process::id()).as_bytes());
    }
}

fn execute_process(args: ExecuteArgs) -> ExitCode {
    let get = |k: &str| std::env::var(k).ok();
    let (options, warning) = Options::from_env(&get);
    let text = config_text(args.config.as_deref(), &args.env_name, &get);
    let config = match &text {
        Ok(t) => TaskConfig::parse(t).map_err(|e| format!("cannot read the CONFIG: {e}")),
        Err(e) => Err(error_chain(e)),
    };
    let files = config
        .as_ref()
        .map(|c| log::file_targets(&c.conf.logger.config))
        .unwrap_or_default();
    let subscriber =
        tracing_subscriber::registry().with(log::TaskLog::new(Some(Level::INFO), files));
    let _guard = tracing::subscriber::set_default(subscriber);
    if let Some(w) = warning {
        tracing::warn!("{w}");
    }
    if let (Some(log), Ok(c)) = (get(LAUNCH_LOG_ENV), &config) {
        record_launch(&log, &c.party_task_id);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        match config {
            Ok(config) => execute(config, &options).await.exit_code(),
            Err(error) => {
                tracing::error!(%error, "task failed");
                if let Some(target) = text.ok().as_deref().and_then(ReportTarget::parse)
                    && let Ok(client) =
                        WorkerClient::new(&target.mlmd.base_url(), options.client.clone())
                {
                    report(
                        &client,
                        &target.party_task_id,
                        Status::Failed,
                        &error,
                        &options.report,
                    )
                    .await;
                }
                ExitCode::FAILURE
            }
        }
    })
}

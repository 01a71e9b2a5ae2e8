//! `ferroflow task entrypoint|cleanup`: ferroflow's own task wrapper for FATE's algorithms
//! (pyfate 2.2), in place of FATE Flow's Python `FlowWraps` (`execution.md` §3.1–3.2). No
//! fate_flow package is needed: the binary reads the CONFIG, talks to the site over api-3, and
//! starts pyfate's own CLI (`python -m fate.components component ...`, §3.6a).
//!
//! # What `entrypoint` does
//! 1. read the CONFIG (`CONFIG` JSON, `--env-name VAR`, `--config FILE`; YAML or JSON) and log
//!    to stderr and to the files of its logger config;
//! 2. with RabbitMQ federation, create the task's vhosts and wait until the broker runs them
//!    ([`rabbitmq`]); ask pyfate for the component's I/O definition (`component artifact-type` →
//!    `<T_out>/define.yaml`), [`define`];
//! 3. resolve the inputs through api-3 (tables by tracking query, models downloaded into
//!    `<T_in>/model/`), [`inputs`];
//! 4. build the output URIs (`dag.md` §8.8), [`outputs`]; metrics go to the [`relay`], which
//!    passes them on to the site and waits out its restarts;
//! 5. write `<T_in>/task_parameters.yaml` and run `component execute --config …
//!    --execution-final-meta-path <T_out>/task_result.yaml` (output:
//!    `<task log dir>/stdout/task_execute`);
//! 6. read the final meta; on success push data, models and metrics through api-3, then
//!    destroy the inputs of type `table` (an upload's temporary table);
//! 7. report `success`, or `failed` with the error (the algorithm's traceback), and exit with
//!    0 or FATE's code modulo 256: 2006 (the wrapper failed), 2007 (the algorithm failed),
//!    2008 (the algorithm left no result, e.g. it was killed).
//!
//! `<T_in>`, `<T_out>` are `input/` and `output/` of the working directory, which the site
//! sets to the task's versioned directory `<JOB_DIR>/<job>/<role>/<party>/<task>/<version>`.
//!
//! `cleanup` ends the task's computing and federation sessions once every party is done
//! (the site runs it when the task's federated status ends): for standalone engines, their
//! namespaces in the data directory (what pyfate's own cleanup removes); for other engines,
//! pyfate's `component cleanup`.
//!
//! # Layout
//! [`define`] the I/O definition; [`inputs`] and [`outputs`] the artifacts; [`python`] the
//! processes and the embedded standalone-storage helper; [`rabbitmq`] the federation's vhosts;
//! [`spark`] the Spark driver and its application; `cleanup` the `cleanup` command.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ferroflow_wire::task_config::TaskConfig;
use serde_json::{Value, json};
use tracing::Level;
use tracing_subscriber::layer::SubscriberExt;

use crate::component::worker_client::{self, WorkerClient};
use crate::component::{self, Options, Status, error_chain};

mod cleanup;
pub mod define;
pub mod inputs;
pub mod outputs;
pub mod python;
pub mod rabbitmq;
pub mod relay;
pub mod spark;

#[cfg(test)]
mod tests;

pub use cleanup::cleanup;

use define::Define;

/// The wrapper failed (FATE's `ReturnCode.Task.TASK_RUN_FAILED`).
pub const TASK_RUN_FAILED: i32 = 2006;
/// The algorithm reported a failure (`COMPONENT_RUN_FAILED`).
pub const COMPONENT_RUN_FAILED: i32 = 2007;
/// The algorithm left no final meta (`NO_FOUND_RUN_RESULT`).
pub const NO_FOUND_RUN_RESULT: i32 = 2008;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Runs a FATE (pyfate) task from its CONFIG and reports its end to the site.
    Entrypoint(Args),
    /// Ends a finished task's computing and federation sessions.
    Cleanup(Args),
}

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Read the CONFIG (JSON or YAML) from this file instead of the environment.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The environment variable holding the CONFIG (FATE's local wrapper: FATE_TASK_CONFIG).
    #[arg(long, value_name = "VAR", default_value = "CONFIG")]
    pub env_name: String,
    /// The Python with pyfate (default: $EXECUTOR_ENV, then $FATE_PYTHON, then python3).
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,
}

/// Everything the wrapper itself can fail with (code 2006).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("input `{key}`: {reason}")]
    Input { key: String, reason: String },
    #[error("input `{key}`: cannot resolve it")]
    InputQuery {
        key: String,
        #[source]
        source: worker_client::Error,
    },
    #[error("output `{key}`: cannot record it")]
    Output {
        key: String,
        #[source]
        source: worker_client::Error,
    },
    #[error("output `{key}`: cannot archive the model")]
    Model {
        key: String,
        #[source]
        source: std::io::Error,
    },
    #[error("component definition of `{component}`")]
    Define {
        component: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("cannot {action} {path}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("metrics: cannot pass them on to the site")]
    Metrics(#[source] worker_client::Error),
    #[error(transparent)]
    Python(#[from] python::Error),
    #[error(transparent)]
    Spark(#[from] spark::Error),
}

pub fn run(command: Command) -> ExitCode {
    match command {
        Command::Entrypoint(args) => entrypoint_process(&args),
        Command::Cleanup(args) => cleanup::process(&args),
    }
}

/// The directories of one run.
#[derive(Debug, Clone)]
pub struct Dirs {
    /// The task's versioned directory (the working directory).
    pub task: PathBuf,
    pub input: PathBuf,
    pub output: PathBuf,
    /// Where the raw output of pyfate's processes goes: `<task log dir>/stdout`.
    pub stdout: PathBuf,
}

impl Dirs {
    pub fn new(task: &Path, config: &TaskConfig) -> Self {
        let stdout = config
            .task_log_dir()
            .map(|d| PathBuf::from(d).join("stdout"))
            .unwrap_or_else(|| task.join("stdout"));
        Self {
            task: task.to_path_buf(),
            input: task.join("input"),
            output: task.join("output"),
            stdout,
        }
    }

    /// `<stdout>/<worker>`, suffixed with the version after the first run, like the site's
    /// `task_entrypoint` file.
    pub fn worker_log(&self, worker: &str, version: &str) -> PathBuf {
        if version == "0" || version.is_empty() {
            self.stdout.join(worker)
        } else {
            self.stdout.join(format!("{worker}.{version}"))
        }
    }
}

/// How a run ended: FATE's code (0 = success) and the error reported.
#[derive(Debug, Clone, PartialEq)]
pub struct Ended {
    pub code: i32,
    pub error: String,
}

/// The algorithm's final meta (`task_result.yaml`, JSON).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
struct FinalMeta {
    status: FinalStatus,
    #[serde(default)]
    io_meta: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
struct FinalStatus {
    code: i64,
    #[serde(default)]
    exceptions: Option<String>,
}

/// One wrapper run.
pub struct Wrapper<'a> {
    pub config: &'a TaskConfig,
    pub client: &'a WorkerClient,
    pub python: &'a Path,
    pub dirs: &'a Dirs,
}

impl Wrapper<'_> {
    /// The standalone data home (`conf.computing.metadata.options.data_dir`).
    fn data_dir(&self) -> Option<PathBuf> {
        self.config
            .conf
            .computing
            .metadata
            .get("options")
            .and_then(|o| o.get("data_dir"))
            .and_then(Value::as_str)
            .filter(|d| !d.is_empty())
            .map(|d| self.dirs.task.join(d))
    }

    fn is_spark(&self) -> bool {
        self.config.conf.computing.kind == "spark"
    }

    /// `conf.computing.metadata.options.localfs_dir`: the `file` storage's tables.
    fn localfs_dir(&self) -> Option<PathBuf> {
        self.config
            .conf
            .computing
            .metadata
            .get("options")
            .and_then(|o| o.get("localfs_dir"))
            .and_then(Value::as_str)
            .filter(|d| !d.is_empty())
            .map(|d| self.dirs.task.join(d))
    }

    fn is_standalone(&self) -> bool {
        self.config.conf.computing.kind == "standalone"
            || self.config.conf.federation.kind == "standalone"
    }

    /// The environment of pyfate's processes: the CONFIG variables removed (FATE does), the
    /// standalone data home as `STANDALONE_DATA_PATH`.
    fn python_env(&self) -> Vec<(String, String)> {
        let mut env = Vec::new();
        if self.is_standalone()
            && let Some(d) = self.data_dir()
        {
            env.push(("STANDALONE_DATA_PATH".into(), d.display().to_string()));
        }
        env
    }

    fn python_run(&self, what: &'static str, worker: &str, args: Vec<String>) -> python::Run<'_> {
        python::Run {
            what,
            python: self.python,
            args,
            cwd: &self.dirs.task,
            log: self.dirs.worker_log(worker, &self.config.task_version),
            set_env: self.python_env(),
            remove_env: vec!["CONFIG", "FATE_TASK_CONFIG"],
        }
    }

    /// Step 2: `component artifact-type` into `<T_out>/define.yaml`.
    pub async fn define(&self) -> Result<Define, Error> {
        let c = self.config;
        let file = self.dirs.output.join("define.yaml");
        mkdir(&self.dirs.output)?;
        let args = vec![
            "-m".into(),
            "fate.components".into(),
            "component".into(),
            "artifact-type".into(),
            "--name".into(),
            c.component.clone(),
            "--role".into(),
            c.role.clone(),
            "--stage".into(),
            c.stage.clone(),
            "--output-path".into(),
            file.display().to_string(),
        ];
        let define_err = |source: Box<dyn std::error::Error + Send + Sync>| Error::Define {
            component: c.component.clone(),
            source,
        };
        self.python_run("component define", "component_define", args)
            .success()
            .await
            .map_err(|e| define_err(Box::new(e)))?;
        let text = std::fs::read_to_string(&file).map_err(|source| Error::Io {
            action: "read",
            path: file.clone(),
            source,
        })?;
        Define::parse(&text).map_err(|e| define_err(Box::new(e)))
    }

    /// Steps 2–7 up to the report: the code and the error to report.
    pub async fn run(&self) -> Ended {
        match self.run_inner().await {
            Ok(ended) => ended,
            Err(e) => Ended {
                code: TASK_RUN_FAILED,
                error: error_chain(&e),
            },
        }
    }

    async fn run_inner(&self) -> Result<Ended, Error> {
        let c = self.config;
        // First of all: the other parties' processes start as this one does, and the vhosts
        // must run before any of them reaches its federation.
        if c.conf.federation.kind == "rabbitmq" {
            let began = std::time::Instant::now();
            match rabbitmq::prepare(&c.conf.federation.metadata).await {
                Ok(vhosts) => tracing::info!(
                    ?vhosts,
                    ms = began.elapsed().as_millis() as u64,
                    "rabbitmq vhosts running"
                ),
                Err(error) => tracing::warn!(
                    %error,
                    "rabbitmq vhosts not prepared; pyfate makes its own"
                ),
            }
        }
        let define = self.define().await?;
        tracing::info!("start generating input artifacts");
        let resolved = inputs::resolve(c, self.client, &define, &self.dirs.input).await?;
        tracing::info!("input artifacts are ready");
        // A Spark task checks what it needs before anything runs.
        let submit = if self.is_spark() {
            spark::check_inputs(&resolved.artifacts)?;
            let s = spark::prepare(c, self.python).await?;
            tracing::info!(master = %s.master, spark_submit = %s.spark_submit.display(), "spark submit");
            Some(s)
        } else {
            None
        };
        let data_dir = self.data_dir();
        let localfs_dir = self.localfs_dir();
        let relay = relay::Relay::start(self.client.clone())
            .await
            .map_err(|source| Error::Io {
                action: "listen for metrics on",
                path: "127.0.0.1".into(),
                source,
            })?;
        let places = outputs::Places {
            output_dir: &self.dirs.output,
            data_dir: data_dir.as_deref(),
            localfs_dir: localfs_dir.as_deref(),
            metric_base: &relay.base,
        };
        let output_artifacts = outputs::output_artifacts(c, &define, &places);
        let shown = Value::Object(output_artifacts.clone());
        tracing::info!(outputs = %shown, "output artifacts");
        let params = json!({
            "job_id": c.job_id,
            "task_id": c.task_id,
            "party_task_id": c.party_task_id,
            "task_name": c.task_name,
            "component": c.component,
            "role": c.role,
            "party_id": c.party_id,
            "stage": c.stage,
            "parameters": c.parameters,
            "input_artifacts": resolved.artifacts,
            "output_artifacts": output_artifacts,
            "conf": self.algorithm_conf(),
        });
        mkdir(&self.dirs.input)?;
        let params_file = self.dirs.input.join("task_parameters.yaml");
        let yaml = serde_yaml::to_string(&params).map_err(|e| Error::Io {
            action: "write",
            path: params_file.clone(),
            source: std::io::Error::other(e),
        })?;
        write(&params_file, yaml.as_bytes())?;
        let result_file = self.dirs.output.join("task_result.yaml");
        let _ = std::fs::remove_file(&result_file);
        let args = vec![
            "-m".into(),
            "fate.components".into(),
            "component".into(),
            "execute".into(),
            "--config".into(),
            params_file.display().to_string(),
            "--execution-final-meta-path".into(),
            result_file.display().to_string(),
        ];
        let app_file = self.dirs.output.join("spark_application.json");
        let run = match &submit {
            None => self.python_run("task execute", "task_execute", args),
            Some(s) => {
                let _ = std::fs::remove_file(&app_file);
                let driver = self.dirs.input.join("spark_driver.py");
                write(&driver, spark::DRIVER.as_bytes())?;
                let mut run = self.python_run("task execute", "task_execute", Vec::new());
                run.python = &s.spark_submit;
                run.args = s.args.clone();
                run.args.push(driver.display().to_string());
                // The driver script takes pyfate's `component` arguments.
                run.args.extend(args.into_iter().skip(2));
                run.set_env.extend(s.env.iter().cloned());
                run.set_env
                    .push((spark::APP_FILE_ENV.into(), app_file.display().to_string()));
                run
            }
        };
        let status = if submit.is_some() {
            spark::watch_application(run.status(), &app_file, self.client, &c.party_task_id).await
        } else {
            run.status().await
        };
        // Whatever the algorithm's end, what it posted goes to the site first.
        let relayed = relay.finish().await;
        let status = status?;
        tracing::info!(status = %python::describe(&status), "algorithm ended");
        match &relayed {
            Ok(n) => tracing::info!(metrics = n, "metrics passed on"),
            Err(e) => tracing::error!(error = %error_chain(e), "metrics lost"),
        }
        let ended = match std::fs::read_to_string(&result_file) {
            Err(_) => {
                return Ok(Ended {
                    code: NO_FOUND_RUN_RESULT,
                    error: format!(
                        "No found task output: the algorithm process ended ({}) without writing {}; last output:\n{}",
                        python::describe(&status),
                        result_file.display(),
                        python::tail(&run.log, 20)
                    ),
                });
            }
            Ok(text) => serde_json::from_str::<FinalMeta>(&text)
                .or_else(|_| serde_yaml::from_str::<FinalMeta>(&text))
                .map_err(|e| Error::Io {
                    action: "read the final meta in",
                    path: result_file.clone(),
                    source: std::io::Error::other(e),
                })?,
        };
        if ended.status.code != 0 || !status.success() {
            let mut error = ended.status.exceptions.clone().unwrap_or_default();
            if error.is_empty() {
                error = format!(
                    "the algorithm failed ({}, status code {}); last output:\n{}",
                    python::describe(&status),
                    ended.status.code,
                    python::tail(&run.log, 20)
                );
            }
            return Ok(Ended {
                code: COMPONENT_RUN_FAILED,
                error,
            });
        }
        relayed.map_err(Error::Metrics)?;
        if let Some(io) = &ended.io_meta {
            outputs::push(c, self.client, io).await?;
        } else {
            tracing::info!("no io meta, nothing to push");
        }
        self.destroy_tables(&resolved.temporary_tables).await;
        Ok(Ended {
            code: 0,
            error: String::new(),
        })
    }

    /// `conf` for pyfate: the CONFIG's, with eggroll's `engine_run` merged into the computing
    /// options (`task_cores_per_node` renamed), as FATE's eggroll backend does.
    fn algorithm_conf(&self) -> Value {
        let c = self.config;
        let mut conf = serde_json::to_value(&c.conf).unwrap_or_else(|_| json!({}));
        if c.conf.computing.kind == "eggroll"
            && let Some(options) = conf
                .pointer_mut("/computing/metadata/options")
                .and_then(Value::as_object_mut)
        {
            for (k, v) in &c.engine_run {
                let k = if k == "task_cores_per_node" {
                    "eggroll.session.processors.per.node"
                } else {
                    k.as_str()
                };
                options.insert(k.to_string(), v.clone());
            }
        }
        conf
    }

    /// Inputs of type `table` are temporary (an upload's); they go once the run succeeded.
    async fn destroy_tables(&self, tables: &[(String, String)]) {
        use ferroflow_server::fate_storage::Format;
        // A Spark site's tables are in its `file` storage.
        let (home, format) = if self.is_spark() {
            (self.localfs_dir(), Format::Localfs)
        } else {
            (self.data_dir(), Format::Standalone)
        };
        let Some(data_dir) = home else {
            return;
        };
        for (namespace, name) in tables {
            let at = ferroflow_server::fate_storage::Location {
                data_dir: data_dir.clone(),
                namespace: namespace.clone(),
                name: name.clone(),
                format,
            };
            match ferroflow_server::fate_storage::destroy(self.python, &at).await {
                Ok(_) => tracing::info!(%namespace, %name, "temporary table destroyed"),
                Err(e) => {
                    tracing::warn!(%namespace, %name, error = %error_chain(&e), "cannot destroy the temporary table")
                }
            }
        }
    }
}

fn mkdir(dir: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        action: "create",
        path: dir.to_path_buf(),
        source,
    })
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    std::fs::write(path, bytes).map_err(|source| Error::Io {
        action: "write",
        path: path.to_path_buf(),
        source,
    })
}

/// The CONFIG and the logging set up from it, or the reason there is none.
fn load(args: &Args) -> (Result<TaskConfig, String>, Option<String>) {
    let get = |k: &str| std::env::var(k).ok();
    let text = component::config_text(args.config.as_deref(), &args.env_name, &get);
    let config = match &text {
        Ok(t) => TaskConfig::parse(t).map_err(|e| format!("cannot read the CONFIG: {e}")),
        Err(e) => Err(error_chain(e)),
    };
    (config, text.ok())
}

fn runtime() -> Option<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| tracing::error!(error = %e, "cannot start the async runtime"))
        .ok()
}

fn entrypoint_process(args: &Args) -> ExitCode {
    let get = |k: &str| std::env::var(k).ok();
    let (options, warning) = Options::from_env(&get);
    let (config, text) = load(args);
    let files = config
        .as_ref()
        .map(|c| component::log::file_targets(&c.conf.logger.config))
        .unwrap_or_default();
    let subscriber =
        tracing_subscriber::registry().with(component::log::TaskLog::new(Some(Level::INFO), files));
    let _guard = tracing::subscriber::set_default(subscriber);
    if let Some(w) = warning {
        tracing::warn!("{w}");
    }
    let Some(rt) = runtime() else {
        return exit_code(TASK_RUN_FAILED);
    };
    let python = python::interpreter(args.python.as_deref(), &get);
    rt.block_on(async move {
        let config = match config {
            Ok(c) => c,
            Err(error) => {
                tracing::error!(%error, "task failed");
                if let Some(target) = text.as_deref().and_then(component::ReportTarget::parse)
                    && let Ok(client) =
                        WorkerClient::new(&target.mlmd.base_url(), options.client.clone())
                {
                    component::report(
                        &client,
                        &target.party_task_id,
                        Status::Failed,
                        &error,
                        &options.report,
                    )
                    .await;
                }
                return exit_code(TASK_RUN_FAILED);
            }
        };
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let ended = entrypoint(&config, &options, &python, &Dirs::new(&cwd, &config)).await;
        exit_code(ended.code)
    })
}

/// Runs one task and reports its end to the site; the returned code is what the process exits
/// with (modulo 256).
pub async fn entrypoint(
    config: &TaskConfig,
    options: &Options,
    python: &Path,
    dirs: &Dirs,
) -> Ended {
    tracing::info!(
        component = %config.component,
        execution_id = %config.party_task_id,
        task_version = %config.task_version,
        python = %python.display(),
        site = %config.mlmd.base_url(),
        "task start"
    );
    let client = match WorkerClient::new(&config.mlmd.base_url(), options.client.clone()) {
        Ok(c) => c,
        Err(e) => {
            let error = format!("cannot create the worker API client: {}", error_chain(&e));
            tracing::error!(%error, "task failed");
            return Ended {
                code: TASK_RUN_FAILED,
                error,
            };
        }
    };
    let wrapper = Wrapper {
        config,
        client: &client,
        python,
        dirs,
    };
    let mut ended = wrapper.run().await;
    let status = if ended.code == 0 {
        tracing::info!("task succeeded");
        Status::Success
    } else {
        tracing::error!(code = ended.code, error = %ended.error, "task failed");
        Status::Failed
    };
    let reported = component::report(
        &client,
        &config.party_task_id,
        status,
        &ended.error,
        &options.report,
    )
    .await;
    if !reported && ended.code == 0 {
        // A success the site never heard of must not look like one.
        ended.code = TASK_RUN_FAILED;
    }
    ended
}

fn exit_code(code: i32) -> ExitCode {
    ExitCode::from((code.rem_euclid(256)) as u8)
}

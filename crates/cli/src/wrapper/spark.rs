//! A task on Spark (`execution.md` §3.2 step 7): pyfate's component CLI runs as the driver
//! program of `spark-submit` in client deploy mode, against the master the site names
//! (`conf.computing.metadata.options.master`). What a submit needs is checked first, so a
//! missing piece fails the task at once with its name: Spark itself (`options.home`, else the
//! `pyspark` package of the task's Python), Java, a reachable standalone master.
//!
//! The driver program ([`DRIVER`]) starts the Spark context before pyfate does and writes its
//! application id and UI address to `<T_out>/spark_application.json`; the wrapper logs them in
//! the task's log as soon as they appear. It also keeps pyfate's Spark tables sorted by key
//! within their partitions, as the standalone engine's are: pyfate's hetero algorithms pair the
//! parties' rows by their place in a block, and blocks are filled in partition order.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ferroflow_wire::task_config::TaskConfig;
use ferroflow_wire::worker::EngineApplication;
use serde_json::{Map, Value};

use crate::component::error_chain;
use crate::component::worker_client::WorkerClient;

/// The driver program (`spark_driver.py`): the Spark context first (its identity written where
/// the wrapper looks), pyfate's Spark tables kept in key order, then pyfate's `component` commands.
pub const DRIVER: &str = include_str!("spark_driver.py");

/// The environment variable naming the application file.
pub const APP_FILE_ENV: &str = "FERROFLOW_SPARK_APP";

/// How long a standalone master may take to accept a connection before the task fails.
const MASTER_CONNECT: Duration = Duration::from_secs(5);

/// What a Spark submit lacks, named for the task's error report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "pyspark is not installed for {python} and computing.spark.home is not set: install \
         pyspark (3.5) into the provider's Python or name a Spark installation ({detail})"
    )]
    NoPyspark { python: PathBuf, detail: String },
    #[error("no spark-submit in the Spark installation {home} (computing.spark.home)")]
    NoSparkSubmit { home: PathBuf },
    #[error("no Java: Spark needs a JVM; set JAVA_HOME or put `java` on PATH ({0})")]
    NoJava(String),
    #[error("the Spark master {master} cannot be reached: {detail}")]
    Unreachable { master: String, detail: String },
    #[error("engine_run: {0}")]
    EngineRun(String),
    #[error(
        "input `{key}`: {uri} is on {scheme} storage, which the spark computing engine cannot \
         read (file, hdfs, hive)"
    )]
    Unreadable {
        key: String,
        uri: String,
        scheme: String,
    },
}

/// One submit: the program, its arguments before the driver script, its environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Submit {
    pub spark_submit: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub master: String,
}

fn options(config: &TaskConfig) -> Map<String, Value> {
    config
        .conf
        .computing
        .metadata
        .get("options")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

fn option_str(options: &Map<String, Value>, key: &str) -> Option<String> {
    options
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Checks what a submit needs and builds it.
pub async fn prepare(config: &TaskConfig, python: &Path) -> Result<Submit, Error> {
    let options = options(config);
    let home = match option_str(&options, "home") {
        Some(h) => PathBuf::from(h),
        None => pyspark_home(python).await?,
    };
    let spark_submit = home.join("bin").join("spark-submit");
    if !spark_submit.is_file() {
        return Err(Error::NoSparkSubmit { home });
    }
    java()?;
    let master = option_str(&options, "master").unwrap_or_else(|| "local[*]".into());
    reachable(&master).await?;
    let mut args = vec![
        format!("--name={}#{}", config.task_id, config.role),
        format!("--master={master}"),
    ];
    // The site's Spark settings, then the job's: the job's `conf` entries win.
    let mut run = config.engine_run.clone();
    let mut conf = match options.get("conf") {
        Some(Value::Object(site)) => site.clone(),
        _ => Map::new(),
    };
    if let Some(Value::Object(job)) = run.get("conf") {
        conf.extend(job.clone());
    }
    if let Some(cores) = standalone_cores_max(&master, &run, &conf) {
        conf.insert(CORES_MAX.into(), cores.into());
    }
    if !conf.is_empty() {
        run.insert("conf".into(), Value::Object(conf));
    }
    args.extend(engine_run_args(&run)?);
    let py = python.display().to_string();
    let env = vec![
        ("SPARK_HOME".to_string(), home.display().to_string()),
        ("PYSPARK_PYTHON".to_string(), py.clone()),
        ("PYSPARK_DRIVER_PYTHON".to_string(), py),
    ];
    Ok(Submit {
        spark_submit,
        args,
        env,
        master,
    })
}

/// Spark's cap on the cores one application takes from a standalone cluster.
const CORES_MAX: &str = "spark.cores.max";

/// On a standalone master an application takes every free core unless `spark.cores.max`
/// caps it (`num-executors` is YARN's), so the first party's driver of a task would starve
/// the others, which wait for it. When neither the site nor the job caps it, the task gets
/// what it was accounted for: `num-executors × executor-cores`.
fn standalone_cores_max(
    master: &str,
    run: &Map<String, Value>,
    conf: &Map<String, Value>,
) -> Option<i64> {
    if !master.starts_with("spark://") || conf.contains_key(CORES_MAX) {
        return None;
    }
    let positive = |key: &str| match run.get(key) {
        Some(Value::Number(n)) => n.as_i64().filter(|n| *n > 0),
        Some(Value::String(s)) => s.trim().parse().ok().filter(|n: &i64| *n > 0),
        _ => None,
    };
    let executors = positive("num-executors")?;
    let cores = positive("executor-cores")?;
    executors.checked_mul(cores)
}

/// The `pyspark` package's directory, which holds a whole Spark (`bin/`, `jars/`).
async fn pyspark_home(python: &Path) -> Result<PathBuf, Error> {
    let out = tokio::process::Command::new(python)
        .args([
            "-c",
            "import os, pyspark; print(os.path.dirname(pyspark.__file__))",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| Error::NoPyspark {
            python: python.to_path_buf(),
            detail: e.to_string(),
        })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(Error::NoPyspark {
            python: python.to_path_buf(),
            detail: err.lines().last().unwrap_or("").trim().to_string(),
        });
    }
    Ok(PathBuf::from(
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    ))
}

/// `$JAVA_HOME/bin/java`, else `java` on `PATH` (what Spark's launch scripts run).
fn java() -> Result<PathBuf, Error> {
    if let Some(home) = std::env::var_os("JAVA_HOME").filter(|h| !h.is_empty()) {
        let java = Path::new(&home).join("bin").join("java");
        return if java.is_file() {
            Ok(java)
        } else {
            Err(Error::NoJava(format!(
                "JAVA_HOME={} has no bin/java",
                Path::new(&home).display()
            )))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("java"))
        .find(|j| j.is_file())
        .ok_or_else(|| Error::NoJava("JAVA_HOME is not set and no java on PATH".into()))
}

/// A standalone master (`spark://host:port[,host:port…]`) accepts connections on one of its
/// addresses; other masters are left to spark-submit.
async fn reachable(master: &str) -> Result<(), Error> {
    let Some(list) = master.strip_prefix("spark://") else {
        return Ok(());
    };
    let mut last = String::new();
    for addr in list.split(',') {
        match tokio::time::timeout(MASTER_CONNECT, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) => last = format!("{addr}: {e}"),
            Err(_) => last = format!("{addr}: no answer within {MASTER_CONNECT:?}"),
        }
    }
    Err(Error::Unreachable {
        master: master.into(),
        detail: last,
    })
}

/// `engine_run` as spark-submit options, as FATE passes them: `--key=value` per entry,
/// `--conf k=v` per entry of `conf`. Only client deploy mode (the driver is the task).
pub fn engine_run_args(engine_run: &Map<String, Value>) -> Result<Vec<String>, Error> {
    let text = |k: &str, v: &Value| -> Result<String, Error> {
        let s = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => {
                return Err(Error::EngineRun(format!(
                    "`{k}` must be a string or a number, got {other}"
                )));
            }
        };
        if s.chars().any(char::is_control) {
            return Err(Error::EngineRun(format!("`{k}` has a control character")));
        }
        Ok(s)
    };
    let key_ok = |k: &str| {
        !k.is_empty()
            && !k.starts_with('-')
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    let mut args = Vec::new();
    for (k, v) in engine_run {
        if !key_ok(k) {
            return Err(Error::EngineRun(format!(
                "`{k}` is not a spark-submit option"
            )));
        }
        if k == "conf" {
            let Value::Object(conf) = v else {
                return Err(Error::EngineRun("`conf` must be a map".into()));
            };
            for (ck, cv) in conf {
                if !key_ok(ck) {
                    return Err(Error::EngineRun(format!(
                        "conf `{ck}` is not a Spark setting"
                    )));
                }
                args.push("--conf".into());
                args.push(format!("{ck}={}", text(ck, cv)?));
            }
            continue;
        }
        let value = text(k, v)?;
        match k.as_str() {
            "deploy-mode" if value != "client" => {
                return Err(Error::EngineRun(format!(
                    "deploy-mode {value:?}: only client deploy mode runs a task"
                )));
            }
            "master" | "name" => {
                return Err(Error::EngineRun(format!(
                    "`{k}` is the site's to set (computing.spark.master, the task's name)"
                )));
            }
            _ => args.push(format!("--{k}={value}")),
        }
    }
    Ok(args)
}

/// Every input the task reads must be on a storage Spark reads.
pub fn check_inputs(artifacts: &Map<String, Value>) -> Result<(), Error> {
    fn uris<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Array(a) => a.iter().for_each(|x| uris(x, out)),
            Value::Object(o) => {
                if let Some(u) = o.get("uri").and_then(Value::as_str) {
                    out.push(u);
                }
            }
            _ => {}
        }
    }
    for (key, v) in artifacts {
        let mut found = Vec::new();
        uris(v, &mut found);
        for uri in found {
            let scheme = uri.split("://").next().unwrap_or("");
            if matches!(scheme, "standalone" | "eggroll" | "lmdb") {
                return Err(Error::Unreadable {
                    key: key.clone(),
                    uri: uri.into(),
                    scheme: scheme.into(),
                });
            }
        }
    }
    Ok(())
}

/// The application the driver wrote to its file, once the whole file is there.
pub fn application(file: &Path) -> Option<EngineApplication> {
    let text = std::fs::read_to_string(file).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    let field = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    Some(EngineApplication {
        engine: "spark".into(),
        application_id: field("application_id"),
        ui: field("ui"),
        master: field("master"),
    })
    .filter(|a| !a.application_id.is_empty())
}

/// Waits for the Spark driver's run; once its application is known (`spark_application.json`),
/// logs it and reports it to the site (the task's `engine_conf`) while the run goes on.
pub(super) async fn watch_application(
    run: impl std::future::Future<Output = Result<std::process::ExitStatus, super::python::Error>>,
    app_file: &Path,
    client: &WorkerClient,
    execution_id: &str,
) -> Result<std::process::ExitStatus, super::python::Error> {
    tokio::pin!(run);
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(250));
    let application = loop {
        tokio::select! {
            status = &mut run => {
                // A driver that ended at once may still have written it; the task runs until
                // the wrapper reports its end, so the site still records it.
                if let Some(a) = application(app_file) {
                    announce(client, execution_id, &a).await;
                }
                return status;
            }
            _ = tick.tick() => {
                if let Some(a) = application(app_file) {
                    break a;
                }
            }
        }
    };
    let (status, ()) = tokio::join!(&mut run, announce(client, execution_id, &application));
    status
}

/// Logs the driver's application in the task's log and reports it to the site.
async fn announce(client: &WorkerClient, execution_id: &str, a: &EngineApplication) {
    tracing::info!(
        application_id = %a.application_id,
        ui = %a.ui,
        master = %a.master,
        "spark application"
    );
    if let Err(e) = client.report_engine_application(execution_id, a).await {
        tracing::warn!(error = %error_chain(&e), "the Spark application was not recorded by the site");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn engine_run_becomes_spark_submit_options_as_fate_passes_them() {
        let run = json!({"num-executors": 2, "executor-memory": "1g",
                         "conf": {"spark.ui.enabled": false}, "deploy-mode": "client"});
        let args = engine_run_args(run.as_object().unwrap()).unwrap();
        assert_eq!(
            args,
            [
                "--num-executors=2",
                "--executor-memory=1g",
                "--conf",
                "spark.ui.enabled=false",
                "--deploy-mode=client"
            ]
        );
    }

    #[test]
    fn a_standalone_application_takes_the_cores_it_was_accounted_for() {
        let run = json!({"num-executors": 2, "executor-cores": "2"});
        let run = run.as_object().unwrap();
        let none = Map::new();
        assert_eq!(standalone_cores_max("spark://h:7077", run, &none), Some(4));
        // The site's or the job's cap wins; other masters have their own rules.
        let capped = json!({"spark.cores.max": 1});
        assert_eq!(
            standalone_cores_max("spark://h:7077", run, capped.as_object().unwrap()),
            None
        );
        for master in ["local[2]", "yarn", "k8s://https://k:6443"] {
            assert_eq!(standalone_cores_max(master, run, &none), None, "{master}");
        }
        let odd = json!({"num-executors": 0, "executor-cores": 2});
        assert_eq!(
            standalone_cores_max("spark://h:7077", odd.as_object().unwrap(), &none),
            None
        );
    }

    #[test]
    fn engine_run_cannot_change_the_mode_or_smuggle_arguments() {
        for bad in [
            json!({"deploy-mode": "cluster"}),
            json!({"master": "local[1]"}),
            json!({"--class": "x"}),
            json!({"conf": {"a b": 1}}),
            json!({"conf": 1}),
            json!({"executor-memory": "1g\n--x"}),
            json!({"jars": ["a"]}),
        ] {
            assert!(
                engine_run_args(bad.as_object().unwrap()).is_err(),
                "{bad} was accepted"
            );
        }
    }

    #[test]
    fn standalone_tables_are_refused_naming_the_input() {
        let ok = json!({"input_data": {"uri": "file:///d/t", "type_name": "dataframe"},
                        "model": [{"uri": "file:///m"}]});
        check_inputs(ok.as_object().unwrap()).unwrap();
        let bad = json!({"input_data": {"uri": "standalone:///d/ns/n"}});
        let e = check_inputs(bad.as_object().unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("input_data") && e.contains("standalone"), "{e}");
    }

    #[tokio::test]
    async fn an_unreachable_master_is_named_at_once() {
        // A port nothing listens on: bound, then closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let master = format!("spark://127.0.0.1:{port}");
        let e = reachable(&master).await.unwrap_err().to_string();
        assert!(e.contains(&master), "{e}");
        reachable("local[2]").await.unwrap();
    }

    #[tokio::test]
    async fn a_python_without_pyspark_is_named() {
        let e = pyspark_home(Path::new("/nonexistent/python"))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("pyspark is not installed") && e.contains("/nonexistent/python"),
            "{e}"
        );
    }
}

//! `ferroflow task cleanup`: ends a finished task's computing and federation sessions once
//! every party is done.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ferroflow_wire::task_config::TaskConfig;
use serde_json::{Value, json};
use tracing::Level;
use tracing_subscriber::layer::SubscriberExt;

use super::{Args, Error, load, python, runtime};
use crate::component::{self, error_chain};

pub(super) fn process(args: &Args) -> ExitCode {
    let subscriber = tracing_subscriber::registry()
        .with(component::log::TaskLog::new(Some(Level::INFO), Vec::new()));
    let _guard = tracing::subscriber::set_default(subscriber);
    let (config, _) = load(args);
    let config = match config {
        Ok(c) => c,
        Err(error) => {
            tracing::error!(%error, "cleanup failed");
            return ExitCode::FAILURE;
        }
    };
    let Some(rt) = runtime() else {
        return ExitCode::FAILURE;
    };
    let get = |k: &str| std::env::var(k).ok();
    let python = python::interpreter(args.python.as_deref(), &get);
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    match rt.block_on(cleanup(&config, &python, &cwd)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %error_chain(&e), "cleanup failed");
            ExitCode::FAILURE
        }
    }
}

/// Ends the task's sessions: the standalone engines' namespaces (the computing id's and the
/// federation id's directories under the data home, which is all pyfate's standalone
/// `destroy` removes); pyfate's `component cleanup` for other engines.
pub async fn cleanup(config: &TaskConfig, python: &Path, cwd: &Path) -> Result<(), Error> {
    let c = &config.conf;
    let data_dir = c
        .computing
        .metadata
        .get("options")
        .and_then(|o| o.get("data_dir"))
        .and_then(Value::as_str)
        .map(|d| cwd.join(d));
    let mut others = false;
    for (engine, id_key) in [
        (&c.computing, "computing_id"),
        (&c.federation, "federation_id"),
    ] {
        let id = engine.metadata.get(id_key).and_then(Value::as_str);
        match (engine.kind.as_str(), &data_dir, id) {
            ("standalone", Some(home), Some(id))
                if !id.is_empty() && !id.contains(['/', '\\']) && id != ".." =>
            {
                let dir = home.join(id);
                match std::fs::remove_dir_all(&dir) {
                    Ok(()) => tracing::info!(dir = %dir.display(), "session removed"),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(source) => {
                        return Err(Error::Io {
                            action: "remove",
                            path: dir,
                            source,
                        });
                    }
                }
            }
            ("standalone", _, _) => {}
            // pyfate's Spark session holds nothing once its driver has ended.
            ("spark", _, _) if id_key == "computing_id" => {}
            _ => others = true,
        }
    }
    if others {
        let conf = json!({"computing": c.computing, "federation": c.federation});
        let log = cwd.join("execute_clean.log");
        python::Run {
            what: "cleanup",
            python,
            args: vec![
                "-m".into(),
                "fate.components".into(),
                "component".into(),
                "cleanup".into(),
                "--env-name".into(),
                "FATE_TASK_CONFIG".into(),
            ],
            cwd,
            log,
            set_env: vec![(
                "FATE_TASK_CONFIG".into(),
                serde_yaml::to_string(&conf).unwrap_or_default(),
            )],
            remove_env: vec!["CONFIG"],
        }
        .success()
        .await?;
    }
    Ok(())
}

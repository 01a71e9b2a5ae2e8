//! Once every party of a FATE task is done (its federated status ended), its computing and
//! federation sessions go: `ferroflow task cleanup` with the task's CONFIG, launched through
//! the site's launcher and not awaited (FATE Flow runs pyfate's cleanup when it stops a task).
//! Earlier would be wrong: a party that ends first would remove what the others still pull
//! from the standalone federation.

use ferroflow_core::provider::FATE;

use super::{provider_of, stdout_file, str_meta, task_dir};
use crate::app::App;
use crate::launcher::{Exit, Spec};
use crate::store::TaskRow;

/// The execution id a cleanup run is launched (and its exit reported) under: the task's,
/// with this suffix, so an exit is never taken for the task's own.
const SUFFIX: &str = ":cleanup";

/// Starts the cleanup of a task of the `fate` provider; other tasks have none.
pub async fn start(app: &App, task: &TaskRow) {
    let Some(name) = task.provider_name.split(':').next() else {
        return;
    };
    if name != FATE {
        return;
    }
    let dir = task_dir(app, task);
    let log = stdout_file(app, task).with_file_name("task_cleanup");
    let venv = match provider_of(app, task).await {
        Ok(Some(p)) => str_meta(&p, "venv").filter(|v| !v.is_empty()),
        _ => None,
    };
    let mut env = vec![("CONFIG".to_string(), task.component_parameters.to_string())];
    if let Some(v) = venv {
        env.push(("EXECUTOR_ENV".into(), v));
    }
    let spec = Spec {
        execution_id: format!("{}{SUFFIX}", task.execution_id).into(),
        argv: vec![
            app.config.component_exe.display().to_string(),
            "task".into(),
            "cleanup".into(),
        ],
        env,
        cwd: dir,
        log_file: log,
        container: None,
    };
    if let Err(e) = app.launcher.launch(spec).await {
        tracing::warn!(execution_id = %task.execution_id, error = %e, "cannot start the task cleanup")
    }
}

/// Whether an exit is a cleanup's (then it is only logged, when it failed).
pub fn exited(exit: &Exit) -> bool {
    let Some(execution_id) = exit.execution_id.as_str().strip_suffix(SUFFIX) else {
        return false;
    };
    if exit.code != Some(0) {
        tracing::warn!(%execution_id, status = %exit.describe(), "task cleanup failed");
    }
    true
}

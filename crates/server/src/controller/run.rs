//! How this site runs a task beyond the command line: the spec of a container task, what a
//! task row records of a run, and how a row is turned back into a launcher [`Handle`] (for
//! stops and after a restart). The local-process spec is `partner::launch_spec`.

use serde_json::{Value, json};

use super::partner::{stdout_file, task_dir};
use super::{Error, Result};
use crate::app::App;
use crate::launcher::docker::TaskIdentity;
use crate::launcher::{ContainerRef, ContainerSpec, Handle, Spec};
use crate::store::{ProviderRow, RunInfo, TaskRow};

/// What the task row records of a run. A container: no pid, its id as `worker_id`, and
/// `cmd` = `["docker", <daemon>, <container name>, <image>]` (what [`run_handle`] reads).
pub(crate) fn run_info(app: &App, spec: &Spec, handle: &Handle) -> RunInfo {
    let (pid, start_ticks, worker_id, cmd) = match (&handle.container, &spec.container) {
        (Some(c), cs) => (
            None,
            None,
            if c.id.is_empty() {
                c.name.clone()
            } else {
                c.id.clone()
            },
            vec![
                "docker".to_string(),
                c.daemon.clone(),
                c.name.clone(),
                cs.as_ref().map(|s| s.image.clone()).unwrap_or_default(),
            ],
        ),
        (None, _) => (
            Some(handle.pid),
            Some(handle.start_ticks),
            uuid::Uuid::new_v4().simple().to_string(),
            spec.argv.clone(),
        ),
    };
    RunInfo {
        pid,
        start_ticks,
        worker_id,
        cmd,
        run_ip: app.config.host.clone(),
        run_port: i64::from(app.site_env.mlmd_port),
    }
}

/// How to reach a task's recorded run: its container, or its process.
pub(crate) fn run_handle(task: &TaskRow) -> Option<Handle> {
    let cmd: Vec<&str> = task
        .cmd
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let ["docker", daemon, name, ..] = cmd.as_slice() {
        return Some(Handle {
            container: Some(ContainerRef {
                daemon: daemon.to_string(),
                name: name.to_string(),
                id: task.worker_id.clone().unwrap_or_default(),
            }),
            ..Handle::default()
        });
    }
    task.run_pid
        .map(|pid| Handle::process(pid, task.run_start.unwrap_or_default()))
}

/// The value of the `ferroflow.site` label of this site's containers: its data directory,
/// stable across restarts and unique on a machine.
pub fn container_site(config: &crate::config::Config) -> String {
    config.data_dir.to_string_lossy().into_owned()
}

fn identity<'a>(site: &'a str, t: &'a TaskRow) -> TaskIdentity<'a> {
    TaskIdentity {
        site,
        job_id: t.job_id.as_str(),
        task_id: t.task_id.as_str(),
        task_name: t.task_name.as_str(),
        task_version: t.task_version,
        role: t.role.as_str(),
        party_id: t.party_id.as_str(),
        execution_id: &t.execution_id,
    }
}

/// The container a task of a docker provider runs in, known from its provider even before
/// its run was recorded (a stop racing the launch, a crash in between).
pub(crate) async fn expected_container(app: &App, task: &TaskRow) -> Result<Option<Handle>> {
    let Some(provider) = provider_of(app, task).await? else {
        return Ok(None);
    };
    if provider.device != "docker" {
        return Ok(None);
    }
    let site = container_site(&app.config);
    Ok(Some(Handle {
        container: Some(ContainerRef {
            daemon: str_meta(&provider, "base_url").unwrap_or_default(),
            name: identity(&site, task).container_name(),
            id: String::new(),
        }),
        ..Handle::default()
    }))
}

pub(crate) fn str_meta(p: &ProviderRow, key: &str) -> Option<String> {
    p.metadata
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
}

pub(crate) async fn provider_of(app: &App, task: &TaskRow) -> Result<Option<ProviderRow>> {
    Ok(app
        .store
        .query_providers(&crate::store::ProviderFilter {
            provider_name: Some(task.provider_name.clone()),
            ..Default::default()
        })
        .await?
        .into_iter()
        .next())
}

/// The task's environment: CONFIG (JSON) as FATE passes it to containers, FATE's
/// `FATE_JOB_ID` and `PROCESS_ROLE`, and how long the task waits out this site's restarts
/// (`FERROFLOW_SITE_WAIT_SECS`) and where its file parameters may point
/// (`FERROFLOW_ALLOWED_DIRS`, a JSON list). Writes the CONFIG as
/// `<task dir>/input/preprocess_parameters.yaml`, as FATE does.
pub(crate) fn task_env(
    app: &App,
    task: &TaskRow,
    dir: &std::path::Path,
    config: &Value,
) -> Result<Vec<(String, String)>> {
    let json =
        serde_json::to_string(config).map_err(|e| Error::Internal(format!("task config: {e}")))?;
    let input = dir.join("input");
    std::fs::create_dir_all(&input)
        .map_err(|e| Error::Internal(format!("{}: {e}", input.display())))?;
    let yaml = serde_yaml::to_string(config).unwrap_or_default();
    let _ = std::fs::write(input.join("preprocess_parameters.yaml"), yaml);
    Ok(vec![
        ("CONFIG".to_string(), json),
        ("FATE_JOB_ID".to_string(), task.job_id.to_string()),
        (
            "FERROFLOW_EXECUTION_ID".to_string(),
            task.execution_id.clone(),
        ),
        ("PROCESS_ROLE".to_string(), "worker".to_string()),
        (
            "FERROFLOW_SITE_WAIT_SECS".to_string(),
            app.config
                .scheduler
                .task_site_wait
                .as_secs_f64()
                .to_string(),
        ),
        (
            "FERROFLOW_ALLOWED_DIRS".to_string(),
            json!(app.config.component_roots()).to_string(),
        ),
    ])
}

/// A task of a `docker` provider: the provider's image on its daemon (`metadata.image`,
/// `metadata.base_url`), run with the image's own entry point; named and labelled with the
/// task's identity; the task directory, the party's log directory, the standalone data
/// directory and `docker.mounts` mounted at the same paths (the CONFIG names them); the
/// task's cores and `docker.memory_mb` as limits. On a network other than `host`, the
/// CONFIG's `mlmd.metadata.host` becomes `docker.site_address`.
pub(crate) fn container_spec(app: &App, task: &TaskRow, provider: &ProviderRow) -> Result<Spec> {
    let image = str_meta(provider, "image")
        .filter(|i| !i.is_empty())
        .ok_or_else(|| {
            Error::Internal(format!(
                "provider {} has no metadata.image to run",
                provider.provider_name
            ))
        })?;
    let dc = &app.config.docker;
    let mut config = task.component_parameters.clone();
    if let Some(addr) = &dc.site_address
        && let Some(m) = config
            .pointer_mut("/mlmd/metadata")
            .and_then(Value::as_object_mut)
    {
        m.insert("host".into(), json!(addr));
    }
    let dir = task_dir(app, task);
    let env = task_env(app, task, &dir, &config)?;
    let party_logs = app
        .config
        .logs_dir()
        .join(task.job_id.as_str())
        .join(task.role.as_str())
        .join(task.party_id.as_str());
    let mut mounts = vec![dir.clone(), party_logs, app.config.standalone_data_dir()];
    mounts.extend(dc.mounts.iter().cloned());
    let site = container_site(&app.config);
    let id = identity(&site, task);
    let mut labels = id.labels();
    labels.insert("ferroflow.provider".into(), provider.provider_name.clone());
    Ok(Spec {
        execution_id: task.execution_id.clone(),
        argv: Vec::new(),
        env,
        cwd: dir,
        log_file: stdout_file(app, task),
        container: Some(ContainerSpec {
            daemon: str_meta(provider, "base_url").unwrap_or_default(),
            image,
            name: id.container_name(),
            labels,
            network: dc.network.clone(),
            mounts,
            cores: task.task_cores,
            memory_mb: dc.memory_mb,
            user: dc.user.clone(),
        }),
    })
}

//! How a task is launched: a local process (its provider's entry point, or ferroflow's task
//! wrapper for a local `fate` provider) or a container (a `docker` provider's image), with
//! CONFIG in the environment as FATE passes it to algorithm containers and FATE's directory
//! layout.

use serde_json::{Value, json};

use ferroflow_core::provider::{Device, FATE, FLOW_PROVIDER};
use ferroflow_wire::worker::EXECUTION_ID_ENV;

use super::{
    Error, FateRuntime, Result, fate_python, fate_runtime, provider_of, runner_of, stdout_file,
    str_meta, task_dir,
};
use crate::app::App;
use crate::launcher::docker::{self, TaskIdentity};
use crate::launcher::{ContainerRef, ContainerSpec, Handle, Spec};
use crate::store::{ProviderRow, TaskRow};

/// How to run a task: its provider's entry point (or image), CONFIG in the environment as
/// FATE passes it to algorithm containers, FATE's directory layout.
pub async fn launch_spec(app: &App, task: &TaskRow) -> Result<Spec> {
    let provider = provider_of(app, task)
        .await?
        .ok_or_else(|| Error::NoProvider(task.provider_name.clone()))?;
    let provider = &provider;
    if provider.name == FLOW_PROVIDER
        && writes_fate_storage(task)
        && let Some(FateRuntime::Docker(image)) = fate_runtime(app).await?
    {
        return flow_in_container(app, task, &image).await;
    }
    match provider.device {
        Device::Docker => return container_spec(app, task, provider).await,
        Device::Local => {}
        device => {
            return Err(Error::Device {
                provider: provider.provider_name.clone(),
                device,
            });
        }
    }
    let argv: Vec<String> = provider
        .metadata
        .get("entrypoint")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .filter(|a: &Vec<String>| !a.is_empty())
        .or_else(|| (provider.name == FATE).then(|| wrapper_argv(app)))
        .ok_or_else(|| Error::NoEntrypoint(provider.provider_name.clone()))?;
    let dir = task_dir(app, task);
    let mut env = task_env(app, task, &dir, &task.component_parameters).await?;
    // The Python of FATE's algorithms, as FATE passes it to its wrapper (`EXECUTOR_ENV`): the
    // provider's own `metadata.venv`, or for the built-in `fate_flow` components (uploads into
    // FATE's storage) the local `fate` provider's.
    let venv = match provider.metadata.get("venv").and_then(Value::as_str) {
        Some(v) if !v.is_empty() => Some(v.to_string()),
        _ if provider.name == FLOW_PROVIDER => fate_python(app).await?.map(|(_, v)| v),
        _ => None,
    };
    if let Some(v) = venv {
        env.push(("EXECUTOR_ENV".into(), v));
    }
    if let Some(path) = provider
        .metadata
        .get("path")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
    {
        let py = std::env::var("PYTHONPATH").unwrap_or_default();
        env.push((
            "PYTHONPATH".into(),
            if py.is_empty() {
                path.into()
            } else {
                format!("{path}:{py}")
            },
        ));
    }
    Ok(Spec {
        execution_id: task.execution_id.clone(),
        argv,
        env,
        cwd: dir,
        log_file: stdout_file(app, task),
        container: None,
    })
}

/// How a local `fate` provider's components run: ferroflow's task wrapper.
pub(crate) fn wrapper_argv(app: &App) -> Vec<String> {
    vec![
        app.config.component_exe.display().to_string(),
        "task".into(),
        "entrypoint".into(),
    ]
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
        execution_id: t.execution_id.as_str(),
    }
}

/// The container a task of a docker provider runs in, known from its provider even before
/// its run was recorded (a stop racing the launch, a crash in between).
pub async fn expected_container(app: &App, task: &TaskRow) -> Result<Option<Handle>> {
    let Some(provider) = runner_of(app, task).await? else {
        return Ok(None);
    };
    if provider.device != Device::Docker {
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

/// The task's environment: CONFIG (JSON) as FATE passes it to containers, FATE's
/// `FATE_JOB_ID` and `PROCESS_ROLE`, and how long the task waits out this site's restarts
/// (`FERROFLOW_SITE_WAIT_SECS`) and where its file parameters may point
/// (`FERROFLOW_ALLOWED_DIRS`, a JSON list). Writes the CONFIG as
/// `<task dir>/input/preprocess_parameters.yaml`, as FATE does.
pub(crate) async fn task_env(
    app: &App,
    task: &TaskRow,
    dir: &std::path::Path,
    config: &Value,
) -> Result<Vec<(String, String)>> {
    let json = serde_json::to_string(config).map_err(Error::Config)?;
    let input = dir.join("input");
    let yaml = serde_yaml::to_string(config).unwrap_or_default();
    let at = input.clone();
    crate::blocking::io(move || {
        std::fs::create_dir_all(&at)?;
        // FATE's copy, for people reading the directory: best effort.
        let _ = std::fs::write(at.join("preprocess_parameters.yaml"), yaml);
        Ok(())
    })
    .await
    .map_err(|source| Error::Prepare {
        path: input.clone(),
        source,
    })?;
    Ok(vec![
        ("CONFIG".to_string(), json),
        ("FATE_JOB_ID".to_string(), task.job_id.to_string()),
        (EXECUTION_ID_ENV.to_string(), task.execution_id.to_string()),
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
/// task's identity; the task directory, the party's log directory and the standalone data
/// directory mounted read-write and `docker.mounts` read-only, at the same paths (the CONFIG
/// names them); the host's pid namespace (LMDB's readers are marked by pid); the task's
/// cores and memory, `docker.pids_limit` as limits; the registry credentials of
/// `docker.registries` for a pull. On a network other than `host`, the CONFIG's
/// `mlmd.metadata.host` becomes `docker.site_address`.
pub(crate) async fn container_spec(
    app: &App,
    task: &TaskRow,
    provider: &ProviderRow,
) -> Result<Spec> {
    container_spec_with(app, task, provider, task.component_parameters.clone(), None).await
}

/// [`container_spec`] with this CONFIG, and a file the task reads mounted (see
/// [`flow_in_container`]).
async fn container_spec_with(
    app: &App,
    task: &TaskRow,
    provider: &ProviderRow,
    mut config: Value,
    input: Option<&UploadInput>,
) -> Result<Spec> {
    let image = str_meta(provider, "image")
        .filter(|i| !i.is_empty())
        .ok_or_else(|| Error::NoImage(provider.provider_name.clone()))?;
    let dc = &app.config.docker;
    if let Some(addr) = &dc.site_address
        && let Some(m) = config
            .pointer_mut("/mlmd/metadata")
            .and_then(Value::as_object_mut)
    {
        m.insert("host".into(), json!(addr));
    }
    let dir = task_dir(app, task);
    let env = task_env(app, task, &dir, &config).await?;
    let party_logs = app
        .config
        .logs_dir()
        .join(task.job_id.as_str())
        .join(task.role.as_str())
        .join(task.party_id.as_str());
    // Read-write: what the task writes (its directory, its party's logs, pyfate's standalone
    // tables, where its outputs and the federation's messages go and its inputs are read:
    // one directory for all, so it cannot be narrowed). Read-only: `docker.mounts`.
    let mut mounts = vec![
        dir.clone(),
        party_logs.clone(),
        app.config.standalone_data_dir(),
    ];
    let mut read_only = dc.mounts.clone();
    let mut owned = vec![dir.clone(), party_logs];
    match input {
        Some(UploadInput::Staged(d)) => {
            mounts.push(d.clone());
            owned.push(d.clone());
        }
        Some(UploadInput::InPlace(f)) => read_only.push(f.clone()),
        None => {}
    }
    let site = container_site(&app.config);
    let id = identity(&site, task);
    let mut labels = id.labels();
    labels.insert("ferroflow.provider".into(), provider.provider_name.clone());
    Ok(Spec {
        execution_id: task.execution_id.clone(),
        argv: Vec::new(),
        env,
        cwd: dir.clone(),
        log_file: stdout_file(app, task),
        container: Some(ContainerSpec {
            daemon: str_meta(provider, "base_url").unwrap_or_default(),
            image: image.clone(),
            name: id.container_name(),
            labels,
            network: dc.network.clone(),
            mounts,
            read_only,
            owned,
            shared: vec![app.config.standalone_data_dir()],
            cores: task.task_cores,
            memory_mb: task_memory_mb(task).unwrap_or(dc.memory_mb),
            pids_limit: dc.pids_limit,
            host_pid: true,
            user: dc.user.clone(),
            // The provider's own credentials (`metadata.auth_config`, checked at
            // registration), else the site's for the image's registry.
            pull_auth: provider
                .metadata
                .as_object()
                .and_then(|m| docker::metadata_auth(m).ok().flatten())
                .or_else(|| {
                    docker::registry_of(&image)
                        .and_then(|r| dc.registries.get(r))
                        .cloned()
                }),
        }),
    })
}

/// Whether a task of the built-in `fate_flow` provider writes FATE's storage: an `upload`
/// into `standalone` tables (what a FATE image's container can write: it mounts them).
pub(crate) fn writes_fate_storage(task: &TaskRow) -> bool {
    // The component's name (`controller::data::UPLOAD`; `run` imports no controller).
    task.component == "upload"
        && task
            .component_parameters
            .pointer("/parameters/storage_engine")
            == Some(&json!("standalone"))
}

/// How an upload's file is seen inside the container.
enum UploadInput {
    /// The site's own temporary copy (`is_temp_file`), moved into this directory (one per
    /// task, kept across its versions; mounted read-write, the task deletes the file once
    /// imported, as a local upload does).
    Staged(std::path::PathBuf),
    /// An operator's file, mounted read-only at its own path (never moved nor re-owned).
    InPlace(std::path::PathBuf),
}

/// A `fate_flow` upload into FATE's tables on a site whose pyfate is only a FATE image
/// ([`super::fate_runtime`]): the same container as any task of that image (mounts, user,
/// limits, privileges), running `ferroflow component execute` — the image's `ferroflow`, on
/// its `PATH` — with the image's `FATE_PYTHON`, and the uploaded file made readable inside.
async fn flow_in_container(app: &App, task: &TaskRow, image: &ProviderRow) -> Result<Spec> {
    let mut config = task.component_parameters.clone();
    let file = config
        .pointer("/parameters/file")
        .and_then(Value::as_str)
        .map(std::path::PathBuf::from);
    // Only the site's own copy is moved: `is_temp_file` is a parameter anyone may set in a
    // DAG, and any other file (confined, but an operator's) is never taken from its place.
    let site_copy = |f: &std::path::Path| {
        f.parent() == Some(app.config.incoming_dir().as_path())
            && f.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    let temp = matches!(
        config.pointer("/parameters/is_temp_file"),
        Some(Value::Bool(true))
    );
    let input = match file {
        Some(file) if temp && site_copy(&file) => {
            let dir = task_dir(app, task).with_file_name("upload_file");
            let staged = dir.join(file.file_name().unwrap_or_default());
            let (d, f, to) = (dir.clone(), file.clone(), staged.clone());
            crate::blocking::io(move || {
                std::fs::create_dir_all(&d)?;
                // An earlier version of the task may have moved it already.
                if f.exists() {
                    std::fs::rename(&f, &to).or_else(|_| {
                        std::fs::copy(&f, &to)?;
                        std::fs::remove_file(&f)
                    })?;
                }
                Ok(())
            })
            .await
            .map_err(|source| Error::Prepare {
                path: staged.clone(),
                source,
            })?;
            config["parameters"]["file"] = json!(staged.display().to_string());
            Some(UploadInput::Staged(dir))
        }
        Some(file) => Some(UploadInput::InPlace(file)),
        None => None,
    };
    let mut spec = container_spec_with(app, task, image, config, input.as_ref()).await?;
    spec.argv = ["ferroflow", "component", "execute"]
        .map(str::to_string)
        .to_vec();
    Ok(spec)
}

/// The task's own memory in MiB: `engine_run`'s `task_memory` or `memory`, else the task's
/// memory resource; `None` when neither is set (then `docker.memory_mb`).
fn task_memory_mb(task: &TaskRow) -> Option<i64> {
    ["task_memory", "memory"]
        .iter()
        .find_map(|k| {
            let v = task.task_run.get(*k)?;
            v.as_i64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        })
        .or(Some(task.memory))
        .filter(|m| *m > 0)
}

//! `/v2/data/*`: uploads and downloads as FATE does them, through a **local job** (role
//! `local`, party `0`, scheduler party `0`) running the built-in `fate_flow` provider's
//! components (`api.md` §10.2, `dag.md` §9). The answer is the submission's, its `data`
//! replaced by the table's name; clients then poll the job with role `local`, party `0`.
//!
//! Differences from FATE (docs/compat.md): an upload is one task (`upload_0`) writing the
//! native table straight under the requested namespace/name, where FATE writes a temporary
//! table and converts it with pyfate's `dataframe_transformer`; the transformer route runs
//! ferroflow's native `dataframe_transformer`. Files are checked before the job is submitted
//! (location, existence, their first lines), so a bad request creates no job.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use ferroflow_core::dag::DagSchema;
use ferroflow_core::upload;
use ferroflow_wire::Envelope;
use ferroflow_wire::client::data::{ComponentDownload, DataDownload, Transformer, Upload};

use super::table::{check_name, confine, no_file, no_table};
use super::{Clash, Error, Input, Missing, Result};
use crate::app::App;

pub use ferroflow_core::provider::FLOW_PROVIDER;
pub const UPLOAD: &str = "upload";
pub const DOWNLOAD: &str = "download";
pub const TRANSFORMER: &str = "dataframe_transformer";

/// `fate_flow:<ferroflow version>@local`.
pub fn flow_provider() -> String {
    format!("{FLOW_PROVIDER}:{}@local", env!("CARGO_PKG_VERSION"))
}

/// One task of a local job.
struct LocalTask<'a> {
    name: &'a str,
    component: &'a str,
    /// `None`: the built-in `fate_flow` provider.
    provider: Option<&'a str>,
    parameters: Value,
    inputs: Option<Value>,
}

/// A one-task local job of the `fate_flow` provider, as `dag.md` §9 shows them.
fn local_job(task: &str, component: &str, parameters: Value, inputs: Option<Value>) -> Value {
    local_dag(&[LocalTask {
        name: task,
        component,
        provider: None,
        parameters,
        inputs,
    }])
}

/// A local job (role `local`, party `0`, scheduler party `0`) of these tasks.
fn local_dag(tasks: &[LocalTask<'_>]) -> Value {
    let flow = flow_provider();
    let local = json!([{"role": "local", "party_id": ["0"]}]);
    let mut dag_tasks = Map::new();
    let mut params = Map::new();
    for t in tasks {
        let provider = t
            .provider
            .map(str::to_string)
            .unwrap_or_else(|| flow.clone());
        let mut spec = json!({
            "component_ref": t.component,
            "parties": local,
            "conf": {"provider": provider},
        });
        if let Some(i) = &t.inputs {
            spec["inputs"] = i.clone();
        }
        dag_tasks.insert(t.name.to_string(), spec);
        params.insert(t.name.to_string(), json!({"parameters": t.parameters}));
    }
    json!({
        "schema_version": env!("CARGO_PKG_VERSION"),
        "kind": "fate",
        "dag": {
            "parties": local,
            "stage": "default",
            "conf": {"scheduler_party_id": "0", "task": {"provider": flow}},
            "tasks": dag_tasks,
            "party_tasks": {"local_0": {"parties": local, "tasks": params}},
        }
    })
}

/// The `fate` provider FATE's way of uploading uses (`run::fate_runtime`, the rule of
/// docs/containers.md): a local one with a Python, else a FATE image registered as a docker
/// provider — the upload's `fate_flow` task then runs in that image's container too. Then
/// uploads write FATE's standalone tables and convert them with pyfate's
/// `dataframe_transformer`, as FATE Flow does; with none, they write native tables
/// (docs/compat.md).
async fn fate_provider(app: &App) -> Result<Option<String>> {
    Ok(crate::run::fate_runtime(app)
        .await?
        .map(|r| r.provider().provider_name.clone()))
}

/// Submits a local job; on success the answer's `data` becomes `data`.
async fn submit(app: &App, dag: Value, data: Value) -> Result<Envelope> {
    let schema = DagSchema::from_value(dag);
    let reply = super::job::submit(app, schema).await?;
    if reply.is_ok() {
        Ok(Envelope {
            data: Some(data),
            ..reply
        })
    } else {
        Ok(reply)
    }
}

fn invalid_file(file: &str, problem: impl std::fmt::Display) -> Error {
    Error::refuse_with(
        Input::Parameter,
        format!("Invalid parameter: file[{file}]: {problem}"),
    )
}

fn meta_str<'a>(meta: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    meta.get(key).and_then(Value::as_str)
}

/// Checks the first lines of a file as the upload component will read it.
fn check_file_start(
    file: &str,
    path: &Path,
    head: bool,
    meta: &Map<String, Value>,
    extend_sid: bool,
) -> Result<()> {
    let delimiter = meta_str(meta, "delimiter").unwrap_or(",");
    if delimiter.is_empty() {
        return Err(invalid_file(file, "meta.delimiter is empty"));
    }
    let mut buf = Vec::with_capacity(64 << 10);
    std::fs::File::open(path)
        .and_then(|f| f.take(64 << 10).read_to_end(&mut buf))
        .map_err(|e| invalid_file(file, e))?;
    // A prefix may end inside a character: judge only what decodes.
    let text = match std::str::from_utf8(&buf) {
        Ok(t) => t,
        Err(e) if e.error_len().is_none() => {
            std::str::from_utf8(&buf[..e.valid_up_to()]).unwrap_or("")
        }
        Err(_) => return Err(invalid_file(file, "the file is not UTF-8 text")),
    };
    upload::check_start(
        text,
        head,
        delimiter,
        extend_sid,
        meta_str(meta, "sample_id_name"),
        meta_str(meta, "match_id_name"),
    )
    .map_err(|p| invalid_file(file, p))?;
    Ok(())
}

/// The table an upload writes: the requested one, or `upload/<uuid>` (FATE's default).
fn target(namespace: &Option<String>, name: &Option<String>) -> Result<(String, String)> {
    let (ns, n) = match (namespace, name) {
        (Some(ns), Some(n)) => (ns.clone(), n.clone()),
        _ => (
            "upload".to_string(),
            uuid::Uuid::new_v4().hyphenated().to_string(),
        ),
    };
    check_name("namespace", &ns)?;
    check_name("name", &n)?;
    Ok((ns, n))
}

struct UploadJob<'a> {
    file: &'a Path,
    head: bool,
    partitions: i64,
    meta: &'a Map<String, Value>,
    extend_sid: bool,
    is_temp_file: bool,
    namespace: String,
    name: String,
    /// Convert the table into a dataframe at namespace/name (FATE storage only).
    transform: bool,
}

async fn submit_upload(app: &App, u: UploadJob<'_>) -> Result<Envelope> {
    let data = json!({"name": u.name, "namespace": u.namespace});
    let Some(fate) = fate_provider(app).await? else {
        let params = json!({
            "file": u.file.display().to_string(), "head": u.head, "partitions": u.partitions,
            "meta": u.meta, "extend_sid": u.extend_sid, "is_temp_file": u.is_temp_file,
            "storage_engine": "file", "namespace": u.namespace, "name": u.name,
        });
        return submit(app, local_job("upload_0", UPLOAD, params, None), data).await;
    };
    // FATE's way: `upload_0` writes a standalone `table`; with a target, under a temporary
    // `upload/<uuid>` converted by pyfate's `dataframe_transformer` (`transformer_0`) into a
    // dataframe at namespace/name.
    // A site whose storage is FATE's `file` (a Spark site) writes its tables there, where
    // Spark's executors read them: FATE's name of that engine for `upload` is `localfs`.
    let storage = if app.config.engines.storage == "file" {
        "localfs"
    } else {
        "standalone"
    };
    let mut upload = json!({
        "file": u.file.display().to_string(), "head": u.head, "partitions": u.partitions,
        "meta": u.meta, "extend_sid": u.extend_sid, "is_temp_file": u.is_temp_file,
        "storage_engine": storage,
    });
    if !u.transform {
        upload["namespace"] = json!(u.namespace);
        upload["name"] = json!(u.name);
        return submit(app, local_job("upload_0", UPLOAD, upload, None), data).await;
    }
    let dag = local_dag(&[
        LocalTask {
            name: "upload_0",
            component: UPLOAD,
            provider: None,
            parameters: upload,
            inputs: None,
        },
        LocalTask {
            name: "transformer_0",
            component: TRANSFORMER,
            provider: Some(&fate),
            parameters: json!({"namespace": u.namespace, "name": u.name}),
            inputs: Some(json!({"data": {"table": {"task_output_artifact": {
                "producer_task": "upload_0", "output_artifact_key": "table",
                "parties": [{"role": "local", "party_id": ["0"]}]}}}})),
        },
    ]);
    submit(app, dag, data).await
}

/// `/v2/data/component/upload`: a file on this site (relative: in `upload_dir`).
pub async fn upload(app: &App, r: &Upload) -> Result<Envelope> {
    let path = confine(app, "file", &r.file, &app.config.upload_dir)?;
    if !path.is_file() {
        return Err(no_file(&path));
    }
    check_file_start(&r.file, &path, r.head, &r.meta, r.extend_sid)?;
    let (namespace, name) = target(&r.namespace, &r.name)?;
    submit_upload(
        app,
        UploadJob {
            file: &path,
            head: r.head,
            partitions: r.partitions,
            meta: &r.meta,
            extend_sid: r.extend_sid,
            is_temp_file: false,
            namespace,
            name,
            transform: r.namespace.is_some() && r.name.is_some(),
        },
    )
    .await
}

/// Where a multipart upload is kept until its job has imported it.
pub fn incoming_path(app: &App) -> PathBuf {
    app.config
        .incoming_dir()
        .join(uuid::Uuid::new_v4().simple().to_string())
}

/// What `/v2/data/component/upload/file` received, besides the saved file.
#[derive(Debug, Clone)]
pub struct UploadedFile {
    pub head: bool,
    pub partitions: i64,
    pub meta: Map<String, Value>,
    pub extend_sid: bool,
    pub namespace: Option<String>,
    pub name: Option<String>,
    /// The original file name, for messages.
    pub filename: String,
}

/// `/v2/data/component/upload/file`: the part was saved to `saved`; the job deletes it when it
/// has imported it, and it is deleted here when no job is submitted.
pub async fn upload_file(app: &App, r: &UploadedFile, saved: &Path) -> Result<Envelope> {
    let result = async {
        check_file_start(&r.filename, saved, r.head, &r.meta, r.extend_sid)?;
        let (namespace, name) = target(&r.namespace, &r.name)?;
        submit_upload(
            app,
            UploadJob {
                file: saved,
                head: r.head,
                partitions: r.partitions,
                meta: &r.meta,
                extend_sid: r.extend_sid,
                is_temp_file: true,
                namespace,
                name,
                transform: true,
            },
        )
        .await
    }
    .await;
    if !matches!(&result, Ok(e) if e.is_ok()) {
        let _ = std::fs::remove_file(saved);
    }
    result
}

/// `/v2/data/component/download`: writes `<path>/data/0.csv` and `<path>/data/0.meta`.
pub async fn component_download(app: &App, r: &ComponentDownload) -> Result<Envelope> {
    let Some(path) = &r.path else {
        return Err(ferroflow_wire::Invalid::new(
            ferroflow_wire::params::Location::Json,
            "path",
            ferroflow_wire::params::MISSING,
        )
        .into());
    };
    app.store
        .table_meta(&r.namespace, &r.name)
        .await?
        .ok_or_else(|| no_table(&r.namespace, &r.name))?;
    let dir = confine(app, "path", path, &app.config.upload_dir)?;
    let params =
        json!({"namespace": r.namespace, "name": r.name, "path": dir.display().to_string()});
    let data = json!({"name": r.name, "namespace": r.namespace, "path": dir.display().to_string()});
    submit(app, local_job("download_0", DOWNLOAD, params, None), data).await
}

/// `/v2/data/component/dataframe/transformer`: copies a table to namespace/name.
pub async fn transformer(app: &App, r: &Transformer) -> Result<Envelope> {
    check_name("namespace", &r.namespace)?;
    check_name("name", &r.name)?;
    let src_ns = r.data_warehouse.get("namespace").and_then(Value::as_str);
    let src_name = r.data_warehouse.get("name").and_then(Value::as_str);
    if let (Some(ns), Some(n)) = (src_ns, src_name) {
        app.store
            .table_meta(ns, n)
            .await?
            .ok_or_else(|| no_table(ns, n))?;
    }
    if app.store.table_meta(&r.namespace, &r.name).await?.is_some() {
        if !r.drop {
            return Err(Error::refuse(
                Clash::TableExists,
                &[("namespace", &r.namespace), ("name", &r.name)],
            ));
        }
        app.store.delete_table_meta(&r.namespace, &r.name).await?;
    }
    let params = json!({"namespace": r.namespace, "name": r.name, "site_name": r.site_name});
    let inputs = json!({"data": {"table": {"data_warehouse": r.data_warehouse}}});
    let data = json!({"name": r.name, "namespace": r.namespace});
    let fate = fate_provider(app).await?;
    let dag = local_dag(&[LocalTask {
        name: "transformer_0",
        component: TRANSFORMER,
        provider: fate.as_deref(),
        parameters: params,
        inputs: Some(inputs),
    }]);
    submit(app, dag, data).await
}

/// `GET /v2/data/download`: `download_data_<ns>_<name>.tar.gz` with `data/0.csv` and
/// `data/0.meta`.
pub async fn download(app: &App, q: &DataDownload) -> Result<(String, Vec<u8>)> {
    let t = app
        .store
        .table_meta(&q.namespace, &q.name)
        .await?
        .ok_or_else(|| no_table(&q.namespace, &q.name))?;
    let uri = t
        .address
        .get("path")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let (bytes, header) = super::output::table_text(app, &uri, &t)
        .await?
        .ok_or_else(|| no_table(&q.namespace, &q.name))?;
    let members = vec![
        ("data/0.csv".to_string(), bytes),
        (
            "data/0.meta".to_string(),
            serde_json::to_vec(&json!({ "header": header })).unwrap_or_default(),
        ),
    ];
    let archive = crate::archive::targz(&members).map_err(|source| Error::Archive {
        kind: "archive",
        source,
    })?;
    Ok((
        format!("download_data_{}_{}.tar.gz", q.namespace, q.name),
        archive,
    ))
}

/// `/v2/job/data/view`: the tables read by the `reader` tasks (FATE's `reader`, the demo's
/// `demo_reader`) of every party, from the job's DAG. As upstream, the answer's `party_id` is
/// the last party id looked at.
pub async fn data_view(app: &App, q: &ferroflow_wire::client::JobPartyQuery) -> Result<Value> {
    let role = super::keys::role(&q.role)?;
    let key = ferroflow_core::id::JobKey {
        job_id: ferroflow_core::id::JobId::new(&q.job_id),
        role,
        party_id: ferroflow_core::id::PartyId::new(&q.party_id),
    };
    let job = app.store.job(&key).await?.ok_or_else(|| {
        Error::refuse(
            Missing::Job,
            &[
                ("job_id", &q.job_id),
                ("role", &q.role),
                ("party_id", &q.party_id),
            ],
        )
    })?;
    let dag = &job.dag["dag"];
    let mut view = Map::new();
    let mut last_party = q.party_id.clone();
    let parties = dag["parties"].as_array().cloned().unwrap_or_default();
    let tasks = dag["tasks"].as_object().cloned().unwrap_or_default();
    for p in &parties {
        let Some(role) = p["role"].as_str() else {
            continue;
        };
        for pid in p["party_id"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            last_party = pid.to_string();
            let mut datasets = Vec::new();
            for (name, t) in &tasks {
                let comp = t["component_ref"].as_str().unwrap_or_default();
                if comp != "reader" && comp != "demo_reader" {
                    continue;
                }
                if !runs_on(&t["parties"], role, pid) && t["parties"].is_array() {
                    continue;
                }
                let mut params = t["parameters"].as_object().cloned().unwrap_or_default();
                for pt in dag["party_tasks"]
                    .as_object()
                    .into_iter()
                    .flat_map(|m| m.values())
                {
                    if runs_on(&pt["parties"], role, pid)
                        && let Some(extra) = pt["tasks"][name]["parameters"].as_object()
                    {
                        params.extend(extra.clone());
                    }
                }
                if let (Some(ns), Some(n)) = (params.get("namespace"), params.get("name")) {
                    datasets.push(json!({"namespace": ns, "name": n}));
                }
            }
            let by_role = view.entry(role.to_string()).or_insert_with(|| json!({}));
            by_role[pid] = Value::Array(datasets);
        }
    }
    Ok(json!({"role": q.role, "party_id": last_party, "data_view": view}))
}

fn runs_on(parties: &Value, role: &str, pid: &str) -> bool {
    parties.as_array().into_iter().flatten().any(|p| {
        p["role"] == role
            && p["party_id"]
                .as_array()
                .is_some_and(|ids| ids.iter().any(|i| i == pid))
    })
}

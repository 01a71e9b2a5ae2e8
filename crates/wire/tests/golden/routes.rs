//! The route table: which wire type reads the requests of each route.

use serde::Serialize;
use serde_json::{Value, json};

use ferroflow_wire::client::admin::{
    AppIdBody, AppIdQuery, ClientCreate, ClientQuery, PartnerCreate, PartyIdBody, PartyIdQuery,
    ResourceGrant, ResourceQuery, RoleGrant, ServerName, ServerRegistry, ServiceName,
    ServiceRegistry,
};
use ferroflow_wire::client::data::{
    ComponentDownload, DataDownload, TableBindPath, TableDelete, TableQuery, Transformer, Upload,
    UploadFile,
};
use ferroflow_wire::client::model::{LogCount, LogQuery, ModelDelete, ModelExport, ModelImport};
use ferroflow_wire::client::{
    JobIdBody, JobListQuery, JobPartyQuery, JobQuery, JobSubmit, NotesAdd, OutputDataDownload,
    OutputTask, ProviderFilter, ProviderRegister, TaskListQuery, TaskQuery,
};
use ferroflow_wire::partner::{self, JobTarget, StatusUpdate, TaskTarget};
use ferroflow_wire::worker::{
    DataTrackingQuery, DataTrackingSave, MetricSave, ModelDownload, ModelSave, TaskStatusReport,
};
use ferroflow_wire::{FromParams, Invalid, Params, scheduler};

/// Reads a request with the wire type of its route and returns what it read, by field name
/// (nested targets flattened), so that each value can be compared with the recorded request.
/// The second argument is the request path (for the path form of `metric/save`).
pub type Parser = fn(&Params, &str) -> Result<Value, String>;

pub struct Route {
    pub method: &'static str,
    /// The path after slash merging; a final `<execution_id>` matches one path segment.
    pub path: &'static str,
    pub parse: Parser,
    /// Fields the type fills with the handler's default when the request lacks them.
    pub defaults: &'static [&'static str],
}

pub const fn route(method: &'static str, path: &'static str, parse: Parser) -> Route {
    Route {
        method,
        path,
        parse,
        defaults: &[],
    }
}

/// Every route the wire crate has a request type for.
pub const ROUTES: &[Route] = &[
    // api-1 (client.rs)
    route("GET", "/v2/site/info/query", |_, _| Ok(json!({}))),
    route("POST", "/v2/job/submit", |p, _| {
        let r = JobSubmit::from_params(p).map_err(invalid)?;
        Ok(json!({"dag_schema": r.dag_schema, "user_name": r.user_name}))
    }),
    route("GET", "/v2/job/query", |p, _| {
        let r = JobQuery::from_params(p).map_err(invalid)?;
        Ok(
            json!({"job_id": r.job_id, "role": r.role, "party_id": r.party_id,
                  "status": r.status, "user_name": r.user_name}),
        )
    }),
    route("POST", "/v2/job/stop", job_id_body),
    route("POST", "/v2/job/rerun", job_id_body),
    route("POST", "/v2/job/clean", job_id_body),
    route("POST", "/v2/job/log/download", job_id_body),
    Route {
        method: "GET",
        path: "/v2/job/list/query",
        parse: |p, _| {
            let r = JobListQuery::from_params(p).map_err(invalid)?;
            Ok(json!({"limit": r.limit, "page": r.page, "job_id": r.job_id,
                      "description": r.description, "partner": r.partner,
                      "party_id": r.party_id, "role": r.role, "status": r.status,
                      "order_by": r.order_by, "order": r.order, "user_name": r.user_name}))
        },
        defaults: &["limit", "page"],
    },
    route("GET", "/v2/job/task/query", |p, _| {
        let r = TaskQuery::from_params(p).map_err(invalid)?;
        Ok(
            json!({"job_id": r.job_id, "role": r.role, "party_id": r.party_id,
                  "status": r.status, "task_name": r.task_name, "task_id": r.task_id,
                  "task_version": r.task_version}),
        )
    }),
    Route {
        method: "GET",
        path: "/v2/job/task/list/query",
        parse: |p, _| {
            let r = TaskListQuery::from_params(p).map_err(invalid)?;
            Ok(
                json!({"limit": r.limit, "page": r.page, "job_id": r.job_id, "role": r.role,
                      "party_id": r.party_id, "task_name": r.task_name,
                      "order_by": r.order_by, "order": r.order}),
            )
        },
        defaults: &["limit", "page"],
    },
    route("GET", "/v2/job/dag/dependency", job_party_query),
    route("GET", "/v2/job/data/view", job_party_query),
    route("POST", "/v2/job/notes/add", |p, _| {
        let r = NotesAdd::from_params(p).map_err(invalid)?;
        Ok(
            json!({"job_id": r.job_id, "role": r.role, "party_id": r.party_id,
                  "notes": r.notes}),
        )
    }),
    route("GET", "/v2/output/metric/key/query", output_query),
    route("GET", "/v2/output/metric/query", output_query),
    route("POST", "/v2/output/metric/delete", output_json),
    route("GET", "/v2/output/model/query", output_query),
    route("GET", "/v2/output/model/download", output_query),
    route("POST", "/v2/output/model/delete", output_json),
    route("GET", "/v2/output/data/download", |p, _| {
        let r = OutputDataDownload::from_params(p).map_err(invalid)?;
        let mut v = output_task(Ok(r.task))?;
        v["output_key"] = json!(r.output_key);
        Ok(v)
    }),
    route("GET", "/v2/output/data/table", output_query),
    route("GET", "/v2/output/data/display", output_query),
    route("POST", "/v2/provider/register", |p, _| {
        let r = ProviderRegister::from_params(p).map_err(invalid)?;
        Ok(
            json!({"name": r.name, "device": r.device, "version": r.version,
                  "metadata": r.metadata, "protocol": r.protocol,
                  "components_description": r.components_description}),
        )
    }),
    route("GET", "/v2/provider/query", |p, _| {
        provider_filter(ProviderFilter::from_query(p))
    }),
    route("POST", "/v2/provider/delete", |p, _| {
        provider_filter(ProviderFilter::from_json(p))
    }),
    // api-1 data and tables (client/data.rs)
    Route {
        method: "POST",
        path: "/v2/data/component/upload",
        parse: |p, _| {
            let r = Upload::from_params(p).map_err(invalid)?;
            Ok(
                json!({"file": r.file, "head": r.head, "partitions": r.partitions,
                      "meta": r.meta, "extend_sid": r.extend_sid,
                      "namespace": r.namespace, "name": r.name}),
            )
        },
        defaults: &["extend_sid"],
    },
    Route {
        method: "POST",
        path: "/v2/data/component/upload/file",
        parse: |p, _| {
            let r = UploadFile::from_params(p).map_err(invalid)?;
            r.meta_object().map_err(invalid)?;
            if !p.has_file("file") {
                return Err("no `file` part".into());
            }
            Ok(
                json!({"head": r.head, "partitions": r.partitions, "meta": r.meta,
                      "extend_sid": r.extend_sid, "namespace": r.namespace, "name": r.name}),
            )
        },
        defaults: &["extend_sid"],
    },
    route("POST", "/v2/data/component/download", |p, _| {
        let r = ComponentDownload::from_params(p).map_err(invalid)?;
        Ok(json!({"name": r.name, "namespace": r.namespace, "path": r.path}))
    }),
    Route {
        method: "POST",
        path: "/v2/data/component/dataframe/transformer",
        parse: |p, _| {
            let r = Transformer::from_params(p).map_err(invalid)?;
            Ok(
                json!({"data_warehouse": r.data_warehouse, "namespace": r.namespace,
                      "name": r.name, "site_name": r.site_name, "drop": r.drop}),
            )
        },
        defaults: &["drop"],
    },
    route("GET", "/v2/data/download", |p, _| {
        let r = DataDownload::from_params(p).map_err(invalid)?;
        Ok(json!({"name": r.name, "namespace": r.namespace, "header": r.header}))
    }),
    Route {
        method: "GET",
        path: "/v2/table/query",
        parse: |p, _| {
            let r = TableQuery::from_params(p).map_err(invalid)?;
            Ok(json!({"namespace": r.namespace, "name": r.name, "display": r.display}))
        },
        defaults: &["display"],
    },
    route("POST", "/v2/table/delete", |p, _| {
        let r = TableDelete::from_params(p).map_err(invalid)?;
        Ok(json!({"namespace": r.namespace, "name": r.name}))
    }),
    route("POST", "/v2/table/bind/path", |p, _| {
        let r = TableBindPath::from_params(p).map_err(invalid)?;
        Ok(json!({"namespace": r.namespace, "name": r.name, "path": r.path}))
    }),
    // api-1 models and logs (client/model.rs)
    route("POST", "/v2/model/export", |p, _| {
        let r = ModelExport::from_params(p).map_err(invalid)?;
        Ok(
            json!({"model_id": r.model_id, "model_version": r.model_version,
                  "party_id": r.party_id, "role": r.role, "path": r.path}),
        )
    }),
    route("POST", "/v2/model/import", |p, _| {
        let r = ModelImport::from_params(p).map_err(invalid)?;
        if !p.has_file("file") {
            return Err("no `file` part".into());
        }
        Ok(json!({"model_id": r.model_id, "model_version": r.model_version}))
    }),
    route("POST", "/v2/model/delete", |p, _| {
        let r = ModelDelete::from_params(p).map_err(invalid)?;
        Ok(
            json!({"model_id": r.model_id, "model_version": r.model_version, "role": r.role,
                  "party_id": r.party_id, "task_name": r.task_name, "output_key": r.output_key}),
        )
    }),
    route("POST", "/v2/model/load", |_, _| Ok(json!({}))),
    route("POST", "/v2/model/migrate", |_, _| Ok(json!({}))),
    route("POST", "/v2/model/store", |_, _| Ok(json!({}))),
    route("POST", "/v2/model/restore", |_, _| Ok(json!({}))),
    route("GET", "/v2/log/count", |p, _| {
        let r = LogCount::from_params(p).map_err(invalid)?;
        Ok(
            json!({"log_type": r.log_type, "job_id": r.job_id, "role": r.role,
                  "party_id": r.party_id, "task_name": r.task_name,
                  "instance_id": r.instance_id}),
        )
    }),
    route("GET", "/v2/log/query", |p, _| {
        let r = LogQuery::from_params(p).map_err(invalid)?;
        Ok(
            json!({"log_type": r.log_type, "job_id": r.job_id, "role": r.role,
                  "party_id": r.party_id, "task_name": r.task_name, "begin": r.begin,
                  "end": r.end, "instance_id": r.instance_id}),
        )
    }),
    // api-1 apps, permissions, servers (client/admin.rs)
    route("POST", "/v2/app/client/create", |p, _| {
        let r = ClientCreate::from_params(p).map_err(invalid)?;
        Ok(json!({"app_name": r.app_name}))
    }),
    route("POST", "/v2/app/client/delete", app_id_body),
    route("GET", "/v2/app/client/query", |p, _| {
        let r = ClientQuery::from_params(p).map_err(invalid)?;
        Ok(json!({"app_id": r.app_id, "app_name": r.app_name}))
    }),
    route("POST", "/v2/app/site/create", party_id_body),
    route("POST", "/v2/app/site/delete", party_id_body),
    route("GET", "/v2/app/site/query", |p, _| {
        let r = PartyIdQuery::required(p).map_err(invalid)?;
        Ok(json!({"party_id": r.party_id}))
    }),
    route("POST", "/v2/app/partner/create", |p, _| {
        let r = PartnerCreate::from_params(p).map_err(invalid)?;
        Ok(json!({"party_id": r.party_id, "app_id": r.app_id, "app_token": r.app_token}))
    }),
    route("POST", "/v2/app/partner/delete", party_id_body),
    route("GET", "/v2/app/partner/query", |p, _| {
        let r = PartyIdQuery::optional(p).map_err(invalid)?;
        Ok(json!({"party_id": r.party_id}))
    }),
    route("POST", "/v2/permission/grant", role_grant),
    route("POST", "/v2/permission/delete", role_grant),
    route("GET", "/v2/permission/query", |p, _| {
        let r = AppIdQuery::from_params(p).map_err(invalid)?;
        Ok(json!({"app_id": r.app_id}))
    }),
    route("GET", "/v2/permission/role/query", |_, _| Ok(json!({}))),
    route("POST", "/v2/permission/resource/grant", resource_grant),
    route("POST", "/v2/permission/resource/delete", resource_grant),
    route("GET", "/v2/permission/resource/query", |p, _| {
        let r = ResourceQuery::from_params(p).map_err(invalid)?;
        Ok(json!({"party_id": r.party_id, "component": r.component}))
    }),
    route("GET", "/v2/server/fateflow", |_, _| Ok(json!({}))),
    route("GET", "/v2/server/query/all", |_, _| Ok(json!({}))),
    route("GET", "/v2/server/query", |p, _| {
        let r = ServerName::from_query(p).map_err(invalid)?;
        Ok(json!({"server_name": r.server_name}))
    }),
    Route {
        method: "POST",
        path: "/v2/server/registry",
        parse: |p, _| {
            let r = ServerRegistry::from_params(p).map_err(invalid)?;
            Ok(
                json!({"server_name": r.server_name, "host": r.host, "port": r.port,
                      "protocol": r.protocol}),
            )
        },
        defaults: &["protocol"],
    },
    route("POST", "/v2/server/delete", |p, _| {
        let r = ServerName::from_json(p).map_err(invalid)?;
        Ok(json!({"server_name": r.server_name}))
    }),
    route("GET", "/v2/server/service/query", |p, _| {
        let r = ServiceName::from_query(p).map_err(invalid)?;
        Ok(json!({"server_name": r.server_name, "service_name": r.service_name}))
    }),
    Route {
        method: "POST",
        path: "/v2/server/service/registry",
        parse: |p, _| {
            let r = ServiceRegistry::from_params(p).map_err(invalid)?;
            Ok(
                json!({"server_name": r.server_name, "service_name": r.service_name,
                      "uri": r.uri, "method": r.method, "params": r.params, "data": r.data,
                      "headers": r.headers, "protocol": r.protocol}),
            )
        },
        defaults: &["method", "params", "data", "headers", "protocol"],
    },
    route("POST", "/v2/server/service/delete", |p, _| {
        let r = ServiceName::from_json(p).map_err(invalid)?;
        Ok(json!({"server_name": r.server_name, "service_name": r.service_name}))
    }),
    // api-2 (partner.rs)
    route("POST", "/v2/partner/job/create", |p, _| {
        let r = partner::JobCreate::from_params(p).map_err(invalid)?;
        merge(
            &r.target,
            json!({"dag": r.dag, "schema_version": r.schema_version, "kind": r.kind}),
        )
    }),
    route("POST", "/v2/partner/job/start", serialized::<JobTarget>),
    route("POST", "/v2/partner/job/status/update", |p, _| {
        let r = StatusUpdate::<JobTarget>::from_params(p).map_err(invalid)?;
        merge(&r.target, json!({"status": r.status}))
    }),
    route("POST", "/v2/partner/job/update", |p, _| {
        let r = partner::JobUpdate::from_params(p).map_err(invalid)?;
        merge(&r.target, json!({"progress": r.progress}))
    }),
    route(
        "POST",
        "/v2/partner/job/resource/apply",
        serialized::<JobTarget>,
    ),
    route(
        "POST",
        "/v2/partner/job/resource/return",
        serialized::<JobTarget>,
    ),
    route("POST", "/v2/partner/job/stop", |p, _| {
        let r = partner::JobStop::from_params(p).map_err(invalid)?;
        merge(&r.target, json!({"stop_status": r.stop_status}))
    }),
    route(
        "POST",
        "/v2/partner/task/resource/apply",
        serialized::<TaskTarget>,
    ),
    route(
        "POST",
        "/v2/partner/task/resource/return",
        serialized::<TaskTarget>,
    ),
    route("POST", "/v2/partner/task/start", serialized::<TaskTarget>),
    route("POST", "/v2/partner/task/collect", serialized::<TaskTarget>),
    route("POST", "/v2/partner/task/status/update", |p, _| {
        let r = StatusUpdate::<TaskTarget>::from_params(p).map_err(invalid)?;
        merge(&r.target, json!({"status": r.status}))
    }),
    route("POST", "/v2/partner/task/stop", |p, _| {
        let r = partner::TaskStop::from_params(p).map_err(invalid)?;
        merge(&r.target, json!({"status": r.status}))
    }),
    route("POST", "/v2/partner/task/rerun", |p, _| {
        let r = partner::TaskRerun::from_params(p).map_err(invalid)?;
        merge(&r.target, json!({"new_version": r.new_version}))
    }),
    // api-4 (scheduler.rs)
    route("POST", "/v2/scheduler/job/create", |p, _| {
        let r = scheduler::JobCreate::from_params(p).map_err(invalid)?;
        Ok(
            json!({"dag": r.dag, "schema_version": r.schema_version, "kind": r.kind,
                  "initiator_party_id": r.initiator_party_id}),
        )
    }),
    route("POST", "/v2/scheduler/job/stop", |p, _| {
        let r = scheduler::JobStop::from_params(p).map_err(invalid)?;
        Ok(json!({"job_id": r.job_id, "stop_status": r.stop_status}))
    }),
    route("POST", "/v2/scheduler/job/rerun", |p, _| {
        let r = scheduler::JobRerun::from_params(p).map_err(invalid)?;
        Ok(json!({"job_id": r.job_id}))
    }),
    route("POST", "/v2/scheduler/task/report", |p, _| {
        let r = scheduler::TaskReport::from_params(p).map_err(invalid)?;
        Ok(
            json!({"job_id": r.job_id, "role": r.role, "party_id": r.party_id,
                  "task_id": r.task_id, "task_version": r.task_version, "status": r.status}),
        )
    }),
    // api-3 (worker.rs)
    route(
        "POST",
        "/v2/worker/task/status",
        serialized::<TaskStatusReport>,
    ),
    route("POST", "/v2/worker/model/save", |p, _| {
        let r = ModelSave::from_params(p).map_err(invalid)?;
        if !p.has_file("file") {
            return Err("no `file` part".into());
        }
        Ok(
            json!({"model_id": r.model_id, "model_version": r.model_version,
                  "execution_id": r.execution_id, "output_key": r.output_key,
                  "type_name": r.type_name}),
        )
    }),
    route(
        "GET",
        "/v2/worker/model/download",
        serialized::<ModelDownload>,
    ),
    route(
        "GET",
        "/v2/worker/data/tracking/query",
        serialized::<DataTrackingQuery>,
    ),
    route(
        "POST",
        "/v2/worker/data/tracking/save",
        serialized::<DataTrackingSave>,
    ),
    route("POST", "/v2/worker/metric/save", |p, _| {
        let r = MetricSave::from_params(p, None).map_err(invalid)?;
        Ok(json!({"execution_id": r.execution_id, "data": to_value(&r.data)?}))
    }),
    route(
        "POST",
        "/v2/worker/metric/save/<execution_id>",
        |p, path| {
            let id = path.rsplit('/').next().unwrap_or_default();
            let r = MetricSave::from_params(p, Some(id)).map_err(invalid)?;
            if r.execution_id.as_deref() != Some(id) {
                return Err(format!("execution id {:?}, path says {id}", r.execution_id));
            }
            Ok(json!({"data": to_value(&r.data)?}))
        },
    ),
];

/// Routes seen in the traces that the wire crate does not model yet (later work). Their
/// requests are not parsed; their replies still go through the envelope checks.
pub const NOT_MODELLED: &[(&str, &str)] = &[];

/// Routes whose reply is a bare JSON object, without an envelope (`api.md` §3.2).
pub const BARE_OBJECT_ROUTES: &[&str] = &["/v2/output/data/table", "/v2/output/data/display"];

pub fn job_id_body(p: &Params, _: &str) -> Result<Value, String> {
    let r = JobIdBody::from_params(p).map_err(invalid)?;
    Ok(json!({"job_id": r.job_id}))
}

pub fn job_party_query(p: &Params, _: &str) -> Result<Value, String> {
    let r = JobPartyQuery::from_params(p).map_err(invalid)?;
    Ok(json!({"job_id": r.job_id, "role": r.role, "party_id": r.party_id}))
}

pub fn output_task(r: Result<OutputTask, Invalid>) -> Result<Value, String> {
    let r = r.map_err(invalid)?;
    Ok(
        json!({"job_id": r.job_id, "role": r.role, "party_id": r.party_id,
              "task_name": r.task_name, "task_version": r.task_version}),
    )
}

pub fn app_id_body(p: &Params, _: &str) -> Result<Value, String> {
    let r = AppIdBody::from_params(p).map_err(invalid)?;
    Ok(json!({"app_id": r.app_id}))
}

pub fn party_id_body(p: &Params, _: &str) -> Result<Value, String> {
    let r = PartyIdBody::from_params(p).map_err(invalid)?;
    Ok(json!({"party_id": r.party_id}))
}

pub fn role_grant(p: &Params, _: &str) -> Result<Value, String> {
    let r = RoleGrant::from_params(p).map_err(invalid)?;
    Ok(json!({"app_id": r.app_id, "role": r.role}))
}

pub fn resource_grant(p: &Params, _: &str) -> Result<Value, String> {
    let r = ResourceGrant::from_params(p).map_err(invalid)?;
    Ok(json!({"party_id": r.party_id, "component": r.component, "dataset": r.dataset}))
}

pub fn output_query(p: &Params, _: &str) -> Result<Value, String> {
    output_task(OutputTask::from_query(p))
}

pub fn output_json(p: &Params, _: &str) -> Result<Value, String> {
    output_task(OutputTask::from_json(p))
}

pub fn provider_filter(r: Result<ProviderFilter, Invalid>) -> Result<Value, String> {
    let r = r.map_err(invalid)?;
    Ok(
        json!({"name": r.name, "device": r.device, "version": r.version,
              "provider_name": r.provider_name}),
    )
}

pub fn serialized<T: FromParams + Serialize>(p: &Params, _: &str) -> Result<Value, String> {
    to_value(&T::from_params(p).map_err(invalid)?)
}

pub fn invalid(e: Invalid) -> String {
    format!("5001 {}", e.to_envelope().to_value())
}

pub fn to_value<T: Serialize>(t: &T) -> Result<Value, String> {
    serde_json::to_value(t).map_err(|e| e.to_string())
}

/// The fields of `target` and of `more`, as one object.
pub fn merge<T: Serialize>(target: &T, more: Value) -> Result<Value, String> {
    let mut v = to_value(target)?;
    if let (Value::Object(m), Value::Object(more)) = (&mut v, more) {
        m.extend(more);
    }
    Ok(v)
}

pub fn find_route(method: &str, path: &str) -> Option<&'static Route> {
    ROUTES
        .iter()
        .find(|r| r.method == method && path_matches(r.path, path))
}

pub fn path_matches(pattern: &str, path: &str) -> bool {
    match pattern.strip_suffix("<execution_id>") {
        Some(prefix) => path
            .strip_prefix(prefix)
            .is_some_and(|id| !id.is_empty() && !id.contains('/')),
        None => pattern == path,
    }
}

/// The route's name in the summary: its table pattern, or the path itself.
pub fn route_name(method: &str, path: &str) -> String {
    let p = find_route(method, path).map_or(path, |r| r.path);
    format!("{method} {p}")
}

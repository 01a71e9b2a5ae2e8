//! api-1 request parameters for the routes ferroflow serves (`api.md` §10). Field order is
//! declaration order upstream, so the first invalid field reported is the same one.

use serde_json::{Map, Value};

use crate::params::{FromParams, Invalid, Params};

pub mod admin;

/// Every api-1 route of `api.md` §10 as `(method, path)`, by page: what a client may call,
/// and what FATE's `client` / `super_client` roles are granted.
pub const ROUTES: [(&str, &str); 67] = [
    ("POST", "/v2/app/client/create"),
    ("POST", "/v2/app/client/delete"),
    ("GET", "/v2/app/client/query"),
    ("POST", "/v2/app/site/create"),
    ("POST", "/v2/app/site/delete"),
    ("GET", "/v2/app/site/query"),
    ("POST", "/v2/app/partner/create"),
    ("POST", "/v2/app/partner/delete"),
    ("GET", "/v2/app/partner/query"),
    ("POST", "/v2/data/component/upload"),
    ("POST", "/v2/data/component/upload/file"),
    ("POST", "/v2/data/component/download"),
    ("POST", "/v2/data/component/dataframe/transformer"),
    ("GET", "/v2/data/download"),
    ("POST", "/v2/job/submit"),
    ("GET", "/v2/job/query"),
    ("POST", "/v2/job/stop"),
    ("POST", "/v2/job/rerun"),
    ("GET", "/v2/job/list/query"),
    ("GET", "/v2/job/task/query"),
    ("GET", "/v2/job/task/list/query"),
    ("POST", "/v2/job/log/download"),
    ("POST", "/v2/job/queue/clean"),
    ("POST", "/v2/job/clean"),
    ("GET", "/v2/job/data/view"),
    ("POST", "/v2/job/notes/add"),
    ("GET", "/v2/job/dag/dependency"),
    ("GET", "/v2/log/count"),
    ("GET", "/v2/log/query"),
    ("POST", "/v2/model/load"),
    ("POST", "/v2/model/migrate"),
    ("POST", "/v2/model/export"),
    ("POST", "/v2/model/import"),
    ("POST", "/v2/model/delete"),
    ("POST", "/v2/model/store"),
    ("POST", "/v2/model/restore"),
    ("GET", "/v2/output/metric/key/query"),
    ("GET", "/v2/output/metric/query"),
    ("POST", "/v2/output/metric/delete"),
    ("GET", "/v2/output/model/query"),
    ("GET", "/v2/output/model/download"),
    ("POST", "/v2/output/model/delete"),
    ("GET", "/v2/output/data/download"),
    ("GET", "/v2/output/data/table"),
    ("GET", "/v2/output/data/display"),
    ("POST", "/v2/permission/grant"),
    ("POST", "/v2/permission/delete"),
    ("GET", "/v2/permission/query"),
    ("GET", "/v2/permission/role/query"),
    ("POST", "/v2/permission/resource/grant"),
    ("POST", "/v2/permission/resource/delete"),
    ("GET", "/v2/permission/resource/query"),
    ("POST", "/v2/provider/register"),
    ("GET", "/v2/provider/query"),
    ("POST", "/v2/provider/delete"),
    ("GET", "/v2/server/fateflow"),
    ("GET", "/v2/server/query/all"),
    ("GET", "/v2/server/query"),
    ("POST", "/v2/server/registry"),
    ("POST", "/v2/server/delete"),
    ("GET", "/v2/server/service/query"),
    ("POST", "/v2/server/service/registry"),
    ("POST", "/v2/server/service/delete"),
    ("GET", "/v2/site/info/query"),
    ("GET", "/v2/table/query"),
    ("POST", "/v2/table/delete"),
    ("POST", "/v2/table/bind/path"),
];

/// The FATE page of an api-1 path (`/v2/<page>/...`).
pub fn page_of(path: &str) -> &str {
    path.trim_start_matches("/v2/")
        .split('/')
        .next()
        .unwrap_or_default()
}

pub mod data;
pub mod model;

/// `POST /v2/job/submit`.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSubmit {
    pub dag_schema: Value,
    pub user_name: Option<String>,
}

impl FromParams for JobSubmit {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        Ok(Self {
            dag_schema: Value::Object(p.json().object("dag_schema")?),
            user_name: p.header("user-name").map(str::to_string),
        })
    }
}

/// `GET /v2/job/query`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JobQuery {
    pub job_id: Option<String>,
    pub role: Option<String>,
    pub party_id: Option<String>,
    pub status: Option<String>,
    pub user_name: Option<String>,
}

impl JobQuery {
    pub fn is_empty(&self) -> bool {
        self.job_id.is_none()
            && self.role.is_none()
            && self.party_id.is_none()
            && self.status.is_none()
            && self.user_name.is_none()
    }
}

impl FromParams for JobQuery {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        let q = p.query();
        Ok(Self {
            job_id: q.opt_str("job_id")?,
            role: q.opt_str("role")?,
            party_id: q.opt_str("party_id")?,
            status: q.opt_str("status")?,
            user_name: p.header("user-name").map(str::to_string),
        })
    }
}

/// A body with only `job_id` (`/v2/job/stop`, `rerun`, `clean`, `log/download`).
#[derive(Debug, Clone, PartialEq)]
pub struct JobIdBody {
    pub job_id: String,
}

impl FromParams for JobIdBody {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        Ok(Self {
            job_id: p.json().str("job_id")?,
        })
    }
}

/// `GET /v2/job/list/query`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JobListQuery {
    pub limit: i64,
    pub page: i64,
    pub job_id: Option<String>,
    pub description: Option<String>,
    pub partner: Option<String>,
    pub party_id: Option<String>,
    pub role: Option<Vec<String>>,
    pub status: Option<Vec<String>>,
    pub order_by: Option<String>,
    pub order: Option<String>,
    pub user_name: Option<String>,
}

impl FromParams for JobListQuery {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        let q = p.query();
        Ok(Self {
            limit: q.opt_int("limit")?.unwrap_or(0),
            page: q.opt_int("page")?.unwrap_or(0),
            job_id: q.opt_str("job_id")?,
            description: q.opt_str("description")?,
            partner: q.opt_str("partner")?,
            party_id: q.opt_str("party_id")?,
            role: q.opt_str_list("role")?,
            status: q.opt_str_list("status")?,
            order_by: q.opt_str("order_by")?,
            order: q.opt_str("order")?,
            user_name: p.header("user-name").map(str::to_string),
        })
    }
}

/// `GET /v2/job/task/query`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TaskQuery {
    pub job_id: Option<String>,
    pub role: Option<String>,
    pub party_id: Option<String>,
    pub status: Option<String>,
    pub task_name: Option<String>,
    pub task_id: Option<String>,
    pub task_version: Option<i64>,
}

impl TaskQuery {
    pub fn is_empty(&self) -> bool {
        *self == TaskQuery::default()
    }
}

impl FromParams for TaskQuery {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        let q = p.query();
        Ok(Self {
            job_id: q.opt_str("job_id")?,
            role: q.opt_str("role")?,
            party_id: q.opt_str("party_id")?,
            status: q.opt_str("status")?,
            task_name: q.opt_str("task_name")?,
            task_id: q.opt_str("task_id")?,
            task_version: q.opt_int("task_version")?,
        })
    }
}

/// `GET /v2/job/task/list/query`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TaskListQuery {
    pub limit: i64,
    pub page: i64,
    pub job_id: Option<String>,
    pub role: Option<String>,
    pub party_id: Option<String>,
    pub task_name: Option<String>,
    pub order_by: Option<String>,
    pub order: Option<String>,
}

impl FromParams for TaskListQuery {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        let q = p.query();
        Ok(Self {
            limit: q.opt_int("limit")?.unwrap_or(0),
            page: q.opt_int("page")?.unwrap_or(0),
            job_id: q.opt_str("job_id")?,
            role: q.opt_str("role")?,
            party_id: q.opt_str("party_id")?,
            task_name: q.opt_str("task_name")?,
            order_by: q.opt_str("order_by")?,
            order: q.opt_str("order")?,
        })
    }
}

/// `POST /v2/job/notes/add`.
#[derive(Debug, Clone, PartialEq)]
pub struct NotesAdd {
    pub job_id: String,
    pub role: String,
    pub party_id: String,
    pub notes: String,
}

impl FromParams for NotesAdd {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        let j = p.json();
        Ok(Self {
            job_id: j.str("job_id")?,
            role: j.str("role")?,
            party_id: j.str("party_id")?,
            notes: j.str("notes")?,
        })
    }
}

/// `{job_id, role, party_id}` in the query string, all required (`dag/dependency`,
/// `data/view`).
#[derive(Debug, Clone, PartialEq)]
pub struct JobPartyQuery {
    pub job_id: String,
    pub role: String,
    pub party_id: String,
}

impl FromParams for JobPartyQuery {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        let q = p.query();
        Ok(Self {
            job_id: q.str("job_id")?,
            role: q.str("role")?,
            party_id: q.str("party_id")?,
        })
    }
}

/// The task an output route addresses: `{job_id, role, party_id, task_name}`, all required,
/// in the query string (GET) or the JSON body (POST). ferroflow also reads an optional
/// `task_version` (an earlier run's outputs); FATE always answers the latest version.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputTask {
    pub job_id: String,
    pub role: String,
    pub party_id: String,
    pub task_name: String,
    pub task_version: Option<i64>,
}

impl OutputTask {
    pub fn from_query(p: &Params) -> Result<Self, Invalid> {
        let q = p.query();
        Ok(Self {
            job_id: q.str("job_id")?,
            role: q.str("role")?,
            party_id: q.str("party_id")?,
            task_name: q.str("task_name")?,
            task_version: q.opt_int("task_version")?,
        })
    }

    pub fn from_json(p: &Params) -> Result<Self, Invalid> {
        let j = p.json();
        Ok(Self {
            job_id: j.str("job_id")?,
            role: j.str("role")?,
            party_id: j.str("party_id")?,
            task_name: j.str("task_name")?,
            task_version: j.opt_int("task_version")?,
        })
    }
}

/// `GET /v2/output/data/download`: the task, and optionally one output key.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputDataDownload {
    pub task: OutputTask,
    pub output_key: Option<String>,
}

impl FromParams for OutputDataDownload {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        Ok(Self {
            task: OutputTask::from_query(p)?,
            output_key: p.query().opt_str("output_key")?,
        })
    }
}

/// `POST /v2/provider/register`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderRegister {
    pub name: String,
    pub device: String,
    pub version: String,
    pub metadata: Map<String, Value>,
    pub protocol: Option<String>,
    pub components_description: Option<Map<String, Value>>,
}

impl FromParams for ProviderRegister {
    fn from_params(p: &Params) -> Result<Self, Invalid> {
        let j = p.json();
        Ok(Self {
            name: j.str("name")?,
            device: j.str("device")?,
            version: j.str("version")?,
            metadata: j.object("metadata")?,
            protocol: j.opt_str("protocol")?,
            components_description: j.opt_object("components_description")?,
        })
    }
}

/// `GET /v2/provider/query` (query string) and `POST /v2/provider/delete` (JSON).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProviderFilter {
    pub name: Option<String>,
    pub device: Option<String>,
    pub version: Option<String>,
    pub provider_name: Option<String>,
}

impl ProviderFilter {
    pub fn is_empty(&self) -> bool {
        *self == ProviderFilter::default()
    }

    pub fn from_query(p: &Params) -> Result<Self, Invalid> {
        let q = p.query();
        Ok(Self {
            name: q.opt_str("name")?,
            device: q.opt_str("device")?,
            version: q.opt_str("version")?,
            provider_name: q.opt_str("provider_name")?,
        })
    }

    pub fn from_json(p: &Params) -> Result<Self, Invalid> {
        let j = p.json();
        Ok(Self {
            name: j.opt_str("name")?,
            device: j.opt_str("device")?,
            version: j.opt_str("version")?,
            provider_name: j.opt_str("provider_name")?,
        })
    }
}

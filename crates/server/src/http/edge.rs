//! The one edge every request with parameters passes before its handler (the `Req` extractor
//! calls [`admit`]): what no route may be given, checked once, from [`ROUTES`].
//!
//! In this order:
//! 1. a JSON body must be an object (FATE takes fields from it; a list or a scalar is not
//!    an empty request), else 5001 `{json: {_schema: ["Invalid input type."]}}`;
//! 2. ids and names have FATE's shape and the length of their columns ([`rule`]); paths are
//!    not longer than a file system takes; else 5001 naming the field;
//! 3. parameters that name a file on this site (a route's `paths`) lie in `data_dir`,
//!    `upload_dir` or `allowed_dirs`, else 5001 — before anything is read or written;
//! 4. ids a route acts on exist here ([`Lookup`]), else FATE's "not found" code.
//!
//! Answers of api-1 that fail never show where the site keeps its files: [`scrub`] writes the
//! site's directories as the settings that name them (`<upload_dir>/x.csv`).

use std::path::PathBuf;

use serde_json::Value;

use ferroflow_core::id::JobId;
use ferroflow_wire::FromParams;
use ferroflow_wire::params::{Invalid, Location, Params};

use crate::app::App;
use crate::controller::{Error, Input, Missing, Result};

/// What must exist on this site for a route to act.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    None,
    /// `job_id` names a job this site has a part in (else 1001).
    Job,
    /// `job_id`, `role`, `party_id`, `task_id`, `task_version` name a task row here (else 2000).
    Task,
}

/// Where an api-3 route names the task run it acts for: the caller's worker token must be
/// that run's (`controller::worker::authorize`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskNamed {
    /// `execution_id` (JSON body, query or form field, or the path's `{execution_id}`): the
    /// run writes only its own status, outputs, models and metrics.
    Execution,
    /// `role` and `party_id` (when given): a read of the outputs of this party, the caller's.
    Party,
}

/// One route of the site.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    /// As routed; `{execution_id}` matches one segment.
    pub path: &'static str,
    /// The route reads parameters: a JSON body, when sent, must be an object.
    pub takes_fields: bool,
    /// Its parameters are multipart form fields only (a file upload); a JSON body is ignored.
    pub multipart: bool,
    /// Parameters naming a file or directory on this site (relative: in `upload_dir`).
    pub paths: &'static [&'static str],
    /// The JSON field holding a DAG whose components' file parameters are confined
    /// ([`COMPONENT_FILES`]) for the parties this site serves.
    pub dag: Option<&'static str>,
    pub lookup: Lookup,
    /// An api-3 route: where it names the task run, whose worker token the call must carry.
    pub task: Option<TaskNamed>,
}

const fn with(method: &'static str, path: &'static str) -> Route {
    Route {
        method,
        path,
        takes_fields: true,
        multipart: false,
        paths: &[],
        dag: None,
        lookup: Lookup::None,
        task: None,
    }
}

const fn get(path: &'static str) -> Route {
    with("GET", path)
}

const fn post(path: &'static str) -> Route {
    with("POST", path)
}

/// A route that reads no parameters at all.
const fn bare(method: &'static str, path: &'static str) -> Route {
    Route {
        takes_fields: false,
        ..with(method, path)
    }
}

const fn paths(route: Route, paths: &'static [&'static str]) -> Route {
    Route { paths, ..route }
}

const fn lookup(route: Route, lookup: Lookup) -> Route {
    Route { lookup, ..route }
}

const fn task(route: Route, named: TaskNamed) -> Route {
    Route {
        task: Some(named),
        ..route
    }
}

const fn dag(route: Route, field: &'static str) -> Route {
    Route {
        dag: Some(field),
        ..route
    }
}

/// Components' parameters that name a file on the party's site: the demo provider's reader
/// and the `fate_flow` provider's upload and download. FATE's own components name tables,
/// which the site resolves from its catalogue (bound paths are confined when bound).
pub const COMPONENT_FILES: &[(&str, &str)] = &[
    ("demo_reader", "path"),
    ("upload", "file"),
    ("download", "path"),
];

/// Every route the site serves (api-1 to api-4), with what the edge checks on it.
pub const ROUTES: &[Route] = &[
    // api-1
    post("/v2/app/client/create"),
    post("/v2/app/client/delete"),
    get("/v2/app/client/query"),
    post("/v2/app/site/create"),
    post("/v2/app/site/delete"),
    get("/v2/app/site/query"),
    post("/v2/app/partner/create"),
    post("/v2/app/partner/delete"),
    get("/v2/app/partner/query"),
    paths(post("/v2/data/component/upload"), &["file"]),
    Route {
        multipart: true,
        ..post("/v2/data/component/upload/file")
    },
    paths(post("/v2/data/component/download"), &["path"]),
    post("/v2/data/component/dataframe/transformer"),
    get("/v2/data/download"),
    get("/v2/job/data/view"),
    dag(post("/v2/job/submit"), "dag_schema"),
    get("/v2/job/query"),
    post("/v2/job/stop"),
    post("/v2/job/rerun"),
    get("/v2/job/list/query"),
    get("/v2/job/task/query"),
    get("/v2/job/task/list/query"),
    post("/v2/job/log/download"),
    bare("POST", "/v2/job/queue/clean"),
    post("/v2/job/clean"),
    post("/v2/job/notes/add"),
    get("/v2/job/dag/dependency"),
    lookup(get("/v2/log/count"), Lookup::Job),
    lookup(get("/v2/log/query"), Lookup::Job),
    bare("POST", "/v2/model/load"),
    bare("POST", "/v2/model/migrate"),
    paths(post("/v2/model/export"), &["path"]),
    post("/v2/model/import"),
    post("/v2/model/delete"),
    bare("POST", "/v2/model/store"),
    bare("POST", "/v2/model/restore"),
    get("/v2/output/metric/key/query"),
    get("/v2/output/metric/query"),
    post("/v2/output/metric/delete"),
    get("/v2/output/model/query"),
    get("/v2/output/model/download"),
    post("/v2/output/model/delete"),
    get("/v2/output/data/download"),
    get("/v2/output/data/table"),
    get("/v2/output/data/display"),
    post("/v2/permission/grant"),
    post("/v2/permission/delete"),
    get("/v2/permission/query"),
    bare("GET", "/v2/permission/role/query"),
    post("/v2/permission/resource/grant"),
    post("/v2/permission/resource/delete"),
    get("/v2/permission/resource/query"),
    paths(post("/v2/provider/register"), &["metadata.path"]),
    get("/v2/provider/query"),
    post("/v2/provider/delete"),
    bare("GET", "/v2/server/fateflow"),
    bare("GET", "/v2/server/query/all"),
    get("/v2/server/query"),
    post("/v2/server/registry"),
    post("/v2/server/delete"),
    get("/v2/server/service/query"),
    post("/v2/server/service/registry"),
    post("/v2/server/service/delete"),
    bare("GET", "/v2/site/info/query"),
    get("/v2/table/query"),
    post("/v2/table/delete"),
    paths(post("/v2/table/bind/path"), &["path"]),
    // ferroflow's own api-1 routes
    get("/v2/audit/query"),
    // api-2
    dag(post("/v2/partner/job/create"), "dag"),
    post("/v2/partner/job/start"),
    post("/v2/partner/job/status/update"),
    post("/v2/partner/job/update"),
    post("/v2/partner/job/resource/apply"),
    post("/v2/partner/job/resource/return"),
    post("/v2/partner/job/stop"),
    post("/v2/partner/task/resource/apply"),
    lookup(post("/v2/partner/task/resource/return"), Lookup::Task),
    post("/v2/partner/task/start"),
    post("/v2/partner/task/collect"),
    post("/v2/partner/task/status/update"),
    post("/v2/partner/task/stop"),
    lookup(post("/v2/partner/task/rerun"), Lookup::Task),
    // api-3
    task(get("/v2/worker/data/tracking/query"), TaskNamed::Party),
    task(post("/v2/worker/data/tracking/save"), TaskNamed::Execution),
    task(post("/v2/worker/metric/save"), TaskNamed::Execution),
    task(
        post("/v2/worker/metric/save/{execution_id}"),
        TaskNamed::Execution,
    ),
    task(get("/v2/worker/model/download"), TaskNamed::Party),
    task(post("/v2/worker/model/save"), TaskNamed::Execution),
    task(post("/v2/worker/task/status"), TaskNamed::Execution),
    // api-4
    post("/v2/scheduler/job/create"),
    post("/v2/scheduler/job/rerun"),
    post("/v2/scheduler/job/stop"),
    post("/v2/scheduler/task/report"),
];

/// The route serving `method path`, if any.
pub fn route(method: &str, path: &str) -> Option<&'static Route> {
    ROUTES.iter().find(|r| {
        r.method.eq_ignore_ascii_case(method) && {
            let mut want = r.path.split('/');
            let mut got = path.split('/');
            loop {
                match (want.next(), got.next()) {
                    (None, None) => break true,
                    (Some(w), Some(g)) if w == g || (w.starts_with('{') && !g.is_empty()) => {}
                    _ => break false,
                }
            }
        }
    })
}

/// The task run an api-3 request names, by its route's [`TaskNamed`]; `None` for other routes.
pub fn worker_claim(
    route: &Route,
    path: &str,
    params: &Params,
) -> Option<crate::controller::worker::Claim> {
    use crate::controller::worker::Claim;
    Some(match route.task? {
        TaskNamed::Execution => Claim::Execution(if route.path.ends_with("{execution_id}") {
            path.rsplit('/').next().map(str::to_string)
        } else {
            value_at(params, "execution_id")
        }),
        TaskNamed::Party => Claim::Party {
            role: value_at(params, "role"),
            party_id: value_at(params, "party_id"),
        },
    })
}

/// The shape a parameter must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Letters, digits, `_`, `-`, `.` (not `.` or `..` alone), at most this many characters:
    /// FATE's job, task and party ids, roles, task names, model versions.
    Id(usize),
    /// Any text without control characters, at most this many characters.
    Name(usize),
    /// A path: at most 4096 bytes, no part longer than 255, no control characters.
    Path,
}

/// The shape of a parameter, by its name, on every route (the lengths are the columns').
pub fn rule(field: &str) -> Option<Shape> {
    Some(match field {
        "job_id" | "model_id" => Shape::Id(64),
        "model_version" => Shape::Id(32),
        "role" => Shape::Id(32),
        "party_id" | "app_id" => Shape::Id(100),
        "task_name" => Shape::Id(96),
        "task_id" => Shape::Id(160),
        "execution_id" | "party_task_id" => Shape::Id(255),
        "namespace" | "name" | "host" => Shape::Name(255),
        "server_name" | "service_name" => Shape::Name(64),
        "provider_name" => Shape::Name(128),
        "component" | "component_name" => Shape::Name(96),
        "version" | "protocol" | "device" => Shape::Name(32),
        "app_name" => Shape::Name(100),
        "path" | "file" => Shape::Path,
        _ => return None,
    })
}

/// Why `value` does not have `shape`, if it does not.
pub fn misfit(shape: Shape, value: &str) -> Option<String> {
    let control = value.chars().any(char::is_control);
    match shape {
        Shape::Id(max) => {
            let ok = !value.is_empty()
                && value.chars().count() <= max
                && value != "."
                && value != ".."
                && value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
            (!ok).then(|| {
                format!(
                    "Not a valid id: 1 to {max} letters, digits, `_`, `-` or `.` (not `.` or `..` alone)."
                )
            })
        }
        Shape::Name(max) => (control || value.chars().count() > max)
            .then(|| format!("Not a valid name: at most {max} characters, no control characters.")),
        Shape::Path => crate::paths::check_shape(value)
            .err()
            .or(control.then_some(crate::paths::Error::Control))
            .map(|e| format!("Not a valid path: {e}.")),
    }
}

/// Checks one request before its handler: body shape, field shapes, confined paths, lookups.
pub async fn admit(
    app: &App,
    method: &str,
    path: &str,
    params: &Params,
    body: Option<&Value>,
) -> Result<()> {
    let Some(route) = route(method, path) else {
        return Ok(());
    };
    if !route.takes_fields {
        return Ok(());
    }
    if let Some(v) = body
        && !v.is_object()
    {
        return Err(Invalid::new(Location::Json, "_schema", "Invalid input type.").into());
    }
    check_fields(params)?;
    for field in route.paths {
        if let Some(value) = value_at(params, field) {
            confine(app, field, &value)?;
        }
    }
    if let Some(field) = route.dag
        && let Some(v) = params.json.get(field)
    {
        // `dag_schema` wraps the DAG; `/partner/job/create` sends it bare.
        component_files(app, v.get("dag").unwrap_or(v))?;
    }
    match route.lookup {
        Lookup::None => Ok(()),
        Lookup::Job => {
            let Some(job_id) = value_at(params, "job_id") else {
                return Ok(());
            };
            if app.store.jobs_of(&JobId::new(&job_id)).await?.is_empty() {
                return Err(Error::job_not_found(&job_id));
            }
            Ok(())
        }
        Lookup::Task => {
            let Ok(target) = ferroflow_wire::partner::TaskTarget::from_params(params) else {
                return Ok(()); // the handler says what is missing
            };
            let key = crate::controller::keys::task_key(&target)?;
            if app.store.task(&key).await?.is_none() {
                return Err(Error::refuse(
                    Missing::Task,
                    &[
                        ("job_id", &target.job_id),
                        ("task_id", &target.task_id),
                        ("task_version", &target.task_version.to_string()),
                        ("role", &target.role),
                        ("party_id", &target.party_id),
                    ],
                ));
            }
            Ok(())
        }
    }
}

/// Every known parameter in every location has its shape; the first that does not is the
/// answer, as FATE reports the first invalid field.
pub fn check_fields(params: &Params) -> std::result::Result<(), Invalid> {
    let json = params
        .json
        .iter()
        .map(|(k, v)| (Location::Json, k.as_str(), v));
    for (loc, field, v) in json {
        if let Some(shape) = rule(field) {
            for s in strings(v) {
                if let Some(m) = misfit(shape, s) {
                    return Err(Invalid::new(loc, field, &m));
                }
            }
        }
    }
    for (loc, pairs) in [
        (Location::Query, &params.query),
        (Location::Form, &params.form),
    ] {
        for (field, v) in pairs {
            if let Some(shape) = rule(field)
                && let Some(m) = misfit(shape, v)
            {
                return Err(Invalid::new(loc, field, &m));
            }
        }
    }
    Ok(())
}

/// The strings of a JSON value: itself, or the items of a list (`party_id: ["9999"]`).
fn strings(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// A parameter's text by dotted name (`metadata.path`), from the JSON body, the query or the
/// form.
fn value_at(params: &Params, field: &str) -> Option<String> {
    let mut parts = field.split('.');
    let first = parts.next()?;
    if let Some(mut v) = params.json.get(first) {
        for p in parts {
            v = v.get(p)?;
        }
        return v.as_str().map(str::to_string);
    }
    if field.contains('.') {
        return None;
    }
    params
        .query
        .iter()
        .chain(&params.form)
        .find(|(k, _)| k == field)
        .map(|(_, v)| v.clone())
}

/// A path parameter confined to the allowed directories. A provider's `metadata.path` is
/// judged only when it exists or climbs with `..`: an empty one is allowed, one that does not
/// exist is the handler's 8001.
fn confine(app: &App, field: &str, value: &str) -> Result<()> {
    if field == "metadata.path"
        && (value.is_empty()
            || (!value.split(['/', '\\']).any(|c| c == "..")
                && !std::path::Path::new(value).exists()))
    {
        return Ok(());
    }
    crate::controller::table::confine(app, field, value, &app.config.upload_dir).map(drop)
}

/// The file parameters of the DAG's tasks ([`COMPONENT_FILES`]) that a party served here
/// will open lie in [`crate::config::Config::component_roots`]; the task checks again when it
/// opens them.
fn component_files(app: &App, dag: &Value) -> Result<()> {
    let roots = app.config.component_roots();
    let served = |parties: &Value| {
        parties.as_array().into_iter().flatten().any(|p| {
            strings(&p["party_id"])
                .iter()
                .any(|id| app.fed.is_local(&ferroflow_core::id::PartyId::new(*id)))
        })
    };
    let check = |task: &str, field: &str, v: &Value| -> Result<()> {
        let Some(v) = v.as_str() else { return Ok(()) };
        let path = v.strip_prefix("file://").unwrap_or(v);
        if path.contains("://") {
            return Ok(()); // not a file here: the component refuses it
        }
        crate::paths::confine(&roots, &app.config.upload_dir, path)
            .map(drop)
            .map_err(|e| {
                Error::refuse_with(
                    Input::Parameter,
                    format!("Invalid parameter: tasks.{task}.parameters.{field}[{v}]: {e}"),
                )
            })
    };
    let Some(tasks) = dag["tasks"].as_object() else {
        return Ok(());
    };
    for (name, task) in tasks {
        let Some(&(_, field)) = COMPONENT_FILES
            .iter()
            .find(|(c, _)| task["component_ref"].as_str() == Some(*c))
        else {
            continue;
        };
        let parties = if task["parties"].is_array() {
            &task["parties"]
        } else {
            &dag["parties"]
        };
        if served(parties) {
            check(name, field, &task["parameters"][field])?;
        }
        for pt in dag["party_tasks"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(_, v)| v)
        {
            if served(&pt["parties"]) {
                check(name, field, &pt["tasks"][name]["parameters"][field])?;
            }
        }
    }
    Ok(())
}

/// The site's directories as the settings that name them, longest first.
pub fn directories(app: &App) -> Vec<(String, &'static str)> {
    let c = &app.config;
    let mut dirs: Vec<(PathBuf, &'static str)> = vec![
        (c.data_dir.clone(), "<data_dir>"),
        (c.upload_dir.clone(), "<upload_dir>"),
        (c.model_store.path.clone(), "<model_store.path>"),
    ];
    dirs.extend(c.allowed_dirs.iter().map(|d| (d.clone(), "<allowed_dirs>")));
    let mut out: Vec<(String, &'static str)> = Vec::new();
    for (d, name) in dirs {
        let forms = [
            Some(d.clone()),
            std::path::absolute(&d).ok(),
            d.canonicalize().ok(),
        ];
        for f in forms.into_iter().flatten() {
            let s = f.display().to_string();
            let s = s.trim_end_matches('/').to_string();
            if s.len() > 1 && !out.iter().any(|(x, _)| *x == s) {
                out.push((s, name));
            }
        }
    }
    out.sort_by_key(|b| std::cmp::Reverse(b.0.len()));
    out
}

/// `text` with every site directory written as its setting's name.
pub fn scrub_text(dirs: &[(String, &'static str)], text: &str) -> String {
    let mut out = text.to_string();
    for (dir, name) in dirs {
        if out.contains(dir.as_str()) {
            out = out.replace(dir.as_str(), name);
        }
    }
    out
}

/// A failed api-1 answer's message and data with the site's directories scrubbed; `None`
/// when there is nothing to change (a success, or no directory named).
pub fn scrub(dirs: &[(String, &'static str)], body: &[u8]) -> Option<Vec<u8>> {
    if !dirs
        .iter()
        .any(|(d, _)| body.windows(d.len()).any(|w| w == d.as_bytes()))
    {
        return None;
    }
    let mut v: Value = serde_json::from_slice(body).ok()?;
    if v.get("code").and_then(Value::as_i64).unwrap_or(0) == 0 {
        return None;
    }
    fn walk(v: &mut Value, dirs: &[(String, &'static str)]) {
        match v {
            Value::String(s) => *s = scrub_text(dirs, s),
            Value::Array(a) => a.iter_mut().for_each(|x| walk(x, dirs)),
            Value::Object(m) => m.values_mut().for_each(|x| walk(x, dirs)),
            _ => {}
        }
    }
    walk(&mut v, dirs);
    let mut out = serde_json::to_vec(&v).ok()?;
    out.push(b'\n');
    Some(out)
}

/// Routes between sites and tasks, which need the real paths (tracking URIs, task dirs).
pub fn is_internal(path: &str) -> bool {
    ["/v2/partner/", "/v2/scheduler/", "/v2/worker/"]
        .iter()
        .any(|p| path.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_by_method_and_segments() {
        assert_eq!(route("GET", "/v2/job/query").unwrap().path, "/v2/job/query");
        assert!(route("POST", "/v2/job/query").is_none());
        assert_eq!(
            route("POST", "/v2/worker/metric/save/x_1").unwrap().path,
            "/v2/worker/metric/save/{execution_id}"
        );
        assert!(route("POST", "/v2/worker/metric/save/").is_none());
        assert!(route("GET", "/v2/job/query/x").is_none());
        let mut seen = std::collections::HashSet::new();
        for r in ROUTES {
            assert!(
                seen.insert((r.method, r.path)),
                "{} {} twice",
                r.method,
                r.path
            );
        }
    }

    #[test]
    fn every_worker_route_names_its_task_run() {
        for r in ROUTES {
            assert_eq!(
                r.path.starts_with("/v2/worker/"),
                r.task.is_some(),
                "{} {}",
                r.method,
                r.path
            );
        }
    }

    #[test]
    fn shapes() {
        assert!(misfit(Shape::Id(64), "202601010000000000001").is_none());
        assert!(misfit(Shape::Id(96), "reader_0").is_none());
        for bad in ["", ".", "..", "a/b", "a b", "é", &"x".repeat(65)] {
            assert!(misfit(Shape::Id(64), bad).is_some(), "{bad:?}");
        }
        assert!(misfit(Shape::Name(64), "fate:2.2.0@local").is_none());
        assert!(misfit(Shape::Name(64), &"x".repeat(65)).is_some());
        assert!(misfit(Shape::Name(64), "a\nb").is_some());
        assert!(misfit(Shape::Path, "/a/b.csv").is_none());
        assert!(misfit(Shape::Path, &"x".repeat(256)).is_some());
        assert!(misfit(Shape::Path, &"a/".repeat(2100)).is_some());
        assert!(misfit(Shape::Path, "a\0b").is_some());
    }

    #[test]
    fn scrubbing_names_the_setting() {
        let dirs = vec![
            ("/srv/site/upload".to_string(), "<upload_dir>"),
            ("/srv/site".to_string(), "<data_dir>"),
        ];
        let body = br#"{"code":8001,"message":"No found file: path=/srv/site/upload/a.csv","data":{"p":"/srv/site/x"}}"#;
        let out: Value = serde_json::from_slice(&scrub(&dirs, body).unwrap()).unwrap();
        assert_eq!(out["message"], "No found file: path=<upload_dir>/a.csv");
        assert_eq!(out["data"]["p"], "<data_dir>/x");
        let ok = br#"{"code":0,"message":"success","data":"/srv/site/upload/a.csv"}"#;
        assert!(scrub(&dirs, ok).is_none(), "successes are not touched");
        assert!(scrub(&dirs, br#"{"code":1,"message":"x"}"#).is_none());
    }
}

//! `/v2/permission/*`: roles of apps and resources granted to other parties (`api.md` §7.1,
//! §7.4, §10.7). Role grants answer 6001 while authentication is off, as upstream; resource
//! grants are always stored, and [`check_job`] enforces them when a partner creates a job
//! here (with `authentication.permission` on, as FATE, and also whenever `site` is on).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use ferroflow_wire::client::admin::ResourceGrant;

use super::app::{ROLES, restricted};
use super::{Denial, Error, Input, Missing, Op, Result};
use crate::app::App;

const COMPONENT: &str = "component";
const DATASET: &str = "dataset";

/// `[role, path, method]` of every route a role may call.
pub fn policies(role: &str) -> Vec<Value> {
    crate::auth::policy::routes(role)
        .into_iter()
        .map(|(p, m)| json!([role, p, m]))
        .collect()
}

fn check_role(role: &str) -> Result<()> {
    if ROLES.contains(&role) {
        Ok(())
    } else {
        Err(Error::refuse(Input::Parameter, &[("role", role)]))
    }
}

async fn check_app(app: &App, app_id: &str, role: &str) -> Result<()> {
    let Some(a) = app.store.app(app_id).await? else {
        return Err(Error::refuse(Missing::App, &[("app_id", app_id)]));
    };
    // A site app takes the site role, a client app the client roles; admin takes any.
    let fits = match a.app_type.as_str() {
        "site" => role == "site",
        "client" => role == "client" || role == "super_client",
        _ => true,
    };
    if !fits {
        return Err(Error::refuse(
            Input::RoleType,
            &[("app_type", &a.app_type), ("role", role)],
        ));
    }
    Ok(())
}

/// `/v2/permission/grant`: the app's roles become `[role]`.
pub async fn grant(app: &App, app_id: &str, role: &str) -> Result<bool> {
    restricted(app, "grant")?;
    check_role(role)?;
    check_app(app, app_id, role).await?;
    app.store.set_roles(app_id, &[role], app.now()).await?;
    Ok(true)
}

/// `/v2/permission/delete`.
pub async fn delete(app: &App, app_id: &str, role: &str) -> Result<bool> {
    restricted(app, "delete")?;
    check_role(role)?;
    check_app(app, app_id, role).await?;
    Ok(app.store.delete_role(app_id, role).await?)
}

/// `/v2/permission/query`: `{role: [[role, path, method], ...]}` for the app's roles.
pub async fn query(app: &App, app_id: &str) -> Result<Value> {
    restricted(app, "query")?;
    if app.store.app(app_id).await?.is_none() {
        return Err(Error::refuse(Missing::App, &[("app_id", app_id)]));
    }
    let mut out = serde_json::Map::new();
    for r in app.store.roles_of(app_id).await? {
        out.insert(r.clone(), Value::Array(policies(&r)));
    }
    Ok(Value::Object(out))
}

/// `/v2/permission/role/query`: the roles there are, `[]` while authentication is off.
pub fn roles(app: &App) -> Vec<&'static str> {
    if app.config.auth.any() {
        ROLES.to_vec()
    } else {
        Vec::new()
    }
}

fn operate_error(detail: &str) -> Error {
    Error::refuse(Op::Grant, &[("detail", detail)])
}

/// A dataset as stored: `{"name","namespace"}` with sorted keys.
fn dataset_value(d: &Value) -> Result<String> {
    let (Some(ns), Some(name)) = (
        d.get("namespace").and_then(Value::as_str),
        d.get("name").and_then(Value::as_str),
    ) else {
        return Err(operate_error(&format!(
            "dataset {d} needs namespace and name"
        )));
    };
    Ok(json!({"name": name, "namespace": ns}).to_string())
}

/// Component names from `a,b,c` or `*` (every registered component).
async fn components(app: &App, spec: &str) -> Result<Vec<String>> {
    let known: Vec<String> = app
        .store
        .components()
        .await?
        .into_iter()
        .map(|c| c.component_name)
        .collect();
    if spec.trim() == "*" {
        let mut all = known;
        all.sort();
        all.dedup();
        return Ok(all);
    }
    let mut out = Vec::new();
    for c in spec.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        if !known.iter().any(|k| k == c) {
            return Err(operate_error(&format!("unknown component {c}")));
        }
        out.push(c.to_string());
    }
    Ok(out)
}

fn datasets(v: &Value) -> Result<Vec<String>> {
    match v {
        Value::Array(items) => items.iter().map(dataset_value).collect(),
        other => Err(operate_error(&format!(
            "dataset must be a list of {{namespace, name}}, got {other}"
        ))),
    }
}

/// `/v2/permission/resource/grant`.
pub async fn grant_resource(app: &App, r: &ResourceGrant) -> Result<()> {
    let mut grants = Vec::new();
    if let Some(c) = &r.component {
        for name in components(app, c).await? {
            grants.push((COMPONENT.to_string(), name));
        }
    }
    if let Some(d) = &r.dataset {
        if d == "*" {
            return Err(operate_error("dataset `*` cannot be granted"));
        }
        for v in datasets(d)? {
            grants.push((DATASET.to_string(), v));
        }
    }
    app.store
        .grant_resources(&r.party_id, &grants, app.now())
        .await?;
    Ok(())
}

/// `/v2/permission/resource/delete`: `component: "*"` / `dataset: "*"` revoke every grant of
/// that kind.
pub async fn delete_resource(app: &App, r: &ResourceGrant) -> Result<()> {
    let mut revoke: Vec<(String, Option<String>)> = Vec::new();
    if let Some(c) = &r.component {
        if c.trim() == "*" {
            revoke.push((COMPONENT.into(), None));
        } else {
            for name in components(app, c).await? {
                revoke.push((COMPONENT.into(), Some(name)));
            }
        }
    }
    if let Some(d) = &r.dataset {
        if d == "*" {
            revoke.push((DATASET.into(), None));
        } else {
            for v in datasets(d)? {
                revoke.push((DATASET.into(), Some(v)));
            }
        }
    }
    app.store.revoke_resources(&r.party_id, &revoke).await?;
    Ok(())
}

/// `/v2/permission/resource/query`: `{"dataset": [{name, namespace}], "component": [names]}`.
pub async fn query_resource(app: &App, party_id: &str) -> Result<Value> {
    let mut by: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    by.insert(DATASET, Vec::new());
    by.insert(COMPONENT, Vec::new());
    for (kind, value) in app.store.resources_of(party_id).await? {
        match kind.as_str() {
            DATASET => by
                .get_mut(DATASET)
                .into_iter()
                .for_each(|l| l.push(serde_json::from_str(&value).unwrap_or(Value::Null))),
            _ => by
                .get_mut(COMPONENT)
                .into_iter()
                .for_each(|l| l.push(Value::String(value.clone()))),
        }
    }
    Ok(json!(by))
}

/// Whether this site checks partners' grants when they create jobs here: FATE's
/// `authentication.permission`, and also site authentication — a site that authenticates its
/// partners and granted a party nothing refuses that party's jobs.
pub fn enforced(app: &App) -> bool {
    enforced_by(&app.config.auth)
}

pub fn enforced_by(auth: &crate::config::AuthSwitches) -> bool {
    auth.permission || auth.site()
}

/// Checks, for a job an initiator party creates on this site, that the initiator was granted
/// every component this site's party runs (except the built-in `fate_flow` provider's) and
/// every dataset its reader tasks read (`namespace`/`name`). The own party and `0` are
/// always allowed. 5005 names the first missing grant, components first, as FATE does.
pub async fn check_job(
    app: &App,
    initiator: &str,
    tasks: &[ferroflow_core::dag::PlannedTask],
) -> Result<()> {
    if !enforced(app)
        || initiator == "0"
        || app
            .fed
            .is_local(&ferroflow_core::id::PartyId::new(initiator))
    {
        return Ok(());
    }
    let granted = app.store.resources_of(initiator).await?;
    let has = |kind: &str, value: &str| granted.iter().any(|(k, v)| k == kind && v == value);
    let mut seen = std::collections::BTreeSet::new();
    for t in tasks {
        if t.provider.name == ferroflow_core::provider::FLOW_PROVIDER
            || !seen.insert(t.component.clone())
        {
            continue;
        }
        if !has(COMPONENT, &t.component) {
            return Err(Error::refuse(
                Denial::Permission,
                &[("type", COMPONENT), ("component_name", &t.component)],
            ));
        }
    }
    // FATE's `reader`, and the demo provider's `demo_reader` when it reads a table by
    // namespace and name (its `path` form reads a confined file: its component grant covers it).
    let reads_table = |t: &&ferroflow_core::dag::PlannedTask| {
        t.component.eq_ignore_ascii_case("reader")
            || (t.component == "demo_reader"
                && (t.parameters.contains_key("namespace") || t.parameters.contains_key("name")))
    };
    for t in tasks.iter().filter(reads_table) {
        let p = &t.parameters;
        let d = json!({
            "name": p.get("name").cloned().unwrap_or(Value::Null),
            "namespace": p.get("namespace").cloned().unwrap_or(Value::Null),
        });
        let value = d.to_string();
        if !has(DATASET, &value) {
            return Err(Error::refuse(
                Denial::Permission,
                &[("type", DATASET), ("dataset", &value)],
            ));
        }
    }
    Ok(())
}

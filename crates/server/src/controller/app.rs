//! `/v2/app/*`: client, site and partner credentials (`api.md` §7.1, §10.1).
//!
//! As upstream, these routes answer `6001 func <name>, function restricted` while
//! authentication (`authentication.client` / `.site`) is off. With it on, the apps made here
//! are what [`crate::auth`] verifies signatures against (and signs commands with, for partner
//! apps), and the app rules apply to client apps through the `appId` header. Tokens are
//! returned only by the create answers, the one moment they are handed out; queries mask
//! them, so a list never leaks a credential.

use serde_json::{Value, json};

use super::{Denial, Error, Missing, Result};
use crate::app::App;
use crate::store::{AppRow, PartnerRow};

pub const CLIENT: &str = "client";
pub const SITE: &str = "site";
pub const ADMIN: &str = "admin";
/// What list queries show instead of a token.
pub const MASKED: &str = "******";

/// Every role an app can be granted, in FATE's order (`RuntimeConfig.CLIENT_ROLE`).
pub const ROLES: [&str; 7] = [
    "client",
    "super_client",
    "site",
    "worker",
    "super_worker",
    "bfia",
    "super_bfia",
];

/// 6001 unless authentication is on.
pub fn restricted(app: &App, func: &str) -> Result<()> {
    if app.config.auth.any() {
        Ok(())
    } else {
        Err(Error::refuse_with(
            Denial::Restricted,
            format!("func {func}, function restricted"),
        ))
    }
}

/// `n` characters of `alphabet`, from fresh v4 uuids.
fn random(alphabet: &[u8], n: usize) -> String {
    let mut out = String::with_capacity(n);
    while out.len() < n {
        for b in uuid::Uuid::new_v4().as_bytes() {
            if out.len() == n {
                break;
            }
            out.push(alphabet[*b as usize % alphabet.len()] as char);
        }
    }
    out
}

/// 8 random decimal digits (FATE's `generate_app_id`).
pub fn new_app_id() -> String {
    random(b"0123456789", 8)
}

/// 16 random letters and digits (FATE's `generate_app_token`).
pub fn new_app_token() -> String {
    random(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        16,
    )
}

fn record(a: &AppRow) -> Value {
    json!({
        "app_id": a.app_id, "app_name": a.app_name, "app_token": MASKED, "app_type": a.app_type,
        "create_time": a.create_time, "update_time": a.update_time,
    })
}

/// FATE's well-known admin token: never accepted, replaced where an older store has it.
const WELL_KNOWN_TOKEN: &str = "fate_flow_admin";

/// At start, with authentication on: the `admin` app with every super role — made with a
/// random token when there is none (or it has FATE's well-known one) and written to
/// `<data_dir>/credentials/admin.json` for the operator — and a site app for this party (a
/// new token at every start) that is also the partner entry of this party, as upstream does,
/// so the site signs the commands to its own parties.
pub async fn bootstrap(app: &App) -> Result<()> {
    if !app.config.auth.any() {
        return Ok(());
    }
    let now = app.now();
    let existing = app.store.apps(Some(ADMIN), None, None).await?;
    let admin = match existing.into_iter().next() {
        Some(a) if a.app_type == ADMIN && a.app_token != WELL_KNOWN_TOKEN => a,
        _ => {
            let a = AppRow {
                app_id: ADMIN.into(),
                app_name: ADMIN.into(),
                app_token: format!("{}{}", new_app_token(), new_app_token()),
                app_type: ADMIN.into(),
                create_time: now,
                update_time: now,
            };
            app.store.upsert_app(&a).await?;
            tracing::info!("admin app created");
            a
        }
    };
    let file = crate::auth::credentials::admin_file(&app.config.data_dir);
    if crate::auth::credentials::read_admin_file(&app.config.data_dir)
        != Some((admin.app_id.clone(), admin.app_token.clone()))
    {
        crate::auth::credentials::write_admin_file(
            &app.config.data_dir,
            &admin.app_id,
            &admin.app_token,
        )
        .map_err(|source| Error::File {
            path: file.clone(),
            source,
        })?;
    }
    tracing::info!(file = %file.display(), "admin credentials");
    app.store
        .set_roles(
            ADMIN,
            &["super_client", "site", "super_worker", "super_bfia"],
            now,
        )
        .await?;
    let own = app.config.party_id.to_string();
    let token = new_app_token();
    app.store
        .upsert_app(&AppRow {
            app_id: own.clone(),
            app_name: own.clone(),
            app_token: token.clone(),
            app_type: SITE.into(),
            create_time: now,
            update_time: now,
        })
        .await?;
    app.store.set_roles(&own, &[SITE], now).await?;
    app.store
        .insert_partner(
            &PartnerRow {
                party_id: own.clone(),
                app_id: own,
                app_token: token,
                create_time: now,
                update_time: now,
            },
            true,
        )
        .await?;
    Ok(())
}

/// The calling app (`appId` header) and its roles, for the client-app rules.
async fn caller(app: &App, app_id: Option<&str>) -> Result<(String, Vec<String>)> {
    let Some(id) = app_id.filter(|i| !i.is_empty()) else {
        return Err(Error::refuse(Denial::Permission, &[("app_id", "")]));
    };
    if app.store.app(id).await?.is_none() {
        return Err(Error::refuse(Missing::App, &[("app_id", id)]));
    }
    let roles = app.store.roles_of(id).await?;
    if !roles.iter().any(|r| r == "client" || r == "super_client") {
        return Err(Error::refuse(Denial::Permission, &[("app_id", id)]));
    }
    Ok((id.to_string(), roles))
}

fn is_super(roles: &[String]) -> bool {
    roles.iter().any(|r| r == "super_client")
}

async fn insert(app: &App, name: &str, kind: &str) -> Result<Value> {
    let now = app.now();
    let a = AppRow {
        app_id: new_app_id(),
        app_name: name.to_string(),
        app_token: new_app_token(),
        app_type: kind.to_string(),
        create_time: now,
        update_time: now,
    };
    if !app.store.insert_app(&a).await? {
        return Ok(json!({}));
    }
    Ok(
        json!({"app_name": a.app_name, "app_id": a.app_id, "app_token": a.app_token, "app_type": a.app_type}),
    )
}

/// `/v2/app/client/create`.
pub async fn create_client(app: &App, caller_id: Option<&str>, name: &str) -> Result<Value> {
    restricted(app, "create_client_app")?;
    let (_, roles) = caller(app, caller_id).await?;
    if !is_super(&roles) {
        return Err(Error::refuse(Denial::Permission, &[("app_name", name)]));
    }
    insert(app, name, CLIENT).await
}

/// `/v2/app/client/delete`.
pub async fn delete_client(app: &App, caller_id: Option<&str>, app_id: &str) -> Result<bool> {
    restricted(app, "delete_client_app")?;
    let (me, roles) = caller(app, caller_id).await?;
    if !is_super(&roles) || app_id == me || app_id == ADMIN {
        return Err(Error::refuse(Denial::Permission, &[("app_id", app_id)]));
    }
    if is_super(&app.store.roles_of(app_id).await?) {
        return Err(Error::refuse(Denial::Permission, &[("app_id", app_id)]));
    }
    let rows = app.store.apps(Some(app_id), None, Some(CLIENT)).await?;
    if rows.is_empty() {
        return Ok(false);
    }
    Ok(app.store.delete_apps(Some(app_id), None).await? > 0)
}

/// `/v2/app/client/query`: nothing without a filter; a plain client sees only itself.
pub async fn query_client(
    app: &App,
    caller_id: Option<&str>,
    app_id: Option<&str>,
    app_name: Option<&str>,
) -> Result<Vec<Value>> {
    restricted(app, "query_client_app")?;
    let (me, roles) = caller(app, caller_id).await?;
    if app_id.is_none() && app_name.is_none() {
        return Ok(Vec::new());
    }
    let rows = app.store.apps(app_id, app_name, None).await?;
    if !is_super(&roles) && rows.iter().any(|a| a.app_id != me) {
        return Err(Error::refuse(Denial::Permission, &[("app_id", &me)]));
    }
    Ok(rows.iter().map(record).collect())
}

/// `/v2/app/site/create`: credentials a partner site uses to call this one.
pub async fn create_site(app: &App, party_id: &str) -> Result<Value> {
    restricted(app, "create_site_app")?;
    insert(app, party_id, SITE).await
}

pub async fn delete_site(app: &App, party_id: &str) -> Result<bool> {
    restricted(app, "delete_site_app")?;
    Ok(app.store.delete_apps(None, Some((party_id, SITE))).await? > 0)
}

pub async fn query_site(app: &App, party_id: &str) -> Result<Vec<Value>> {
    restricted(app, "query_site_app")?;
    let rows = app.store.apps(None, Some(party_id), Some(SITE)).await?;
    Ok(rows.iter().map(record).collect())
}

/// `/v2/app/partner/create`: credentials this site signs its calls to a partner with.
pub async fn create_partner(
    app: &App,
    party_id: &str,
    app_id: &str,
    app_token: &str,
) -> Result<Value> {
    restricted(app, "create_partner_app")?;
    let now = app.now();
    let row = PartnerRow {
        party_id: party_id.to_string(),
        app_id: app_id.to_string(),
        app_token: app_token.to_string(),
        create_time: now,
        update_time: now,
    };
    if !app.store.insert_partner(&row, false).await? {
        return Ok(json!({}));
    }
    Ok(json!({"party_id": party_id, "app_id": app_id, "app_token": app_token}))
}

pub async fn delete_partner(app: &App, party_id: &str) -> Result<bool> {
    restricted(app, "delete_partner_app")?;
    Ok(app.store.delete_partner(party_id).await?)
}

/// `/v2/app/partner/query`: nothing without a filter, as upstream.
pub async fn query_partner(app: &App, party_id: Option<&str>) -> Result<Vec<Value>> {
    restricted(app, "query_partner_app")?;
    let Some(p) = party_id else {
        return Ok(Vec::new());
    };
    Ok(app
        .store
        .partners(Some(p))
        .await?
        .into_iter()
        .map(|p| {
            json!({"party_id": p.party_id, "app_id": p.app_id, "app_token": MASKED,
                   "create_time": p.create_time, "update_time": p.update_time})
        })
        .collect())
}

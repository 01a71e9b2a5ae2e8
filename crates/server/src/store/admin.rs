//! Apps and partner credentials, role and resource grants, the registry of other servers.
//!
//! The apps, roles, partner apps and grants that authentication reads on every call are read
//! through [`Credentials`] (`store::cache`): every write below empties it when it is done.

use std::time::Instant;

use serde_json::Value;
use sqlx::any::AnyRow;

use super::cache::Ttl;
use super::filter::Filter;
use super::{Result, Store, get_i64, get_json, get_str, to_json};

/// What authentication reads on every call, as last read from the database (`store::cache`).
#[derive(Default)]
pub struct Credentials {
    /// Apps by id (only apps that exist: unknown ids are read every time).
    apps: Ttl<String, AppRow>,
    /// Roles by app id.
    roles: Ttl<String, Vec<String>>,
    /// The partner app of a party, or none.
    partners: Ttl<String, Option<PartnerRow>>,
    /// `(type, value)` grants by party.
    grants: Ttl<String, Vec<(String, String)>>,
}

impl Credentials {
    fn invalidate(&self) {
        self.apps.invalidate();
        self.roles.invalidate();
        self.partners.invalidate();
        self.grants.invalidate();
    }

    /// A guard that empties the cache when the write it is taken in ends, on every path
    /// (a failed transaction may still have changed something: a commit whose answer was lost).
    fn stale(&self) -> Stale<'_> {
        Stale(self)
    }
}

struct Stale<'a>(&'a Credentials);

impl Drop for Stale<'_> {
    fn drop(&mut self) {
        self.0.invalidate();
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AppRow {
    pub app_id: String,
    pub app_name: String,
    pub app_token: String,
    pub app_type: String,
    pub create_time: i64,
    pub update_time: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PartnerRow {
    pub party_id: String,
    pub app_id: String,
    pub app_token: String,
    pub create_time: i64,
    pub update_time: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServerRow {
    pub server_name: String,
    pub host: String,
    pub port: i64,
    pub protocol: String,
    pub create_time: i64,
    pub update_time: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRow {
    pub server_name: String,
    pub service_name: String,
    pub url: String,
    pub method: String,
    pub params: Value,
    pub data: Value,
    pub headers: Value,
    pub create_time: i64,
    pub update_time: i64,
}

impl AppRow {
    fn from_row(r: &AnyRow) -> Result<Self> {
        Ok(Self {
            app_id: get_str(r, "f_app_id")?,
            app_name: get_str(r, "f_app_name")?,
            app_token: get_str(r, "f_app_token")?,
            app_type: get_str(r, "f_app_type")?,
            create_time: get_i64(r, "f_create_time")?,
            update_time: get_i64(r, "f_update_time")?,
        })
    }
}

impl PartnerRow {
    fn from_row(r: &AnyRow) -> Result<Self> {
        Ok(Self {
            party_id: get_str(r, "f_party_id")?,
            app_id: get_str(r, "f_app_id")?,
            app_token: get_str(r, "f_app_token")?,
            create_time: get_i64(r, "f_create_time")?,
            update_time: get_i64(r, "f_update_time")?,
        })
    }
}

impl ServerRow {
    fn from_row(r: &AnyRow) -> Result<Self> {
        Ok(Self {
            server_name: get_str(r, "f_server_name")?,
            host: get_str(r, "f_host")?,
            port: get_i64(r, "f_port")?,
            protocol: get_str(r, "f_protocol")?,
            create_time: get_i64(r, "f_create_time")?,
            update_time: get_i64(r, "f_update_time")?,
        })
    }
}

impl ServiceRow {
    fn from_row(r: &AnyRow) -> Result<Self> {
        Ok(Self {
            server_name: get_str(r, "f_server_name")?,
            service_name: get_str(r, "f_service_name")?,
            url: get_str(r, "f_url")?,
            method: get_str(r, "f_method")?,
            params: get_json(r, "f_params")?,
            data: get_json(r, "f_data")?,
            headers: get_json(r, "f_headers")?,
            create_time: get_i64(r, "f_create_time")?,
            update_time: get_i64(r, "f_update_time")?,
        })
    }
}

const APP: &str = "SELECT f_app_id, f_app_name, f_app_token, f_app_type, f_create_time, f_update_time FROM t_app_info";
const PARTNER: &str = "SELECT f_party_id, f_app_id, f_app_token, f_create_time, f_update_time FROM t_partner_app_info";
const SERVER: &str =
    "SELECT f_server_name, f_host, f_port, f_protocol, f_create_time, f_update_time FROM t_server";
const SERVICE: &str = "SELECT f_server_name, f_service_name, f_url, f_method, f_params, f_data, f_headers, \
     f_create_time, f_update_time FROM t_service";

impl Store {
    /// Inserts an app; `false` when its id exists already.
    pub async fn insert_app(&self, a: &AppRow) -> Result<bool> {
        let _stale = self.credentials.stale();
        let done = sqlx::query(self.sql(
            "INSERT INTO t_app_info (f_app_id, f_app_name, f_app_token, f_app_type, f_create_time, f_update_time)
             SELECT ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM t_app_info WHERE f_app_id = ?)",
        ))
        .bind(a.app_id.clone())
        .bind(a.app_name.clone())
        .bind(a.app_token.clone())
        .bind(a.app_type.clone())
        .bind(a.create_time)
        .bind(a.update_time)
        .bind(a.app_id.clone())
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Creates or replaces an app (the start-up apps of an authenticating site).
    pub async fn upsert_app(&self, a: &AppRow) -> Result<()> {
        let _stale = self.credentials.stale();
        let mut tx = self.write.begin().await?;
        sqlx::query(self.sql("DELETE FROM t_app_info WHERE f_app_id = ?"))
            .bind(a.app_id.clone())
            .execute(&mut *tx)
            .await?;
        sqlx::query(self.sql(
            "INSERT INTO t_app_info (f_app_id, f_app_name, f_app_token, f_app_type, f_create_time, f_update_time)
             VALUES (?, ?, ?, ?, ?, ?)",
        ))
        .bind(a.app_id.clone())
        .bind(a.app_name.clone())
        .bind(a.app_token.clone())
        .bind(a.app_type.clone())
        .bind(a.create_time)
        .bind(a.update_time)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Apps matching every given filter (`None` matches all).
    pub async fn apps(
        &self,
        app_id: Option<&str>,
        app_name: Option<&str>,
        app_type: Option<&str>,
    ) -> Result<Vec<AppRow>> {
        let filter = Filter::new().equal([
            ("f_app_id", app_id),
            ("f_app_name", app_name),
            ("f_app_type", app_type),
        ]);
        let rows = self
            .select(APP, &filter, " ORDER BY f_create_time, f_app_id")
            .await?;
        rows.iter().map(AppRow::from_row).collect()
    }

    /// Deletes apps (and their roles) matching the filters; how many were deleted.
    pub async fn delete_apps(
        &self,
        app_id: Option<&str>,
        app_name_and_type: Option<(&str, &str)>,
    ) -> Result<u64> {
        let _stale = self.credentials.stale();
        let ids: Vec<String> = self
            .apps(
                app_id,
                app_name_and_type.map(|(n, _)| n),
                app_name_and_type.map(|(_, t)| t),
            )
            .await?
            .into_iter()
            .map(|a| a.app_id)
            .collect();
        let mut tx = self.write.begin().await?;
        for id in &ids {
            sqlx::query(self.sql("DELETE FROM t_app_info WHERE f_app_id = ?"))
                .bind(id.clone())
                .execute(&mut *tx)
                .await?;
            sqlx::query(self.sql("DELETE FROM t_app_role WHERE f_app_id = ?"))
                .bind(id.clone())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(ids.len() as u64)
    }

    /// Inserts a partner's credentials; `false` when the party has an entry already.
    pub async fn insert_partner(&self, p: &PartnerRow, replace: bool) -> Result<bool> {
        let _stale = self.credentials.stale();
        let mut tx = self.write.begin().await?;
        if replace {
            sqlx::query(self.sql("DELETE FROM t_partner_app_info WHERE f_party_id = ?"))
                .bind(p.party_id.clone())
                .execute(&mut *tx)
                .await?;
        }
        let done = sqlx::query(self.sql(
            "INSERT INTO t_partner_app_info (f_party_id, f_app_id, f_app_token, f_create_time, f_update_time)
             SELECT ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM t_partner_app_info WHERE f_party_id = ?)",
        ))
        .bind(p.party_id.clone())
        .bind(p.app_id.clone())
        .bind(p.app_token.clone())
        .bind(p.create_time)
        .bind(p.update_time)
        .bind(p.party_id.clone())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn partners(&self, party_id: Option<&str>) -> Result<Vec<PartnerRow>> {
        let rows = match party_id {
            Some(p) => {
                let sql = self.dynamic(format!("{PARTNER} WHERE f_party_id = ?"));
                sqlx::query(&sql)
                    .bind(p.to_string())
                    .fetch_all(&self.read)
                    .await?
            }
            None => {
                let sql = self.dynamic(format!("{PARTNER} ORDER BY f_party_id"));
                sqlx::query(&sql).fetch_all(&self.read).await?
            }
        };
        rows.iter().map(PartnerRow::from_row).collect()
    }

    pub async fn delete_partner(&self, party_id: &str) -> Result<bool> {
        let _stale = self.credentials.stale();
        let done = sqlx::query(self.sql("DELETE FROM t_partner_app_info WHERE f_party_id = ?"))
            .bind(party_id.to_string())
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Replaces every role of an app by `roles`.
    pub async fn set_roles(&self, app_id: &str, roles: &[&str], now: i64) -> Result<()> {
        let _stale = self.credentials.stale();
        let mut tx = self.write.begin().await?;
        sqlx::query(self.sql("DELETE FROM t_app_role WHERE f_app_id = ?"))
            .bind(app_id.to_string())
            .execute(&mut *tx)
            .await?;
        for r in roles {
            sqlx::query(
                self.sql(
                    "INSERT INTO t_app_role (f_app_id, f_role, f_create_time) VALUES (?, ?, ?)",
                ),
            )
            .bind(app_id.to_string())
            .bind(r.to_string())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn delete_role(&self, app_id: &str, role: &str) -> Result<bool> {
        let _stale = self.credentials.stale();
        let done =
            sqlx::query(self.sql("DELETE FROM t_app_role WHERE f_app_id = ? AND f_role = ?"))
                .bind(app_id.to_string())
                .bind(role.to_string())
                .execute(&self.write)
                .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The app `app_id`, read through the cache.
    pub async fn app(&self, app_id: &str) -> Result<Option<AppRow>> {
        let cache = &self.credentials.apps;
        let now = Instant::now();
        if let Some(a) = cache.get(app_id, now) {
            return Ok(Some(a));
        }
        let generation = cache.generation();
        let found = self
            .apps(Some(app_id), None, None)
            .await?
            .into_iter()
            .next();
        if let Some(a) = &found {
            cache.put(app_id.to_string(), a.clone(), generation, now);
        }
        Ok(found)
    }

    /// The partner app of `party_id`, read through the cache.
    pub async fn partner(&self, party_id: &str) -> Result<Option<PartnerRow>> {
        let cache = &self.credentials.partners;
        let now = Instant::now();
        if let Some(p) = cache.get(party_id, now) {
            return Ok(p);
        }
        let generation = cache.generation();
        let found = self.partners(Some(party_id)).await?.into_iter().next();
        cache.put(party_id.to_string(), found.clone(), generation, now);
        Ok(found)
    }

    /// The roles of an app, read through the cache.
    pub async fn roles_of(&self, app_id: &str) -> Result<Vec<String>> {
        let cache = &self.credentials.roles;
        let now = Instant::now();
        if let Some(r) = cache.get(app_id, now) {
            return Ok(r);
        }
        let generation = cache.generation();
        let roles = self.read_roles(app_id).await?;
        cache.put(app_id.to_string(), roles.clone(), generation, now);
        Ok(roles)
    }

    async fn read_roles(&self, app_id: &str) -> Result<Vec<String>> {
        let rows = sqlx::query(self.sql(
            "SELECT f_role FROM t_app_role WHERE f_app_id = ? ORDER BY f_create_time, f_role",
        ))
        .bind(app_id.to_string())
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(|r| get_str(r, "f_role")).collect()
    }

    /// Grants resources to a party; grants already there are kept.
    pub async fn grant_resources(
        &self,
        party_id: &str,
        grants: &[(String, String)],
        now: i64,
    ) -> Result<()> {
        let _stale = self.credentials.stale();
        let mut tx = self.write.begin().await?;
        for (kind, value) in grants {
            sqlx::query(self.sql(
                "INSERT INTO t_resource_permission (f_party_id, f_type, f_value, f_create_time)
                 SELECT ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM t_resource_permission
                   WHERE f_party_id = ? AND f_type = ? AND f_value = ?)",
            ))
            .bind(party_id.to_string())
            .bind(kind.clone())
            .bind(value.clone())
            .bind(now)
            .bind(party_id.to_string())
            .bind(kind.clone())
            .bind(value.clone())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Revokes grants; a `None` value revokes every grant of that type.
    pub async fn revoke_resources(
        &self,
        party_id: &str,
        grants: &[(String, Option<String>)],
    ) -> Result<()> {
        let _stale = self.credentials.stale();
        let mut tx = self.write.begin().await?;
        for (kind, value) in grants {
            match value {
                Some(v) => {
                    sqlx::query(self.sql(
                        "DELETE FROM t_resource_permission WHERE f_party_id = ? AND f_type = ? AND f_value = ?",
                    ))
                    .bind(party_id.to_string())
                    .bind(kind.clone())
                    .bind(v.clone())
                    .execute(&mut *tx)
                    .await?;
                }
                None => {
                    sqlx::query(self.sql(
                        "DELETE FROM t_resource_permission WHERE f_party_id = ? AND f_type = ?",
                    ))
                    .bind(party_id.to_string())
                    .bind(kind.clone())
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// `(type, value)` of every grant to a party, in the order they were made (read through
    /// the cache).
    pub async fn resources_of(&self, party_id: &str) -> Result<Vec<(String, String)>> {
        let cache = &self.credentials.grants;
        let now = Instant::now();
        if let Some(g) = cache.get(party_id, now) {
            return Ok(g);
        }
        let generation = cache.generation();
        let grants = self.read_resources(party_id).await?;
        cache.put(party_id.to_string(), grants.clone(), generation, now);
        Ok(grants)
    }

    async fn read_resources(&self, party_id: &str) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query(self.sql(
            "SELECT f_type, f_value FROM t_resource_permission WHERE f_party_id = ?
             ORDER BY f_create_time, f_type, f_value",
        ))
        .bind(party_id.to_string())
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| Ok((get_str(r, "f_type")?, get_str(r, "f_value")?)))
            .collect()
    }

    pub async fn upsert_server(&self, s: &ServerRow) -> Result<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query(self.sql("DELETE FROM t_server WHERE f_server_name = ?"))
            .bind(s.server_name.clone())
            .execute(&mut *tx)
            .await?;
        sqlx::query(self.sql(
            "INSERT INTO t_server (f_server_name, f_host, f_port, f_protocol, f_create_time, f_update_time)
             VALUES (?, ?, ?, ?, ?, ?)",
        ))
        .bind(s.server_name.clone())
        .bind(s.host.clone())
        .bind(s.port)
        .bind(s.protocol.clone())
        .bind(s.create_time)
        .bind(s.update_time)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn servers(&self, server_name: Option<&str>) -> Result<Vec<ServerRow>> {
        let rows = match server_name {
            Some(n) => {
                let sql = self.dynamic(format!("{SERVER} WHERE f_server_name = ?"));
                sqlx::query(&sql)
                    .bind(n.to_string())
                    .fetch_all(&self.read)
                    .await?
            }
            None => {
                let sql = self.dynamic(format!("{SERVER} ORDER BY f_server_name"));
                sqlx::query(&sql).fetch_all(&self.read).await?
            }
        };
        rows.iter().map(ServerRow::from_row).collect()
    }

    pub async fn delete_server(&self, server_name: &str) -> Result<bool> {
        let done = sqlx::query(self.sql("DELETE FROM t_server WHERE f_server_name = ?"))
            .bind(server_name.to_string())
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn upsert_service(&self, s: &ServiceRow) -> Result<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query(
            self.sql("DELETE FROM t_service WHERE f_server_name = ? AND f_service_name = ?"),
        )
        .bind(s.server_name.clone())
        .bind(s.service_name.clone())
        .execute(&mut *tx)
        .await?;
        sqlx::query(self.sql(
            "INSERT INTO t_service (f_server_name, f_service_name, f_url, f_method, f_params, f_data,
                f_headers, f_create_time, f_update_time)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ))
        .bind(s.server_name.clone())
        .bind(s.service_name.clone())
        .bind(s.url.clone())
        .bind(s.method.clone())
        .bind(to_json("service params", &s.params)?)
        .bind(to_json("service data", &s.data)?)
        .bind(to_json("service headers", &s.headers)?)
        .bind(s.create_time)
        .bind(s.update_time)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn service(
        &self,
        server_name: &str,
        service_name: &str,
    ) -> Result<Option<ServiceRow>> {
        let sql = self.dynamic(format!(
            "{SERVICE} WHERE f_server_name = ? AND f_service_name = ?"
        ));
        let row = sqlx::query(&sql)
            .bind(server_name.to_string())
            .bind(service_name.to_string())
            .fetch_optional(&self.read)
            .await?;
        row.as_ref().map(ServiceRow::from_row).transpose()
    }

    pub async fn delete_service(&self, server_name: &str, service_name: &str) -> Result<bool> {
        let done = sqlx::query(
            self.sql("DELETE FROM t_service WHERE f_server_name = ? AND f_service_name = ?"),
        )
        .bind(server_name.to_string())
        .bind(service_name.to_string())
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}

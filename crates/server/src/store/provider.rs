//! Providers, their components, and the engine registry (cores of the local computing
//! engine).

use serde_json::Value;
use sqlx::any::AnyRow;

use ferroflow_core::provider::Device;

use super::{Result, Store, get_i64, get_json, get_parsed, get_str, to_json};

#[derive(Debug, Clone, PartialEq)]
pub struct ProviderRow {
    /// `name:version@device`.
    pub provider_name: String,
    pub name: String,
    pub version: String,
    pub device: Device,
    pub metadata: Value,
    pub create_time: i64,
    pub update_time: i64,
}

impl ProviderRow {
    fn from_row(r: &AnyRow) -> Result<Self> {
        Ok(Self {
            provider_name: get_str(r, "f_provider_name")?,
            name: get_str(r, "f_name")?,
            version: get_str(r, "f_version")?,
            device: get_parsed(r, "f_device")?,
            metadata: get_json(r, "f_metadata")?,
            create_time: get_i64(r, "f_create_time")?,
            update_time: get_i64(r, "f_update_time")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ComponentRow {
    pub provider_name: String,
    pub component_name: String,
    pub description: Value,
}

/// Filters of `/v2/provider/query|delete` (all exact).
#[derive(Debug, Clone, Default)]
pub struct ProviderFilter {
    pub name: Option<String>,
    pub device: Option<String>,
    pub version: Option<String>,
    pub provider_name: Option<String>,
}

impl Store {
    /// Creates or replaces a provider and its component list. Returns true if it was new.
    pub async fn upsert_provider(
        &self,
        p: &ProviderRow,
        components: &[(String, Value)],
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.write.begin().await?;
        let existed = sqlx::query(
            self.sql("SELECT f_create_time FROM t_provider_info WHERE f_provider_name = ?"),
        )
        .bind(p.provider_name.clone())
        .fetch_optional(&mut *tx)
        .await?;
        let created = existed.is_none();
        sqlx::query(self.sql("DELETE FROM t_provider_info WHERE f_provider_name = ?"))
            .bind(p.provider_name.clone())
            .execute(&mut *tx)
            .await?;
        let create_time = match &existed {
            Some(r) => get_i64(r, "f_create_time")?,
            None => now,
        };
        sqlx::query(self.sql(
            "INSERT INTO t_provider_info (f_provider_name, f_name, f_version, f_device, f_metadata,
                f_create_time, f_update_time) VALUES (?, ?, ?, ?, ?, ?, ?)",
        ))
        .bind(p.provider_name.clone())
        .bind(p.name.clone())
        .bind(p.version.clone())
        .bind(p.device.as_str())
        .bind(to_json("metadata", &p.metadata)?)
        .bind(create_time)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(self.sql("DELETE FROM t_component_info WHERE f_provider_name = ?"))
            .bind(p.provider_name.clone())
            .execute(&mut *tx)
            .await?;
        for (name, desc) in components {
            sqlx::query(self.sql(
                "INSERT INTO t_component_info (f_provider_name, f_component_name, f_protocol, f_name,
                    f_version, f_device, f_component_description, f_create_time, f_update_time)
                 VALUES (?, ?, 'fate', ?, ?, ?, ?, ?, ?)",
            ))
            .bind(p.provider_name.clone())
            .bind(name.clone())
            .bind(p.name.clone())
            .bind(p.version.clone())
            .bind(p.device.as_str())
            .bind(to_json("component description", desc)?)
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(created)
    }

    pub async fn query_providers(&self, f: &ProviderFilter) -> Result<Vec<ProviderRow>> {
        let (cond, args) = provider_cond(f);
        let sql = self.dynamic(format!(
            "SELECT f_provider_name, f_name, f_version, f_device, f_metadata, f_create_time, f_update_time
             FROM t_provider_info{cond} ORDER BY f_create_time, f_provider_name"
        ));
        let mut q = sqlx::query(&sql);
        for a in args {
            q = q.bind(a);
        }
        let rows = q.fetch_all(&self.read).await?;
        rows.iter().map(ProviderRow::from_row).collect()
    }

    /// Deletes matching providers and their components; returns how many providers went.
    pub async fn delete_providers(&self, f: &ProviderFilter) -> Result<u64> {
        let names: Vec<String> = self
            .query_providers(f)
            .await?
            .into_iter()
            .map(|p| p.provider_name)
            .collect();
        let mut tx = self.write.begin().await?;
        for n in &names {
            for table in ["t_provider_info", "t_component_info"] {
                let sql = self.dynamic(format!("DELETE FROM {table} WHERE f_provider_name = ?"));
                sqlx::query(&sql).bind(n.clone()).execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        Ok(names.len() as u64)
    }

    pub async fn components(&self) -> Result<Vec<ComponentRow>> {
        let rows = sqlx::query(self.sql(
            "SELECT f_provider_name, f_component_name, f_component_description FROM t_component_info
             ORDER BY f_provider_name, f_component_name",
        ))
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ComponentRow {
                    provider_name: get_str(r, "f_provider_name")?,
                    component_name: get_str(r, "f_component_name")?,
                    description: get_json(r, "f_component_description")?,
                })
            })
            .collect()
    }

    /// Registers the computing engine's cores at start. A changed total moves the remaining
    /// cores by the difference, so jobs holding cores across a restart stay accounted.
    pub async fn register_engine(&self, name: &str, cores: i64, now: i64) -> Result<()> {
        let mut tx = self.write.begin().await?;
        let row = sqlx::query(self.sql(
            "SELECT f_cores FROM t_engine_registry WHERE f_engine_name = ? AND f_engine_type = 'computing'",
        ))
        .bind(name.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        match row {
            None => {
                sqlx::query(self.sql(
                    "INSERT INTO t_engine_registry (f_engine_name, f_engine_type, f_engine_config, f_cores,
                        f_memory, f_remaining_cores, f_remaining_memory, f_create_time, f_update_time)
                     VALUES (?, 'computing', '{}', ?, 0, ?, 0, ?, ?)",
                ))
                .bind(name.to_string())
                .bind(cores)
                .bind(cores)
                .bind(now)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            Some(r) => {
                let old = get_i64(&r, "f_cores")?;
                sqlx::query(self.sql(
                    "UPDATE t_engine_registry SET f_cores = ?, f_remaining_cores = f_remaining_cores + ?,
                        f_update_time = ? WHERE f_engine_name = ? AND f_engine_type = 'computing'",
                ))
                .bind(cores)
                .bind(cores - old)
                .bind(now)
                .bind(name.to_string())
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn engine_cores_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        name: &str,
    ) -> Result<(i64, i64)> {
        let row = sqlx::query(self.sql(
            "SELECT f_cores, f_remaining_cores FROM t_engine_registry
             WHERE f_engine_name = ? AND f_engine_type = 'computing'",
        ))
        .bind(name.to_string())
        .fetch_optional(&mut **tx)
        .await?;
        match row {
            Some(r) => Ok((get_i64(&r, "f_cores")?, get_i64(&r, "f_remaining_cores")?)),
            None => Ok((0, 0)),
        }
    }

    /// (total, remaining) cores of a computing engine.
    pub async fn engine_cores(&self, name: &str) -> Result<(i64, i64)> {
        let mut tx = self.write.begin().await?;
        let c = self.engine_cores_in(&mut tx, name).await?;
        tx.commit().await?;
        Ok(c)
    }
}

fn provider_cond(f: &ProviderFilter) -> (String, Vec<String>) {
    let mut cond = String::from(" WHERE 1 = 1");
    let mut args = Vec::new();
    for (col, v) in [
        ("f_name", &f.name),
        ("f_device", &f.device),
        ("f_version", &f.version),
        ("f_provider_name", &f.provider_name),
    ] {
        if let Some(v) = v {
            cond.push_str(&format!(" AND {col} = ?"));
            args.push(v.clone());
        }
    }
    (cond, args)
}

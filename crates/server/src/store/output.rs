//! What tasks produce: data tracking rows and table metas, metrics, model metas. Every row
//! carries the task version, so older runs' outputs stay addressable after a rerun.

use serde_json::Value;
use sqlx::any::AnyRow;

use super::filter::Filter;
use super::{
    Result, Store, get_bool, get_i64, get_json, get_opt_i64, get_opt_str, get_str, to_json,
};

#[derive(Debug, Clone, PartialEq)]
pub struct TrackingRow {
    pub job_id: String,
    pub task_id: String,
    pub task_version: i64,
    pub task_name: String,
    pub role: String,
    pub party_id: String,
    pub output_key: String,
    pub index: i64,
    pub uri: String,
    pub namespace: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TableMetaRow {
    pub namespace: String,
    pub name: String,
    pub address: Value,
    pub engine: String,
    pub options: Value,
    pub partitions: i64,
    pub delimiter: String,
    pub have_head: bool,
    pub extend_sid: bool,
    pub data_meta: Value,
    pub count: Option<i64>,
    pub part_of_data: Value,
    pub source: Value,
    pub data_type: String,
    pub disable: bool,
    pub description: String,
    pub create_time: i64,
    pub update_time: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MetricRow {
    pub job_id: String,
    pub role: String,
    pub party_id: String,
    pub task_name: String,
    pub task_id: String,
    pub task_version: i64,
    pub name: String,
    pub kind: Option<String>,
    pub groups: Value,
    pub step_axis: Option<String>,
    pub data: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelMetaRow {
    /// `{model_id}/{model_version}/{role}/{party_id}/{task_name}/{output_key}` (FATE's key).
    pub storage_key: String,
    pub task_version: i64,
    pub model_id: String,
    pub model_version: String,
    pub job_id: String,
    pub role: String,
    pub party_id: String,
    pub task_name: String,
    pub output_key: String,
    pub type_name: String,
    pub meta_data: Value,
    pub storage_engine: String,
    pub create_time: i64,
}

impl TrackingRow {
    fn from_row(r: &AnyRow) -> Result<Self> {
        Ok(Self {
            job_id: get_str(r, "f_job_id")?,
            task_id: get_str(r, "f_task_id")?,
            task_version: get_i64(r, "f_task_version")?,
            task_name: get_str(r, "f_task_name")?,
            role: get_str(r, "f_role")?,
            party_id: get_str(r, "f_party_id")?,
            output_key: get_str(r, "f_output_key")?,
            index: get_i64(r, "f_index")?,
            uri: get_str(r, "f_uri")?,
            namespace: get_str(r, "f_namespace")?,
            name: get_str(r, "f_name")?,
        })
    }
}

impl TableMetaRow {
    fn from_row(r: &AnyRow) -> Result<Self> {
        Ok(Self {
            namespace: get_str(r, "f_namespace")?,
            name: get_str(r, "f_name")?,
            address: get_json(r, "f_address")?,
            engine: get_str(r, "f_engine")?,
            options: get_json(r, "f_options")?,
            partitions: get_i64(r, "f_partitions")?,
            delimiter: get_str(r, "f_delimiter")?,
            have_head: get_bool(r, "f_have_head")?,
            extend_sid: get_bool(r, "f_extend_sid")?,
            data_meta: get_json(r, "f_data_meta")?,
            count: get_opt_i64(r, "f_count")?,
            part_of_data: get_json(r, "f_part_of_data")?,
            source: get_json(r, "f_source")?,
            data_type: get_str(r, "f_data_type")?,
            disable: get_bool(r, "f_disable")?,
            description: get_str(r, "f_description")?,
            create_time: get_i64(r, "f_create_time")?,
            update_time: get_i64(r, "f_update_time")?,
        })
    }
}

impl MetricRow {
    fn from_row(r: &AnyRow) -> Result<Self> {
        Ok(Self {
            job_id: get_str(r, "f_job_id")?,
            role: get_str(r, "f_role")?,
            party_id: get_str(r, "f_party_id")?,
            task_name: get_str(r, "f_task_name")?,
            task_id: get_str(r, "f_task_id")?,
            task_version: get_i64(r, "f_task_version")?,
            name: get_str(r, "f_name")?,
            kind: get_opt_str(r, "f_type")?,
            groups: get_json(r, "f_groups")?,
            step_axis: get_opt_str(r, "f_step_axis")?,
            data: get_json(r, "f_data")?,
        })
    }
}

impl ModelMetaRow {
    fn from_row(r: &AnyRow) -> Result<Self> {
        Ok(Self {
            storage_key: get_str(r, "f_storage_key")?,
            task_version: get_i64(r, "f_task_version")?,
            model_id: get_str(r, "f_model_id")?,
            model_version: get_str(r, "f_model_version")?,
            job_id: get_str(r, "f_job_id")?,
            role: get_str(r, "f_role")?,
            party_id: get_str(r, "f_party_id")?,
            task_name: get_str(r, "f_task_name")?,
            output_key: get_str(r, "f_output_key")?,
            type_name: get_str(r, "f_type_name")?,
            meta_data: get_json(r, "f_meta_data")?,
            storage_engine: get_str(r, "f_storage_engine")?,
            create_time: get_i64(r, "f_create_time")?,
        })
    }
}

const TRACKING: &str = "SELECT f_job_id, f_task_id, f_task_version, f_task_name, f_role, f_party_id, \
     f_output_key, f_index, f_uri, f_namespace, f_name FROM t_tracking_data_output";
const TABLE_META: &str = "SELECT f_namespace, f_name, f_address, f_engine, f_options, f_partitions, \
     f_delimiter, f_have_head, f_extend_sid, f_data_meta, f_count, f_part_of_data, f_source, \
     f_data_type, f_disable, f_description, f_create_time, f_update_time FROM t_storage_table_meta";
const METRIC: &str = "SELECT f_job_id, f_role, f_party_id, f_task_name, f_task_id, f_task_version, \
     f_name, f_type, f_groups, f_step_axis, f_data FROM t_tracking_metric";
const MODEL_META: &str = "SELECT f_storage_key, f_task_version, f_model_id, f_model_version, f_job_id, \
     f_role, f_party_id, f_task_name, f_output_key, f_type_name, f_meta_data, f_storage_engine, \
     f_create_time FROM t_model_meta";

/// One task run's rows (metrics, models) by its job, role, party, task name and version.
fn task_run(job_id: &str, role: &str, party_id: &str, task_name: &str, version: i64) -> Filter {
    Filter::new()
        .equal([
            ("f_job_id", Some(job_id)),
            ("f_role", Some(role)),
            ("f_party_id", Some(party_id)),
            ("f_task_name", Some(task_name)),
        ])
        .compare("f_task_version", "=", Some(version))
}

impl Store {
    /// Records (or re-records, for a retried call) one output of a task run.
    pub async fn save_tracking(&self, t: &TrackingRow, now: i64) -> Result<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query(self.sql(
            "DELETE FROM t_tracking_data_output WHERE f_job_id = ? AND f_task_id = ? AND f_task_version = ?
               AND f_role = ? AND f_party_id = ? AND f_output_key = ? AND f_index = ?",
        ))
        .bind(t.job_id.clone())
        .bind(t.task_id.clone())
        .bind(t.task_version)
        .bind(t.role.clone())
        .bind(t.party_id.clone())
        .bind(t.output_key.clone())
        .bind(t.index)
        .execute(&mut *tx)
        .await?;
        sqlx::query(self.sql(
            "INSERT INTO t_tracking_data_output (f_job_id, f_task_id, f_task_version, f_task_name, f_role,
                f_party_id, f_output_key, f_index, f_uri, f_namespace, f_name, f_create_time, f_update_time)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ))
        .bind(t.job_id.clone())
        .bind(t.task_id.clone())
        .bind(t.task_version)
        .bind(t.task_name.clone())
        .bind(t.role.clone())
        .bind(t.party_id.clone())
        .bind(t.output_key.clone())
        .bind(t.index)
        .bind(t.uri.clone())
        .bind(t.namespace.clone())
        .bind(t.name.clone())
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Outputs of one task run, by index (optionally of one output key).
    pub async fn tracking_of(
        &self,
        job_id: &str,
        task_id: &str,
        version: i64,
        role: &str,
        party_id: &str,
        output_key: Option<&str>,
    ) -> Result<Vec<TrackingRow>> {
        let mut sql = format!(
            "{TRACKING} WHERE f_job_id = ? AND f_task_id = ? AND f_task_version = ? AND f_role = ? AND f_party_id = ?"
        );
        if output_key.is_some() {
            sql.push_str(" AND f_output_key = ?");
        }
        sql.push_str(" ORDER BY f_output_key, f_index");
        let sql = self.dynamic(sql);
        let mut q = sqlx::query(&sql)
            .bind(job_id.to_string())
            .bind(task_id.to_string())
            .bind(version)
            .bind(role.to_string())
            .bind(party_id.to_string());
        if let Some(k) = output_key {
            q = q.bind(k.to_string());
        }
        let rows = q.fetch_all(&self.read).await?;
        rows.iter().map(TrackingRow::from_row).collect()
    }

    /// Creates or replaces a table's meta (the data itself is not touched).
    pub async fn upsert_table_meta(&self, t: &TableMetaRow, now: i64) -> Result<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query(
            self.sql("DELETE FROM t_storage_table_meta WHERE f_namespace = ? AND f_name = ?"),
        )
        .bind(t.namespace.clone())
        .bind(t.name.clone())
        .execute(&mut *tx)
        .await?;
        sqlx::query(self.sql(
            "INSERT INTO t_storage_table_meta (f_namespace, f_name, f_address, f_engine, f_options,
                f_partitions, f_delimiter, f_have_head, f_extend_sid, f_data_meta, f_count, f_part_of_data,
                f_source, f_data_type, f_disable, f_description, f_read_access_time, f_write_access_time,
                f_create_time, f_update_time)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?)",
        ))
        .bind(t.namespace.clone())
        .bind(t.name.clone())
        .bind(to_json("address", &t.address)?)
        .bind(t.engine.clone())
        .bind(to_json("options", &t.options)?)
        .bind(t.partitions)
        .bind(t.delimiter.clone())
        .bind(t.have_head as i64)
        .bind(t.extend_sid as i64)
        .bind(to_json("data_meta", &t.data_meta)?)
        .bind(t.count)
        .bind(to_json("part_of_data", &t.part_of_data)?)
        .bind(to_json("source", &t.source)?)
        .bind(t.data_type.clone())
        .bind(t.disable as i64)
        .bind(t.description.clone())
        .bind(now)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn table_meta(&self, namespace: &str, name: &str) -> Result<Option<TableMetaRow>> {
        let sql = self.dynamic(format!("{TABLE_META} WHERE f_namespace = ? AND f_name = ?"));
        let row = sqlx::query(&sql)
            .bind(namespace.to_string())
            .bind(name.to_string())
            .fetch_optional(&self.read)
            .await?;
        row.as_ref().map(TableMetaRow::from_row).transpose()
    }

    /// Stores each metric of a task run once: an item equal to one the run already has (a
    /// task's retry of a post whose answer it lost) is skipped. Items are records of distinct
    /// steps or names, so equal ones are repeats, never data.
    pub async fn insert_metrics(&self, rows: &[MetricRow], now: i64) -> Result<()> {
        let mut tx = self.write.begin().await?;
        for m in rows {
            let groups = to_json("groups", &m.groups)?;
            let data = to_json("metric data", &m.data)?;
            sqlx::query(self.sql(
                "INSERT INTO t_tracking_metric (f_job_id, f_role, f_party_id, f_task_name, f_task_id,
                    f_task_version, f_name, f_type, f_groups, f_step_axis, f_data, f_create_time, f_update_time)
                 SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?
                 WHERE NOT EXISTS (SELECT 1 FROM t_tracking_metric WHERE f_job_id = ? AND f_role = ?
                    AND f_party_id = ? AND f_task_name = ? AND f_task_version = ? AND f_name = ?
                    AND f_groups = ? AND f_data = ?
                    AND (f_type = ? OR (f_type IS NULL AND ? IS NULL))
                    AND (f_step_axis = ? OR (f_step_axis IS NULL AND ? IS NULL)))",
            ))
            .bind(m.job_id.clone())
            .bind(m.role.clone())
            .bind(m.party_id.clone())
            .bind(m.task_name.clone())
            .bind(m.task_id.clone())
            .bind(m.task_version)
            .bind(m.name.clone())
            .bind(m.kind.clone())
            .bind(groups.clone())
            .bind(m.step_axis.clone())
            .bind(data.clone())
            .bind(now)
            .bind(now)
            .bind(m.job_id.clone())
            .bind(m.role.clone())
            .bind(m.party_id.clone())
            .bind(m.task_name.clone())
            .bind(m.task_version)
            .bind(m.name.clone())
            .bind(groups)
            .bind(data)
            .bind(m.kind.clone())
            .bind(m.kind.clone())
            .bind(m.step_axis.clone())
            .bind(m.step_axis.clone())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Metrics of one task run, in the order they were written.
    pub async fn metrics_of(
        &self,
        job_id: &str,
        role: &str,
        party_id: &str,
        task_name: &str,
        version: i64,
    ) -> Result<Vec<MetricRow>> {
        let rows = self
            .select(
                METRIC,
                &task_run(job_id, role, party_id, task_name, version),
                " ORDER BY f_id",
            )
            .await?;
        rows.iter().map(MetricRow::from_row).collect()
    }

    pub async fn upsert_model_meta(&self, m: &ModelMetaRow, now: i64) -> Result<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query(
            self.sql("DELETE FROM t_model_meta WHERE f_storage_key = ? AND f_task_version = ?"),
        )
        .bind(m.storage_key.clone())
        .bind(m.task_version)
        .execute(&mut *tx)
        .await?;
        sqlx::query(self.sql(
            "INSERT INTO t_model_meta (f_storage_key, f_task_version, f_model_id, f_model_version, f_job_id,
                f_role, f_party_id, f_task_name, f_output_key, f_type_name, f_meta_data, f_storage_engine,
                f_create_time, f_update_time)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ))
        .bind(m.storage_key.clone())
        .bind(m.task_version)
        .bind(m.model_id.clone())
        .bind(m.model_version.clone())
        .bind(m.job_id.clone())
        .bind(m.role.clone())
        .bind(m.party_id.clone())
        .bind(m.task_name.clone())
        .bind(m.output_key.clone())
        .bind(m.type_name.clone())
        .bind(to_json("model meta", &m.meta_data)?)
        .bind(m.storage_engine.clone())
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Models of one task run, by output key.
    pub async fn models_of(
        &self,
        job_id: &str,
        role: &str,
        party_id: &str,
        task_name: &str,
        version: i64,
    ) -> Result<Vec<ModelMetaRow>> {
        let rows = self
            .select(
                MODEL_META,
                &task_run(job_id, role, party_id, task_name, version),
                " ORDER BY f_output_key",
            )
            .await?;
        rows.iter().map(ModelMetaRow::from_row).collect()
    }

    /// The newest version stored under a model storage key.
    pub async fn model_by_key(&self, storage_key: &str) -> Result<Option<ModelMetaRow>> {
        let sql = self.dynamic(format!(
            "{MODEL_META} WHERE f_storage_key = ? ORDER BY f_task_version DESC LIMIT 1"
        ));
        let row = sqlx::query(&sql)
            .bind(storage_key.to_string())
            .fetch_optional(&self.read)
            .await?;
        row.as_ref().map(ModelMetaRow::from_row).transpose()
    }

    /// Every output of every version of a job's tasks on this site (for `job/clean`).
    pub async fn tracking_of_job(&self, job_id: &str) -> Result<Vec<TrackingRow>> {
        let sql = self.dynamic(format!(
            "{TRACKING} WHERE f_job_id = ? ORDER BY f_task_id, f_task_version"
        ));
        let rows = sqlx::query(&sql)
            .bind(job_id.to_string())
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(TrackingRow::from_row).collect()
    }

    pub async fn models_of_job(&self, job_id: &str) -> Result<Vec<ModelMetaRow>> {
        let sql = self.dynamic(format!("{MODEL_META} WHERE f_job_id = ?"));
        let rows = sqlx::query(&sql)
            .bind(job_id.to_string())
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(ModelMetaRow::from_row).collect()
    }

    /// Deletes a job's rows on this site, every version: participant rows, outputs, metrics,
    /// model metas, and the metas of the tables its tasks produced. One transaction; the
    /// files are the caller's to remove.
    pub async fn delete_job(&self, job_id: &str, tables: &[(String, String)]) -> Result<()> {
        let mut tx = self.write.begin().await?;
        for table in [
            "t_job",
            "t_task",
            "t_tracking_data_output",
            "t_tracking_metric",
            "t_model_meta",
            "t_job_event",
        ] {
            let sql = self.dynamic(format!("DELETE FROM {table} WHERE f_job_id = ?"));
            sqlx::query(&sql)
                .bind(job_id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        for (ns, name) in tables {
            sqlx::query(
                self.sql("DELETE FROM t_storage_table_meta WHERE f_namespace = ? AND f_name = ?"),
            )
            .bind(ns.clone())
            .bind(name.clone())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Deletes the metrics of one task run; how many items were deleted.
    pub async fn delete_metrics(
        &self,
        job_id: &str,
        role: &str,
        party_id: &str,
        task_name: &str,
        version: i64,
    ) -> Result<u64> {
        let done = sqlx::query(self.sql(
            "DELETE FROM t_tracking_metric WHERE f_job_id = ? AND f_role = ? AND f_party_id = ?
               AND f_task_name = ? AND f_task_version = ?",
        ))
        .bind(job_id.to_string())
        .bind(role.to_string())
        .bind(party_id.to_string())
        .bind(task_name.to_string())
        .bind(version)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected())
    }

    /// Model metas of a model id and version, every task version, optionally narrowed.
    pub async fn models_by_id(
        &self,
        model_id: &str,
        model_version: &str,
        f: &ModelFilter,
    ) -> Result<Vec<ModelMetaRow>> {
        let filter = Filter::new().equal([
            ("f_model_id", Some(model_id)),
            ("f_model_version", Some(model_version)),
            ("f_role", f.role.as_deref()),
            ("f_party_id", f.party_id.as_deref()),
            ("f_task_name", f.task_name.as_deref()),
            ("f_output_key", f.output_key.as_deref()),
        ]);
        let rows = self
            .select(
                MODEL_META,
                &filter,
                " ORDER BY f_storage_key, f_task_version",
            )
            .await?;
        rows.iter().map(ModelMetaRow::from_row).collect()
    }

    /// Deletes model metas by `(storage key, task version)`.
    pub async fn delete_model_metas(&self, keys: &[(String, i64)]) -> Result<u64> {
        let mut tx = self.write.begin().await?;
        let mut n = 0;
        for (key, version) in keys {
            n += sqlx::query(
                self.sql("DELETE FROM t_model_meta WHERE f_storage_key = ? AND f_task_version = ?"),
            )
            .bind(key.clone())
            .bind(*version)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(n)
    }

    pub async fn delete_table_meta(&self, namespace: &str, name: &str) -> Result<bool> {
        let done = sqlx::query(
            self.sql("DELETE FROM t_storage_table_meta WHERE f_namespace = ? AND f_name = ?"),
        )
        .bind(namespace.to_string())
        .bind(name.to_string())
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}

/// Narrows a model query (`/v2/model/delete`, `/v2/model/export`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelFilter {
    pub role: Option<String>,
    pub party_id: Option<String>,
    pub task_name: Option<String>,
    pub output_key: Option<String>,
}

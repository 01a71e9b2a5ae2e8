//! The audit log (`t_audit`): authenticated calls and refusals, written in batches by the
//! audit writer (`crate::audit`), read by `/v2/audit/query`.

use super::*;

/// One audited call or refusal.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditRow {
    /// Set by the database; 0 before the row is stored.
    pub id: i64,
    /// Milliseconds since the epoch.
    pub time: i64,
    /// `client`, `site`, `worker`, or a check outside HTTP (`tls`, `grpc`).
    pub group: String,
    /// Who called: as verified by a check, else as the request claimed (`appId`,
    /// `src-party-id`, the task run it named); empty when it named no one.
    pub caller: String,
    pub verified: bool,
    pub method: String,
    /// The route as served (`/v2/worker/metric/save/{execution_id}`) or the path.
    pub route: String,
    /// The answer's return code.
    pub code: i64,
    /// `ok` or `refused`.
    pub result: String,
    /// The peer's address (`ip:port`), or empty when unknown.
    pub peer: String,
    pub detail: String,
}

/// Filters and a page of `/v2/audit/query`.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub group: Option<String>,
    pub result: Option<String>,
    pub caller: Option<String>,
    pub route: Option<String>,
    pub code: Option<i64>,
    /// Inclusive bounds on `time` (ms).
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// 1-based.
    pub page: i64,
    pub limit: i64,
}

impl AuditRow {
    fn from_row(r: &AnyRow) -> Result<Self> {
        Ok(Self {
            id: get_i64(r, "f_id")?,
            time: get_i64(r, "f_time")?,
            group: get_str(r, "f_group")?,
            caller: get_str(r, "f_caller")?,
            verified: get_i64(r, "f_verified")? != 0,
            method: get_str(r, "f_method")?,
            route: get_str(r, "f_route")?,
            code: get_i64(r, "f_code")?,
            result: get_str(r, "f_result")?,
            peer: get_str(r, "f_peer")?,
            detail: get_str(r, "f_detail")?,
        })
    }
}

impl Store {
    /// Stores a batch of audit rows in one transaction.
    pub async fn insert_audit(&self, rows: &[AuditRow]) -> Result<()> {
        let mut tx = self.write.begin().await?;
        for a in rows {
            sqlx::query(self.sql(
                "INSERT INTO t_audit (f_time, f_group, f_caller, f_verified, f_method, f_route,
                    f_code, f_result, f_peer, f_detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ))
            .bind(a.time)
            .bind(a.group.clone())
            .bind(a.caller.clone())
            .bind(i64::from(a.verified))
            .bind(a.method.clone())
            .bind(a.route.clone())
            .bind(a.code)
            .bind(a.result.clone())
            .bind(a.peer.clone())
            .bind(a.detail.clone())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A page of audit rows matching the filter, newest first, and how many match in all.
    pub async fn query_audit(&self, f: &AuditFilter) -> Result<(Vec<AuditRow>, i64)> {
        let mut cond = String::from(" WHERE 1 = 1");
        let mut text: Vec<String> = Vec::new();
        let mut nums: Vec<i64> = Vec::new();
        // Binds go in the order of the placeholders: text filters first, then numbers.
        for (col, v) in [
            ("f_group", &f.group),
            ("f_result", &f.result),
            ("f_caller", &f.caller),
            ("f_route", &f.route),
        ] {
            if let Some(v) = v {
                cond.push_str(&format!(" AND {col} = ?"));
                text.push(v.clone());
            }
        }
        for (op, v) in [
            ("f_code =", f.code),
            ("f_time >=", f.since),
            ("f_time <=", f.until),
        ] {
            if let Some(v) = v {
                cond.push_str(&format!(" AND {op} ?"));
                nums.push(v);
            }
        }
        let count_sql = self.dynamic(format!("SELECT COUNT(*) AS n FROM t_audit{cond}"));
        let mut q = sqlx::query(&count_sql);
        for t in &text {
            q = q.bind(t.clone());
        }
        for n in &nums {
            q = q.bind(*n);
        }
        let total = get_i64(&q.fetch_one(&self.read).await?, "n")?;
        let page_sql = self.dynamic(format!(
            "SELECT f_id, f_time, f_group, f_caller, f_verified, f_method, f_route, f_code,
                f_result, f_peer, f_detail FROM t_audit{cond} ORDER BY f_id DESC LIMIT ? OFFSET ?"
        ));
        let mut q = sqlx::query(&page_sql);
        for t in &text {
            q = q.bind(t.clone());
        }
        for n in &nums {
            q = q.bind(*n);
        }
        let limit = f.limit.clamp(1, 1000);
        let offset = (f.page.max(1) - 1).saturating_mul(limit);
        let rows = q.bind(limit).bind(offset).fetch_all(&self.read).await?;
        let rows = rows.iter().map(AuditRow::from_row).collect::<Result<_>>()?;
        Ok((rows, total))
    }
}

//! A small api-1 client, as any FATE tool would call a site: used by the demo and the bench.
//! Given an app's credentials ([`Credentials`]) it signs every call as `fate_client` does, so
//! it works against a site with client authentication on.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use ferroflow_server::auth::{credentials, fate};
use ferroflow_wire::Envelope;

/// An app's id and token, to sign api-1 calls with.
#[derive(Clone)]
pub struct Credentials {
    pub app_id: String,
    pub app_token: String,
}

impl std::fmt::Debug for Credentials {
    /// The token is never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// `FERROFLOW_APP_ID` and `FERROFLOW_APP_TOKEN`, when both are set.
    pub fn from_env() -> Option<Self> {
        let app_id = std::env::var("FERROFLOW_APP_ID").ok()?;
        let app_token = std::env::var("FERROFLOW_APP_TOKEN").ok()?;
        Some(Self { app_id, app_token })
    }

    /// The admin app a local site wrote to `<data_dir>/credentials/admin.json`.
    pub fn from_data_dir(data_dir: &std::path::Path) -> Option<Self> {
        let (app_id, app_token) = credentials::read_admin_file(data_dir)?;
        Some(Self { app_id, app_token })
    }
}

#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    credentials: Option<Credentials>,
}

impl Client {
    pub fn new(base: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTP client builds");
        Self {
            http,
            base: base.trim_end_matches('/').to_string(),
            credentials: None,
        }
    }

    /// Signs every call with `credentials` (`None`: unsigned).
    pub fn with_credentials(mut self, credentials: Option<Credentials>) -> Self {
        self.credentials = credentials;
        self
    }

    /// FATE's client signature headers, fresh for each call.
    fn signed(&self, mut r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        if let Some(c) = &self.credentials {
            let now = chrono::Utc::now().timestamp_millis();
            for (k, v) in fate::client_headers(&c.app_id, &c.app_token, "", now) {
                r = r.header(k, v);
            }
        }
        r
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Envelope> {
        let r = self
            .signed(self.http.get(format!("{}/v2{path}", self.base)))
            .query(query)
            .send()
            .await?;
        r.json::<Envelope>()
            .await
            .with_context(|| format!("GET {path}"))
    }

    async fn post(&self, path: &str, body: &Value) -> Result<Envelope> {
        let r = self
            .signed(self.http.post(format!("{}/v2{path}", self.base)))
            .json(body)
            .send()
            .await?;
        r.json::<Envelope>()
            .await
            .with_context(|| format!("POST {path}"))
    }

    /// Submits a DAG schema; returns the job id.
    pub async fn submit(&self, dag_schema: &Value) -> Result<String> {
        let e = self
            .post("/job/submit", &json!({ "dag_schema": dag_schema }))
            .await?;
        if !e.is_ok() {
            bail!("submit refused ({}): {}", e.code, e.message);
        }
        e.job_id.context("no job id in the answer")
    }

    /// Every local row of a job.
    pub async fn jobs(&self, job_id: &str) -> Result<Vec<Value>> {
        let e = self.get("/job/query", &[("job_id", job_id)]).await?;
        if !e.is_ok() {
            bail!("job query ({}): {}", e.code, e.message);
        }
        Ok(e.data
            .and_then(|d| d.as_array().cloned())
            .unwrap_or_default())
    }

    pub async fn tasks(&self, job_id: &str) -> Result<Vec<Value>> {
        let e = self.get("/job/task/query", &[("job_id", job_id)]).await?;
        if !e.is_ok() {
            bail!("task query ({}): {}", e.code, e.message);
        }
        Ok(e.data
            .and_then(|d| d.as_array().cloned())
            .unwrap_or_default())
    }

    pub async fn stop(&self, job_id: &str) -> Result<Envelope> {
        self.post("/job/stop", &json!({ "job_id": job_id })).await
    }

    pub async fn metrics(
        &self,
        job_id: &str,
        role: &str,
        party_id: &str,
        task: &str,
    ) -> Result<Vec<Value>> {
        let q = [
            ("job_id", job_id),
            ("role", role),
            ("party_id", party_id),
            ("task_name", task),
        ];
        let e = self.get("/output/metric/query", &q).await?;
        Ok(e.data
            .and_then(|d| d.as_array().cloned())
            .unwrap_or_default())
    }

    pub async fn models(
        &self,
        job_id: &str,
        role: &str,
        party_id: &str,
        task: &str,
    ) -> Result<Value> {
        let q = [
            ("job_id", job_id),
            ("role", role),
            ("party_id", party_id),
            ("task_name", task),
        ];
        let e = self.get("/output/model/query", &q).await?;
        if !e.is_ok() {
            bail!("model query ({}): {}", e.code, e.message);
        }
        Ok(e.data.unwrap_or(Value::Null))
    }

    /// Waits until every local row of the job has an end status, calling `progress` with the
    /// task rows whenever they change.
    pub async fn wait(
        &self,
        job_id: &str,
        deadline: Duration,
        mut progress: impl FnMut(&[Value]),
    ) -> Result<String> {
        let start = std::time::Instant::now();
        let mut last = Vec::new();
        loop {
            let tasks = self.tasks(job_id).await.unwrap_or_default();
            let summary: Vec<(String, String)> = tasks
                .iter()
                .map(|t| (t["execution_id"].to_string(), t["party_status"].to_string()))
                .collect();
            if summary != last {
                progress(&tasks);
                last = summary;
            }
            let jobs = self.jobs(job_id).await?;
            let statuses: Vec<&str> = jobs.iter().filter_map(|j| j["status"].as_str()).collect();
            if !statuses.is_empty()
                && statuses
                    .iter()
                    .all(|s| matches!(*s, "success" | "failed" | "canceled" | "timeout"))
            {
                let worst = ["failed", "timeout", "canceled", "success"]
                    .into_iter()
                    .find(|w| statuses.contains(w))
                    .unwrap_or("success");
                return Ok(worst.to_string());
            }
            if start.elapsed() > deadline {
                bail!("job {job_id} not finished after {deadline:?} (statuses {statuses:?})");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_print_their_token() {
        let c = Credentials {
            app_id: "admin".into(),
            app_token: "s3cret-token".into(),
        };
        let text = format!(
            "{c:?} {:?}",
            Client::new("http://x").with_credentials(Some(c.clone()))
        );
        assert!(text.contains("admin") && !text.contains("s3cret"), "{text}");
    }
}

//! A client of the site's worker API (api-3, `execution.md` §5), the only channel a task has
//! to its site. Every call carries the run's worker token (`FERROFLOW_WORKER_TOKEN`, given by
//! the site's launcher) in the site's token header: the site answers a run only about itself.
//! Every answer is a FATE envelope; a non-zero `code` is an error carrying the code and
//! message, whatever the HTTP status.
//!
//! Failures are split into *transient* (the request did not get an answer: connection refused or
//! reset, timeout, HTTP 5xx — the site may be restarting) and *final* (the site answered and
//! said no). Every call retries transient failures with back-off for a window long enough for a
//! site to restart ([`ClientOptions::site_wait`], `FERROFLOW_SITE_WAIT_SECS`, set by the site
//! from `scheduler.task_site_wait_ms`); the site stores a resent write once (tracking rows and
//! model metas are replaced, metrics deduplicated, a repeated status is a no-op). The final
//! status report retries until its own, longer deadline ([`ReportPolicy`]), because a task
//! whose report is lost stays `running` on its site forever. A call that outlasts its window
//! fails with [`Error::Unreachable`], which says so.

use std::time::Duration;

use ferroflow_wire::Envelope;
use ferroflow_wire::worker::{
    self, DataTableInfo, DataTrackingQuery, DataTrackingSave, EngineApplication, MetricItem,
    ModelDownload, ModelSave,
};
use serde_json::{Value, json};
use tokio::time::Instant;

/// How much of a non-envelope body an error quotes.
const BODY_EXCERPT: usize = 300;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No answer: the request may or may not have reached the site. (reqwest's message
    /// names the URL.)
    #[error("{what}: no answer")]
    Transport {
        what: &'static str,
        #[source]
        source: reqwest::Error,
    },
    #[error("{what}: {url} answered HTTP {status}: {body}")]
    Http {
        what: &'static str,
        url: String,
        status: u16,
        body: String,
    },
    #[error("{what}: the site answered code {code}: {message}")]
    Code {
        what: &'static str,
        code: i64,
        message: String,
    },
    #[error("{what}: unexpected answer: {detail}")]
    Reply { what: &'static str, detail: String },
    /// Transient failures for the whole window: the site is down, or restarting for longer
    /// than the task waits.
    #[error(
        "{what}: cannot reach the site at {base}: no answer for {waited_secs} s ({attempts} attempts)"
    )]
    Unreachable {
        what: &'static str,
        base: String,
        waited_secs: u64,
        attempts: u32,
        #[source]
        last: Box<Error>,
    },
}

impl Error {
    /// Worth trying again: the site did not answer, or answered that it is unavailable.
    pub fn is_transient(&self) -> bool {
        match self {
            // A request that could not even be built will not build next time either.
            Error::Transport { source, .. } => !source.is_builder(),
            Error::Http { status, .. } => *status >= 500,
            Error::Code { .. } | Error::Reply { .. } | Error::Unreachable { .. } => false,
        }
    }
}

/// Exponential back-off: `initial`, doubled after every attempt, never above `cap`.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    cap: Duration,
}

impl Backoff {
    pub fn new(initial: Duration, cap: Duration) -> Self {
        Self {
            next: initial.min(cap),
            cap,
        }
    }
}

impl Iterator for Backoff {
    type Item = Duration;
    fn next(&mut self) -> Option<Duration> {
        let d = self.next;
        self.next = (self.next * 2).min(self.cap);
        Some(d)
    }
}

/// How long the final status report keeps trying.
#[derive(Debug, Clone)]
pub struct ReportPolicy {
    pub deadline: Duration,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl ReportPolicy {
    pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(600);

    pub fn with_deadline(deadline: Duration) -> Self {
        Self {
            deadline,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl Default for ReportPolicy {
    fn default() -> Self {
        Self::with_deadline(Self::DEFAULT_DEADLINE)
    }
}

/// The environment variable with the seconds (fractions allowed) every call to the site keeps
/// retrying while the site does not answer.
pub const SITE_WAIT_ENV: &str = "FERROFLOW_SITE_WAIT_SECS";

/// The environment variable with the task run's worker token (set by the site's launcher).
pub const TOKEN_ENV: &str = ferroflow_wire::worker::TOKEN_ENV;

/// A task run's worker token, presented on every call; its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(pub String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// Timeouts, and how long calls wait out a site that does not answer.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// Model uploads carry a file, so they get longer.
    pub upload_timeout: Duration,
    /// How long a call retries transient failures: long enough for a site to restart.
    pub site_wait: Duration,
    /// The first delay between attempts; it doubles up to `max_backoff`.
    pub retry_backoff: Duration,
    pub max_backoff: Duration,
    /// The run's worker token ([`TOKEN_ENV`]), sent in the site's token header on every call.
    pub token: Option<Token>,
}

impl ClientOptions {
    /// Three minutes: a restart (process start, migrations, recovery) with room to spare.
    pub const DEFAULT_SITE_WAIT: Duration = Duration::from_secs(180);
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            upload_timeout: Duration::from_secs(120),
            site_wait: Self::DEFAULT_SITE_WAIT,
            retry_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            token: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct WorkerClient {
    http: reqwest::Client,
    /// `<protocol>://<host>:<port>/<api_version>`, as `Mlmd::base_url` builds it.
    base: String,
    options: ClientOptions,
}

impl WorkerClient {
    pub fn new(base_url: &str, options: ClientOptions) -> Result<Self, reqwest::Error> {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(Token(t)) = &options.token
            && let Ok(mut v) = reqwest::header::HeaderValue::from_str(t)
        {
            v.set_sensitive(true);
            headers.insert(ferroflow_wire::worker::TOKEN_HEADER, v);
        }
        let http = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .default_headers(headers)
            .build()?;
        Ok(Self {
            http,
            base: base_url.trim_end_matches('/').to_string(),
            options,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// `GET /worker/data/tracking/query`: the tables a producer task recorded under an output
    /// key, or one table by namespace and name.
    pub async fn query_tracking(
        &self,
        query: &DataTrackingQuery,
    ) -> Result<Vec<DataTableInfo>, Error> {
        const WHAT: &str = "data tracking query";
        let url = self.url(worker::DATA_TRACKING_QUERY);
        let pairs: Vec<(&str, &String)> = [
            ("job_id", &query.job_id),
            ("role", &query.role),
            ("party_id", &query.party_id),
            ("task_name", &query.task_name),
            ("output_key", &query.output_key),
            ("namespace", &query.namespace),
            ("name", &query.name),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
        .collect();
        let env = self
            .call(WHAT, self.options.request_timeout, || {
                self.http.get(&url).query(&pairs)
            })
            .await?;
        let data = env.data.unwrap_or(Value::Array(Vec::new()));
        serde_json::from_value(data).map_err(|e| Error::Reply {
            what: WHAT,
            detail: e.to_string(),
        })
    }

    /// `POST /worker/data/tracking/save`: records one output table.
    pub async fn save_tracking(&self, body: &DataTrackingSave) -> Result<(), Error> {
        let url = self.url(worker::DATA_TRACKING_SAVE);
        self.call("data tracking save", self.options.request_timeout, || {
            self.http.post(&url).json(body)
        })
        .await
        .map(drop)
    }

    /// `POST /worker/model/save`: the form fields FATE's wrapper sends, and the tar as part
    /// `file` (filename `file`, as python-requests names it).
    pub async fn save_model(&self, fields: &ModelSave, tar: Vec<u8>) -> Result<(), Error> {
        let url = self.url(worker::MODEL_SAVE);
        self.call("model save", self.options.upload_timeout, || {
            let form = reqwest::multipart::Form::new()
                .text("model_id", fields.model_id.clone())
                .text("model_version", fields.model_version.clone())
                .text("execution_id", fields.execution_id.clone())
                .text("output_key", fields.output_key.clone())
                .text("type_name", fields.type_name.clone())
                .part(
                    "file",
                    reqwest::multipart::Part::bytes(tar.clone()).file_name("file"),
                );
            self.http.post(&url).multipart(form)
        })
        .await
        .map(drop)
    }

    /// `GET /worker/model/download`: the stored tar. The site answers JSON instead when it has
    /// no such model; that is an error carrying its code and message.
    pub async fn download_model(&self, query: &ModelDownload) -> Result<Vec<u8>, Error> {
        const WHAT: &str = "model download";
        let url = self.url(worker::MODEL_DOWNLOAD);
        self.retry(WHAT, self.options.site_wait, self.backoff(), || async {
            let resp = self
                .http
                .get(&url)
                .query(query)
                .timeout(self.options.upload_timeout)
                .send()
                .await
                .map_err(|source| Error::Transport { what: WHAT, source })?;
            let status = resp.status();
            let is_json = resp
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/json"));
            let body = resp
                .bytes()
                .await
                .map_err(|source| Error::Transport { what: WHAT, source })?;
            if status.is_server_error() || (!is_json && !status.is_success()) {
                return Err(http_error(WHAT, &url, status.as_u16(), &body));
            }
            if is_json {
                let env = envelope(WHAT, &url, status.as_u16(), &body)?;
                return Err(Error::Code {
                    what: WHAT,
                    code: env.code,
                    message: env.message,
                });
            }
            Ok(body.to_vec())
        })
        .await
    }

    /// `POST /worker/metric/save/<execution_id>` with `{"data": [metric]}`: one metric per call,
    /// as pyfate's restful metric writer does.
    pub async fn save_metric(&self, execution_id: &str, metric: &MetricItem) -> Result<(), Error> {
        self.forward_metric(execution_id, &json!({ "data": [metric] }))
            .await
    }

    /// `POST /worker/metric/save/<execution_id>` with a body as the algorithm wrote it (the
    /// wrapper's metric relay passes pyfate's posts on).
    pub async fn forward_metric(&self, execution_id: &str, body: &Value) -> Result<(), Error> {
        let url = self.url(&format!("{}/{}", worker::METRIC_SAVE, execution_id));
        self.call("metric save", self.options.request_timeout, || {
            self.http.post(&url).json(body)
        })
        .await
        .map(drop)
    }

    /// `POST /worker/metric/save` with `{"execution_id", "data": [metric, ...]}`: the metrics of
    /// a file-based metric output, as FATE's wrapper sends them.
    pub async fn save_metrics(&self, execution_id: &str, data: &[Value]) -> Result<(), Error> {
        let url = self.url(worker::METRIC_SAVE);
        let body = json!({ "execution_id": execution_id, "data": data });
        self.call("metric save", self.options.request_timeout, || {
            self.http.post(&url).json(&body)
        })
        .await
        .map(drop)
    }

    /// `POST /worker/task/status` with `running` and the engine's application that runs the
    /// task (ferroflow's `engine_application`), retried while the site does not answer.
    pub async fn report_engine_application(
        &self,
        execution_id: &str,
        application: &EngineApplication,
    ) -> Result<(), Error> {
        let url = self.url(worker::TASK_STATUS);
        let body = json!({"execution_id": execution_id, "status": "running",
                          worker::ENGINE_APPLICATION: application});
        self.call(
            "engine application report",
            self.options.request_timeout,
            || self.http.post(&url).json(&body),
        )
        .await
        .map(drop)
    }

    /// `POST /worker/task/status`, retried on transient failures until the policy's deadline:
    /// the task's last word must reach a site that may be restarting.
    pub async fn report_status(
        &self,
        execution_id: &str,
        status: &str,
        error: &str,
        policy: &ReportPolicy,
    ) -> Result<(), Error> {
        const WHAT: &str = "task status report";
        let url = self.url(worker::TASK_STATUS);
        let body = json!({"execution_id": execution_id, "status": status, "error": error});
        let backoff = Backoff::new(policy.initial_backoff, policy.max_backoff);
        self.retry(WHAT, policy.deadline, backoff, || {
            self.send(WHAT, self.options.request_timeout, || {
                self.http.post(&url).json(&body)
            })
        })
        .await
        .map(drop)
    }

    /// One call, retried while the site does not answer, for the site-wait window.
    async fn call(
        &self,
        what: &'static str,
        timeout: Duration,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Envelope, Error> {
        self.retry(what, self.options.site_wait, self.backoff(), || {
            self.send(what, timeout, &build)
        })
        .await
    }

    fn backoff(&self) -> Backoff {
        Backoff::new(self.options.retry_backoff, self.options.max_backoff)
    }

    /// Runs `attempt` until it succeeds or fails for good, or its transient failures outlast
    /// `window`: then [`Error::Unreachable`], with the last failure as its source.
    async fn retry<T, F, Fut>(
        &self,
        what: &'static str,
        window: Duration,
        mut backoff: Backoff,
        mut attempt: F,
    ) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, Error>>,
    {
        let started = Instant::now();
        let deadline = started + window;
        let mut attempts: u32 = 1;
        loop {
            let e = match attempt().await {
                Err(e) if e.is_transient() => e,
                other => return other,
            };
            let delay = backoff.next().unwrap_or_default();
            if Instant::now() + delay >= deadline {
                tracing::error!(attempts, error = %super::error_chain(&e), "{what} failed, deadline reached");
                return Err(Error::Unreachable {
                    what,
                    base: self.base.clone(),
                    waited_secs: started.elapsed().as_secs(),
                    attempts,
                    last: Box::new(e),
                });
            }
            tracing::warn!(attempts, retry_in_ms = delay.as_millis() as u64, error = %super::error_chain(&e), "{what} failed, retrying");
            tokio::time::sleep(delay).await;
            attempts += 1;
        }
    }

    /// One attempt: send, then read the envelope; 5xx first, since a restarting site's
    /// answer need not be an envelope.
    async fn send(
        &self,
        what: &'static str,
        timeout: Duration,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Envelope, Error> {
        let request = build()
            .timeout(timeout)
            .build()
            .map_err(|source| Error::Transport { what, source })?;
        let url = request.url().to_string();
        let resp = self
            .http
            .execute(request)
            .await
            .map_err(|source| Error::Transport { what, source })?;
        let status = resp.status().as_u16();
        let body = resp
            .bytes()
            .await
            .map_err(|source| Error::Transport { what, source })?;
        if status >= 500 {
            return Err(http_error(what, &url, status, &body));
        }
        let env = envelope(what, &url, status, &body)?;
        if env.code != 0 {
            return Err(Error::Code {
                what,
                code: env.code,
                message: env.message,
            });
        }
        Ok(env)
    }
}

fn envelope(what: &'static str, url: &str, status: u16, body: &[u8]) -> Result<Envelope, Error> {
    serde_json::from_slice::<Envelope>(body).map_err(|e| {
        if (200..300).contains(&status) {
            Error::Reply {
                what,
                detail: format!("not an envelope ({e}): {}", excerpt(body)),
            }
        } else {
            http_error(what, url, status, body)
        }
    })
}

fn http_error(what: &'static str, url: &str, status: u16, body: &[u8]) -> Error {
    Error::Http {
        what,
        url: url.to_string(),
        status,
        body: excerpt(body),
    }
}

fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    match text.char_indices().nth(BODY_EXCERPT) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        let ms: Vec<u128> = b.take(9).map(|d| d.as_millis()).collect();
        assert_eq!(ms, [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
    }

    #[test]
    fn default_report_policy_is_the_contract() {
        let p = ReportPolicy::default();
        assert_eq!(p.deadline, Duration::from_secs(600));
        assert_eq!(p.initial_backoff, Duration::from_millis(100));
        assert_eq!(p.max_backoff, Duration::from_secs(5));
    }

    #[test]
    fn transient_classification() {
        let http = |status| Error::Http {
            what: "x",
            url: String::new(),
            status,
            body: String::new(),
        };
        assert!(http(503).is_transient());
        assert!(http(500).is_transient());
        assert!(!http(404).is_transient());
        assert!(
            !Error::Code {
                what: "x",
                code: 2000,
                message: String::new()
            }
            .is_transient()
        );
        assert!(
            !Error::Reply {
                what: "x",
                detail: String::new()
            }
            .is_transient()
        );
    }

    #[test]
    fn long_bodies_are_cut() {
        let body = "é".repeat(BODY_EXCERPT + 5);
        let e = excerpt(body.as_bytes());
        assert_eq!(e.chars().count(), BODY_EXCERPT + 1);
        assert!(e.ends_with('…'));
        assert_eq!(excerpt(b"short"), "short");
    }
}

//! Commands to other sites (and to this one: a scheduler reaches its own parties over HTTP
//! too, exactly as it reaches remote ones, so one code path is tested by every job).
//!
//! A command goes to the base URL the route table gives for the destination party, with
//! FATE's headers (`dest-party-id`, `service: fateflow`, `initiator-party-id`). A party that
//! cannot be reached answers FATE's 104 in place of its reply. Every command ferroflow sends
//! is idempotent on the receiving side, so a connection error is retried a few times at once
//! and anything else is left to the scheduler's next pass.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use ferroflow_core::id::PartyId;
use ferroflow_wire::Envelope;

#[derive(Debug, Clone)]
pub struct Federation {
    http: reqwest::Client,
    own_url: String,
    routes: BTreeMap<PartyId, String>,
    timeout: Duration,
}

impl Federation {
    /// `own_url` serves every party the route table does not name (and party `0`).
    pub fn new(own_url: String, routes: BTreeMap<PartyId, String>, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(30))
            .tcp_nodelay(true)
            .build()
            .expect("an HTTP client with default TLS-free settings builds");
        Self {
            http,
            own_url,
            routes,
            timeout,
        }
    }

    /// The base URL of the site that serves `party`.
    pub fn url_of(&self, party: &PartyId) -> &str {
        self.routes
            .get(party)
            .map(String::as_str)
            .unwrap_or(&self.own_url)
    }

    /// Whether `party` is served by this site.
    pub fn is_local(&self, party: &PartyId) -> bool {
        self.url_of(party) == self.own_url
    }

    /// Sends `body` to `path` (e.g. `/partner/job/create`) of the site serving `dest`. Never
    /// fails: an unreachable party's reply is FATE's 104 with the party and the reason.
    pub async fn send(
        &self,
        dest: &PartyId,
        path: &str,
        body: &Value,
        initiator: &str,
    ) -> Envelope {
        let base = self.url_of(dest);
        let url = format!("{base}/v2{path}");
        let mut last_error = String::new();
        for attempt in 0..3u32 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(50 * 4u64.pow(attempt - 1))).await;
            }
            let result = self
                .http
                .post(&url)
                .timeout(self.timeout)
                .header("dest-party-id", dest.as_str())
                .header("service", "fateflow")
                .header("initiator-party-id", initiator)
                .json(body)
                .send()
                .await;
            match result {
                Ok(resp) if resp.status().is_success() => {
                    return match resp.json::<Value>().await {
                        Ok(v) => Envelope::from_value(v).unwrap_or_else(|e| {
                            Envelope::federated_error(format!("party {dest} at {base}: {e}"))
                        }),
                        Err(e) => Envelope::federated_error(format!(
                            "party {dest} at {base}: reply is not JSON: {e}"
                        )),
                    };
                }
                Ok(resp) => {
                    last_error = format!("HTTP {}", resp.status());
                }
                Err(e) if e.is_connect() => {
                    last_error = format!("cannot connect ({})", root_cause(&e));
                    continue;
                }
                Err(e) if e.is_timeout() => {
                    last_error = format!("no answer within {:?}", self.timeout);
                    break;
                }
                Err(e) => {
                    last_error = root_cause(&e);
                    break;
                }
            }
        }
        tracing::debug!(party = %dest, path, error = %last_error, "command not delivered");
        Envelope::federated_error(format!("party {dest} at {base}: {last_error}"))
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Whether a reply means the command never reached the party.
pub fn undelivered(reply: &Envelope) -> bool {
    reply.code == ferroflow_wire::RetCode::FederatedError.code()
}

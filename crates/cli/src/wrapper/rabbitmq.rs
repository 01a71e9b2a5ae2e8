//! The task's RabbitMQ vhosts, made and running before pyfate starts.
//!
//! pyfate's RabbitMQ federation puts each pair of parties in a vhost of its own, named after the
//! federation id and the pair, and each party's process creates it through the management API
//! before it declares its queues. When two parties on one broker do that at once (a guest and
//! an arbiter on one site, or sites sharing a broker) the second `PUT` is answered before the
//! vhost runs; pyfate's next queue `PUT` then fails (400), pyfate does not check, publishes into
//! a queue that does not exist, the broker drops the message, and both tasks wait for it
//! forever. So the wrapper creates the vhosts of its party's pairs and waits until the broker
//! runs them, first thing, seconds before any party's pyfate gets there; pyfate then finds
//! them ready. The calls are idempotent: every party's wrapper makes them. pyfate's own
//! destroy, at the end of the run or in the task's `cleanup`, removes them.

use std::time::{Duration, Instant};

use serde_json::{Map, Value};

/// How long a vhost may take to start before the wrapper leaves it to pyfate.
const READY_WITHIN: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(20);

/// The vhosts pyfate's federation of this task will use: one per pair of the local party and
/// another party, `{federation_id}-{low role}-{low id}-{high role}-{high id}` with the pair
/// ordered by (role, party id) as strings.
pub fn vhosts(metadata: &Map<String, Value>) -> Vec<String> {
    let Some(id) = metadata.get("federation_id").and_then(Value::as_str) else {
        return Vec::new();
    };
    let parties = metadata.get("parties");
    let party = |v: &Value| {
        Some((
            v.get("role")?.as_str()?.to_string(),
            match v.get("partyid")? {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            },
        ))
    };
    let Some(local) = parties.and_then(|p| p.get("local")).and_then(party) else {
        return Vec::new();
    };
    let mut out: Vec<String> = parties
        .and_then(|p| p.get("parties"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(party)
        .filter(|p| *p != local)
        .map(|p| {
            let (low, high) = if local < p {
                (&local, &p)
            } else {
                (&p, &local)
            };
            format!("{id}-{}-{}-{}-{}", low.0, low.1, high.0, high.1)
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The management API of the broker named by `rabbitmq_config`.
struct Management {
    base: String,
    user: String,
    password: String,
}

impl Management {
    fn of(metadata: &Map<String, Value>) -> Result<Self, String> {
        let c = metadata
            .get("rabbitmq_config")
            .ok_or("no rabbitmq_config in the federation metadata")?;
        let text = |k: &str| match c.get(k) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let host = text("host").ok_or("rabbitmq_config.host is missing")?;
        let port = text("mng_port").ok_or("rabbitmq_config.mng_port is missing")?;
        Ok(Self {
            base: format!("http://{host}:{port}/api"),
            user: text("user").unwrap_or_default(),
            password: text("password").unwrap_or_default(),
        })
    }

    /// `…/api/vhosts/<name>`, the name escaped as one path segment.
    fn url(&self, vhost: &str) -> Result<reqwest::Url, String> {
        let mut url = reqwest::Url::parse(&self.base).map_err(|e| format!("{}: {e}", self.base))?;
        url.path_segments_mut()
            .map_err(|()| format!("{}: not a base", self.base))?
            .extend(["vhosts", vhost]);
        Ok(url)
    }
}

/// Creates the task's vhosts and waits until each runs on every node. `Err` says what could
/// not be done; the task goes on and pyfate makes its own calls.
pub async fn prepare(metadata: &Map<String, Value>) -> Result<Vec<String>, String> {
    let names = vhosts(metadata);
    if names.is_empty() {
        return Ok(names);
    }
    let m = Management::of(metadata)?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    for name in &names {
        let url = m.url(name)?;
        let r = http
            .put(url.clone())
            .basic_auth(&m.user, Some(&m.password))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .map_err(|e| format!("create vhost {name}: {e}"))?;
        if !r.status().is_success() {
            return Err(format!("create vhost {name}: HTTP {}", r.status()));
        }
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            let r = http
                .get(url.clone())
                .basic_auth(&m.user, Some(&m.password))
                .send()
                .await
                .map_err(|e| format!("query vhost {name}: {e}"))?;
            let state: Value = if r.status().is_success() {
                r.json().await.unwrap_or(Value::Null)
            } else {
                Value::Null
            };
            if running(&state) {
                break;
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "vhost {name} not running within {} s: {state}",
                    READY_WITHIN.as_secs()
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }
    Ok(names)
}

/// A vhost runs when the broker lists a state for it on some node and every state is `running`.
fn running(vhost: &Value) -> bool {
    vhost
        .get("cluster_state")
        .and_then(Value::as_object)
        .is_some_and(|s| !s.is_empty() && s.values().all(|v| v == "running"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meta(local: (&str, &str), parties: &[(&str, &str)]) -> Map<String, Value> {
        let one = |(r, p): (&str, &str)| json!({"role": r, "partyid": p});
        json!({
            "federation_id": "202612050048097875060_lr_0_0",
            "parties": {"local": one(local), "parties": parties.iter().copied().map(one).collect::<Vec<_>>()},
            "rabbitmq_config": {"host": "127.0.0.1", "port": 5672, "mng_port": 15672, "user": "fate", "password": "fate"},
        })
        .as_object()
        .unwrap()
        .clone()
    }

    #[test]
    fn the_vhosts_are_pyfates_names_for_the_local_partys_pairs() {
        let all = [("guest", "9999"), ("host", "10000"), ("arbiter", "9999")];
        // The names pyfate made in a real run (the broker's queue listing).
        assert_eq!(
            vhosts(&meta(("guest", "9999"), &all)),
            [
                "202612050048097875060_lr_0_0-arbiter-9999-guest-9999",
                "202612050048097875060_lr_0_0-guest-9999-host-10000",
            ]
        );
        assert_eq!(
            vhosts(&meta(("host", "10000"), &all)),
            [
                "202612050048097875060_lr_0_0-arbiter-9999-host-10000",
                "202612050048097875060_lr_0_0-guest-9999-host-10000",
            ]
        );
        // Party ids compare as strings, as in pyfate: "10000" < "9999".
        assert_eq!(
            vhosts(&meta(
                ("host", "9999"),
                &[("host", "9999"), ("host", "10000")]
            )),
            ["202612050048097875060_lr_0_0-host-10000-host-9999"]
        );
        assert!(vhosts(&meta(("local", "0"), &[("local", "0")])).is_empty());
    }

    #[test]
    fn a_vhost_runs_when_every_node_says_so() {
        assert!(running(&json!({"cluster_state": {"a@h": "running"}})));
        assert!(!running(
            &json!({"cluster_state": {"a@h": "running", "b@h": "stopped"}})
        ));
        assert!(!running(&json!({"cluster_state": {}})));
        assert!(!running(&json!({"name": "v"})));
    }

    #[test]
    fn names_are_escaped_in_the_url() {
        let m = Management::of(&meta(("guest", "9999"), &[])).unwrap();
        assert_eq!(
            m.url("a/b c").unwrap().as_str(),
            "http://127.0.0.1:15672/api/vhosts/a%2Fb%20c"
        );
    }
}

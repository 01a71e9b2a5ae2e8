//! The metric relay: where pyfate posts its metrics instead of the site.
//!
//! pyfate sends each metric record itself, to the `http` URI of its `metric` output, with one
//! `requests.post` and no retry; a failure is only logged, so a metric posted while the site
//! restarts is silently lost. Giving pyfate a `file://` URI instead would change what the site
//! stores (pyfate then merges every step of a metric into one record, written at the end), so
//! the wrapper keeps pyfate's `http` posts and points them at this relay: a listener on the
//! loopback interface of the task's own process (so containers need nothing extra) that
//! accepts each post at once and queues it; one forwarder sends the queue, in order, through
//! the retrying [`WorkerClient`], which waits out a restarting site. The wrapper drains the
//! relay before it reports success: a metric that never reached the site fails the task.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::component::worker_client::{self, WorkerClient};

/// A queued post, or the end of the queue.
type Item = Option<(String, Value)>;

/// A running relay; [`Relay::finish`] ends it.
pub struct Relay {
    /// `http://127.0.0.1:<port>/v2`: the base of the metric URIs given to pyfate.
    pub base: String,
    queue: mpsc::UnboundedSender<Item>,
    server: tokio::task::JoinHandle<()>,
    forwarder: tokio::task::JoinHandle<Result<usize, worker_client::Error>>,
}

impl Relay {
    /// Listens on `127.0.0.1:0` and forwards to `client`'s site.
    pub async fn start(client: WorkerClient) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let base = format!("http://{}/v2", listener.local_addr()?);
        let (queue, mut rx) = mpsc::unbounded_channel::<Item>();
        let app = axum::Router::new()
            .route(
                &format!(
                    "/v2{}/{{execution_id}}",
                    ferroflow_wire::worker::METRIC_SAVE
                ),
                axum::routing::post(accept),
            )
            .with_state(queue.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "metric relay stopped");
            }
        });
        let forwarder = tokio::spawn(async move {
            let mut sent = 0;
            while let Some(Some((execution_id, body))) = rx.recv().await {
                match client.forward_metric(&execution_id, &body).await {
                    Ok(()) => sent += 1,
                    Err(e @ worker_client::Error::Unreachable { .. }) => return Err(e),
                    // The site answered and refused it: pyfate itself only logs that.
                    Err(e) => {
                        tracing::warn!(error = %crate::component::error_chain(&e), "metric refused by the site")
                    }
                }
            }
            Ok(sent)
        });
        Ok(Self {
            base,
            queue,
            server,
            forwarder,
        })
    }

    /// Stops accepting (the algorithm has ended) and waits until every queued metric reached
    /// the site; how many were sent. Only a site that stayed silent past the wait is an error: a
    /// metric the site refused is logged and skipped, as pyfate does.
    pub async fn finish(self) -> Result<usize, worker_client::Error> {
        self.server.abort();
        let _ = self.server.await;
        // Connections still open keep senders alive: the end is a marker, not a closed channel.
        let _ = self.queue.send(None);
        match self.forwarder.await {
            Ok(result) => result,
            Err(e) => Err(worker_client::Error::Reply {
                what: "metric relay",
                detail: e.to_string(),
            }),
        }
    }
}

/// One post of pyfate's: queued, answered as the site answers a saved metric. A body that is
/// not a JSON object with a `data` list is refused here, as the site would refuse it.
async fn accept(
    State(queue): State<mpsc::UnboundedSender<Item>>,
    Path(execution_id): Path<String>,
    body: Bytes,
) -> impl IntoResponse {
    let body = match serde_json::from_slice::<Value>(&body) {
        Ok(v) if v.get("data").is_some_and(Value::is_array) => v,
        _ => return axum::Json(json!({"code": 100, "message": "no metric data"})),
    };
    if queue.send(Some((execution_id, body))).is_err() {
        return axum::Json(json!({"code": 100, "message": "the task is ending"}));
    }
    axum::Json(json!({"code": 0, "message": "success"}))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::component::fake_site::FakeSite;
    use crate::component::worker_client::ClientOptions;

    fn client(base: &str, site_wait: Duration) -> WorkerClient {
        let options = ClientOptions {
            site_wait,
            retry_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(50),
            ..ClientOptions::default()
        };
        WorkerClient::new(base, options).unwrap()
    }

    async fn post(relay: &Relay, body: &str) -> Value {
        reqwest::Client::new()
            .post(format!("{}/worker/metric/save/e_1", relay.base))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn posts_reach_a_restarting_site_in_order_once_each() {
        let site = FakeSite::start().await;
        site.refuse_all(3);
        let relay = Relay::start(client(&format!("{}/v2", site.addr), Duration::from_secs(5)))
            .await
            .unwrap();
        for step in 0..3 {
            let body = json!({"data": [{"name": "loss", "data": [{"step": step}]}]});
            assert_eq!(post(&relay, &body.to_string()).await["code"], 0);
        }
        assert_eq!(post(&relay, "[1]").await["code"], 100, "no data list");
        assert_eq!(relay.finish().await.unwrap(), 3);
        let steps: Vec<Value> = site
            .calls_to("/v2/worker/metric/save/e_1")
            .iter()
            .map(|c| c.json()["data"][0]["data"][0]["step"].clone())
            .collect();
        assert_eq!(steps, [json!(0), json!(1), json!(2)]);
    }

    #[tokio::test]
    async fn a_site_silent_past_the_wait_is_an_error() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let base = format!("http://127.0.0.1:{port}/v2");
        let relay = Relay::start(client(&base, Duration::from_millis(200)))
            .await
            .unwrap();
        assert_eq!(
            post(&relay, r#"{"data": [{"name": "x"}]}"#).await["code"],
            0
        );
        let e = relay.finish().await.unwrap_err();
        assert!(
            e.to_string().starts_with(&format!(
                "metric save: cannot reach the site at {base}: no answer for"
            )),
            "{e}"
        );
    }
}

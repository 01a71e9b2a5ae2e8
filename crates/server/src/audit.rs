//! The audit log: every authenticated call and every refusal, with who called (as claimed, or
//! as verified), what, the answer's code, when and from where, stored in `t_audit` and counted
//! in `/metrics` (`ferroflow_auth_total{group,result}`).
//!
//! HTTP calls are recorded by one middleware (`http::audit_calls`) for every authenticated
//! route group — api-1 when `authentication.client` is on, api-2/api-4 when `site` is on,
//! api-3 when `worker` is on — and, in any group, for answers that are refusals
//! ([`is_refusal`]). A check elsewhere needs nothing more; to name the caller it verified it
//! calls [`verified`] on the request (or inserts a [`Caller`] into the request's extensions
//! before the audit layer, or into the response's). Refusals outside HTTP (TLS handshakes,
//! gRPC) call [`record`].
//!
//! Writes never slow a request: rows go into a bounded queue that one task drains, a batch
//! per transaction; when the queue is full the row is dropped and counted
//! (`ferroflow_audit_dropped_total`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use crate::store::{AuditRow, Store};

/// Rows waiting for the writer at most; more are dropped (and counted).
const CAPACITY: usize = 10_000;
/// Rows per transaction at most.
const BATCH: usize = 512;

/// The caller of a request as a check verified it (an app id, a party id, a task run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller(pub String);

/// The route that reads the audit log (`http::audit`).
pub const QUERY_ROUTE: &str = "/v2/audit/query";

/// Where checks that run inside the handler stack (extractors, inner layers) leave the caller
/// they saw; the audit layer puts one in every request's extensions and reads it after the
/// answer.
#[derive(Debug, Clone, Default)]
pub struct Slot(Arc<Mutex<Option<(String, bool)>>>);

impl Slot {
    /// The caller as the request names it (not verified); a verified one is kept.
    pub fn claim(&self, caller: &str) {
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if !s.as_ref().is_some_and(|(_, v)| *v) {
            *s = Some((caller.to_string(), false));
        }
    }

    /// The caller as a check verified it.
    pub fn verify(&self, caller: &str) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some((caller.to_string(), true));
    }

    pub(crate) fn get(&self) -> Option<(String, bool)> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Names the verified caller of a request, for the audit log and for handlers (which find
/// it as a [`Caller`] extension).
pub fn verified<B>(req: &mut axum::http::Request<B>, caller: &str) {
    if let Some(slot) = req.extensions().get::<Slot>() {
        slot.verify(caller);
    }
    req.extensions_mut().insert(Caller(caller.to_string()));
}

/// Codes that are a refusal of the caller: expired, unknown app, failed signature or token,
/// no role, no permission. 5001 is one only when the caller was not verified (a missing or
/// malformed credential; a verified caller's 5001 is a bad parameter).
pub fn is_refusal(code: i64, verified: bool) -> bool {
    matches!(code, 5000 | 5002 | 5003 | 5004 | 5005) || (code == 5001 && !verified)
}

enum Msg {
    Row(AuditRow),
    Flush(oneshot::Sender<()>),
}

/// The site's audit writer and its counters.
pub struct Audit {
    tx: mpsc::Sender<Msg>,
    dropped: Arc<AtomicU64>,
    counts: Mutex<BTreeMap<(String, &'static str), u64>>,
}

impl Audit {
    /// Starts the writer task (on the current runtime); it ends with the last sender.
    pub fn start(store: Store) -> Self {
        let (tx, rx) = mpsc::channel(CAPACITY);
        let dropped = Arc::new(AtomicU64::new(0));
        tokio::spawn(write_batches(store, rx, dropped.clone()));
        Self {
            tx,
            dropped,
            counts: Mutex::new(BTreeMap::new()),
        }
    }

    /// Queues a row (never waits); counts it by group and result.
    pub fn push(&self, row: AuditRow) {
        let result = if row.result == "refused" {
            "refused"
        } else {
            "ok"
        };
        *self
            .counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((row.group.clone(), result))
            .or_default() += 1;
        if self.tx.try_send(Msg::Row(row)).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Waits until every row queued before is stored (or dropped).
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// `ferroflow_auth_total` and `ferroflow_audit_dropped_total`, Prometheus text.
    pub fn render(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = writeln!(
            out,
            "# HELP ferroflow_auth_total Authenticated calls and refusals, by route group and result.\n# TYPE ferroflow_auth_total counter"
        );
        for ((group, result), n) in self.counts.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(
                out,
                "ferroflow_auth_total{{group=\"{group}\",result=\"{result}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP ferroflow_audit_dropped_total Audit rows lost: the writer's queue was full or the database refused them.\n# TYPE ferroflow_audit_dropped_total counter\nferroflow_audit_dropped_total {}",
            self.dropped()
        );
    }
}

async fn write_batches(store: Store, mut rx: mpsc::Receiver<Msg>, dropped: Arc<AtomicU64>) {
    while let Some(first) = rx.recv().await {
        let mut rows = Vec::new();
        let mut flushes = Vec::new();
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Msg::Row(r) => rows.push(r),
                Msg::Flush(done) => flushes.push(done),
            }
            if rows.len() < BATCH {
                next = rx.try_recv().ok();
            }
        }
        if !rows.is_empty()
            && let Err(e) = store.insert_audit(&rows).await
        {
            dropped.fetch_add(rows.len() as u64, Ordering::Relaxed);
            tracing::error!(error = %e, rows = rows.len(), "cannot store audit rows");
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// What one audited event was.
#[derive(Debug, Clone, Default)]
pub struct Event<'a> {
    /// `client`, `site`, `worker`, or the check's own name (`tls`, `grpc`).
    pub group: &'a str,
    pub caller: &'a str,
    pub verified: bool,
    pub method: &'a str,
    pub route: &'a str,
    pub code: i64,
    pub peer: Option<SocketAddr>,
    pub detail: &'a str,
}

/// Records one event: an authenticated call (`code` 0 or any non-refusal) or a refusal. For
/// checks outside HTTP (a TLS handshake refused, a gRPC packet refused): `record(&app.audit,
/// app.now(), &Event { group: "tls", code: 5003, .. })`.
pub fn record(audit: &Audit, now: i64, e: &Event<'_>) {
    let refused = is_refusal(e.code, e.verified) || (e.code != 0 && e.group == "tls");
    audit.push(AuditRow {
        id: 0,
        time: now,
        group: bounded(e.group, 16),
        caller: bounded(e.caller, 255),
        verified: e.verified,
        method: bounded(e.method, 16),
        route: bounded(e.route, 255),
        code: e.code,
        result: if refused { "refused" } else { "ok" }.into(),
        peer: e.peer.map(|p| p.to_string()).unwrap_or_default(),
        detail: bounded(e.detail, 1000),
    });
}

/// At most `n` characters of a value from outside (headers, paths).
fn bounded(s: &str, n: usize) -> String {
    s.chars().filter(|c| !c.is_control()).take(n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals() {
        for code in [5000, 5002, 5003, 5004, 5005] {
            assert!(is_refusal(code, true) && is_refusal(code, false));
        }
        assert!(is_refusal(5001, false));
        assert!(!is_refusal(5001, true));
        assert!(!is_refusal(0, false) && !is_refusal(1001, false) && !is_refusal(5008, false));
    }

    #[test]
    fn a_verified_caller_is_not_replaced_by_a_claim() {
        let s = Slot::default();
        s.claim("a");
        assert_eq!(s.get(), Some(("a".into(), false)));
        s.verify("b");
        s.claim("c");
        assert_eq!(s.get(), Some(("b".into(), true)));
    }
}

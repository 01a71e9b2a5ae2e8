//! Commands between sites: the ones this site sends (a scheduler's api-2 commands, a
//! participant's api-4 reports) and the ones it relays when it stands where FATE sites put their
//! proxy (HTTP by `dest-party-id`, or gRPC `unaryCall` by `dst.partyId`).
//!
//! Where a command goes is decided by one [`route::RouteTable`]; how it travels by the route:
//! FATE's HTTP transport (`dest-party-id`, `service: fateflow`, `initiator-party-id` headers)
//! or FATE's gRPC transport ([`grpc`]). A scheduler reaches its own parties over HTTP too,
//! exactly as it reaches remote ones, so one code path is tested by every job. A party that
//! cannot be reached answers FATE's 104 naming the party, its address and the reason.
//! Every command ferroflow sends is idempotent on the receiving side, so a connection error is
//! retried a few times at once and anything else is left to the scheduler's next pass.
//!
//! With `security.tls` configured, `https://` and `grpcs://` routes run over mutual TLS
//! ([`crate::tls`]) and the commands this site sends to ferroflow peers are signed
//! ([`Federation::signed`], [`sign`]); commands it relays keep their sender's signature.

pub mod grpc;
pub mod route;
pub mod sign;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;

use ferroflow_core::id::{Party, PartyId};
use ferroflow_wire::{Envelope, Route as CommandRoute};

use route::{Route, RouteTable};

/// Counts the relays a command went through; a command relayed this often is in a loop of
/// route tables (site A sends party X to B, B sends it back to A).
pub const HOPS_HEADER: &str = "x-ferroflow-hops";
const MAX_HOPS: u32 = 4;

/// One command as it travels: FATE's HTTP request, or the same carried in a gRPC packet.
#[derive(Debug, Clone)]
pub struct Command {
    pub dest: PartyId,
    pub method: String,
    /// The full path, `/v2/partner/job/create`.
    pub path: String,
    /// Headers to replay (names lower-case).
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Command {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn set_header(&mut self, name: &str, value: String) {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name.to_string(), value));
    }
}

/// Why a command did not reach its party; becomes FATE's 104.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undelivered {
    pub party: PartyId,
    /// The route tried, if there was one.
    pub address: Option<String>,
    pub reason: String,
}

impl std::fmt::Display for Undelivered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.address {
            Some(a) => write!(f, "party {} at {a}: {}", self.party, self.reason),
            None => write!(f, "party {}: {}", self.party, self.reason),
        }
    }
}

impl Undelivered {
    pub fn envelope(&self) -> Envelope {
        Envelope::federated_error(self)
    }
}

/// What this site's own address looks like inside gRPC packets.
#[derive(Debug, Clone)]
pub struct OwnAddress {
    pub host: String,
    pub http_port: u16,
    pub grpc_port: u16,
}

/// What crossed this site's federation edge, for `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    /// Commands delivered over HTTP (to this site's own parties too) and over gRPC.
    pub over_http: AtomicU64,
    pub over_grpc: AtomicU64,
    /// Commands received for a party served elsewhere and passed on.
    pub relayed: AtomicU64,
    /// Commands answered with 104 because they did not reach their party.
    pub undelivered: AtomicU64,
    /// Time to an answer (retries included), by destination party.
    pub latency: crate::metrics::ByLabel<crate::metrics::Histogram>,
    /// Commands that did not reach their party, by destination party.
    pub failures: crate::metrics::ByLabel<AtomicU64>,
}

impl Counters {
    pub fn render(&self, out: &mut String) {
        use std::fmt::Write;
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# HELP ferroflow_commands_sent_total Site-to-site commands delivered, by transport.\n\
             # TYPE ferroflow_commands_sent_total counter\n\
             ferroflow_commands_sent_total{{transport=\"http\"}} {}\n\
             ferroflow_commands_sent_total{{transport=\"grpc\"}} {}",
            get(&self.over_http),
            get(&self.over_grpc)
        );
        for (name, help, v) in [
            (
                "ferroflow_commands_relayed_total",
                "Commands for parties served elsewhere, passed on by the route table.",
                &self.relayed,
            ),
            (
                "ferroflow_commands_undelivered_total",
                "Commands answered with 104: no route, or no answer.",
                &self.undelivered,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                get(v)
            );
        }
        self.latency.render(
            "ferroflow_command_seconds",
            "Site-to-site commands, time to an answer (retries included), by destination party.",
            "party",
            out,
        );
        self.failures.render(
            "ferroflow_command_failures_total",
            "Site-to-site commands that did not reach their party, by destination party.",
            "party",
            out,
        );
    }
}

/// How a command this site sends is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Not signed (site authentication is off).
    None,
    /// FATE's site signature from the partner app of the destination (`api.md` §7.3).
    Fate,
    /// ferroflow's Ed25519 signature over the whole command, to a ferroflow peer
    /// (`federation::sign`).
    Ferroflow,
}

/// What signing commands with FATE's scheme needs: the partner apps, this site's own party
/// (which destination `0` means), the clock of the timestamps.
#[derive(Clone)]
struct SiteSigning {
    store: crate::store::Store,
    own_party: PartyId,
    clock: Arc<dyn crate::clock::Clock>,
}

impl std::fmt::Debug for SiteSigning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SiteSigning")
            .field("own_party", &self.own_party)
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct Federation {
    pub counters: Arc<Counters>,
    site_signing: Option<SiteSigning>,
    http: reqwest::Client,
    grpc: grpc::Client,
    own_url: String,
    own: OwnAddress,
    routes: RouteTable,
    timeout: Duration,
    /// This site's ferroflow credentials and trusted peers, when it has them.
    security: Option<Arc<crate::tls::Security>>,
}

impl Federation {
    /// `own_url` serves the parties the table resolves as local.
    pub fn new(
        own_url: String,
        own: OwnAddress,
        routes: RouteTable,
        timeout: Duration,
        security: Option<Arc<crate::tls::Security>>,
    ) -> Self {
        let mut http = reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(30))
            .tcp_nodelay(true);
        if let Some(sec) = &security {
            http = http.use_preconfigured_tls(sec.http_client_config());
        }
        let http = http
            .build()
            .expect("an HTTP client with a checked TLS configuration builds");
        Self {
            counters: Arc::default(),
            site_signing: None,
            http,
            grpc: grpc::Client::new(security.clone()),
            own_url,
            own,
            routes,
            timeout,
            security,
        }
    }

    /// The site's ferroflow credentials, if it has them.
    pub fn security(&self) -> Option<&Arc<crate::tls::Security>> {
        self.security.as_ref()
    }

    /// Which scheme signs a command this site sends: a ferroflow signature when the site has
    /// credentials and the destination is a ferroflow peer (a trusted card names its party, or
    /// its route is mutual TLS); otherwise the command goes as it is. Called once per attempt,
    /// so a retry is a new signature (the first may have been seen). The command names this
    /// site's party as its source.
    pub fn signed(&self, cmd: &Command, route: &Route) -> Command {
        let Some(sec) = &self.security else {
            return cmd.clone();
        };
        if !(route.is_tls() || self.signing(&cmd.dest) == Scheme::Ferroflow) {
            return cmd.clone();
        }
        let mut cmd = cmd.clone();
        cmd.set_header(sign::SRC_PARTY, self.routes.own().to_string());
        cmd.set_header(sign::DEST_PARTY, cmd.dest.to_string());
        let nonce = sign::nonce();
        let headers = sec.signing.headers(&sign::Signed {
            method: &cmd.method,
            path: &cmd.path,
            body: &cmd.body,
            timestamp_ms: sign::now_ms(),
            nonce: &nonce,
            src: cmd.header(sign::SRC_PARTY).unwrap_or_default(),
            dest: cmd.header(sign::DEST_PARTY).unwrap_or_default(),
            initiator: cmd.header(sign::INITIATOR).unwrap_or_default(),
        });
        for (k, v) in headers {
            cmd.set_header(&k, v);
        }
        cmd
    }

    /// Signs every command this site sends with FATE's site scheme (`authentication.site`).
    pub fn with_site_signing(
        mut self,
        store: crate::store::Store,
        own_party: PartyId,
        clock: Arc<dyn crate::clock::Clock>,
    ) -> Self {
        self.site_signing = Some(SiteSigning {
            store,
            own_party,
            clock,
        });
        self
    }

    /// Which scheme signs a command to `dest`: the one place this is decided. A ferroflow
    /// peer (a trusted card names the party, or its route is mutual TLS) gets the ferroflow
    /// signature ([`Federation::signed`], per attempt); anyone else FATE's site signature when
    /// site authentication is on.
    pub fn signing(&self, dest: &PartyId) -> Scheme {
        if let Some(sec) = &self.security
            && (sec.is_peer_party(dest) || self.routes.resolve(dest).is_some_and(Route::is_tls))
        {
            return Scheme::Ferroflow;
        }
        if self.site_signing.is_some() {
            Scheme::Fate
        } else {
            Scheme::None
        }
    }

    /// Adds the signature headers of `cmd` (by [`Federation::signing`]); `Err` when it cannot
    /// be signed, and then it is not sent.
    async fn sign(&self, cmd: &mut Command, initiator: &str) -> Result<(), Undelivered> {
        match (self.signing(&cmd.dest), &self.site_signing) {
            (Scheme::Fate, Some(s)) => {
                // FATE signs a command for party 0 (its own parties) as its own party; so does
                // ferroflow for every party this site serves (single-site mode serves them all).
                let party = if cmd.dest.as_str() == "0" || self.routes.is_local(&cmd.dest) {
                    &s.own_party
                } else {
                    &cmd.dest
                };
                let undelivered = |reason: String| Undelivered {
                    party: cmd.dest.clone(),
                    address: None,
                    reason,
                };
                let partner = s.store.partner(party.as_str()).await.map_err(|e| {
                    undelivered(format!("cannot read the partner apps to sign with: {e}"))
                })?;
                let Some(p) = partner else {
                    return Err(undelivered(format!(
                        "(5002, 'No found appid: party_id[{party}]'): no partner app to sign \
                         the command with (add one with /v2/app/partner/create)"
                    )));
                };
                let headers = crate::auth::fate::site_headers(
                    &p.app_id,
                    &p.app_token,
                    initiator,
                    s.clock.now_ms(),
                );
                for (k, v) in headers {
                    cmd.set_header(&k, v);
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    pub fn routes(&self) -> &RouteTable {
        &self.routes
    }

    pub fn own_address(&self) -> &OwnAddress {
        &self.own
    }

    /// Whether `party` is served by this site.
    pub fn is_local(&self, party: &PartyId) -> bool {
        self.routes.is_local(party)
    }

    /// Sends one command to several parties at once; replies in party order.
    pub async fn fan_out<B: Serialize>(
        &self,
        parties: &[Party],
        route: CommandRoute<B>,
        body: impl Fn(&Party) -> B,
    ) -> Vec<(Party, Envelope)> {
        self.fan_out_as(parties, route, "", body).await
    }

    /// [`Federation::fan_out`] naming the initiator party (FATE's `initiator-party-id`).
    pub async fn fan_out_as<B: Serialize>(
        &self,
        parties: &[Party],
        route: CommandRoute<B>,
        initiator: &str,
        body: impl Fn(&Party) -> B,
    ) -> Vec<(Party, Envelope)> {
        let sends = parties.iter().map(|p| {
            let b = body(p);
            async move {
                let reply = self.send_as(&p.party_id, route, &b, initiator).await;
                (p.clone(), reply)
            }
        });
        futures::future::join_all(sends).await
    }

    /// Sends a command to the site serving `dest`. Never fails: an unreachable party's reply
    /// is FATE's 104 with the party and the reason.
    pub async fn send<B: Serialize>(
        &self,
        dest: &PartyId,
        route: CommandRoute<B>,
        body: &B,
    ) -> Envelope {
        self.send_as(dest, route, body, "").await
    }

    /// [`Federation::send`] naming the initiator party (FATE's `initiator-party-id`).
    pub async fn send_as<B: Serialize>(
        &self,
        dest: &PartyId,
        route: CommandRoute<B>,
        body: &B,
        initiator: &str,
    ) -> Envelope {
        let path = route.path;
        let mut cmd = Command {
            dest: dest.clone(),
            method: "POST".into(),
            path: format!("/v2{path}"),
            headers: vec![
                ("dest-party-id".into(), dest.to_string()),
                ("service".into(), "fateflow".into()),
                ("initiator-party-id".into(), initiator.to_string()),
            ],
            body: Bytes::from(serde_json::to_vec(body).expect("command bodies serialise")),
        };
        if let Err(u) = self.sign(&mut cmd, initiator).await {
            tracing::warn!(%u, path, "command not signed");
            self.counters.undelivered.fetch_add(1, Ordering::Relaxed);
            return u.envelope();
        }
        match self.deliver_as(&cmd, true).await {
            Ok(v) => Envelope::from_value(v).unwrap_or_else(|e| {
                Undelivered {
                    party: dest.clone(),
                    address: self.routes.resolve(dest).map(|r| self.address(r)),
                    reason: format!("reply is not FATE's envelope: {e}"),
                }
                .envelope()
            }),
            Err(u) => {
                tracing::debug!(%u, path, "command not delivered");
                u.envelope()
            }
        }
    }

    /// Passes on a command this site received as a proxy (over HTTP or gRPC): counts the hop,
    /// then delivers it like its own.
    pub async fn relay(&self, mut cmd: Command) -> Result<Value, Undelivered> {
        let hops = cmd
            .header(HOPS_HEADER)
            .and_then(|h| h.parse::<u32>().ok())
            .unwrap_or(0);
        if hops >= MAX_HOPS {
            return Err(Undelivered {
                party: cmd.dest.clone(),
                address: None,
                reason: format!(
                    "relayed {hops} times: the route tables of the sites on the way loop"
                ),
            });
        }
        cmd.set_header(HOPS_HEADER, (hops + 1).to_string());
        self.counters.relayed.fetch_add(1, Ordering::Relaxed);
        self.deliver_as(&cmd, false).await
    }

    /// Delivers `cmd` to the site its destination resolves to and returns that site's JSON
    /// reply, whatever its `code`. `own`: a command of this site's, signed here; otherwise a
    /// relayed one, whose headers (its signature) pass untouched.
    async fn deliver_as(&self, cmd: &Command, own: bool) -> Result<Value, Undelivered> {
        let started = std::time::Instant::now();
        let result = self.try_deliver(cmd, own).await;
        let party = cmd.dest.to_string();
        self.counters.latency.get(&party).observe(started.elapsed());
        if result.is_err() {
            self.counters.undelivered.fetch_add(1, Ordering::Relaxed);
            self.counters.failures.add(&party);
        }
        result
    }

    async fn try_deliver(&self, cmd: &Command, own: bool) -> Result<Value, Undelivered> {
        let Some(route) = self.routes.resolve(&cmd.dest) else {
            return Err(Undelivered {
                party: cmd.dest.clone(),
                address: None,
                reason: "no route (add the party to `routes`, or a `default`)".into(),
            });
        };
        let address = self.address(route);
        let undelivered = |reason: String| Undelivered {
            party: cmd.dest.clone(),
            address: Some(address.clone()),
            reason,
        };
        let mut last_error = String::new();
        for attempt in 0..3u32 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(50 * 4u64.pow(attempt - 1))).await;
            }
            let signed;
            let cmd = if own {
                signed = self.signed(cmd, route);
                &signed
            } else {
                cmd
            };
            let outcome = match route {
                Route::Local => self.over_http(&self.own_url, cmd).await,
                Route::Http(base) => self.over_http(base, cmd).await,
                Route::Grpc(addr) => {
                    let call = grpc::Call {
                        addr,
                        tls: false,
                        own: &self.own,
                        timeout: self.timeout,
                    };
                    self.grpc.call(call, cmd).await
                }
                Route::Grpcs(addr) => {
                    let call = grpc::Call {
                        addr,
                        tls: true,
                        own: &self.own,
                        timeout: self.timeout,
                    };
                    self.grpc.call(call, cmd).await
                }
            };
            match outcome {
                Ok(v) => {
                    let c = match route {
                        Route::Grpc(_) | Route::Grpcs(_) => &self.counters.over_grpc,
                        _ => &self.counters.over_http,
                    };
                    c.fetch_add(1, Ordering::Relaxed);
                    return Ok(v);
                }
                Err(Failure::Retry(e)) => last_error = e,
                Err(Failure::Final(e)) => return Err(undelivered(e)),
            }
        }
        Err(undelivered(last_error))
    }

    fn address(&self, route: &Route) -> String {
        match route {
            Route::Local => self.own_url.clone(),
            other => other.to_string(),
        }
    }

    async fn over_http(&self, base: &str, cmd: &Command) -> Result<Value, Failure> {
        let method = reqwest::Method::from_bytes(cmd.method.as_bytes())
            .map_err(|_| Failure::Final(format!("method {:?}", cmd.method)))?;
        let mut req = self
            .http
            .request(method, format!("{base}{}", cmd.path))
            .timeout(self.timeout)
            .body(cmd.body.clone());
        let mut has_type = false;
        for (k, v) in &cmd.headers {
            has_type |= k.eq_ignore_ascii_case("content-type");
            req = req.header(k.as_str(), v.as_str());
        }
        if !has_type {
            req = req.header("content-type", "application/json");
        }
        match req.send().await {
            Ok(resp) if resp.status().is_success() => {
                let bytes = resp
                    .bytes()
                    .await
                    .map_err(|e| Failure::Final(format!("reply cut short: {}", root_cause(&e))))?;
                serde_json::from_slice(&bytes).map_err(|_| {
                    Failure::Final(format!(
                        "reply is not JSON: {}",
                        String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
                    ))
                })
            }
            Ok(resp) => Err(Failure::Retry(format!("HTTP {}", resp.status()))),
            Err(e) if e.is_connect() => Err(Failure::Retry(format!(
                "cannot connect ({})",
                root_cause(&e)
            ))),
            Err(e) if e.is_timeout() => Err(Failure::Final(format!(
                "no answer within {:?}",
                self.timeout
            ))),
            Err(e) => Err(Failure::Final(root_cause(&e))),
        }
    }
}

/// An attempt's failure: worth another attempt at once (nothing reached the party), or not.
#[derive(Debug)]
enum Failure {
    Retry(String),
    Final(String),
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

//! Which site serves a party, and over what. FATE Flow has no such table (it sends every
//! command to one proxy and lets the proxy route); ferroflow keeps one table that serves both
//! its own commands and the commands it relays as a proxy, so one place says where a party is.
//!
//! Resolution, first match wins:
//! 1. party `0` and the site's own `party_id` are local;
//! 2. the party's entry in `routes`;
//! 3. `routes.default`;
//! 4. in multi-party mode (a federation engine other than `standalone`), FATE's own proxy keys
//!    (`fateflow.proxy_name: nginx|osx|rollsite` and `federation.<proxy>`), as FATE would send;
//! 5. in single-site mode every other party is local (one site plays every role);
//! 6. otherwise there is no route, and the command's answer is FATE's 104 naming the party.

use std::collections::BTreeMap;
use std::fmt;

use ferroflow_core::id::PartyId;

/// How a party's site is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// This site.
    Local,
    /// FATE's HTTP transport to a base URL (a site's HTTP port, or an HTTP proxy such as the
    /// nginx of FATE's `proxy_name: nginx`, or another ferroflow site acting as one).
    Http(String),
    /// FATE's gRPC transport (`DataTransferService/unaryCall`) to `host:port`: a FATE Flow
    /// site's `grpc_port`, an OSX/rollsite proxy, or a ferroflow site's gRPC port.
    Grpc(String),
    /// The same over mutual TLS (`grpcs://`): a ferroflow site's `security.tls.grpc_port`.
    Grpcs(String),
}

impl Route {
    /// `local`, `http(s)://host:port[/base]` or `grpc(s)://host:port`.
    pub fn parse(s: &str) -> Result<Route, String> {
        let s = s.trim();
        if s == "local" {
            return Ok(Route::Local);
        }
        for (scheme, tls) in [("grpc://", false), ("grpcs://", true)] {
            let Some(rest) = s.strip_prefix(scheme) else {
                continue;
            };
            let rest = rest.trim_end_matches('/');
            if rest.is_empty() || rest.contains('/') || !rest.contains(':') {
                return Err(format!("route {s:?}: a gRPC route is {scheme}host:port"));
            }
            return Ok(if tls {
                Route::Grpcs(rest.to_string())
            } else {
                Route::Grpc(rest.to_string())
            });
        }
        if s.starts_with("http://") || s.starts_with("https://") {
            return Ok(Route::Http(s.trim_end_matches('/').to_string()));
        }
        Err(format!(
            "route {s:?}: expected `local`, http(s)://host:port or grpc(s)://host:port"
        ))
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Route::Local => f.write_str("local"),
            Route::Http(u) => f.write_str(u),
            Route::Grpc(a) => write!(f, "grpc://{a}"),
            Route::Grpcs(a) => write!(f, "grpcs://{a}"),
        }
    }
}

/// The resolved table (see the module doc for the order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTable {
    own: PartyId,
    entries: BTreeMap<PartyId, Route>,
    /// Where unlisted parties go: `routes.default`, FATE's proxy, or nowhere.
    default: Option<Route>,
    /// Single-site mode: unlisted parties are local when there is no default.
    unlisted_local: bool,
}

impl RouteTable {
    pub fn new(
        own: PartyId,
        entries: BTreeMap<PartyId, Route>,
        default: Option<Route>,
        unlisted_local: bool,
    ) -> Self {
        Self {
            own,
            entries,
            default,
            unlisted_local,
        }
    }

    /// Every party on this site (tests, single-site tools).
    pub fn all_local(own: PartyId) -> Self {
        Self::new(own, BTreeMap::new(), None, true)
    }

    pub fn resolve(&self, party: &PartyId) -> Option<&Route> {
        if party.as_str() == "0" || *party == self.own {
            return Some(&Route::Local);
        }
        if let Some(r) = self.entries.get(party) {
            return Some(r);
        }
        if let Some(d) = &self.default {
            return Some(d);
        }
        self.unlisted_local.then_some(&Route::Local)
    }

    pub fn is_local(&self, party: &PartyId) -> bool {
        self.resolve(party) == Some(&Route::Local)
    }

    /// The site's own party id.
    pub fn own(&self) -> &PartyId {
        &self.own
    }
}

impl Route {
    /// Whether the route runs over mutual TLS (`https://`, `grpcs://`).
    pub fn is_tls(&self) -> bool {
        match self {
            Route::Http(u) => u.starts_with("https://"),
            Route::Grpcs(_) => true,
            Route::Local | Route::Grpc(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PartyId {
        PartyId::new(s)
    }

    #[test]
    fn parse_forms() {
        assert_eq!(Route::parse("local"), Ok(Route::Local));
        assert_eq!(
            Route::parse("http://127.0.0.1:9380/"),
            Ok(Route::Http("http://127.0.0.1:9380".into()))
        );
        assert_eq!(
            Route::parse("grpc://127.0.0.1:9360"),
            Ok(Route::Grpc("127.0.0.1:9360".into()))
        );
        assert_eq!(
            Route::parse("grpcs://127.0.0.1:9463/"),
            Ok(Route::Grpcs("127.0.0.1:9463".into()))
        );
        assert!(Route::parse("grpcs://127.0.0.1:9463").unwrap().is_tls());
        assert!(Route::parse("https://h:9443").unwrap().is_tls());
        assert!(!Route::parse("http://h:9380").unwrap().is_tls());
        assert_eq!(Route::Grpcs("h:1".into()).to_string(), "grpcs://h:1");
        for bad in [
            "127.0.0.1:9380",
            "grpc://host",
            "grpc://h:1/x",
            "grpcs://h",
            "ftp://h",
            "",
        ] {
            assert!(Route::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            Route::Grpc("h:1".into()).to_string(),
            "grpc://h:1",
            "displayed as written"
        );
    }

    #[test]
    fn resolution_order() {
        let entries = BTreeMap::from([
            (p("10000"), Route::Http("http://b".into())),
            (p("9998"), Route::Local),
        ]);
        let multi = RouteTable::new(p("9999"), entries.clone(), None, false);
        assert_eq!(multi.resolve(&p("9999")), Some(&Route::Local));
        assert_eq!(multi.resolve(&p("0")), Some(&Route::Local));
        assert_eq!(multi.resolve(&p("9998")), Some(&Route::Local));
        assert_eq!(
            multi.resolve(&p("10000")),
            Some(&Route::Http("http://b".into()))
        );
        assert_eq!(
            multi.resolve(&p("10001")),
            None,
            "no route in multi-party mode"
        );

        let single = RouteTable::new(p("9999"), entries.clone(), None, true);
        assert!(single.is_local(&p("10001")));
        assert!(!single.is_local(&p("10000")));

        let proxied = RouteTable::new(p("9999"), entries, Some(Route::Grpc("x:1".into())), true);
        assert_eq!(
            proxied.resolve(&p("10001")),
            Some(&Route::Grpc("x:1".into())),
            "a default wins over single-site locality"
        );
        assert!(proxied.is_local(&p("9999")), "the own party never leaves");
    }
}

//! `security.tls` and `authentication`: who may call a site, as configured.

use std::path::{Path, PathBuf};

/// `security.tls`, with its files resolved (see `docs/security.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub signing_key: PathBuf,
    pub peers_dir: PathBuf,
    /// HTTPS port for site commands (0: any free port); not served when `None`.
    pub port: Option<u16>,
    /// gRPC `unaryCall` over mutual TLS (0: any free port); not served when `None`.
    pub grpc_port: Option<u16>,
}

impl TlsConfig {
    /// The default files in `<data_dir>/credentials`, where `ferroflow keys init` writes them.
    pub fn in_dir(credentials: &Path) -> Self {
        Self {
            cert: credentials.join("site.crt"),
            key: credentials.join("site.key"),
            signing_key: credentials.join("sign.key"),
            peers_dir: credentials.join("peers"),
            port: None,
            grpc_port: None,
        }
    }

    pub(super) fn from_raw(raw: &ferroflow_wire::service_conf::RawTls, data_dir: &Path) -> Self {
        let d = Self::in_dir(&data_dir.join("credentials"));
        let path = |v: &Option<String>, default: PathBuf| match v {
            Some(p) if !p.is_empty() => {
                let p = PathBuf::from(p);
                if p.is_absolute() { p } else { data_dir.join(p) }
            }
            _ => default,
        };
        Self {
            cert: path(&raw.cert, d.cert),
            key: path(&raw.key, d.key),
            signing_key: path(&raw.signing_key, d.signing_key),
            peers_dir: path(&raw.peers_dir, d.peers_dir),
            port: raw.port,
            grpc_port: raw.grpc_port,
        }
    }
}

/// `authentication: {client, site, permission, worker}`. `None`: not in the file, decided at
/// start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthSwitches {
    pub client: Option<bool>,
    pub site: Option<bool>,
    pub permission: bool,
    /// ferroflow's `authentication.worker` (default on): api-3 calls must carry the worker
    /// token of the task run they name (`docs/security.md`).
    pub worker: bool,
}

impl Default for AuthSwitches {
    fn default() -> Self {
        Self {
            client: None,
            site: None,
            permission: false,
            worker: true,
        }
    }
}

impl AuthSwitches {
    /// Whether api-1 calls must be signed.
    pub fn client(&self) -> bool {
        self.client.unwrap_or(false)
    }

    /// Whether commands between sites are signed and verified.
    pub fn site(&self) -> bool {
        self.site.unwrap_or(false)
    }

    /// Whether app and permission management are available (FATE: client or site on).
    pub fn any(&self) -> bool {
        self.client() || self.site()
    }

    /// Secure by default: a site reachable from other machines (`loopback_only` false)
    /// authenticates clients and sites unless the file turns a switch off explicitly; a
    /// loopback-only site stays open unless turned on. Returns a warning for every switch
    /// turned off on a reachable site.
    pub fn resolve(&mut self, loopback_only: bool) -> Vec<String> {
        let mut warnings = Vec::new();
        for (name, switch) in [("client", &mut self.client), ("site", &mut self.site)] {
            match *switch {
                None => *switch = Some(!loopback_only),
                Some(false) if !loopback_only => warnings.push(format!(
                    "authentication.{name} is off on a site listening beyond loopback: \
                     anyone who reaches it may call its {} routes unsigned",
                    if name == "client" {
                        "api-1 (client)"
                    } else {
                        "api-2 and api-4 (site)"
                    }
                )),
                Some(_) => {}
            }
        }
        warnings
    }
}

#[cfg(test)]
mod tests {
    use super::super::*;

    #[test]
    fn security_tls_files_and_tls_routes() {
        let c = Config::from_raw(
            RawServiceConf::from_yaml(
                "data_dir: /srv/ff\nsecurity: {tls: {port: 9443, peers_dir: /etc/ff/peers}}\n\
                 routes: {10000: 'https://10.0.0.2:9443', 10001: 'grpcs://10.0.0.3:9463'}\n",
            )
            .unwrap(),
            &Overrides::default(),
        )
        .unwrap();
        let t = c.tls.unwrap();
        assert_eq!(t.cert, PathBuf::from("/srv/ff/credentials/site.crt"));
        assert_eq!(t.signing_key, PathBuf::from("/srv/ff/credentials/sign.key"));
        assert_eq!(t.peers_dir, PathBuf::from("/etc/ff/peers"));
        assert_eq!((t.port, t.grpc_port), (Some(9443), None));
        assert_eq!(
            c.routes[&PartyId::new("10001")],
            Route::Grpcs("10.0.0.3:9463".into())
        );
        let e = Config::from_raw(
            RawServiceConf::from_yaml("routes: {10000: 'grpcs://10.0.0.3:9463'}\n").unwrap(),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("security.tls"), "{e}");
        assert!(
            RawServiceConf::from_yaml("security: {tls: {prot: 1}}\n").is_err(),
            "unknown keys are typos"
        );
    }

    #[test]
    fn authentication_is_on_beyond_loopback_unless_turned_off() {
        let load = |yaml: &str| {
            Config::from_raw(
                RawServiceConf::from_yaml(yaml).unwrap(),
                &Overrides::default(),
            )
            .unwrap()
            .auth
        };
        let mut a = load("party_id: 9999\n");
        assert_eq!((a.client, a.site), (None, None));
        let mut open = a;
        assert!(open.resolve(true).is_empty());
        assert!(!open.any(), "a loopback-only site stays open");
        assert!(a.resolve(false).is_empty());
        assert!(a.client() && a.site(), "a reachable site authenticates");

        let mut off = load("authentication: {client: false, site: true}\n");
        let warnings = off.resolve(false);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("authentication.client"));
        assert!(!off.client() && off.site());
        let mut on = load("authentication: {client: true}\n");
        assert!(on.resolve(true).is_empty());
        assert!(on.client() && !on.site());

        let bad = RawServiceConf::from_yaml("authentication: {client: maybe}\n").unwrap();
        assert!(Config::from_raw(bad, &Overrides::default()).is_err());
    }
}

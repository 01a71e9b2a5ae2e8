//! `database`: the store's URL and pool, from FATE's `engine` and its server sections, with
//! the password kept out of every printout.

use std::path::Path;
use std::time::Duration;

use super::{Error, absolute};

/// The environment variable `ferroflow serve` reads the database password from.
pub const DB_PASSWORD_ENV: &str = "FERROFLOW_DB_PASSWORD";

/// Where the store lives and how many connections it may hold. The URL may carry the
/// password: `Debug` masks it, and nothing else prints the URL.
#[derive(Clone, PartialEq, Eq)]
pub struct Database {
    /// An sqlx URL: `sqlite://…`, `postgres://…` or `mysql://…`.
    pub url: String,
    pub pool: crate::store::PoolSettings,
}

impl Database {
    pub fn sqlite(path: &Path) -> Self {
        Self {
            url: format!("sqlite://{}", absolute(path).display()),
            pool: Default::default(),
        }
    }

    /// What an operator reads in an error: the server's `host:port` and database name
    /// (`sqlite <path>` for SQLite); never the user or password.
    pub fn endpoint(&self) -> String {
        let Some((scheme, rest)) = self.url.split_once("://") else {
            return "the configured database".into();
        };
        if scheme == "sqlite" {
            return format!("sqlite {}", rest.split('?').next().unwrap_or(rest));
        }
        let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
        let rest = rest.split('?').next().unwrap_or(rest);
        match rest.split_once('/') {
            Some((hostport, name)) => format!("{scheme} at {hostport}, database {name}"),
            None => format!("{scheme} at {rest}"),
        }
    }

    /// The URL with its password (if any) replaced by `***`.
    pub fn masked_url(&self) -> String {
        match (self.url.split_once("://"), self.url.rfind('@')) {
            (Some((scheme, rest)), Some(at)) if at > scheme.len() + 3 => {
                match rest[..at - scheme.len() - 3].split_once(':') {
                    Some((user, _)) => format!("{scheme}://{user}:***{}", &self.url[at..]),
                    None => self.url.clone(),
                }
            }
            _ => self.url.clone(),
        }
    }
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("url", &self.masked_url())
            .field("pool", &self.pool)
            .finish()
    }
}

/// `database.mysql` / `database.postgresql` → an sqlx URL. The password is the
/// environment's (`o.db_password`), else `passwd_file`'s first line, else `passwd`.
pub(super) fn server_database(
    engine: &str,
    scheme: &str,
    default_port: u16,
    section: Option<ferroflow_wire::service_conf::RawDbServer>,
    env_password: Option<&str>,
) -> Result<Database, Error> {
    let Some(sec) = section else {
        return Err(Error::Invalid(format!(
            "database.engine is {engine}: the database.{engine} section is missing"
        )));
    };
    let text = |key: &str, v: &Option<serde_yaml::Value>| -> Result<Option<String>, Error> {
        match v {
            None | Some(serde_yaml::Value::Null) => Ok(None),
            Some(serde_yaml::Value::String(s)) => Ok(Some(s.clone())),
            Some(serde_yaml::Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(Error::Invalid(format!(
                "database.{engine}.{key} must be a string"
            ))),
        }
    };
    let number = |key: &str, v: &Option<serde_yaml::Value>| -> Result<Option<u64>, Error> {
        match text(key, v)? {
            None => Ok(None),
            Some(t) => t.trim().parse::<u64>().map(Some).map_err(|_| {
                Error::Invalid(format!(
                    "database.{engine}.{key} must be a whole number, got {t:?}"
                ))
            }),
        }
    };
    let name = text("name", &sec.name)?
        .filter(|n| !n.is_empty())
        .ok_or_else(|| Error::Invalid(format!("database.{engine}.name is required")))?;
    let user = text("user", &sec.user)?
        .filter(|n| !n.is_empty())
        .ok_or_else(|| Error::Invalid(format!("database.{engine}.user is required")))?;
    let password = match (env_password, &sec.passwd_file) {
        (Some(p), _) => Some(p.to_string()),
        (None, Some(file)) => {
            let body = std::fs::read_to_string(file).map_err(|e| {
                // The file's name is the operator's own setting; its content never shows.
                Error::Invalid(format!(
                    "database.{engine}.passwd_file {file:?} cannot be read: {}",
                    e.kind()
                ))
            })?;
            Some(body.lines().next().unwrap_or_default().to_string())
        }
        (None, None) => text("passwd", &sec.passwd)?,
    };
    let host = sec.host.clone().unwrap_or_else(|| "127.0.0.1".into());
    if host.is_empty() || host.contains(['/', '@', '?', '#', ' ']) {
        return Err(Error::Invalid(format!(
            "database.{engine}.host {host:?} is not a host name"
        )));
    }
    let port = number("port", &sec.port)?.unwrap_or(default_port as u64);
    if port == 0 || port > 65535 {
        return Err(Error::Invalid(format!(
            "database.{engine}.port {port} is not a port"
        )));
    }
    let max_connections = number("max_connections", &sec.max_connections)?.unwrap_or(8);
    if max_connections == 0 || max_connections > 10_000 {
        return Err(Error::Invalid(format!(
            "database.{engine}.max_connections must be 1 to 10000"
        )));
    }
    let stale_timeout = number("stale_timeout", &sec.stale_timeout)?;
    let enc = |s: &str| percent_encode(s);
    let userinfo = match password {
        Some(p) if !p.is_empty() => format!("{}:{}", enc(&user), enc(&p)),
        _ => enc(&user),
    };
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host
    };
    Ok(Database {
        url: format!("{scheme}://{userinfo}@{host}:{port}/{}", enc(&name)),
        pool: crate::store::PoolSettings {
            max_connections: max_connections as u32,
            idle_timeout: stale_timeout.filter(|s| *s > 0).map(Duration::from_secs),
        },
    })
}

/// Percent-encodes everything but RFC 3986's unreserved characters (URL user, password,
/// path segment).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::*;

    fn db(yaml: &str, o: &Overrides) -> Result<Database, Error> {
        Config::from_raw(RawServiceConf::from_yaml(yaml).unwrap(), o).map(|c| c.database)
    }

    #[test]
    fn database_servers_from_fate_keys() {
        let d = db(
            "database:\n  engine: mysql\n  mysql: {name: fate_flow, user: fate, passwd: \"p@ss:w/rd\", \
             host: db.local, port: 3307, max_connections: 20, stale_timeout: 30}\n",
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(
            d.url,
            "mysql://fate:p%40ss%3Aw%2Frd@db.local:3307/fate_flow"
        );
        assert_eq!(d.pool.max_connections, 20);
        assert_eq!(d.pool.idle_timeout, Some(Duration::from_secs(30)));
        let shown = format!("{d:?}");
        assert!(
            !shown.contains("p%40ss") && !shown.contains("w%2Frd"),
            "{shown}"
        );
        assert!(
            shown.contains("mysql://fate:***@db.local:3307/fate_flow"),
            "{shown}"
        );
        // What an unreachable server's error names: host, port, database; no credentials.
        assert_eq!(d.endpoint(), "mysql at db.local:3307, database fate_flow");

        let d = db(
            "database: {engine: postgresql, postgresql: {name: ff, user: ff}}\n",
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(d.url, "postgres://ff@127.0.0.1:5432/ff");
        assert_eq!(d.masked_url(), d.url);
    }

    #[test]
    fn the_password_comes_from_the_environment_then_a_file_then_the_file_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "from-file\n").unwrap();
        let yaml = format!(
            "database: {{engine: postgresql, postgresql: {{name: ff, user: ff, passwd: inline, \
             passwd_file: {}}}}}\n",
            file.display()
        );
        let env = Overrides {
            db_password: Some("from-env".into()),
            ..Default::default()
        };
        assert!(db(&yaml, &env).unwrap().url.contains(":from-env@"));
        assert!(
            db(&yaml, &Overrides::default())
                .unwrap()
                .url
                .contains(":from-file@")
        );
        let inline =
            "database: {engine: postgresql, postgresql: {name: ff, user: ff, passwd: 1234}}\n";
        assert!(
            db(inline, &Overrides::default())
                .unwrap()
                .url
                .contains(":1234@")
        );

        let missing = format!(
            "database: {{engine: mysql, mysql: {{name: ff, user: ff, passwd: secret-inline, \
             passwd_file: {}/none}}}}\n",
            dir.path().display()
        );
        let Err(Error::Invalid(msg)) = db(&missing, &Overrides::default()) else {
            panic!("a missing password file is an error");
        };
        assert!(
            msg.contains("passwd_file") && !msg.contains("secret-inline"),
            "{msg}"
        );
    }

    #[test]
    fn bad_database_sections_are_refused_without_echoing_the_password() {
        for yaml in [
            "database: {engine: mysql}\n",
            "database: {engine: mysql, mysql: {user: u, passwd: hunter2}}\n",
            "database: {engine: mysql, mysql: {name: n, passwd: hunter2}}\n",
            "database: {engine: mysql, mysql: {name: n, user: u, passwd: hunter2, port: 70000}}\n",
            "database: {engine: mysql, mysql: {name: n, user: u, passwd: hunter2, port: abc}}\n",
            "database: {engine: postgresql, postgresql: {name: n, user: u, passwd: hunter2, host: \"a/b\"}}\n",
            "database: {engine: postgresql, postgresql: {name: n, user: u, passwd: hunter2, max_connections: 0}}\n",
        ] {
            let Err(Error::Invalid(msg)) = db(yaml, &Overrides::default()) else {
                panic!("{yaml} is refused");
            };
            assert!(!msg.contains("hunter2"), "{msg}");
        }
    }
}

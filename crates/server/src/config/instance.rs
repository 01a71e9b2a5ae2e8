//! `instance`: this process as one of several instances of a site that share its database
//! (`docs/deploy.md`): its name, the host its tasks run on, the lease of a job's scheduling,
//! and the address in front of every instance that tasks call.

use std::time::Duration;

use ferroflow_wire::service_conf::RawInstance;

use super::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceConfig {
    /// Configured name; `None`: `flow-<host>-<http_port>` (`Config::instance_id`).
    pub id: Option<String>,
    /// The host this instance's tasks run on, recorded with each run.
    pub host: String,
    /// How long a lease lasts unrenewed, and how long a heartbeat counts.
    pub lease: Duration,
    /// Whether this is one of several instances: jobs are scheduled under leases, and the
    /// runs of an instance that stopped beating are taken over. Off by default (one process).
    pub leases: bool,
    /// The address in front of every instance, as `(host, port)`, that tasks call.
    pub front: Option<(String, u16)>,
}

impl InstanceConfig {
    pub fn from_raw(raw: Option<&RawInstance>) -> Result<Self, Error> {
        let r = raw.cloned().unwrap_or_default();
        let lease_ms = r.lease_ms.unwrap_or(10_000);
        if lease_ms < 1_000 {
            return Err(Error::Invalid(format!(
                "instance.lease_ms must be at least 1000, got {lease_ms}"
            )));
        }
        let front = match r.front.as_deref().filter(|f| !f.is_empty()) {
            None => None,
            Some(f) => {
                let parsed = f
                    .rsplit_once(':')
                    .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
                    .filter(|(h, p)| !h.is_empty() && *p != 0);
                Some(parsed.ok_or_else(|| {
                    Error::Invalid(format!("instance.front must be host:port, got {f:?}"))
                })?)
            }
        };
        if let Some(id) = &r.id
            && (id.is_empty() || id.len() > 128 || id.chars().any(char::is_whitespace))
        {
            return Err(Error::Invalid(format!(
                "instance.id must be 1 to 128 characters without spaces, got {id:?}"
            )));
        }
        Ok(Self {
            id: r.id,
            host: r.host.filter(|h| !h.is_empty()).unwrap_or_else(hostname),
            lease: Duration::from_millis(lease_ms),
            leases: r.leases.unwrap_or(false),
            front,
        })
    }
}

/// The machine's hostname (Linux), `localhost` when it cannot be read.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(yaml: &str) -> RawInstance {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn defaults() {
        let c = InstanceConfig::from_raw(None).unwrap();
        assert_eq!(c.lease, Duration::from_secs(10));
        assert_eq!((c.leases, &c.front, &c.id), (false, &None, &None));
        assert!(!c.host.is_empty());
    }

    #[test]
    fn front_and_lease_are_checked() {
        let c = InstanceConfig::from_raw(Some(&raw(
            "{id: a, front: 'lb.example:9380', lease_ms: 3000, leases: true}",
        )))
        .unwrap();
        assert_eq!(c.front, Some(("lb.example".into(), 9380)));
        assert_eq!((c.id.as_deref(), c.leases), (Some("a"), true));
        for bad in [
            "{front: lb}",
            "{front: 'lb:0'}",
            "{lease_ms: 10}",
            "{id: 'a b'}",
        ] {
            let e = InstanceConfig::from_raw(Some(&raw(bad))).unwrap_err();
            assert!(e.to_string().contains("instance."), "{bad}: {e}");
        }
    }
}

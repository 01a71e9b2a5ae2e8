//! `docker:`: how task containers run — network, user, limits, mounts, registry credentials.

use std::path::PathBuf;

use super::Error;

/// How task containers run (`docker:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerConfig {
    /// `host` or a Docker network name.
    pub network: String,
    /// What replaces `mlmd.metadata.host` in a container task's CONFIG (`None`: unchanged,
    /// the site's `host`, right with host networking).
    pub site_address: Option<String>,
    pub memory_mb: i64,
    /// `uid:gid`; `None`: the image's user.
    pub user: Option<String>,
    /// Mounted read-only.
    pub mounts: Vec<PathBuf>,
    /// Processes and threads per task container (0: no limit).
    pub pids_limit: i64,
    /// Credentials by registry (`host[:port]`), for pulls.
    pub registries: std::collections::BTreeMap<String, crate::launcher::RegistryAuth>,
}

/// Who task containers run as when the site runs as root and `docker.user` is not set: never
/// root (the conventional unprivileged uid of minimal images).
pub const CONTAINER_USER: &str = "65532:65532";
/// `docker.pids_limit` when not set: room for pyfate's worker processes and their threads.
pub const PIDS_LIMIT: i64 = 4096;

impl DockerConfig {
    pub(super) fn from_raw(
        raw: Option<ferroflow_wire::service_conf::RawDocker>,
    ) -> Result<Self, Error> {
        let raw = raw.unwrap_or_default();
        let network = raw
            .network
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "host".into());
        let site_address = raw.site_address.filter(|a| !a.is_empty());
        if network != "host" && site_address.is_none() {
            return Err(Error::Invalid(format!(
                "docker.site_address is required with docker.network {network:?}: the address \
                 containers on that network reach this site at"
            )));
        }
        let user = match raw.user {
            Some(u) if u.is_empty() => None,
            Some(u) => Some(u),
            None if nix::unistd::getuid().is_root() => Some(CONTAINER_USER.to_string()),
            None => Some(format!(
                "{}:{}",
                nix::unistd::getuid(),
                nix::unistd::getgid()
            )),
        };
        let mut mounts = Vec::new();
        for m in raw.mounts.unwrap_or_default() {
            let p = PathBuf::from(&m);
            if !p.is_absolute() {
                return Err(Error::Invalid(format!(
                    "docker.mounts: {m:?} is not an absolute path"
                )));
            }
            mounts.push(p);
        }
        Ok(Self {
            network,
            site_address,
            memory_mb: raw.memory_mb.unwrap_or(0).max(0),
            user,
            mounts,
            pids_limit: raw.pids_limit.unwrap_or(PIDS_LIMIT).max(0),
            registries: raw
                .registries
                .unwrap_or_default()
                .into_iter()
                .map(|(host, r)| {
                    (
                        host,
                        crate::launcher::RegistryAuth {
                            username: r.username,
                            password: r.password,
                        },
                    )
                })
                .collect(),
        })
    }
}

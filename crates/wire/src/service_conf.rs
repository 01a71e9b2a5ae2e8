//! `service_conf.yaml` as written: FATE Flow's keys where they exist, plus ferroflow's own
//! (`routes`, `scheduler`, `job_default`, `data_dir`). Everything is optional here; the
//! server turns this into a typed config with defaults.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_yaml::Value;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RawServiceConf {
    /// The site's own party id (FATE writes it as a number or a string).
    #[serde(default)]
    pub party_id: Option<Value>,
    #[serde(default)]
    pub fateflow: Option<RawFateflow>,
    #[serde(default)]
    pub database: Option<RawDatabase>,
    #[serde(default)]
    pub default_engines: Option<RawDefaultEngines>,
    #[serde(default)]
    pub default_provider: Option<RawDefaultProvider>,
    /// Engine sections keyed by engine name (`standalone: {cores: 32}`, ...).
    #[serde(default)]
    pub computing: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    pub federation: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    pub storage: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    pub model_store: Option<Value>,
    /// Python logging level number (20 = INFO).
    #[serde(default)]
    pub log_level: Option<i64>,
    /// ferroflow: where files live when not given on the command line.
    #[serde(default)]
    pub data_dir: Option<String>,
    /// ferroflow: party id (string or number) → how its site is reached (`local`,
    /// `http://host:port`, `grpc://host:port`); the key `default` serves unlisted parties.
    #[serde(default)]
    pub routes: Option<serde_yaml::Mapping>,
    /// ferroflow: scheduler tuning.
    #[serde(default)]
    pub scheduler: Option<RawScheduler>,
    /// ferroflow: this process as one of several instances of the site.
    #[serde(default)]
    pub instance: Option<RawInstance>,
    /// ferroflow: FATE's `job_default_config.yaml`, inline.
    #[serde(default)]
    pub job_default: Option<RawJobDefault>,
    /// ferroflow, for crash tests: named points where the site aborts as if killed.
    #[serde(default)]
    pub failpoints: Option<Vec<String>>,
    /// ferroflow: how tasks of `docker` providers run.
    #[serde(default)]
    pub docker: Option<RawDocker>,
    /// ferroflow: how ferroflow sites authenticate each other (mutual TLS, signed commands).
    #[serde(default)]
    pub security: Option<RawSecurity>,
    /// Every other top-level section, kept for `/v2/server/query/all`.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// `security:` (ferroflow's own section).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSecurity {
    #[serde(default)]
    pub tls: Option<RawTls>,
}

/// `security.tls`: the site's credentials and trusted peers (relative paths are in
/// `data_dir`), and the ports that serve site traffic over mutual TLS.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    /// The site's certificate (PEM); default `credentials/site.crt`.
    #[serde(default)]
    pub cert: Option<String>,
    /// Its private key (PEM, PKCS#8); default `credentials/site.key`.
    #[serde(default)]
    pub key: Option<String>,
    /// The Ed25519 key commands are signed with (PEM, PKCS#8); default `credentials/sign.key`.
    #[serde(default)]
    pub signing_key: Option<String>,
    /// One peer card per trusted key; default `credentials/peers`.
    #[serde(default)]
    pub peers_dir: Option<String>,
    /// HTTPS port for site commands (api-2, api-4); none when absent.
    #[serde(default)]
    pub port: Option<u16>,
    /// gRPC (`unaryCall`) over mutual TLS; none when absent.
    #[serde(default)]
    pub grpc_port: Option<u16>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RawFateflow {
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub http_port: Option<u16>,
    #[serde(default)]
    pub grpc_port: Option<u16>,
    #[serde(default)]
    pub proxy_name: Option<String>,
    #[serde(default)]
    pub protocol: Option<String>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RawDatabase {
    #[serde(default)]
    pub engine: Option<String>,
    #[serde(default)]
    pub sqlite: Option<RawSqlite>,
    #[serde(default)]
    pub mysql: Option<RawDbServer>,
    /// ferroflow: `engine: postgresql` reads this section (FATE's `mysql` keys).
    #[serde(default)]
    pub postgresql: Option<RawDbServer>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// A database server section (`database.mysql`, `database.postgresql`). Numbers and names
/// may be written as YAML numbers or strings, as FATE's files do.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RawDbServer {
    /// The database's name.
    #[serde(default)]
    pub name: Option<Value>,
    #[serde(default)]
    pub user: Option<Value>,
    #[serde(default)]
    pub passwd: Option<Value>,
    /// ferroflow: a file holding the password (its first line), instead of `passwd`.
    #[serde(default)]
    pub passwd_file: Option<String>,
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub port: Option<Value>,
    #[serde(default)]
    pub max_connections: Option<Value>,
    /// Seconds a pooled connection may stay idle.
    #[serde(default)]
    pub stale_timeout: Option<Value>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RawSqlite {
    #[serde(default)]
    pub path: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RawDefaultEngines {
    #[serde(default)]
    pub computing: Option<String>,
    #[serde(default)]
    pub federation: Option<String>,
    #[serde(default)]
    pub storage: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RawDefaultProvider {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub device: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RawScheduler {
    /// How often a polling scheduler collects task status (ms).
    #[serde(default)]
    pub poll_interval_ms: Option<u64>,
    /// How often every unfinished job is re-examined even without an event (ms).
    #[serde(default)]
    pub resync_interval_ms: Option<u64>,
    /// Per-attempt deadline of a command to another site (ms).
    #[serde(default)]
    pub command_timeout_ms: Option<u64>,
    /// First delay of an automatic retry (ms); it doubles with every attempt.
    #[serde(default)]
    pub retry_delay_ms: Option<u64>,
    /// How long a participant may stay unreachable before its job fails (ms).
    #[serde(default)]
    pub party_timeout_ms: Option<u64>,
    /// How often running tasks are checked for timeouts and lost processes (ms).
    #[serde(default)]
    pub detector_interval_ms: Option<u64>,
    /// How long a task's calls to its site wait out a site that does not answer (ms).
    #[serde(default)]
    pub task_site_wait_ms: Option<u64>,
}

/// ferroflow: one of several instances of a site sharing its database (`docs/deploy.md`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RawInstance {
    /// Its name among the site's instances; default `flow-<host>-<http_port>`.
    #[serde(default)]
    pub id: Option<String>,
    /// The host its tasks run on, as recorded with each run; default the machine's hostname.
    #[serde(default)]
    pub host: Option<String>,
    /// How long a job's scheduling lease lasts unrenewed, and an instance's heartbeat counts
    /// (ms); default 10000.
    #[serde(default)]
    pub lease_ms: Option<u64>,
    /// Whether this process is one of several instances: jobs scheduled under leases, the runs
    /// of a dead instance taken over; default off (one process).
    #[serde(default)]
    pub leases: Option<bool>,
    /// `host:port` of the address in front of every instance (a load balancer): what tasks
    /// call for api-3, so that they reach any instance; default this instance's own.
    #[serde(default)]
    pub front: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RawJobDefault {
    #[serde(default)]
    pub job_cores: Option<i64>,
    #[serde(default)]
    pub computing_partitions: Option<i64>,
    #[serde(default)]
    pub task_cores: Option<i64>,
    #[serde(default)]
    pub task_timeout: Option<i64>,
    #[serde(default)]
    pub auto_retries: Option<i64>,
    #[serde(default)]
    pub sync_type: Option<String>,
}

/// How task containers run (providers with `device: docker`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RawDocker {
    /// `host` (default, as FATE) or the name of a Docker network.
    #[serde(default)]
    pub network: Option<String>,
    /// The site's address as containers on `network` reach it; written into the CONFIG's
    /// `mlmd.metadata.host` of container tasks. Required unless the network is `host`.
    #[serde(default)]
    pub site_address: Option<String>,
    /// Memory limit of a task container in MiB (0 or absent: none).
    #[serde(default)]
    pub memory_mb: Option<i64>,
    /// `uid:gid` containers run as; absent: the site's own, so files they write on mounts
    /// belong to the site (65532:65532 when the site runs as root); `""`: the image's user.
    #[serde(default)]
    pub user: Option<String>,
    /// More host directories mounted read-only at the same path (e.g. where input files
    /// live).
    #[serde(default)]
    pub mounts: Option<Vec<String>>,
    /// Limit of processes and threads in a task container (absent: 4096; 0: none).
    #[serde(default)]
    pub pids_limit: Option<i64>,
    /// Credentials by registry (`host[:port]`), for images pulled from it.
    #[serde(default)]
    pub registries: Option<BTreeMap<String, RawRegistry>>,
}

/// `docker.registries.<host>`: a registry's basic-auth credentials.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRegistry {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for RawRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawRegistry")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl RawServiceConf {
    pub fn from_yaml(text: &str) -> Result<Self, serde_yaml::Error> {
        serde_yaml::from_str(text)
    }
}

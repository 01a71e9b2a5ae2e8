//! The site's typed configuration: `service_conf.yaml` (FATE's keys plus ferroflow's) with
//! defaults applied once, then passed down. Nothing reads the environment later.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ferroflow_core::dag::SyncType;
use ferroflow_core::id::PartyId;
use ferroflow_core::provider::{Device, ProviderDefaults};
use ferroflow_wire::service_conf::RawServiceConf;

use crate::federation::route::{Route, RouteTable};

mod database;
mod docker;
mod engines;
mod instance;
mod routes;
mod security;

use database::server_database;
pub use database::{DB_PASSWORD_ENV, Database};
pub use docker::{CONTAINER_USER, DockerConfig, PIDS_LIMIT};
pub use engines::{Engines, SparkConfig};
pub use instance::InstanceConfig;
use routes::routes;
pub use security::{AuthSwitches, TlsConfig};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read config {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid config {path}")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_yaml::Error,
    },
    #[error("invalid config: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone)]
pub struct Config {
    /// The site's own party id.
    pub party_id: PartyId,
    pub host: String,
    /// 0 lets the OS choose (tests); the bound port then replaces it.
    pub http_port: u16,
    pub grpc_port: u16,
    pub data_dir: PathBuf,
    /// Where the store lives: `database` (`sqlite`, `mysql`, `postgresql`).
    pub database: Database,
    pub engines: Engines,
    /// `computing.spark`, on a site whose computing engine is Spark.
    pub spark: Option<SparkConfig>,
    /// Where FATE's `file` storage keeps its tables (`storage.file.path`, else
    /// `<data_dir>/localfs`).
    pub localfs_dir: PathBuf,
    pub default_provider: ProviderDefaults,
    /// Cores of the local computing engine, shared by all jobs on this site.
    pub computing_cores: i64,
    /// Party id → how the site serving it is reached (`routes` in the file).
    pub routes: BTreeMap<PartyId, Route>,
    /// Where parties without an entry go: `routes.default`, else FATE's proxy keys in
    /// multi-party mode (see [`crate::federation::route`]).
    pub default_route: Option<Route>,
    /// Whether the gRPC service (`DataTransferService/unaryCall`) is served on `grpc_port`:
    /// when `fateflow.grpc_port` is given.
    pub serve_grpc: bool,
    /// The directory of the config file: FATE's `rabbitmq_route_table.yaml` and
    /// `pulsar_route_table.yaml` are read from there.
    pub conf_dir: Option<PathBuf>,
    pub scheduler: SchedulerConfig,
    /// This process as one of several instances of the site.
    pub instance: InstanceConfig,
    pub job_default: JobDefaults,
    pub log_level: i64,
    pub docker: DockerConfig,
    /// The executable the demo provider's components run as (`ferroflow component execute`).
    pub component_exe: PathBuf,
    /// Named points where the site aborts as if killed (crash tests only).
    pub failpoints: Vec<String>,
    /// FATE's `authentication` switches: signed api-1 calls (`client`), signed commands
    /// between sites (`site`), partners' grants checked on job creation (`permission` or
    /// `site`), and ferroflow's `worker` (api-3 calls need their run's worker token). Unset
    /// `client`/`site` are decided by the listening address when the site starts
    /// ([`AuthSwitches::resolve`]).
    pub auth: AuthSwitches,
    /// Where relative `file` paths of uploads resolve, and where multipart uploads are kept
    /// while they are imported (FATE's `UPLOAD_DATA_HOME` / `TEMP_DIR`).
    pub upload_dir: PathBuf,
    /// Directories `path`/`file` parameters may point into, besides `data_dir` and
    /// `upload_dir`.
    pub allowed_dirs: Vec<PathBuf>,
    /// The largest file `/v2/data/component/upload/file` accepts, in bytes.
    pub upload_max_bytes: u64,
    /// `model_store.engine` (`file`); `model_store.file.path` or `<data_dir>/model`.
    pub model_store: ModelStoreConfig,
    /// The `fate` provider registered at every start (`fate:`), as FATE registers
    /// `fate:<version>@local` pointing at its own Python; `None`: none is registered.
    pub fate: Option<FateConfig>,
    /// `security.tls`: mutual TLS and signed commands between ferroflow sites; `None`: this
    /// site has no ferroflow credentials (plain HTTP/gRPC, FATE's own scheme only).
    pub tls: Option<TlsConfig>,
    pub raw: RawServiceConf,
}

/// `fate: {venv, version, path}`: a Python environment with pyfate installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FateConfig {
    /// The interpreter (FATE's `metadata.venv` naming: a python, not a directory).
    pub venv: PathBuf,
    /// Default `2.2.0`.
    pub version: String,
    /// Prepended to `PYTHONPATH` of its tasks (`metadata.path`); empty: nothing.
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelStoreConfig {
    pub engine: String,
    pub path: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerConfig {
    /// How often a polling scheduler collects running tasks' status.
    pub poll_interval: Duration,
    /// How often every unfinished job is re-examined without an event (the safety net).
    pub resync_interval: Duration,
    /// Deadline of one command to another site.
    pub command_timeout: Duration,
    /// First delay of an automatic retry; doubles per attempt.
    pub retry_delay: Duration,
    /// How long a participant may stay unreachable before its job fails.
    pub party_timeout: Duration,
    /// How often running tasks are checked for timeouts.
    pub detector_interval: Duration,
    /// How long a task's calls to this site keep retrying while it does not answer (a
    /// restart); given to every task as `FERROFLOW_SITE_WAIT_SECS`.
    pub task_site_wait: Duration,
    /// Whether the scheduler loop runs by itself; tests turn it off and tick explicitly.
    pub autostart: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobDefaults {
    pub job_cores: i64,
    pub task_cores: i64,
    pub computing_partitions: i64,
    pub task_timeout: i64,
    pub auto_retries: i64,
    pub sync_type: SyncType,
}

impl Default for JobDefaults {
    fn default() -> Self {
        Self {
            job_cores: 4,
            task_cores: 4,
            computing_partitions: 8,
            task_timeout: 259_200,
            auto_retries: 0,
            sync_type: SyncType::Callback,
        }
    }
}

/// What the command line may override.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub port: Option<u16>,
    /// Serve gRPC on this port (0: any free port).
    pub grpc_port: Option<u16>,
    pub host: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub party_id: Option<String>,
    /// `fate.venv`: the Python of the `fate` provider registered at start.
    pub fate_venv: Option<PathBuf>,
    /// The database password, from the environment (`FERROFLOW_DB_PASSWORD`); it wins
    /// over `passwd` and `passwd_file`.
    pub db_password: Option<String>,
}

impl Config {
    pub fn load(path: Option<&Path>, overrides: &Overrides) -> Result<Self, Error> {
        let raw = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| Error::Read {
                    path: p.to_path_buf(),
                    source,
                })?;
                RawServiceConf::from_yaml(&text).map_err(|source| Error::Parse {
                    path: p.to_path_buf(),
                    source,
                })?
            }
            None => RawServiceConf::default(),
        };
        let mut config = Self::from_raw(raw, overrides)?;
        config.conf_dir = path.and_then(Path::parent).map(absolute);
        Ok(config)
    }

    pub fn from_raw(raw: RawServiceConf, o: &Overrides) -> Result<Self, Error> {
        let party_id = match (&o.party_id, &raw.party_id) {
            (Some(p), _) => p.clone(),
            (None, Some(serde_yaml::Value::String(s))) => s.clone(),
            (None, Some(serde_yaml::Value::Number(n))) => n.to_string(),
            (None, None) => "9999".to_string(),
            (None, Some(other)) => {
                return Err(Error::Invalid(format!(
                    "party_id must be a string, got {other:?}"
                )));
            }
        };
        let ff = raw.fateflow.clone().unwrap_or_default();
        let host = o
            .host
            .clone()
            .or(ff.host)
            .unwrap_or_else(|| "127.0.0.1".into());
        let http_port = o.port.or(ff.http_port).unwrap_or(9380);
        let grpc_port = o.grpc_port.or(ff.grpc_port).unwrap_or(9360);
        let data_dir = o
            .data_dir
            .clone()
            .or_else(|| raw.data_dir.as_ref().map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(".ferroflow"));
        let data_dir = absolute(&data_dir);

        let db = raw.database.clone().unwrap_or_default();
        let env_password = o.db_password.as_deref();
        let database = match db
            .engine
            .as_deref()
            .unwrap_or("sqlite")
            .to_lowercase()
            .as_str()
        {
            "sqlite" => {
                let path = db
                    .sqlite
                    .and_then(|s| s.path)
                    .map(PathBuf::from)
                    .unwrap_or_else(|| data_dir.join("ferroflow.db"));
                Database::sqlite(&path)
            }
            "mysql" => server_database("mysql", "mysql", 3306, db.mysql, env_password)?,
            "postgresql" => {
                server_database("postgresql", "postgres", 5432, db.postgresql, env_password)?
            }
            other => {
                return Err(Error::Invalid(format!(
                    "database.engine {other:?} is not supported (sqlite, mysql, postgresql)"
                )));
            }
        };

        let (engines, spark) = engines::from_raw(&raw)?;
        let localfs_dir = engines::localfs_dir(&raw, &data_dir);
        let computing_cores = raw
            .computing
            .as_ref()
            .and_then(|c| c.get(&engines.computing))
            .and_then(|e| e.get("cores"))
            .and_then(serde_yaml::Value::as_i64)
            .unwrap_or(32);

        let dp = raw.default_provider.clone().unwrap_or_default();
        let default_provider = ProviderDefaults {
            name: dp.name.unwrap_or_else(|| "fate".into()),
            version: dp.version.unwrap_or_else(|| "2.2.0".into()),
            device: dp
                .device
                .as_deref()
                .unwrap_or("local")
                .parse::<Device>()
                .map_err(|e| Error::Invalid(e.to_string()))?,
        };

        let (routes, default_route) = routes(&raw, &engines)?;

        let s = raw.scheduler.clone().unwrap_or_default();
        let scheduler = SchedulerConfig {
            poll_interval: Duration::from_millis(s.poll_interval_ms.unwrap_or(200)),
            resync_interval: Duration::from_millis(s.resync_interval_ms.unwrap_or(2_000)),
            command_timeout: Duration::from_millis(s.command_timeout_ms.unwrap_or(10_000)),
            retry_delay: Duration::from_millis(s.retry_delay_ms.unwrap_or(1_000)),
            party_timeout: Duration::from_millis(s.party_timeout_ms.unwrap_or(600_000)),
            detector_interval: Duration::from_millis(s.detector_interval_ms.unwrap_or(1_000)),
            task_site_wait: Duration::from_millis(s.task_site_wait_ms.unwrap_or(180_000)),
            autostart: true,
        };

        let instance = InstanceConfig::from_raw(raw.instance.as_ref())?;

        let jd = raw.job_default.clone().unwrap_or_default();
        let d = JobDefaults::default();
        let job_default = JobDefaults {
            job_cores: jd.job_cores.unwrap_or(d.job_cores),
            task_cores: jd.task_cores.unwrap_or(d.task_cores),
            computing_partitions: jd.computing_partitions.unwrap_or(d.computing_partitions),
            task_timeout: jd.task_timeout.unwrap_or(d.task_timeout),
            auto_retries: jd.auto_retries.unwrap_or(d.auto_retries),
            sync_type: match jd.sync_type {
                None => d.sync_type,
                Some(s) => s.parse().map_err(|_| {
                    Error::Invalid(format!(
                        "job_default.sync_type must be callback or poll, got {s:?}"
                    ))
                })?,
            },
        };

        let docker = DockerConfig::from_raw(raw.docker.clone())?;
        let component_exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("ferroflow"));
        let other = |k: &str| raw.other.get(k);
        let auth_section = other("authentication");
        let switch = |name: &str| -> Result<Option<bool>, Error> {
            match auth_section.and_then(|a| a.get(name)) {
                None | Some(serde_yaml::Value::Null) => Ok(None),
                Some(v) => v.as_bool().map(Some).ok_or_else(|| {
                    Error::Invalid(format!(
                        "authentication.{name} must be true or false, got {v:?}"
                    ))
                }),
            }
        };
        let auth = AuthSwitches {
            client: switch("client")?,
            site: switch("site")?,
            permission: switch("permission")?.unwrap_or(false),
            worker: switch("worker")?.unwrap_or(true),
        };
        let upload_dir = other("upload_dir")
            .and_then(serde_yaml::Value::as_str)
            .map(|p| absolute(Path::new(p)))
            .unwrap_or_else(|| data_dir.join("upload"));
        let allowed_dirs = match other("allowed_dirs") {
            None | Some(serde_yaml::Value::Null) => Vec::new(),
            Some(serde_yaml::Value::Sequence(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(|p| absolute(Path::new(p)))
                        .ok_or_else(|| Error::Invalid(format!("allowed_dirs: {v:?} is not a path")))
                })
                .collect::<Result<_, _>>()?,
            Some(v) => {
                return Err(Error::Invalid(format!(
                    "allowed_dirs must be a list of paths, got {v:?}"
                )));
            }
        };
        let upload_max_bytes = match other("upload_max_bytes") {
            None => 8 << 30,
            Some(v) => v.as_u64().ok_or_else(|| {
                Error::Invalid(format!(
                    "upload_max_bytes must be a number of bytes, got {v:?}"
                ))
            })?,
        };
        let ms = raw.model_store.clone().unwrap_or(serde_yaml::Value::Null);
        let model_store = ModelStoreConfig {
            engine: ms
                .get("engine")
                .and_then(serde_yaml::Value::as_str)
                .unwrap_or("file")
                .to_string(),
            path: ms
                .get("file")
                .and_then(|f| f.get("path"))
                .and_then(serde_yaml::Value::as_str)
                .map(|p| absolute(Path::new(p)))
                .unwrap_or_else(|| data_dir.join("model")),
        };
        if model_store.engine != "file" {
            return Err(Error::Invalid(format!(
                "model_store.engine {:?} is not supported yet (file)",
                model_store.engine
            )));
        }
        let fate = fate_config(other("fate"), o.fate_venv.as_deref())?;
        let tls = raw
            .security
            .as_ref()
            .and_then(|s| s.tls.as_ref())
            .map(|t| TlsConfig::from_raw(t, &data_dir));
        if tls.is_none() {
            let tls_route = routes
                .iter()
                .map(|(p, r)| (p.as_str(), r))
                .chain(default_route.iter().map(|r| ("default", r)))
                .find(|(_, r)| r.is_tls());
            if let Some((party, route)) = tls_route {
                return Err(Error::Invalid(format!(
                    "routes.{party}: {route} needs this site's credentials (security.tls)"
                )));
            }
        }
        Ok(Self {
            party_id: PartyId::new(party_id),
            host,
            http_port,
            grpc_port,
            data_dir,
            database,
            engines,
            spark,
            localfs_dir,
            default_provider,
            computing_cores,
            routes,
            default_route,
            serve_grpc: o.grpc_port.or(ff.grpc_port).is_some(),
            conf_dir: None,
            scheduler,
            instance,
            job_default,
            log_level: raw.log_level.unwrap_or(20),
            docker,
            component_exe,
            failpoints: raw.failpoints.clone().unwrap_or_default(),
            auth,
            upload_dir,
            allowed_dirs,
            upload_max_bytes,
            model_store,
            fate,
            tls,
            raw,
        })
    }

    /// A standalone site in `data_dir` listening on an OS-chosen port: what tests start.
    pub fn for_test(party_id: &str, data_dir: &Path) -> Self {
        let mut c = Self::from_raw(
            RawServiceConf::default(),
            &Overrides {
                port: Some(0),
                data_dir: Some(data_dir.to_path_buf()),
                party_id: Some(party_id.to_string()),
                ..Default::default()
            },
        )
        .expect("default config is valid");
        c.scheduler.command_timeout = Duration::from_secs(5);
        c
    }

    pub fn jobs_dir(&self) -> PathBuf {
        self.data_dir.join("jobs")
    }
    pub fn logs_dir(&self) -> PathBuf {
        self.data_dir.join("logs")
    }
    pub fn model_dir(&self) -> PathBuf {
        self.model_store.path.clone()
    }
    /// Where the site keeps multipart uploads until their job has imported them.
    pub fn incoming_dir(&self) -> PathBuf {
        self.upload_dir.join(".incoming")
    }
    /// `STANDALONE_DATA_HOME`: where tables of the standalone engine live.
    pub fn standalone_data_dir(&self) -> PathBuf {
        self.data_dir.join("data")
    }

    /// Every directory a `path`/`file` parameter may point into.
    pub fn path_roots(&self) -> Vec<PathBuf> {
        let mut roots = vec![self.data_dir.clone(), self.upload_dir.clone()];
        roots.extend(self.allowed_dirs.iter().cloned());
        roots
    }

    /// Where components' file parameters (`demo_reader`'s `path`, `upload`'s `file`,
    /// `download`'s `path`) may point: the API's directories and those mounted into task
    /// containers (`docker.mounts`).
    pub fn component_roots(&self) -> Vec<PathBuf> {
        let mut roots = self.path_roots();
        roots.extend(self.docker.mounts.iter().cloned());
        roots
    }

    /// `instance.id`, else `flow-{host}-{http_port}`, as FATE names an instance.
    pub fn instance_id(&self) -> String {
        match &self.instance.id {
            Some(id) => id.clone(),
            None => format!("flow-{}-{}", self.host, self.http_port),
        }
    }

    /// Whether the site runs in FATE's single-site ("standalone federation") mode.
    pub fn is_standalone(&self) -> bool {
        self.engines.federation == "standalone"
    }

    /// The route table commands (own and relayed) follow.
    pub fn route_table(&self) -> RouteTable {
        RouteTable::new(
            self.party_id.clone(),
            self.routes.clone(),
            self.default_route.clone(),
            self.is_standalone(),
        )
    }
}

/// `fate:` (`venv`, `version`, `path`), the command line's venv winning.
fn fate_config(
    section: Option<&serde_yaml::Value>,
    venv_override: Option<&Path>,
) -> Result<Option<FateConfig>, Error> {
    let get = |k: &str| {
        section
            .and_then(|s| s.get(k))
            .and_then(serde_yaml::Value::as_str)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let venv = match (venv_override, get("venv")) {
        (Some(v), _) => v.to_path_buf(),
        (None, Some(v)) => PathBuf::from(v),
        (None, None) => return Ok(None),
    };
    if section.is_some_and(|s| !s.is_mapping() && !s.is_null()) {
        return Err(Error::Invalid(
            "fate must be a mapping (venv, version, path)".into(),
        ));
    }
    Ok(Some(FateConfig {
        venv: absolute(&venv),
        version: get("version").unwrap_or_else(|| "2.2.0".into()),
        path: get("path").unwrap_or_default(),
    }))
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fate_keys_and_routes() {
        let raw = RawServiceConf::from_yaml(
            "party_id: 9999\nfateflow: {host: 0.0.0.0, http_port: 9390}\n\
             computing: {standalone: {cores: 8}}\nroutes: {'10000': 'http://127.0.0.1:9381/'}\n",
        )
        .unwrap();
        let c = Config::from_raw(raw, &Overrides::default()).unwrap();
        assert_eq!(c.party_id.as_str(), "9999");
        assert_eq!(c.http_port, 9390);
        assert_eq!(c.computing_cores, 8);
        assert_eq!(
            c.routes[&PartyId::new("10000")],
            Route::Http("http://127.0.0.1:9381".into())
        );
        assert!(c.database.url.starts_with("sqlite://"));
    }

    #[test]
    fn route_forms_and_fate_proxy() {
        let raw = RawServiceConf::from_yaml(
            "party_id: 9999\nroutes: {10000: 'grpc://127.0.0.1:9360', 9998: local}\n",
        )
        .unwrap();
        let c = Config::from_raw(raw, &Overrides::default()).unwrap();
        assert_eq!(
            c.routes[&PartyId::new("10000")],
            Route::Grpc("127.0.0.1:9360".into()),
            "numeric keys are party ids"
        );
        assert_eq!(c.default_route, None);
        assert!(
            c.route_table().is_local(&PartyId::new("10001")),
            "single-site mode"
        );

        let fate = "party_id: 9999\nfateflow: {proxy_name: osx}\n\
                    federation: {osx: {host: 10.0.0.1, port: 9370}}\n";
        let c = Config::from_raw(
            RawServiceConf::from_yaml(fate).unwrap(),
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(
            c.default_route, None,
            "the proxy is unused in single-site mode"
        );
        let multi = format!("{fate}default_engines: {{federation: rabbitmq}}\n");
        let c = Config::from_raw(
            RawServiceConf::from_yaml(&multi).unwrap(),
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(c.default_route, Some(Route::Grpc("10.0.0.1:9370".into())));
        assert_eq!(
            c.route_table().resolve(&PartyId::new("10001")),
            c.default_route.as_ref()
        );

        let nginx = "fateflow: {proxy_name: nginx}\ndefault_engines: {federation: rabbitmq}\n\
                     federation: {nginx: {host: 127.0.0.1, http_port: 9300, protocol: http}}\n";
        let c = Config::from_raw(
            RawServiceConf::from_yaml(nginx).unwrap(),
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(
            c.default_route,
            Some(Route::Http("http://127.0.0.1:9300".into()))
        );
        let none = "default_engines: {federation: rabbitmq}\n";
        let c = Config::from_raw(
            RawServiceConf::from_yaml(none).unwrap(),
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(c.route_table().resolve(&PartyId::new("10000")), None);

        let bad = RawServiceConf::from_yaml("routes: {10000: '127.0.0.1:9380'}\n").unwrap();
        let e = Config::from_raw(bad, &Overrides::default()).unwrap_err();
        assert!(e.to_string().contains("routes.10000"), "{e}");
    }

    #[test]
    fn command_line_wins() {
        let o = Overrides {
            port: Some(1),
            party_id: Some("7".into()),
            ..Default::default()
        };
        let c = Config::from_raw(RawServiceConf::default(), &o).unwrap();
        assert_eq!((c.http_port, c.party_id.as_str()), (1, "7"));
    }

    #[test]
    fn the_fate_provider_comes_from_its_section_or_the_command_line() {
        let raw =
            RawServiceConf::from_yaml("fate: {venv: /v/bin/python, version: 2.2.1}\n").unwrap();
        let c = Config::from_raw(raw.clone(), &Overrides::default()).unwrap();
        let f = c.fate.unwrap();
        assert_eq!(
            (f.venv.to_str(), f.version.as_str()),
            (Some("/v/bin/python"), "2.2.1")
        );
        let o = Overrides {
            fate_venv: Some("/w/python".into()),
            ..Default::default()
        };
        let f = Config::from_raw(raw, &o).unwrap().fate.unwrap();
        assert_eq!(
            (f.venv.to_str(), f.version.as_str()),
            (Some("/w/python"), "2.2.1")
        );
        assert!(
            Config::from_raw(RawServiceConf::default(), &Overrides::default())
                .unwrap()
                .fate
                .is_none()
        );
    }

    #[test]
    fn bad_values_are_refused() {
        let raw = RawServiceConf::from_yaml("job_default: {sync_type: sometimes}\n").unwrap();
        assert!(Config::from_raw(raw, &Overrides::default()).is_err());
        let raw = RawServiceConf::from_yaml("database: {engine: oracle}\n").unwrap();
        assert!(Config::from_raw(raw, &Overrides::default()).is_err());
    }
}

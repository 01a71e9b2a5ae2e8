//! The application: everything a request or the scheduler needs, in one place, and the
//! events that keep the loops moving.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use ferroflow_core::dag::config::SiteEnv;
use ferroflow_core::dag::resource::ResourceDefaults;
use ferroflow_core::id::{JobId, JobIdGenerator};
use ferroflow_core::provider::{Catalog, CatalogEntry, ComponentIo, ProviderRef};

use crate::clock::Clock;
use crate::config::Config;
use crate::federation::{Federation, OwnAddress};
use crate::launcher::Launcher;
use crate::model_store::{FileStore, ModelStore};
use crate::store::{self, ProviderFilter, Store};

/// Something changed that a background loop must look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A job the scheduler should re-examine.
    Job(JobId),
    /// Cores were freed or a job was queued: try to admit waiting jobs.
    Admission,
    /// A party status changed that the scheduler has not been told of.
    Report,
}

pub struct App {
    pub config: Config,
    pub store: Store,
    pub fed: Federation,
    pub launcher: Arc<dyn Launcher>,
    /// Where model archives are kept.
    pub models: Arc<dyn ModelStore>,
    pub clock: Arc<dyn Clock>,
    /// This site's contribution to every task CONFIG.
    pub site_env: SiteEnv,
    pub resource_defaults: ResourceDefaults,
    /// The base URL this site answers on.
    pub own_url: String,
    pub metrics: crate::metrics::Metrics,
    /// Signed requests seen within the window, refused if seen again.
    pub replay: crate::auth::replay::ReplayCache,
    /// The audit log's writer and counters.
    pub audit: crate::audit::Audit,
    /// This process among the site's instances, and the leases it holds.
    pub instance: crate::instance::Instance,
    job_ids: Mutex<JobIdGenerator>,
    events: mpsc::UnboundedSender<Event>,
    /// Jobs whose creation is in progress in this process (a step leaves them alone; after a
    /// crash the set is empty, and a step resumes them).
    creating: Arc<Mutex<HashSet<JobId>>>,
}

/// Marks a job as being created for as long as it lives.
pub struct Creating {
    set: Arc<Mutex<HashSet<JobId>>>,
    job_id: JobId,
}

impl Drop for Creating {
    fn drop(&mut self) {
        self.set
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.job_id);
    }
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("party_id", &self.config.party_id)
            .field("url", &self.own_url)
            .finish()
    }
}

impl App {
    pub fn new(
        config: Config,
        store: Store,
        launcher: Arc<dyn Launcher>,
        clock: Arc<dyn Clock>,
        own_url: String,
        events: mpsc::UnboundedSender<Event>,
        security: Option<Arc<crate::tls::Security>>,
    ) -> Self {
        let fed = Federation::new(
            own_url.clone(),
            OwnAddress {
                host: config.host.clone(),
                http_port: config.http_port,
                grpc_port: config.grpc_port,
            },
            config.route_table(),
            config.scheduler.command_timeout,
            security,
        );
        let fed = if config.auth.site() {
            fed.with_site_signing(store.clone(), config.party_id.clone(), clock.clone())
        } else {
            fed
        };
        let site_env = site_env(&config);
        let resource_defaults = ResourceDefaults {
            job_cores: config.job_default.job_cores,
            task_cores: config.job_default.task_cores,
            computing_engine: config.engines.computing.clone(),
            ..ResourceDefaults::default()
        };
        let models = Arc::new(FileStore::new(config.model_dir())) as Arc<dyn ModelStore>;
        let audit = crate::audit::Audit::start(store.clone());
        let instance = crate::instance::Instance::new(
            config.instance_id(),
            config.instance.host.clone(),
            config.instance.leases,
            config.instance.lease,
        );
        Self {
            config,
            store,
            fed,
            launcher,
            models,
            clock,
            site_env,
            resource_defaults,
            own_url,
            metrics: Default::default(),
            replay: crate::auth::replay::ReplayCache::new(crate::auth::replay::CAPACITY),
            audit,
            instance,
            job_ids: Mutex::new(JobIdGenerator::default()),
            events,
            creating: Arc::new(Mutex::new(HashSet::new())),
        }
    }

    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    pub fn next_job_id(&self) -> JobId {
        let t = self.clock.local_time();
        self.job_ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .next(t)
    }

    pub fn emit(&self, e: Event) {
        // The receiver lives as long as the site; a send after shutdown is harmless.
        let _ = self.events.send(e);
    }

    /// Wakes a job's scheduler: this process's, and, when another instance holds the job,
    /// that one through the dirty mark on the lease (its next poll).
    pub fn wake_job(&self, job_id: &JobId) {
        self.emit(Event::Job(job_id.clone()));
        if !self.instance.holds(job_id) {
            let (store, job, me) = (self.store.clone(), job_id.clone(), self.instance.id.clone());
            tokio::spawn(async move {
                if let Err(e) = store.mark_lease_dirty(&job, &me).await {
                    tracing::warn!(job_id = %job, error = %e, "cannot tell the job's instance");
                }
            });
        }
    }

    /// Wakes a job at a given time (ms), e.g. when a retry's back-off ends. The periodic
    /// resync would get there too; this is only to be on time.
    pub fn wake_job_at(&self, job_id: &JobId, at_ms: i64) {
        let delay = (at_ms - self.now()).max(0) as u64;
        let events = self.events.clone();
        let job = job_id.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
            let _ = events.send(Event::Job(job));
        });
    }

    pub fn creating(&self, job_id: &JobId) -> Creating {
        self.creating
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(job_id.clone());
        Creating {
            set: self.creating.clone(),
            job_id: job_id.clone(),
        }
    }

    pub fn is_creating(&self, job_id: &JobId) -> bool {
        self.creating
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(job_id)
    }

    /// Aborts the process at a named point when the config lists it: the crash tests' way of
    /// killing the site between two steps that must both happen or be recovered.
    pub fn failpoint(&self, name: &str) {
        if self.config.failpoints.iter().any(|f| f == name) {
            tracing::error!(failpoint = name, "failpoint reached: aborting");
            std::process::abort();
        }
    }

    /// The provider registry as validation needs it.
    pub async fn catalog(&self) -> Result<Catalog, store::Error> {
        let providers = self
            .store
            .query_providers(&ProviderFilter::default())
            .await?;
        let components = self.store.components().await?;
        let entries = providers
            .into_iter()
            .filter_map(|p| {
                let provider: ProviderRef = p.provider_name.parse().ok()?;
                let mine: Vec<&crate::store::ComponentRow> = components
                    .iter()
                    .filter(|c| c.provider_name == p.provider_name)
                    .collect();
                let names: Vec<String> = mine.iter().map(|c| c.component_name.clone()).collect();
                let io = mine
                    .iter()
                    .filter_map(|c| Some((c.component_name.clone(), component_io(&c.description)?)))
                    .collect();
                Some(CatalogEntry {
                    provider,
                    components: (!names.is_empty()).then_some(names),
                    io,
                })
            })
            .collect();
        Ok(Catalog {
            defaults: Some(self.config.default_provider.clone()),
            providers: entries,
        })
    }
}

/// The artifact names a component description declares (`{inputs: {data, model}, outputs:
/// {data, model}}`); `None` when it declares nothing, so the component is taken on trust.
fn component_io(desc: &Value) -> Option<ComponentIo> {
    let names = |side: &str| -> Option<Vec<String>> {
        let s = desc.get(side)?.as_object()?;
        Some(
            ["data", "model"]
                .iter()
                .filter_map(|class| s.get(*class)?.as_array())
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
        )
    };
    Some(ComponentIo {
        inputs: names("inputs")?,
        outputs: names("outputs")?,
    })
}

fn site_env(c: &Config) -> SiteEnv {
    let engine_section =
        |section: &Option<std::collections::BTreeMap<String, serde_yaml::Value>>, name: &str| {
            section
                .as_ref()
                .and_then(|s| s.get(name))
                .and_then(|v| serde_json::to_value(v).ok())
                .and_then(|v| v.as_object().cloned())
                .unwrap_or_default()
        };
    let mut computing_metadata = Map::new();
    match c.engines.computing.as_str() {
        "eggroll" => {
            let e = engine_section(&c.raw.computing, "eggroll");
            computing_metadata.insert(
                "host".into(),
                e.get("host").cloned().unwrap_or(json!("127.0.0.1")),
            );
            computing_metadata.insert("port".into(), e.get("port").cloned().unwrap_or(json!(4670)));
            computing_metadata.insert("config_options".into(), Value::Null);
            computing_metadata.insert("config_properties_file".into(), Value::Null);
            computing_metadata.insert("options".into(), json!({}));
        }
        "spark" => {
            // What ferroflow's task wrapper submits with (pyfate reads only `computing_id`):
            // the Spark installation and master, where `file` tables live, and the standalone
            // data home (a standalone federation's queues).
            let spark = c.spark.clone().unwrap_or(crate::config::SparkConfig {
                home: None,
                master: "local[*]".into(),
                conf: Map::new(),
            });
            computing_metadata.insert(
                "options".into(),
                json!({
                    "home": spark.home,
                    "master": spark.master,
                    "conf": spark.conf,
                    "localfs_dir": c.localfs_dir.to_string_lossy(),
                    "data_dir": c.standalone_data_dir().to_string_lossy(),
                }),
            );
        }
        _ => {
            let dir = c.standalone_data_dir().to_string_lossy().into_owned();
            computing_metadata.insert("options".into(), json!({ "data_dir": dir }));
        }
    }
    let (federation_engine, federation_metadata) =
        federation_env(c, &engine_section(&c.raw.federation, &c.engines.federation));
    SiteEnv {
        computing_engine: c.engines.computing.clone(),
        computing_metadata,
        federation_engine,
        federation_metadata,
        storage_engine: c.engines.storage.to_lowercase(),
        device: "CPU".into(),
        // Tasks call the address in front of every instance when there is one, so that they
        // reach the site whichever instance answers.
        mlmd_host: c
            .instance
            .front
            .as_ref()
            .map_or_else(|| c.host.clone(), |(h, _)| h.clone()),
        mlmd_port: c.instance.front.as_ref().map_or(c.http_port, |(_, p)| *p),
        mlmd_protocol: c
            .raw
            .fateflow
            .as_ref()
            .and_then(|f| f.protocol.clone())
            .unwrap_or_else(|| "http".into()),
        log_dir: c.logs_dir().to_string_lossy().into_owned(),
        log_level: c.log_level,
    }
}

/// The federation section of a task CONFIG (`dag.md` §8.4); OSX in stream mode is presented
/// as rollsite, as upstream does.
fn federation_env(c: &Config, section: &Map<String, Value>) -> (String, Map<String, Value>) {
    let mut m = Map::new();
    let engine = c.engines.federation.clone();
    let host_port = |s: &Map<String, Value>| {
        json!({"host": s.get("host").cloned().unwrap_or(json!("127.0.0.1")),
               "port": s.get("port").cloned().unwrap_or(json!(9370))})
    };
    match engine.as_str() {
        "rollsite" => {
            m.insert("rollsite_config".into(), host_port(section));
            ("rollsite".into(), m)
        }
        "osx" if section.get("mode").and_then(Value::as_str) == Some("stream") => {
            m.insert("rollsite_config".into(), host_port(section));
            ("rollsite".into(), m)
        }
        "osx" => {
            let mut cfg = host_port(section);
            cfg["max_message_size"] = section
                .get("max_message_size")
                .cloned()
                .unwrap_or(Value::Null);
            m.insert("osx_config".into(), cfg);
            ("osx".into(), m)
        }
        "rabbitmq" => {
            let get = |k: &str, d: Value| section.get(k).cloned().unwrap_or(d);
            m.insert(
                "route_table".into(),
                Value::Object(broker_routes(c, section, "rabbitmq_route_table.yaml")),
            );
            m.insert(
                "rabbitmq_config".into(),
                json!({
                    "host": get("host", json!("127.0.0.1")),
                    "port": get("port", json!(5672)),
                    "mng_port": get("mng_port", json!(15672)),
                    "user": get("user", json!("fate")),
                    "password": get("password", json!("fate")),
                    "max_message_size": get("max_message_size", Value::Null),
                    "mode": get("mode", json!("replication")),
                }),
            );
            m.insert("rabbitmq_run".into(), json!({}));
            m.insert("connection".into(), json!({}));
            ("rabbitmq".into(), m)
        }
        // standalone needs nothing more.
        other => (other.to_string(), m),
    }
}

/// A broker's route table (party id → `{host, port}` of the party's broker): inline under
/// `federation.<engine>.route_table`, else FATE's file next to the config. Parties it leaves
/// out use this site's broker (filled per task, `core::dag::config`).
fn broker_routes(c: &Config, section: &Map<String, Value>, file: &str) -> Map<String, Value> {
    let table = match section.get("route_table") {
        Some(Value::Object(m)) => Some(Value::Object(m.clone())),
        _ => c.conf_dir.as_ref().and_then(|d| {
            let path = d.join(file);
            let text = std::fs::read_to_string(&path).ok()?;
            match serde_yaml::from_str::<serde_yaml::Value>(&text) {
                Ok(v) => serde_json::to_value(v).ok(),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "broker route table unreadable");
                    None
                }
            }
        }),
    };
    match table {
        // YAML's integer keys arrive as strings through serde_json already.
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Overrides;
    use ferroflow_wire::service_conf::RawServiceConf;

    fn conf(yaml: &str) -> Config {
        Config::from_raw(
            RawServiceConf::from_yaml(yaml).unwrap(),
            &Overrides::default(),
        )
        .unwrap()
    }

    #[test]
    fn rabbitmq_federation_section_as_fate_builds_it() {
        let c = conf(
            "default_engines: {federation: rabbitmq}\n\
             federation: {rabbitmq: {host: 127.0.0.1, port: 5672, mng_port: 15672, user: u,\n\
             password: p, mode: replication, route_table: {10000: {host: 10.0.0.2, port: 5672}}}}\n",
        );
        let env = site_env(&c);
        assert_eq!(env.federation_engine, "rabbitmq");
        let m = Value::Object(env.federation_metadata);
        assert_eq!(
            m["rabbitmq_config"],
            json!({"host": "127.0.0.1", "port": 5672, "mng_port": 15672, "user": "u",
                   "password": "p", "max_message_size": null, "mode": "replication"})
        );
        assert_eq!(
            m["route_table"],
            json!({"10000": {"host": "10.0.0.2", "port": 5672}})
        );
        assert_eq!(
            (&m["rabbitmq_run"], &m["connection"]),
            (&json!({}), &json!({}))
        );
    }

    #[test]
    fn rabbitmq_route_table_from_fates_file_next_to_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("service_conf.yaml");
        std::fs::write(
            &path,
            "default_engines: {federation: rabbitmq}\nfederation: {rabbitmq: {host: mq}}\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("rabbitmq_route_table.yaml"),
            "9999:\n  host: 127.0.0.1\n  port: 5672\n",
        )
        .unwrap();
        let c = Config::load(Some(&path), &Overrides::default()).unwrap();
        let m = Value::Object(site_env(&c).federation_metadata);
        assert_eq!(
            m["route_table"],
            json!({"9999": {"host": "127.0.0.1", "port": 5672}})
        );
        assert_eq!(m["rabbitmq_config"]["host"], "mq");
        assert_eq!(m["rabbitmq_config"]["mng_port"], 15672, "FATE's default");
    }
}

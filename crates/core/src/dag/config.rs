//! Builds the CONFIG document of one task run (`dag.md` §8), field for field.

use serde_json::{Map, Value, json};

use ferroflow_wire::task_config::{Engine, Logger, Mlmd, MlmdMetadata, RuntimeConf, TaskConfig};

use crate::id::{JobId, Party, TaskId, TaskVersion, execution_id, federation_id};

use super::PlannedTask;

/// What a site contributes to every CONFIG it writes: its engines, where its worker API
/// listens, where logs go.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteEnv {
    /// `default_engines.computing` (`standalone`, `eggroll`, `spark`).
    pub computing_engine: String,
    /// Engine-specific metadata without `computing_id` (standalone:
    /// `{options: {data_dir}}`; eggroll: `{host, port, config_options, config_properties_file,
    /// options}`; spark: `{options: {home}}`).
    pub computing_metadata: Map<String, Value>,
    /// `default_engines.federation`; FATE's osx `stream` mode is already mapped to `rollsite`.
    pub federation_engine: String,
    /// Engine-specific metadata merged next to `federation_id` and `parties`
    /// (e.g. `{rollsite_config: {host, port}}`, `{rabbitmq_config: …, route_table: …}`).
    pub federation_metadata: Map<String, Value>,
    /// `default_engines.storage`, lower-case.
    pub storage_engine: String,
    /// `CPU` or `GPU`.
    pub device: String,
    pub mlmd_host: String,
    pub mlmd_port: u16,
    pub mlmd_protocol: String,
    /// Absolute `LOG_DIR`.
    pub log_dir: String,
    /// Python logging level number (20 = INFO).
    pub log_level: i64,
}

/// The job-wide values a CONFIG carries.
#[derive(Debug, Clone, PartialEq)]
pub struct JobMeta {
    pub job_id: JobId,
    pub model_id: String,
    pub model_version: String,
    pub computing_partitions: Option<i64>,
}

/// The CONFIG of `task` at `version` on `party`. `engine_run` is the task's run options
/// (see [`super::resource`]).
pub fn build(
    job: &JobMeta,
    party: &Party,
    task: &PlannedTask,
    version: TaskVersion,
    engine_run: &Map<String, Value>,
    env: &SiteEnv,
) -> TaskConfig {
    let task_id = TaskId::of(&job.job_id, &task.name);
    let execution_id = execution_id(&task_id, version, party.role, &party.party_id);

    let mut computing = Map::new();
    computing.insert("computing_id".into(), execution_id.clone().into());
    extend(&mut computing, &env.computing_metadata);

    let mut federation = Map::new();
    federation.insert(
        "federation_id".into(),
        federation_id(&task_id, version).into(),
    );
    federation.insert(
        "parties".into(),
        federation_parties(party, &task.runtime_parties),
    );
    extend(&mut federation, &env.federation_metadata);
    fill_broker_routes(&mut federation, party, &task.runtime_parties);

    TaskConfig {
        model_id: job.model_id.clone(),
        model_version: job.model_version.clone(),
        job_id: job.job_id.to_string(),
        task_id: task_id.to_string(),
        task_version: version.to_string(),
        task_name: task.name.to_string(),
        provider_name: task.provider.name.clone(),
        party_task_id: execution_id,
        component: task.component.clone(),
        role: party.role.to_string(),
        party_id: party.party_id.to_string(),
        stage: task.stage.as_str().into(),
        parameters: task.parameters.clone(),
        input_artifacts: task.inputs.clone(),
        conf: RuntimeConf {
            computing: Engine {
                kind: env.computing_engine.clone(),
                metadata: computing,
            },
            device: Engine {
                kind: env.device.clone(),
                metadata: Map::new(),
            },
            federation: Engine {
                kind: env.federation_engine.clone(),
                metadata: federation,
            },
            logger: Logger {
                config: logger_config(env, &job.job_id, party, task.name.as_str()),
            },
            storage: env.storage_engine.clone(),
        },
        mlmd: Mlmd {
            kind: "flow".into(),
            metadata: MlmdMetadata {
                api_version: ferroflow_wire::API_VERSION.into(),
                host: env.mlmd_host.clone(),
                port: env.mlmd_port,
                protocol: env.mlmd_protocol.clone(),
            },
        },
        engine_run: engine_run.clone(),
        computing_partitions: job.computing_partitions,
        launcher_name: task.launcher_name.clone(),
        launcher_conf: Map::new(),
    }
}

fn extend(into: &mut Map<String, Value>, from: &Map<String, Value>) {
    for (k, v) in from {
        into.insert(k.clone(), v.clone());
    }
}

/// `{local: {role, partyid}, parties: [{role, partyid}, ...]}`: the federation's view of a
/// task, one entry per runtime party (not the job's parties).
/// RabbitMQ's route table must name every party of the task (pyfate looks each one up); a
/// party the site's table leaves out is reached through the site's own broker.
fn fill_broker_routes(federation: &mut Map<String, Value>, local: &Party, runtime: &[Party]) {
    let Some(own) = federation.get("rabbitmq_config").map(|c| {
        json!({"host": c.get("host").cloned().unwrap_or(Value::Null),
               "port": c.get("port").cloned().unwrap_or(Value::Null)})
    }) else {
        return;
    };
    let Some(Value::Object(table)) = federation.get_mut("route_table") else {
        return;
    };
    for p in std::iter::once(local).chain(runtime) {
        table
            .entry(p.party_id.as_str())
            .or_insert_with(|| own.clone());
    }
}

fn federation_parties(local: &Party, runtime: &[Party]) -> Value {
    let one = |p: &Party| json!({"role": p.role.as_str(), "partyid": p.party_id.as_str()});
    json!({
        "local": one(local),
        "parties": runtime.iter().map(one).collect::<Vec<_>>(),
    })
}

/// The levels FATE's logger config knows, in increasing severity.
const LEVELS: [(&str, i64); 4] = [("DEBUG", 10), ("INFO", 20), ("WARNING", 30), ("ERROR", 40)];

const LOG_FORMAT: &str = "[%(levelname)s][%(asctime)-8s][%(process)s][%(module)s.%(funcName)s][line:%(lineno)d]: %(message)s";

/// Python's `logging.getLevelName` for a level number.
fn level_name(level: i64) -> String {
    match level {
        50 => "CRITICAL".into(),
        0 => "NOTSET".into(),
        _ => LEVELS
            .iter()
            .find(|(_, n)| *n == level)
            .map_or_else(|| format!("Level {level}"), |(s, _)| (*s).into()),
    }
}

/// The logging dictConfig of `dag.md` §8.5 for one task: per-level files under the task's log
/// directory (`root/`, `component/`), the party's aggregate files, and one global error file.
pub fn logger_config(env: &SiteEnv, job_id: &JobId, party: &Party, task_name: &str) -> Value {
    let party_dir = format!(
        "{}/{job_id}/{}/{}",
        env.log_dir.trim_end_matches('/'),
        party.role,
        party.party_id
    );
    let task_dir = format!("{party_dir}/{task_name}");
    let levels: Vec<&str> = LEVELS
        .iter()
        .filter(|(_, n)| *n >= env.log_level)
        .map(|(s, _)| *s)
        .collect();
    let handler = |level: &str, formatter: &str, filename: String, filters: Value| {
        json!({
            "class": "logging.FileHandler",
            "level": level,
            "formatter": formatter,
            "delay": true,
            "filename": filename,
            "filters": filters,
        })
    };

    let mut handlers = Map::new();
    let mut root_handlers = Vec::new();
    let mut component_handlers = Vec::new();
    for level in &levels {
        let name = format!("root_{}", level.to_lowercase());
        handlers.insert(
            name.clone(),
            handler(level, "root", format!("{task_dir}/root/{level}"), json!([])),
        );
        root_handlers.push(name);
    }
    for level in &levels {
        let name = format!("component_{}", level.to_lowercase());
        handlers.insert(
            name.clone(),
            handler(
                level,
                "component",
                format!("{task_dir}/component/{level}"),
                json!([]),
            ),
        );
        component_handlers.push(name);
    }
    handlers.insert(
        "component_profile".into(),
        handler(
            "DEBUG",
            "component",
            format!("{task_dir}/component/PROFILE"),
            json!(["component_profile_filter"]),
        ),
    );
    component_handlers.push("component_profile".into());
    for level in &levels {
        let name = format!("root_party_{}", level.to_lowercase());
        handlers.insert(
            name.clone(),
            handler(level, "root", format!("{party_dir}/{level}"), json!([])),
        );
        root_handlers.push(name);
    }
    handlers.insert(
        "global_error".into(),
        handler("ERROR", "root", format!("{party_dir}/ERROR"), json!([])),
    );
    root_handlers.push("global_error".into());

    let level = level_name(env.log_level);
    json!({
        "version": 1,
        "formatters": {"root": {"format": LOG_FORMAT}, "component": {"format": LOG_FORMAT}},
        "handlers": handlers,
        "filters": {"component_profile_filter": {"name": "fate.arch.computing._profile", "()": "logging.Filter"}},
        "loggers": {"fate": {"handlers": component_handlers, "level": level}},
        "root": {"handlers": root_handlers, "level": level},
        "disable_existing_loggers": false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dag::Stage;
    use crate::id::Role;
    use crate::provider::{Device, ProviderRef};
    use ferroflow_wire::task_config::InputArtifacts;

    fn env() -> SiteEnv {
        SiteEnv {
            computing_engine: "eggroll".into(),
            computing_metadata: json!({"host": "cm", "port": 4670, "config_options": null,
                                       "config_properties_file": null, "options": {}})
            .as_object()
            .cloned()
            .unwrap(),
            federation_engine: "rollsite".into(),
            federation_metadata: json!({"rollsite_config": {"host": "rs", "port": 9370}})
                .as_object()
                .cloned()
                .unwrap(),
            storage_engine: "eggroll".into(),
            device: "GPU".into(),
            mlmd_host: "10.0.0.1".into(),
            mlmd_port: 9380,
            mlmd_protocol: "https".into(),
            log_dir: "/var/log/fate/".into(),
            log_level: 20,
        }
    }

    fn job() -> JobMeta {
        JobMeta {
            job_id: "202402271112016150790".into(),
            model_id: "m".into(),
            model_version: "2".into(),
            computing_partitions: Some(16),
        }
    }

    fn task() -> PlannedTask {
        PlannedTask {
            name: "psi_0".into(),
            component: "psi".into(),
            stage: Stage::CrossValidation,
            provider: ProviderRef::new("fate", "2.2.0", Device::Docker),
            parameters: json!({"p": 1}).as_object().cloned().unwrap(),
            conf: Map::new(),
            inputs: InputArtifacts::default(),
            timeout: None,
            launcher_name: "deepspeed".into(),
            runtime_parties: vec![
                Party::new(Role::Guest, "9999"),
                Party::new(Role::Host, "9998"),
            ],
            upstream: vec![],
        }
    }

    fn built() -> Value {
        let host = Party::new(Role::Host, "9998");
        let run = json!({"nodes": 1, "task_cores_per_node": 4})
            .as_object()
            .cloned()
            .unwrap();
        serde_json::to_value(build(&job(), &host, &task(), 3, &run, &env())).unwrap()
    }

    #[test]
    fn identity_fields() {
        let c = built();
        let fields = [
            ("model_id", json!("m")),
            ("model_version", json!("2")),
            ("job_id", json!("202402271112016150790")),
            ("task_id", json!("202402271112016150790_psi_0")),
            ("task_version", json!("3")),
            ("task_name", json!("psi_0")),
            ("provider_name", json!("fate")),
            (
                "party_task_id",
                json!("202402271112016150790_psi_0_3_host_9998"),
            ),
            ("component", json!("psi")),
            ("role", json!("host")),
            ("party_id", json!("9998")),
            ("stage", json!("cross_validation")),
            ("parameters", json!({"p": 1})),
            ("input_artifacts", json!({"data": null, "model": null})),
            ("engine_run", json!({"nodes": 1, "task_cores_per_node": 4})),
            ("computing_partitions", json!(16)),
            ("launcher_name", json!("deepspeed")),
            ("launcher_conf", json!({})),
            (
                "mlmd",
                json!({"type": "flow", "metadata": {"api_version": "v2", "host": "10.0.0.1", "port": 9380, "protocol": "https"}}),
            ),
        ];
        for (field, want) in fields {
            assert_eq!(c[field], want, "{field}");
        }
    }

    #[test]
    fn engines_come_from_the_site() {
        let conf = &built()["conf"];
        assert_eq!(
            conf["computing"],
            json!({"type": "eggroll", "metadata": {
            "computing_id": "202402271112016150790_psi_0_3_host_9998", "host": "cm", "port": 4670,
            "config_options": null, "config_properties_file": null, "options": {}}})
        );
        let keys: Vec<&String> = conf["computing"]["metadata"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert_eq!(keys[0], "computing_id", "the id leads, as FATE writes it");
        assert_eq!(conf["device"], json!({"type": "GPU", "metadata": {}}));
        assert_eq!(conf["storage"], "eggroll");
    }

    #[test]
    fn federation_lists_the_tasks_runtime_parties() {
        let conf = &built()["conf"];
        assert_eq!(
            conf["federation"],
            json!({"type": "rollsite", "metadata": {
            "federation_id": "202402271112016150790_psi_0_3",
            "parties": {"local": {"role": "host", "partyid": "9998"},
                        "parties": [{"role": "guest", "partyid": "9999"}, {"role": "host", "partyid": "9998"}]},
            "rollsite_config": {"host": "rs", "port": 9370}}})
        );
    }

    #[test]
    fn a_broker_route_table_names_every_party_of_the_task() {
        let mut e = env();
        e.federation_engine = "rabbitmq".into();
        e.federation_metadata = json!({
            "route_table": {"9999": {"host": "mq-a", "port": 5673}},
            "rabbitmq_config": {"host": "mq-own", "port": 5672, "mng_port": 15672,
                                "user": "fate", "password": "fate", "mode": "replication"},
            "rabbitmq_run": {}, "connection": {}})
        .as_object()
        .cloned()
        .unwrap();
        let host = Party::new(Role::Host, "9998");
        let c = serde_json::to_value(build(&job(), &host, &task(), 3, &Map::new(), &e)).unwrap();
        assert_eq!(c["conf"]["federation"]["type"], "rabbitmq");
        assert_eq!(
            c["conf"]["federation"]["metadata"]["route_table"],
            json!({"9999": {"host": "mq-a", "port": 5673}, "9998": {"host": "mq-own", "port": 5672}}),
            "listed parties keep their broker, the others get this site's"
        );
    }

    #[test]
    fn logger_paths() {
        let c = built();
        let handlers = &c["conf"]["logger"]["config"]["handlers"];
        let t = "/var/log/fate/202402271112016150790/host/9998/psi_0";
        assert_eq!(handlers["root_info"]["filename"], format!("{t}/root/INFO"));
        assert_eq!(
            handlers["component_error"]["filename"],
            format!("{t}/component/ERROR")
        );
        assert_eq!(
            handlers["component_profile"]["filename"],
            format!("{t}/component/PROFILE")
        );
        assert_eq!(
            handlers["root_party_warning"]["filename"],
            "/var/log/fate/202402271112016150790/host/9998/WARNING"
        );
        assert_eq!(
            handlers["global_error"]["filename"],
            "/var/log/fate/202402271112016150790/host/9998/ERROR"
        );
        // What the wire helper reads back.
        let parsed: TaskConfig = serde_json::from_value(c).unwrap();
        assert_eq!(parsed.task_log_dir().as_deref(), Some(t));
    }

    #[test]
    fn logger_levels() {
        let handlers_at = |level: i64| {
            let env = SiteEnv {
                log_level: level,
                ..env()
            };
            let v = logger_config(&env, &"j".into(), &Party::new(Role::Guest, "1"), "t");
            let root: Vec<String> = v["root"]["handlers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h.as_str().unwrap().to_string())
                .collect();
            let fate: Vec<String> = v["loggers"]["fate"]["handlers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h.as_str().unwrap().to_string())
                .collect();
            (
                v["root"]["level"].as_str().unwrap().to_string(),
                root,
                fate,
                v["handlers"].as_object().unwrap().len(),
            )
        };
        let (level, root, fate, n) = handlers_at(20);
        assert_eq!(level, "INFO");
        assert_eq!(
            root,
            [
                "root_info",
                "root_warning",
                "root_error",
                "root_party_info",
                "root_party_warning",
                "root_party_error",
                "global_error"
            ]
        );
        assert_eq!(
            fate,
            [
                "component_info",
                "component_warning",
                "component_error",
                "component_profile"
            ]
        );
        assert_eq!(n, 11);
        let (level, root, fate, n) = handlers_at(10);
        assert_eq!(
            (level.as_str(), root.len(), fate.len(), n),
            ("DEBUG", 9, 5, 14)
        );
        let (level, root, fate, n) = handlers_at(40);
        assert_eq!(
            (level.as_str(), root, fate, n),
            (
                "ERROR",
                vec![
                    "root_error".to_string(),
                    "root_party_error".into(),
                    "global_error".into()
                ],
                vec!["component_error".to_string(), "component_profile".into()],
                5,
            )
        );
        assert_eq!(handlers_at(25).0, "Level 25");
        assert_eq!(
            handlers_at(50).3,
            2,
            "CRITICAL: only the profile and global error handlers"
        );
    }

    #[test]
    fn logger_fixed_parts() {
        let v = logger_config(&env(), &"j".into(), &Party::new(Role::Guest, "1"), "t");
        assert_eq!(v["version"], 1);
        assert_eq!(v["disable_existing_loggers"], false);
        assert_eq!(v["formatters"]["root"]["format"], LOG_FORMAT);
        assert_eq!(
            v["filters"],
            json!({"component_profile_filter": {"name": "fate.arch.computing._profile", "()": "logging.Filter"}})
        );
        assert_eq!(
            v["handlers"]["component_profile"],
            json!({
            "class": "logging.FileHandler", "level": "DEBUG", "formatter": "component", "delay": true,
            "filename": "/var/log/fate/j/guest/1/t/component/PROFILE", "filters": ["component_profile_filter"]})
        );
    }
}

//! Golden tests: the whole pipeline `DagSchema` → [`validate`] → [`plan_party`] →
//! [`task_resources`] → [`build`] against CONFIG documents real FATE Flow 2.2 built for the same
//! DAGs (`testdata/*.json`, extracted from `shared/fixtures/reference-traces`: the DAG of the
//! `/v2/scheduler/job/create` request, the `component_parameters` and task rows of
//! `/v2/job/task/query` replies). Traces write the flow's run directory as `${REF_RUN}`.

use serde_json::{Map, Value, json};

use crate::id::{JobId, Party, Role};
use crate::provider::{Catalog, CatalogEntry, Device, ProviderDefaults, ProviderRef};

use super::config::{JobMeta, SiteEnv, build};
use super::resource::{ResourceDefaults, task_resources};
use super::{DagSchema, plan_party, validate};

const RUN_DIR: &str = "/srv/fate-ref";

struct Fixture {
    job_id: String,
    dag_schema: Value,
    configs: Vec<Value>,
    task_rows: Vec<Value>,
}

fn fixture(text: &str) -> Fixture {
    let v: Value = serde_json::from_str(text).unwrap();
    Fixture {
        job_id: v["job_id"].as_str().unwrap().into(),
        dag_schema: v["dag_schema"].clone(),
        configs: v["configs"].as_array().unwrap().clone(),
        task_rows: v["task_rows"].as_array().unwrap().clone(),
    }
}

/// The reference site: standalone computing and federation, default log level.
fn env() -> SiteEnv {
    SiteEnv {
        computing_engine: "standalone".into(),
        computing_metadata: json!({"options": {"data_dir": format!("{RUN_DIR}/data")}})
            .as_object()
            .cloned()
            .unwrap(),
        federation_engine: "standalone".into(),
        federation_metadata: Map::new(),
        storage_engine: "standalone".into(),
        device: "CPU".into(),
        mlmd_host: "127.0.0.1".into(),
        mlmd_port: 9380,
        mlmd_protocol: "http".into(),
        log_dir: format!("{RUN_DIR}/logs"),
        log_level: 20,
    }
}

fn catalog() -> Catalog {
    Catalog {
        defaults: Some(ProviderDefaults {
            name: "fate".into(),
            version: "2.2.0".into(),
            device: Device::Local,
        }),
        providers: vec![CatalogEntry {
            provider: ProviderRef::new("fate", "2.2.0", Device::Local),
            components: None,
            io: Default::default(),
        }],
    }
}

fn substitute(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(s.replace("${REF_RUN}", RUN_DIR)),
        Value::Array(a) => Value::Array(a.iter().map(substitute).collect()),
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), substitute(v))).collect())
        }
        other => other.clone(),
    }
}

/// The first differing JSON pointer, for a readable failure.
fn first_difference(got: &Value, want: &Value, at: &str) -> Option<String> {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => {
            for k in g.keys().chain(w.keys()) {
                let (a, b) = (
                    g.get(k).unwrap_or(&Value::Null),
                    w.get(k).unwrap_or(&Value::Null),
                );
                if g.contains_key(k) != w.contains_key(k) {
                    return Some(format!(
                        "{at}/{k}: present only on one side: got {a}, want {b}"
                    ));
                }
                if let Some(d) = first_difference(a, b, &format!("{at}/{k}")) {
                    return Some(d);
                }
            }
            None
        }
        (Value::Array(g), Value::Array(w)) if g.len() == w.len() => g
            .iter()
            .zip(w)
            .enumerate()
            .find_map(|(i, (a, b))| first_difference(a, b, &format!("{at}/{i}"))),
        _ => (got != want).then(|| format!("{at}: got {got}, want {want}")),
    }
}

/// Builds every CONFIG of the fixture and compares it, and the task row values, with FATE's.
fn check(f: &Fixture) {
    let schema = DagSchema::from_value(f.dag_schema.clone()).unwrap();
    let dag = validate(&schema).unwrap();
    let job_id = JobId::new(f.job_id.as_str());
    // The scheduler fills model id/version on the forwarded DAG; these are its defaults.
    let job = JobMeta {
        job_id: job_id.clone(),
        model_id: dag
            .conf
            .model_id
            .clone()
            .unwrap_or_else(|| f.job_id.clone()),
        model_version: dag.conf.model_version.clone().unwrap_or_else(|| "0".into()),
        computing_partitions: dag.conf.computing_partitions,
    };
    let job_engine_run = dag.conf.task.get("engine_run").and_then(Value::as_object);
    let defaults = ResourceDefaults::default();
    for (want, row) in f.configs.iter().zip(&f.task_rows) {
        let role: Role = want["role"].as_str().unwrap().parse().unwrap();
        let party = Party::new(role, want["party_id"].as_str().unwrap());
        let name = want["task_name"].as_str().unwrap();
        let plan = plan_party(&dag, &party, &catalog()).unwrap();
        let task = plan.tasks.iter().find(|t| t.name.as_str() == name).unwrap();
        let resources = task_resources(role, job_engine_run, &task.conf, &defaults);
        let version = want["task_version"].as_str().unwrap().parse().unwrap();
        let got = serde_json::to_value(build(
            &job,
            &party,
            task,
            version,
            &resources.engine_run,
            &env(),
        ))
        .unwrap();
        let want = substitute(want);
        if let Some(d) = first_difference(&got, &want, "") {
            panic!("CONFIG of {name} on {party} differs from FATE's at {d}");
        }
        assert_eq!(
            resources.cores, row["task_cores"],
            "task_cores of {name} on {party}"
        );
        assert_eq!(
            Value::Object(resources.engine_run),
            row["task_run"],
            "task_run of {name} on {party}"
        );
        assert_eq!(
            task.timeout.map(Value::from).unwrap_or(Value::Null),
            row["timeout"]
        );
        assert_eq!(
            task.provider.to_string(),
            row["provider_name"].as_str().unwrap()
        );
    }
}

fn names(plan: &super::PartyPlan) -> Vec<&str> {
    plan.tasks.iter().map(|t| t.name.as_str()).collect()
}

#[test]
fn train_lr_configs_match_fate() {
    check(&fixture(include_str!("testdata/train_lr.json")));
}

#[test]
fn reader_only_configs_match_fate() {
    // Captured after a rerun: task version 1.
    check(&fixture(include_str!("testdata/reader_only.json")));
}

#[test]
fn predict_lr_configs_match_fate() {
    // model_warehouse input filled from dag.conf.model_warehouse; a one-channel list of task
    // outputs becomes a single channel.
    check(&fixture(include_str!("testdata/predict_lr.json")));
}

#[test]
fn train_lr_plans_per_party() {
    let f = fixture(include_str!("testdata/train_lr.json"));
    let dag = validate(&DagSchema::from_value(f.dag_schema).unwrap()).unwrap();
    let order: Vec<&str> = dag.ordered_tasks().map(|t| t.name.as_str()).collect();
    assert_eq!(order, ["reader_0", "psi_0", "lr_0"]);
    let plan = |role, id: &str| plan_party(&dag, &Party::new(role, id), &catalog()).unwrap();
    assert_eq!(
        names(&plan(Role::Guest, "9999")),
        ["reader_0", "psi_0", "lr_0"]
    );
    assert_eq!(
        names(&plan(Role::Host, "10000")),
        ["reader_0", "psi_0", "lr_0"]
    );
    let arbiter = plan(Role::Arbiter, "9999");
    assert_eq!(names(&arbiter), ["lr_0"]);
    assert!(
        arbiter.tasks[0].upstream.is_empty(),
        "the arbiter reads nothing from psi_0"
    );
    assert_eq!(dag.task(&"lr_0".into()).unwrap().upstream, ["psi_0".into()]);
}

#[test]
fn the_partner_form_of_the_dag_validates_the_same() {
    // What the scheduler forwards to `/v2/partner/job/create`: conf filled, plus routing keys.
    let f = fixture(include_str!("testdata/train_lr.json"));
    let mut forwarded = f.dag_schema.clone();
    let conf = forwarded["dag"]["conf"].as_object_mut().unwrap();
    conf.insert("sync_type".into(), "callback".into());
    conf.insert("auto_retries".into(), 0.into());
    conf.insert("model_id".into(), f.job_id.clone().into());
    conf.insert("model_version".into(), "0".into());
    let dag = validate(&DagSchema::from_value(forwarded).unwrap()).unwrap();
    assert_eq!(dag.conf.sync_type, Some(super::SyncType::Callback));
    assert_eq!(dag.conf.model_id.as_deref(), Some(f.job_id.as_str()));
    check(&Fixture {
        dag_schema: dag.schema.to_value(),
        ..f
    });
}

//! The v2 job DAG as it travels on the wire (`dag.md` §1–4, `api.md` §9.8).
//!
//! Shapes only: fields that FATE requires are still `Option` here, so that the validator in
//! `ferroflow-core` can report every missing field at once instead of serde's first one.
//! Serialising writes unset optional fields as explicit `null`s and always writes `kind`, which
//! is what FATE Flow forwards between sites.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::lenient::{OneOrMany, OrderedMap, opt_int, opt_string, string_list};

/// `{dag, schema_version, kind}`: what `/v2/job/submit` carries as `dag_schema`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct DagSchema {
    #[serde(default)]
    pub dag: Option<DagSpec>,
    #[serde(default, deserialize_with = "opt_string")]
    pub schema_version: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct DagSpec {
    #[serde(default)]
    pub parties: Option<Vec<PartySpec>>,
    #[serde(default)]
    pub conf: Option<JobConf>,
    #[serde(default, deserialize_with = "opt_string")]
    pub stage: Option<String>,
    #[serde(default)]
    pub tasks: Option<OrderedMap<TaskSpec>>,
    #[serde(default)]
    pub party_tasks: Option<OrderedMap<PartyTaskSpec>>,
}

/// `{role, party_id: [..]}` as used in the DAG (a list of ids per role).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct PartySpec {
    #[serde(default, deserialize_with = "opt_string")]
    pub role: Option<String>,
    #[serde(default, deserialize_with = "string_list")]
    pub party_id: Option<Vec<String>>,
}

impl PartySpec {
    pub fn new(role: &str, party_ids: &[&str]) -> Self {
        Self {
            role: Some(role.to_string()),
            party_id: Some(party_ids.iter().map(|s| s.to_string()).collect()),
        }
    }
}

/// `dag.conf`. Unknown keys are dropped, as pydantic does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct JobConf {
    #[serde(default, deserialize_with = "opt_int")]
    pub priority: Option<i64>,
    #[serde(default, deserialize_with = "opt_string")]
    pub scheduler_party_id: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub initiator_party_id: Option<String>,
    #[serde(default)]
    pub inheritance: Option<Inheritance>,
    #[serde(default, deserialize_with = "opt_int")]
    pub cores: Option<i64>,
    #[serde(default, deserialize_with = "opt_int")]
    pub computing_partitions: Option<i64>,
    #[serde(default, deserialize_with = "opt_string")]
    pub sync_type: Option<String>,
    #[serde(default, deserialize_with = "opt_int")]
    pub auto_retries: Option<i64>,
    #[serde(default, deserialize_with = "opt_string")]
    pub model_id: Option<String>,
    /// `str | int` upstream; kept as text.
    #[serde(default, deserialize_with = "opt_string")]
    pub model_version: Option<String>,
    #[serde(default)]
    pub model_warehouse: Option<ModelWarehouseRef>,
    #[serde(default)]
    pub task: Option<TaskConf>,
    #[serde(default)]
    pub extra: Option<Map<String, Value>>,
    /// fate_client's `engine: {name, conf}`: the computing engine the job asks for (FATE Flow
    /// ignores it; ferroflow refuses a job whose engine a site of it does not offer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<EngineChoice>,
}

/// `dag.conf.engine` (fate_client's `EngineRunSpec`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct EngineChoice {
    #[serde(default, deserialize_with = "opt_string")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conf: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Inheritance {
    #[serde(default, deserialize_with = "opt_string")]
    pub job_id: Option<String>,
    #[serde(default, deserialize_with = "string_list")]
    pub task_list: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ModelWarehouseRef {
    #[serde(default, deserialize_with = "opt_string")]
    pub model_id: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub model_version: Option<String>,
}

/// `dag.conf.task`: the job-wide task conf. Task-level confs are free-form maps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct TaskConf {
    #[serde(default)]
    pub engine_run: Option<Map<String, Value>>,
    #[serde(default, deserialize_with = "opt_string")]
    pub provider: Option<String>,
    #[serde(default, deserialize_with = "opt_int")]
    pub timeout: Option<i64>,
    /// `"default"` when absent, as FATE's model fills it (an explicit `null` stays `None`).
    #[serde(default = "default_launcher", deserialize_with = "opt_string")]
    pub launcher_name: Option<String>,
}

fn default_launcher() -> Option<String> {
    Some("default".into())
}

/// `Some(empty)` for a key that is absent, as FATE's `= {}` defaults (an explicit `null`
/// stays `None`).
fn some_empty<T: Default>() -> Option<T> {
    Some(T::default())
}

impl TaskConf {
    /// The keys that were set, as the map that task-level confs are merged into
    /// (`dag.md` §6.4: the `launcher_name: default` schema default is dropped).
    pub fn to_set_map(&self) -> Map<String, Value> {
        let mut m = Map::new();
        if let Some(e) = &self.engine_run {
            m.insert("engine_run".into(), Value::Object(e.clone()));
        }
        if let Some(p) = &self.provider {
            m.insert("provider".into(), Value::from(p.clone()));
        }
        if let Some(t) = self.timeout {
            m.insert("timeout".into(), Value::from(t));
        }
        if let Some(l) = self.launcher_name.as_deref().filter(|l| *l != "default") {
            m.insert("launcher_name".into(), Value::from(l));
        }
        m
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct TaskSpec {
    #[serde(default, deserialize_with = "opt_string")]
    pub component_ref: Option<String>,
    #[serde(default, deserialize_with = "string_list")]
    pub dependent_tasks: Option<Vec<String>>,
    #[serde(default)]
    pub parameters: Option<Map<String, Value>>,
    #[serde(default)]
    pub inputs: Option<Inputs>,
    /// Output aliases: accepted and carried, never used (upstream does the same).
    #[serde(default)]
    pub outputs: Option<Value>,
    #[serde(default)]
    pub parties: Option<Vec<PartySpec>>,
    #[serde(default)]
    pub conf: Option<Map<String, Value>>,
    #[serde(default, deserialize_with = "opt_string")]
    pub stage: Option<String>,
}

/// `inputs: {data: {key: channels}, model: {key: channels}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Inputs {
    #[serde(default)]
    pub data: Option<OrderedMap<InputChannels>>,
    #[serde(default)]
    pub model: Option<OrderedMap<InputChannels>>,
}

/// The sources of one input key, by source type (`dag.md` §4.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct InputChannels {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_output_artifact: Option<OneOrMany<TaskOutputChannel>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "warehouse_channels"
    )]
    pub model_warehouse: Option<OneOrMany<ModelWarehouseChannel>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "warehouse_channels"
    )]
    pub data_warehouse: Option<OneOrMany<DataWarehouseChannel>>,
}

/// Warehouse channels, accepting a null `output_artifact_type_alias`: FATE first parses every
/// channel in the task-output shape, then re-reads warehouse channels without their unset
/// fields, so the DAG it forwards carries `model_warehouse` channels with that null alias
/// (see [`task_output_shape`]). A non-null alias is still rejected, as FATE does.
fn warehouse_channels<'de, D, T>(d: D) -> Result<Option<OneOrMany<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    fn strip_null_alias(v: &mut Value) {
        if let Value::Object(m) = v
            && m.get("output_artifact_type_alias")
                .is_some_and(Value::is_null)
        {
            m.remove("output_artifact_type_alias");
        }
    }
    let mut v = match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => return Ok(None),
        Some(v) => v,
    };
    match &mut v {
        Value::Array(items) => items.iter_mut().for_each(strip_null_alias),
        one => strip_null_alias(one),
    }
    serde_json::from_value(v)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// Output `output_artifact_key` of task `producer_task` of this job, on the same party.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TaskOutputChannel {
    #[serde(default, deserialize_with = "opt_string")]
    pub producer_task: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub output_artifact_key: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub output_artifact_type_alias: Option<String>,
    #[serde(default)]
    pub parties: Option<Vec<PartySpec>>,
}

/// A model of an earlier job, by model id/version. Written in the task-output shape when it
/// names no model (see [`task_output_shape`]).
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ModelWarehouseChannel {
    #[serde(default, deserialize_with = "opt_string")]
    pub model_id: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub model_version: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub producer_task: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub output_artifact_key: Option<String>,
    #[serde(default)]
    pub parties: Option<Vec<PartySpec>>,
}

/// An existing table, or an output of another job. Written in the task-output shape when it
/// names no job, table or dataset (see [`task_output_shape`]).
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DataWarehouseChannel {
    #[serde(default, deserialize_with = "opt_string")]
    pub job_id: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub producer_task: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub output_artifact_key: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub namespace: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub dataset_id: Option<String>,
    #[serde(default)]
    pub parties: Option<Vec<PartySpec>>,
}

/// FATE reads every channel, whatever its source-type key, through one union tried in order
/// (task output, model warehouse, data warehouse: `RuntimeInputArtifacts`, channel models
/// forbid extra keys) and writes it back in the shape that matched first. A warehouse channel
/// that only names `producer_task`, `output_artifact_key` and `parties` matches the task-output
/// shape, so FATE forwards it as one, with `output_artifact_type_alias: null` and without the
/// warehouse keys (the pipeline client's `model_warehouse` inputs of predict jobs). Writing
/// the same shape reproduces FATE's forward form. (FATE would keep the warehouse shape for a
/// channel that spells its unset warehouse keys as explicit `null`s; that distinction is not
/// kept here.)
fn task_output_shape<'a>(
    producer_task: &'a Option<String>,
    output_artifact_key: &'a Option<String>,
    parties: &'a Option<Vec<PartySpec>>,
) -> Option<TaskOutputShape<'a>> {
    (producer_task.is_some() && output_artifact_key.is_some()).then_some(TaskOutputShape {
        producer_task,
        output_artifact_key,
        output_artifact_type_alias: None,
        parties,
    })
}

#[derive(Serialize)]
struct TaskOutputShape<'a> {
    producer_task: &'a Option<String>,
    output_artifact_key: &'a Option<String>,
    output_artifact_type_alias: Option<&'a str>,
    parties: &'a Option<Vec<PartySpec>>,
}

impl Serialize for ModelWarehouseChannel {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Shape<'a> {
            model_id: &'a Option<String>,
            model_version: &'a Option<String>,
            producer_task: &'a Option<String>,
            output_artifact_key: &'a Option<String>,
            parties: &'a Option<Vec<PartySpec>>,
        }
        let names_no_model = self.model_id.is_none() && self.model_version.is_none();
        match task_output_shape(
            &self.producer_task,
            &self.output_artifact_key,
            &self.parties,
        ) {
            Some(shape) if names_no_model => shape.serialize(s),
            _ => Shape {
                model_id: &self.model_id,
                model_version: &self.model_version,
                producer_task: &self.producer_task,
                output_artifact_key: &self.output_artifact_key,
                parties: &self.parties,
            }
            .serialize(s),
        }
    }
}

impl Serialize for DataWarehouseChannel {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Shape<'a> {
            job_id: &'a Option<String>,
            producer_task: &'a Option<String>,
            output_artifact_key: &'a Option<String>,
            namespace: &'a Option<String>,
            name: &'a Option<String>,
            dataset_id: &'a Option<String>,
            parties: &'a Option<Vec<PartySpec>>,
        }
        let names_no_source = self.job_id.is_none()
            && self.namespace.is_none()
            && self.name.is_none()
            && self.dataset_id.is_none();
        match task_output_shape(
            &self.producer_task,
            &self.output_artifact_key,
            &self.parties,
        ) {
            Some(shape) if names_no_source => shape.serialize(s),
            _ => Shape {
                job_id: &self.job_id,
                producer_task: &self.producer_task,
                output_artifact_key: &self.output_artifact_key,
                namespace: &self.namespace,
                name: &self.name,
                dataset_id: &self.dataset_id,
                parties: &self.parties,
            }
            .serialize(s),
        }
    }
}

/// A channel as it appears in a task CONFIG, without the source-type wrapper. Which kind it is
/// follows from its fields, tried in FATE's order (each kind forbids the others' fields).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Channel {
    TaskOutput(TaskOutputChannel),
    ModelWarehouse(ModelWarehouseChannel),
    DataWarehouse(DataWarehouseChannel),
}

/// `party_tasks.<site_name>`: per-party overrides. `tasks` and `conf` read as `{}` when
/// absent, so they are forwarded as `{}` like FATE does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct PartyTaskSpec {
    #[serde(default)]
    pub parties: Option<Vec<PartySpec>>,
    #[serde(default = "some_empty")]
    pub tasks: Option<OrderedMap<PartyTaskRef>>,
    #[serde(default = "some_empty")]
    pub conf: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct PartyTaskRef {
    #[serde(default)]
    pub parameters: Option<Map<String, Value>>,
    #[serde(default)]
    pub conf: Option<Map<String, Value>>,
}

/// A DAG document that is not even shaped like a DAG: the path of the offending field and
/// serde's reason.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct ShapeError {
    pub path: String,
    pub reason: String,
}

impl DagSchema {
    pub fn from_value(v: Value) -> Result<Self, ShapeError> {
        serde_path_to_error::deserialize(v).map_err(|e| ShapeError {
            path: e.path().to_string(),
            reason: e.inner().to_string(),
        })
    }

    /// The `dag_schema` of a `/v2/job/submit` body, read from the body's text so that keys
    /// repeated in the document (two tasks of one name) are seen, not silently merged.
    pub fn from_submit_body(body: &[u8]) -> Result<Option<Self>, ShapeError> {
        #[derive(Deserialize)]
        struct Body {
            #[serde(default)]
            dag_schema: Option<DagSchema>,
        }
        let mut de = serde_json::Deserializer::from_slice(body);
        serde_path_to_error::deserialize::<_, Body>(&mut de)
            .map(|b| b.dag_schema)
            .map_err(|e| ShapeError {
                path: e.path().to_string(),
                reason: e.inner().to_string(),
            })
    }

    /// A DAG file in YAML or JSON (JSON is YAML).
    pub fn from_yaml(text: &str) -> Result<Self, ShapeError> {
        let de = serde_yaml::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| ShapeError {
            path: e.path().to_string(),
            reason: e.inner().to_string(),
        })
    }

    /// The FATE forward form: explicit nulls, `kind` always present.
    pub fn to_value(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Value::Object(m) = &mut v
            && m.get("kind").is_none_or(Value::is_null)
        {
            m.insert("kind".into(), Value::from("fate"));
        }
        v
    }

    pub fn conf(&self) -> Option<&JobConf> {
        self.dag.as_ref()?.conf.as_ref()
    }

    pub fn conf_mut(&mut self) -> &mut JobConf {
        let dag = self.dag.get_or_insert_with(Default::default);
        dag.conf.get_or_insert_with(Default::default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fate_forward_form_round_trips() {
        let v = json!({
            "dag": {
                "parties": [{"role": "guest", "party_id": ["9999"]}],
                "conf": {"priority": null, "scheduler_party_id": "9999", "initiator_party_id": "9999",
                         "inheritance": null, "cores": null, "computing_partitions": 8,
                         "sync_type": "callback", "auto_retries": 0, "model_id": "1",
                         "model_version": "0", "model_warehouse": null, "task": null, "extra": null},
                "stage": "train",
                "tasks": {"reader_0": {"component_ref": "reader", "dependent_tasks": null,
                    "parameters": {}, "inputs": null, "outputs": null,
                    "parties": [{"role": "guest", "party_id": ["9999"]}], "conf": null,
                    "stage": "default"}},
                "party_tasks": null
            },
            "schema_version": "2.2.0",
            "kind": "fate"
        });
        let d = DagSchema::from_value(v.clone()).unwrap();
        assert_eq!(d.to_value(), v);
    }

    #[test]
    fn channels_are_told_apart_by_their_fields() {
        let c: Channel = serde_json::from_value(json!({
            "producer_task": "a", "output_artifact_key": "b", "output_artifact_type_alias": null,
            "parties": null}))
        .unwrap();
        assert!(matches!(c, Channel::TaskOutput(_)));
        let c: Channel = serde_json::from_value(json!({
            "model_id": "m", "model_version": "0", "producer_task": "a",
            "output_artifact_key": "b"}))
        .unwrap();
        assert!(matches!(c, Channel::ModelWarehouse(_)));
        let c: Channel = serde_json::from_value(json!({"namespace": "n", "name": "t"})).unwrap();
        assert!(matches!(c, Channel::DataWarehouse(_)));
    }

    #[test]
    fn shape_errors_name_the_path() {
        let e =
            DagSchema::from_value(json!({"dag": {"tasks": {"a": {"parameters": 5}}}})).unwrap_err();
        assert_eq!(e.path, "dag.tasks.a.parameters");
    }

    #[test]
    fn yaml_keeps_task_order() {
        let y = "schema_version: 2.0.0\ndag:\n  tasks:\n    z: {component_ref: a}\n    a: {component_ref: b}\n";
        let d = DagSchema::from_yaml(y).unwrap();
        let names: Vec<_> = d.dag.unwrap().tasks.unwrap().keys().cloned().collect();
        assert_eq!(names, ["z", "a"]);
    }

    #[test]
    fn warehouse_channels_accept_a_null_type_alias() {
        // As FATE forwards a predict job's model input (pipeline.jsonl).
        let inputs: Inputs = serde_json::from_value(json!({"model": {"input_model": {
            "model_warehouse": {"producer_task": "lr_0", "output_artifact_key": "output_model",
                                "output_artifact_type_alias": null,
                                "parties": [{"role": "guest", "party_id": ["9999"]}]}}}}))
        .unwrap();
        let c = inputs
            .model
            .unwrap()
            .get("input_model")
            .unwrap()
            .model_warehouse
            .clone()
            .unwrap();
        assert_eq!(c.into_vec()[0].producer_task.as_deref(), Some("lr_0"));
        let bad = serde_json::from_value::<Inputs>(json!({"model": {"m": {"model_warehouse": [
            {"producer_task": "a", "output_artifact_key": "b", "output_artifact_type_alias": "x"}]}}}));
        assert!(bad.is_err());
    }

    #[test]
    fn warehouse_channels_naming_no_source_are_forwarded_as_task_outputs() {
        // pipeline.jsonl: the client submits a predict job's model input without model id;
        // FATE forwards it in the task-output shape.
        let parties = json!([{"role": "guest", "party_id": ["9999"]}]);
        let submitted = json!({"producer_task": "lr_0", "output_artifact_key": "output_model",
                               "parties": parties});
        let forwarded = json!({"producer_task": "lr_0", "output_artifact_key": "output_model",
                               "output_artifact_type_alias": null, "parties": parties});
        for kind in ["model_warehouse", "data_warehouse"] {
            for given in [&submitted, &forwarded] {
                let inputs: Inputs =
                    serde_json::from_value(json!({"model": {"m": {kind: given}}})).unwrap();
                let written = serde_json::to_value(&inputs).unwrap();
                assert_eq!(written["model"]["m"][kind], forwarded, "{kind}");
            }
        }
        // Naming a model, or a table, keeps the warehouse shape.
        let model = json!({"model_id": "1", "model_version": "0", "producer_task": "lr_0",
                           "output_artifact_key": "output_model", "parties": null});
        let c: ModelWarehouseChannel = serde_json::from_value(model.clone()).unwrap();
        assert_eq!(serde_json::to_value(&c).unwrap(), model);
        let table = json!({"job_id": null, "producer_task": null, "output_artifact_key": null,
                           "namespace": "ns", "name": "t", "dataset_id": null, "parties": null});
        let c: DataWarehouseChannel =
            serde_json::from_value(json!({"namespace": "ns", "name": "t"})).unwrap();
        assert_eq!(serde_json::to_value(&c).unwrap(), table);
        // In a task CONFIG the model id is filled in, so the channel stays a model channel.
        let c = Channel::ModelWarehouse(ModelWarehouseChannel {
            model_id: Some("1".into()),
            model_version: Some("0".into()),
            producer_task: Some("lr_0".into()),
            output_artifact_key: Some("output_model".into()),
            parties: None,
        });
        assert_eq!(serde_json::to_value(&c).unwrap()["model_id"], "1");
    }

    #[test]
    fn absent_party_task_maps_are_forwarded_as_empty_objects() {
        // dag.jsonl: `party_tasks.guest_9999` is submitted without `conf`; FATE forwards
        // `"conf": {}` (pydantic default `= {}`), and keeps an explicit null.
        let p: PartyTaskSpec =
            serde_json::from_value(json!({"parties": [{"role": "guest", "party_id": ["9999"]}]}))
                .unwrap();
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["conf"], json!({}));
        assert_eq!(v["tasks"], json!({}));
        let p: PartyTaskSpec =
            serde_json::from_value(json!({"parties": [], "tasks": null, "conf": null})).unwrap();
        assert_eq!((p.tasks, p.conf), (None, None));
    }

    #[test]
    fn job_task_conf_launcher_defaults_to_default() {
        let t: TaskConf = serde_json::from_value(json!({"timeout": 10})).unwrap();
        assert_eq!(t.launcher_name.as_deref(), Some("default"));
        assert_eq!(
            serde_json::to_value(&t).unwrap()["launcher_name"],
            "default"
        );
        assert!(!t.to_set_map().contains_key("launcher_name"));
        let t: TaskConf = serde_json::from_value(json!({"launcher_name": null})).unwrap();
        assert_eq!(t.launcher_name, None);
    }

    #[test]
    fn kind_defaults_to_fate_on_forward() {
        let d = DagSchema::from_value(json!({"dag": {}, "schema_version": "2"})).unwrap();
        assert_eq!(d.to_value()["kind"], "fate");
    }
}

#[cfg(test)]
mod submit_tests {
    use super::*;

    #[test]
    fn repeated_task_names_survive_to_the_validator() {
        let body = br#"{"dag_schema": {"schema_version": "2", "dag": {"tasks": {"a": {"component_ref": "x"}, "a": {"component_ref": "y"}}}}}"#;
        let d = DagSchema::from_submit_body(body).unwrap().unwrap();
        assert_eq!(d.dag.unwrap().tasks.unwrap().len(), 2);
    }
}

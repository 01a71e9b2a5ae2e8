//! One test per validation rule: a valid DAG, one mutation, the exact problems expected.

mod conf;
mod inputs;

use serde_json::{Value, json};

use crate::dag::{Channel, DagSchema, Stage, SyncType, validate};
use crate::id::{Party, Role};

fn guest() -> Value {
    json!({"role": "guest", "party_id": ["9999"]})
}
fn host() -> Value {
    json!({"role": "host", "party_id": ["10000"]})
}

/// reader_0 → psi_0 → lr_0 on guest 9999 / host 10000, lr_0 also on arbiter 10000.
fn base() -> Value {
    json!({
        "schema_version": "2.0.0",
        "dag": {
            "parties": [guest(), host(), {"role": "arbiter", "party_id": ["10000"]}],
            "stage": "train",
            "conf": {"cores": 4, "priority": 1, "sync_type": "poll", "auto_retries": 1,
                     "task": {"provider": "fate:2.2.0@local", "timeout": 3600, "launcher_name": "default"}},
            "tasks": {
                "reader_0": {"component_ref": "reader", "stage": "default", "parties": [guest(), host()]},
                "psi_0": {"component_ref": "psi", "stage": "default", "parties": [guest(), host()],
                          "inputs": {"data": {"input_data": {"task_output_artifact":
                              {"producer_task": "reader_0", "output_artifact_key": "output_data"}}}}},
                "lr_0": {"component_ref": "coordinated_lr", "parameters": {"epochs": 10},
                         "inputs": {"data": {"train_data": {"task_output_artifact":
                             {"producer_task": "psi_0", "output_artifact_key": "output_data",
                              "parties": [guest(), host()]}}}}}
            },
            "party_tasks": {
                "guest_9999": {"parties": [guest()],
                               "tasks": {"reader_0": {"parameters": {"name": "g", "namespace": "e"}}}}
            }
        }
    })
}

fn problems_of(v: Value) -> Vec<String> {
    let schema = DagSchema::from_value(v).expect("shape");
    match validate(&schema) {
        Ok(_) => Vec::new(),
        Err(e) => e.0.iter().map(ToString::to_string).collect(),
    }
}

/// The problems of `base()` after `change`.
fn problems(change: impl FnOnce(&mut Value)) -> Vec<String> {
    let mut v = base();
    change(&mut v);
    problems_of(v)
}

fn tasks(v: &mut Value) -> &mut Value {
    &mut v["dag"]["tasks"]
}

#[test]
fn the_base_dag_is_valid() {
    assert_eq!(problems(|_| {}), Vec::<String>::new());
}

#[test]
fn conversion_of_a_valid_dag() {
    let dag = validate(&DagSchema::from_value(base()).unwrap()).unwrap();
    assert_eq!(dag.schema_version, "2.0.0");
    assert_eq!(
        dag.parties,
        [
            Party::new(Role::Guest, "9999"),
            Party::new(Role::Host, "10000"),
            Party::new(Role::Arbiter, "10000")
        ]
    );
    assert_eq!(dag.stage, Some(Stage::Train));
    assert_eq!(dag.conf.priority, 1);
    assert_eq!(dag.conf.sync_type, Some(SyncType::Poll));
    // `launcher_name: default` is a schema default and dropped, as FATE does.
    assert_eq!(
        Value::Object(dag.conf.task.clone()),
        json!({"provider": "fate:2.2.0@local", "timeout": 3600})
    );
    let names: Vec<_> = dag.tasks.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["reader_0", "psi_0", "lr_0"]);
    let lr = &dag.tasks[2];
    assert_eq!(lr.parties, dag.parties, "no task parties: every party");
    assert_eq!(lr.stage, Stage::Train, "the DAG's stage");
    assert_eq!(dag.tasks[0].stage, Stage::Default, "the task's own stage");
    assert_eq!(lr.upstream, ["psi_0".into()]);
    assert_eq!(lr.inputs[0].key, "train_data");
    assert!(
        matches!(&lr.inputs[0].sources[0].channel, Channel::TaskOutput { parties: Some(p), .. } if p.len() == 2)
    );
    assert_eq!(dag.party_tasks[0].site_name, "guest_9999");
    assert_eq!(dag.order, [0, 1, 2]);
}

#[test]
fn unset_job_conf_values() {
    let dag = validate(&DagSchema::from_value(json!({
        "schema_version": "2", "dag": {"parties": [guest()], "stage": "train",
            "conf": {"priority": null, "sync_type": "", "model_id": "", "scheduler_party_id": ""},
            "tasks": {"a": {"component_ref": "reader"}}}
    })).unwrap())
    .unwrap();
    assert_eq!(dag.conf.priority, 0);
    assert_eq!(dag.conf.sync_type, None);
    assert_eq!(dag.conf.model_id, None);
    assert_eq!(dag.conf.scheduler_party_id, None);
    assert!(dag.conf.task.is_empty());
}

#[test]
fn missing_dag() {
    assert_eq!(
        problems_of(json!({"schema_version": "2"})),
        ["dag: missing"]
    );
}

#[test]
fn missing_schema_version() {
    assert_eq!(
        problems(|v| v
            .as_object_mut()
            .unwrap()
            .remove("schema_version")
            .map(drop)
            .unwrap()),
        ["schema_version: missing"]
    );
}

#[test]
fn other_protocols_are_not_handled_here() {
    assert_eq!(
        problems(|v| v["kind"] = json!("bfia")),
        [r#"kind: unsupported protocol "bfia" (only "fate" DAGs are handled)"#]
    );
    assert!(problems(|v| v["kind"] = json!("fate")).is_empty());
}

#[test]
fn missing_conf_is_accepted() {
    // The initiator fills it in before forwarding.
    assert!(
        problems(|v| v["dag"]
            .as_object_mut()
            .unwrap()
            .remove("conf")
            .map(drop)
            .unwrap())
        .is_empty()
    );
}

#[test]
fn missing_or_empty_parties() {
    let p = problems(|v| v["dag"]["parties"] = json!([]));
    assert_eq!(p[0], "dag.parties: no parties");
    let p = problems(|v| {
        v["dag"]
            .as_object_mut()
            .unwrap()
            .remove("parties")
            .map(drop)
            .unwrap()
    });
    assert_eq!(p[0], "dag.parties: missing");
}

#[test]
fn party_entries() {
    let cases = [
        (
            json!({"role": "judge", "party_id": ["1"]}),
            r#"dag.parties[3].role: unknown role "judge" (expected guest, host, arbiter or local)"#,
        ),
        (json!({"party_id": ["1"]}), "dag.parties[3].role: missing"),
        (
            json!({"role": "host", "party_id": []}),
            "dag.parties[3].party_id: no party ids",
        ),
        (
            json!({"role": "host"}),
            "dag.parties[3].party_id: no party ids",
        ),
        (
            json!({"role": "host", "party_id": ["10000"]}),
            "dag.parties[3].party_id: host 10000 is listed twice",
        ),
        (
            json!({"role": "host", "party_id": [""]}),
            "dag.parties[3].party_id: party id is empty",
        ),
        (
            json!({"role": "host", "party_id": ["../x"]}),
            r#"dag.parties[3].party_id: party id "../x" contains '/', which cannot be used in a file path"#,
        ),
        (
            json!({"role": "host", "party_id": [".."]}),
            r#"dag.parties[3].party_id: party id ".." is not a usable name"#,
        ),
    ];
    for (entry, want) in cases {
        let p = problems(|v| {
            v["dag"]["parties"]
                .as_array_mut()
                .unwrap()
                .push(entry.clone())
        });
        assert_eq!(p, [want], "{entry}");
    }
}

#[test]
fn party_ids_may_be_numbers_and_roles_may_repeat() {
    let p = problems(|v| {
        v["dag"]["parties"]
            .as_array_mut()
            .unwrap()
            .push(json!({"role": "host", "party_id": [10001]}))
    });
    assert!(p.is_empty(), "{p:?}");
}

#[test]
fn missing_or_empty_tasks() {
    let p = problems(|v| {
        v["dag"]["tasks"] = json!({});
        v["dag"].as_object_mut().unwrap().remove("party_tasks");
    });
    assert_eq!(p, ["dag.tasks: no tasks"]);
    let p = problems(|v| {
        v["dag"].as_object_mut().unwrap().remove("tasks");
        v["dag"].as_object_mut().unwrap().remove("party_tasks");
    });
    assert_eq!(p, ["dag.tasks: missing"]);
}

#[test]
fn duplicate_task_names() {
    let text = r#"{"schema_version": "2", "dag": {"parties": [{"role": "guest", "party_id": ["1"]}],
        "stage": "train", "tasks": {"a": {"component_ref": "reader"}, "a": {"component_ref": "psi"}}}}"#;
    let schema: DagSchema = serde_json::from_str(text).unwrap();
    let e = validate(&schema).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid DAG (1 problem): dag.tasks.a: task name appears more than once"
    );
}

#[test]
fn unusable_task_names() {
    let long = "t".repeat(51);
    let p = problems(|v| tasks(v)[long.as_str()] = json!({"component_ref": "reader"}));
    assert_eq!(
        p,
        [format!(
            "dag.tasks.{long}: task name \"{long}\" is 51 characters long (at most 50)"
        )]
    );
    let p = problems(|v| tasks(v)["a/b"] = json!({"component_ref": "reader"}));
    assert_eq!(
        p,
        [r#"dag.tasks.a/b: task name "a/b" contains '/', which cannot be used in a file path"#]
    );
}

#[test]
fn missing_component_ref() {
    assert_eq!(
        problems(|v| tasks(v)["lr_0"]["component_ref"] = Value::Null),
        ["dag.tasks.lr_0.component_ref: missing"]
    );
    assert_eq!(
        problems(|v| tasks(v)["lr_0"]["component_ref"] = json!("")),
        ["dag.tasks.lr_0.component_ref: missing"]
    );
}

#[test]
fn unknown_stage_literals() {
    let unknown = |s: &str| {
        format!("unknown stage {s:?} (expected train, predict, default or cross_validation)")
    };
    assert_eq!(
        problems(|v| tasks(v)["lr_0"]["stage"] = json!("fit")),
        [format!("dag.tasks.lr_0.stage: {}", unknown("fit"))]
    );
    // Reported once at the DAG level, not again for each task that inherits it.
    assert_eq!(
        problems(|v| v["dag"]["stage"] = json!("Train")),
        [format!("dag.stage: {}", unknown("Train"))]
    );
}

#[test]
fn every_stage_literal_is_accepted() {
    for s in ["train", "predict", "default", "cross_validation"] {
        assert!(
            problems(|v| tasks(v)["lr_0"]["stage"] = json!(s)).is_empty(),
            "{s}"
        );
    }
}

#[test]
fn a_task_needs_a_stage() {
    let p = problems(|v| {
        v["dag"]
            .as_object_mut()
            .unwrap()
            .remove("stage")
            .map(drop)
            .unwrap()
    });
    assert_eq!(
        p,
        ["dag.tasks.lr_0.stage: no stage: set the task's stage or dag.stage"]
    );
}

#[test]
fn task_parties_must_be_declared() {
    let p = problems(|v| {
        tasks(v)["reader_0"]["parties"] = json!([guest(), {"role": "host", "party_id": ["10001"]}])
    });
    assert_eq!(
        p,
        ["dag.tasks.reader_0.parties: host 10001 is not declared in dag.parties"]
    );
    let p = problems(|v| {
        tasks(v)["reader_0"]["parties"] = json!([{"role": "local", "party_id": ["0"]}])
    });
    assert!(
        p.contains(
            &"dag.tasks.reader_0.parties: local 0 is not declared in dag.parties".to_string()
        ),
        "{p:?}"
    );
}

#[test]
fn task_parties_are_checked_like_dag_parties() {
    let p = problems(|v| tasks(v)["reader_0"]["parties"] = json!([guest(), guest()]));
    assert_eq!(
        p,
        ["dag.tasks.reader_0.parties[1].party_id: guest 9999 is listed twice"]
    );
}

#[test]
fn empty_task_parties_mean_every_party() {
    let mut v = base();
    tasks(&mut v)["lr_0"]["parties"] = json!([]);
    let dag = validate(&DagSchema::from_value(v).unwrap()).unwrap();
    assert_eq!(dag.tasks[2].parties.len(), 3);
}

#[test]
fn party_tasks_parties_must_be_declared_and_present() {
    let p = problems(|v| {
        v["dag"]["party_tasks"]["guest_9999"]["parties"] =
            json!([{"role": "guest", "party_id": ["1"]}])
    });
    assert_eq!(
        p,
        ["dag.party_tasks.guest_9999.parties: guest 1 is not declared in dag.parties"]
    );
    let p = problems(|v| v["dag"]["party_tasks"]["guest_9999"]["parties"] = Value::Null);
    assert_eq!(p, ["dag.party_tasks.guest_9999.parties: no parties"]);
}

#[test]
fn party_tasks_must_name_known_tasks() {
    let p = problems(|v| {
        v["dag"]["party_tasks"]["guest_9999"]["tasks"]["reader_9"] = json!({"parameters": {}})
    });
    assert_eq!(
        p,
        [r#"dag.party_tasks.guest_9999.tasks.reader_9: unknown task "reader_9""#]
    );
}

#[test]
fn party_tasks_must_only_list_parties_that_run_the_task() {
    let p = problems(|v| {
        v["dag"]["party_tasks"]["arbiter"] = json!({"parties": [{"role": "arbiter", "party_id": ["10000"]}],
                                                    "tasks": {"reader_0": {"conf": {"timeout": 5}}}})
    });
    assert_eq!(
        p,
        ["dag.party_tasks.arbiter.tasks.reader_0: arbiter 10000 does not run reader_0"]
    );
}

#[test]
fn a_site_wide_conf_needs_parties_that_run_every_task() {
    let arbiter_site = |conf: Value| {
        problems(move |v| {
            v["dag"]["party_tasks"]["arbiter"] =
                json!({"parties": [{"role": "arbiter", "party_id": ["10000"]}], "conf": conf})
        })
    };
    assert_eq!(
        arbiter_site(json!({"timeout": 5})),
        [
            "dag.party_tasks.arbiter.conf: arbiter 10000 does not run reader_0, psi_0, and a site's conf applies to every task"
        ]
    );
    assert!(
        arbiter_site(json!({})).is_empty(),
        "an empty conf is never applied"
    );
    let p = problems(|v| v["dag"]["party_tasks"]["guest_9999"]["conf"] = json!({"timeout": 5}));
    assert!(p.is_empty(), "{p:?}");
}

#[test]
fn every_problem_is_collected() {
    let p = problems(|v| {
        v.as_object_mut().unwrap().remove("schema_version");
        v["dag"]["conf"]["sync_type"] = json!("x");
        tasks(v)["reader_0"]["component_ref"] = Value::Null;
        tasks(v)["lr_0"]["stage"] = json!("bogus");
        tasks(v)["lr_0"]["inputs"]["data"]["train_data"]["task_output_artifact"]["producer_task"] =
            json!("psi_9");
        v["dag"]["party_tasks"]["guest_9999"]["tasks"]["nope"] = json!({});
    });
    let paths: Vec<&str> = p.iter().map(|l| l.split(": ").next().unwrap()).collect();
    assert_eq!(
        paths,
        [
            "schema_version",
            "dag.conf.sync_type",
            "dag.tasks.reader_0.component_ref",
            "dag.tasks.lr_0.stage",
            "dag.tasks.lr_0.inputs.data.train_data.task_output_artifact",
            "dag.party_tasks.guest_9999.tasks.nope",
        ]
    );
}

#[test]
fn the_flow_internal_upload_dag_is_valid() {
    // The shape `dag.md` §9 describes (as in upload.jsonl).
    let v = json!({
        "schema_version": "2.2.0", "kind": "fate",
        "dag": {
            "parties": [{"role": "local", "party_id": ["0"]}], "stage": "default",
            "conf": {"scheduler_party_id": "0", "initiator_party_id": "9999",
                     "task": {"engine_run": null, "provider": "fate_flow:2.2.0@local", "timeout": null, "launcher_name": "default"}},
            "tasks": {
                "upload_0": {"component_ref": "upload", "parties": [{"role": "local", "party_id": ["0"]}],
                             "conf": {"provider": "fate_flow:2.2.0@local"}},
                "transformer_0": {"component_ref": "dataframe_transformer", "parties": [{"role": "local", "party_id": ["0"]}],
                                  "conf": {"provider": "fate:2.2.0@local"},
                                  "inputs": {"data": {"table": {"task_output_artifact":
                                      {"producer_task": "upload_0", "output_artifact_key": "table"}}}}}
            },
            "party_tasks": {"local_0": {"parties": [{"role": "local", "party_id": ["0"]}],
                                         "tasks": {"upload_0": {"parameters": {"file": "/x.csv", "head": true}}}}}
        }
    });
    let dag = validate(&DagSchema::from_value(v).unwrap()).unwrap();
    assert_eq!(
        dag.conf.scheduler_party_id.as_ref().map(|p| p.as_str()),
        Some("0")
    );
    assert_eq!(dag.order, [0, 1]);
}

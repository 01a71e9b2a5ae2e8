//! One test per validation rule: a valid DAG, one mutation, the exact problems expected.

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
fn unknown_producer_task() {
    let p = problems(|v| {
        tasks(v)["lr_0"]["inputs"]["data"]["train_data"]["task_output_artifact"]["producer_task"] =
            json!("psi_9")
    });
    assert_eq!(
        p,
        [
            r#"dag.tasks.lr_0.inputs.data.train_data.task_output_artifact: unknown producer task "psi_9""#
        ]
    );
}

#[test]
fn task_output_channel_fields_are_required() {
    let at = "dag.tasks.psi_0.inputs.data.input_data.task_output_artifact";
    let p = problems(|v| {
        tasks(v)["psi_0"]["inputs"]["data"]["input_data"]["task_output_artifact"] =
            json!({"output_artifact_key": "x"})
    });
    assert_eq!(p, [format!("{at}: missing producer_task")]);
    let p = problems(|v| {
        tasks(v)["psi_0"]["inputs"]["data"]["input_data"]["task_output_artifact"] =
            json!({"producer_task": "reader_0"})
    });
    assert_eq!(p, [format!("{at}: missing output_artifact_key")]);
}

#[test]
fn channels_in_a_list_are_named_by_index() {
    let p = problems(|v| {
        tasks(v)["psi_0"]["inputs"]["data"]["input_data"]["task_output_artifact"] = json!([
            {"producer_task": "reader_0", "output_artifact_key": "output_data"},
            {"producer_task": "nope", "output_artifact_key": "output_data"}])
    });
    assert_eq!(
        p,
        [
            r#"dag.tasks.psi_0.inputs.data.input_data.task_output_artifact[1]: unknown producer task "nope""#
        ]
    );
    let p = problems(|v| {
        tasks(v)["psi_0"]["inputs"]["data"]["input_data"]["task_output_artifact"] = json!([])
    });
    assert_eq!(
        p,
        ["dag.tasks.psi_0.inputs.data.input_data.task_output_artifact: empty channel list"]
    );
}

#[test]
fn an_input_needs_a_source() {
    let p = problems(|v| tasks(v)["psi_0"]["inputs"]["data"]["input_data"] = json!({}));
    assert_eq!(
        p,
        [
            "dag.tasks.psi_0.inputs.data.input_data: no source (task_output_artifact, model_warehouse or data_warehouse)"
        ]
    );
}

#[test]
fn channel_parties_must_be_declared() {
    let p = problems(|v| {
        tasks(v)["lr_0"]["inputs"]["data"]["train_data"]["task_output_artifact"]["parties"] =
            json!([guest(), {"role": "host", "party_id": ["7"]}])
    });
    assert_eq!(
        p,
        [
            "dag.tasks.lr_0.inputs.data.train_data.task_output_artifact.parties: host 7 is not declared in dag.parties"
        ]
    );
}

#[test]
fn channel_parties_must_run_the_producer() {
    // The arbiter runs lr_0 but not psi_0: told to read psi_0's output, it would wait forever.
    let p = problems(|v| {
        tasks(v)["lr_0"]["inputs"]["data"]["train_data"]["task_output_artifact"]["parties"] =
            json!([guest(), host(), {"role": "arbiter", "party_id": ["10000"]}])
    });
    assert_eq!(
        p,
        [
            r#"dag.tasks.lr_0.inputs.data.train_data.task_output_artifact.parties: producer "psi_0" does not run on arbiter 10000"#
        ]
    );
}

#[test]
fn duplicate_input_keys() {
    let text = serde_json::to_string(&base()).unwrap().replace(
        r#""input_data":{"task_output_artifact":{"producer_task":"reader_0","output_artifact_key":"output_data"}}"#,
        r#""input_data":{"task_output_artifact":{"producer_task":"reader_0","output_artifact_key":"output_data"}},"input_data":{"task_output_artifact":{"producer_task":"reader_0","output_artifact_key":"output_data"}}"#,
    );
    let e = validate(&serde_json::from_str::<DagSchema>(&text).unwrap()).unwrap_err();
    assert_eq!(
        e.0[0].to_string(),
        "dag.tasks.psi_0.inputs.data.input_data: input key appears more than once"
    );
}

#[test]
fn dependent_tasks_must_name_other_tasks() {
    let p = problems(|v| tasks(v)["lr_0"]["dependent_tasks"] = json!(["psi_0", "ghost", "lr_0"]));
    assert_eq!(
        p,
        [
            r#"dag.tasks.lr_0.dependent_tasks[1]: unknown task "ghost""#,
            "dag.tasks.lr_0.dependent_tasks[2]: a task cannot depend on itself",
        ]
    );
}

#[test]
fn dependent_tasks_order_tasks() {
    // W4: honoured as edges. reader_0 has no inputs but must now wait for psi_0's sibling.
    let mut v = base();
    tasks(&mut v)["extra"] = json!({"component_ref": "reader", "stage": "default"});
    tasks(&mut v)["reader_0"]["dependent_tasks"] = json!(["extra"]);
    let dag = validate(&DagSchema::from_value(v).unwrap()).unwrap();
    let order: Vec<_> = dag.ordered_tasks().map(|t| t.name.as_str()).collect();
    assert_eq!(order, ["extra", "reader_0", "psi_0", "lr_0"]);
    assert!(
        dag.task(&"reader_0".into()).unwrap().upstream.is_empty(),
        "dependent_tasks stay apart from upstream"
    );
    assert_eq!(
        dag.task(&"reader_0".into()).unwrap().dependencies(),
        ["extra".into()]
    );
}

#[test]
fn cycles_are_reported_with_their_path() {
    let p = problems(|v| tasks(v)["reader_0"]["dependent_tasks"] = json!(["lr_0"]));
    assert_eq!(
        p,
        ["dag.tasks.reader_0: cycle: reader_0 -> psi_0 -> lr_0 -> reader_0"]
    );
}

#[test]
fn a_task_reading_its_own_output_is_a_cycle() {
    let p = problems(|v| {
        tasks(v)["psi_0"]["inputs"]["data"]["input_data"]["task_output_artifact"]["producer_task"] =
            json!("psi_0")
    });
    assert_eq!(p, ["dag.tasks.psi_0: cycle: psi_0 -> psi_0"]);
}

#[test]
fn upstream_lists_every_task_output_producer_once() {
    let mut v = base();
    tasks(&mut v)["lr_0"]["inputs"] = json!({
        "data": {"train_data": {"task_output_artifact": {"producer_task": "psi_0", "output_artifact_key": "output_data"}},
                 "validate_data": {"task_output_artifact": [
                     {"producer_task": "reader_0", "output_artifact_key": "output_data", "parties": [guest()]},
                     {"producer_task": "psi_0", "output_artifact_key": "output_data"}]}},
        "model": {"input_model": {"model_warehouse": {"model_id": "m", "model_version": "0",
                                                      "producer_task": "old", "output_artifact_key": "output_model"}}}
    });
    let dag = validate(&DagSchema::from_value(v).unwrap()).unwrap();
    assert_eq!(
        dag.task(&"lr_0".into()).unwrap().upstream,
        ["psi_0".into(), "reader_0".into()]
    );
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
fn a_site_wide_conf_may_name_parties_that_skip_some_tasks() {
    let p = problems(|v| {
        v["dag"]["party_tasks"]["arbiter"] = json!({"parties": [{"role": "arbiter", "party_id": ["10000"]}],
                                                    "conf": {"timeout": 5}})
    });
    assert!(p.is_empty(), "{p:?}");
}

#[test]
fn job_conf_values() {
    let cases = [
        (
            "sync_type",
            json!("push"),
            r#"dag.conf.sync_type: unknown sync type "push" (expected poll or callback)"#,
        ),
        (
            "cores",
            json!(-1),
            "dag.conf.cores: must not be negative (got -1)",
        ),
        (
            "priority",
            json!(-2),
            "dag.conf.priority: must not be negative (got -2)",
        ),
        (
            "auto_retries",
            json!(-3),
            "dag.conf.auto_retries: must not be negative (got -3)",
        ),
        (
            "computing_partitions",
            json!(-4),
            "dag.conf.computing_partitions: must not be negative (got -4)",
        ),
    ];
    for (key, value, want) in cases {
        assert_eq!(
            problems(|v| v["dag"]["conf"][key] = value.clone()),
            [want],
            "{key}"
        );
    }
}

#[test]
fn inheritance_needs_a_job_and_tasks() {
    let p = problems(|v| v["dag"]["conf"]["inheritance"] = json!({"task_list": []}));
    assert_eq!(
        p,
        [
            "dag.conf.inheritance.job_id: missing",
            "dag.conf.inheritance.task_list: no tasks to inherit"
        ]
    );
    let p = problems(|v| {
        v["dag"]["conf"]["inheritance"] =
            json!({"job_id": "202401010000000000000", "task_list": ["reader_0", "x"]})
    });
    assert_eq!(
        p,
        [r#"dag.conf.inheritance.task_list: "x" is not a task of this DAG"#]
    );
}

#[test]
fn model_warehouse_needs_id_and_version() {
    let p = problems(|v| v["dag"]["conf"]["model_warehouse"] = json!({"model_id": "m"}));
    assert_eq!(p, ["dag.conf.model_warehouse.model_version: missing"]);
    let p = problems(|v| v["dag"]["conf"]["model_warehouse"] = json!({"model_version": 0}));
    assert_eq!(p, ["dag.conf.model_warehouse.model_id: missing"]);
}

fn with_model_input(v: &mut Value, channel: Value) {
    tasks(v)["lr_0"]["inputs"]["model"] = json!({"input_model": {"model_warehouse": channel}});
}

#[test]
fn model_warehouse_channels_need_a_model() {
    let at = "dag.tasks.lr_0.inputs.model.input_model.model_warehouse";
    let ch = json!({"producer_task": "lr_0", "output_artifact_key": "output_model"});
    let p = problems(|v| with_model_input(v, ch.clone()));
    assert_eq!(
        p,
        [format!(
            "{at}: no model_id/model_version and dag.conf.model_warehouse is not set (the model would be looked up in this very job)"
        )]
    );
    // The job-wide default fills it in.
    let p = problems(|v| {
        with_model_input(v, ch.clone());
        v["dag"]["conf"]["model_warehouse"] = json!({"model_id": "m", "model_version": "0"});
    });
    assert!(p.is_empty(), "{p:?}");
    let p = problems(|v| {
        with_model_input(
            v,
            json!({"model_id": "m", "producer_task": "lr_0", "output_artifact_key": "k"}),
        )
    });
    assert_eq!(
        p,
        [format!(
            "{at}: model_id and model_version must be given together"
        )]
    );
    let p = problems(|v| {
        with_model_input(
            v,
            json!({"model_id": "m", "model_version": "0", "output_artifact_key": "k"}),
        )
    });
    assert_eq!(p, [format!("{at}: missing producer_task")]);
}

#[test]
fn model_warehouse_producers_are_tasks_of_another_job() {
    // Not checked against this DAG, and no edge.
    let mut v = base();
    with_model_input(
        &mut v,
        json!({"model_id": "m", "model_version": "0", "producer_task": "gone_0",
                                    "output_artifact_key": "output_model"}),
    );
    let dag = validate(&DagSchema::from_value(v).unwrap()).unwrap();
    assert_eq!(dag.task(&"lr_0".into()).unwrap().upstream, ["psi_0".into()]);
}

#[test]
fn data_warehouse_channels_name_a_table_or_an_output() {
    let at = "dag.tasks.reader_0.inputs.data.table.data_warehouse";
    let cases = [
        (json!({"namespace": "n", "name": "t"}), None),
        (
            json!({"job_id": "j", "producer_task": "p", "output_artifact_key": "k"}),
            None,
        ),
        (
            json!({"namespace": "n"}),
            Some(format!(
                "{at}: needs namespace and name, or job_id, producer_task and output_artifact_key"
            )),
        ),
        (
            json!({"producer_task": "p", "output_artifact_key": "k"}),
            Some(format!(
                "{at}: needs namespace and name, or job_id, producer_task and output_artifact_key"
            )),
        ),
    ];
    for (channel, want) in cases {
        let p = problems(|v| {
            tasks(v)["reader_0"]["inputs"] =
                json!({"data": {"table": {"data_warehouse": channel.clone()}}})
        });
        assert_eq!(p, want.into_iter().collect::<Vec<_>>(), "{channel}");
    }
}

#[test]
fn one_source_type_per_input_and_party() {
    let at = "dag.tasks.lr_0.inputs.data.train_data";
    // Split by parties: fine.
    let p = problems(
        |v| tasks(v)["lr_0"]["inputs"]["data"]["train_data"]["data_warehouse"] = json!({"namespace": "n", "name": "t", "parties": [{"role": "arbiter", "party_id": ["10000"]}]}),
    );
    assert!(p.is_empty(), "{p:?}");
    // Both reach guest 9999 (and host 10000).
    let p = problems(|v| {
        tasks(v)["lr_0"]["inputs"]["data"]["train_data"]["data_warehouse"] =
            json!({"namespace": "n", "name": "t"})
    });
    assert_eq!(
        p,
        [
            format!(
                "{at}: task_output_artifact and data_warehouse all reach guest 9999; FATE would use only one of them"
            ),
            format!(
                "{at}: task_output_artifact and data_warehouse all reach host 10000; FATE would use only one of them"
            ),
        ]
    );
}

#[test]
fn task_conf_values() {
    let at = "dag.tasks.lr_0.conf";
    let cases = [
        (
            json!({"provider": "fate"}),
            Some(format!(
                r#"{at}.provider: provider "fate": format should be name:version@device"#
            )),
        ),
        (
            json!({"provider": 5}),
            Some(format!("{at}.provider: must be a string, got 5")),
        ),
        (
            json!({"timeout": "1h"}),
            Some(format!(
                r#"{at}.timeout: must be a number of seconds or null (to disable it), got "1h""#
            )),
        ),
        (
            json!({"timeout": -1}),
            Some(format!("{at}.timeout: must not be negative (got -1)")),
        ),
        (
            json!({"engine_run": [1]}),
            Some(format!("{at}.engine_run: must be a map, got [1]")),
        ),
        (
            json!({"launcher_name": 1}),
            Some(format!("{at}.launcher_name: must be a string, got 1")),
        ),
        (
            json!({"timeout": null, "provider": null, "anything": [1]}),
            None,
        ),
        (
            json!({"provider": "*:*@*", "launcher_name": "deepspeed", "engine_run": {"cores": 2}}),
            None,
        ),
    ];
    for (conf, want) in cases {
        let p = problems(|v| tasks(v)["lr_0"]["conf"] = conf.clone());
        assert_eq!(p, want.into_iter().collect::<Vec<_>>(), "{conf}");
    }
}

#[test]
fn party_site_confs_are_checked_too() {
    let p = problems(|v| {
        v["dag"]["party_tasks"]["guest_9999"]["conf"] = json!({"timeout": "x"});
        v["dag"]["party_tasks"]["guest_9999"]["tasks"]["reader_0"]["conf"] =
            json!({"provider": "bad"});
    });
    assert_eq!(
        p,
        [
            r#"dag.party_tasks.guest_9999.conf.timeout: must be a number of seconds or null (to disable it), got "x""#,
            r#"dag.party_tasks.guest_9999.tasks.reader_0.conf.provider: provider "bad": format should be name:version@device"#,
        ]
    );
}

#[test]
fn job_task_conf_values() {
    let p = problems(|v| v["dag"]["conf"]["task"] = json!({"provider": "fate", "timeout": -5}));
    assert_eq!(
        p,
        [
            "dag.conf.task.timeout: must not be negative (got -5)",
            r#"dag.conf.task.provider: provider "fate": format should be name:version@device"#,
        ]
    );
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

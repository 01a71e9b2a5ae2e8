//! Inputs, channels, dependencies and cycles.

use serde_json::{Value, json};

use crate::dag::{DagSchema, validate};

use super::{base, guest, host, problems, tasks};

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

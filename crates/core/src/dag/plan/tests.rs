//! Per-party planning: which tasks, merged parameters and conf, filtered inputs, provider.

use serde_json::{Value, json};

use crate::dag::{Dag, DagSchema, PartyPlan, PlannedTask, plan_party, validate};
use crate::id::{Party, Role};
use crate::provider::{Catalog, CatalogEntry, Device, ProviderDefaults, ProviderRef};

use super::DEFAULT_TASK_TIMEOUT;

fn guest() -> Value {
    json!({"role": "guest", "party_id": ["9999"]})
}
fn host() -> Value {
    json!({"role": "host", "party_id": ["10000"]})
}
fn arbiter() -> Value {
    json!({"role": "arbiter", "party_id": ["10000"]})
}

fn g() -> Party {
    Party::new(Role::Guest, "9999")
}
fn h() -> Party {
    Party::new(Role::Host, "10000")
}
fn a() -> Party {
    Party::new(Role::Arbiter, "10000")
}

/// The composed example of `dag.md` §2.0.
fn base() -> Value {
    json!({
        "schema_version": "2.0.0",
        "dag": {
            "parties": [guest(), host(), arbiter()],
            "stage": "train",
            "conf": {"task": {"provider": "fate:2.2.0@local", "timeout": 3600, "engine_run": {"cores": 2}}},
            "tasks": {
                "reader_0": {"component_ref": "reader", "stage": "default", "parties": [guest(), host()]},
                "psi_0": {"component_ref": "psi", "stage": "default", "parties": [guest(), host()],
                          "inputs": {"data": {"input_data": {"task_output_artifact":
                              {"producer_task": "reader_0", "output_artifact_key": "output_data"}}}}},
                "lr_0": {"component_ref": "coordinated_lr", "parameters": {"epochs": 10, "batch_size": null},
                         "inputs": {"data": {"train_data": {"task_output_artifact":
                             {"producer_task": "psi_0", "output_artifact_key": "output_data",
                              "parties": [guest(), host()]}}}}}
            },
            "party_tasks": {
                "guest_9999": {"parties": [guest()],
                               "tasks": {"reader_0": {"parameters": {"namespace": "experiment", "name": "breast_hetero_guest"}}}},
                "host_10000": {"parties": [host()],
                               "tasks": {"reader_0": {"parameters": {"namespace": "experiment", "name": "breast_hetero_host"}}}}
            }
        }
    })
}

fn catalog() -> Catalog {
    let entry = |name: &str, version: &str, components: Option<&[&str]>| CatalogEntry {
        provider: ProviderRef::new(name, version, Device::Local),
        components: components.map(|c| c.iter().map(|s| s.to_string()).collect()),
        io: Default::default(),
    };
    Catalog {
        defaults: Some(ProviderDefaults {
            name: "fate".into(),
            version: "2.2.0".into(),
            device: Device::Local,
        }),
        providers: vec![
            entry("fate", "2.2.0", None),
            entry("fate", "2.1.0", None),
            entry("fate_flow", "2.2.0", Some(&["upload", "download"])),
        ],
    }
}

fn dag_of(v: Value) -> Dag {
    validate(&DagSchema::from_value(v).unwrap()).unwrap()
}

fn plan(v: Value, party: Party) -> PartyPlan {
    plan_party(&dag_of(v), &party, &catalog()).unwrap()
}

fn errors(v: Value, party: Party) -> Vec<String> {
    plan_party(&dag_of(v), &party, &catalog())
        .unwrap_err()
        .0
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn task<'a>(p: &'a PartyPlan, name: &str) -> &'a PlannedTask {
    p.tasks
        .iter()
        .find(|t| t.name.as_str() == name)
        .unwrap_or_else(|| panic!("{name} not planned"))
}

fn changed(change: impl FnOnce(&mut Value)) -> Value {
    let mut v = base();
    change(&mut v);
    v
}

fn names(p: &PartyPlan) -> Vec<&str> {
    p.tasks.iter().map(|t| t.name.as_str()).collect()
}

#[test]
fn each_party_plans_the_tasks_it_runs_in_order() {
    assert_eq!(names(&plan(base(), g())), ["reader_0", "psi_0", "lr_0"]);
    assert_eq!(names(&plan(base(), h())), ["reader_0", "psi_0", "lr_0"]);
    assert_eq!(names(&plan(base(), a())), ["lr_0"]);
}

#[test]
fn a_party_outside_the_job_has_no_plan() {
    assert_eq!(
        errors(base(), Party::new(Role::Host, "1")),
        ["dag.parties: host 1 is not a participant of this job"]
    );
}

#[test]
fn parameters_are_overridden_per_party() {
    let gp = plan(base(), g());
    assert_eq!(
        Value::Object(task(&gp, "reader_0").parameters.clone()),
        json!({"namespace": "experiment", "name": "breast_hetero_guest"})
    );
    let hp = plan(base(), h());
    assert_eq!(
        task(&hp, "reader_0").parameters["name"],
        "breast_hetero_host"
    );
    // Explicit nulls in parameters are passed through.
    assert_eq!(
        Value::Object(task(&gp, "lr_0").parameters.clone()),
        json!({"epochs": 10, "batch_size": null})
    );
}

#[test]
fn conf_precedence() {
    // job conf.task < task conf < party-site conf < party-site task conf (W7: the guest's
    // site-wide conf beats the task's own conf). Columns: task conf, guest site conf, guest
    // site task conf set; expected timeout on the guest, then on the host.
    let cases = [
        (false, false, false, 3600, 3600),
        (true, false, false, 2, 2),
        (false, true, false, 3, 3600),
        (true, true, false, 3, 2),
        (true, false, true, 4, 2),
        (true, true, true, 4, 2),
    ];
    for (task_conf, site, site_task, want_guest, want_host) in cases {
        let v = changed(|v| {
            if task_conf {
                v["dag"]["tasks"]["reader_0"]["conf"] = json!({"timeout": 2});
            }
            if site {
                v["dag"]["party_tasks"]["guest_9999"]["conf"] = json!({"timeout": 3});
            }
            if site_task {
                v["dag"]["party_tasks"]["guest_9999"]["tasks"]["reader_0"]["conf"] =
                    json!({"timeout": 4});
            }
        });
        let case = (task_conf, site, site_task);
        assert_eq!(
            task(&plan(v.clone(), g()), "reader_0").timeout,
            Some(want_guest),
            "{case:?}"
        );
        assert_eq!(
            task(&plan(v, h()), "reader_0").timeout,
            Some(want_host),
            "{case:?}"
        );
    }
}

#[test]
fn later_sites_win() {
    let v = changed(|v| {
        v["dag"]["party_tasks"]["guest_9999"]["conf"] = json!({"timeout": 5, "x": 1});
        v["dag"]["party_tasks"]["all"] =
            json!({"parties": [guest(), host()], "conf": {"timeout": 6}});
    });
    let gp = plan(v, g());
    assert_eq!(task(&gp, "reader_0").timeout, Some(6));
    assert_eq!(task(&gp, "reader_0").conf["x"], 1);
}

#[test]
fn conf_updates_are_shallow() {
    // The task's engine_run replaces the job's, it is not merged into it.
    let v = changed(|v| v["dag"]["tasks"]["lr_0"]["conf"] = json!({"engine_run": {"memory": 1}}));
    let lr = task(&plan(v, g()), "lr_0").conf.clone();
    assert_eq!(lr["engine_run"], json!({"memory": 1}));
    assert_eq!(lr["provider"], "fate:2.2.0@local");
    // Key order as Python's dict.update leaves it: job keys first, new keys appended.
    let keys: Vec<&str> = lr.keys().map(String::as_str).collect();
    assert_eq!(keys, ["engine_run", "provider", "timeout"]);
}

#[test]
fn timeouts() {
    // (dag.conf.task, task conf, expected): absent → default; an explicit null in a task-level
    // conf disables it; a null at job level is "unset" and dropped.
    let cases = [
        (json!(null), json!(null), Some(DEFAULT_TASK_TIMEOUT)),
        (json!({"timeout": 60}), json!(null), Some(60)),
        (json!(null), json!({"timeout": null}), None),
        (
            json!({"timeout": null}),
            json!({}),
            Some(DEFAULT_TASK_TIMEOUT),
        ),
        (json!({"timeout": 60}), json!({"timeout": null}), None),
        (json!({"timeout": 60}), json!({"timeout": 7.0}), Some(7)),
    ];
    for (job_task, task_conf, want) in cases {
        let v = changed(|v| {
            v["dag"]["conf"]["task"] = job_task.clone();
            v["dag"]["tasks"]["lr_0"]["conf"] = task_conf.clone();
        });
        assert_eq!(
            task(&plan(v, g()), "lr_0").timeout,
            want,
            "{job_task} {task_conf}"
        );
    }
}

#[test]
fn launcher_names() {
    let cases = [
        (json!(null), "default"),
        (json!({"launcher_name": "deepspeed"}), "deepspeed"),
        (json!({"launcher_name": null}), "default"),
    ];
    for (conf, want) in cases {
        let v = changed(|v| v["dag"]["tasks"]["lr_0"]["conf"] = conf.clone());
        assert_eq!(task(&plan(v, g()), "lr_0").launcher_name, want, "{conf}");
    }
    let v = changed(|v| v["dag"]["conf"]["task"]["launcher_name"] = json!("deepspeed"));
    assert_eq!(task(&plan(v, g()), "lr_0").launcher_name, "deepspeed");
}

#[test]
fn providers_resolve_per_party() {
    let v = changed(|v| {
        v["dag"]["conf"]["task"]["provider"] = Value::Null;
        v["dag"]["party_tasks"]["host_10000"]["conf"] = json!({"provider": "fate:2.1.0@local"});
    });
    assert_eq!(
        task(&plan(v.clone(), g()), "psi_0").provider.to_string(),
        "fate:2.2.0@local"
    );
    assert_eq!(
        task(&plan(v, h()), "psi_0").provider.to_string(),
        "fate:2.1.0@local"
    );
}

#[test]
fn unknown_providers_are_reported_with_the_text() {
    let v = changed(|v| v["dag"]["tasks"]["psi_0"]["conf"] = json!({"provider": "fate:9.9@local"}));
    let e = errors(v, h());
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with(r#"dag.tasks.psi_0.conf.provider: provider "fate:9.9@local" on host 10000: provider fate:9.9@local is not registered"#),
        "{e:?}"
    );
    let v = changed(|v| v["dag"]["conf"]["task"]["provider"] = json!("fate:2.2.0@gpu"));
    assert_eq!(errors(v, a()).len(), 1, "one error per task the party runs");
}

#[test]
fn components_must_be_offered() {
    let v = changed(|v| {
        v["dag"]["tasks"]["reader_0"]["conf"] = json!({"provider": "fate_flow:2.2.0@local"})
    });
    assert_eq!(
        errors(v, g()),
        [
            r#"dag.tasks.reader_0.component_ref: provider fate_flow:2.2.0@local has no component "reader""#
        ]
    );
}

#[test]
fn inputs_are_filtered_and_readdressed() {
    let gp = plan(base(), g());
    let psi = serde_json::to_value(&task(&gp, "psi_0").inputs).unwrap();
    assert_eq!(
        psi,
        json!({
            "data": {"input_data": {"producer_task": "reader_0", "output_artifact_key": "output_data",
                                    "output_artifact_type_alias": null,
                                    "parties": [{"role": "guest", "party_id": ["9999"]}]}},
            "model": null
        })
    );
    assert_eq!(task(&gp, "psi_0").upstream, ["reader_0".into()]);
}

#[test]
fn a_party_without_inputs_gets_null_classes() {
    let ap = plan(base(), a());
    let lr = task(&ap, "lr_0");
    assert_eq!(
        serde_json::to_value(&lr.inputs).unwrap(),
        json!({"data": null, "model": null})
    );
    assert!(lr.upstream.is_empty());
}

#[test]
fn channels_without_parties_follow_the_producer() {
    // No `parties` on the channel: kept where the producer runs (guest, host), dropped on the
    // arbiter, which does not run psi_0.
    let v = changed(|v| {
        v["dag"]["tasks"]["lr_0"]["inputs"]["data"]["train_data"]["task_output_artifact"]
            .as_object_mut()
            .unwrap()
            .remove("parties");
    });
    assert!(task(&plan(v.clone(), h()), "lr_0").inputs.data.is_some());
    assert!(task(&plan(v, a()), "lr_0").inputs.data.is_none());
}

#[test]
fn lists_keep_their_survivors() {
    let v = changed(|v| {
        v["dag"]["tasks"]["lr_0"]["inputs"]["data"]["train_data"]["task_output_artifact"] = json!([
            {"producer_task": "psi_0", "output_artifact_key": "output_data", "parties": [guest()]},
            {"producer_task": "reader_0", "output_artifact_key": "output_data"}
        ]);
    });
    let guest_inputs = serde_json::to_value(&task(&plan(v.clone(), g()), "lr_0").inputs).unwrap();
    assert_eq!(
        guest_inputs["data"]["train_data"].as_array().map(Vec::len),
        Some(2),
        "both reach the guest"
    );
    let host_plan = plan(v, h());
    let host_inputs = serde_json::to_value(&task(&host_plan, "lr_0").inputs).unwrap();
    assert_eq!(
        host_inputs["data"]["train_data"]["producer_task"], "reader_0",
        "one survivor: a single channel"
    );
    assert_eq!(task(&host_plan, "lr_0").upstream, ["reader_0".into()]);
}

#[test]
fn model_warehouse_channels_get_the_default_model() {
    let v = changed(|v| {
        v["dag"]["conf"]["model_warehouse"] = json!({"model_id": "m1", "model_version": 3});
        v["dag"]["tasks"]["lr_0"]["inputs"]["model"] = json!({
            "input_model": {"model_warehouse": {"producer_task": "lr_0", "output_artifact_key": "output_model",
                                                "output_artifact_type_alias": null, "parties": [guest(), host()]}},
            "warm_start": {"model_warehouse": [{"model_id": "m0", "model_version": "1",
                                                "producer_task": "lr_0", "output_artifact_key": "output_model"}]}
        });
    });
    let inputs = serde_json::to_value(&task(&plan(v.clone(), h()), "lr_0").inputs).unwrap();
    assert_eq!(
        inputs["model"],
        json!({
            "input_model": {"model_id": "m1", "model_version": "3", "producer_task": "lr_0",
                            "output_artifact_key": "output_model", "parties": [{"role": "host", "party_id": ["10000"]}]},
            "warm_start": {"model_id": "m0", "model_version": "1", "producer_task": "lr_0",
                           "output_artifact_key": "output_model", "parties": [{"role": "host", "party_id": ["10000"]}]}
        })
    );
    // The arbiter is not listed on input_model; warm_start has no parties and reaches it.
    let inputs = serde_json::to_value(&task(&plan(v, a()), "lr_0").inputs).unwrap();
    assert_eq!(
        inputs["model"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["warm_start"]
    );
    assert!(inputs["data"].is_null());
}

#[test]
fn data_warehouse_channels() {
    let v = changed(|v| {
        v["dag"]["tasks"]["reader_0"]["inputs"] = json!({"data": {"table": {"data_warehouse": {"namespace": "n", "name": "t", "parties": [host()]}}}});
    });
    assert!(
        task(&plan(v.clone(), g()), "reader_0")
            .inputs
            .data
            .is_none()
    );
    let inputs = serde_json::to_value(&task(&plan(v, h()), "reader_0").inputs).unwrap();
    assert_eq!(
        inputs["data"]["table"],
        json!({
            "job_id": null, "producer_task": null, "output_artifact_key": null, "namespace": "n", "name": "t",
            "dataset_id": null, "parties": [{"role": "host", "party_id": ["10000"]}]
        })
    );
}

#[test]
fn runtime_parties_are_the_tasks() {
    let gp = plan(base(), g());
    assert_eq!(task(&gp, "reader_0").runtime_parties, [g(), h()]);
    assert_eq!(task(&gp, "lr_0").runtime_parties, [g(), h(), a()]);
}

#[test]
fn a_site_conf_in_a_hand_built_dag_must_reach_every_task() {
    let mut dag = dag_of(base());
    dag.party_tasks[0].parties.push(a());
    dag.party_tasks[0].tasks.clear();
    dag.party_tasks[0].conf = Some(json!({"timeout": 1}).as_object().cloned().unwrap());
    let e = plan_party(&dag, &a(), &catalog()).unwrap_err();
    assert_eq!(e.0.len(), 2, "{e}");
    assert_eq!(e.0[0].path, "dag.party_tasks.guest_9999.conf");
    assert!(plan_party(&dag, &g(), &catalog()).is_ok());
}

#[test]
fn misaddressed_overrides_in_a_hand_built_dag_are_reported() {
    let mut dag = dag_of(base());
    dag.party_tasks[0].parties.push(a());
    let e = plan_party(&dag, &a(), &catalog()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid DAG (1 problem): dag.party_tasks.guest_9999.tasks.reader_0: arbiter 10000 does not run reader_0"
    );
}

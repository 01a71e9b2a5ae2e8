//! `dag.conf` and the task confs.

use serde_json::json;

use super::{problems, tasks};

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

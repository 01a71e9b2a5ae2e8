//! Typed commands (`wire::command`): what a sender serialises is what the receiver parses.

use serde::Serialize;
use serde_json::json;

use ferroflow_wire::params::{FromParams, Params};
use ferroflow_wire::{Route, partner, scheduler};

/// What a sender serialises, the receiver parses back unchanged: the body is defined once.
fn round_trip<B: Serialize + FromParams + PartialEq + std::fmt::Debug>(route: Route<B>, body: B) {
    let sent = serde_json::to_value(&body).unwrap();
    let parsed = B::from_params(&Params::from_json(sent.clone()))
        .unwrap_or_else(|e| panic!("{route:?}: {sent} does not parse: {e:?}"));
    assert_eq!(parsed, body, "{route:?}");
}

fn job() -> partner::JobTarget {
    partner::JobTarget {
        job_id: "j1".into(),
        role: "guest".into(),
        party_id: "9999".into(),
    }
}

fn task() -> partner::TaskTarget {
    partner::TaskTarget {
        job_id: "j1".into(),
        role: "host".into(),
        party_id: "10000".into(),
        task_id: "j1_reader_0".into(),
        task_version: 2,
    }
}

#[test]
fn every_command_body_survives_its_route() {
    round_trip(
        partner::JOB_CREATE,
        partner::JobCreate {
            dag: json!({"parties": [], "tasks": {}}),
            schema_version: "2.2.0".into(),
            kind: Some("fate".into()),
            target: job(),
        },
    );
    for route in [
        partner::JOB_START,
        partner::JOB_RESOURCE_APPLY,
        partner::JOB_RESOURCE_RETURN,
    ] {
        round_trip(route, job());
    }
    for route in [
        partner::TASK_RESOURCE_APPLY,
        partner::TASK_RESOURCE_RETURN,
        partner::TASK_START,
        partner::TASK_COLLECT,
    ] {
        round_trip(route, task());
    }
    round_trip(
        partner::JOB_STATUS_UPDATE,
        partner::StatusUpdate {
            target: job(),
            status: "running".into(),
        },
    );
    round_trip(
        partner::TASK_STATUS_UPDATE,
        partner::StatusUpdate {
            target: task(),
            status: "success".into(),
        },
    );
    round_trip(
        partner::JOB_UPDATE,
        partner::JobUpdate {
            target: job(),
            progress: 40.0,
        },
    );
    for stop_status in [None, Some("canceled".to_string())] {
        round_trip(
            partner::JOB_STOP,
            partner::JobStop {
                target: job(),
                stop_status,
            },
        );
    }
    round_trip(
        partner::TASK_STOP,
        partner::TaskStop {
            target: task(),
            status: Some("failed".into()),
        },
    );
    round_trip(
        partner::TASK_RERUN,
        partner::TaskRerun {
            target: task(),
            new_version: 3,
            parameters: Some(json!({"max_iter": 2}).as_object().unwrap().clone()),
        },
    );
    round_trip(
        scheduler::JOB_STOP,
        scheduler::JobStop {
            job_id: "j1".into(),
            stop_status: Some("canceled".into()),
        },
    );
    round_trip(
        scheduler::JOB_RERUN,
        scheduler::JobRerun {
            job_id: "j1".into(),
            task_name: Some("lr_0".into()),
            parameters: None,
        },
    );
    round_trip(
        scheduler::TASK_REPORT,
        scheduler::TaskReport {
            job_id: "j1".into(),
            role: "host".into(),
            party_id: "10000".into(),
            task_id: "j1_reader_0".into(),
            task_version: 0,
            status: Some("success".into()),
        },
    );
}

/// The initiator travels in a header, never in the body.
#[test]
fn a_job_creation_carries_no_initiator_in_its_body() {
    let body = scheduler::JobCreate {
        dag: json!({}),
        schema_version: "2.2.0".into(),
        kind: Some("fate".into()),
        initiator_party_id: Some("9999".into()),
    };
    assert_eq!(
        serde_json::to_value(&body).unwrap(),
        json!({"dag": {}, "schema_version": "2.2.0", "kind": "fate"})
    );
}

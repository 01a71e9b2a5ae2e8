//! `dag.conf` and the free-form task confs (`dag.md` §3).

use serde_json::{Map, Value};

use ferroflow_wire::dag as wire;

use crate::id::PartyId;
use crate::provider::ProviderSpec;

use super::super::{InheritanceConf, JobConf, ModelRef, SyncType};
use super::Problems;

/// `dag.conf` typed. A missing `conf` is accepted: the initiator fills it before forwarding.
/// Inheritance task names are checked by the caller, which knows the tasks.
pub(super) fn job_conf(conf: Option<&wire::JobConf>, problems: &mut Problems) -> JobConf {
    let Some(c) = conf else {
        return JobConf::default();
    };
    let non_negative = |problems: &mut Problems, field: &str, v: Option<i64>| {
        if let Some(n) = v.filter(|n| *n < 0) {
            problems.add(
                format!("dag.conf.{field}"),
                format!("must not be negative (got {n})"),
            );
        }
        v
    };
    let priority = non_negative(problems, "priority", c.priority).unwrap_or(0);
    let cores = non_negative(problems, "cores", c.cores);
    let computing_partitions =
        non_negative(problems, "computing_partitions", c.computing_partitions);
    let auto_retries = non_negative(problems, "auto_retries", c.auto_retries);

    // Empty strings are "unset" upstream (every default is applied on falsy values).
    let text = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());

    let sync_type = text(&c.sync_type).and_then(|s| {
        let parsed = SyncType::parse(&s);
        if parsed.is_none() {
            problems.add(
                "dag.conf.sync_type",
                format!("unknown sync type {s:?} (expected poll or callback)"),
            );
        }
        parsed
    });

    let model_warehouse = c.model_warehouse.as_ref().and_then(|m| {
        let id = text(&m.model_id);
        let version = text(&m.model_version);
        if id.is_none() {
            problems.add("dag.conf.model_warehouse.model_id", "missing");
        }
        if version.is_none() {
            problems.add("dag.conf.model_warehouse.model_version", "missing");
        }
        Some(ModelRef {
            model_id: id?,
            model_version: version?,
        })
    });

    let inheritance = c.inheritance.as_ref().map(|inh| {
        let job_id = text(&inh.job_id).unwrap_or_else(|| {
            problems.add("dag.conf.inheritance.job_id", "missing");
            String::new()
        });
        let task_list = inh.task_list.clone().unwrap_or_default();
        if task_list.is_empty() {
            problems.add("dag.conf.inheritance.task_list", "no tasks to inherit");
        }
        InheritanceConf {
            job_id,
            task_list: task_list.into_iter().map(Into::into).collect(),
        }
    });

    let task = match &c.task {
        None => Map::new(),
        Some(t) => {
            if let Some(n) = t.timeout.filter(|n| *n < 0) {
                problems.add(
                    "dag.conf.task.timeout",
                    format!("must not be negative (got {n})"),
                );
            }
            if let Some(p) = &t.provider {
                check_provider(p, "dag.conf.task.provider", problems);
            }
            t.to_set_map()
        }
    };

    JobConf {
        priority,
        scheduler_party_id: text(&c.scheduler_party_id).map(PartyId::from),
        initiator_party_id: text(&c.initiator_party_id).map(PartyId::from),
        cores,
        computing_partitions,
        sync_type,
        auto_retries,
        model_id: text(&c.model_id),
        model_version: text(&c.model_version),
        model_warehouse,
        inheritance,
        task,
    }
}

fn check_provider(p: &str, path: &str, problems: &mut Problems) {
    if let Err(e) = ProviderSpec::parse(p) {
        problems.add(path, e.to_string());
    }
}

/// Checks the keys a free-form task conf (task `conf`, party-site `conf`, party-site task
/// `conf`) is read for; everything else is carried and ignored, as upstream does.
pub(super) fn task_conf(conf: &Map<String, Value>, path: &str, problems: &mut Problems) {
    if let Some(v) = conf.get("provider") {
        match v {
            Value::Null => {}
            Value::String(p) => check_provider(p, &format!("{path}.provider"), problems),
            other => problems.add(
                format!("{path}.provider"),
                format!("must be a string, got {other}"),
            ),
        }
    }
    if let Some(v) = conf.get("timeout") {
        match timeout(v) {
            Ok(Some(n)) if n < 0 => problems.add(
                format!("{path}.timeout"),
                format!("must not be negative (got {n})"),
            ),
            Ok(_) => {}
            Err(()) => problems.add(
                format!("{path}.timeout"),
                format!("must be a number of seconds or null (to disable it), got {v}"),
            ),
        }
    }
    if let Some(v) = conf.get("engine_run")
        && !matches!(v, Value::Null | Value::Object(_))
    {
        problems.add(
            format!("{path}.engine_run"),
            format!("must be a map, got {v}"),
        );
    }
    if let Some(v) = conf.get("launcher_name")
        && !matches!(v, Value::Null | Value::String(_))
    {
        problems.add(
            format!("{path}.launcher_name"),
            format!("must be a string, got {v}"),
        );
    }
}

/// A conf's `timeout`: `Ok(None)` for an explicit null (no timeout), an integer (integral
/// floats accepted), or `Err` for anything else.
pub(in crate::dag) fn timeout(v: &Value) -> Result<Option<i64>, ()> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
                    .map(|f| f as i64)
            })
            .map(Some)
            .ok_or(()),
        _ => Err(()),
    }
}

//! Task inputs (`dag.md` §4.1): channel shapes, producers, channel parties.

use std::collections::HashMap;

use ferroflow_wire::dag as wire;
use ferroflow_wire::lenient::OneOrMany;

use crate::id::{Party, TaskName};

use super::super::{ArtifactClass, Channel, Input, ModelRef, Source, reaches};
use super::{Problems, parties};

/// What input checking needs to know about the rest of the DAG.
pub(super) struct Context<'a> {
    pub declared: &'a [Party],
    /// Task name → its runtime parties.
    pub runtime: &'a HashMap<&'a str, &'a [Party]>,
    pub model_warehouse: Option<&'a ModelRef>,
}

/// The inputs of task `task` (running on `runs_on`), in document order: data, then model.
pub(super) fn inputs(
    task: &str,
    runs_on: &[Party],
    spec: Option<&wire::Inputs>,
    ctx: &Context<'_>,
    problems: &mut Problems,
) -> Vec<Input> {
    let mut out = Vec::new();
    let Some(spec) = spec else { return out };
    for (class, keys) in [
        (ArtifactClass::Data, &spec.data),
        (ArtifactClass::Model, &spec.model),
    ] {
        let Some(keys) = keys else { continue };
        let mut seen: Vec<&str> = Vec::new();
        for (key, channels) in keys.iter() {
            let path = format!("dag.tasks.{task}.inputs.{}.{key}", class.as_str());
            if seen.contains(&key.as_str()) {
                problems.add(&path, "input key appears more than once");
                continue;
            }
            seen.push(key);
            let sources = sources(&path, channels, ctx, runs_on, problems);
            check_one_source_type_per_party(&path, &sources, runs_on, ctx, problems);
            out.push(Input {
                class,
                key: key.clone(),
                sources,
            });
        }
    }
    out
}

fn sources(
    path: &str,
    channels: &wire::InputChannels,
    ctx: &Context<'_>,
    runs_on: &[Party],
    problems: &mut Problems,
) -> Vec<Source> {
    let mut out = Vec::new();
    if let Some(list) = &channels.task_output_artifact {
        out.extend(each(
            path,
            "task_output_artifact",
            list,
            problems,
            |at, c, p| task_output(at, c, ctx, runs_on, p),
        ));
    }
    if let Some(list) = &channels.model_warehouse {
        out.extend(each(path, "model_warehouse", list, problems, |at, c, p| {
            model_warehouse(at, c, ctx, p)
        }));
    }
    if let Some(list) = &channels.data_warehouse {
        out.extend(each(path, "data_warehouse", list, problems, |at, c, p| {
            data_warehouse(at, c, ctx, p)
        }));
    }
    let written = channels.task_output_artifact.is_some()
        || channels.model_warehouse.is_some()
        || channels.data_warehouse.is_some();
    if !written {
        problems.add(
            path,
            "no source (task_output_artifact, model_warehouse or data_warehouse)",
        );
    }
    out
}

/// Runs `check` on every channel of one source type, with the channel's path
/// (`…task_output_artifact` or `…task_output_artifact[i]`).
fn each<T>(
    path: &str,
    source_type: &str,
    list: &OneOrMany<T>,
    problems: &mut Problems,
    mut check: impl FnMut(&str, &T, &mut Problems) -> Channel,
) -> Vec<Source> {
    let in_list = list.is_many();
    let mut out = Vec::new();
    match list {
        OneOrMany::One(c) => out.push(Source {
            channel: check(&format!("{path}.{source_type}"), c, problems),
            in_list,
        }),
        OneOrMany::Many(cs) => {
            if cs.is_empty() {
                problems.add(format!("{path}.{source_type}"), "empty channel list");
            }
            for (i, c) in cs.iter().enumerate() {
                let at = format!("{path}.{source_type}[{i}]");
                out.push(Source {
                    channel: check(&at, c, problems),
                    in_list,
                });
            }
        }
    }
    out
}

/// A channel's own `parties`, declared ones only; an empty list means "no restriction",
/// as FATE treats it.
fn channel_parties(
    specs: Option<&[wire::PartySpec]>,
    at: &str,
    ctx: &Context<'_>,
    problems: &mut Problems,
) -> Option<Vec<Party>> {
    let specs = specs.filter(|s| !s.is_empty())?;
    Some(parties::parse_declared(
        specs,
        &format!("{at}.parties"),
        ctx.declared,
        problems,
    ))
}

fn required(v: &Option<String>, field: &str, at: &str, problems: &mut Problems) -> String {
    match v.as_deref() {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => {
            problems.add(at, format!("missing {field}"));
            String::new()
        }
    }
}

fn task_output(
    at: &str,
    c: &wire::TaskOutputChannel,
    ctx: &Context<'_>,
    runs_on: &[Party],
    problems: &mut Problems,
) -> Channel {
    let producer = required(&c.producer_task, "producer_task", at, problems);
    let key = required(&c.output_artifact_key, "output_artifact_key", at, problems);
    let producer_runs = ctx.runtime.get(producer.as_str()).copied();
    if !producer.is_empty() && producer_runs.is_none() {
        problems.add(at, format!("unknown producer task {producer:?}"));
    }
    let parties = channel_parties(c.parties.as_deref(), at, ctx, problems);
    // A party told to read the output must produce it too, or the task waits for an
    // artifact that never appears there.
    if let (Some(listed), Some(producer_runs)) = (&parties, producer_runs) {
        for party in listed
            .iter()
            .filter(|p| runs_on.contains(p) && !producer_runs.contains(p))
        {
            problems.add(
                format!("{at}.parties"),
                format!("producer {producer:?} does not run on {party}"),
            );
        }
    }
    Channel::TaskOutput {
        producer_task: TaskName::from(producer),
        output_artifact_key: key,
        output_artifact_type_alias: c.output_artifact_type_alias.clone(),
        parties,
    }
}

fn model_warehouse(
    at: &str,
    c: &wire::ModelWarehouseChannel,
    ctx: &Context<'_>,
    problems: &mut Problems,
) -> Channel {
    let producer = required(&c.producer_task, "producer_task", at, problems);
    let key = required(&c.output_artifact_key, "output_artifact_key", at, problems);
    let id = c.model_id.clone().filter(|s| !s.is_empty());
    let version = c.model_version.clone().filter(|s| !s.is_empty());
    match (&id, &version) {
        (Some(_), Some(_)) => {}
        (None, None) if ctx.model_warehouse.is_some() => {}
        (None, None) => problems.add(
            at,
            "no model_id/model_version and dag.conf.model_warehouse is not set \
             (the model would be looked up in this very job)",
        ),
        _ => problems.add(at, "model_id and model_version must be given together"),
    }
    Channel::ModelWarehouse {
        model_id: id,
        model_version: version,
        producer_task: TaskName::from(producer),
        output_artifact_key: key,
        parties: channel_parties(c.parties.as_deref(), at, ctx, problems),
    }
}

fn data_warehouse(
    at: &str,
    c: &wire::DataWarehouseChannel,
    ctx: &Context<'_>,
    problems: &mut Problems,
) -> Channel {
    let set = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    let table = set(&c.namespace).is_some() && set(&c.name).is_some();
    let output = set(&c.job_id).is_some()
        && set(&c.producer_task).is_some()
        && set(&c.output_artifact_key).is_some();
    if !table && !output {
        problems.add(
            at,
            "needs namespace and name, or job_id, producer_task and output_artifact_key",
        );
    }
    Channel::DataWarehouse {
        job_id: set(&c.job_id),
        producer_task: set(&c.producer_task).map(TaskName::from),
        output_artifact_key: set(&c.output_artifact_key),
        namespace: set(&c.namespace),
        name: set(&c.name),
        dataset_id: set(&c.dataset_id),
        parties: channel_parties(c.parties.as_deref(), at, ctx, problems),
    }
}

/// FATE keeps one source type per input key and party (the last one processed, an order
/// our wire shape does not keep), so two source types reaching the same party are ambiguous.
fn check_one_source_type_per_party(
    path: &str,
    sources: &[Source],
    runs_on: &[Party],
    ctx: &Context<'_>,
    problems: &mut Problems,
) {
    for party in runs_on {
        let runs = |t: &TaskName| {
            ctx.runtime
                .get(t.as_str())
                .is_some_and(|ps| ps.contains(party))
        };
        let mut types: Vec<&str> = Vec::new();
        for s in sources.iter().filter(|s| reaches(&s.channel, party, runs)) {
            let t = s.channel.source_type();
            if !types.contains(&t) {
                types.push(t);
            }
        }
        if types.len() > 1 {
            problems.add(
                path,
                format!(
                    "{} all reach {party}; FATE would use only one of them",
                    types.join(" and ")
                ),
            );
        }
    }
}

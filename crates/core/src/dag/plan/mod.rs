//! Per-party planning (`dag.md` §6): which tasks a participant runs, with merged parameters
//! and conf, filtered inputs and a resolved provider. Every participant plans from the full
//! DAG, so two sites always agree on what the other runs.

use serde_json::{Map, Value};

use ferroflow_wire::dag as wire;
use ferroflow_wire::lenient::{OneOrMany, OrderedMap};
use ferroflow_wire::task_config::InputArtifacts;

use crate::id::{Party, TaskName};
use crate::provider::Catalog;

use super::validate::timeout;
use super::{
    ArtifactClass, Channel, Dag, DagError, DagErrors, PartyPlan, PlannedTask, TaskNode, reaches,
};

/// `task_timeout` of `job_default_config.yaml`: 72 hours.
pub const DEFAULT_TASK_TIMEOUT: i64 = 259_200;

/// Plans `party`'s tasks. Errors (unknown provider or component for this party, party_tasks
/// naming a party that does not run the task, ...) are all collected.
pub fn plan_party(dag: &Dag, party: &Party, catalog: &Catalog) -> Result<PartyPlan, DagErrors> {
    let mut errors = Vec::new();
    if !dag.parties.contains(party) {
        errors.push(DagError::new(
            "dag.parties",
            format!("{party} is not a participant of this job"),
        ));
        return Err(DagErrors(errors));
    }
    errors.extend(misaddressed_overrides(dag, party));
    let runs = |t: &TaskName| dag.task(t).is_some_and(|t| t.runs_on(party));
    let mut tasks = Vec::new();
    for task in dag.ordered_tasks().filter(|t| t.runs_on(party)) {
        let at = format!("dag.tasks.{}", task.name);
        let (parameters, conf) = merge(dag, task, party);

        let written = match conf.get("provider") {
            Some(Value::String(p)) => Some(p.as_str()),
            _ => None,
        };
        let provider = match catalog.resolve(written) {
            Ok(p) => p,
            Err(e) => {
                let what = match written {
                    Some(p) => format!("provider {p:?}"),
                    None => "the default provider".to_string(),
                };
                errors.push(DagError::new(
                    format!("{at}.conf.provider"),
                    format!("{what} on {party}: {e}"),
                ));
                continue;
            }
        };
        if !catalog.has_component(&provider, &task.component) {
            errors.push(DagError::new(
                format!("{at}.component_ref"),
                format!("provider {provider} has no component {:?}", task.component),
            ));
            continue;
        }

        let (inputs, upstream) = filter_inputs(dag, task, party, &runs);
        tasks.push(PlannedTask {
            name: task.name.clone(),
            component: task.component.clone(),
            stage: task.stage,
            provider,
            timeout: match conf.get("timeout") {
                None => Some(DEFAULT_TASK_TIMEOUT),
                Some(v) => timeout(v).unwrap_or(Some(DEFAULT_TASK_TIMEOUT)),
            },
            launcher_name: match conf.get("launcher_name") {
                Some(Value::String(l)) if !l.is_empty() => l.clone(),
                _ => "default".into(),
            },
            parameters,
            conf,
            inputs,
            runtime_parties: task.parties.clone(),
            upstream,
        });
    }
    errors.extend(io_mismatches(dag, &tasks, catalog));
    if errors.is_empty() {
        Ok(PartyPlan {
            party: party.clone(),
            tasks,
        })
    } else {
        Err(DagErrors(errors))
    }
}

/// Input keys a component does not read, and task outputs a producer does not write, where
/// the providers describe their components (others are taken on trust, as upstream does).
fn io_mismatches(dag: &Dag, planned: &[PlannedTask], catalog: &Catalog) -> Vec<DagError> {
    let mut errors = Vec::new();
    for t in planned {
        let Some(node) = dag.task(&t.name) else {
            continue;
        };
        let io = catalog.io(&t.provider, &t.component);
        for input in &node.inputs {
            let at = format!(
                "dag.tasks.{}.inputs.{}.{}",
                t.name,
                input.class.as_str(),
                input.key
            );
            if let Some(io) = io
                && !io.inputs.contains(&input.key)
            {
                errors.push(DagError::new(
                    &at,
                    format!(
                        "component {} has no input {:?} (it has: {})",
                        t.component,
                        input.key,
                        listed(&io.inputs)
                    ),
                ));
            }
            for s in &input.sources {
                let Channel::TaskOutput {
                    producer_task,
                    output_artifact_key,
                    ..
                } = &s.channel
                else {
                    continue;
                };
                let Some(producer) = planned.iter().find(|p| &p.name == producer_task) else {
                    continue;
                };
                if let Some(pio) = catalog.io(&producer.provider, &producer.component)
                    && !pio.outputs.contains(output_artifact_key)
                {
                    errors.push(DagError::new(
                        format!("{at}.task_output_artifact"),
                        format!(
                            "task {producer_task} ({}) has no output {output_artifact_key:?} (it has: {})",
                            producer.component,
                            listed(&pio.outputs)
                        ),
                    ));
                }
            }
        }
    }
    errors.dedup();
    errors
}

fn listed(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// Parameters and conf of `task` on `party` (`dag.md` §6.4): job `conf.task` < task `conf` <
/// party-site `conf` < party-site task `conf`, each a shallow update, sites in document order.
fn merge(dag: &Dag, task: &TaskNode, party: &Party) -> (Map<String, Value>, Map<String, Value>) {
    let mut parameters = task.parameters.clone();
    let mut conf = dag.conf.task.clone();
    update(&mut conf, &task.conf);
    for site in dag.party_tasks.iter().filter(|s| s.parties.contains(party)) {
        if let Some(c) = &site.conf {
            update(&mut conf, c);
        }
        for (_, params, c) in site.tasks.iter().filter(|(n, _, _)| *n == task.name) {
            if let Some(c) = c {
                update(&mut conf, c);
            }
            if let Some(p) = params {
                update(&mut parameters, p);
            }
        }
    }
    (parameters, conf)
}

/// Overrides addressed to `party` for a task it does not run (upstream fails the whole job on
/// them). Validation rejects these; a hand-built `Dag` may still carry them.
fn misaddressed_overrides(dag: &Dag, party: &Party) -> Vec<DagError> {
    let mut errors = Vec::new();
    for site in dag.party_tasks.iter().filter(|s| s.parties.contains(party)) {
        if site.conf.as_ref().is_some_and(|c| !c.is_empty()) {
            for t in dag.tasks.iter().filter(|t| !t.runs_on(party)) {
                errors.push(DagError::new(
                    format!("dag.party_tasks.{}.conf", site.site_name),
                    format!(
                        "{party} does not run {}, and a site's conf applies to every task",
                        t.name
                    ),
                ));
            }
        }
        for (name, _, _) in &site.tasks {
            let at = format!("dag.party_tasks.{}.tasks.{name}", site.site_name);
            match dag.task(name) {
                None => errors.push(DagError::new(
                    at,
                    format!("unknown task {:?}", name.as_str()),
                )),
                Some(t) if !t.runs_on(party) => {
                    errors.push(DagError::new(at, format!("{party} does not run {name}")))
                }
                Some(_) => {}
            }
        }
    }
    errors
}

/// Python's `dict.update`: existing keys keep their place, new ones are appended.
fn update(into: &mut Map<String, Value>, from: &Map<String, Value>) {
    for (k, v) in from {
        into.insert(k.clone(), v.clone());
    }
}

/// The inputs `party` reads (`dag.md` §6.5), and the producers they come from. Channels not
/// reaching the party are dropped, model_warehouse channels get the job's default model, one
/// survivor is a single channel, and each survivor's `parties` becomes this party alone.
fn filter_inputs(
    dag: &Dag,
    task: &TaskNode,
    party: &Party,
    runs: &dyn Fn(&TaskName) -> bool,
) -> (InputArtifacts, Vec<TaskName>) {
    let mut data: OrderedMap<OneOrMany<wire::Channel>> = OrderedMap::default();
    let mut model: OrderedMap<OneOrMany<wire::Channel>> = OrderedMap::default();
    let mut upstream: Vec<TaskName> = Vec::new();
    for input in &task.inputs {
        let survivors: Vec<&Channel> = input
            .sources
            .iter()
            .map(|s| &s.channel)
            .filter(|c| reaches(c, party, runs))
            .collect();
        if survivors.is_empty() {
            continue;
        }
        for c in &survivors {
            if let Channel::TaskOutput { producer_task, .. } = c
                && !upstream.contains(producer_task)
            {
                upstream.push(producer_task.clone());
            }
        }
        let mut channels: Vec<wire::Channel> = survivors
            .into_iter()
            .map(|c| to_wire(c, party, dag))
            .collect();
        let value = if channels.len() == 1 {
            OneOrMany::One(channels.remove(0))
        } else {
            OneOrMany::Many(channels)
        };
        match input.class {
            ArtifactClass::Data => data.insert(input.key.clone(), value),
            ArtifactClass::Model => model.insert(input.key.clone(), value),
        }
    }
    let some = |m: OrderedMap<_>| (!m.is_empty()).then_some(m);
    (
        InputArtifacts {
            data: some(data),
            model: some(model),
        },
        upstream,
    )
}

/// A surviving channel as the CONFIG carries it, addressed to `party` only.
fn to_wire(c: &Channel, party: &Party, dag: &Dag) -> wire::Channel {
    let parties = Some(vec![wire::PartySpec::new(
        party.role.as_str(),
        &[party.party_id.as_str()],
    )]);
    match c.clone() {
        Channel::TaskOutput {
            producer_task,
            output_artifact_key,
            output_artifact_type_alias,
            ..
        } => wire::Channel::TaskOutput(wire::TaskOutputChannel {
            producer_task: Some(producer_task.into_string()),
            output_artifact_key: Some(output_artifact_key),
            output_artifact_type_alias,
            parties,
        }),
        Channel::ModelWarehouse {
            model_id,
            model_version,
            producer_task,
            output_artifact_key,
            ..
        } => {
            let default = dag.conf.model_warehouse.as_ref();
            wire::Channel::ModelWarehouse(wire::ModelWarehouseChannel {
                model_id: model_id.or_else(|| default.map(|m| m.model_id.clone())),
                model_version: model_version.or_else(|| default.map(|m| m.model_version.clone())),
                producer_task: Some(producer_task.into_string()),
                output_artifact_key: Some(output_artifact_key),
                parties,
            })
        }
        Channel::DataWarehouse {
            job_id,
            producer_task,
            output_artifact_key,
            namespace,
            name,
            dataset_id,
            ..
        } => wire::Channel::DataWarehouse(wire::DataWarehouseChannel {
            job_id,
            producer_task: producer_task.map(TaskName::into_string),
            output_artifact_key,
            namespace,
            name,
            dataset_id,
            parties,
        }),
    }
}

#[cfg(test)]
mod tests;

//! Structural validation of a DAG document: everything that can be checked without a
//! provider registry, every problem collected (W1, W2). Upstream accepts most of these
//! documents and then crashes, fails late or leaves the job hanging; we reject them at submit
//! with a path to each problem.

mod conf;
mod inputs;
mod parties;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use ferroflow_wire::dag as wire;

use crate::id::{Party, TaskName};

use super::order::topological_order;
use super::{Dag, DagError, DagErrors, DagSchema, PartyTasks, Stage, TaskNode, TaskOverride};

pub(in crate::dag) use conf::timeout;

/// FATE's `f_task_name` column width.
const MAX_TASK_NAME_LEN: usize = 50;

/// The problems found so far, in the order they were found (document order).
#[derive(Default)]
pub(super) struct Problems(Vec<DagError>);

impl Problems {
    pub(super) fn add(&mut self, path: impl Into<String>, problem: impl Into<String>) {
        self.0.push(DagError::new(path, problem));
    }
}

/// Turns the lenient wire document into a [`Dag`], or lists every problem in it.
pub fn validate(schema: &DagSchema) -> Result<Dag, DagErrors> {
    let mut problems = Problems::default();

    let schema_version = schema.schema_version.clone().unwrap_or_else(|| {
        problems.add("schema_version", "missing");
        String::new()
    });
    if let Some(kind) = schema.kind.as_deref().filter(|k| *k != "fate") {
        problems.add(
            "kind",
            format!("unsupported protocol {kind:?} (only \"fate\" DAGs are handled)"),
        );
    }
    let Some(spec) = &schema.dag else {
        problems.add("dag", "missing");
        return Err(DagErrors(problems.0));
    };

    let declared = match spec.parties.as_deref() {
        None => {
            problems.add("dag.parties", "missing");
            Vec::new()
        }
        Some([]) => {
            problems.add("dag.parties", "no parties");
            Vec::new()
        }
        Some(specs) => parties::parse(specs, "dag.parties", &mut problems),
    };

    let conf = conf::job_conf(spec.conf.as_ref(), &mut problems);

    // `None` when absent; an invalid literal is reported here once, not again per task.
    let (dag_stage, dag_stage_written) = match spec.stage.as_deref() {
        None => (None, false),
        Some(s) => {
            let stage = Stage::parse(s);
            if stage.is_none() {
                problems.add("dag.stage", unknown_stage(s));
            }
            (stage, true)
        }
    };

    let specs = task_specs(spec, &mut problems);
    let mut tasks: Vec<TaskNode> = specs
        .iter()
        .map(|(name, t)| {
            task_node(
                name,
                t,
                &declared,
                dag_stage,
                dag_stage_written,
                &mut problems,
            )
        })
        .collect();

    let runtime: HashMap<&str, &[Party]> = tasks
        .iter()
        .map(|t| (t.name.as_str(), t.parties.as_slice()))
        .collect();
    let ctx = inputs::Context {
        declared: &declared,
        runtime: &runtime,
        model_warehouse: conf.model_warehouse.as_ref(),
    };
    let node_inputs: Vec<_> = specs
        .iter()
        .zip(&tasks)
        .map(|((name, t), node)| {
            inputs::inputs(name, &node.parties, t.inputs.as_ref(), &ctx, &mut problems)
        })
        .collect();
    for (node, inputs) in tasks.iter_mut().zip(node_inputs) {
        node.upstream = upstream(&inputs);
        node.inputs = inputs;
    }

    let names: Vec<&str> = tasks.iter().map(|t| t.name.as_str()).collect();
    for (name, t) in &specs {
        for (i, d) in t.dependent_tasks.iter().flatten().enumerate() {
            let at = format!("dag.tasks.{name}.dependent_tasks[{i}]");
            if d == name {
                problems.add(at, "a task cannot depend on itself");
            } else if !names.contains(&d.as_str()) {
                problems.add(at, format!("unknown task {d:?}"));
            }
        }
    }

    if let Some(inh) = &conf.inheritance {
        for t in inh
            .task_list
            .iter()
            .filter(|t| !names.contains(&t.as_str()))
        {
            problems.add(
                "dag.conf.inheritance.task_list",
                format!("{:?} is not a task of this DAG", t.as_str()),
            );
        }
    }

    let order = order(&tasks, &mut problems);
    let party_tasks = party_tasks(spec.party_tasks.as_ref(), &declared, &tasks, &mut problems);

    if !problems.0.is_empty() {
        return Err(DagErrors(problems.0));
    }
    Ok(Dag {
        schema: schema.clone(),
        schema_version,
        parties: declared,
        stage: dag_stage,
        conf,
        tasks,
        party_tasks,
        order,
    })
}

fn unknown_stage(s: &str) -> String {
    format!("unknown stage {s:?} (expected train, predict, default or cross_validation)")
}

/// `dag.tasks` without repeated names (the first one is kept).
fn task_specs<'a>(
    spec: &'a wire::DagSpec,
    problems: &mut Problems,
) -> Vec<(&'a str, &'a wire::TaskSpec)> {
    let mut out: Vec<(&str, &wire::TaskSpec)> = Vec::new();
    match &spec.tasks {
        None => problems.add("dag.tasks", "missing"),
        Some(tasks) if tasks.is_empty() => problems.add("dag.tasks", "no tasks"),
        Some(tasks) => {
            for (name, t) in tasks.iter() {
                if out.iter().any(|(n, _)| n == name) {
                    problems.add(
                        format!("dag.tasks.{name}"),
                        "task name appears more than once",
                    );
                    continue;
                }
                if let Some(why) = parties::unsafe_name(name, MAX_TASK_NAME_LEN) {
                    problems.add(format!("dag.tasks.{name}"), format!("task name {why}"));
                }
                out.push((name, t));
            }
        }
    }
    out
}

/// One task without its inputs (they need every task's parties first).
fn task_node(
    name: &str,
    t: &wire::TaskSpec,
    declared: &[Party],
    dag_stage: Option<Stage>,
    dag_stage_written: bool,
    problems: &mut Problems,
) -> TaskNode {
    let at = format!("dag.tasks.{name}");
    let component = match t.component_ref.as_deref() {
        Some(c) if !c.is_empty() => c.to_string(),
        _ => {
            problems.add(format!("{at}.component_ref"), "missing");
            String::new()
        }
    };
    // An empty list means "every party", as FATE reads it.
    let parties = match t.parties.as_deref() {
        Some(specs) if !specs.is_empty() => {
            parties::parse_declared(specs, &format!("{at}.parties"), declared, problems)
        }
        _ => declared.to_vec(),
    };
    let stage = match t.stage.as_deref() {
        Some(s) => Stage::parse(s).unwrap_or_else(|| {
            problems.add(format!("{at}.stage"), unknown_stage(s));
            Stage::Default
        }),
        None => dag_stage.unwrap_or_else(|| {
            if !dag_stage_written {
                problems.add(
                    format!("{at}.stage"),
                    "no stage: set the task's stage or dag.stage",
                );
            }
            Stage::Default
        }),
    };
    let conf = t.conf.clone().unwrap_or_default();
    conf::task_conf(&conf, &format!("{at}.conf"), problems);
    let mut dependent_tasks: Vec<TaskName> = Vec::new();
    for d in t.dependent_tasks.iter().flatten() {
        let d = TaskName::from(d.as_str());
        if !dependent_tasks.contains(&d) {
            dependent_tasks.push(d);
        }
    }
    TaskNode {
        name: name.into(),
        component,
        parties,
        parameters: t.parameters.clone().unwrap_or_default(),
        conf,
        stage,
        inputs: Vec::new(),
        upstream: Vec::new(),
        dependent_tasks,
    }
}

/// Producers of every task-output channel, data then model, in input order, once each.
fn upstream(inputs: &[super::Input]) -> Vec<TaskName> {
    let mut out: Vec<TaskName> = Vec::new();
    for input in inputs {
        for s in &input.sources {
            if let super::Channel::TaskOutput { producer_task, .. } = &s.channel
                && !producer_task.as_str().is_empty()
                && !out.contains(producer_task)
            {
                out.push(producer_task.clone());
            }
        }
    }
    out
}

/// FATE's task order over producer → consumer edges and `dependent_tasks` edges
/// (`dag.md` §6.3); cycles reported with their path.
fn order(tasks: &[TaskNode], problems: &mut Problems) -> Vec<usize> {
    let index: HashMap<&str, usize> = tasks
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.as_str(), i))
        .collect();
    let mut edges = Vec::new();
    for (consumer, t) in tasks.iter().enumerate() {
        for p in &t.upstream {
            if let Some(&producer) = index.get(p.as_str()) {
                edges.push((producer, consumer));
            }
        }
        // A self-dependency is reported on its own; it is not also a cycle.
        for d in t.dependent_tasks.iter().filter(|d| **d != t.name) {
            if let Some(&dep) = index.get(d.as_str()) {
                edges.push((dep, consumer));
            }
        }
    }
    match topological_order(tasks.len(), &edges) {
        Ok(order) => order,
        Err(cycles) => {
            for cycle in cycles {
                let path: Vec<&str> = cycle.iter().map(|&i| tasks[i].name.as_str()).collect();
                problems.add(
                    format!("dag.tasks.{}", path[0]),
                    format!("cycle: {}", path.join(" -> ")),
                );
            }
            (0..tasks.len()).collect()
        }
    }
}

/// `party_tasks`: declared parties only, known tasks only, and only parties that run the
/// task they override. A site-wide `conf` is applied by FATE to every task on every listed
/// party, so its parties must run every task. Upstream crashes on the others while parsing,
/// which makes job creation fail on every site.
fn party_tasks(
    spec: Option<&ferroflow_wire::lenient::OrderedMap<wire::PartyTaskSpec>>,
    declared: &[Party],
    tasks: &[TaskNode],
    problems: &mut Problems,
) -> Vec<PartyTasks> {
    let mut out: Vec<PartyTasks> = Vec::new();
    for (site, entry) in spec.into_iter().flat_map(|m| m.iter()) {
        let at = format!("dag.party_tasks.{site}");
        if out.iter().any(|p| &p.site_name == site) {
            problems.add(&at, "site name appears more than once");
            continue;
        }
        let parties = match entry.parties.as_deref() {
            Some(specs) if !specs.is_empty() => {
                parties::parse_declared(specs, &format!("{at}.parties"), declared, problems)
            }
            _ => {
                problems.add(format!("{at}.parties"), "no parties");
                Vec::new()
            }
        };
        if let Some(c) = entry.conf.as_ref().filter(|c| !c.is_empty()) {
            conf::task_conf(c, &format!("{at}.conf"), problems);
            for p in parties.iter().filter(|p| declared.contains(p)) {
                let skipped: Vec<&str> = tasks
                    .iter()
                    .filter(|t| !t.runs_on(p))
                    .map(|t| t.name.as_str())
                    .collect();
                if !skipped.is_empty() {
                    problems.add(
                        format!("{at}.conf"),
                        format!(
                            "{p} does not run {}, and a site's conf applies to every task",
                            skipped.join(", ")
                        ),
                    );
                }
            }
        }
        let mut overrides: Vec<TaskOverride> = Vec::new();
        for (name, r) in entry.tasks.iter().flat_map(|m| m.iter()) {
            let task_at = format!("{at}.tasks.{name}");
            if overrides.iter().any(|(n, _, _)| n.as_str() == name) {
                problems.add(&task_at, "task appears more than once");
                continue;
            }
            match tasks.iter().find(|t| t.name.as_str() == name) {
                None => problems.add(&task_at, format!("unknown task {name:?}")),
                Some(t) => {
                    for p in parties
                        .iter()
                        .filter(|p| declared.contains(p) && !t.runs_on(p))
                    {
                        problems.add(&task_at, format!("{p} does not run {name}"));
                    }
                }
            }
            if let Some(c) = &r.conf {
                conf::task_conf(c, &format!("{task_at}.conf"), problems);
            }
            overrides.push((
                TaskName::from(name.as_str()),
                r.parameters.clone(),
                r.conf.clone(),
            ));
        }
        out.push(PartyTasks {
            site_name: site.clone(),
            parties,
            conf: entry.conf.clone(),
            tasks: overrides,
        });
    }
    out
}

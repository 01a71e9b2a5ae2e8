//! Per-party resources (`dag.md` §5.2, `lifecycle.md` §11): a job's core budget on one
//! participant, and each task's cores and run options. Unlike upstream, a task's cores and
//! `engine_run` come from its own merged conf (W5, W6): upstream derives one `task_run` from
//! the job-level `engine_run`, shares (and mutates) it across the party's tasks, and accounts
//! every task with the job-level cores even when a task asks for more or fewer.

use serde_json::{Map, Value};

use crate::id::Role;

/// Site defaults (`job_default_config.yaml`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceDefaults {
    /// `job_cores` (4).
    pub job_cores: i64,
    /// Default task cores of the computing engine (standalone/eggroll: 4).
    pub task_cores: i64,
    /// Local computing engine: `standalone`, `eggroll` or `spark`.
    pub computing_engine: String,
    /// `computing.eggroll.nodes` (1).
    pub eggroll_nodes: i64,
    /// `task_run.spark.num-executors` (2).
    pub spark_num_executors: i64,
    /// `task_run.spark.executor-cores` (2).
    pub spark_executor_cores: i64,
}

impl Default for ResourceDefaults {
    /// FATE's shipped `job_default_config.yaml` on a standalone site.
    fn default() -> Self {
        Self {
            job_cores: 4,
            task_cores: 4,
            computing_engine: "standalone".into(),
            eggroll_nodes: 1,
            spark_num_executors: 2,
            spark_executor_cores: 2,
        }
    }
}

/// One task's run options and accounted cores on one party.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskResources {
    /// The CONFIG's `engine_run` and the task row's `task_run`.
    pub engine_run: Map<String, Value>,
    /// Cores taken from the job's budget while the task runs (0 for the arbiter).
    pub cores: i64,
}

/// The roles whose tasks take no cores from the job budget (`IGNORE_RESOURCE_ROLES`): the
/// arbiter only aggregates.
fn unaccounted(role: Role) -> bool {
    role == Role::Arbiter
}

/// A positive integer setting; FATE treats falsy values (0, null, absent) as "use default".
fn positive(v: Option<&Value>) -> Option<i64> {
    let n = match v? {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }?;
    (n > 0).then_some(n)
}

/// The task's resources on a party of `role`, from the job-level `conf.task.engine_run` and
/// the task's merged conf: the job's `engine_run` updated with the task's, then the engine's
/// rules applied to the result.
pub fn task_resources(
    role: Role,
    job_engine_run: Option<&Map<String, Value>>,
    merged_conf: &Map<String, Value>,
    defaults: &ResourceDefaults,
) -> TaskResources {
    let mut run = job_engine_run.cloned().unwrap_or_default();
    if let Some(Value::Object(task_run)) = merged_conf.get("engine_run") {
        for (k, v) in task_run {
            run.insert(k.clone(), v.clone());
        }
    }
    let skip = unaccounted(role);
    let cores = match defaults.computing_engine.as_str() {
        "spark" => {
            let executors =
                positive(run.get("num-executors")).unwrap_or(defaults.spark_num_executors);
            let per_executor =
                positive(run.get("executor-cores")).unwrap_or(defaults.spark_executor_cores);
            let (executors, per_executor) = if skip {
                (1, 1)
            } else {
                (executors, per_executor)
            };
            run.insert("num-executors".into(), executors.into());
            run.insert("executor-cores".into(), per_executor.into());
            executors * per_executor
        }
        "eggroll" => {
            let total = positive(run.get("cores")).unwrap_or(defaults.task_cores);
            let nodes = positive(run.get("nodes")).unwrap_or(defaults.eggroll_nodes.max(1));
            let per_node =
                positive(run.get("task_cores_per_node")).unwrap_or((total / nodes).max(1));
            let per_node = if skip { 1 } else { per_node };
            run.insert("nodes".into(), nodes.into());
            run.insert("task_cores_per_node".into(), per_node.into());
            per_node * nodes
        }
        // standalone, and any engine without rules of its own
        _ => {
            let cores = positive(run.get("cores")).unwrap_or(defaults.task_cores);
            run.insert("cores".into(), if skip { 1 } else { cores }.into());
            cores
        }
    };
    TaskResources {
        engine_run: run,
        cores: if skip { 0 } else { cores },
    }
}

/// The job's core budget on a party of `role`: `dag.conf.cores` or the default, at least the
/// largest task's cores (so every task can run), 0 for the arbiter.
pub fn job_cores(
    role: Role,
    conf_cores: Option<i64>,
    max_task_cores: i64,
    defaults: &ResourceDefaults,
) -> i64 {
    if unaccounted(role) {
        return 0;
    }
    let cores = conf_cores.filter(|c| *c > 0).unwrap_or(defaults.job_cores);
    cores.max(max_task_cores)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    fn defaults(engine: &str) -> ResourceDefaults {
        ResourceDefaults {
            computing_engine: engine.into(),
            ..Default::default()
        }
    }

    fn run(role: Role, job: Option<Value>, task: Value, engine: &str) -> (Value, i64) {
        let job = job.map(map);
        let r = task_resources(role, job.as_ref(), &map(task), &defaults(engine));
        (Value::Object(r.engine_run), r.cores)
    }

    #[test]
    fn standalone_cases() {
        let cases = [
            // (role, job engine_run, merged conf, expected engine_run, accounted cores)
            (Role::Guest, None, json!({}), json!({"cores": 4}), 4),
            (
                Role::Host,
                Some(json!({"cores": 2})),
                json!({}),
                json!({"cores": 2}),
                2,
            ),
            (
                Role::Guest,
                Some(json!({"cores": 2})),
                json!({"engine_run": {"cores": 6}}),
                json!({"cores": 6}),
                6,
            ),
            (
                Role::Guest,
                None,
                json!({"engine_run": {"cores": 0}}),
                json!({"cores": 4}),
                4,
            ),
            (
                Role::Guest,
                None,
                json!({"engine_run": {"cores": "3"}}),
                json!({"cores": 3}),
                3,
            ),
            (
                Role::Guest,
                None,
                json!({"engine_run": null}),
                json!({"cores": 4}),
                4,
            ),
            (Role::Arbiter, None, json!({}), json!({"cores": 1}), 0),
            (
                Role::Arbiter,
                None,
                json!({"engine_run": {"cores": 8}}),
                json!({"cores": 1}),
                0,
            ),
            (Role::Local, None, json!({}), json!({"cores": 4}), 4),
        ];
        for (role, job, task, want_run, want_cores) in cases {
            assert_eq!(
                run(role, job.clone(), task.clone(), "standalone"),
                (want_run, want_cores),
                "{role} {job:?} {task}"
            );
        }
    }

    #[test]
    fn other_keys_are_carried_and_the_task_wins() {
        let (r, _) = run(
            Role::Guest,
            Some(json!({"cores": 2, "x": 1, "y": 1})),
            json!({"engine_run": {"y": 2, "z": 3}}),
            "standalone",
        );
        assert_eq!(r, json!({"cores": 2, "x": 1, "y": 2, "z": 3}));
    }

    #[test]
    fn each_task_starts_from_a_fresh_copy() {
        // W5: upstream leaks one task's engine_run into the next; here the job map is untouched.
        let job = map(json!({"cores": 2}));
        let d = defaults("standalone");
        let a = task_resources(
            Role::Guest,
            Some(&job),
            &map(json!({"engine_run": {"cores": 8, "k": 1}})),
            &d,
        );
        let b = task_resources(Role::Guest, Some(&job), &Map::new(), &d);
        assert_eq!((a.cores, b.cores), (8, 2));
        assert_eq!(Value::Object(b.engine_run), json!({"cores": 2}));
        assert_eq!(Value::Object(job), json!({"cores": 2}));
    }

    #[test]
    fn eggroll_cases() {
        let with_nodes = |nodes| ResourceDefaults {
            eggroll_nodes: nodes,
            ..defaults("eggroll")
        };
        let cases = [
            (
                Role::Guest,
                json!({}),
                1,
                json!({"nodes": 1, "task_cores_per_node": 4}),
                4,
            ),
            (
                Role::Guest,
                json!({"engine_run": {"cores": 6}}),
                2,
                json!({"cores": 6, "nodes": 2, "task_cores_per_node": 3}),
                6,
            ),
            (
                Role::Guest,
                json!({"engine_run": {"cores": 5}}),
                2,
                json!({"cores": 5, "nodes": 2, "task_cores_per_node": 2}),
                4,
            ),
            (
                Role::Guest,
                json!({"engine_run": {"cores": 1}}),
                4,
                json!({"cores": 1, "nodes": 4, "task_cores_per_node": 1}),
                4,
            ),
            (
                Role::Guest,
                json!({"engine_run": {"task_cores_per_node": 3}}),
                2,
                json!({"task_cores_per_node": 3, "nodes": 2}),
                6,
            ),
            (
                Role::Arbiter,
                json!({}),
                2,
                json!({"nodes": 2, "task_cores_per_node": 1}),
                0,
            ),
        ];
        for (role, task, nodes, want_run, want_cores) in cases {
            let r = task_resources(role, None, &map(task.clone()), &with_nodes(nodes));
            assert_eq!(
                (Value::Object(r.engine_run), r.cores),
                (want_run, want_cores),
                "{role} {task}"
            );
        }
    }

    #[test]
    fn spark_cases() {
        let cases = [
            (
                Role::Guest,
                None,
                json!({}),
                json!({"num-executors": 2, "executor-cores": 2}),
                4,
            ),
            (
                Role::Host,
                Some(json!({"num-executors": 3})),
                json!({}),
                json!({"num-executors": 3, "executor-cores": 2}),
                6,
            ),
            (
                Role::Guest,
                Some(json!({"num-executors": 3})),
                json!({"engine_run": {"executor-cores": 4}}),
                json!({"num-executors": 3, "executor-cores": 4}),
                12,
            ),
            (
                Role::Arbiter,
                Some(json!({"num-executors": 3})),
                json!({}),
                json!({"num-executors": 1, "executor-cores": 1}),
                0,
            ),
        ];
        for (role, job, task, want_run, want_cores) in cases {
            assert_eq!(
                run(role, job.clone(), task.clone(), "spark"),
                (want_run, want_cores),
                "{role} {job:?} {task}"
            );
        }
    }

    #[test]
    fn job_cores_cases() {
        let d = ResourceDefaults::default();
        let cases = [
            (Role::Guest, None, 4, 4),
            (Role::Guest, Some(8), 4, 8),
            (Role::Guest, Some(2), 4, 4),
            (Role::Guest, Some(0), 1, 4),
            (Role::Host, None, 6, 6),
            (Role::Arbiter, Some(8), 0, 0),
            (Role::Arbiter, None, 4, 0),
        ];
        for (role, conf, max_task, want) in cases {
            assert_eq!(
                job_cores(role, conf, max_task, &d),
                want,
                "{role} {conf:?} {max_task}"
            );
        }
    }
}

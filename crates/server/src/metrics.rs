//! The site's own measurements, served in Prometheus' text format at `/metrics`: how long
//! scheduling takes (a step, the pure decision, an admission pass) and what it did.

use ferroflow_core::id::ExecutionId;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A latency histogram with log-spaced buckets (ten per decade, 1 µs to 100 s).
#[derive(Debug)]
pub struct Histogram {
    bounds: Vec<f64>,
    counts: Vec<AtomicU64>,
    sum_ns: AtomicU64,
    count: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        let bounds: Vec<f64> = (0..=80)
            .map(|i| 1e-6 * 10f64.powf(i as f64 / 10.0))
            .collect();
        let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        Self {
            bounds,
            counts,
            sum_ns: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = self.bounds.partition_point(|b| *b < secs);
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_ns
            .fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// The upper bound of the bucket holding quantile `q` (within ~26% of the true value).
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let want = ((q * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c.load(Ordering::Relaxed);
            if seen >= want {
                let bound = self.bounds.get(i).copied().unwrap_or(f64::MAX);
                return Some(Duration::from_secs_f64(bound.min(1e9)));
            }
        }
        None
    }

    fn render(&self, name: &str, help: &str, out: &mut String) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        self.render_series(name, "", out);
    }

    /// The histogram's lines; `labels` (`key="value",`) go before `le`.
    fn render_series(&self, name: &str, labels: &str, out: &mut String) {
        let mut cumulative = 0;
        for (i, b) in self.bounds.iter().enumerate() {
            cumulative += self.counts[i].load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{b:.6e}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels}le=\"+Inf\"}} {}", self.count());
        let sum = self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        let labels = match labels.trim_end_matches(',') {
            "" => String::new(),
            l => format!("{{{l}}}"),
        };
        let _ = writeln!(
            out,
            "{name}_sum{labels} {sum}\n{name}_count{labels} {}",
            self.count()
        );
    }
}

/// One series per label value (a party, a route), made on first use. Label values can come
/// from outside (a DAG names its parties), so past `MAX_SERIES` values new ones share the
/// series `other`.
#[derive(Debug, Default)]
pub struct ByLabel<T> {
    map: Mutex<BTreeMap<String, Arc<T>>>,
}

const MAX_SERIES: usize = 256;

impl<T: Default> ByLabel<T> {
    pub fn get(&self, label: &str) -> Arc<T> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = map.get(label) {
            return v.clone();
        }
        let key = if map.len() < MAX_SERIES {
            label
        } else {
            "other"
        };
        map.entry(key.to_string()).or_default().clone()
    }

    fn snapshot(&self) -> Vec<(String, Arc<T>)> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

impl ByLabel<Histogram> {
    pub fn render(&self, name: &str, help: &str, label: &str, out: &mut String) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (value, h) in self.snapshot() {
            h.render_series(name, &format!("{label}=\"{}\",", escape_label(&value)), out);
        }
    }
}

impl ByLabel<AtomicU64> {
    pub fn add(&self, label: &str) {
        self.get(label).fetch_add(1, Ordering::Relaxed);
    }

    pub fn render(&self, name: &str, help: &str, label: &str, out: &mut String) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for (value, c) in self.snapshot() {
            let _ = writeln!(
                out,
                "{name}{{{label}=\"{}\"}} {}",
                escape_label(&value),
                c.load(Ordering::Relaxed)
            );
        }
    }
}

/// A gauge per label value, computed at the scrape.
pub fn render_gauges(
    name: &str,
    help: &str,
    label: &str,
    values: &[(String, i64)],
    out: &mut String,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
    for (value, n) in values {
        let _ = writeln!(out, "{name}{{{label}=\"{}\"}} {n}", escape_label(value));
    }
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Times the store measures where it commits them (`Store::timings`).
#[derive(Debug, Default)]
pub struct StoreTimings {
    /// A task run of this site's parties, from `running` to its end status.
    pub task_run: Histogram,
    /// A job scheduled here, from its creation to `running` (admission).
    pub queue_wait: Histogram,
}

impl StoreTimings {
    pub fn render(&self, out: &mut String) {
        self.task_run.render(
            "ferroflow_task_run_seconds",
            "A task run of this site's parties, from running to its end.",
            out,
        );
        self.queue_wait.render(
            "ferroflow_job_queue_wait_seconds",
            "A job scheduled here, from its creation to running.",
            out,
        );
    }
}

#[derive(Debug, Default)]
pub struct Metrics {
    /// One scheduling step of one job: load, decide, commit, act.
    pub step: Histogram,
    /// The pure decision inside a step.
    pub decide: Histogram,
    /// One admission pass over the waiting jobs.
    pub admission: Histogram,
    pub launches: AtomicU64,
    /// Task runs whose launch failed (no process or container).
    pub launch_failures: AtomicU64,
    pub jobs_created: AtomicU64,
    /// Task processes' calls (api-3, `/v2/worker/*`), by route.
    pub worker_calls: ByLabel<AtomicU64>,
    /// A task's start overhead, by how it runs (`process`, `container`): from the decision to
    /// launch it (its row `running`) to its run's first api-3 call.
    pub task_start: ByLabel<Histogram>,
    /// Runs launched by this instance whose first api-3 call has not come yet.
    awaiting_first_call: Mutex<BTreeMap<ExecutionId, (std::time::Instant, &'static str)>>,
}

/// At most this many runs wait for their first call (older ones are forgotten: a run that
/// never calls is not measured).
const AWAITING_MAX: usize = 4096;

impl Metrics {
    /// The decision to launch the run `execution_id` was committed now; `how` it runs.
    pub fn launch_decided(&self, execution_id: &ExecutionId, how: &'static str) {
        let mut m = self
            .awaiting_first_call
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if m.len() >= AWAITING_MAX
            && let Some(oldest) = m
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(k, _)| k.clone())
        {
            m.remove(&oldest);
        }
        m.insert(execution_id.clone(), (std::time::Instant::now(), how));
    }

    /// A call of the run `execution_id` arrived: its start overhead if it is the first
    /// (observed in [`Metrics::task_start`]).
    pub fn called(&self, execution_id: &ExecutionId) -> Option<(Duration, &'static str)> {
        let (at, how) = self
            .awaiting_first_call
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(execution_id)?;
        let took = at.elapsed();
        self.task_start.get(how).observe(took);
        Some((took, how))
    }

    /// The run ended (or its launch failed): it is no longer awaited.
    pub fn run_ended(&self, execution_id: &ExecutionId) {
        self.awaiting_first_call
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(execution_id);
    }
}

impl Metrics {
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.step.render(
            "ferroflow_schedule_step_seconds",
            "One scheduling step of one job.",
            &mut out,
        );
        self.decide.render(
            "ferroflow_schedule_decide_seconds",
            "The scheduling decision of a step.",
            &mut out,
        );
        self.admission.render(
            "ferroflow_admission_seconds",
            "One pass over the waiting jobs.",
            &mut out,
        );
        for (name, help, v) in [
            (
                "ferroflow_task_launches_total",
                "Task runs launched by this site.",
                &self.launches,
            ),
            (
                "ferroflow_task_launch_failures_total",
                "Task runs whose launch failed (no process or container started).",
                &self.launch_failures,
            ),
            (
                "ferroflow_jobs_created_total",
                "Jobs created by this site as scheduler.",
                &self.jobs_created,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Ordering::Relaxed)
            );
        }
        self.worker_calls.render(
            "ferroflow_worker_calls_total",
            "Calls of task processes (api-3), by route.",
            "route",
            &mut out,
        );
        self.task_start.render(
            "ferroflow_task_start_seconds",
            "A task's start overhead: from the decision to launch it to its first api-3 call, \
             by how it runs.",
            "run",
            &mut out,
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_land_in_the_right_bucket() {
        let h = Histogram::default();
        for ms in 1..=100 {
            h.observe(Duration::from_millis(ms));
        }
        let p50 = h.quantile(0.5).unwrap().as_secs_f64();
        assert!((0.05..0.065).contains(&p50), "{p50}");
        let p99 = h.quantile(0.99).unwrap().as_secs_f64();
        assert!((0.099..0.13).contains(&p99), "{p99}");
        assert!(
            Metrics::default()
                .render()
                .contains("ferroflow_schedule_step_seconds_count 0")
        );
    }

    #[test]
    fn labelled_series_render_one_line_per_value() {
        let by: ByLabel<Histogram> = ByLabel::default();
        by.get("10000").observe(Duration::from_millis(3));
        by.get("9\"99").observe(Duration::from_millis(3));
        let mut out = String::new();
        by.render("x_seconds", "help", "party", &mut out);
        assert!(out.contains("x_seconds_count{party=\"10000\"} 1"), "{out}");
        assert!(
            out.contains("x_seconds_bucket{party=\"9\\\"99\",le=\"+Inf\"} 1"),
            "{out}"
        );
        let calls: ByLabel<AtomicU64> = ByLabel::default();
        calls.add("/v2/worker/task/status");
        calls.add("/v2/worker/task/status");
        let mut out = String::new();
        calls.render("c_total", "help", "route", &mut out);
        assert!(
            out.contains("c_total{route=\"/v2/worker/task/status\"} 2"),
            "{out}"
        );
        // Values from outside cannot grow the series without bound.
        for i in 0..2 * MAX_SERIES {
            calls.add(&format!("party-{i}"));
        }
        assert_eq!(calls.snapshot().len(), MAX_SERIES + 1);
        assert_eq!(
            calls.get("other").load(Ordering::Relaxed),
            (MAX_SERIES + 1) as u64
        );
    }
}

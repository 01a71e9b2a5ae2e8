//! The site's own measurements, served in Prometheus' text format at `/metrics`: how long
//! scheduling takes (a step, the pure decision, an admission pass) and what it did.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
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
        let mut cumulative = 0;
        for (i, b) in self.bounds.iter().enumerate() {
            cumulative += self.counts[i].load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{b:.6e}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", self.count());
        let sum = self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {}", self.count());
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
    pub jobs_created: AtomicU64,
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
}

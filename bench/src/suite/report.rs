//! The table both columns go into, its ratios, and the Markdown report around it.

use std::fmt::Write as _;

use super::Args;
use super::sites::repo;

/// One line of the table.
pub(super) struct Row {
    pub(super) section: &'static str,
    pub(super) what: String,
    pub(super) ff: Option<f64>,
    pub(super) fate: Option<f64>,
    /// FATE's figure is a documented one, not measured in this run.
    pub(super) fate_documented: bool,
    pub(super) unit: &'static str,
    pub(super) higher_is_better: bool,
}

#[derive(Default)]
pub(super) struct Report {
    pub(super) rows: Vec<Row>,
    pub(super) notes: Vec<String>,
}

impl Report {
    pub(super) fn add(
        &mut self,
        section: &'static str,
        what: impl Into<String>,
        unit: &'static str,
    ) {
        self.rows.push(Row {
            section,
            what: what.into(),
            ff: None,
            fate: None,
            fate_documented: false,
            unit,
            higher_is_better: matches!(unit, "jobs/s" | "req/s"),
        });
    }

    pub(super) fn row(
        &mut self,
        section: &'static str,
        what: &str,
        unit: &'static str,
    ) -> &mut Row {
        if let Some(i) = self
            .rows
            .iter()
            .position(|r| r.section == section && r.what == what)
        {
            return &mut self.rows[i];
        }
        self.add(section, what, unit);
        self.rows.last_mut().expect("just added")
    }

    pub(super) fn ff(&mut self, section: &'static str, what: &str, unit: &'static str, v: f64) {
        self.row(section, what, unit).ff = Some(v);
    }

    pub(super) fn fate(&mut self, section: &'static str, what: &str, unit: &'static str, v: f64) {
        self.row(section, what, unit).fate = Some(v);
    }

    pub(super) fn documented(
        &mut self,
        section: &'static str,
        what: &str,
        unit: &'static str,
        v: f64,
    ) {
        let r = self.row(section, what, unit);
        if r.fate.is_none() {
            r.fate = Some(v);
            r.fate_documented = true;
        }
    }

    pub(super) fn note(&mut self, s: impl Into<String>) {
        let s = s.into();
        eprintln!("note: {s}");
        self.notes.push(s);
    }
}

pub(super) fn fmt_value(v: Option<f64>, unit: &str) -> String {
    match v {
        None => "—".into(),
        Some(v) if v.is_nan() => "—".into(),
        Some(v) => {
            let digits = if v.abs() >= 100.0 {
                0
            } else if v.abs() >= 10.0 {
                1
            } else if v.abs() >= 1.0 {
                2
            } else {
                3
            };
            format!("{v:.digits$} {unit}")
        }
    }
}

pub(super) fn ratio(r: &Row) -> String {
    match (r.ff, r.fate) {
        (Some(ff), Some(fate)) if ff > 0.0 && fate > 0.0 => {
            let x = if r.higher_is_better {
                ff / fate
            } else {
                fate / ff
            };
            if x >= 10.0 {
                format!("{x:.0}×")
            } else {
                format!("{x:.1}×")
            }
        }
        _ => "—".into(),
    }
}

pub(super) const SECTIONS: [(&str, &str); 5] = [
    ("1", "Scheduling latency"),
    ("2", "Throughput"),
    ("3", "API latency (10,000 jobs in the database)"),
    ("4", "Footprint"),
    (
        "5",
        "A real job: reader → psi → coordinated_lr → evaluation",
    ),
];

pub(super) fn table(report: &Report) -> String {
    let mut s = String::new();
    for (id, title) in SECTIONS {
        let rows: Vec<&Row> = report.rows.iter().filter(|r| r.section == id).collect();
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(s, "\n### {id}. {title}\n");
        let _ = writeln!(
            s,
            "| | ferroflow | FATE Flow 2.2 | ferroflow ahead by |\n|---|---:|---:|---:|"
        );
        for r in rows {
            let fate = if r.fate_documented {
                format!("{} (documented)", fmt_value(r.fate, r.unit))
            } else {
                fmt_value(r.fate, r.unit)
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                r.what,
                fmt_value(r.ff, r.unit),
                fate,
                ratio(r)
            );
        }
    }
    s
}

/// Which side a measurement goes to.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Side {
    Ff,
    Fate,
}

pub(super) fn put(
    report: &mut Report,
    side: Side,
    section: &'static str,
    what: &str,
    unit: &'static str,
    v: f64,
) {
    match side {
        Side::Ff => report.ff(section, what, unit, v),
        Side::Fate => report.fate(section, what, unit, v),
    }
}

pub(super) fn cmd_out(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

pub(super) fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("?")
        .trim()
        .to_string();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0 / 1024.0)
        .unwrap_or(0.0);
    format!(
        "{} logical CPUs ({model}), {mem_gib:.1} GiB RAM, {} {}, {}; one process of each server, loopback, SQLite",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        cmd_out("uname", &["-s"]),
        cmd_out("uname", &["-r"]),
        cmd_out("rustc", &["--version"]),
    )
}

pub(super) fn markdown(
    args: &Args,
    report: &Report,
    tbl: &str,
    total: f64,
    ff: f64,
    fate: f64,
) -> String {
    let mode = if args.quick { "--quick" } else { "full" };
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Performance: ferroflow and FATE Flow 2.2, side by side\n"
    );
    let _ = writeln!(
        s,
        "Generated by `{}` (`bench/`, mode {mode}) on {} UTC; the run took {:.0} s \
         (ferroflow {:.0} s, FATE Flow {:.0} s). Do not edit by hand: run it again.\n",
        args.command,
        chrono::Utc::now().format("%Y-%m-%d %H:%M"),
        total,
        ff,
        fate
    );
    let _ = writeln!(s, "**Machine:** {}.\n", machine());
    // Read at run time, so that the prose can be corrected without rebuilding.
    s.push_str(&std::fs::read_to_string(repo().join("bench/method.md")).unwrap_or_default());
    s.push_str("\n## Results\n");
    s.push_str(tbl);
    if !report.notes.is_empty() {
        s.push_str("\n## Notes of this run\n\n");
        for n in &report.notes {
            let _ = writeln!(s, "- {n}");
        }
    }
    s
}

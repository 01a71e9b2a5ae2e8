//! What was checked, what was skipped, and what failed.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;

use super::routes::ROUTES;
use super::traces::Exchange;

#[derive(Default)]
pub struct Report {
    pub failures: Vec<String>,
    pub exchanges: BTreeMap<String, usize>,
    pub routes: BTreeMap<String, usize>,
    pub checks: BTreeMap<&'static str, usize>,
    pub truncated_requests: BTreeMap<String, usize>,
    pub truncated_replies: BTreeMap<String, usize>,
    pub not_modelled: BTreeMap<String, usize>,
    /// Request keys the route's wire type does not read, per route.
    pub unread_keys: BTreeMap<String, BTreeSet<String>>,
    pub codes: BTreeMap<i64, usize>,
    pub untyped_messages: BTreeSet<String>,
}

impl Report {
    pub fn fail(&mut self, ex: &Exchange, what: impl Display) {
        self.failures.push(format!("{}: {what}", ex.label()));
    }

    pub fn check(&mut self, what: &'static str) {
        *self.checks.entry(what).or_default() += 1;
    }

    pub fn print(&self) {
        println!("== golden: FATE Flow 2.2 reference traces");
        let total: usize = self.exchanges.values().sum();
        println!("exchanges checked: {total}");
        for (s, n) in &self.exchanges {
            println!("  {s:<10} {n}");
        }
        println!("routes seen: {}", self.routes.len());
        for (r, n) in &self.routes {
            let unread = self
                .unread_keys
                .get(r)
                .filter(|k| !k.is_empty())
                .map(|k| {
                    format!(
                        "  (not read: {})",
                        k.iter().cloned().collect::<Vec<_>>().join(", ")
                    )
                })
                .unwrap_or_default();
            println!("  {n:>4}  {r}{unread}");
        }
        let idle: Vec<String> = ROUTES
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .filter(|r| !self.routes.contains_key(r))
            .collect();
        println!("routes with a parser but no traffic: {}", idle.join(", "));
        println!("not modelled yet (requests not parsed):");
        for (r, n) in &self.not_modelled {
            println!("  {n:>4}  {r}");
        }
        let skipped = |m: &BTreeMap<String, usize>| {
            m.iter()
                .map(|(r, n)| format!("{r} ×{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "truncated request bodies skipped: {} ({})",
            self.truncated_requests.values().sum::<usize>(),
            skipped(&self.truncated_requests)
        );
        println!(
            "truncated reply bodies skipped: {} ({})",
            self.truncated_replies.values().sum::<usize>(),
            skipped(&self.truncated_replies)
        );
        println!("checks passed or attempted:");
        for (c, n) in &self.checks {
            println!("  {n:>5}  {c}");
        }
        println!("return codes seen: {:?}", self.codes);
        for m in &self.untyped_messages {
            println!("untyped message: {m}");
        }
        println!("failures: {}", self.failures.len());
    }
}

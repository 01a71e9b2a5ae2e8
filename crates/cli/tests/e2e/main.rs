//! The binary end to end, with real parts: `ferroflow serve` processes, `curl`, the demo
//! components as real task processes, several sites; the dashboard in a real browser (headless Chromium).

mod dashboard;
mod database;
#[path = "../../../server/tests/it/dbserver.rs"]
mod dbserver;
mod demo;
mod instances;
mod jobs;
mod lifecycle;
mod support;
mod tls;
mod webdriver;

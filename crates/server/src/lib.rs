//! A ferroflow site: FATE Flow 2.2's four API groups over one store, an event-driven
//! scheduler, and launchers for task processes and containers.
//!
//! # Layout
//! - [`config`]: `service_conf.yaml` → typed [`config::Config`].
//! - [`store`]: the database (migrations per backend, compare-and-swap status writes).
//! - [`launcher`]: starting and stopping task processes and Docker containers.
//! - [`run`]: running a task (its launch spec, files, recorded run, stop, cleanup).
//! - [`archive`]: tar.gz and zip answers of download routes.
//! - [`model_store`]: model archives by storage key and task version.
//! - [`paths`]: confining path parameters to the directories the site allows.
//! - [`blocking`]: file work on the blocking pool, off the async runtime.
//! - [`federation`]: commands to other sites (and to this one, over the same HTTP), signed
//!   for ferroflow peers ([`federation::sign`]).
//! - [`tls`]: mutual TLS between ferroflow sites, their credentials and peer cards.
//! - [`controller`]: the use cases, one module per FATE page.
//! - [`scheduler`]: the scheduling loop; [`reporter`]: callback-mode status delivery.
//! - [`http`]: FATE's routes, envelopes and quirks.
//! - [`audit`]: the audit log of authenticated calls and refusals.
//! - [`site`]: assembles and runs all of it; [`app`]: the shared state.

pub mod app;
pub mod archive;
pub mod audit;
pub mod auth;
pub mod blocking;
pub mod clock;
pub mod config;
pub mod controller;
pub mod detector;
pub mod fate_storage;
pub mod federation;
pub mod http;
pub mod instance;
pub mod joblog;
pub mod launcher;
pub mod metrics;
pub mod model_store;
pub mod paths;
pub mod reporter;
pub mod run;
pub mod scheduler;
pub mod site;
pub mod store;
pub mod tls;
pub mod ui;

pub use site::{Options, Site};

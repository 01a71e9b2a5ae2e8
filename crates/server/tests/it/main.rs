//! The server crate's integration tests, in one binary to keep link time down.

mod api1_admin;
mod api1_common;
mod api1_data;
mod api1_jobs;
mod api1_models_logs;
mod docker;
mod edge;
mod golden_api1;
mod grants;
mod http;
mod lifecycle;
mod relay;
mod scheduler;
mod store;
mod support;
mod two_sites;
mod ui;
mod worker_auth;

//! The server crate's integration tests, in one binary to keep link time down.

mod docker;
mod http;
mod lifecycle;
mod scheduler;
mod store;
mod support;
mod two_sites;

//! A ferroflow site.
pub mod config;
pub mod store;

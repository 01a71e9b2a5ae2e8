//! ferroflow's domain, without I/O: identifiers, statuses and their transitions, the
//! aggregation rules, DAG validation and planning, resources, and the scheduling decision.
//! Everything here is a pure function of its inputs, so it is tested with case tables.
//!
//! # Layout
//! - [`id`]: typed ids and FATE's composite keys; the job id generator.
//! - [`status`]: job and task statuses, the transition tables.
//! - [`aggregate`]: party statuses → task status; task statuses → job status; progress.
//! - [`provider`]: provider strings and their resolution against a registry snapshot.
//! - [`dag`]: DAG validation, per-party planning, task CONFIG building, resources.
//! - [`schedule`]: one scheduling decision for one job, returned as data.
//! - [`upload`]: how an uploaded text file becomes a table, and what is wrong with a bad one.

pub mod aggregate;
pub mod dag;
pub mod id;
pub mod provider;
pub mod schedule;
pub mod status;
pub mod upload;

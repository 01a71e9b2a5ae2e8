//! The `ferroflow` binary's library side: the site command (`serve`), the demo, the built-in
//! demo provider's components, and a small api-1 client the demo and the benchmarks share.
//!
//! # Layout
//! - [`serve`]: `ferroflow serve`, one site until a signal.
//! - [`demo`]: `ferroflow demo`, a three-party job on a fresh standalone site.
//! - [`component`]: `ferroflow component execute`, the demo components (an algorithm
//!   container's side of the contract).
//! - [`client`]: api-1 calls as a FATE tool makes them.
//! - [`image`]: `ferroflow image demo`, the demo components as a Docker image.
//! - [`keys`]: `ferroflow keys`, the credentials and peer cards of mutual TLS between sites.
//! - [`wrapper`]: `ferroflow task entrypoint|cleanup`, the task wrapper that runs FATE's
//!   algorithms (pyfate) under the site, in place of FATE Flow's Python wrapper.

pub mod client;
pub mod component;
pub mod demo;
pub mod image;
pub mod keys;
pub mod serve;
pub mod wrapper;

/// The providers every site registers at start: the demo components, run by this binary.
pub fn builtins() -> Vec<ferroflow_core::provider::Builtin> {
    let exe = std::env::current_exe()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "ferroflow".into());
    let mut b = demo_provider(&exe);
    b.extend(flow_provider(&exe));
    b
}

/// The `fate_flow` provider (FATE's built-in one): `upload`, `download` and
/// `dataframe_transformer`, which the data APIs run as local jobs, run by `exe`.
pub fn flow_provider(exe: &str) -> Vec<ferroflow_core::provider::Builtin> {
    use serde_json::json;
    let desc = |inputs: serde_json::Value, outputs: serde_json::Value| json!({"inputs": inputs, "outputs": outputs});
    let components = vec![
        (
            component::flow::UPLOAD,
            desc(
                json!({"data": []}),
                json!({"data": ["table"], "metric": ["metric"]}),
            ),
        ),
        (
            component::flow::DOWNLOAD,
            desc(json!({"data": []}), json!({"data": ["output_data"]})),
        ),
        (
            component::flow::TRANSFORMER,
            desc(
                json!({"data": ["table"]}),
                json!({"data": ["dataframe_output"]}),
            ),
        ),
    ];
    vec![ferroflow_core::provider::Builtin {
        name: ferroflow_core::provider::FLOW_PROVIDER.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        entrypoint: vec![exe.to_string(), "component".into(), "execute".into()],
        components: components
            .into_iter()
            .map(|(n, d)| (n.to_string(), d))
            .collect(),
    }]
}

/// The demo provider with its components' inputs and outputs, run by `exe`.
pub fn demo_provider(exe: &str) -> Vec<ferroflow_core::provider::Builtin> {
    use serde_json::json;
    let desc = |inputs: serde_json::Value, outputs: serde_json::Value| json!({"inputs": inputs, "outputs": outputs});
    let components = vec![
        (
            component::READER,
            desc(json!({"data": []}), json!({"data": ["output_data"]})),
        ),
        (
            component::TRANSFORM,
            desc(
                json!({"data": ["input_data"]}),
                json!({"data": ["output_data"]}),
            ),
        ),
        (
            component::TRAIN,
            desc(
                json!({"data": ["train_data"]}),
                json!({"data": ["train_output_data"], "model": ["output_model"], "metric": ["loss"]}),
            ),
        ),
        (
            component::SLEEP,
            desc(
                json!({"data": ["input_data"]}),
                json!({"data": ["output_data"]}),
            ),
        ),
        (
            component::FAIL,
            desc(json!({"data": []}), json!({"data": []})),
        ),
    ];
    debug_assert_eq!(components.len(), component::names().len());
    vec![ferroflow_core::provider::Builtin {
        name: "demo".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        entrypoint: vec![exe.to_string(), "component".into(), "execute".into()],
        components: components
            .into_iter()
            .map(|(n, d)| (n.to_string(), d))
            .collect(),
    }]
}

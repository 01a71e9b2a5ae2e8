//! The `ferroflow` binary's library side: the site command (`serve`), the demo, the built-in
//! demo provider's components, and a small api-1 client the demo and the benchmarks share.
//!
//! # Layout
//! - [`serve`]: `ferroflow serve`, one site until a signal.
//! - [`demo`]: `ferroflow demo`, a three-party job on a fresh standalone site.
//! - [`component`]: `ferroflow component execute`, the demo components (an algorithm
//!   container's side of the contract).
//! - [`client`]: api-1 calls as a FATE tool makes them.

pub mod client;
pub mod component;
pub mod demo;
pub mod serve;

/// The providers every site registers at start: the demo components, run by this binary.
pub fn builtins() -> Vec<ferroflow_server::controller::provider::Builtin> {
    let exe = std::env::current_exe()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "ferroflow".into());
    vec![ferroflow_server::controller::provider::Builtin {
        name: "demo".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        entrypoint: vec![exe, "component".into(), "execute".into()],
        components: component::names().iter().map(|s| s.to_string()).collect(),
    }]
}

//! The binary end to end, with real parts: `ferroflow serve` processes, `curl`, the demo
//! components as real task processes, several sites.

mod jobs;
mod lifecycle;
mod support;

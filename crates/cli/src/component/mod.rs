//! The built-in demo provider's components (placeholder; see docs/demo-provider.md).

#[derive(clap::Subcommand)]
pub enum Command {}

pub fn run(command: Command) -> std::process::ExitCode {
    match command {}
}

//! The `ferroflow` binary: the site (`serve`), the demo (`demo`), and the algorithm side
//! (`component execute`, the built-in demo provider's components).

use clap::{Parser, Subcommand};

mod component;

#[derive(Parser)]
#[command(
    name = "ferroflow",
    version,
    about = "A FATE Flow 2.2 compatible federated-learning job scheduler"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Algorithm-side commands of the built-in demo provider.
    Component {
        #[command(subcommand)]
        command: component::Command,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Component { command } => component::run(command),
    }
}

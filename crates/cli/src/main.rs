//! The `ferroflow` binary: a site (`serve`), the demo (`demo`), the algorithm side
//! (`component execute`, the built-in demo provider's components) and its image
//! (`image demo`).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use ferroflow::{component, demo, image, keys, serve, wrapper};

/// Answers are built from many small JSON values; glibc's allocator spent a third of a query's
/// time in malloc and free (docs/performance.md).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Run a site: FATE Flow's HTTP API, the scheduler, the task launcher.
    Serve(serve::Args),
    /// Run a three-party demo job on a fresh standalone site and show the result.
    Demo(demo::Args),
    /// Algorithm-side commands of the built-in demo provider.
    Component {
        #[command(subcommand)]
        command: component::Command,
    },
    /// The task wrapper of FATE's algorithms (pyfate): `entrypoint` runs a task from its
    /// CONFIG, `cleanup` ends its sessions.
    Task {
        #[command(subcommand)]
        command: wrapper::Command,
    },
    /// Credentials for mutual TLS and signed commands between ferroflow sites.
    Keys {
        #[command(subcommand)]
        command: keys::Command,
    },
    /// Algorithm images built locally (no registry needed).
    Image {
        #[command(subcommand)]
        command: ImageCommand,
    },
}

#[derive(Subcommand)]
enum ImageCommand {
    /// The demo components as a Docker image (prints its tag); register it as a provider
    /// with `device: docker` and run DAGs with `provider: demo:<version>@docker`.
    Demo(image::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Component { command } => component::run(command),
        Command::Task { command } => wrapper::run(command),
        Command::Keys { command } => match keys::run(command) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Serve(args) => {
            init_logging("info");
            block_on(async { serve::run(args).await.map(|_| true) })
        }
        Command::Demo(args) => {
            init_logging("warn");
            block_on(demo::run(args))
        }
        Command::Image {
            command: ImageCommand::Demo(args),
        } => {
            init_logging("warn");
            block_on(image::run(args))
        }
    }
}

fn block_on(f: impl std::future::Future<Output = anyhow::Result<bool>>) -> ExitCode {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime builds");
    match rt.block_on(f) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .try_init();
}

//! `ferroflow serve`: one site, until SIGINT or SIGTERM.

use std::path::PathBuf;

use anyhow::{Context, Result};
use ferroflow_server::config::{Config, Overrides};
use ferroflow_server::{Options, Site};

use crate::builtins;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A service_conf.yaml (FATE's keys plus ferroflow's).
    #[arg(long, short = 'c')]
    pub config: Option<PathBuf>,
    /// HTTP port (default: fateflow.http_port, or 9380).
    #[arg(long)]
    pub port: Option<u16>,
    /// gRPC port of FATE's `unaryCall` service (default: fateflow.grpc_port; not served
    /// unless one of the two is given).
    #[arg(long)]
    pub grpc_port: Option<u16>,
    /// Address to listen on (default: fateflow.host, or 127.0.0.1).
    #[arg(long)]
    pub host: Option<String>,
    /// Where the database, logs, models and data live (default: data_dir, or ./.ferroflow).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The site's party id (default: party_id, or 9999).
    #[arg(long)]
    pub party_id: Option<String>,
    /// A Python with pyfate 2.2 installed: the site registers the provider `fate:<version>@local`
    /// running FATE's algorithms with it (default: the config's fate.venv; none).
    #[arg(long, value_name = "PYTHON")]
    pub fate_venv: Option<PathBuf>,
}

pub async fn run(args: Args) -> Result<()> {
    let overrides = Overrides {
        port: args.port,
        grpc_port: args.grpc_port,
        host: args.host,
        data_dir: args.data_dir,
        party_id: args.party_id,
        fate_venv: args.fate_venv,
        // Read here, once: the password never goes on the command line (`ps` shows it).
        db_password: std::env::var(ferroflow_server::config::DB_PASSWORD_ENV).ok(),
    };
    let config = Config::load(args.config.as_deref(), &overrides)?;
    let addr = format!("{}:{}", config.host, config.http_port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let grpc = if config.serve_grpc {
        let addr = format!("{}:{}", config.host, config.grpc_port);
        let l = tokio::net::TcpListener::bind(&addr)
            .await
            .with_context(|| format!("cannot listen on {addr} (gRPC)"))?;
        Some(l)
    } else {
        None
    };
    // Site traffic over mutual TLS, on its own ports (`security.tls.port`, `.grpc_port`).
    let tls_ports = config
        .tls
        .as_ref()
        .map(|t| (t.port, t.grpc_port))
        .unwrap_or_default();
    let mut tls_listeners = [None, None];
    for (slot, port) in tls_listeners.iter_mut().zip([tls_ports.0, tls_ports.1]) {
        if let Some(port) = port {
            let addr = format!("{}:{port}", config.host);
            let l = tokio::net::TcpListener::bind(&addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (site TLS)"))?;
            *slot = Some(l);
        }
    }
    let [tls_listener, grpcs_listener] = tls_listeners;
    let mut opts = Options::new(config);
    opts.builtins = builtins();
    opts.grpc_listener = grpc;
    opts.tls_listener = tls_listener;
    opts.grpcs_listener = grpcs_listener;
    let site = Site::start(opts, listener).await?;
    println!(
        "ferroflow site {} serving party {} at {}",
        env!("CARGO_PKG_VERSION"),
        site.app.config.party_id,
        site.url
    );
    if let Some(addr) = site.grpc_addr {
        println!("gRPC (FATE's unaryCall) at {addr}");
    }
    if let Some(addr) = site.tls_addr {
        println!("site commands over mutual TLS at https://{addr}");
    }
    if let Some(addr) = site.grpcs_addr {
        println!("gRPC over mutual TLS at grpcs://{addr}");
    }
    println!("data in {}", site.app.config.data_dir.display());
    let auth = site.app.config.auth;
    if auth.any() {
        println!(
            "authentication: client {}, site {}; admin credentials in {}",
            if auth.client() { "on" } else { "off" },
            if auth.site() { "on" } else { "off" },
            ferroflow_server::auth::credentials::admin_file(&site.app.config.data_dir).display()
        );
    }
    shutdown_signal().await;
    println!("stopping");
    site.shutdown().await;
    Ok(())
}

/// Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM can be handled");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

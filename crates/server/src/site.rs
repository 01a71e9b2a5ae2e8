//! A running site: the store, the HTTP server, the scheduler loop and the exit watcher, started
//! on a listener the caller bound (so tests bind port 0) and stopped by [`Site::shutdown`].

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::app::{App, Event};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::controller::provider::{self, Builtin};
use crate::controller::worker;
use crate::detector;
use crate::launcher::{Dispatch, DockerLauncher, Exits, Launcher, ProcessLauncher};
use crate::run;
use crate::scheduler::Scheduler;
use crate::store::{self, Store};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot prepare {path}")]
    Dir {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the database")]
    Store(#[from] store::Error),
    #[error("cannot open the database ({endpoint})")]
    Database {
        endpoint: String,
        #[source]
        source: store::Error,
    },
    #[error("cannot register the built-in providers: {0}")]
    Builtins(String),
    #[error("listener")]
    Listener(#[source] std::io::Error),
    #[error("security.tls: {0}")]
    Security(#[from] crate::tls::Error),
    #[error("security.tls: a site TLS listener was given but the config has no security.tls")]
    NoCredentials,
}

/// What a site is made of; defaults are the real parts.
pub struct Options {
    pub config: Config,
    /// The launcher of local tasks and its exit channel; a local-process launcher when
    /// `None`. Tasks of `docker` providers always go to a [`DockerLauncher`].
    pub launcher: Option<(Arc<dyn Launcher>, Exits)>,
    pub clock: Option<Arc<dyn Clock>>,
    pub builtins: Vec<Builtin>,
    /// Where FATE's gRPC `unaryCall` service is served, if at all.
    pub grpc_listener: Option<TcpListener>,
    /// Where site commands are served over mutual TLS (HTTPS, and gRPC), if at all; both
    /// need `security.tls`.
    pub tls_listener: Option<TcpListener>,
    pub grpcs_listener: Option<TcpListener>,
}

impl Options {
    pub fn new(config: Config) -> Self {
        Self {
            config,
            launcher: None,
            clock: None,
            builtins: Vec::new(),
            grpc_listener: None,
            tls_listener: None,
            grpcs_listener: None,
        }
    }
}

pub struct Site {
    pub app: Arc<App>,
    /// `http://host:port`, the base this site answers on.
    pub url: String,
    pub addr: SocketAddr,
    /// The gRPC listener's address, when one was given.
    pub grpc_addr: Option<SocketAddr>,
    /// The site TLS listeners' addresses (HTTPS, gRPC), when given.
    pub tls_addr: Option<SocketAddr>,
    pub grpcs_addr: Option<SocketAddr>,
    scheduler: Arc<Scheduler>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Site {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Site").field("url", &self.url).finish()
    }
}

impl Site {
    pub async fn start(opts: Options, listener: TcpListener) -> Result<Site, Error> {
        let Options {
            mut config,
            launcher,
            clock,
            builtins,
            grpc_listener,
            tls_listener,
            grpcs_listener,
        } = opts;
        let addr = listener.local_addr().map_err(Error::Listener)?;
        config.http_port = addr.port();
        let grpc_addr = match &grpc_listener {
            Some(l) => Some(l.local_addr().map_err(Error::Listener)?),
            None => None,
        };
        if let Some(a) = grpc_addr {
            config.grpc_port = a.port();
        }
        let ip = if addr.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            addr.ip().to_string()
        };
        if config.host == "0.0.0.0" {
            config.host = ip.clone();
        }
        let url = format!("http://{ip}:{}", addr.port());
        // Secure by default: a site others can reach authenticates unless told not to.
        let loopback_only =
            addr.ip().is_loopback() && grpc_addr.is_none_or(|a| a.ip().is_loopback());
        for warning in config.auth.resolve(loopback_only) {
            tracing::warn!("{warning}");
        }
        tracing::info!(
            client = config.auth.client(),
            site = config.auth.site(),
            "authentication"
        );
        for dir in [
            config.data_dir.clone(),
            config.jobs_dir(),
            config.logs_dir(),
            config.model_dir(),
            config.standalone_data_dir(),
            config.upload_dir.clone(),
        ] {
            std::fs::create_dir_all(&dir).map_err(|source| Error::Dir {
                path: dir.clone(),
                source,
            })?;
        }
        let security = match &config.tls {
            Some(files) => Some(Arc::new(crate::tls::Security::load(
                files,
                &config.party_id,
            )?)),
            None if tls_listener.is_some() || grpcs_listener.is_some() => {
                return Err(Error::NoCredentials);
            }
            None => None,
        };
        let tls_addr = match &tls_listener {
            Some(l) => Some(l.local_addr().map_err(Error::Listener)?),
            None => None,
        };
        let grpcs_addr = match &grpcs_listener {
            Some(l) => Some(l.local_addr().map_err(Error::Listener)?),
            None => None,
        };
        let store = Store::open_with(&config.database.url, config.database.pool)
            .await
            .map_err(|source| Error::Database {
                endpoint: config.database.endpoint(),
                source,
            })?;
        let clock = clock.unwrap_or_else(|| Arc::new(SystemClock));
        store
            .register_engine(
                &config.engines.computing,
                config.computing_cores,
                clock.now_ms(),
            )
            .await?;
        let (local, exits) = match launcher {
            Some(l) => l,
            None => {
                let (l, exits) = ProcessLauncher::new();
                (Arc::new(l) as Arc<dyn Launcher>, exits)
            }
        };
        let (docker, container_exits) = DockerLauncher::new(run::container_site(&config));
        let launcher: Arc<dyn Launcher> = Arc::new(Dispatch {
            local,
            containers: Arc::new(docker.clone()),
        });
        let autostart = config.scheduler.autostart;
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let app = Arc::new(App::new(
            config,
            store,
            launcher,
            clock,
            url.clone(),
            events_tx,
            security,
        ));
        provider::register_builtins(&app, &builtins)
            .await
            .map_err(|e| Error::Builtins(e.to_string()))?;
        if let Some(fate) = &app.config.fate {
            provider::register_fate(&app, fate).await;
        }
        crate::controller::app::bootstrap(&app)
            .await
            .map_err(|e| Error::Builtins(format!("start-up apps: {e}")))?;

        // The site TLS ports, once the audit log exists: a refused handshake leaves a row.
        let on_refused: crate::tls::OnRefused = {
            let app = app.clone();
            Arc::new(move |addr, reason: &str| {
                crate::audit::record(
                    &app.audit,
                    app.now(),
                    &crate::audit::Event {
                        group: "tls",
                        caller: &addr.to_string(),
                        verified: false,
                        method: "",
                        route: "(TLS handshake)",
                        code: ferroflow_wire::RetCode::AuthenticationFailed.code(),
                        peer: Some(addr),
                        detail: reason,
                    },
                )
            })
        };
        let security = app.fed.security().cloned();
        let tls_listener = match (&security, tls_listener) {
            (Some(sec), Some(l)) => Some(
                sec.http_listener(l, on_refused.clone())
                    .map_err(Error::Listener)?,
            ),
            _ => None,
        };
        let grpcs_listener = match (&security, grpcs_listener) {
            (Some(sec), Some(l)) => {
                Some(sec.grpc_listener(l, on_refused).map_err(Error::Listener)?)
            }
            _ => None,
        };

        let (shutdown, _) = watch::channel(false);
        let mut tasks = Vec::new();
        let svc = tower::ServiceBuilder::new()
            .map_request(crate::http::normalize_path::<axum::body::Body>)
            .service(crate::http::router(app.clone()));
        let stop = wait_for(shutdown.subscribe());
        if let Some(l) = tls_listener {
            // Site commands over mutual TLS: the same router; each request knows its peer.
            let make =
                axum::ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<
                    crate::tls::TlsPeer,
                >(svc.clone());
            let stop = wait_for(shutdown.subscribe());
            tasks.push(tokio::spawn(async move {
                if let Err(e) = axum::serve(l, make).with_graceful_shutdown(stop).await {
                    tracing::error!(error = %e, "site TLS server stopped");
                }
            }));
        }
        tasks.push(tokio::spawn(async move {
            // The peer's address reaches handlers and the audit log as `ConnectInfo`.
            let make =
                axum::ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<
                    std::net::SocketAddr,
                >(svc);
            if let Err(e) = axum::serve(listener, make)
                .with_graceful_shutdown(stop)
                .await
            {
                tracing::error!(error = %e, "http server stopped");
            }
        }));
        if let Some(l) = grpc_listener {
            let svc =
                crate::federation::grpc::Service::new(app.fed.clone(), app.config.party_id.clone());
            let stop = wait_for(shutdown.subscribe());
            tasks.push(tokio::spawn(async move {
                let incoming =
                    tonic::transport::server::TcpIncoming::from(l).with_nodelay(Some(true));
                if let Err(e) = tonic::transport::Server::builder()
                    .serve_with_incoming_shutdown(svc, incoming, stop)
                    .await
                {
                    tracing::error!(error = %e, "gRPC server stopped");
                }
            }));
        }
        if let Some(l) = grpcs_listener {
            let svc =
                crate::federation::grpc::Service::new(app.fed.clone(), app.config.party_id.clone());
            let stop = wait_for(shutdown.subscribe());
            tasks.push(tokio::spawn(async move {
                if let Err(e) = tonic::transport::Server::builder()
                    .serve_with_incoming_shutdown(svc, l.into_stream(), stop)
                    .await
                {
                    tracing::error!(error = %e, "gRPC TLS server stopped");
                }
            }));
        }
        // Announced before anything schedules, so that other instances see this one alive.
        let started = app.now();
        if let Err(e) = crate::instance::heartbeat::beat(&app, started).await {
            tracing::error!(error = %e, "instance heartbeat failed");
        }
        {
            let (app, stop) = (app.clone(), wait_for(shutdown.subscribe()));
            tasks.push(tokio::spawn(crate::instance::heartbeat::run(
                app, started, stop,
            )));
        }
        // Before anything schedules: every task left running gets its process back or a verdict.
        if let Err(e) = detector::recover(&app).await {
            tracing::error!(error = %e, "recovery of running tasks failed");
        }
        let scheduler = Arc::new(Scheduler::new(app.clone(), events_rx));
        if autostart {
            let s = scheduler.clone();
            let stop = wait_for(shutdown.subscribe());
            tasks.push(tokio::spawn(async move { s.run(stop).await }));
        }
        if autostart {
            tasks.push(tokio::spawn(detect(app.clone(), shutdown.subscribe())));
        }
        tasks.push(tokio::spawn(watch_exits(
            app.clone(),
            exits,
            container_exits,
            shutdown.subscribe(),
        )));
        // Watch again the containers an earlier run of the site started (their exits come
        // through the channel above), and remove the ones no running task owns.
        {
            let (app, stop) = (app.clone(), wait_for(shutdown.subscribe()));
            tasks.push(tokio::spawn(async move {
                tokio::select! {
                    _ = stop => {}
                    _ = recover_containers(&app, &docker) => {}
                }
            }));
        }
        // Pick up where a previous run left off: queued jobs, undelivered reports.
        app.emit(Event::Admission);
        app.emit(Event::Report);
        tracing::info!(url, party_id = %app.config.party_id, "site started");
        Ok(Site {
            app,
            url,
            addr,
            grpc_addr,
            tls_addr,
            grpcs_addr,
            scheduler,
            shutdown,
            tasks,
        })
    }

    /// One scheduler pass over everything pending and every unsettled job (for tests that
    /// drive the scheduler themselves).
    pub async fn tick(&self) {
        if let Err(e) = detector::check_timeouts(&self.app).await {
            tracing::error!(error = %e, "timeout check failed");
        }
        self.scheduler.tick(true).await;
    }

    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        // Another instance takes this one's jobs at once rather than when their leases expire
        // (its running tasks go on, and are taken over when its row no longer beats).
        if self.app.instance.leases
            && let Err(e) = self
                .app
                .store
                .release_leases_of(&self.app.instance.id)
                .await
        {
            tracing::warn!(error = %e, "cannot release this instance's leases");
        }
        self.app.store.close().await;
    }
}

async fn wait_for(mut rx: watch::Receiver<bool>) {
    while !*rx.borrow() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}

async fn detect(app: Arc<App>, stop: watch::Receiver<bool>) {
    let stop = wait_for(stop);
    tokio::pin!(stop);
    let mut every = tokio::time::interval(app.config.scheduler.detector_interval);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = every.tick() => {
                if let Err(e) = crate::store::with_cause("detector: timeout check", detector::check_timeouts(&app)).await {
                    tracing::error!(error = %e, "timeout check failed");
                }
            }
        }
    }
}

async fn watch_exits(
    app: Arc<App>,
    mut exits: Exits,
    mut container_exits: Exits,
    stop: watch::Receiver<bool>,
) {
    let stop = wait_for(stop);
    tokio::pin!(stop);
    loop {
        let exit = tokio::select! {
            _ = &mut stop => return,
            e = exits.recv() => e,
            e = container_exits.recv() => e,
        };
        match exit {
            Some(exit) if run::cleanup::exited(&exit) => {}
            Some(exit) => {
                if let Err(e) = crate::store::with_cause(
                    "launcher: task process exited",
                    worker::process_exited(&app, &exit),
                )
                .await
                {
                    tracing::error!(error = %e, "cannot record a task exit");
                }
            }
            None => return,
        }
    }
}

/// The restart hook for containers: every task still `running` here whose run is (or would
/// be) a container is adopted — its output collected again, its exit watched (reported at
/// once if it ended, or is gone) — and this site's containers on the daemons of registered
/// docker providers that belong to no running task are removed.
pub async fn recover_containers(app: &App, docker: &DockerLauncher) {
    let running = match detector::mine(app).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot list running tasks to adopt their containers");
            return;
        }
    };
    let mut daemons: std::collections::BTreeSet<String> = app
        .store
        .query_providers(&store::ProviderFilter {
            device: Some("docker".into()),
            ..Default::default()
        })
        .await
        .unwrap_or_default()
        .iter()
        .map(|p| {
            p.metadata
                .get("base_url")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    for task in &running {
        let handle = match run::run_handle(task) {
            Some(h) => Some(h),
            None => run::expected_container(app, task).await.ok().flatten(),
        };
        let Some(handle) = handle.filter(|h| h.container.is_some()) else {
            continue;
        };
        if let Some(c) = &handle.container {
            daemons.insert(c.daemon.clone());
        }
        let log = run::stdout_file(app, task);
        match app.launcher.adopt(&task.execution_id, &handle, &log).await {
            Ok(_) => tracing::info!(execution_id = %task.execution_id, "container adopted"),
            Err(e) => {
                tracing::error!(execution_id = %task.execution_id, error = %e, "cannot adopt container")
            }
        }
    }
    for daemon in daemons {
        let containers = match docker.containers(&daemon).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(daemon, error = %e, "cannot list this site's containers");
                continue;
            }
        };
        for (name, execution_id) in containers {
            let execution_id = ferroflow_core::id::ExecutionId::from(execution_id);
            // Checked now, not against the list above: a task launched since is running.
            let owned = matches!(
                app.store.task_by_execution_id(&execution_id).await,
                Ok(Some(t)) if t.party_status == ferroflow_core::status::TaskStatus::Running
            );
            if owned {
                continue;
            }
            match docker.remove(&daemon, &name).await {
                Ok(true) => {
                    tracing::info!(container = %name, %execution_id, "orphan container removed")
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(container = %name, error = %e, "cannot remove orphan container")
                }
            }
        }
    }
}

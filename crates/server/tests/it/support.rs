//! Test harness: sites in this process on 127.0.0.1:0, each in its own temp dir with its own
//! SQLite database, with a fake launcher whose "processes" the test finishes through the real
//! worker API, and a scheduler the test ticks explicitly.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use ferroflow_server::clock::ManualClock;
use ferroflow_server::config::Config;
use ferroflow_server::controller::provider::Builtin;
use ferroflow_server::federation::route::Route;
use ferroflow_server::launcher::{Error, Exit, Handle, Launcher, Spec};
use ferroflow_server::{Options, Site};
use ferroflow_wire::Envelope;

tokio::task_local! {
    /// The backend of the running test's sites (SQLite unless a test runs `on` another).
    static BACKEND: crate::dbserver::Backend;
}

/// Runs `test` with its sites on `db`.
pub async fn on<F: std::future::Future>(db: crate::dbserver::Backend, test: F) -> F::Output {
    BACKEND.scope(db, test).await
}

/// Records launches; a launched task "runs" until the test reports for it or kills it.
pub struct FakeLauncher {
    next_pid: AtomicI64,
    launched: Mutex<Vec<(Spec, Handle)>>,
    alive: Mutex<Vec<i64>>,
    adopted: Mutex<Vec<String>>,
    exits: Mutex<mpsc::UnboundedSender<Exit>>,
}

impl FakeLauncher {
    pub fn new() -> (Arc<Self>, mpsc::UnboundedReceiver<Exit>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let l = Arc::new(Self {
            next_pid: AtomicI64::new(1_000_000),
            launched: Mutex::new(Vec::new()),
            alive: Mutex::new(Vec::new()),
            adopted: Mutex::new(Vec::new()),
            exits: Mutex::new(tx),
        });
        (l, rx)
    }

    /// A new exit channel for a restarted site; the "processes" live on.
    pub fn reconnect(&self) -> mpsc::UnboundedReceiver<Exit> {
        let (tx, rx) = mpsc::unbounded_channel();
        *self.exits.lock().unwrap() = tx;
        rx
    }

    /// Execution ids re-adopted after a restart.
    pub fn adopted(&self) -> Vec<String> {
        self.adopted.lock().unwrap().clone()
    }

    /// Makes a "process" vanish without an exit event (as if it died while the site was down).
    pub fn vanish(&self, execution_id: &str) {
        let l = self.launched.lock().unwrap();
        let (_, h) = l
            .iter()
            .find(|(s, _)| s.execution_id.as_str() == execution_id)
            .expect("launched");
        self.alive.lock().unwrap().retain(|p| *p != h.pid);
    }

    /// What a task was launched with.
    pub fn spec_of(&self, execution_id: &str) -> Spec {
        self.launched
            .lock()
            .unwrap()
            .iter()
            .find(|(s, _)| s.execution_id.as_str() == execution_id)
            .map(|(s, _)| s.clone())
            .expect("launched")
    }

    /// Execution ids launched so far, in order.
    pub fn launched(&self) -> Vec<String> {
        self.launched
            .lock()
            .unwrap()
            .iter()
            .map(|(s, _)| s.execution_id.to_string())
            .collect()
    }

    pub fn alive_count(&self) -> usize {
        self.alive.lock().unwrap().len()
    }

    /// Ends a task's process as if it exited on its own (without reporting).
    pub fn exit(&self, execution_id: &str, code: i32) {
        let l = self.launched.lock().unwrap();
        let (spec, h) = l
            .iter()
            .find(|(s, _)| s.execution_id.as_str() == execution_id)
            .expect("launched");
        self.alive.lock().unwrap().retain(|p| *p != h.pid);
        let _ = self.exits.lock().unwrap().send(Exit {
            execution_id: spec.execution_id.clone(),
            handle: h.clone(),
            code: Some(code),
            signal: None,
        });
    }
}

impl Launcher for FakeLauncher {
    fn launch(&self, spec: Spec) -> BoxFuture<'_, Result<Handle, Error>> {
        let pid = self.next_pid.fetch_add(1, Ordering::SeqCst);
        let h = Handle::process(pid, 1);
        self.launched.lock().unwrap().push((spec, h.clone()));
        self.alive.lock().unwrap().push(pid);
        async move { Ok(h) }.boxed()
    }

    fn kill(&self, handle: &Handle) -> BoxFuture<'_, Result<(), Error>> {
        let was = {
            let mut a = self.alive.lock().unwrap();
            let was = a.contains(&handle.pid);
            a.retain(|p| *p != handle.pid);
            was
        };
        if was {
            let id = self
                .launched
                .lock()
                .unwrap()
                .iter()
                .find(|(_, h)| h.pid == handle.pid)
                .map(|(s, _)| s.execution_id.clone())
                .unwrap_or_default();
            let _ = self.exits.lock().unwrap().send(Exit {
                execution_id: id,
                handle: handle.clone(),
                code: None,
                signal: Some(9),
            });
        }
        async { Ok(()) }.boxed()
    }

    fn is_alive(&self, handle: &Handle) -> BoxFuture<'_, bool> {
        let alive = self.alive.lock().unwrap().contains(&handle.pid);
        async move { alive }.boxed()
    }

    fn adopt(
        &self,
        execution_id: &ferroflow_core::id::ExecutionId,
        _handle: &Handle,
        _log: &std::path::Path,
    ) -> BoxFuture<'_, Result<bool, Error>> {
        self.adopted.lock().unwrap().push(execution_id.to_string());
        async { Ok(true) }.boxed()
    }

    fn find(
        &self,
        execution_id: &ferroflow_core::id::ExecutionId,
    ) -> BoxFuture<'_, Option<Handle>> {
        let found = self
            .launched
            .lock()
            .unwrap()
            .iter()
            .find(|(s, h)| {
                s.execution_id == *execution_id && self.alive.lock().unwrap().contains(&h.pid)
            })
            .map(|(_, h)| h.clone());
        async move { found }.boxed()
    }
}

pub struct TestSite {
    pub site: Site,
    pub launcher: Arc<FakeLauncher>,
    /// The site's clock: moves only when the test says.
    pub clock: ManualClock,
    pub http: reqwest::Client,
    spec: SiteSpec,
    dir: Arc<tempfile::TempDir>,
    /// Its database (a restart keeps it).
    database: String,
}

fn io(inputs: &[&str], outputs: &[&str]) -> Value {
    json!({"inputs": {"data": inputs}, "outputs": {"data": outputs}})
}

/// The demo provider's components, registered under a fake entry point.
pub fn demo_builtin() -> Builtin {
    Builtin {
        name: "demo".into(),
        version: "0.1.0".into(),
        entrypoint: vec!["/bin/true".into()],
        components: vec![
            ("demo_reader".into(), io(&[], &["output_data"])),
            (
                "demo_transform".into(),
                io(&["input_data"], &["output_data"]),
            ),
            (
                "demo_train".into(),
                io(&["train_data"], &["train_output_data", "output_model"]),
            ),
            ("demo_sleep".into(), io(&["input_data"], &["output_data"])),
            ("demo_fail".into(), io(&[], &[])),
        ],
    }
}

/// The `fate_flow` provider the data APIs run (components never really run here).
pub fn flow_builtin() -> Builtin {
    Builtin {
        name: "fate_flow".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        entrypoint: vec!["/bin/true".into()],
        components: vec![
            ("upload".into(), io(&[], &["table"])),
            ("download".into(), io(&[], &["output_data"])),
            (
                "dataframe_transformer".into(),
                io(&["table"], &["dataframe_output"]),
            ),
        ],
    }
}

/// A site's listeners besides its HTTP port.
#[derive(Default)]
pub struct Listeners {
    pub grpc: Option<tokio::net::TcpListener>,
    /// The site TLS ports (HTTPS, gRPC); they need `security.tls` in the config.
    pub tls: Option<tokio::net::TcpListener>,
    pub grpcs: Option<tokio::net::TcpListener>,
}

#[derive(Clone)]
pub struct SiteSpec {
    pub party_id: &'static str,
    pub routes: BTreeMap<String, String>,
    pub autostart: bool,
    pub cores: Option<i64>,
    /// Changes to the test config (authentication, upload limits, …).
    pub configure: Option<fn(&mut Config)>,
}

impl SiteSpec {
    pub fn standalone() -> Self {
        Self {
            party_id: "9999",
            routes: BTreeMap::new(),
            autostart: false,
            cores: None,
            configure: None,
        }
    }
}

impl TestSite {
    pub async fn start(spec: SiteSpec) -> TestSite {
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::start_on(spec, dir, listener).await
    }

    pub async fn start_on(
        spec: SiteSpec,
        dir: tempfile::TempDir,
        listener: tokio::net::TcpListener,
    ) -> TestSite {
        Self::start_with_grpc(spec, dir, listener, None).await
    }

    /// A site that also serves FATE's gRPC `unaryCall` on `grpc`.
    pub async fn start_with_grpc(
        spec: SiteSpec,
        dir: tempfile::TempDir,
        listener: tokio::net::TcpListener,
        grpc: Option<tokio::net::TcpListener>,
    ) -> TestSite {
        let extra = Listeners {
            grpc,
            ..Listeners::default()
        };
        Self::start_with(spec, dir, listener, extra).await
    }

    /// A site with any of its other listeners (gRPC, the site TLS ports).
    pub async fn start_with(
        spec: SiteSpec,
        dir: tempfile::TempDir,
        listener: tokio::net::TcpListener,
        extra: Listeners,
    ) -> TestSite {
        let (launcher, exits) = FakeLauncher::new();
        let clock = ManualClock::new(chrono::Utc::now().timestamp_millis());
        let db = BACKEND
            .try_with(|db| *db)
            .unwrap_or_else(|_| crate::dbserver::Backend::from_env());
        let database = match db {
            crate::dbserver::Backend::Sqlite => {
                Config::for_test(spec.party_id, dir.path()).database.url
            }
            db => db.fresh_url(dir.path()),
        };
        Self::boot(
            spec,
            Arc::new(dir),
            listener,
            extra,
            launcher,
            exits,
            clock,
            database,
        )
        .await
    }

    /// Another instance of `other`'s site: the same spec, database and data directory, its
    /// own listener and launcher ("host"), the same clock (hosts in sync).
    pub async fn start_beside(other: &TestSite) -> TestSite {
        let (launcher, exits) = FakeLauncher::new();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::boot(
            other.spec.clone(),
            other.dir.clone(),
            listener,
            Listeners::default(),
            launcher,
            exits,
            other.clock.clone(),
            other.database.clone(),
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn boot(
        spec: SiteSpec,
        dir: Arc<tempfile::TempDir>,
        listener: tokio::net::TcpListener,
        extra: Listeners,
        launcher: Arc<FakeLauncher>,
        exits: mpsc::UnboundedReceiver<Exit>,
        clock: ManualClock,
        database: String,
    ) -> TestSite {
        let mut config = Config::for_test(spec.party_id, dir.path());
        config.database.url = database.clone();
        config.scheduler.autostart = spec.autostart;
        for (k, v) in &spec.routes {
            let route = Route::parse(v).expect("test routes are valid");
            if k == "default" {
                config.default_route = Some(route);
            } else {
                config.routes.insert(k.as_str().into(), route);
            }
        }
        if let Some(c) = spec.cores {
            config.computing_cores = c;
        }
        if let Some(f) = spec.configure {
            f(&mut config);
        }
        let mut opts = Options::new(config);
        opts.launcher = Some((launcher.clone() as Arc<dyn Launcher>, exits));
        opts.clock = Some(Arc::new(clock.clone()));
        opts.builtins = vec![demo_builtin(), flow_builtin()];
        opts.grpc_listener = extra.grpc;
        opts.tls_listener = extra.tls;
        opts.grpcs_listener = extra.grpcs;
        let site = Site::start(opts, listener).await.unwrap();
        TestSite {
            site,
            launcher,
            clock,
            http: reqwest::Client::new(),
            spec,
            dir,
            database,
        }
    }

    /// Stops the site, keeping its data dir, its clock and its launcher's "processes".
    pub async fn park(self) -> Parked {
        let addr = self.site.addr;
        self.site.shutdown().await;
        Parked {
            database: self.database,
            spec: self.spec,
            dir: self.dir,
            launcher: self.launcher,
            clock: self.clock,
            addr,
        }
    }

    pub fn url(&self) -> &str {
        &self.site.url
    }

    /// The site's data directory (where `path`/`file` parameters may point).
    pub fn data_dir(&self) -> std::path::PathBuf {
        self.site.app.config.data_dir.clone()
    }

    /// A GET whose answer is a JSON value (an envelope or not).
    pub async fn get_value(&self, path: &str, query: &[(&str, &str)]) -> Value {
        let r = self
            .http
            .get(format!("{}{path}", self.url()))
            .query(query)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        r.json().await.unwrap()
    }

    /// A raw answer: content type, content disposition, body.
    pub async fn raw(&self, req: reqwest::RequestBuilder) -> (String, String, Vec<u8>) {
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 200);
        let h = |k: &str| {
            r.headers()
                .get(k)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        let (ct, cd) = (h("content-type"), h("content-disposition"));
        (ct, cd, r.bytes().await.unwrap().to_vec())
    }

    /// A multipart POST.
    pub async fn post_form(&self, path: &str, form: reqwest::multipart::Form) -> Envelope {
        let r = self
            .http
            .post(format!("{}{path}", self.url()))
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        r.json().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: Value) -> Envelope {
        let r = self
            .http
            .post(format!("{}{path}", self.url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        r.json().await.unwrap()
    }

    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> Envelope {
        let r = self
            .http
            .get(format!("{}{path}", self.url()))
            .query(query)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        r.json().await.unwrap()
    }

    pub async fn tick(&self) {
        self.site.tick().await;
    }

    pub async fn submit(&self, dag: Value) -> String {
        let e = self
            .post("/v2/job/submit", json!({ "dag_schema": dag }))
            .await;
        assert_eq!(e.code, 0, "submit: {}", e.message);
        e.job_id.expect("job id")
    }

    /// The task rows of a job, as `(task_name, role, party_id) -> record`.
    pub async fn tasks(&self, job_id: &str) -> BTreeMap<(String, String, String), Value> {
        let e = self.get("/v2/job/task/query", &[("job_id", job_id)]).await;
        assert_eq!(e.code, 0, "{}", e.message);
        e.data
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                let s = |k: &str| t[k].as_str().unwrap().to_string();
                ((s("task_name"), s("role"), s("party_id")), t.clone())
            })
            .collect()
    }

    pub async fn job_statuses(&self, job_id: &str) -> Vec<(String, String, String)> {
        let e = self.get("/v2/job/query", &[("job_id", job_id)]).await;
        assert_eq!(e.code, 0, "{}", e.message);
        e.data
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|j| {
                let s = |k: &str| j[k].as_str().unwrap().to_string();
                (s("role"), s("party_id"), s("status"))
            })
            .collect()
    }

    /// The worker token a task run was launched with (from its environment).
    pub fn token(&self, execution_id: &str) -> String {
        self.launcher
            .spec_of(execution_id)
            .env
            .iter()
            .find(|(k, _)| k == ferroflow_server::run::token::ENV)
            .map(|(_, v)| v.clone())
            .expect("every launch carries a worker token")
    }

    /// An api-3 request as the task run `execution_id` makes it: with its worker token.
    pub fn as_task(
        &self,
        execution_id: &str,
        req: reqwest::RequestBuilder,
    ) -> reqwest::RequestBuilder {
        req.header(
            ferroflow_server::run::token::HEADER,
            self.token(execution_id),
        )
    }

    /// A JSON POST to api-3 by the task run `execution_id`.
    pub async fn worker_post(&self, execution_id: &str, path: &str, body: Value) -> Envelope {
        let req = self.http.post(format!("{}{path}", self.url())).json(&body);
        let r = self.as_task(execution_id, req).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        r.json().await.unwrap()
    }

    /// A GET of api-3 by the task run `execution_id`.
    pub async fn worker_get(
        &self,
        execution_id: &str,
        path: &str,
        query: &[(&str, &str)],
    ) -> Envelope {
        let req = self.http.get(format!("{}{path}", self.url())).query(query);
        let r = self.as_task(execution_id, req).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        r.json().await.unwrap()
    }

    /// A multipart POST to api-3 by the task run `execution_id`.
    pub async fn worker_form(
        &self,
        execution_id: &str,
        path: &str,
        form: reqwest::multipart::Form,
    ) -> Envelope {
        let req = self
            .http
            .post(format!("{}{path}", self.url()))
            .multipart(form);
        let r = self.as_task(execution_id, req).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        r.json().await.unwrap()
    }

    /// Reports a launched task's result through the worker API, as its process would (with
    /// its worker token).
    pub async fn report(&self, execution_id: &str, status: &str, error: &str) {
        let e = self
            .worker_post(
                execution_id,
                "/v2//worker/task/status",
                json!({"execution_id": execution_id, "status": status, "error": error}),
            )
            .await;
        assert_eq!(e.code, 0, "{}", e.message);
    }

    pub async fn stop(self) {
        self.site.shutdown().await;
    }
}

/// A stopped site that can start again where it was.
pub struct Parked {
    pub spec: SiteSpec,
    dir: Arc<tempfile::TempDir>,
    pub launcher: Arc<FakeLauncher>,
    pub clock: ManualClock,
    addr: std::net::SocketAddr,
    database: String,
}

impl Parked {
    /// The site's database URL.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// Starts the site again on the same port and data dir, as a restart would.
    pub async fn start(self) -> TestSite {
        let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        let exits = self.launcher.reconnect();
        TestSite::boot(
            self.spec,
            self.dir,
            listener,
            Listeners::default(),
            self.launcher,
            exits,
            self.clock,
            self.database,
        )
        .await
    }
}

/// Polls `f` until it returns `Some`, or panics after `deadline`.
pub async fn eventually<T, F, Fut>(deadline: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if start.elapsed() > deadline {
            panic!("not reached within {deadline:?}: {what}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A DAG of `demo_sleep`/`demo_fail` tasks over guest 9999 and host 10000, given as
/// `(name, component, producers)`.
pub fn sleep_dag(tasks: &[(&str, &str, &[&str])], conf: Value) -> Value {
    let mut ts = serde_json::Map::new();
    for (name, comp, producers) in tasks {
        let mut t = json!({"component_ref": comp, "parameters": {"seconds": 0}});
        if !producers.is_empty() {
            let chans: Vec<Value> = producers
                .iter()
                .map(|p| json!({"producer_task": p, "output_artifact_key": "output_data"}))
                .collect();
            t["inputs"] = json!({"data": {"input_data": {"task_output_artifact": chans}}});
        }
        ts.insert(name.to_string(), t);
    }
    let mut conf = conf;
    if conf.get("task").is_none() {
        conf["task"] = json!({"provider": "demo:0.1.0@local"});
    }
    json!({
        "schema_version": "2.2.0",
        "dag": {
            "parties": [{"role": "guest", "party_id": ["9999"]}, {"role": "host", "party_id": ["10000"]}],
            "conf": conf,
            "stage": "default",
            "tasks": ts,
        }
    })
}

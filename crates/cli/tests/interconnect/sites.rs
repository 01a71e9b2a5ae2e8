//! The parts of a scenario: paths and ports, commands run to a deadline, a private RabbitMQ
//! node, a real FATE Flow site and a ferroflow site.

use super::*;

pub(crate) fn env_path(var: &str, how: &str) -> PathBuf {
    let p =
        std::env::var(var).unwrap_or_else(|_| panic!("{var} is not set: these tests need {how}"));
    let p = PathBuf::from(p);
    assert!(p.exists(), "{var}={} does not exist ({how})", p.display());
    p
}

pub(crate) fn pyfate_python() -> PathBuf {
    env_path(
        "FERROFLOW_PYFATE_PYTHON",
        "a Python with pyfate 2.2, fate_client 2.2 and pika (ci/pyfate-venv.sh)",
    )
}

pub(crate) fn fate_flow_python() -> PathBuf {
    env_path(
        "FERROFLOW_FATE_FLOW_PYTHON",
        "a Python with fate_flow 2.2 (ci/fate-flow-venv.sh)",
    )
}

pub(crate) fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub(crate) fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join(name)
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `cmd` to its end, at most `limit`: past it the command's process group is killed and
/// the test fails with its output, so a job that never ends cannot hang the run.
pub(crate) fn run(cmd: &mut Command, what: &str, limit: Duration) -> String {
    try_run(cmd, what, limit).unwrap_or_else(|e| panic!("{e}"))
}

/// [`run`], with the failure (exit status or time limit, and the output's tail) as an error,
/// for callers that add what the sites say before failing. While the command runs a line is
/// printed every minute, so a slow step is told from a stuck one in CI's output.
pub(crate) fn try_run(cmd: &mut Command, what: &str, limit: Duration) -> Result<String, String> {
    use std::os::unix::process::CommandExt;
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut child = cmd
        .stdout(log.reopen().unwrap())
        .stderr(log.reopen().unwrap())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let start = Instant::now();
    let mut told = 0;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() > limit {
            // `--`: procps' kill reads `-<pgid>` after a signal as another signal name.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            break None;
        }
        let minutes = start.elapsed().as_secs() / 60;
        if minutes > told {
            told = minutes;
            progress(&format!("{what}: still running after {minutes} min"));
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let text = std::fs::read_to_string(log.path()).unwrap_or_default();
    match status {
        Some(s) if s.success() => Ok(text),
        Some(s) => Err(format!(
            "{what} failed ({s}):\n{}",
            support::tail(&text, 60)
        )),
        None => Err(format!(
            "{what}: not done within {limit:?}:\n{}",
            support::tail(&text, 60)
        )),
    }
}

/// One line of the test's progress on stderr, with the time since the test binary began.
pub(crate) fn progress(what: &str) {
    static BEGAN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let t = BEGAN.get_or_init(Instant::now).elapsed().as_secs();
    eprintln!("[interconnect +{t} s] {what}");
}

/// A private RabbitMQ node (`ci/rabbitmq.sh`), stopped when dropped.
pub(crate) struct Broker {
    pub(crate) dir: PathBuf,
    pub(crate) port: u16,
    pub(crate) mng_port: u16,
    pub(crate) dist_port: u16,
}

impl Broker {
    pub(crate) fn start(dir: &Path) -> Broker {
        let b = Broker {
            dir: dir.join("rabbitmq"),
            port: free_port(),
            mng_port: free_port(),
            dist_port: free_port(),
        };
        let out = run(
            &mut b.script("start"),
            "starting RabbitMQ",
            Duration::from_secs(120),
        );
        eprintln!("{}", out.trim());
        b
    }

    fn script(&self, cmd: &str) -> Command {
        let mut c = Command::new(repo().join("ci/rabbitmq.sh"));
        c.arg(cmd)
            .arg(&self.dir)
            .env("MQ_PORT", self.port.to_string())
            .env("MQ_MNG_PORT", self.mng_port.to_string())
            .env("MQ_DIST_PORT", self.dist_port.to_string());
        c
    }

    /// ferroflow's `federation.rabbitmq` section, every party on this broker.
    fn ferroflow_section(&self) -> String {
        format!(
            "federation:\n  rabbitmq: {{host: 127.0.0.1, port: {p}, mng_port: {m}, user: fate, \
             password: fate, mode: replication,\n    route_table: {{{GUEST}: {{host: 127.0.0.1, \
             port: {p}}}, {HOST}: {{host: 127.0.0.1, port: {p}}}}}}}\n",
            p = self.port,
            m = self.mng_port
        )
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.script("stop").output();
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Mode {
    /// FATE's `proxy_name: nginx` pointed at ferroflow's HTTP port; ferroflow reaches FATE's
    /// HTTP port.
    Http,
    /// FATE's `proxy_name: osx` pointed at ferroflow's gRPC port; ferroflow reaches FATE's
    /// gRPC port.
    Grpc,
}

/// A real FATE Flow site (`ci/fate-flow-site.sh`), stopped when dropped.
pub(crate) struct FateSite {
    pub(crate) home: PathBuf,
    pub(crate) http_port: u16,
    pub(crate) grpc_port: u16,
}

impl FateSite {
    pub(crate) fn start(
        dir: &Path,
        broker: &Broker,
        mode: Mode,
        ff_http: u16,
        ff_grpc: u16,
    ) -> FateSite {
        let site = FateSite {
            home: dir.join("fate-flow-10000"),
            http_port: free_port(),
            grpc_port: free_port(),
        };
        let (proxy, proxy_port) = match mode {
            Mode::Http => ("nginx", ff_http),
            Mode::Grpc => ("osx", ff_grpc),
        };
        let mq = format!("127.0.0.1:{}", broker.port);
        let out = run(
            Command::new(repo().join("ci/fate-flow-site.sh"))
                .arg("up")
                .arg(&site.home)
                .env("FATE_FLOW_PYTHON", fate_flow_python())
                .env("PARTY_ID", HOST)
                .env("HTTP_PORT", site.http_port.to_string())
                .env("GRPC_PORT", site.grpc_port.to_string())
                .env("PROXY", proxy)
                .env("PROXY_PORT", proxy_port.to_string())
                .env("MQ_PORT", broker.port.to_string())
                .env("MQ_MNG_PORT", broker.mng_port.to_string())
                .env("MQ_ROUTES", format!("{GUEST}={mq},{HOST}={mq}"))
                .env("SITE_AUTH", "1"),
            "starting FATE Flow",
            Duration::from_secs(300),
        );
        eprintln!("{}", out.trim());
        site
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }
}

impl Drop for FateSite {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("ci/fate-flow-site.sh"))
            .arg("down")
            .arg(&self.home)
            .output();
    }
}

/// A ferroflow site's computing engine in these tests.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Engine {
    /// FATE's standalone engine and storage.
    Standalone,
    /// Apache Spark `local[2]` on the `file` storage, every table in one partition (FATE's
    /// example tables are small: each Spark stage is then one Python task).
    SparkLocal,
}

impl Engine {
    fn conf(self) -> &'static str {
        match self {
            Engine::Standalone => {
                "default_engines: {computing: standalone, federation: rabbitmq, storage: standalone}\n"
            }
            Engine::SparkLocal => {
                "default_engines: {computing: spark, federation: rabbitmq, storage: file}\n\
                 computing:\n  spark: {cores: 16, master: 'local[2]', conf: \
                 {spark.executor.memory: 512m, spark.ui.showConsoleProgress: false}}\n\
                 job_default: {computing_partitions: 1}\n"
            }
        }
    }
}

/// A ferroflow site for one party of these jobs: pyfate as provider `fate`, the broker as
/// federation, `routes` to the other party, `extra` configuration lines.
pub(crate) async fn ferroflow(
    dir: &Path,
    party: &str,
    broker: &Broker,
    http_port: u16,
    grpc_port: u16,
    routes: &str,
    extra_conf: &str,
) -> Server {
    ferroflow_on(
        Engine::Standalone,
        dir,
        party,
        broker,
        (http_port, grpc_port),
        routes,
        extra_conf,
    )
    .await
}

/// [`ferroflow`] on `engine`.
pub(crate) async fn ferroflow_on(
    engine: Engine,
    dir: &Path,
    party: &str,
    broker: &Broker,
    (http_port, grpc_port): (u16, u16),
    routes: &str,
    extra_conf: &str,
) -> Server {
    let conf = format!(
        "fateflow: {{host: 127.0.0.1, grpc_port: {grpc_port}}}\n{}{}routes: {{{routes}}}\n\
         fate:\n  venv: {}\nupload_dir: {}\n{extra_conf}",
        engine.conf(),
        broker.ferroflow_section(),
        pyfate_python().display(),
        dir.join("upload").display()
    );
    Server::launch(dir, party, Some(&conf), http_port).await
}

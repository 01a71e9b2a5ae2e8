//! Real database servers for the tests: PostgreSQL (`initdb`, `postgres`) and MariaDB
//! (`mariadb-install-db`, `mariadbd`) from Debian's packages, each started once per test
//! binary in a temporary directory, listening on a free loopback port, and shared by the
//! binary's tests (each test gets a database of its own). Never the packages' services.
//!
//! Both servers refuse to run as root: as root the servers run as `nobody`. Each server runs
//! under a small `sh` that holds the read end of a pipe whose write end only this process
//! has; when the test binary ends, however it ends, the pipe closes and the shell stops the
//! server and removes its directory.
//!
//! Shared with `crates/cli/tests` (`#[path]`): only `std` and `tempfile`.

#![allow(dead_code)]

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    MariaDb,
}

const USER: &str = "ferroflow";
const PASSWORD: &str = "ff-test-pw";

struct Server {
    host_url: String,
    port: u16,
    bin: PathBuf,
    /// The supervising shell, and its stdin: closing it (at exit) stops the server.
    _stop: Mutex<(Child, ChildStdin)>,
}

static POSTGRES: OnceLock<Server> = OnceLock::new();
static MARIADB: OnceLock<Server> = OnceLock::new();
static NEXT: AtomicU32 = AtomicU32::new(0);

impl Backend {
    /// `FERROFLOW_TEST_BACKEND` (`sqlite`, `postgresql`, `mariadb`): the backend of tests that
    /// do not choose one, so any suite can be run on a server; SQLite when unset.
    pub fn from_env() -> Self {
        match std::env::var("FERROFLOW_TEST_BACKEND").as_deref() {
            Err(_) | Ok("") | Ok("sqlite") => Backend::Sqlite,
            Ok("postgresql") => Backend::Postgres,
            Ok("mariadb") | Ok("mysql") => Backend::MariaDb,
            Ok(other) => panic!("FERROFLOW_TEST_BACKEND={other}: sqlite, postgresql or mariadb"),
        }
    }

    /// Its `database.engine`.
    pub fn engine(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgresql",
            Backend::MariaDb => "mysql",
        }
    }

    /// A new, empty database on this backend: its sqlx URL. SQLite's lives in `dir`.
    pub fn fresh_url(self, dir: &Path) -> String {
        let name = format!(
            "ff_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        match self {
            Backend::Sqlite => format!("sqlite://{}", dir.join(format!("{name}.db")).display()),
            Backend::Postgres => {
                let s = POSTGRES.get_or_init(start_postgres);
                run(Command::new(s.bin.join("psql"))
                    .env("PGPASSWORD", PASSWORD)
                    .args(["-q", "-h", "127.0.0.1", "-U", USER, "-d", "postgres"])
                    .args(["-p", &s.port.to_string()])
                    .args(["-c", &format!("CREATE DATABASE {name}")]));
                format!("{}/{name}", s.host_url)
            }
            Backend::MariaDb => {
                let s = MARIADB.get_or_init(start_mariadb);
                run(Command::new("mariadb")
                    .env("MYSQL_PWD", PASSWORD)
                    .args(["--no-defaults", "-h", "127.0.0.1", "-u", USER])
                    .args(["-P", &s.port.to_string()])
                    .args(["-e", &format!("CREATE DATABASE {name}")]));
                format!("{}/{name}", s.host_url)
            }
        }
    }

    /// FATE's `database` section for this backend, with a new database (what `ferroflow
    /// serve` reads), and the password the server must find in its environment
    /// (`FERROFLOW_DB_PASSWORD`) when `via` says so.
    pub fn service_conf(self, dir: &Path, via: Password) -> (String, Option<String>) {
        let url = self.fresh_url(dir);
        let engine = match self {
            Backend::Sqlite => {
                let path = url.trim_start_matches("sqlite://");
                return (
                    format!("database:\n  engine: sqlite\n  sqlite:\n    path: {path}\n"),
                    None,
                );
            }
            Backend::Postgres => "postgresql",
            Backend::MariaDb => "mysql",
        };
        let rest = url.split_once("://").expect("a URL").1;
        let (_, hostport_db) = rest.split_once('@').expect("url has a user");
        let (hostport, name) = hostport_db.split_once('/').expect("url has a db");
        let (host, port) = hostport.split_once(':').expect("url has a port");
        let (passwd, env) = match via {
            Password::Key => (format!("passwd: {PASSWORD}"), None),
            Password::File => {
                let file = dir.join("db-password");
                std::fs::write(&file, format!("{PASSWORD}\n")).unwrap();
                (format!("passwd_file: {}", file.display()), None)
            }
            Password::Env => (String::new(), Some(PASSWORD.to_string())),
        };
        (
            format!(
                "database:\n  engine: {engine}\n  {engine}:\n    name: {name}\n    \
                 user: {USER}\n    {passwd}\n    host: {host}\n    port: {port}\n    \
                 max_connections: 8\n    stale_timeout: 30\n"
            ),
            env,
        )
    }

    /// The servers' password, for tests that check it never shows.
    pub fn password() -> &'static str {
        PASSWORD
    }
}

/// Where a site's database password comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Password {
    /// `passwd` in the section.
    Key,
    /// `passwd_file`.
    File,
    /// The environment (`FERROFLOW_DB_PASSWORD`).
    Env,
}

/// Runs a short command, panicking with its output if it fails.
fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `nobody`'s uid and gid when this process is root (the servers refuse root), else none.
fn unprivileged() -> Option<(u32, u32)> {
    let me = std::fs::metadata("/proc/self")
        .expect("/proc is mounted")
        .uid();
    if me != 0 {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").expect("/etc/passwd");
    let line = passwd
        .lines()
        .find(|l| l.starts_with("nobody:"))
        .expect("a `nobody` user");
    let f: Vec<&str> = line.split(':').collect();
    Some((f[2].parse().unwrap(), f[3].parse().unwrap()))
}

/// A command run as the servers' user.
fn as_server_user(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut c = Command::new(program);
    if let Some((uid, gid)) = unprivileged() {
        // (std drops root's supplementary groups when it sets the uid.)
        c.uid(uid).gid(gid);
    }
    c
}

/// A directory the servers' user owns, removed by the server's shell when it stops.
fn server_dir(prefix: &str) -> PathBuf {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .unwrap()
        .keep();
    if let Some((uid, gid)) = unprivileged() {
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).unwrap();
    }
    dir
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `server` (a shell command line) under a shell that stops it with `signal` and
/// removes `dir` once the pipe on its stdin closes.
fn supervise(dir: &Path, server: &str, signal: &str) -> (Child, ChildStdin) {
    let script = format!(
        "{server} & pid=$!; cat >/dev/null; kill -{signal} $pid; wait $pid; rm -rf '{}'",
        dir.display()
    );
    let mut child = as_server_user("sh")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .current_dir(dir)
        .process_group(0)
        .spawn()
        .expect("sh");
    let stdin = child.stdin.take().unwrap();
    (child, stdin)
}

/// Waits (polling, up to a minute) until `log` holds `ready`.
fn wait_for(log: &Path, ready: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(log) {
            let _ = f.read_to_string(&mut text);
        }
        if text.contains(ready) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not start within a minute:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Debian's PostgreSQL programs (the newest installed), or `FERROFLOW_PG_BIN`.
fn postgres_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("FERROFLOW_PG_BIN") {
        return p.into();
    }
    let mut versions: Vec<u32> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed (Debian's postgresql package)")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    versions.sort();
    let v = versions.last().expect("a PostgreSQL version");
    PathBuf::from(format!("/usr/lib/postgresql/{v}/bin"))
}

fn start_postgres() -> Server {
    let bin = postgres_bin();
    let dir = server_dir("ferroflow-pg-");
    let pwfile = dir.join("pw");
    std::fs::write(&pwfile, PASSWORD).unwrap();
    if let Some((uid, gid)) = unprivileged() {
        std::os::unix::fs::chown(&pwfile, Some(uid), Some(gid)).unwrap();
    }
    let data = dir.join("data");
    run(as_server_user(bin.join("initdb"))
        .arg("-D")
        .arg(&data)
        .args([
            "-U",
            USER,
            "--auth=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C",
        ])
        .arg(format!("--pwfile={}", pwfile.display()))
        .arg("--no-sync"));
    let port = free_port();
    let log = dir.join("postgres.log");
    // Durability off: a test's database is thrown away (and crash tests kill ferroflow, not
    // the database server).
    let server = format!(
        "exec '{}' -D '{}' -h 127.0.0.1 -p {port} -k '{}' -c fsync=off \
         -c synchronous_commit=off -c full_page_writes=off -c max_connections=500 \
         -c shared_buffers=64MB >'{}' 2>&1",
        bin.join("postgres").display(),
        data.display(),
        dir.display(),
        log.display()
    );
    let stop = supervise(&dir, &server, "INT");
    wait_for(
        &log,
        "database system is ready to accept connections",
        "PostgreSQL",
    );
    Server {
        host_url: format!("postgres://{USER}:{PASSWORD}@127.0.0.1:{port}"),
        port,
        bin,
        _stop: Mutex::new(stop),
    }
}

fn start_mariadb() -> Server {
    let dir = server_dir("ferroflow-mariadb-");
    let data = dir.join("data");
    run(as_server_user("mariadb-install-db")
        .arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .args(["--auth-root-authentication-method=normal", "--skip-test-db"]));
    let init = dir.join("init.sql");
    std::fs::write(
        &init,
        format!(
            "CREATE USER '{USER}'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}';\n\
             GRANT ALL PRIVILEGES ON *.* TO '{USER}'@'127.0.0.1';\n"
        ),
    )
    .unwrap();
    if let Some((uid, gid)) = unprivileged() {
        std::os::unix::fs::chown(&init, Some(uid), Some(gid)).unwrap();
    }
    let port = free_port();
    let log = dir.join("mariadb.log");
    let server = format!(
        "exec mariadbd --no-defaults --datadir='{}' --socket='{}' --pid-file='{}' \
         --port={port} --bind-address=127.0.0.1 --skip-name-resolve --init-file='{}' \
         --log-error='{}' --skip-log-bin --innodb-flush-log-at-trx-commit=0 \
         --innodb-doublewrite=0 --innodb-buffer-pool-size=128M --innodb-use-native-aio=0 \
         --max-connections=1000",
        data.display(),
        dir.join("mariadb.sock").display(),
        dir.join("mariadb.pid").display(),
        init.display(),
        log.display()
    );
    let stop = supervise(&dir, &server, "TERM");
    wait_for(&log, "ready for connections", "MariaDB");
    Server {
        host_url: format!("mysql://{USER}:{PASSWORD}@127.0.0.1:{port}"),
        port,
        bin: PathBuf::new(),
        _stop: Mutex::new(stop),
    }
}

/// A PostgreSQL server of one test's own, which the test stops and starts again (a database
/// lost while a site runs). Stopped, and its directory removed, when dropped.
pub struct OwnPostgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
}

impl OwnPostgres {
    pub fn start() -> Self {
        let bin = postgres_bin();
        let dir = server_dir("ferroflow-own-pg-");
        let pwfile = dir.join("pw");
        std::fs::write(&pwfile, PASSWORD).unwrap();
        if let Some((uid, gid)) = unprivileged() {
            std::os::unix::fs::chown(&pwfile, Some(uid), Some(gid)).unwrap();
        }
        run(as_server_user(bin.join("initdb"))
            .arg("-D")
            .arg(dir.join("data"))
            .args([
                "-U",
                USER,
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .arg("--no-sync"));
        let pg = Self {
            bin,
            dir,
            port: free_port(),
        };
        pg.resume();
        pg
    }

    /// Starts the server again (same data, same port), waiting until it accepts connections.
    pub fn resume(&self) {
        run(as_server_user(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-l")
            .arg(self.dir.join("postgres.log"))
            .args(["-w", "-t", "60", "-o"])
            .arg(format!(
                "-h 127.0.0.1 -p {} -k {} -c fsync=off -c synchronous_commit=off",
                self.port,
                self.dir.display()
            ))
            .arg("start"));
    }

    /// Stops the server at once (`pg_ctl stop -m fast`: every session is cut).
    pub fn halt(&self) {
        run(as_server_user(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-w", "-m", "fast", "stop"]));
    }

    /// A new database on it, as FATE's `database` section (the password inline).
    pub fn service_conf(&self, name: &str) -> String {
        run(Command::new(self.bin.join("psql"))
            .env("PGPASSWORD", PASSWORD)
            .args(["-q", "-h", "127.0.0.1", "-U", USER, "-d", "postgres"])
            .args(["-p", &self.port.to_string()])
            .args(["-c", &format!("CREATE DATABASE {name}")]));
        format!(
            "database:\n  engine: postgresql\n  postgresql:\n    name: {name}\n    \
             user: {USER}\n    passwd: {PASSWORD}\n    host: 127.0.0.1\n    port: {}\n",
            self.port
        )
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = as_server_user(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-w", "-m", "immediate", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

//! FATE's algorithms in containers: the FATE image `docker/fate/build.sh` makes from the
//! pyfate venv these tests use, registered as `fate:2.2.0@docker`, running reader → psi →
//! coordinated_lr → evaluation for guest 9999, host 10000 and arbiter 9999 — every task in a
//! container of its own, the three parties' containers sharing pyfate's standalone LMDB
//! tables. The job succeeds twice with the AUC of the same job run as local processes — the
//! second time on a site whose only pyfate is the image (no local `fate` provider), whose
//! uploads (pipeline SDK and `flow data upload`) run in the image's containers too — and a
//! site killed with `kill -9` while coordinated_lr runs in containers comes
//! back, adopts them, and the job succeeds.
//!
//! Run by CI's "pyfate in containers" step (`--ignored containers::`).

use super::restart::{Outage, restart_during_with, upload};
use super::*;

/// The image these tests build and register (a tag of their own: the tests' binary is in it).
const IMAGE: &str = "ferroflow-fate-test:2.2.0";
const DOCKER: &str = "fate:2.2.0@docker";

/// `docker/fate/build.sh` with this build's `ferroflow`, once per run: seconds when its base
/// layer (the venv) is on the daemon already, a few minutes the first time.
fn fate_image() -> &'static str {
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let started = Instant::now();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docker/fate/build.sh");
        let out = std::process::Command::new("bash")
            .arg(&script)
            .arg(IMAGE)
            .env("PYFATE_PYTHON", python())
            .env("FERROFLOW_BIN", env!("CARGO_BIN_EXE_ferroflow"))
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "{} failed:\n{}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        println!(
            "FATE image {IMAGE} ready in {:.1} s:\n{}",
            started.elapsed().as_secs_f64(),
            String::from_utf8_lossy(&out.stderr)
        );
    });
    IMAGE
}

/// The site's configuration: the venv as the local `fate` provider (FATE's uploads and the
/// transformer run there, for comparison), containers as root.
///
/// The tests run as root, and the local storage helper writes the uploaded tables as root;
/// pyfate opens every LMDB environment for writing (its lock file's reader table), so a
/// container reading them must be root too. A site run by its own user needs no such line
/// (its containers run as that user, docs/containers.md).
fn conf(dir: &Path) -> String {
    format!("{}docker:\n  user: \"0:0\"\n", site_conf(dir))
}

/// A site whose only pyfate is the FATE image: no `fate:` section (no local `fate`
/// provider), its containers with the default user (65532, as the site runs as root): every
/// table, uploads included, is written by a container.
fn docker_only_conf(dir: &Path) -> String {
    format!(
        "upload_dir: {}\nauthentication: {{client: true}}\n",
        dir.join("upload").display()
    )
}

/// `flow data upload` (fate_client's CLI, `/v2/data/component/upload`) of FATE's host table
/// as `experiment/<name>`, from the site's upload directory; waits for its local job.
async fn flow_upload(server: &Server, name: &str) -> String {
    let upload_dir = server.dir.join("upload");
    std::fs::create_dir_all(&upload_dir).unwrap();
    let file = upload_dir.join("breast_hetero_host.csv");
    std::fs::copy(data("breast_hetero_host.csv"), &file).unwrap();
    let conf = server.dir.join(format!("upload-{name}.json"));
    std::fs::write(
        &conf,
        json!({"file": file.display().to_string(), "head": true, "partitions": 4,
               "extend_sid": true, "meta": {"delimiter": ",", "match_id_name": "id"},
               "namespace": "experiment", "name": name})
        .to_string(),
    )
    .unwrap();
    let r = flow(
        server,
        &["data", "upload", "-c", &conf.display().to_string()],
    );
    assert_eq!(r["code"], 0, "{r}");
    let job = r["job_id"].as_str().unwrap().to_string();
    let ended = server
        .wait_job(
            &job,
            &["success", "failed", "canceled"],
            Duration::from_secs(600),
        )
        .await;
    assert_eq!(
        ended,
        ["success"],
        "upload job {job}: {:?}",
        server.tasks(&job).await
    );
    job
}

/// Every task of a local upload job succeeded in a container of the image.
async fn assert_upload_in_containers(server: &Server, job: &str) {
    let tasks = server.tasks(job).await;
    let names: Vec<&str> = tasks
        .iter()
        .filter_map(|t| t["task_name"].as_str())
        .collect();
    assert_eq!(names.len(), 2, "upload_0 and transformer_0: {tasks:?}");
    for t in &tasks {
        assert_eq!(t["status"], "success", "{t}");
        let cmd = t["cmd"].to_string();
        assert!(
            cmd.contains("docker") && cmd.contains(IMAGE),
            "{}: {cmd}",
            t["task_name"]
        );
    }
}

/// The local upload jobs of the site (role `local`), newest last.
async fn upload_jobs(server: &Server) -> Vec<String> {
    let v = server.get("/v2/job/query?role=local&party_id=0").await;
    let mut jobs: Vec<String> = v["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|j| j["job_id"].as_str().map(str::to_string))
        .collect();
    jobs.sort();
    jobs.dedup();
    jobs
}

async fn register(server: &Server) {
    let r = server.curl_post(
        "/v2/provider/register",
        &json!({"name": "fate", "device": "docker", "version": "2.2.0",
                "metadata": {"base_url": "", "image": fate_image()}}),
    );
    assert_eq!(r["code"], 0, "{r}");
}

/// The pipeline SDK's reader → psi → coordinated_lr → evaluation on the uploaded tables with
/// `provider`; its train job and AUC, and how long it took.
async fn train(server: &Server, provider: Option<&str>) -> (String, f64, Duration) {
    let out_file = server
        .dir
        .join(format!("result-{}.json", uuid_like(provider)));
    let mut cmd = pipeline_job(server);
    cmd.args(["--no-upload", "--train-only", "--out"])
        .arg(&out_file);
    if let Some(p) = provider {
        cmd.args(["--provider", p]);
    }
    let started = Instant::now();
    let out = tokio::time::timeout(Duration::from_secs(1200), cmd.output())
        .await
        .expect("the job ends within 20 minutes")
        .unwrap();
    let took = started.elapsed();
    let log = std::fs::read_to_string(server.dir.join("server.log")).unwrap_or_default();
    assert!(
        out.status.success(),
        "the pipeline ({provider:?}) failed:\n{}\n{}\nsite log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        support::tail(&log, 40)
    );
    let result: Value = serde_json::from_slice(&std::fs::read(&out_file).unwrap()).unwrap();
    let job = result["train_job_id"].as_str().unwrap().to_string();
    let auc = result["auc"].as_f64().expect("an AUC");
    // How long each task ran (start to end, as the site recorded it): the figures of
    // docs/performance.md's container section, not asserted.
    let mut line = Vec::new();
    for (role, party) in [("guest", "9999"), ("host", "10000"), ("arbiter", "9999")] {
        for t in tasks_of(server, &job, role, party).await {
            if let Some(ms) = t["elapsed"].as_i64() {
                line.push(format!(
                    "{} {role} {:.1}",
                    t["task_name"],
                    ms as f64 / 1000.0
                ));
            }
        }
    }
    println!(
        "{}: task run times (s): {}",
        provider.unwrap_or("local"),
        line.join(", ")
    );
    println!(
        "{}: task start overheads (s, launch decision to first api-3 call): {}",
        provider.unwrap_or("local"),
        start_overheads(&log, &job).join(", ")
    );
    (job, auc, took)
}

/// Each task run's start overhead as the site logged it (`first call of a task run`): from
/// the decision to launch it to its first api-3 call. Figures, not asserted.
fn start_overheads(log: &str, job: &str) -> Vec<String> {
    let field = |line: &str, key: &str| -> Option<String> {
        let at = line.find(&format!(" {key}="))? + key.len() + 2;
        Some(line[at..].split_whitespace().next()?.to_string())
    };
    // The log may colour its field names: without the escapes.
    let plain = |l: &str| {
        let mut out = String::with_capacity(l.len());
        let mut chars = l.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                for e in chars.by_ref() {
                    if e.is_ascii_alphabetic() {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    };
    log.lines()
        .filter(|l| l.contains("first call of a task run"))
        .map(plain)
        .filter_map(|l| {
            let l = l.as_str();
            let run = field(l, "execution_id")?;
            let rest = run.strip_prefix(&format!("{job}_"))?;
            let seconds: f64 = field(l, "seconds")?.parse().ok()?;
            Some(format!("{rest} {seconds:.2}"))
        })
        .collect()
}

fn uuid_like(provider: Option<&str>) -> String {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    format!(
        "{}-{}",
        provider.unwrap_or("local").replace([':', '@'], "_"),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

/// Every task of the job ran in a container of the image (its run recorded as one).
async fn assert_in_containers(server: &Server, job: &str) {
    for (role, party) in [("guest", "9999"), ("host", "10000"), ("arbiter", "9999")] {
        for t in tasks_of(server, job, role, party).await {
            assert_eq!(t["status"], "success", "{role} {}: {t}", t["task_name"]);
            assert_eq!(t["provider_name"], DOCKER, "{t}");
        }
    }
    let rows = server
        .get(&format!(
            "/v2/job/task/query?job_id={job}&role=guest&party_id=9999&task_name=lr_0"
        ))
        .await;
    let cmd = rows["data"][0]["cmd"].to_string();
    assert!(cmd.contains("docker") && cmd.contains(IMAGE), "{cmd}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the pyfate venv (FERROFLOW_PYFATE_PYTHON) and Docker; CI's containers step runs it"]
async fn fate_in_containers_succeeds_twice_with_the_auc_of_local_processes() {
    let _one = SERIAL.lock().await;
    fate_image();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), "9999", Some(&conf(dir.path()))).await;
    register(&server).await;
    upload(&server).await;
    let (local_job, local_auc, local_time) = train(&server, None).await;
    println!(
        "local processes: job {local_job}, AUC {local_auc:.6}, {:.1} s",
        local_time.as_secs_f64()
    );
    let (job, auc, took) = train(&server, Some(DOCKER)).await;
    println!(
        "containers, run 1: job {job}, AUC {auc:.6}, {:.1} s",
        took.as_secs_f64()
    );
    assert_in_containers(&server, &job).await;
    assert!(
        (auc - local_auc).abs() < 1e-9,
        "run 1: AUC {auc} in containers, {local_auc} as local processes"
    );
    server.stop().await;

    // A docker-only site: the providers it has are the built-in ones and the image.
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), "9999", Some(&docker_only_conf(dir.path()))).await;
    register(&server).await;
    let fate = server.get("/v2/provider/query?name=fate").await;
    let devices: Vec<&str> = fate["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["device"].as_str())
        .collect();
    assert_eq!(devices, ["docker"], "{fate}");
    let started = Instant::now();
    upload(&server).await;
    println!(
        "docker-only site: the SDK's two uploads in containers, {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let sdk_uploads = upload_jobs(&server).await;
    assert_eq!(sdk_uploads.len(), 2, "{sdk_uploads:?}");
    for job in &sdk_uploads {
        assert_upload_in_containers(&server, job).await;
    }
    // The site's temporary copies were moved into the upload tasks and imported from there.
    let incoming = dir.path().join("upload/.incoming");
    let left: Vec<_> = std::fs::read_dir(&incoming)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "temporary uploads left: {left:?}");
    let cli_job = flow_upload(&server, "breast_hetero_host_cli").await;
    assert_upload_in_containers(&server, &cli_job).await;
    for name in [
        "breast_hetero_guest",
        "breast_hetero_host",
        "breast_hetero_host_cli",
    ] {
        let table = server
            .get(&format!("/v2/table/query?namespace=experiment&name={name}"))
            .await;
        assert_eq!(table["data"]["count"], 569, "{table}");
        assert_eq!(table["data"]["engine"], "standalone", "{table}");
    }
    let (job, auc, took) = train(&server, Some(DOCKER)).await;
    println!(
        "containers, run 2 (docker-only site): job {job}, AUC {auc:.6}, {:.1} s",
        took.as_secs_f64()
    );
    assert_in_containers(&server, &job).await;
    assert!(
        (auc - local_auc).abs() < 1e-9,
        "run 2: AUC {auc} on the docker-only site, {local_auc} as local processes"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the pyfate venv (FERROFLOW_PYFATE_PYTHON) and Docker; CI's containers step runs it"]
async fn a_site_killed_during_coordinated_lr_in_containers_finishes_the_job() {
    let _one = SERIAL.lock().await;
    fate_image();
    let dir = tempfile::tempdir().unwrap();
    let conf = conf(dir.path());
    let server = Server::start(dir.path(), "9999", Some(&conf)).await;
    register(&server).await;
    upload(&server).await;
    let server =
        restart_during_with(server, "lr_0", Outage::UntilATaskRetries, DOCKER, &conf).await;
    server.stop().await;
}

/// A reader of an LMDB environment (what pyfate's standalone tables are): holds its read
/// transaction until the file `argv[2]` exists.
const LMDB_READER: &str = r#"
import lmdb, os, sys, time
try:
    env = lmdb.open(sys.argv[1], create=True, max_dbs=1, max_readers=1024, lock=True,
                    sync=True, map_size=1 << 24)
    txn = env.begin(write=False)
except lmdb.Error as e:
    print("pid", os.getpid(), "cannot read:", type(e).__name__, e, flush=True)
    sys.exit(3)
print("pid", os.getpid(), "reading", flush=True)
# Released by the test; a test that failed first leaves no reader behind.
deadline = time.monotonic() + 300
while not os.path.exists(sys.argv[2]) and time.monotonic() < deadline:
    time.sleep(0.05)
txn.abort()
"#;

/// Why FATE's task containers share the host's pid namespace (docs/containers.md): LMDB marks
/// the live readers of an environment with `fcntl` locks at the offset of their pid in its
/// lock file. In private pid namespaces the first process of every container is pid 1, so a
/// second container's reader of a table another holds open is refused — `mdb_txn_begin:
/// Resource temporarily unavailable`, the `lmdb.LockError` coordinated_lr failed with across
/// party containers. In the host's pid namespace both read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the pyfate venv (FERROFLOW_PYFATE_PYTHON) and Docker; CI's containers step runs it"]
async fn containers_share_an_lmdb_table_only_with_distinct_pids() {
    use ferroflow_server::launcher::docker::{DockerLauncher, TaskIdentity};
    use ferroflow_server::launcher::{ContainerSpec, Launcher, Spec};
    use std::os::unix::fs::PermissionsExt;

    let _one = SERIAL.lock().await;
    let image = fate_image();
    for host_pid in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        // The image's own user (65532) writes the environment.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let site = dir.path().to_string_lossy().into_owned();
        let (table, release) = (dir.path().join("table"), dir.path().join("release"));
        let (launcher, mut exits) = DockerLauncher::new(&site);
        let spec = |reader: &str| {
            let id = TaskIdentity {
                site: &site,
                job_id: "202601010000000000000",
                task_id: "202601010000000000000_lr_0",
                task_name: "lr_0",
                task_version: 0,
                role: "guest",
                party_id: reader,
                execution_id: reader,
            };
            Spec {
                execution_id: reader.into(),
                argv: vec![
                    "/opt/fate/venv/bin/python".into(),
                    "-c".into(),
                    LMDB_READER.into(),
                    table.display().to_string(),
                    release.display().to_string(),
                ],
                cwd: dir.path().to_path_buf(),
                log_file: dir.path().join(format!("{reader}.log")),
                container: Some(ContainerSpec {
                    image: image.to_string(),
                    name: id.container_name(),
                    labels: id.labels(),
                    network: "none".into(),
                    mounts: vec![dir.path().to_path_buf()],
                    host_pid,
                    ..Default::default()
                }),
                ..Default::default()
            }
        };
        let log = |reader: &str| {
            std::fs::read_to_string(dir.path().join(format!("{reader}.log"))).unwrap_or_default()
        };
        // Each reader says whether it reads; then both are released and their exits taken.
        launcher.launch(spec("a")).await.unwrap();
        said(&dir.path().join("a.log"), &["reading"]).await;
        launcher.launch(spec("b")).await.unwrap();
        said(&dir.path().join("b.log"), &["reading", "cannot read"]).await;
        std::fs::write(&release, "").unwrap();
        let mut codes = std::collections::BTreeMap::new();
        while codes.len() < 2 {
            let exit = tokio::time::timeout(Duration::from_secs(120), exits.recv())
                .await
                .expect("both readers end")
                .unwrap();
            codes.insert(exit.execution_id.to_string(), exit.code);
        }
        let (a_code, b_code) = (codes["a"], codes["b"]);
        assert_eq!(a_code, Some(0), "{}", log("a"));
        println!(
            "host pid namespace {host_pid}: a: {} b: {}",
            log("a").trim(),
            log("b").trim()
        );
        if host_pid {
            assert_eq!(b_code, Some(0), "{}", log("b"));
            assert!(log("b").contains("reading"), "{}", log("b"));
        } else {
            assert_eq!(b_code, Some(3), "{}", log("b"));
            assert!(
                log("a").contains("pid 1 reading")
                    && log("b").contains("Resource temporarily unavailable"),
                "a: {}\nb: {}",
                log("a"),
                log("b")
            );
        }
    }
}

/// Waits until the file holds one of `what`.
async fn said(log: &Path, what: &[&str]) {
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if what.iter().any(|w| text.contains(w)) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "{} says none of {what:?}: {text}",
            log.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

//! The Docker launcher against the real Docker Engine, with a tiny image built here (the
//! host's `sh` and `sleep` and their libraries): output into the log file, exit codes, kill,
//! adoption by a launcher that did not start the container (a restarted site), a repeated
//! start, a missing image; and docker provider registration on an in-process site.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{CreateContainerOptions, InspectContainerOptions};
use serde_json::json;
use tokio::sync::OnceCell;

use ferroflow_server::launcher::docker::image::{self, RootFs};
use ferroflow_server::launcher::docker::{self as dl, DockerLauncher, TaskIdentity};
use ferroflow_server::launcher::{ContainerSpec, Exit, Exits, Handle, Launcher, Spec};

use crate::support::{SiteSpec, TestSite};

/// `ferroflow-test-sh:<digest>`: `/bin/sh` and `/bin/sleep`, no entry point.
pub async fn sh_image() -> &'static str {
    static TAG: OnceCell<String> = OnceCell::const_new();
    TAG.get_or_init(|| async {
        let mut fs = RootFs::new();
        fs.executable(Path::new("/bin/sh"), "/bin/sh").unwrap();
        fs.executable(Path::new("/bin/sleep"), "/bin/sleep")
            .unwrap();
        let changes = vec![
            "LABEL component.0.name=echo_a component.1.name=echo_b".to_string(),
            format!(
                "LABEL component.1.description={}",
                serde_json::to_string(
                    &json!({"inputs": {"data": ["x"]}, "outputs": {"data": ["y"]}}).to_string()
                )
                .unwrap()
            ),
        ];
        let tag = format!("ferroflow-test-sh:{}", fs.digest(&changes).unwrap());
        image::ensure("", &tag, &fs, &changes)
            .await
            .expect("the test image builds (is Docker running?)")
            .tag
    })
    .await
}

async fn docker() -> Docker {
    dl::connect("").await.expect("the Docker daemon answers")
}

struct Case {
    dir: tempfile::TempDir,
    site: String,
}

impl Case {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let site = dir.path().to_string_lossy().into_owned();
        Self { dir, site }
    }

    fn identity<'a>(&'a self, execution_id: &'a str) -> TaskIdentity<'a> {
        TaskIdentity {
            site: &self.site,
            job_id: "202601010000000000000",
            task_id: "202601010000000000000_t_0",
            task_name: "t_0",
            task_version: 0,
            role: "guest",
            party_id: "9999",
            execution_id,
        }
    }

    async fn spec(&self, execution_id: &str, script: &str) -> Spec {
        let id = self.identity(execution_id);
        Spec {
            execution_id: execution_id.into(),
            argv: vec!["/bin/sh".into(), "-c".into(), script.into()],
            env: vec![("GREETING".into(), "hello".into())],
            cwd: self.dir.path().join(execution_id),
            log_file: self.log(execution_id),
            container: Some(ContainerSpec {
                daemon: String::new(),
                image: sh_image().await.to_string(),
                name: id.container_name(),
                labels: id.labels(),
                network: "host".into(),
                mounts: vec![self.dir.path().join(execution_id)],
                cores: 1,
                memory_mb: 64,
                user: None,
                ..Default::default()
            }),
        }
    }

    fn log(&self, execution_id: &str) -> std::path::PathBuf {
        self.dir.path().join("logs").join(execution_id)
    }

    fn read_log(&self, execution_id: &str) -> String {
        std::fs::read_to_string(self.log(execution_id)).unwrap_or_default()
    }
}

async fn next_exit(exits: &mut Exits) -> Exit {
    tokio::time::timeout(Duration::from_secs(30), exits.recv())
        .await
        .expect("an exit within 30 s")
        .expect("the channel is open")
}

/// Waits until the container is gone from the daemon.
async fn wait_gone(docker: &Docker, name: &str) {
    let start = Instant::now();
    while docker
        .inspect_container(name, None::<InspectContainerOptions>)
        .await
        .is_ok()
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{name} still there"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_container_reports_its_exit_code_and_output_then_is_removed() {
    let case = Case::new();
    let docker = docker().await;
    let (launcher, mut exits) = DockerLauncher::new(&case.site);
    let spec = case
        .spec("e1", "echo $GREETING from $(pwd); echo oops >&2; exit 3")
        .await;
    let handle = launcher.launch(spec.clone()).await.unwrap();
    let c = handle.container.clone().unwrap();
    assert_eq!(c.name, spec.container.as_ref().unwrap().name);
    assert_eq!(handle.pid, 0);

    let exit = next_exit(&mut exits).await;
    assert_eq!((exit.execution_id.as_str(), exit.code), ("e1", Some(3)));
    assert_eq!(exit.describe(), "exit code 3");
    // The output is all there when the exit is reported.
    let log = case.read_log("e1");
    assert!(log.contains("hello from /"), "{log}");
    assert!(log.contains("oops"), "{log}");
    wait_gone(&docker, &c.name).await;
    assert!(!launcher.is_alive(&handle).await);
}

#[tokio::test]
async fn kill_removes_a_running_container_and_its_exit_is_reported() {
    let case = Case::new();
    let docker = docker().await;
    let (launcher, mut exits) = DockerLauncher::new(&case.site);
    let handle = launcher
        .launch(case.spec("e1", "echo up; exec sleep 600").await)
        .await
        .unwrap();
    assert!(launcher.is_alive(&handle).await);
    let info = docker
        .inspect_container(
            &handle.container.as_ref().unwrap().name,
            None::<InspectContainerOptions>,
        )
        .await
        .unwrap();
    let labels = info.config.unwrap().labels.unwrap();
    assert_eq!(labels["ferroflow.execution_id"], "e1");
    assert_eq!(labels["ferroflow.site"], case.site);
    let host = info.host_config.unwrap();
    assert_eq!(
        (host.nano_cpus, host.memory),
        (Some(1_000_000_000), Some(64 * 1024 * 1024))
    );
    assert_eq!(host.network_mode.as_deref(), Some("host"));

    launcher.kill(&handle).await.unwrap();
    let exit = next_exit(&mut exits).await;
    assert_eq!(exit.execution_id.as_str(), "e1");
    assert!(!launcher.is_alive(&handle).await);
    wait_gone(&docker, &handle.container.unwrap().name).await;
    // Killing what is gone is fine.
    launcher
        .kill(&Handle {
            container: exit.handle.container,
            ..Handle::default()
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn a_new_launcher_adopts_running_ended_and_vanished_containers() {
    let case = Case::new();
    let docker = docker().await;

    // A "site" launches a container, then stops without a trace (its runtime is dropped, so
    // its watcher is gone); the container goes on.
    let running_spec = case
        .spec(
            "running",
            &format!(
                "echo started; while [ ! -f {} ]; do sleep 0.05; done; echo done; exit 5",
                case.dir.path().join("running/stop").display()
            ),
        )
        .await;
    let first = {
        let spec = running_spec.clone();
        let case_site = case.site.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            let handle = rt.block_on(async {
                let (launcher, _exits) = DockerLauncher::new(&case_site);
                launcher.launch(spec).await.unwrap()
            });
            rt.shutdown_background();
            handle
        })
        .join()
        .unwrap()
    };
    // One that ended while nobody watched, created directly on the daemon.
    let ended_spec = case.spec("ended", "echo quick; exit 7").await;
    let ended = ended_spec.container.clone().unwrap();
    docker
        .create_container(
            Some(CreateContainerOptions {
                name: Some(ended.name.clone()),
                ..Default::default()
            }),
            ContainerCreateBody {
                image: Some(ended.image.clone()),
                cmd: Some(ended_spec.argv.clone()),
                labels: Some(ended.labels.clone().into_iter().collect::<HashMap<_, _>>()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    docker.start_container(&ended.name, None).await.unwrap();
    let start = Instant::now();
    while docker
        .inspect_container(&ended.name, None::<InspectContainerOptions>)
        .await
        .unwrap()
        .state
        .and_then(|s| s.running)
        == Some(true)
    {
        assert!(start.elapsed() < Duration::from_secs(20));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    std::fs::create_dir_all(case.dir.path().join("logs")).unwrap();
    std::fs::write(case.log("ended"), "stale\n").unwrap();

    // The restarted site's launcher: both are listed, adopted, watched to their end.
    let (launcher, mut exits) = DockerLauncher::new(&case.site);
    let mut listed: Vec<String> = launcher
        .containers("")
        .await
        .unwrap()
        .into_iter()
        .map(|(_, e)| e)
        .collect();
    listed.sort();
    assert_eq!(listed, vec!["ended", "running"]);
    let ended_handle = Handle {
        container: Some(ferroflow_server::launcher::ContainerRef {
            daemon: String::new(),
            name: ended.name.clone(),
            id: String::new(),
        }),
        ..Handle::default()
    };
    assert!(
        launcher
            .adopt(&"ended".into(), &ended_handle, &case.log("ended"))
            .await
            .unwrap()
    );
    let exit = next_exit(&mut exits).await;
    assert_eq!((exit.execution_id.as_str(), exit.code), ("ended", Some(7)));
    assert_eq!(
        case.read_log("ended"),
        "quick\n",
        "collected again, from the start"
    );
    wait_gone(&docker, &ended.name).await;

    assert!(
        launcher
            .adopt(&"running".into(), &first, &case.log("running"))
            .await
            .unwrap()
    );
    // Adopting twice watches once.
    assert!(
        launcher
            .adopt(&"running".into(), &first, &case.log("running"))
            .await
            .unwrap()
    );
    // Adopted while running: it ends when told to (a file in its mounted directory).
    assert!(launcher.is_alive(&first).await);
    std::fs::write(case.dir.path().join("running/stop"), "").unwrap();
    let name = first.container.clone().unwrap().name;
    let exit = next_exit(&mut exits).await;
    assert_eq!(
        (exit.execution_id.as_str(), exit.code),
        ("running", Some(5))
    );
    assert_eq!(case.read_log("running"), "started\ndone\n");
    wait_gone(&docker, &name).await;

    // A container that vanished while the site was down is reported gone at once.
    assert!(
        launcher
            .adopt(&"running".into(), &first, &case.log("running"))
            .await
            .unwrap()
    );
    let exit = next_exit(&mut exits).await;
    assert_eq!(exit.code, None);
    assert_eq!(exit.describe(), "the container is gone");
    assert!(
        tokio::time::timeout(Duration::from_millis(200), exits.recv())
            .await
            .is_err(),
        "one exit per container"
    );
}

#[tokio::test]
async fn a_repeated_start_takes_over_the_existing_container() {
    let case = Case::new();
    let (launcher, mut exits) = DockerLauncher::new(&case.site);
    let spec = case
        .spec(
            "e1",
            "echo once; i=0; while [ $i -lt 40 ]; do sleep 0.05; i=$((i+1)); done; exit 4",
        )
        .await;
    let a = launcher.launch(spec.clone()).await.unwrap();
    let b = launcher.launch(spec).await.unwrap();
    let name = a.container.unwrap().name;
    assert_eq!(name, b.container.unwrap().name);
    let exit = next_exit(&mut exits).await;
    assert_eq!(exit.code, Some(4));
    assert_eq!(case.read_log("e1"), "once\n");
    wait_gone(&docker().await, &name).await;
}

#[tokio::test]
async fn a_missing_image_fails_the_launch_saying_so() {
    let case = Case::new();
    let (launcher, _exits) = DockerLauncher::new(&case.site);
    let mut spec = case.spec("e1", "true").await;
    spec.container.as_mut().unwrap().image = "ferroflow-no-such-image:0".into();
    let e = launcher.launch(spec).await.unwrap_err();
    assert!(
        e.to_string()
            .contains("image ferroflow-no-such-image:0 not found on the docker daemon at unix:///var/run/docker.sock"),
        "{e}"
    );
}

#[tokio::test]
async fn docker_providers_are_registered_from_the_image_labels() {
    let site = TestSite::start(SiteSpec::standalone()).await;
    let image = sh_image().await;
    let register = |image: &str, base_url: &str| {
        json!({"name": "sh", "device": "docker", "version": "1",
               "metadata": {"base_url": base_url, "image": image}})
    };
    let r = site
        .post(
            "/v2/provider/register",
            register("ferroflow-no-such-image:0", ""),
        )
        .await;
    assert_eq!(r.code, 4000, "{}", r.message);
    assert!(
        r.message
            .contains("image ferroflow-no-such-image:0 not found on the docker daemon")
            && r.message.contains("build or load it on that daemon first"),
        "{}",
        r.message
    );
    let r = site
        .post("/v2/provider/register", register(image, "ftp://nowhere"))
        .await;
    assert_eq!(r.code, 4000, "{}", r.message);
    assert!(
        r.message.contains("unsupported docker base_url"),
        "{}",
        r.message
    );

    let r = site
        .post("/v2/provider/register", register(image, ""))
        .await;
    assert_eq!((r.code, r.message.as_str()), (0, "create success"));
    let catalog = site.site.app.catalog().await.unwrap();
    let entry = catalog
        .providers
        .iter()
        .find(|p| p.provider.to_string() == "sh:1@docker")
        .unwrap();
    assert_eq!(
        entry.components.clone().unwrap(),
        vec!["echo_a".to_string(), "echo_b".to_string()],
        "label values, not keys (W-prov-2)"
    );
    assert_eq!(entry.io["echo_b"].inputs, vec!["x".to_string()]);
    site.stop().await;
}

/// What a task container may do by default: run as a user that is not root, with no
/// capability and no way to gain one, write in its own directories (and a private `/tmp`),
/// and nowhere else: not the image, not a read-only mount, not the host.
#[tokio::test]
async fn a_task_container_runs_unprivileged_and_writes_only_in_its_own_directories() {
    let case = Case::new();
    let config = ferroflow_server::config::Config::for_test("9999", case.dir.path());
    let user = config.docker.user.clone().expect("a user by default");
    let uid = user.split(':').next().unwrap().to_string();
    assert_ne!(uid, "0", "never root by default");
    let inputs = case.dir.path().join("inputs");
    std::fs::create_dir_all(&inputs).unwrap();
    std::fs::write(inputs.join("data.csv"), "id,x\n").unwrap();
    let other = case.dir.path().join("other-task");
    std::fs::create_dir_all(&other).unwrap();
    let own = case.dir.path().join("e1");
    let (own_s, inputs_s, other_s) = (own.display(), inputs.display(), other.display());
    let script = format!(
        r#"while read -r k v rest; do case $k in Uid:|CapEff:|NoNewPrivs:) echo "$k $v";; esac; done < /proc/self/status
try() {{ if (echo x > "$1") 2>/dev/null; then echo "wrote $1"; else echo "refused $1"; fi; }}
for f in {own_s}/out /tmp/scratch /etc/passwd /usr/x /x {inputs_s}/data.csv {inputs_s}/new {other_s}/x; do try "$f"; done"#
    );
    let mut spec = case.spec("e1", &script).await;
    {
        let c = spec.container.as_mut().unwrap();
        c.user = Some(user.clone());
        c.read_only = vec![inputs.clone()];
        c.owned = vec![own.clone()];
        c.pids_limit = config.docker.pids_limit;
        c.host_pid = true;
    }
    let (launcher, mut exits) = DockerLauncher::new(&case.site);
    let name = spec.container.as_ref().unwrap().name.clone();
    launcher.launch(spec).await.unwrap();
    let exit = next_exit(&mut exits).await;
    wait_gone(&docker().await, &name).await;
    let log = case.read_log("e1");
    assert_eq!(exit.code, Some(0), "{log}");
    for line in [
        format!("Uid: {uid}"),
        "CapEff: 0000000000000000".to_string(),
        "NoNewPrivs: 1".to_string(),
        format!("wrote {own_s}/out"),
        "wrote /tmp/scratch".to_string(),
        "refused /etc/passwd".to_string(),
        "refused /usr/x".to_string(),
        "refused /x".to_string(),
        format!("refused {inputs_s}/data.csv"),
        format!("refused {inputs_s}/new"),
        format!("refused {other_s}/x"),
    ] {
        assert!(log.lines().any(|l| l == line), "no {line:?} in:\n{log}");
    }
    use std::os::unix::fs::MetadataExt;
    let written = std::fs::metadata(own.join("out")).unwrap();
    assert_eq!(
        written.uid().to_string(),
        uid,
        "the task's file is its user's"
    );
    assert_eq!(
        std::fs::read_to_string(inputs.join("data.csv")).unwrap(),
        "id,x\n"
    );
    assert!(!other.join("x").exists() && !inputs.join("new").exists());
}

/// A daemon that accepts connections and never answers is named within seconds, at
/// registration and at a launch, instead of holding both for a minute.
#[tokio::test]
async fn a_daemon_that_never_answers_is_named_within_seconds() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("tcp://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((c, _)) = listener.accept().await {
            held.push(c);
        }
    });
    let said = format!(
        "the docker daemon at {url} accepted the connection but did not answer within {} s",
        dl::ANSWER_TIMEOUT.as_secs()
    );
    let e = dl::connect(&url).await.unwrap_err();
    assert!(matches!(e, dl::Error::NoAnswer { .. }), "{e}");
    assert_eq!(e.to_string(), said);

    let case = Case::new();
    let (launcher, _exits) = DockerLauncher::new(&case.site);
    let mut spec = case.spec("e1", "true").await;
    spec.container.as_mut().unwrap().daemon = url.clone();
    let e = launcher.launch(spec).await.unwrap_err();
    assert!(e.to_string().contains(&said), "{e}");

    let site = TestSite::start(SiteSpec::standalone()).await;
    let r = site
        .post(
            "/v2/provider/register",
            json!({"name": "sh", "device": "docker", "version": "1",
                   "metadata": {"base_url": url, "image": "x:1"}}),
        )
        .await;
    assert_eq!(r.code, 4000, "{}", r.message);
    assert!(r.message.contains(&said), "{}", r.message);
    site.stop().await;
}

/// A registry on loopback (Debian's `docker-registry`, basic auth from an `htpasswd` file),
/// stopped when dropped.
struct Registry {
    _dir: tempfile::TempDir,
    _process: tokio::process::Child,
    address: String,
}

const REGISTRY_USER: &str = "ferroflow";
const REGISTRY_PASSWORD: &str = "s3cret-never-shown";

impl Registry {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new("htpasswd")
            .args(["-Bbn", REGISTRY_USER, REGISTRY_PASSWORD])
            .output()
            .expect("htpasswd (apache2-utils) runs");
        assert!(out.status.success());
        std::fs::write(dir.path().join("htpasswd"), &out.stdout).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let address = format!("127.0.0.1:{port}");
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog: {{level: warn}}\nstorage: {{filesystem: {{rootdirectory: {}}}}}\n\
                 http: {{addr: \"{address}\"}}\nauth: {{htpasswd: {{realm: ferroflow-test, path: {}}}}}\n",
                dir.path().join("data").display(),
                dir.path().join("htpasswd").display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let process = tokio::process::Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("docker-registry (Debian's docker-registry package) runs");
        // Up when it asks for credentials.
        let start = Instant::now();
        loop {
            if let Ok(r) = reqwest::get(format!("http://{address}/v2/")).await
                && r.status() == 401
            {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the registry does not answer: {}",
                std::fs::read_to_string(dir.path().join("registry.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self {
            _dir: dir,
            _process: process,
            address,
        }
    }
}

#[tokio::test]
async fn an_image_missing_on_the_daemon_is_pulled_from_its_registry_with_credentials() {
    use bollard::auth::DockerCredentials;
    use bollard::query_parameters::{PushImageOptions, RemoveImageOptions, TagImageOptions};
    use ferroflow_server::launcher::RegistryAuth;

    let registry = Registry::start().await;
    let docker = docker().await;
    let source = sh_image().await;
    let repo = format!("{}/ferroflow-test-sh", registry.address);
    let tag = source.rsplit(':').next().unwrap().to_string();
    let image = format!("{repo}:{tag}");
    docker
        .tag_image(
            source,
            Some(TagImageOptions {
                repo: Some(repo.clone()),
                tag: Some(tag.clone()),
            }),
        )
        .await
        .unwrap();
    let credentials = DockerCredentials {
        username: Some(REGISTRY_USER.into()),
        password: Some(REGISTRY_PASSWORD.into()),
        serveraddress: Some(registry.address.clone()),
        ..Default::default()
    };
    let mut push =
        std::pin::pin!(docker.push_image(&image, None::<PushImageOptions>, Some(credentials)));
    while let Some(item) = futures::StreamExt::next(&mut push).await {
        item.expect("the push to the loopback registry");
    }
    // Only in the registry now (the tag goes, the image keeps its own).
    docker
        .remove_image(&image, None::<RemoveImageOptions>, None)
        .await
        .unwrap();

    let case = Case::new();
    let (launcher, mut exits) = DockerLauncher::new(&case.site);
    let mut spec = case.spec("e1", "echo pulled").await;
    spec.container.as_mut().unwrap().image = image.clone();
    // Without credentials: refused by the registry, saying so.
    let e = launcher.launch(spec.clone()).await.unwrap_err().to_string();
    assert!(e.contains(&format!("cannot pull image {image}")), "{e}");
    // With them: pulled, run. The password is in no message and no debug print.
    let auth = RegistryAuth {
        username: REGISTRY_USER.into(),
        password: REGISTRY_PASSWORD.into(),
    };
    spec.container.as_mut().unwrap().pull_auth = Some(auth);
    assert!(!format!("{spec:?}").contains(REGISTRY_PASSWORD));
    let name = spec.container.as_ref().unwrap().name.clone();
    launcher.launch(spec).await.unwrap();
    let exit = next_exit(&mut exits).await;
    wait_gone(&docker, &name).await;
    assert_eq!(exit.code, Some(0), "{}", case.read_log("e1"));
    assert!(case.read_log("e1").contains("pulled"));
    assert!(!e.contains(REGISTRY_PASSWORD));
    docker
        .remove_image(&image, None::<RemoveImageOptions>, None)
        .await
        .unwrap();

    // The credentials in the provider's own metadata (`auth_config`), on a site with none in
    // its configuration: the registration pulls the image with them. Every line the site logs
    // meanwhile is kept (this test's runtime is one thread: the site runs on it).
    let logs = Captured::default();
    let _logging = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(logs.clone())
            .finish(),
    );
    let site = TestSite::start(SiteSpec::standalone()).await;
    let register = |password: &str| {
        json!({"name": "sh", "device": "docker", "version": "pulled",
               "metadata": {"base_url": "", "image": image,
                            "auth_config": {"username": REGISTRY_USER, "password": password}}})
    };
    const WRONG: &str = "wrong-secret-never-shown";
    let r = site.post("/v2/provider/register", register(WRONG)).await;
    assert_eq!(r.code, 4000, "{}", r.message);
    assert!(
        r.message.contains(&format!("cannot pull image {image}"))
            && !r.message.contains(WRONG)
            && r.message.contains(r#""password":"******""#),
        "{}",
        r.message
    );
    let r = site
        .post(
            "/v2/provider/register",
            json!({"name": "sh", "device": "docker",
        "version": "pulled", "metadata": {"image": image, "auth_config": {"username": 1}}}),
        )
        .await;
    assert_eq!(r.code, 4000, "{}", r.message);
    assert!(
        r.message.contains("metadata.auth_config must be"),
        "{}",
        r.message
    );
    let r = site
        .post("/v2/provider/register", register(REGISTRY_PASSWORD))
        .await;
    assert_eq!((r.code, r.message.as_str()), (0, "create success"));
    // Kept, never answered: the query shows the username and a mask.
    let q = site
        .get_value(
            "/v2/provider/query",
            &[("provider_name", "sh:pulled@docker")],
        )
        .await;
    assert_eq!(
        q["data"][0]["metadata"]["auth_config"],
        json!({"username": REGISTRY_USER, "password": "******"}),
        "{q}"
    );
    assert!(!q.to_string().contains(REGISTRY_PASSWORD), "{q}");
    site.stop().await;
    let logged = logs.text();
    assert!(
        logged.contains("pulling image"),
        "the site's log was kept: {logged}"
    );
    for secret in [REGISTRY_PASSWORD, WRONG] {
        assert!(
            !logged.contains(secret),
            "the log shows a password:\n{logged}"
        );
    }
    docker
        .remove_image(&image, None::<RemoveImageOptions>, None)
        .await
        .unwrap();
}

/// What a tracing subscriber wrote.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

//! How runs end: `demo_sleep`, `demo_fail`, unknown and panicking components.

use super::*;

#[tokio::test]
async fn sleep_passes_its_first_input_through() {
    let mut site = FakeSite::start().await;
    let dir = tempfile::tempdir().unwrap();
    let input = read_into_site(&mut site, dir.path(), "id,x\n1,2\n", "guest", "9999").await;
    let cfg = Cfg::new("sleep_0", SLEEP, dir.path())
        .params(json!({"seconds": 0.05}))
        .input("input_data", "reader_0", "output_data");
    let out = execute(cfg.config(&site), &options()).await;
    assert_eq!(out.status, Status::Success, "{}", out.error);
    let save = site
        .calls_to("/data/tracking/save")
        .last()
        .unwrap()
        .json()
        .clone();
    assert_eq!(save["execution_id"], cfg.execution_id());
    assert_eq!(save["output_key"], "output_data");
    for k in [
        "uri",
        "namespace",
        "name",
        "meta_data",
        "source",
        "data_type",
        "overview",
    ] {
        assert_eq!(save[k], input[k], "{k}");
    }
    assert_eq!(site.next_status().await["status"], "success");

    // without input: no output
    let cfg = Cfg::new("sleep_0", SLEEP, dir.path());
    let before = site.calls().len();
    assert_eq!(
        execute(cfg.config(&site), &options()).await.status,
        Status::Success
    );
    assert_eq!(paths(&site)[before..], ["POST /v2/worker/task/status"]);
}

#[tokio::test]
async fn sleep_fails_while_the_version_is_below_fail_times() {
    let mut site = FakeSite::start().await;
    let dir = tempfile::tempdir().unwrap();
    for (version, want) in [
        ("0", Status::Failed),
        ("1", Status::Failed),
        ("2", Status::Success),
    ] {
        let mut cfg =
            Cfg::new("sleep_0", SLEEP, dir.path()).params(json!({"fail_times": 2, "seconds": "0"}));
        cfg.version = version.into();
        let out = execute(cfg.config(&site), &options()).await;
        assert_eq!(out.status, want, "version {version}: {}", out.error);
        let status = site.next_status().await;
        assert_eq!(status["execution_id"], cfg.execution_id());
        if want == Status::Failed {
            assert_eq!(
                status["error"],
                format!("demo_sleep: failing as asked: task_version {version} < fail_times 2")
            );
        }
    }
    let cfg = Cfg::new("sleep_0", SLEEP, dir.path()).params(json!({"seconds": -1}));
    let out = execute(cfg.config(&site), &options()).await;
    assert_eq!(
        out.error,
        "demo_sleep: parameter `seconds`: must not be negative"
    );
}

#[tokio::test]
async fn fail_reports_its_message() {
    let mut site = FakeSite::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = Cfg::new("fail_0", FAIL, dir.path()).params(json!({"message": "boom"}));
    let out = execute(cfg.config(&site), &options()).await;
    assert_eq!(
        out,
        Outcome {
            status: Status::Failed,
            error: "demo_fail: boom".into(),
            reported: true
        }
    );
    assert_eq!(out.exit_code(), ExitCode::FAILURE);
    assert_eq!(paths(&site), ["POST /v2/worker/task/status"]);
    assert_eq!(
        site.next_status().await,
        json!({"execution_id": cfg.execution_id(), "status": "failed", "error": "demo_fail: boom"})
    );
}

#[tokio::test]
async fn an_unknown_component_is_reported_as_a_failure() {
    let mut site = FakeSite::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = Cfg::new("x_0", "psi", dir.path());
    let out = execute(cfg.config(&site), &options()).await;
    assert_eq!(out.status, Status::Failed);
    assert!(
        out.error
            .starts_with("psi: unknown component `psi` (the demo provider has demo_reader,"),
        "{}",
        out.error
    );
    assert_eq!(site.next_status().await["error"], out.error.as_str());
}

#[tokio::test]
async fn a_panicking_component_is_reported_as_a_failure() {
    let mut site = FakeSite::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = Cfg::new("x_0", "test_panic", dir.path());
    let out = execute(cfg.config(&site), &options()).await;
    assert_eq!(
        out,
        Outcome {
            status: Status::Failed,
            error: "test_panic: panicked: as asked".into(),
            reported: true
        }
    );
    assert_eq!(
        site.next_status().await["error"],
        "test_panic: panicked: as asked"
    );
}

//! Where the CONFIG and the options come from.

use super::*;
use std::collections::HashMap;

fn args(config: Option<PathBuf>, env_name: &str) -> ExecuteArgs {
    ExecuteArgs {
        config,
        env_name: env_name.into(),
    }
}

fn config_text_of(
    a: &ExecuteArgs,
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<String, LoadError> {
    config_text(a.config.as_deref(), &a.env_name, get)
}

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let m: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| m.get(k).cloned()
}

#[test]
fn the_config_comes_from_a_file_an_env_var_or_fates_variable() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_csv(dir.path(), "c.json", "from file");
    let e = env(&[
        ("CONFIG", "from CONFIG"),
        ("FATE_TASK_CONFIG", "from fate"),
        ("MINE", "from mine"),
    ]);
    assert_eq!(
        config_text_of(&args(Some(file), "CONFIG"), &e).unwrap(),
        "from file"
    );
    assert_eq!(
        config_text_of(&args(None, "CONFIG"), &e).unwrap(),
        "from CONFIG"
    );
    assert_eq!(
        config_text_of(&args(None, "MINE"), &e).unwrap(),
        "from mine"
    );
    let e = env(&[("FATE_TASK_CONFIG", "from fate")]);
    assert_eq!(
        config_text_of(&args(None, "CONFIG"), &e).unwrap(),
        "from fate"
    );
    let err = config_text_of(&args(None, "OTHER"), &e).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no CONFIG: environment variable OTHER is not set and --config was not given"
    );
    let err = config_text_of(&args(Some(dir.path().join("none")), "CONFIG"), &e).unwrap_err();
    assert!(matches!(err, LoadError::File { .. }));
}

#[tokio::test]
async fn yaml_configs_as_fates_local_wrapper_writes_them_parse() {
    let site = FakeSite::start().await;
    let dir = tempfile::tempdir().unwrap();
    let v = Cfg::new("fail_0", FAIL, dir.path()).value(&site);
    let yaml = serde_yaml::to_string(&v).unwrap();
    assert_eq!(TaskConfig::parse(&yaml).unwrap().component, "demo_fail");
}

#[tokio::test]
async fn a_broken_config_still_names_where_to_report() {
    let site = FakeSite::start().await;
    let text = json!({"party_task_id": "e_1", "mlmd": site.mlmd(), "component": 3}).to_string();
    assert!(TaskConfig::parse(&text).is_err());
    let t = ReportTarget::parse(&text).unwrap();
    assert_eq!(t.party_task_id, "e_1");
    assert_eq!(t.mlmd.base_url(), format!("{}/v2", site.addr));
    assert!(ReportTarget::parse("party_task_id: e_2\n").is_none());
}

#[test]
fn the_report_deadline_comes_from_the_environment() {
    let (o, w) = Options::from_env(&env(&[]));
    assert_eq!(o.report.deadline, Duration::from_secs(600));
    assert!(w.is_none());
    let (o, w) = Options::from_env(&env(&[(REPORT_DEADLINE_ENV, "2.5")]));
    assert_eq!(o.report.deadline, Duration::from_millis(2500));
    assert!(w.is_none());
    let (o, w) = Options::from_env(&env(&[(REPORT_DEADLINE_ENV, "soon")]));
    assert_eq!(o.report.deadline, Duration::from_secs(600));
    assert!(w.unwrap().contains(REPORT_DEADLINE_ENV));
}

#[test]
fn the_site_wait_comes_from_the_environment() {
    use crate::component::worker_client::{ClientOptions, SITE_WAIT_ENV};
    let (o, _) = Options::from_env(&env(&[]));
    assert_eq!(o.client.site_wait, ClientOptions::DEFAULT_SITE_WAIT);
    assert!(ClientOptions::DEFAULT_SITE_WAIT >= Duration::from_secs(120));
    let (o, w) = Options::from_env(&env(&[(SITE_WAIT_ENV, "300")]));
    assert_eq!(o.client.site_wait, Duration::from_secs(300));
    assert!(w.is_none());
    let (o, w) = Options::from_env(&env(&[(SITE_WAIT_ENV, "-1"), (REPORT_DEADLINE_ENV, "x")]));
    assert_eq!(o.client.site_wait, ClientOptions::DEFAULT_SITE_WAIT);
    let w = w.unwrap();
    assert!(
        w.contains(SITE_WAIT_ENV) && w.contains(REPORT_DEADLINE_ENV),
        "{w}"
    );
}

#[test]
fn names_are_the_dispatched_components() {
    assert_eq!(
        names(),
        [
            "demo_reader",
            "demo_transform",
            "demo_train",
            "demo_sleep",
            "demo_fail"
        ]
    );
}

#[test]
fn the_worker_token_comes_from_the_environment_and_never_shows() {
    use crate::component::worker_client::{TOKEN_ENV, Token};
    let (o, _) = Options::from_env(&env(&[]));
    assert_eq!(o.client.token, None);
    let (o, _) = Options::from_env(&env(&[(TOKEN_ENV, TOKEN)]));
    assert_eq!(o.client.token, Some(Token(TOKEN.into())));
    assert!(!format!("{o:?}").contains(TOKEN), "Debug redacts it");
}

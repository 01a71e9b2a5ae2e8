//! The dashboard in a real browser (headless Chromium over WebDriver) against a real site
//! running the demo components as real task processes. Every page is checked for console
//! errors; the screenshots land in `webdriver::screenshot_dir()`.

use std::path::Path;
use std::time::Duration;

use ferroflow_wire::worker::{EXECUTION_ID_ENV, TOKEN_ENV, TOKEN_HEADER};
use serde_json::{Value, json};

use super::jobs::sleep_dag;
use super::support::{Server, demo_csvs, parties};
use super::webdriver::Browser;

const WAIT: Duration = Duration::from_secs(60);

/// reader_0 → wait_0 (sleeps `seconds`) → train_0 (10 iterations), guest and host.
fn chain_dag(dir: &Path, seconds: f64) -> Value {
    let (g, h) = demo_csvs(dir);
    let data = parties(&[("guest", "9999"), ("host", "10000")]);
    let out = |p: &str| json!({"producer_task": p, "output_artifact_key": "output_data", "parties": data});
    json!({
        "schema_version": "2.2.0",
        "dag": {
            "parties": parties(&[("guest", "9999"), ("host", "10000"), ("arbiter", "9999")]),
            "conf": {"task": {"provider": "demo:*@local"}},
            "stage": "default",
            "tasks": {
                "reader_0": {"component_ref": "demo_reader", "parties": data},
                "wait_0": {"component_ref": "demo_sleep", "parties": data, "parameters": {"seconds": seconds},
                    "inputs": {"data": {"input_data": {"task_output_artifact": out("reader_0")}}}},
                "train_0": {"component_ref": "demo_train", "stage": "train",
                    "parameters": {"max_iter": 10, "learning_rate": 0.1, "label": "y"},
                    "inputs": {"data": {"train_data": {"task_output_artifact": out("wait_0")}}}}
            },
            "party_tasks": {
                "guest_9999": {"parties": parties(&[("guest", "9999")]), "tasks": {"reader_0": {"parameters": {"path": g}}}},
                "host_10000": {"parties": parties(&[("host", "10000")]), "tasks": {"reader_0": {"parameters": {"path": h}}}}
            }
        }
    })
}

/// The worker token of the task process running `execution_id`, read from its environment
/// (the site gives it to the run only).
async fn worker_token(execution_id: &str) -> String {
    let prefix = format!("{TOKEN_ENV}=");
    let started = std::time::Instant::now();
    loop {
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let env = std::fs::read(entry.path().join("environ")).unwrap_or_default();
            let vars: Vec<String> = env
                .split(|b| *b == 0)
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .collect();
            if vars.contains(&format!("{EXECUTION_ID_ENV}={execution_id}"))
                && let Some(t) = vars.iter().find_map(|v| v.strip_prefix(prefix.as_str()))
            {
                return t.to_string();
            }
        }
        assert!(
            started.elapsed() < WAIT,
            "no process of {execution_id} with a worker token"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the job page shows the job's status as `status`.
async fn job_status_is(b: &Browser, what: &str, status: &str) {
    b.wait_for(
        what,
        &format!("return document.querySelector('#job-status .badge')?.textContent === {status:?}"),
        WAIT,
    )
    .await;
}

fn submit(server: &Server, dag: &Value) -> String {
    let reply = server.curl_post("/v2/job/submit", &json!({"dag_schema": dag}));
    assert_eq!(reply["code"], 0, "{reply}");
    reply["job_id"].as_str().unwrap().to_string()
}

/// Watches, in the page, the `data-status` of what `css` selects, and returns every value
/// it took (in order, repeats dropped) once it reaches `last`.
async fn statuses_until(b: &Browser, what: &str, css: &str, last: &str) -> Vec<String> {
    b.exec(
        "window.__seen = []; const css = arguments[0];
         window.__watch = setInterval(() => {
           const e = document.querySelector(css);
           const s = e && e.getAttribute('data-status');
           if (s && window.__seen[window.__seen.length - 1] !== s) window.__seen.push(s);
         }, 20);",
        json!([css]),
    )
    .await;
    let seen = b
        .wait_for(
            what,
            &format!("const s = window.__seen; return s[s.length - 1] === {last:?} ? s : null;"),
            WAIT,
        )
        .await;
    b.exec("clearInterval(window.__watch)", json!([])).await;
    serde_json::from_value(seen).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_follows_a_job_live_from_the_list_to_its_dag_and_loss_chart() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), "9999", None).await;
    let b = Browser::start().await;

    // The list shows a job submitted after the page loaded, and its status changes, with no
    // reload (a value set in the page survives).
    b.goto(&format!("{}/ui/", server.url)).await;
    b.wait_for(
        "the empty list",
        "return document.querySelector('#jobs-body')?.innerText.includes('No jobs.')",
        WAIT,
    )
    .await;
    b.exec("window.__same_page = 1", json!([])).await;
    let job = submit(&server, &chain_dag(dir.path(), 4.0));
    let row = format!("tr[data-job='{job}'][data-party='guest:9999'] .badge");
    let seen = statuses_until(&b, "the list's row reaching success", &row, "success").await;
    assert!(
        seen.len() >= 2 && seen.contains(&"running".to_string()),
        "the row's status did not change live: {seen:?}"
    );
    assert_eq!(b.exec("return window.__same_page", json!([])).await, 1);
    assert_eq!(
        b.exec(
            "return document.querySelectorAll('#jobs-body tr').length",
            json!([])
        )
        .await,
        3,
        "one row per party of the job"
    );
    b.screenshot("jobs").await;
    b.assert_console_clean("the job list").await;

    // A second run of the DAG watched on its job page: the node of wait_0 goes through
    // running to success as its tasks run.
    let job2 = submit(&server, &chain_dag(dir.path(), 4.0));
    b.goto(&format!("{}/ui/job/{job2}", server.url)).await;
    b.wait_for(
        "the DAG",
        "return document.querySelectorAll('#dag-svg g.node').length === 3",
        WAIT,
    )
    .await;
    let node = "#dag-svg g.node[data-task='wait_0']";
    b.wait_for(
        "wait_0 running",
        &format!(
            "return document.querySelector(\"{node}\")?.getAttribute('data-status') === 'running'"
        ),
        WAIT,
    )
    .await;
    b.screenshot("job-running").await;
    let seen = statuses_until(&b, "wait_0's node reaching success", node, "success").await;
    assert_eq!(
        seen.first().map(String::as_str),
        Some("running"),
        "{seen:?}"
    );
    job_status_is(&b, "the job's success on its page", "success").await;
    // Every party's pill on every node, and the event log with its causes.
    assert_eq!(
        b.exec(
            "return document.querySelectorAll('#dag-svg g.party[data-status=success]').length",
            json!([])
        )
        .await,
        7
    );
    b.wait_for(
        "the scheduler's step in the event log",
        "return document.querySelector('#events-body')?.innerText.includes('scheduler step')",
        WAIT,
    )
    .await;
    b.screenshot("job").await;
    b.assert_console_clean("the job page").await;

    // The train task's page: one point per iteration on its loss chart, its log, its model.
    b.goto(&format!("{}/ui/job/{job2}/guest/9999/train_0", server.url))
        .await;
    let points = b
        .wait_for(
            "the loss chart",
            "const c = document.querySelector(\"#charts .chart[data-metric^='loss'] svg\");
             return c ? c.querySelectorAll('circle.pt').length : null;",
            WAIT,
        )
        .await;
    assert_eq!(points, 10, "one point per iteration (max_iter 10)");
    b.wait_for(
        "the task's log",
        "return document.querySelector('#log')?.textContent.includes('iteration step=9')",
        WAIT,
    )
    .await;
    b.wait_for(
        "the model",
        "return document.querySelector('#model')?.textContent.includes('logistic_regression')",
        WAIT,
    )
    .await;
    b.scroll_to("#charts").await;
    b.screenshot("task").await;
    b.assert_console_clean("the task page").await;

    // The site: this party, its load, its providers.
    b.goto(&format!("{}/ui/site", server.url)).await;
    b.wait_for(
        "the site's providers",
        "return document.querySelector('#site-party')?.textContent === '9999'
            && document.querySelector('#provider-table')?.innerText.includes('demo_train')",
        WAIT,
    )
    .await;
    b.screenshot("site").await;
    b.assert_console_clean("the site page").await;

    // The login page signs as FATE's client does: MD5 as RFC 1321 has it.
    b.goto(&format!("{}/ui/login", server.url)).await;
    assert_eq!(
        b.exec(
            "return [md5(''), md5('abc'), md5('a'.repeat(100))]",
            json!([])
        )
        .await,
        json!([
            "d41d8cd98f00b204e9800998ecf8427e",
            "900150983cd24fb0d6963f7d28e17f72",
            "36a92cc94a9e0fa21f625f8bfb007adf"
        ])
    );
    b.wait_for(
        "the login state",
        "return document.querySelector('#login-state')?.textContent.includes('off')",
        WAIT,
    )
    .await;
    b.screenshot("login").await;
    b.assert_console_clean("the login page").await;
    drop(b);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_task_shows_its_message_as_text_rerun_runs_it_again_and_stop_cancels_a_job() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), "9999", None).await;
    let b = Browser::start().await;

    // Markup in a task's message stays text.
    let message = "<img src=x onerror=alert(1)><b>the data is not what I expected</b>";
    let failed = submit(
        &server,
        &sleep_dag(0.0, "demo_fail", json!({"message": message})),
    );
    b.goto(&format!("{}/ui/job/{failed}", server.url)).await;
    b.wait_for(
        "the failed task's message",
        &format!(
            "return [...document.querySelectorAll('#tasks .task-error')]
                .some(e => e.textContent.includes({message:?}))"
        ),
        WAIT,
    )
    .await;
    assert_eq!(
        b.exec(
            "return document.querySelectorAll('main img, main b, #tasks b').length",
            json!([])
        )
        .await,
        0,
        "markup of the message was parsed"
    );
    b.wait_for(
        "the failed node",
        "return document.querySelector(\"#dag-svg g.node[data-task='only_0']\")?.getAttribute('data-status') === 'failed'",
        WAIT,
    )
    .await;
    job_status_is(&b, "the job failed on its page", "failed").await;
    b.screenshot("job-failed").await;
    b.assert_console_clean("a failed job's page").await;

    // Rerun: the failed task runs again as version 1 (and fails again), shown on the page.
    b.click("#rerun").await;
    b.wait_for(
        "version 1 of the failed task",
        "return [...document.querySelectorAll('#task-table tbody tr')]
            .some(r => r.children[3].textContent === '1' && r.innerText.includes('failed'))",
        WAIT,
    )
    .await;
    job_status_is(&b, "the rerun failed again", "failed").await;
    b.assert_console_clean("a rerun job's page").await;

    // Stop: the first click arms the button, the second stops the job everywhere.
    let running = submit(&server, &sleep_dag(60.0, "demo_sleep", json!({})));
    b.goto(&format!("{}/ui/job/{running}", server.url)).await;
    job_status_is(&b, "the job running", "running").await;

    // A running task's engine application (what a Spark task reports), on its task page: the
    // id as text, the UI as a link.
    let execution_id = format!("{running}_only_0_0_guest_9999");
    let token = worker_token(&execution_id).await;
    let application = json!({"engine": "spark", "application_id": "app-20261204180000-0007",
                             "ui": "http://127.0.0.1:4040", "master": "spark://127.0.0.1:7077"});
    let r: Value = reqwest::Client::new()
        .post(format!("{}/v2/worker/task/status", server.url))
        .header(TOKEN_HEADER, token)
        .json(&json!({"execution_id": execution_id, "status": "running",
                      "engine_application": application}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["code"], 0, "{r}");
    b.goto(&format!(
        "{}/ui/job/{running}/guest/9999/only_0",
        server.url
    ))
    .await;
    let shown = b
        .wait_for(
            "the task's Spark application",
            "return document.querySelector('#task-application')?.innerText",
            WAIT,
        )
        .await;
    let shown = shown.as_str().unwrap_or_default();
    assert!(
        shown.contains("app-20261204180000-0007") && shown.contains("spark://127.0.0.1:7077"),
        "{shown}"
    );
    assert_eq!(
        b.exec(
            "return document.querySelector('#task-application a')?.getAttribute('href')",
            json!([])
        )
        .await,
        "http://127.0.0.1:4040"
    );
    b.assert_console_clean("a task page with its Spark application")
        .await;
    b.goto(&format!("{}/ui/job/{running}", server.url)).await;
    job_status_is(&b, "the job still running", "running").await;
    b.click("#stop").await;
    assert_eq!(b.text("#stop").await, "Confirm stop");
    b.click("#stop").await;
    job_status_is(&b, "the job canceled on its page", "canceled").await;
    server
        .wait_job(&running, &["canceled"], Duration::from_secs(30))
        .await;
    b.assert_console_clean("the stopped job's page").await;

    // Unknown ids: a "not found" page (HTTP 404), the id shown as text.
    b.goto(&format!("{}/ui/job/%3Cb%3Enope%3C%2Fb%3E", server.url))
        .await;
    let text = b
        .wait_for(
            "the not-found page",
            "return document.querySelector('#not-found')?.innerText",
            WAIT,
        )
        .await;
    assert!(text.as_str().unwrap().contains("<b>nope</b>"), "{text}");
    assert_eq!(
        b.exec(
            "return document.querySelectorAll('#not-found b').length",
            json!([])
        )
        .await,
        0
    );
    let status = reqwest::get(format!(
        "{}/ui/job/{failed}/guest/9999/no_such_task",
        server.url
    ))
    .await
    .unwrap()
    .status();
    assert_eq!(status, 404);
    b.screenshot("not-found").await;
    drop(b);
    server.stop().await;
}

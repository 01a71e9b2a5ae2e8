//! The dashboard's routes over HTTP: pages, unknown ids, bad parameters, conditional answers.

use serde_json::{Value, json};

use super::support::{SiteSpec, TestSite, sleep_dag};

async fn get(site: &TestSite, path: &str, etag: Option<&str>) -> (u16, Option<String>, String) {
    let mut req = site.http.get(format!("{}{path}", site.url()));
    if let Some(t) = etag {
        req = req.header("If-None-Match", t);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let etag = r
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_string());
    (status, etag, r.text().await.unwrap())
}

#[tokio::test]
async fn pages_name_their_view_and_unknown_ids_are_not_found() {
    let site = TestSite::start(SiteSpec::standalone()).await;
    let job = site
        .submit(sleep_dag(&[("a_0", "demo_sleep", &[])], json!({})))
        .await;
    let (status, _, html) = get(&site, "/ui/", None).await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"data-view="jobs""#), "{html}");
    let (status, _, html) = get(&site, &format!("/ui/job/{job}"), None).await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"data-view="job""#));
    let (status, _, html) = get(&site, &format!("/ui/job/{job}/guest/9999/a_0"), None).await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"data-view="task""#));
    // Unknown ids and paths: the not-found view, 404, the id escaped into the page.
    for path in [
        "/ui/job/%3Cscript%3Ealert(1)%3C%2Fscript%3E".to_string(),
        format!("/ui/job/{job}/guest/9999/no_such_task"),
        format!("/ui/job/{job}/host/1/a_0"),
        "/ui/nothing/here".to_string(),
        "/ui/assets/nothing.js".to_string(),
    ] {
        let (status, _, html) = get(&site, &path, None).await;
        assert_eq!(status, 404, "{path}");
        assert!(html.contains(r#"data-view="notfound""#), "{path}");
        assert!(!html.contains("<script>alert"), "{path}: {html}");
    }
    let (status, _, js) = get(&site, "/ui/assets/app.js", None).await;
    assert_eq!(status, 200);
    assert!(js.contains("function viewJob"));
    site.stop().await;
}

#[tokio::test]
async fn the_api_refuses_bad_parameters_and_answers_304_when_nothing_changed() {
    let site = TestSite::start(SiteSpec::standalone()).await;
    for (path, want) in [
        ("/ui/api/jobs?page=x", 400),
        ("/ui/api/jobs?status=a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q", 400),
        ("/ui/api/jobs?since=yesterday", 400),
        ("/ui/api/job", 400),
        ("/ui/api/job?job_id=nope", 404),
        ("/ui/api/events?job_id=nope", 404),
        ("/ui/api/events?job_id=nope&after=-", 400),
    ] {
        let (status, _, body) = get(&site, path, None).await;
        assert_eq!(status, want, "{path}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert!(v["error"].is_string(), "{path}: {body}");
    }
    let (status, _, body) = get(&site, &format!("/ui/api/jobs?page={}", i64::MAX), None).await;
    assert_eq!(status, 200, "{body}");
    let (status, etag, body) = get(&site, "/ui/api/jobs", None).await;
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["total"], 0);
    let etag = etag.expect("an ETag");
    let (status, _, body) = get(&site, "/ui/api/jobs", Some(&etag)).await;
    assert_eq!((status, body.as_str()), (304, ""));
    let job = site
        .submit(sleep_dag(&[("a_0", "demo_sleep", &[])], json!({})))
        .await;
    let (status, _, body) = get(&site, "/ui/api/jobs", Some(&etag)).await;
    assert_eq!(status, 200, "a new job changes the list");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["total"], 2, "{v}");
    assert_eq!(v["jobs"][0]["job_id"], job.as_str());
    // The job's events: its creation on the scheduler, with the route that caused it.
    let (_, _, body) = get(&site, &format!("/ui/api/events?job_id={job}"), None).await;
    let v: Value = serde_json::from_str(&body).unwrap();
    let events = v["events"].as_array().unwrap();
    assert!(
        events.iter().any(|e| e["view"] == "federated"
            && e["to"] == "waiting"
            && e["cause"]
                .as_str()
                .unwrap()
                .starts_with("POST /v2/scheduler/job/create")),
        "{v}"
    );
    site.stop().await;
}

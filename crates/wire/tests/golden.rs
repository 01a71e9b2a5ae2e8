//! Golden tests: the wire types against real FATE Flow 2.2 traffic.
//!
//! `fixtures/reference-traces/*.jsonl` hold HTTP exchanges recorded inside FATE Flow 2.2 while
//! the real `fate_client` 2.2 drove it and real `pyfate` 2.2 tasks ran under it (format in
//! `fixtures/README.md`). For every exchange this test checks:
//!
//! 1. **Requests**: the recorded request, turned into [`Params`] the way FATE reads it (JSON
//!    body only with a JSON content type, query pairs, multipart form fields and file parts,
//!    headers), parses with the wire type of its route ([`ROUTES`]); every value the type
//!    read equals the value sent. A route with neither a parser nor a place in
//!    [`NOT_MODELLED`] fails the test.
//! 2. **DAGs**: every DAG schema parses with [`DagSchema::from_value`]; the forms FATE forwards
//!    (scheduler and partner `job/create` bodies, the `dag` of job records) are written back
//!    identically by `to_value()`, and the forward of a submitted DAG (initiator → scheduler →
//!    partners) is reproduced from the DAG it came from.
//! 3. **Responses**: every JSON reply with a `code` round-trips through [`Envelope`]; the
//!    bare-object routes are recognised; redirects and downloads are recognised.
//! 4. **Records**: job, task (with its task CONFIG), provider, data-table and metric records
//!    parse and re-serialise to the same JSON.
//! 5. **Return codes**: every code seen exists in [`RetCode`], and typed messages are
//!    reproduced exactly by [`RetCode::message`].
//!
//! All failures are collected and reported together; a summary is printed (visible with
//! `--nocapture`).

#[path = "golden/commands.rs"]
mod commands;
#[path = "golden/report.rs"]
mod report;
#[path = "golden/routes.rs"]
mod routes;
#[path = "golden/traces.rs"]
mod traces;

use std::collections::BTreeSet;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use ferroflow_wire::dag::DagSchema;
use ferroflow_wire::partner::Collected;
use ferroflow_wire::records::{JobListItem, JobRecord, ProviderRecord, TaskRecord};
use ferroflow_wire::task_config::TaskConfig;
use ferroflow_wire::worker::{DataTableInfo, MetricItem};
use ferroflow_wire::{Envelope, RetCode};

use report::Report;
use routes::{BARE_OBJECT_ROUTES, NOT_MODELLED, find_route, route_name, to_value};
use traces::{
    Built, Exchange, build_params, is_truncated, load_traces, merge_slashes, parse_multipart,
    parse_urlencoded, recorded, same,
};

/// Compares a re-serialised value with the recorded one and names the first differences.
fn diff(path: &str, want: &Value, got: &Value, out: &mut Vec<String>) {
    if out.len() >= 6 {
        return;
    }
    match (want, got) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => diff(&format!("{path}.{k}"), x, y, out),
                    (Some(x), None) => out.push(format!("{path}.{k}: dropped (was {x})")),
                    (None, Some(y)) => out.push(format!("{path}.{k}: added ({y})")),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff(&format!("{path}[{i}]"), x, y, out);
            }
        }
        (a, b) if a != b => out.push(format!("{path}: recorded {a}, written {b}")),
        _ => {}
    }
}

fn expect_same(what: &str, want: &Value, got: &Value) -> Result<(), String> {
    if want == got {
        return Ok(());
    }
    let mut d = Vec::new();
    diff("", want, got, &mut d);
    Err(format!("{what} does not round-trip: {}", d.join("; ")))
}

/// Parses a record and checks it re-serialises to the recorded JSON.
fn round_trip<T: DeserializeOwned + Serialize>(what: &str, v: &Value) -> Result<T, String> {
    let t: T = serde_path_to_error::deserialize(v.clone())
        .map_err(|e| format!("{what} does not parse: {} at {}", e.inner(), e.path()))?;
    expect_same(what, v, &to_value(&t)?)?;
    Ok(t)
}

/// The DAG schema of a body (`{dag, schema_version, kind}`; other keys left out).
fn schema_of(body: &Value) -> Value {
    let mut m = Map::new();
    for k in ["dag", "schema_version", "kind"] {
        if let Some(v) = body.get(k) {
            m.insert(k.into(), v.clone());
        }
    }
    Value::Object(m)
}

fn parse_dag(v: &Value) -> Result<DagSchema, String> {
    DagSchema::from_value(v.clone()).map_err(|e| format!("DAG does not parse: {e}"))
}

/// A DAG in FATE's forward form: parses and is written back identically.
fn check_forwarded_dag(report: &mut Report, ex: &Exchange, what: &str, schema: &Value) {
    report.check("DAG forward form written back identically");
    match parse_dag(schema).and_then(|d| expect_same(what, schema, &d.to_value())) {
        Ok(()) => {}
        Err(e) => report.fail(ex, e),
    }
}

fn check_request(report: &mut Report, ex: &Exchange) {
    let name = route_name(&ex.method, &ex.path);
    let Some(route) = find_route(&ex.method, &ex.path) else {
        if NOT_MODELLED.contains(&(ex.method.as_str(), ex.path.as_str())) {
            *report.not_modelled.entry(name).or_default() += 1;
        } else {
            report.fail(
                ex,
                "route has no request parser (add it to ROUTES or NOT_MODELLED)",
            );
        }
        return;
    };
    let p = match build_params(ex) {
        Ok(Built::Params(p)) => p,
        Ok(Built::Truncated) => {
            *report.truncated_requests.entry(name).or_default() += 1;
            return;
        }
        Err(e) => return report.fail(ex, format!("request not readable: {e}")),
    };
    report.check("requests parsed with their route's wire type");
    let read = match (route.parse)(&p, &ex.path) {
        Ok(v) => v,
        Err(e) => return report.fail(ex, format!("request rejected: {e}")),
    };
    let Value::Object(read) = read else {
        return report.fail(ex, "parser returned no object");
    };
    for (k, v) in &read {
        match recorded(&p, k) {
            Some(sent) if !same(v, &sent) => {
                report.fail(ex, format!("{k}: sent {sent}, read {v}"));
            }
            Some(_) => {}
            None if v.is_null() || route.defaults.contains(&k.as_str()) => {}
            None => report.fail(ex, format!("{k}: read {v} but the request has no {k}")),
        }
    }
    let sent_keys = p
        .json
        .keys()
        .chain(p.query.iter().map(|(k, _)| k))
        .chain(p.form.iter().map(|(k, _)| k));
    let unread = report.unread_keys.entry(name).or_default();
    for k in sent_keys {
        if !read.contains_key(k) {
            unread.insert(k.clone());
        }
    }
    // DAGs in requests.
    let body = Value::Object(p.json.clone());
    match route.path {
        "/v2/job/submit" => {
            report.check("submitted DAGs parsed");
            let schema = &body["dag_schema"];
            match parse_dag(schema) {
                // What we write must read back as the same DAG.
                Ok(d) => match parse_dag(&d.to_value()) {
                    Ok(again) if again.to_value() == d.to_value() => {}
                    Ok(_) => report.fail(ex, "DAG changes when written and read again"),
                    Err(e) => report.fail(ex, format!("written DAG: {e}")),
                },
                Err(e) => report.fail(ex, e),
            }
        }
        "/v2/scheduler/job/create" | "/v2/partner/job/create" => {
            check_forwarded_dag(report, ex, "forwarded DAG", &schema_of(&body));
        }
        _ => {}
    }
}

/// The DAG a site forwards is the DAG it received, re-serialised with its defaults filled
/// (`api.md` §10.3.1 step 3, §13.1 step 2). Pairs each forwarded DAG with the request it was
/// sent during, and rebuilds it from that request's DAG with our types.
fn check_forward_chain(report: &mut Report, all: &[Exchange]) {
    let within = |outer: &Exchange, inner: &Exchange| {
        outer.scenario == inner.scenario
            && outer.ts_start <= inner.ts_start
            && inner.ts_end <= outer.ts_end
    };
    let body = |ex: &Exchange| ex.req_json().unwrap_or(Value::Null);
    for create in all
        .iter()
        .filter(|e| e.path == "/v2/scheduler/job/create" && e.status == 200)
    {
        // Initiator → scheduler: initiator and scheduler ids, computing partitions.
        if let Some(submit) = all
            .iter()
            .find(|s| s.path == "/v2/job/submit" && within(s, create))
        {
            report.check("submitted DAG forwarded to the scheduler reproduced");
            let own = create.req_header("initiator-party-id").unwrap_or_default();
            let result = parse_dag(&body(submit)["dag_schema"]).and_then(|mut d| {
                let conf = d.conf_mut();
                conf.initiator_party_id = Some(own.to_string());
                conf.scheduler_party_id
                    .get_or_insert_with(|| own.to_string());
                conf.computing_partitions.get_or_insert(8);
                expect_same(
                    "DAG forwarded to the scheduler",
                    &schema_of(&body(create)),
                    &d.to_value(),
                )
            });
            if let Err(e) = result {
                report.fail(create, e);
            }
        }
        // Scheduler → partners: sync type, model id and version, retries.
        let Some(job_id) = create
            .resp_json()
            .and_then(|r| r["job_id"].as_str().map(str::to_string))
        else {
            continue;
        };
        for p in all
            .iter()
            .filter(|p| p.path == "/v2/partner/job/create" && within(create, p))
        {
            report.check("scheduler's DAG forwarded to partners reproduced");
            let result = parse_dag(&schema_of(&body(create))).and_then(|mut d| {
                let conf = d.conf_mut();
                conf.sync_type.get_or_insert_with(|| "callback".into());
                if conf.model_id.as_deref().is_none_or(str::is_empty) {
                    conf.model_id = Some(job_id.clone());
                    conf.model_version = Some("0".into());
                }
                if conf.auto_retries.is_none_or(|r| r == 0) {
                    conf.auto_retries = Some(0);
                }
                expect_same(
                    "DAG forwarded to a partner",
                    &schema_of(&body(p)),
                    &d.to_value(),
                )
            });
            if let Err(e) = result {
                report.fail(p, e);
            }
        }
    }
}

fn check_response(report: &mut Report, ex: &Exchange) {
    let name = route_name(&ex.method, &ex.path);
    if ex.status == 308 {
        report.check("308 slash-merge redirects recognised");
        let target = if ex.query.is_empty() {
            ex.path.clone()
        } else {
            format!("{}?{}", ex.path, ex.query)
        };
        let html = ex.resp_body["text"]
            .as_str()
            .unwrap_or_default()
            .replace("&amp;", "&");
        let location_ok = ex
            .resp_header("location")
            .is_none_or(|l| l.ends_with(&target));
        if ex.raw_path == ex.path || !location_ok || !html.contains(&format!("{target}\"")) {
            report.fail(ex, format!("308 does not redirect to {target}"));
        }
        return;
    }
    let content_type = ex.resp_header("content-type").unwrap_or_default();
    if !content_type.starts_with("application/json") {
        report.check("downloads recognised by content type");
        if !["application/gzip", "application/x-tar"].contains(&content_type) {
            report.fail(ex, format!("unexpected reply content type {content_type}"));
        }
        return;
    }
    if is_truncated(&ex.resp_body) {
        *report.truncated_replies.entry(name).or_default() += 1;
        salvage_records(report, ex);
        return;
    }
    let Some(reply) = ex.resp_json() else {
        return report.fail(ex, "JSON reply that does not parse");
    };
    if BARE_OBJECT_ROUTES.contains(&ex.path.as_str()) {
        report.check("bare-object replies recognised");
        let ok = reply.as_object().is_some_and(|m| {
            !m.contains_key("code")
                && m.values().all(|v| {
                    v.as_array()
                        .is_some_and(|items| items.iter().all(Value::is_object))
                })
        });
        if !ok {
            report.fail(
                ex,
                format!("not a bare {{output_key: [..]}} object: {reply}"),
            );
        }
        return;
    }
    report.check("envelopes round-tripped");
    let env = match Envelope::from_value(reply.clone()) {
        Ok(e) => e,
        Err(e) => return report.fail(ex, format!("not an envelope: {e}")),
    };
    if let Err(e) = expect_same("envelope", &reply, &env.to_value()) {
        report.fail(ex, e);
    }
    check_code(report, ex, &env);
    if env.code == 0
        && let Some(data) = &env.data
    {
        check_records(report, ex, data);
    }
}

fn check_code(report: &mut Report, ex: &Exchange, env: &Envelope) {
    *report.codes.entry(env.code).or_default() += 1;
    if env.code == 0 {
        return;
    }
    let Some(code) = RetCode::from_code(env.code) else {
        return report.fail(ex, format!("code {} is not in RetCode", env.code));
    };
    let base = code.base_message();
    let details = if env.message == base {
        Some(Vec::new())
    } else {
        env.message
            .strip_prefix(base)
            .and_then(|rest| rest.strip_prefix(": "))
            .and_then(parse_details)
    };
    match details {
        Some(details) => {
            report.check("typed error messages reproduced");
            let d: Vec<(&str, &str)> = details
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let ours = code.message(&d);
            if ours != env.message {
                report.fail(
                    ex,
                    format!("RetCode::message gives {ours:?}, FATE {:?}", env.message),
                );
            }
        }
        None => {
            report
                .untyped_messages
                .insert(format!("{} {}", env.code, env.message));
        }
    }
}

/// `k1[v1],k2[v2]` → pairs. A value ends at the first `]` followed by the end or `,key[`.
fn parse_details(s: &str) -> Option<Vec<(String, String)>> {
    let is_key =
        |k: &str| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let mut out = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let (key, after) = rest.split_once('[')?;
        if !is_key(key) {
            return None;
        }
        let end = after.match_indices(']').map(|(i, _)| i).find(|&i| {
            let tail = &after[i + 1..];
            tail.is_empty()
                || tail
                    .strip_prefix(',')
                    .and_then(|t| t.split_once('['))
                    .is_some_and(|(k, _)| is_key(k))
        })?;
        out.push((key.to_string(), after[..end].to_string()));
        rest = after[end + 1..]
            .strip_prefix(',')
            .unwrap_or(&after[end + 1..]);
    }
    Some(out)
}

fn items<'a>(report: &mut Report, ex: &Exchange, v: &'a Value) -> &'a [Value] {
    match v.as_array() {
        Some(a) => a,
        None => {
            report.fail(ex, format!("expected a list, got {v}"));
            &[]
        }
    }
}

/// A paged list: `{count, data: [..]}`.
fn paged<'a>(report: &mut Report, ex: &Exchange, data: &'a Value) -> &'a Value {
    if !data["count"].is_i64() {
        report.fail(ex, "paged list without an integer count");
    }
    &data["data"]
}

fn check_records(report: &mut Report, ex: &Exchange, data: &Value) {
    match ex.path.as_str() {
        "/v2/job/query" => {
            for item in items(report, ex, data) {
                check_job_record::<JobRecord>(report, ex, item);
            }
        }
        "/v2/job/list/query" => {
            let list = paged(report, ex, data);
            for item in items(report, ex, list) {
                check_job_record::<JobListItem>(report, ex, item);
            }
        }
        "/v2/job/task/query" => {
            for item in items(report, ex, data) {
                check_task_record(report, ex, item);
            }
        }
        "/v2/job/task/list/query" => {
            let list = paged(report, ex, data);
            for item in items(report, ex, list) {
                check_task_record(report, ex, item);
            }
        }
        "/v2/provider/query" => {
            for item in items(report, ex, data) {
                record::<ProviderRecord>(report, ex, "provider record", item);
            }
        }
        "/v2/partner/task/collect" => {
            record::<Collected>(report, ex, "collected task", data);
        }
        "/v2/worker/data/tracking/query" => {
            for item in items(report, ex, data) {
                record::<DataTableInfo>(report, ex, "data table info", item);
            }
        }
        // The table APIs are not modelled, but their record is the data-table info.
        "/v2/table/query" if data.get("display").is_none() => {
            record::<DataTableInfo>(report, ex, "data table info", data);
        }
        "/v2/output/metric/query" => {
            for item in items(report, ex, data) {
                record::<MetricItem>(report, ex, "metric item", item);
            }
        }
        _ => {}
    }
}

/// The whole records at the start of a truncated record list (`{"code":0,"data":[{..},..` or
/// `{"code":0,"data":{"count":n,"data":[{..},..`): each must pass the same checks. The cut
/// one is left out.
fn salvage_records(report: &mut Report, ex: &Exchange) {
    let Some(text) = ex.resp_body["text"].as_str() else {
        return;
    };
    let Some(start) = text
        .find("\"data\":")
        .and_then(|d| text[d..].find("[{").map(|i| d + i + 1))
    else {
        return;
    };
    let mut items = Vec::new();
    let mut rest = &text[start..];
    loop {
        let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<Value>();
        let Some(Ok(item)) = stream.next() else { break };
        items.push(item);
        match rest[stream.byte_offset()..].trim_start().strip_prefix(',') {
            Some(next) => rest = next,
            None => break,
        }
    }
    for item in &items {
        match ex.path.as_str() {
            "/v2/job/task/query" | "/v2/job/task/list/query" => {
                report.check("records salvaged from truncated replies");
                check_task_record(report, ex, item);
            }
            "/v2/job/query" => {
                report.check("records salvaged from truncated replies");
                check_job_record::<JobRecord>(report, ex, item);
            }
            "/v2/job/list/query" => {
                report.check("records salvaged from truncated replies");
                check_job_record::<JobListItem>(report, ex, item);
            }
            _ => {}
        }
    }
}

fn record<T: DeserializeOwned + Serialize>(
    report: &mut Report,
    ex: &Exchange,
    what: &'static str,
    v: &Value,
) -> Option<T> {
    report.check(what);
    match round_trip::<T>(what, v) {
        Ok(t) => Some(t),
        Err(e) => {
            report.fail(ex, e);
            None
        }
    }
}

fn check_job_record<T: DeserializeOwned + Serialize>(
    report: &mut Report,
    ex: &Exchange,
    item: &Value,
) {
    record::<T>(report, ex, "job record", item);
    check_forwarded_dag(report, ex, "job record dag", &item["dag"]);
}

fn check_task_record(report: &mut Report, ex: &Exchange, item: &Value) {
    if record::<TaskRecord>(report, ex, "task record", item).is_some() {
        record::<TaskConfig>(
            report,
            ex,
            "task CONFIG (component_parameters)",
            &item["component_parameters"],
        );
    }
}

/// Metric items sent by task processes round-trip through [`MetricItem`].
fn check_metric_items(report: &mut Report, ex: &Exchange) {
    if !ex.path.starts_with("/v2/worker/metric/save") {
        return;
    }
    let Some(body) = ex.req_json() else { return };
    for item in items(report, ex, &body["data"]) {
        record::<MetricItem>(report, ex, "metric item", item);
    }
}

#[test]
fn reference_traces() {
    let all = load_traces();
    let mut report = Report::default();
    for ex in &all {
        *report.exchanges.entry(ex.scenario.clone()).or_default() += 1;
        *report
            .routes
            .entry(route_name(&ex.method, &ex.path))
            .or_default() += 1;
        check_request(&mut report, ex);
        check_metric_items(&mut report, ex);
        check_response(&mut report, ex);
    }
    check_forward_chain(&mut report, &all);
    report.print();
    if !report.failures.is_empty() {
        let shown: Vec<&String> = report.failures.iter().take(60).collect();
        panic!(
            "{} golden failures (first {}):\n{}",
            report.failures.len(),
            shown.len(),
            shown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

#[test]
fn detail_parser_reads_typed_messages() {
    assert_eq!(
        parse_details("job_id[1],role[guest],status[False]").unwrap(),
        [("job_id", "1"), ("role", "guest"), ("status", "False")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
    );
    assert_eq!(
        parse_details("detail[{'a': [1]}],x[y]").unwrap(),
        [("detail", "{'a': [1]}"), ("x", "y")].map(|(k, v)| (k.to_string(), v.to_string()))
    );
    assert!(parse_details("not typed").is_none());
}

#[test]
fn multipart_and_query_decoding() {
    let body = "--b\r\nContent-Disposition: form-data; name=\"model_id\"\r\n\r\n42\r\n--b\r\n\
                Content-Disposition: form-data; name=\"file\"; filename=\"file\"\r\n\r\nxx\r\n--b--\r\n";
    let (form, files) = parse_multipart(body, "b");
    assert_eq!(form, [("model_id".to_string(), "42".to_string())]);
    assert_eq!(files, ["file"]);
    assert_eq!(
        parse_urlencoded("path=%2Ftmp%2Fx&a=b+c&role=guest&role=host"),
        [
            ("path", "/tmp/x"),
            ("a", "b c"),
            ("role", "guest"),
            ("role", "host")
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
    );
    assert_eq!(
        merge_slashes("/v2//worker/task/status"),
        "/v2/worker/task/status"
    );
}

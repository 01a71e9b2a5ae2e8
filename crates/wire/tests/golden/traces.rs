//! Reading the traces, and turning a recorded request into [`Params`] as FATE reads it.

use std::path::PathBuf;

use serde_json::{Value, json};

use ferroflow_wire::Params;

pub struct Exchange {
    pub scenario: String,
    pub seq: i64,
    pub method: String,
    /// The path as sent (task processes send `/v2//worker/...`).
    pub raw_path: String,
    /// The path with repeated slashes merged, as FATE's router redirects to it.
    pub path: String,
    pub query: String,
    pub req_headers: Vec<(String, String)>,
    pub req_body: Value,
    pub status: i64,
    pub resp_headers: Vec<(String, String)>,
    pub resp_body: Value,
    pub ts_start: f64,
    pub ts_end: f64,
}

impl Exchange {
    pub fn from_line(line: &str) -> Result<Self, String> {
        let v: Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        let headers = |k: &str| -> Vec<(String, String)> {
            v[k].as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect()
                })
                .unwrap_or_default()
        };
        let raw_path = s("path");
        Ok(Self {
            scenario: s("scenario"),
            seq: v["seq"].as_i64().unwrap_or(-1),
            method: s("method"),
            path: merge_slashes(&raw_path),
            raw_path,
            query: s("query"),
            req_headers: headers("req_headers"),
            req_body: v["req_body"].clone(),
            status: v["status"].as_i64().unwrap_or_default(),
            resp_headers: headers("resp_headers"),
            resp_body: v["resp_body"].clone(),
            ts_start: v["ts_start"].as_f64().unwrap_or_default(),
            ts_end: v["ts_end"].as_f64().unwrap_or_default(),
        })
    }

    pub fn label(&self) -> String {
        format!(
            "{}#{} {} {}",
            self.scenario, self.seq, self.method, self.raw_path
        )
    }

    pub fn req_header(&self, name: &str) -> Option<&str> {
        header(&self.req_headers, name)
    }

    pub fn resp_header(&self, name: &str) -> Option<&str> {
        header(&self.resp_headers, name)
    }

    /// The recorded request body as JSON, if it was recorded whole.
    pub fn req_json(&self) -> Option<Value> {
        body_json(&self.req_body)
    }

    pub fn resp_json(&self) -> Option<Value> {
        body_json(&self.resp_body)
    }
}

pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A body recorded as `json`, or as `text` that holds JSON; `None` if truncated or not JSON.
pub fn body_json(body: &Value) -> Option<Value> {
    if is_truncated(body) {
        return None;
    }
    if let Some(j) = body.get("json") {
        return Some(j.clone());
    }
    serde_json::from_str(body.get("text")?.as_str()?).ok()
}

pub fn is_truncated(body: &Value) -> bool {
    body.get("truncated").and_then(Value::as_bool) == Some(true)
}

pub fn merge_slashes(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if !(c == '/' && out.ends_with('/')) {
            out.push(c);
        }
    }
    out
}

pub fn load_traces() -> Vec<Exchange> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/reference-traces");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no traces in {}", dir.display());
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("readable trace");
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let ex = Exchange::from_line(line)
                .unwrap_or_else(|e| panic!("{}:{}: {e}", f.display(), i + 1));
            out.push(ex);
        }
    }
    out
}

pub enum Built {
    Params(Params),
    /// The body was cut at 16 KiB by the recorder.
    Truncated,
}

pub fn build_params(ex: &Exchange) -> Result<Built, String> {
    let content_type = ex.req_header("content-type").unwrap_or_default();
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let is_json =
        mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"));
    let mut p = Params::default();
    let body_text = ex.req_body.get("text").and_then(Value::as_str);
    if is_json {
        if is_truncated(&ex.req_body) {
            return Ok(Built::Truncated);
        }
        let body = match (ex.req_body.get("json"), body_text) {
            (Some(j), _) => j.clone(),
            (None, Some("") | None) => json!({}),
            (None, Some(t)) => serde_json::from_str(t).map_err(|e| format!("JSON body: {e}"))?,
        };
        let Value::Object(m) = body else {
            return Err(format!("JSON body is not an object: {body}"));
        };
        p.json = m;
    } else if mime == "multipart/form-data" {
        let boundary = content_type
            .split(';')
            .filter_map(|a| a.trim().strip_prefix("boundary="))
            .next()
            .ok_or("multipart without boundary")?
            .trim_matches('"');
        let (form, files) = parse_multipart(body_text.unwrap_or_default(), boundary);
        p.form = form;
        p.files = files;
    } else if mime == "application/x-www-form-urlencoded" {
        p.form = parse_urlencoded(body_text.unwrap_or_default());
    }
    p.query = parse_urlencoded(&ex.query);
    p.headers = ex
        .req_headers
        .iter()
        .map(|(k, v)| (ferroflow_wire::params::normalize_header(k), v.clone()))
        .collect();
    Ok(Built::Params(p))
}

pub fn parse_urlencoded(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz");
                match u8::from_str_radix(hex, 16) {
                    Ok(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Form fields and file-part names of a multipart body; an incomplete last part (a
/// truncated recording) is left out.
pub fn parse_multipart(body: &str, boundary: &str) -> (Vec<(String, String)>, Vec<String>) {
    let delimiter = format!("--{boundary}");
    let mut form = Vec::new();
    let mut files = Vec::new();
    let mut parts: Vec<&str> = body.split(delimiter.as_str()).skip(1).collect();
    if !body.contains(&format!("{delimiter}--")) {
        parts.pop();
    }
    for part in parts {
        if part.starts_with("--") {
            break;
        }
        let part = part.strip_prefix("\r\n").unwrap_or(part);
        let Some((head, content)) = part.split_once("\r\n\r\n") else {
            continue;
        };
        let content = content.strip_suffix("\r\n").unwrap_or(content);
        let Some(disposition) = head
            .split("\r\n")
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))
        else {
            continue;
        };
        let attr = |name: &str| {
            disposition
                .split(';')
                .filter_map(|a| a.trim().strip_prefix(name)?.strip_prefix('='))
                .map(|v| v.trim_matches('"').to_string())
                .next()
        };
        let Some(name) = attr("name") else { continue };
        if attr("filename").is_some() {
            files.push(name);
        } else {
            form.push((name, content.to_string()));
        }
    }
    (form, files)
}

/// The value the request carried under `key`, in FATE's lookup order.
pub fn recorded(p: &Params, key: &str) -> Option<Value> {
    if let Some(v) = p.json.get(key) {
        return Some(v.clone());
    }
    let text = |pairs: &[(String, String)]| {
        let all: Vec<&String> = pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v)
            .collect();
        match all.as_slice() {
            [] => None,
            [one] => Some(Value::from(one.as_str())),
            many => Some(json!(many)),
        }
    };
    text(&p.query)
        .or_else(|| text(&p.form))
        .or_else(|| p.header(key).map(Value::from))
}

/// Whether a parsed value is the recorded one: numbers by value, text against the text of
/// what was read.
pub fn same(parsed: &Value, sent: &Value) -> bool {
    match (parsed, sent) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Number(n), Value::String(s)) => s.trim().parse::<f64>().ok() == n.as_f64(),
        (Value::Array(a), Value::String(s)) => a.len() == 1 && a[0] == *s,
        (a, b) => a == b,
    }
}

//! `/v2/log/*` and `/v2/job/log/download`: reading FATE's log layout (`api.md` §10.4,
//! `execution.md` §8). Task log files are appended by every version of a task (as upstream),
//! so they hold the logs of every run; each run's raw output is kept per version in
//! `stdout/task_entrypoint[.<version>]`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;

use serde_json::{Value, json};

use ferroflow_wire::client::model::{LogCount, LogQuery};

use super::{Error, Input, Missing, Result};
use crate::app::App;

/// A file name part that came from a request: a plain name, nothing that walks the tree.
fn plain(field: &str, v: &str) -> Result<()> {
    if v.is_empty()
        || v == "."
        || v == ".."
        || v.contains(['/', '\\'])
        || v.chars().any(char::is_control)
    {
        return Err(Error::refuse_with(
            Input::Parameter,
            format!("Invalid parameter: {field}[{v}]: not a plain name"),
        ));
    }
    Ok(())
}

/// The file a log type names, or `None` for an unknown type.
fn log_file(
    app: &App,
    log_type: &str,
    job_id: &str,
    role: Option<&str>,
    party_id: Option<&str>,
    task_name: Option<&str>,
) -> Result<Option<PathBuf>> {
    plain("job_id", job_id)?;
    let job_dir = app.config.logs_dir().join(job_id);
    let level = match log_type {
        "schedule_info" => return Ok(Some(job_dir.join("fate_flow_schedule.log"))),
        "schedule_error" => return Ok(Some(job_dir.join("fate_flow_schedule_error.log"))),
        "task_error" => "ERROR",
        "task_warning" => "WARNING",
        "task_info" => "INFO",
        "task_debug" => "DEBUG",
        _ => return Ok(None),
    };
    let (Some(role), Some(party_id)) = (role, party_id) else {
        return Err(Error::Refused(format!(
            "{log_type} needs role and party_id"
        )));
    };
    plain("role", role)?;
    plain("party_id", party_id)?;
    let party_dir = job_dir.join(role).join(party_id);
    Ok(Some(match task_name {
        Some(t) => {
            plain("task_name", t)?;
            party_dir.join(t).join("root").join(level)
        }
        None => party_dir.join(level),
    }))
}

/// An instance id other than this one cannot be reached (there is no instance registry).
fn check_instance(app: &App, instance_id: Option<&str>) -> Result<()> {
    match instance_id {
        Some(i) if i != app.config.instance_id() => {
            Err(Error::refuse(Missing::Instance, &[("instance_id", i)]))
        }
        _ => Ok(()),
    }
}

/// `/v2/log/count`: the number of lines; 0 for anything it cannot read, as upstream.
pub async fn count(app: &App, q: &LogCount) -> Result<i64> {
    crate::joblog::flush().await;
    check_instance(app, q.instance_id.as_deref())?;
    let file = log_file(
        app,
        &q.log_type,
        &q.job_id,
        q.role.as_deref(),
        q.party_id.as_deref(),
        q.task_name.as_deref(),
    );
    let Ok(Some(file)) = file else {
        return Ok(0);
    };
    Ok(crate::blocking::io(move || Ok(count_lines(&file)))
        .await
        .unwrap_or(0))
}

/// The lines of a file; 0 when it cannot be read.
fn count_lines(file: &std::path::Path) -> i64 {
    let Ok(f) = std::fs::File::open(file) else {
        return 0;
    };
    let mut n = 0i64;
    let mut r = BufReader::new(f);
    let mut buf = Vec::new();
    while r.read_until(b'\n', &mut buf).unwrap_or(0) > 0 {
        n += 1;
        buf.clear();
    }
    n
}

/// `/v2/log/query`: lines `begin..=end` (1-based; `begin` defaults to 1, `end` to the last
/// line), IPv4 addresses masked.
pub async fn query(app: &App, q: &LogQuery) -> Result<Vec<Value>> {
    crate::joblog::flush().await;
    check_instance(app, q.instance_id.as_deref())?;
    let Some(file) = log_file(
        app,
        &q.log_type,
        &q.job_id,
        Some(&q.role),
        Some(&q.party_id),
        q.task_name.as_deref(),
    )?
    else {
        return Err(Error::Refused(format!(
            "unknown log_type {:?} (schedule_info, schedule_error, task_error, task_warning, task_info, task_debug)",
            q.log_type
        )));
    };
    let (begin, end) = (q.begin.unwrap_or(1).max(1), q.end.unwrap_or(i64::MAX));
    Ok(
        crate::blocking::io(move || Ok(read_lines(&file, begin, end)))
            .await
            .unwrap_or_default(),
    )
}

/// Lines `begin..=end` of a file, masked; none when it cannot be read.
fn read_lines(file: &std::path::Path, begin: i64, end: i64) -> Vec<Value> {
    let Ok(f) = std::fs::File::open(file) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut r = BufReader::new(f);
    let mut buf = Vec::new();
    let mut line_num = 0i64;
    loop {
        buf.clear();
        match r.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        line_num += 1;
        if line_num < begin {
            continue;
        }
        if line_num > end {
            break;
        }
        let text = String::from_utf8_lossy(&buf);
        let text = text.strip_suffix('\n').unwrap_or(&text);
        out.push(json!({"line_num": line_num, "content": mask_ipv4(text)}));
    }
    out
}

/// Replaces every dotted-quad IPv4 address by `xxx.xxx.xxx.xxx`, as upstream does.
pub fn mask_ipv4(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut copied = 0;
    while i < b.len() {
        let starts =
            b[i].is_ascii_digit() && (i == 0 || !(b[i - 1].is_ascii_digit() || b[i - 1] == b'.'));
        if starts && let Some(len) = ipv4_at(&b[i..]) {
            out.push_str(&s[copied..i]);
            out.push_str("xxx.xxx.xxx.xxx");
            i += len;
            copied = i;
            continue;
        }
        i += 1;
    }
    out.push_str(&s[copied..]);
    out
}

/// The length of a `d.d.d.d` address (each part 1–3 digits, ≤ 255) at the start of `b`.
fn ipv4_at(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    for part in 0..4 {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() && i - start < 3 {
            i += 1;
        }
        if i == start {
            return None;
        }
        let n: u32 = std::str::from_utf8(&b[start..i]).ok()?.parse().ok()?;
        if n > 255 {
            return None;
        }
        if part < 3 {
            if i >= b.len() || b[i] != b'.' {
                return None;
            }
            i += 1;
        }
    }
    if i < b.len()
        && (b[i].is_ascii_digit() || (b[i] == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)))
    {
        return None;
    }
    Some(i)
}

/// `/v2/job/log/download`: `job_<job_id>_log.tar.gz` of `<LOG_DIR>/<job_id>/`.
pub async fn download(app: &App, job_id: &str) -> Result<(String, Vec<u8>)> {
    crate::joblog::flush().await;
    plain("job_id", job_id)?;
    let dir = app.config.logs_dir().join(job_id);
    if !dir.is_dir() {
        return Err(Error::refuse(
            Missing::File,
            &[("path", &dir.display().to_string())],
        ));
    }
    let bytes = crate::archive::targz_dir(&dir).map_err(|source| Error::Archive {
        kind: "archive",
        source,
    })?;
    Ok((format!("job_{job_id}_log.tar.gz"), bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_addresses_are_masked() {
        assert_eq!(
            mask_ipv4("from 127.0.0.1:9380 and 10.1.2.3."),
            "from xxx.xxx.xxx.xxx:9380 and xxx.xxx.xxx.xxx."
        );
        assert_eq!(
            mask_ipv4("version 2.2.0, 1.2.3.4.5, 300.1.1.1"),
            "version 2.2.0, 1.2.3.4.5, 300.1.1.1"
        );
        assert_eq!(
            mask_ipv4("[2026-11-27 17:26:25,984]"),
            "[2026-11-27 17:26:25,984]"
        );
    }
}

//! FATE's pipeline SDK (`ic_job.py`) against a site, and what the sites say when a job it
//! ran does not end.

use super::*;

/// FATE's pipeline SDK against the site on `port` (`ic_job.py`).
pub(crate) fn sdk(dir: &Path, port: u16, args: &[&str]) -> Value {
    try_sdk(dir, port, args).unwrap_or_else(|e| panic!("{e}"))
}

/// [`sdk`], with its failure as an error.
pub(crate) fn try_sdk(dir: &Path, port: u16, args: &[&str]) -> Result<Value, String> {
    let out_file = dir.join(format!("sdk-{}.json", uuid::Uuid::new_v4().simple()));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interconnect/ic_job.py");
    let mut cmd = Command::new(pyfate_python());
    cmd.arg(script)
        .args(args)
        .args(["--port", &port.to_string()])
        .current_dir(dir);
    if args[0] != "upload" {
        cmd.arg("--out").arg(&out_file);
    }
    let what = format!("pipeline SDK {args:?} on port {port}");
    progress(&format!("{what}: started"));
    // An upload or a two-epoch job takes one to three minutes on two busy cores; ten are a
    // hung job.
    try_run(&mut cmd, &what, Duration::from_secs(600))?;
    progress(&format!("{what}: done"));
    if args[0] == "upload" {
        return Ok(Value::Null);
    }
    Ok(serde_json::from_str(&std::fs::read_to_string(&out_file).unwrap()).unwrap())
}

/// What every site says of its jobs that have not ended, with their tasks, and the tail of
/// ferroflow sites' logs (`<dir>/*/server.log`): printed when a job does not end, so CI's
/// output says where it stopped.
pub(crate) async fn diagnose(sites: &[&str], dir: &Path) -> String {
    let mut out = String::new();
    for s in sites {
        let jobs = match http().get(format!("{s}/v2/job/query")).send().await {
            Ok(r) => r.json::<Value>().await.unwrap_or_default(),
            Err(e) => {
                out.push_str(&format!("{s}: no answer: {e}\n"));
                continue;
            }
        };
        for j in jobs["data"].as_array().into_iter().flatten() {
            let status = j["status"].as_str().unwrap_or_default();
            let job = j["job_id"].as_str().unwrap_or_default();
            out.push_str(&format!(
                "{s}: job {job} {} {}: {status}\n",
                j["role"], j["party_id"]
            ));
            if ["success", "canceled"].contains(&status) {
                continue;
            }
            for t in task_rows(s, job).await {
                if status == "failed" && t["status"] != "failed" {
                    continue;
                }
                let error = t["error_report"].as_str().unwrap_or_default();
                out.push_str(&format!(
                    "    task {} {} {} v{}: {}{}\n",
                    t["task_name"],
                    t["role"],
                    t["party_id"],
                    t["task_version"],
                    t["status"],
                    if error.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", support::tail(error, 15))
                    }
                ));
            }
        }
    }
    for site in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let log = site.path().join("server.log");
        if let Ok(text) = std::fs::read_to_string(&log) {
            out.push_str(&format!(
                "{} (tail):\n{}\n",
                log.display(),
                support::tail(&text, 40)
            ));
        }
    }
    out
}

pub(crate) fn upload_both(dir: &Path, guest_port: u16, host_port: u16) {
    upload(dir, guest_port, "guest", 4);
    upload(dir, host_port, "host", 4);
}

/// A party's table (`guest` or `host`), uploaded on the site on `port` in `partitions`
/// partitions (again: an upload replaces the table).
pub(crate) fn upload(dir: &Path, port: u16, party: &str, partitions: u32) {
    let name = format!("breast_hetero_{party}");
    let csv = data(&format!("{name}.csv"));
    let partitions = partitions.to_string();
    let mut args = vec![
        "upload",
        "--csv",
        csv.to_str().unwrap(),
        "--name",
        &name,
        "--partitions",
        &partitions,
    ];
    if party == "guest" {
        args.push("--label");
    }
    sdk(dir, port, &args);
}

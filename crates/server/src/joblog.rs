//! A job's scheduling log, `<LOG_DIR>/<job_id>/fate_flow_schedule.log` (FATE's layout, read by
//! `/v2/log/query?log_type=schedule_info`): what the scheduler decided for the job and why it
//! waits, in plain lines.

use std::io::Write;

use ferroflow_core::id::JobId;

use crate::app::App;

pub fn write(app: &App, job_id: &JobId, line: &str) {
    let dir = app.config.logs_dir().join(job_id.as_str());
    let stamp = chrono::Local::now().format("%Y-%m-%d %H:%M:%S%.3f");
    let result = std::fs::create_dir_all(&dir).and_then(|_| {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("fate_flow_schedule.log"))?;
        writeln!(f, "[INFO] [{stamp}] [{}] {line}", app.config.party_id)
    });
    if let Err(e) = result {
        tracing::warn!(job_id = %job_id, error = %e, "cannot write the job's schedule log");
    }
}

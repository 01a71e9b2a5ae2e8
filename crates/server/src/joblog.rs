//! A job's scheduling log, `<LOG_DIR>/<job_id>/fate_flow_schedule.log` (FATE's layout, read by
//! `/v2/log/query?log_type=schedule_info`): what the scheduler decided for the job and why it
//! waits, in plain lines.
//!
//! Lines are written on every scheduling decision, so they never touch the async runtime: one
//! writer thread appends them in the order they were written, a batch at a time (each file
//! opened once per batch). Readers call [`flush`] first to see every line written before.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::mpsc;

use ferroflow_core::id::JobId;

use crate::app::App;

const FILE: &str = "fate_flow_schedule.log";

enum Msg {
    Line { dir: PathBuf, text: String },
    Flush(tokio::sync::oneshot::Sender<()>),
}

fn writer() -> &'static mpsc::Sender<Msg> {
    static WRITER: OnceLock<mpsc::Sender<Msg>> = OnceLock::new();
    WRITER.get_or_init(|| {
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("ferroflow-joblog".into())
            .spawn(move || run(rx))
            .expect("the job log writer thread starts");
        tx
    })
}

/// Appends one line to the job's schedule log (timestamped now, written soon after).
pub fn write(app: &App, job_id: &JobId, line: &str) {
    let dir = app.config.logs_dir().join(job_id.as_str());
    let stamp = chrono::Local::now().format("%Y-%m-%d %H:%M:%S%.3f");
    let text = format!("[INFO] [{stamp}] [{}] {line}\n", app.config.party_id);
    // The thread never ends, so the channel never closes.
    let _ = writer().send(Msg::Line { dir, text });
}

/// Waits until every line written before this call is in its file.
pub async fn flush() {
    let (tx, rx) = tokio::sync::oneshot::channel();
    if writer().send(Msg::Flush(tx)).is_ok() {
        let _ = rx.await;
    }
}

fn run(rx: mpsc::Receiver<Msg>) {
    while let Ok(first) = rx.recv() {
        // Everything queued meanwhile goes in the same batch, in order per file.
        let mut lines: BTreeMap<PathBuf, String> = BTreeMap::new();
        let mut flushes = Vec::new();
        for msg in std::iter::once(first).chain(rx.try_iter()) {
            match msg {
                Msg::Line { dir, text } => lines.entry(dir).or_default().push_str(&text),
                Msg::Flush(done) => flushes.push(done),
            }
        }
        for (dir, text) in lines {
            let result = std::fs::create_dir_all(&dir).and_then(|_| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.join(FILE))?
                    .write_all(text.as_bytes())
            });
            if let Err(e) = result {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot write the job's schedule log");
            }
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

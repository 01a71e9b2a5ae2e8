//! `demo_sleep`: waits, then passes its first input through — a task that takes time (to test
//! stopping, timeouts and the resource queue) and, with `fail_times`, fails the first runs (to
//! test retries and reruns: each rerun has a higher `task_version`).
//!
//! The wait is a tokio timer and no signal handler is installed, so SIGTERM and SIGKILL end the
//! process at once, as the site's stop expects.

use std::time::Duration;

use super::Error;
use super::task::Task;

pub const INPUT_DATA: &str = "input_data";
pub const OUTPUT_DATA: &str = "output_data";

pub async fn run(task: &Task) -> Result<(), Error> {
    let p = task.params();
    let seconds = p.f64("seconds", 0.0)?;
    if seconds < 0.0 {
        return Err(Error::Param {
            name: "seconds".into(),
            reason: "must not be negative".into(),
        });
    }
    let fail_times = p.u64("fail_times", 0)?;
    let version: u64 = task
        .config
        .task_version
        .trim()
        .parse()
        .map_err(|_| Error::Data {
            reason: format!(
                "task_version `{}` is not a number",
                task.config.task_version
            ),
        })?;

    let input = task.data_input(INPUT_DATA, true).await?;
    tracing::info!(seconds, "sleeping");
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;

    if version < fail_times {
        return Err(Error::Requested(format!(
            "failing as asked: task_version {version} < fail_times {fail_times}"
        )));
    }
    match input.as_ref().and_then(|i| i.first()) {
        Some(info) => {
            task.pass_through(OUTPUT_DATA, info).await?;
        }
        None => tracing::info!("no input, no output"),
    }
    Ok(())
}

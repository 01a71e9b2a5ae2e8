//! `demo_fail`: fails, with parameter `message` as the reason — the failure path of a job
//! (status `failed`, the message in the task's `error_report`) on demand. `fail: false` makes
//! it succeed, so a rerun with changed parameters can fix a failed job.

use super::Error;
use super::task::Task;

const DEFAULT_MESSAGE: &str = "demo_fail fails by design";

pub async fn run(task: &Task) -> Result<(), Error> {
    if !task.params().bool("fail", true)? {
        tracing::info!("fail: false, succeeding");
        return Ok(());
    }
    let message = task
        .params()
        .string("message")?
        .unwrap_or_else(|| DEFAULT_MESSAGE.into());
    Err(Error::Requested(message))
}

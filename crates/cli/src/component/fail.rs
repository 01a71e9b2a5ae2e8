//! `demo_fail`: always fails, with parameter `message` as the reason — the failure path of a
//! job (status `failed`, the message in the task's `error_report`) on demand.

use super::Error;
use super::task::Task;

const DEFAULT_MESSAGE: &str = "demo_fail fails by design";

pub async fn run(task: &Task) -> Result<(), Error> {
    let message = task
        .params()
        .string("message")?
        .unwrap_or_else(|| DEFAULT_MESSAGE.into());
    Err(Error::Requested(message))
}

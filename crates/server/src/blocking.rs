//! File work off the async runtime. The site's files (task directories, logs, model archives,
//! the kept DAG) are read and written with `std::fs` on tokio's blocking pool, never on a
//! runtime worker: two cores serve every request and scheduling step, and a slow disk must
//! not stall them.

use std::io;

/// Runs `f` on the blocking pool. A panic in `f` comes back as an error, not as a panic of
/// the caller.
pub async fn io<T, F>(f: F) -> io::Result<T>
where
    F: FnOnce() -> io::Result<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e)))
}

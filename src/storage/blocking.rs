//! Blocking file I/O called from async code: the log's writes, rolls, creation,
//! deletion and checkpoints are plain `std::fs` calls. Callers on the runtime (the
//! append path, reconciling replicas with metadata) run them through [`blocking`];
//! periodic work (retention, flushes, checkpoints) uses `spawn_blocking`.

/// Runs blocking file I/O on a runtime worker without stalling the tasks queued behind
/// it: the multi-thread runtime hands them to another thread (`block_in_place`). On a
/// current-thread runtime (unit tests) or outside one, it just runs.
pub fn blocking<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

//! Whether a log directory is usable: Kafka's `LogDirFailureChannel` for one directory.
//!
//! Owns: the first I/O error seen on the directory's files, which takes the directory
//! offline for good (until the process restarts), and telling the broker about it.
//! Must never: recover by itself: after an I/O error the files may not match what the
//! logs hold in memory, so only a restart (which runs recovery) brings them back.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::watch;

use super::error::StorageError;

/// The health of one log directory, shared by its `LogManager` and every log in it.
pub struct LogDirHealth {
    dir: PathBuf,
    offline: AtomicBool,
    failure: watch::Sender<Option<String>>,
}

impl LogDirHealth {
    pub fn new(dir: &Path) -> Self {
        LogDirHealth {
            dir: dir.to_path_buf(),
            offline: AtomicBool::new(false),
            failure: watch::Sender::new(None),
        }
    }

    pub fn is_offline(&self) -> bool {
        self.offline.load(Ordering::Acquire)
    }

    /// Becomes `Some(reason)` when the directory goes offline.
    pub fn subscribe(&self) -> watch::Receiver<Option<String>> {
        self.failure.subscribe()
    }

    /// `LogDirOffline` once the directory is offline.
    pub(crate) fn check(&self) -> Result<(), StorageError> {
        if !self.is_offline() {
            return Ok(());
        }
        Err(StorageError::LogDirOffline {
            dir: self.dir.clone(),
            reason: self.failure.borrow().clone().unwrap_or_default(),
        })
    }

    /// Takes the directory offline if `r` failed with an I/O error.
    pub(crate) fn note<T>(&self, r: Result<T, StorageError>) -> Result<T, StorageError> {
        if let Err(e @ (StorageError::Io(_) | StorageError::IoAt { .. })) = &r {
            self.fail(e.to_string());
        }
        r
    }

    /// Takes the directory offline (the first reason is kept).
    pub(crate) fn fail(&self, reason: String) {
        if self.offline.swap(true, Ordering::AcqRel) {
            return;
        }
        log::error!(
            "log directory {} is offline: {reason}; its partitions answer KAFKA_STORAGE_ERROR \
             until the broker is restarted (after the disk is fixed, recovery checks every log)",
            self.dir.display()
        );
        self.failure.send_replace(Some(reason));
    }
}

//! The storage layer's single error type.
//!
//! Owns: every failure storage can report, with the file involved where it matters.
//! Must never: carry Kafka error codes (protocol maps these variants to codes).

use std::path::PathBuf;

use thiserror::Error;

use crate::format::batch::BatchError;

/// Errors returned by the storage layer.
#[derive(Error, Debug)]
pub enum StorageError {
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("I/O error on {path}: {source}")]
    IoAt {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("offset {offset} out of range [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        offset: i64,
        log_start_offset: i64,
        log_end_offset: i64,
    },
    #[error("corrupt record batch: {0}")]
    CorruptBatch(#[from] BatchError),
    #[error(
        "out of order sequence for producer {producer_id}: expected {expected}, got {received}"
    )]
    OutOfOrderSequence {
        producer_id: i64,
        expected: i32,
        received: i32,
    },
    #[error("invalid producer epoch {epoch} for producer {producer_id} (current {current})")]
    InvalidProducerEpoch {
        producer_id: i64,
        epoch: i16,
        current: i16,
    },
    #[error("unknown producer id {producer_id}")]
    UnknownProducerId { producer_id: i64 },
    #[error("record batch of {size} bytes exceeds max.message.bytes {max}")]
    RecordTooLarge { size: usize, max: usize },
    #[error("append of {size} bytes exceeds segment.bytes {segment_bytes}")]
    RecordBatchTooLarge { size: usize, segment_bytes: u64 },
    #[error("invalid record: {0}")]
    InvalidRecord(String),
    #[error("invalid topic name {0:?}")]
    InvalidTopic(String),
    #[error("log for {0} has been deleted or closed")]
    LogClosed(String),
    #[error("log directory {dir} is offline: {reason}")]
    LogDirOffline { dir: PathBuf, reason: String },
    #[error("the log cleaner was stopped")]
    CleanerStopped,
    #[error("partition {partition} is offline: it failed to load: {reason}")]
    PartitionOffline { partition: String, reason: String },
    #[error("malformed checkpoint file {path}: {reason}")]
    BadCheckpoint { path: PathBuf, reason: String },
}

/// Attaches a path to an `io::Result`.
pub(crate) trait IoContext<T> {
    fn at(self, path: &std::path::Path) -> Result<T, StorageError>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: &std::path::Path) -> Result<T, StorageError> {
        self.map_err(|source| StorageError::IoAt {
            path: path.to_path_buf(),
            source,
        })
    }
}

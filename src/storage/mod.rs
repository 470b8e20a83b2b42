//! Storage: Kafka's on-disk log, in Kafka's own layout.
//!
//! Owns: `<logdir>/<topic>-<partition>/` directories of segments (`<base>.log`,
//! `.index`, `.timeindex`) and `leader-epoch-checkpoint`, offset assignment,
//! idempotent-producer checks, segment roll, retention, compaction, flushing, checkpoints
//! (`recovery-point-offset-checkpoint`, `log-start-offset-checkpoint`,
//! `replication-offset-checkpoint`, `cleaner-offset-checkpoint`), crash recovery, and the primitives replication
//! builds on (leader epochs, follower append, truncation, high watermark).
//! Must never: import `kafka_protocol`, know Kafka error codes, read a clock (time is
//! passed in), decode records on the produce/fetch path, or panic on bytes from disk or
//! the wire. Storage is synchronous: no `.await`, one `std::sync::Mutex` per partition.
//!
//! The batch format itself (header, CRC, record iteration) is `crate::format`.
//!
//! Codemap: `index` (index files), `segment` (one segment), `producer` (idempotence),
//! `partition` (append/roll/flush/retention of one partition), `replica` (epochs,
//! follower append, truncation, high watermark, log-start advance), `epoch` (the leader
//! epoch cache), `read` (fetch and timestamp lookups), `load` (open + recovery of a
//! partition dir), `checkpoint` (checkpoint files), `manager` (`LogManager`, all
//! partitions of one log dir, and those that failed to load), `clean` (one compaction
//! pass over one log), `cleaner` (which log to clean, `cleaner-offset-checkpoint`),
//! `health` (a log dir taken offline by an I/O error).

mod blocking;
mod checkpoint;
mod clean;
mod cleaner;
mod epoch;
mod error;
mod health;
mod index;
mod load;
mod manager;
mod partition;
mod producer;
mod read;
mod replica;
mod segment;

#[cfg(test)]
mod tests_compaction;
#[cfg(test)]
mod tests_log;
#[cfg(test)]
mod tests_read;
#[cfg(test)]
mod tests_recovery;
#[cfg(test)]
mod tests_replica;

pub use crate::format::batch::Compression;
pub use crate::format::{BatchError, BatchHeader, FileSlice};
pub use blocking::blocking;
pub use clean::{CleanStats, Cleanable};
pub use cleaner::CleanerConfig;
pub use epoch::{EpochEntry, UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET};
pub use error::StorageError;
pub use health::LogDirHealth;
pub use manager::LogManager;
pub use partition::PartitionLog;

use std::fmt;

/// A topic partition.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }

    /// Directory name `<topic>-<partition>`.
    pub fn dir_name(&self) -> String {
        format!("{}-{}", self.topic, self.partition)
    }

    /// Parses a directory name, splitting at the last '-' (topics may contain '-').
    pub fn parse_dir_name(name: &str) -> Option<TopicPartition> {
        let (topic, part) = name.rsplit_once('-')?;
        let partition: i32 = part.parse().ok()?;
        if topic.is_empty() || partition < 0 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(TopicPartition::new(topic, partition))
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// Which timestamp a topic stores (`message.timestamp.type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

/// Per-topic log settings (Kafka topic config names in comments).
#[derive(Clone, Debug, PartialEq)]
pub struct LogConfig {
    /// segment.bytes
    pub segment_bytes: u64,
    /// segment.ms
    pub segment_ms: i64,
    /// retention.ms; -1 = unlimited
    pub retention_ms: i64,
    /// retention.bytes (per partition); -1 = unlimited
    pub retention_bytes: i64,
    /// cleanup.policy includes `delete`: only then do retention.ms and retention.bytes
    /// delete segments (a `compact`-only log keeps its records however old).
    pub delete_retention: bool,
    /// index.interval.bytes
    pub index_interval_bytes: u32,
    /// max.message.bytes (largest batch)
    pub max_message_bytes: i32,
    /// message.timestamp.type
    pub timestamp_type: TimestampType,
    /// flush.messages; i64::MAX = never fsync per append
    pub flush_messages: i64,
    /// flush.ms; i64::MAX = never
    pub flush_ms: i64,
    /// file.delete.delay.ms (segments are deleted immediately; kept for DescribeConfigs)
    pub file_delete_delay_ms: i64,
    /// message.timestamp.before.max.ms (checked by produce validation, CreateTime only)
    pub timestamp_before_max_ms: i64,
    /// message.timestamp.after.max.ms (checked by produce validation, CreateTime only)
    pub timestamp_after_max_ms: i64,
    /// min.insync.replicas (checked by acks=all produce, not by storage)
    pub min_insync_replicas: i64,
    /// cleanup.policy includes `compact`: the log cleaner keeps the latest record per key.
    pub compact: bool,
    /// delete.retention.ms: how long the cleaner keeps tombstones (and, in Kafka,
    /// transaction markers) once it has seen them
    pub delete_retention_ms: i64,
    /// min.cleanable.dirty.ratio
    pub min_cleanable_dirty_ratio: f64,
    /// min.compaction.lag.ms: records younger than this are not cleaned
    pub min_compaction_lag_ms: i64,
    /// max.compaction.lag.ms: records older than this are cleaned whatever the ratio
    pub max_compaction_lag_ms: i64,
    /// compression.type: the codec stored batches get (`None`: `producer`, as sent);
    /// applied by produce validation, which recompresses a batch sent in another codec
    pub compression: Option<Compression>,
    /// compression.<codec>.level of that codec (`None`: the codec's default)
    pub compression_level: Option<i32>,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1024 * 1024 * 1024,
            segment_ms: 7 * 24 * 60 * 60 * 1000,
            retention_ms: 7 * 24 * 60 * 60 * 1000,
            retention_bytes: -1,
            delete_retention: true,
            index_interval_bytes: 4096,
            max_message_bytes: 1_048_588,
            timestamp_type: TimestampType::CreateTime,
            flush_messages: i64::MAX,
            flush_ms: i64::MAX,
            file_delete_delay_ms: 60_000,
            timestamp_before_max_ms: i64::MAX,
            timestamp_after_max_ms: 3_600_000,
            min_insync_replicas: 1,
            compact: false,
            delete_retention_ms: 86_400_000,
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            compression: None,
            compression_level: None,
        }
    }
}

/// Result of [`PartitionLog::append`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendInfo {
    pub base_offset: i64,
    pub last_offset: i64,
    /// The broker time used for LogAppendTime topics; -1 otherwise.
    pub log_append_time: i64,
    pub log_start_offset: i64,
    /// True when the batch was a retried duplicate and nothing was appended.
    pub duplicate: bool,
}

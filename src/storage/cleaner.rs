//! The log cleaner's choices across one log directory (Kafka's `LogCleanerManager`):
//! which compacted log to clean next (the dirtiest one past its
//! `min.cleanable.dirty.ratio`, or one whose `max.compaction.lag.ms` has passed), and
//! `cleaner-offset-checkpoint` (each log's first dirty offset, Kafka's file format).
//!
//! Owns: the cleaner checkpoints, logs that failed to clean (skipped until restart, as
//! Kafka marks them uncleanable), `log.cleaner.*` settings as storage sees them.
//! Must never: run a timer or sleep (the broker's cleaner task drives `clean_dirtiest`
//! and throttles through its `io` callback).

use std::collections::{HashMap, HashSet};

use super::TopicPartition;
use super::checkpoint;
use super::clean::{CleanStats, PassLimits};
use super::error::StorageError;
use super::manager::LogManager;

/// Kafka's cleaner checkpoint file, in the log directory.
pub(crate) const CLEANER_CHECKPOINT_FILE: &str = "cleaner-offset-checkpoint";

/// Bytes per offset-map entry as Kafka counts them (an MD5 digest and an offset).
const MAP_ENTRY_BYTES: f64 = 24.0;

/// The `log.cleaner.*` broker settings.
#[derive(Debug, Clone, PartialEq)]
pub struct CleanerConfig {
    /// log.cleaner.enable
    pub enable: bool,
    /// log.cleaner.threads (the offset map memory is shared among them)
    pub threads: i32,
    /// log.cleaner.dedupe.buffer.size: memory for the offset maps
    pub dedupe_buffer_size: i64,
    /// log.cleaner.io.buffer.load.factor
    pub io_buffer_load_factor: f64,
    /// log.cleaner.io.buffer.size
    pub io_buffer_size: i32,
    /// log.cleaner.io.max.bytes.per.second
    pub io_max_bytes_per_second: f64,
    /// log.cleaner.backoff.ms: the wait when no log needs cleaning
    pub backoff_ms: i64,
}

impl Default for CleanerConfig {
    fn default() -> Self {
        CleanerConfig {
            enable: true,
            threads: 1,
            dedupe_buffer_size: 128 * 1024 * 1024,
            io_buffer_load_factor: 0.9,
            io_buffer_size: 512 * 1024,
            io_max_bytes_per_second: f64::MAX,
            backoff_ms: 15_000,
        }
    }
}

impl CleanerConfig {
    fn limits(&self) -> PassLimits {
        let per_thread = self.dedupe_buffer_size as f64 / f64::from(self.threads.max(1));
        PassLimits {
            map_capacity: (per_thread * self.io_buffer_load_factor / MAP_ENTRY_BYTES).max(1.0)
                as usize,
            io_buffer_size: self.io_buffer_size.max(1024) as usize,
        }
    }
}

/// The cleaner's bookkeeping in a [`LogManager`].
#[derive(Default)]
pub(crate) struct CleanerState {
    /// First dirty offset per log (`cleaner-offset-checkpoint`).
    pub points: HashMap<TopicPartition, i64>,
    /// Logs a pass failed on (corrupt data): not cleaned again until a restart.
    pub uncleanable: HashSet<TopicPartition>,
    /// Logs a cleaner thread is cleaning now (no other thread picks them).
    pub in_progress: HashSet<TopicPartition>,
}

impl LogManager {
    /// Cleans the dirtiest compacted log that wants cleaning, if any: its partition and
    /// what the pass did. `io` is called with the byte count of each read and write, and
    /// stops the pass by answering `false`.
    pub fn clean_dirtiest(
        &self,
        cfg: &CleanerConfig,
        now_ms: i64,
        io: &mut dyn FnMut(u64) -> bool,
    ) -> Result<Option<(TopicPartition, CleanStats)>, StorageError> {
        self.health().check()?;
        // the log map is read before the cleaner state is locked (`delete` takes them in
        // the other order)
        let logs = self.all();
        let mut st = self.cleaner_state();
        let best = logs
            .into_iter()
            .filter(|log| {
                let tp = log.topic_partition();
                !st.uncleanable.contains(tp) && !st.in_progress.contains(tp)
            })
            .filter_map(|log| {
                let c = log.cleanable(st.points.get(log.topic_partition()).copied(), now_ms)?;
                c.wanted().then_some((log, c))
            })
            .max_by(|(_, a), (_, b)| {
                (a.overdue, a.ratio())
                    .partial_cmp(&(b.overdue, b.ratio()))
                    .unwrap_or(std::cmp::Ordering::Equal)
            });
        let Some((log, c)) = best else {
            return Ok(None);
        };
        let tp = log.topic_partition().clone();
        st.in_progress.insert(tp.clone());
        drop(st);
        let result = self.clean_one(&log, &c, cfg, now_ms, io);
        self.cleaner_state().in_progress.remove(&tp);
        result
    }

    fn clean_one(
        &self,
        log: &super::PartitionLog,
        c: &super::Cleanable,
        cfg: &CleanerConfig,
        now_ms: i64,
        io: &mut dyn FnMut(u64) -> bool,
    ) -> Result<Option<(TopicPartition, CleanStats)>, StorageError> {
        let tp = log.topic_partition().clone();
        log::debug!(
            "cleaning {tp}: offsets {}..{}, dirty ratio {:.2}",
            c.first_dirty,
            c.end,
            c.ratio()
        );
        match log.clean(c, cfg.limits(), now_ms, io) {
            Ok(done) if done.first_dirty == c.first_dirty => Ok(None),
            Ok(done) => {
                self.cleaner_state()
                    .points
                    .insert(tp.clone(), done.first_dirty);
                self.write_cleaner_checkpoint()?;
                log::info!(
                    "cleaned {tp}: {} segment(s) into {}, {} of {} records kept, {} → {} bytes; first dirty offset {}",
                    done.stats.segments_in,
                    done.stats.segments_out,
                    done.stats.records_kept,
                    done.stats.records_read,
                    done.stats.bytes_read,
                    done.stats.bytes_written,
                    done.first_dirty
                );
                Ok(Some((tp, done.stats)))
            }
            // stopped, or the log was deleted meanwhile: nothing to remember
            Err(StorageError::CleanerStopped | StorageError::LogClosed(_)) => Ok(None),
            Err(
                e @ (StorageError::Io(_)
                | StorageError::IoAt { .. }
                | StorageError::LogDirOffline { .. }),
            ) => Err(e),
            Err(e) => {
                log::error!(
                    "{tp}: cleaning failed, the log is not cleaned again until a restart: {e}"
                );
                self.cleaner_state().uncleanable.insert(tp);
                Ok(None)
            }
        }
    }

    /// The cleaner checkpoint of `tp` (its first dirty offset), if it has one.
    pub fn cleaner_checkpoint(&self, tp: &TopicPartition) -> Option<i64> {
        self.cleaner_state().points.get(tp).copied()
    }

    /// Writes `cleaner-offset-checkpoint` for the logs that still exist.
    pub(crate) fn write_cleaner_checkpoint(&self) -> Result<(), StorageError> {
        let live: HashSet<TopicPartition> = self.partitions().into_iter().collect();
        let mut entries: Vec<(TopicPartition, i64)> = {
            let mut st = self.cleaner_state();
            st.points.retain(|tp, _| live.contains(tp));
            st.points.iter().map(|(tp, o)| (tp.clone(), *o)).collect()
        };
        entries.sort();
        let _guard = self.checkpoint_guard();
        self.health().note(checkpoint::write(
            &self.dir().join(CLEANER_CHECKPOINT_FILE),
            &entries,
        ))
    }
}

//! One partition's log: offset assignment, append, roll, flush and retention.
//!
//! Owns: the segment map of one `<topic>-<partition>` directory behind one mutex, the
//! log start / end offsets, the recovery point, the high watermark, the leader epoch
//! cache, producer state and the LEO / high-watermark watch channels. Replication
//! operations (follower append, truncation, epochs, HW) live in `replica.rs`.
//! Must never: hold its mutex while waiting on anything but local file I/O, decode
//! records, or read a clock (every time comes in as `now_ms`). Reads live in `read.rs`.

use std::collections::BTreeMap;
use std::io::IoSlice;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

use super::epoch::LeaderEpochCache;
use super::error::StorageError;
use super::health::LogDirHealth;
use super::producer::ProducerState;
use super::segment::{Segment, SyncHandles};
use super::{AppendInfo, LogConfig, TimestampType, TopicPartition};
use crate::format::batch::{self, ATTR_LOG_APPEND_TIME, BatchHeader, HEADER_LEN};

/// Mutable state of a partition, guarded by `PartitionLog::inner`.
pub(crate) struct Inner {
    pub config: LogConfig,
    /// Segments by base offset; never empty (the last one is the active segment).
    pub segments: BTreeMap<i64, Segment>,
    pub log_start: i64,
    pub next_offset: i64,
    /// Everything below this offset is known to be fsynced.
    pub recovery_point: i64,
    pub producers: ProducerState,
    pub unflushed_messages: i64,
    pub last_flush_ms: i64,
    pub closed: bool,
    /// Rolled segments not yet fsynced, with the offset the recovery point may advance
    /// to once they are (Kafka flushes rolled segments asynchronously too).
    pub pending_flush: Vec<(i64, SyncHandles)>,
    /// Leader epochs of this partition (`leader-epoch-checkpoint`).
    pub epochs: LeaderEpochCache,
    /// The high watermark as last set (or loaded); while `hw_follows_leo` it tracks the
    /// log end offset on every change. Read it through [`Inner::high_watermark`].
    pub high_watermark: i64,
    /// Single-replica mode: the high watermark is the log end offset.
    pub hw_follows_leo: bool,
}

impl Inner {
    pub fn active(&self) -> Option<&Segment> {
        self.segments.values().next_back()
    }
    fn active_mut(&mut self) -> Option<&mut Segment> {
        self.segments.values_mut().next_back()
    }
    pub(super) fn size(&self) -> u64 {
        self.segments.values().map(|s| s.size).sum()
    }

    /// The effective high watermark, within `[log_start, next_offset]`.
    pub fn high_watermark(&self) -> i64 {
        if self.hw_follows_leo {
            self.next_offset
        } else {
            self.high_watermark
                .min(self.next_offset)
                .max(self.log_start)
        }
    }

    /// Re-establishes the HW invariants after the log start or end moved: tracks the log
    /// end in single-replica mode, otherwise clamps into `[log_start, next_offset]`.
    pub(super) fn fix_high_watermark(&mut self) {
        self.high_watermark = if self.hw_follows_leo {
            self.next_offset
        } else {
            self.high_watermark()
        };
    }
}

/// The log of one topic partition. Shared as `Arc<PartitionLog>`.
pub struct PartitionLog {
    pub(super) tp: TopicPartition,
    pub(super) dir: PathBuf,
    pub(super) inner: Mutex<Inner>,
    /// The log directory's health: an I/O error here takes every log of it offline.
    pub(super) health: Arc<LogDirHealth>,
    log_end: AtomicI64,
    log_start: AtomicI64,
    size: AtomicU64,
    high_watermark: AtomicI64,
    notify: watch::Sender<i64>,
    hw_notify: watch::Sender<i64>,
}

fn missing_segment(tp: &TopicPartition) -> StorageError {
    StorageError::LogClosed(format!("{tp} has no active segment"))
}

impl PartitionLog {
    pub(super) fn from_parts(
        tp: TopicPartition,
        dir: PathBuf,
        inner: Inner,
        health: Arc<LogDirHealth>,
    ) -> PartitionLog {
        let (notify, _) = watch::channel(inner.next_offset);
        let (hw_notify, _) = watch::channel(inner.high_watermark());
        let log = PartitionLog {
            tp,
            dir,
            log_end: AtomicI64::new(inner.next_offset),
            log_start: AtomicI64::new(inner.log_start),
            size: AtomicU64::new(inner.size()),
            high_watermark: AtomicI64::new(inner.high_watermark()),
            inner: Mutex::new(inner),
            health,
            notify,
            hw_notify,
        };
        log.publish(&log.lock());
        log
    }

    /// A brand-new empty log in `dir` (which must exist).
    pub(super) fn create_new(
        tp: TopicPartition,
        dir: &Path,
        config: LogConfig,
        health: Arc<LogDirHealth>,
    ) -> Result<PartitionLog, StorageError> {
        let mut segments = BTreeMap::new();
        segments.insert(0, Segment::create(dir, 0, None)?);
        let inner = Inner {
            config,
            segments,
            log_start: 0,
            next_offset: 0,
            recovery_point: 0,
            producers: ProducerState::default(),
            unflushed_messages: 0,
            last_flush_ms: 0,
            closed: false,
            pending_flush: Vec::new(),
            epochs: LeaderEpochCache::empty(dir),
            high_watermark: 0,
            hw_follows_leo: true,
        };
        inner.epochs.remove_file()?;
        Ok(PartitionLog::from_parts(
            tp,
            dir.to_path_buf(),
            inner,
            health,
        ))
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Publishes the lock-free copies; wakes high-watermark watchers if it moved.
    pub(super) fn publish(&self, inner: &Inner) {
        self.log_start.store(inner.log_start, Ordering::Release);
        self.size.store(inner.size(), Ordering::Release);
        self.log_end.store(inner.next_offset, Ordering::Release);
        let hw = inner.high_watermark();
        self.high_watermark.store(hw, Ordering::Release);
        self.hw_notify.send_if_modified(|v| {
            let changed = *v != hw;
            *v = hw;
            changed
        });
    }

    /// Wakes log-end watchers (call after releasing the partition lock).
    pub(super) fn notify_log_end(&self, leo: i64) {
        self.notify.send_replace(leo);
    }

    pub fn topic_partition(&self) -> &TopicPartition {
        &self.tp
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log_start.load(Ordering::Acquire)
    }

    pub fn log_end_offset(&self) -> i64 {
        self.log_end.load(Ordering::Acquire)
    }

    pub fn size_bytes(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }

    /// Watches the log end offset (every append and truncation).
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.notify.subscribe()
    }

    /// The high watermark: the log end offset while [`set_hw_follows_leo`] is on (the
    /// default), otherwise the last value set, within `[log start, log end]`.
    ///
    /// [`set_hw_follows_leo`]: PartitionLog::set_hw_follows_leo
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark.load(Ordering::Acquire)
    }

    /// Watches the high watermark (consumer fetches wait on this, followers on
    /// [`subscribe`](PartitionLog::subscribe)).
    pub fn subscribe_high_watermark(&self) -> watch::Receiver<i64> {
        self.hw_notify.subscribe()
    }

    pub fn config(&self) -> LogConfig {
        self.lock().config.clone()
    }

    pub(super) fn set_config(&self, config: LogConfig) {
        self.lock().config = config;
    }

    pub(super) fn recovery_point(&self) -> i64 {
        self.lock().recovery_point
    }

    /// Appends validated v2 batches: assigns offsets, stamps the current leader epoch
    /// (the latest assigned one; with none, epoch 0 is recorded at the log start), applies
    /// LogAppendTime, checks idempotent-producer sequences, rolls if needed, writes and
    /// indexes. `batches` is not modified: each batch's patched header is written from a
    /// copy, followed by the batch's own records.
    pub fn append(&self, batches: &[u8], now_ms: i64) -> Result<AppendInfo, StorageError> {
        self.append_with_epoch(batches, None, now_ms)
    }

    /// `append` with an explicit leader epoch (`None`: the latest assigned epoch, or 0).
    pub(super) fn append_with_epoch(
        &self,
        batches: &[u8],
        leader_epoch: Option<i32>,
        now_ms: i64,
    ) -> Result<AppendInfo, StorageError> {
        self.health
            .note(self.append_unnoted(batches, leader_epoch, now_ms))
    }

    fn append_unnoted(
        &self,
        batches: &[u8],
        leader_epoch: Option<i32>,
        now_ms: i64,
    ) -> Result<AppendInfo, StorageError> {
        let mut assigned = batch::walk_headers(batches)?;
        if assigned.is_empty() {
            return Err(StorageError::InvalidRecord(
                "append without record batches".into(),
            ));
        }
        let mut inner = self.lock();
        self.check_open(&inner)?;
        check_sizes(&assigned, batches.len(), &inner.config)?;
        let log_append = inner.config.timestamp_type == TimestampType::LogAppendTime;
        let headers: Vec<BatchHeader> = assigned.iter().map(|(_, h)| *h).collect();
        if let Some(dup) = inner.producers.validate(&headers)? {
            return Ok(AppendInfo {
                base_offset: dup.first_offset,
                last_offset: dup.last_offset,
                log_append_time: if log_append { dup.timestamp } else { -1 },
                log_start_offset: inner.log_start,
                duplicate: true,
            });
        }
        let epoch = self.leader_epoch_for_append(&mut inner, leader_epoch)?;
        let first_offset = inner.next_offset;
        let mut next = first_offset;
        let mut stamped = Vec::with_capacity(assigned.len());
        let mut records = 0i64;
        for (pos, h) in &mut assigned {
            let bytes = &batches[*pos..*pos + h.total_size()];
            stamped.push(batch::stamped_header(
                bytes,
                next,
                epoch,
                log_append.then_some(now_ms),
            )?);
            h.base_offset = next;
            h.partition_leader_epoch = epoch;
            if log_append {
                h.attributes |= ATTR_LOG_APPEND_TIME;
                h.max_timestamp = now_ms;
            }
            next = h.next_offset();
            records += i64::from(h.last_offset_delta) + 1;
        }
        let mut bufs: Vec<IoSlice<'_>> = Vec::with_capacity(2 * assigned.len());
        for ((pos, h), header) in assigned.iter().zip(&stamped) {
            bufs.push(IoSlice::new(header));
            bufs.push(IoSlice::new(
                &batches[pos + HEADER_LEN..pos + h.total_size()],
            ));
        }
        let max_ts = assigned
            .iter()
            .map(|(_, h)| h.max_timestamp)
            .max()
            .unwrap_or(-1);
        self.maybe_roll(&mut inner, batches.len() as u64, next - 1, max_ts, now_ms)?;
        let interval = inner.config.index_interval_bytes;
        let active = inner
            .active_mut()
            .ok_or_else(|| missing_segment(&self.tp))?;
        active.created_ms.get_or_insert(now_ms);
        active.append(&mut bufs, &assigned, interval)?;
        inner.next_offset = next;
        inner.fix_high_watermark();
        for (_, h) in &assigned {
            inner.producers.apply(h, h.max_timestamp);
        }
        inner.unflushed_messages = inner.unflushed_messages.saturating_add(records);
        if inner.unflushed_messages >= inner.config.flush_messages {
            self.flush_locked(&mut inner, now_ms)?;
        }
        let log_start_offset = inner.log_start;
        self.publish(&inner);
        drop(inner);
        self.notify_log_end(next);
        Ok(AppendInfo {
            base_offset: first_offset,
            last_offset: next - 1,
            log_append_time: if log_append { now_ms } else { -1 },
            log_start_offset,
            duplicate: false,
        })
    }

    /// Kafka's `maybeRoll`: by size, by time since the first batch, or offset overflow.
    pub(super) fn maybe_roll(
        &self,
        inner: &mut Inner,
        incoming: u64,
        last_offset: i64,
        max_ts: i64,
        now_ms: i64,
    ) -> Result<(), StorageError> {
        let cfg = &inner.config;
        let active = inner.active().ok_or_else(|| missing_segment(&self.tp))?;
        if active.size == 0 {
            return Ok(());
        }
        // positions in the offset index are 32-bit, so a segment never passes 2 GiB
        let by_size = active.size + incoming > cfg.segment_bytes.min(i32::MAX as u64);
        let waited = match active.state.first_batch_timestamp {
            Some(t) if t >= 0 => max_ts.saturating_sub(t),
            _ => now_ms.saturating_sub(active.created_ms.unwrap_or(now_ms)),
        };
        let by_time = waited > cfg.segment_ms;
        if by_size || by_time || !active.can_hold(last_offset) {
            self.roll(inner, now_ms)?;
        }
        Ok(())
    }

    /// Seals and fsyncs the active segment and starts a new one at the log end offset.
    pub(super) fn roll(&self, inner: &mut Inner, now_ms: i64) -> Result<(), StorageError> {
        let base = inner.next_offset;
        let active = inner
            .active_mut()
            .ok_or_else(|| missing_segment(&self.tp))?;
        if active.base == base {
            return Ok(()); // already empty at the log end
        }
        active.seal_time_index();
        // The fsync of the rolled segment happens off the request path (`flush_rolled`).
        let handles = active.sync_handles()?;
        inner
            .segments
            .insert(base, Segment::create(&self.dir, base, Some(now_ms))?);
        inner.pending_flush.push((base, handles));
        log::debug!("{}: rolled new segment at offset {base}", self.tp);
        Ok(())
    }

    pub(super) fn flush_locked(&self, inner: &mut Inner, now_ms: i64) -> Result<(), StorageError> {
        let rp = inner.recovery_point;
        for seg in inner.segments.values_mut() {
            if seg.next_offset > rp || seg.base >= rp {
                seg.flush()?;
            }
        }
        inner.recovery_point = inner.next_offset;
        inner.unflushed_messages = 0;
        inner.last_flush_ms = now_ms;
        Ok(())
    }

    /// fsyncs segments rolled since the last call, outside the partition lock, then
    /// advances the recovery point past them.
    pub(super) fn flush_rolled(&self) -> Result<(), StorageError> {
        let pending = std::mem::take(&mut self.lock().pending_flush);
        for (upto, handles) in pending {
            handles.sync()?;
            let mut inner = self.lock();
            // a truncation meanwhile may have cut the log below `upto`
            let upto = upto.min(inner.next_offset);
            inner.recovery_point = inner.recovery_point.max(upto);
        }
        Ok(())
    }

    /// fsyncs if `flush_ms` has elapsed since the last flush and data is pending.
    pub(super) fn flush_due(&self, now_ms: i64) -> Result<(), StorageError> {
        let mut inner = self.lock();
        let due = now_ms.saturating_sub(inner.last_flush_ms) >= inner.config.flush_ms;
        if due && inner.recovery_point < inner.next_offset {
            self.flush_locked(&mut inner, now_ms)?;
        }
        Ok(())
    }

    /// Flushes everything and seals the active time index; with `close`, refuses
    /// further appends (used by shutdown and delete).
    pub(super) fn flush_all(&self, close: bool) -> Result<(), StorageError> {
        let mut inner = self.lock();
        if inner.closed {
            return Ok(());
        }
        if close {
            if let Some(active) = inner.active_mut() {
                active.seal_time_index();
            }
            inner.closed = true;
        }
        let now = inner.last_flush_ms;
        self.flush_locked(&mut inner, now)
    }

    pub(super) fn mark_closed(&self) {
        self.lock().closed = true;
    }

    /// Time and size retention (Kafka's `deleteOldSegments`). Returns segments deleted.
    /// Only segments wholly below the high watermark are deleted, so the log start offset
    /// never passes it. Time and size apply only where `cleanup.policy` includes `delete`;
    /// segments below a moved log start offset (DeleteRecords) go whatever the policy.
    pub(super) fn run_retention(&self, now_ms: i64) -> Result<usize, StorageError> {
        let mut inner = self.lock();
        if inner.closed {
            return Ok(0);
        }
        let cfg = inner.config.clone();
        let mut deleted = self.delete_below_log_start(&mut inner)?;
        if cfg.delete_retention && cfg.retention_ms >= 0 {
            let n = deletable_prefix(&inner, |seg, _| {
                now_ms.saturating_sub(seg.largest_timestamp()) > cfg.retention_ms
            });
            deleted += self.delete_prefix(&mut inner, n, now_ms, "retention.ms")?;
        }
        if cfg.delete_retention && cfg.retention_bytes >= 0 {
            let mut diff = inner.size() as i64 - cfg.retention_bytes;
            let n = deletable_prefix(&inner, |seg, _| {
                let ok = diff - seg.size as i64 >= 0;
                if ok {
                    diff -= seg.size as i64;
                }
                ok
            });
            deleted += self.delete_prefix(&mut inner, n, now_ms, "retention.bytes")?;
        }
        if deleted > 0 {
            self.after_log_start_moved(&mut inner)?;
        }
        self.publish(&inner);
        Ok(deleted)
    }

    /// Deletes the first `n` segments (rolling first if that is all of them) and moves
    /// the log start offset up to the first remaining segment.
    pub(super) fn delete_prefix(
        &self,
        inner: &mut Inner,
        n: usize,
        now_ms: i64,
        reason: &str,
    ) -> Result<usize, StorageError> {
        if n == 0 {
            return Ok(0);
        }
        if n >= inner.segments.len() {
            self.roll(inner, now_ms)?;
        }
        let bases: Vec<i64> = inner.segments.keys().take(n).copied().collect();
        for base in &bases {
            if let Some(seg) = inner.segments.remove(base) {
                seg.delete_files()?;
            }
        }
        if let Some(first) = inner.segments.keys().next() {
            inner.log_start = inner.log_start.max(*first);
        }
        log::info!(
            "{}: deleted {} segment(s) ({reason}); log start offset {}",
            self.tp,
            bases.len(),
            inner.log_start
        );
        Ok(bases.len())
    }
}

/// Number of leading segments for which `pred` holds and that lie wholly below the high
/// watermark; an empty last segment never counts.
pub(super) fn deletable_prefix(
    inner: &Inner,
    mut pred: impl FnMut(&Segment, bool) -> bool,
) -> usize {
    let count = inner.segments.len();
    let hw = inner.high_watermark();
    let mut n = 0;
    for (i, seg) in inner.segments.values().enumerate() {
        let last = i + 1 == count;
        if (last && seg.size == 0) || seg.next_offset > hw || !pred(seg, last) {
            break;
        }
        n += 1;
    }
    n
}

fn check_sizes(
    walked: &[(usize, BatchHeader)],
    total: usize,
    cfg: &LogConfig,
) -> Result<(), StorageError> {
    let max = cfg.max_message_bytes.max(0) as usize;
    for (_, h) in walked {
        if h.total_size() > max {
            return Err(StorageError::RecordTooLarge {
                size: h.total_size(),
                max,
            });
        }
        if h.last_offset_delta < 0 {
            return Err(StorageError::InvalidRecord(
                "record batch without records".into(),
            ));
        }
    }
    if total as u64 > cfg.segment_bytes {
        return Err(StorageError::RecordBatchTooLarge {
            size: total,
            segment_bytes: cfg.segment_bytes,
        });
    }
    Ok(())
}

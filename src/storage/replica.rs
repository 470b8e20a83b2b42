//! What replication needs from a partition log: leader epochs, the leader and follower
//! append paths, truncation, the high watermark and log-start advance (DeleteRecords).
//!
//! Owns: stamping `partition_leader_epoch` on the leader path, appending fetched batches
//! verbatim on the follower path, cutting the log back after OffsetForLeaderEpoch, and
//! keeping the epoch cache, producer state, recovery point and high watermark consistent
//! with every such change.
//! Must never: decide leadership or ISR (the replica manager does; storage trusts the
//! epochs and offsets it is given once they are internally consistent), or read a clock.

use std::io::IoSlice;

use super::AppendInfo;
use super::checkpoint::sync_dir;
use super::epoch::EpochEntry;
use super::error::StorageError;
use super::load::reopen_truncated;
use super::partition::{Inner, PartitionLog, deletable_prefix};
use super::producer::ProducerState;
use super::segment::Segment;
use crate::format::batch::{self, BatchHeader};

fn invalid(msg: String) -> StorageError {
    StorageError::InvalidRecord(msg)
}

/// Checks fetched batches fully (CRC included) and that offsets increase.
fn check_follower_batches(bytes: &[u8]) -> Result<Vec<(usize, BatchHeader)>, StorageError> {
    let mut out: Vec<(usize, BatchHeader)> = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let h = batch::validate_one(&bytes[pos..], false)?;
        if h.last_offset_delta < 0 {
            return Err(invalid("record batch without records".into()));
        }
        if let Some((_, prev)) = out.last()
            && h.base_offset <= prev.last_offset()
        {
            return Err(invalid(format!(
                "follower append offsets not increasing: {} after {}",
                h.base_offset,
                prev.last_offset()
            )));
        }
        out.push((pos, h));
        pos += h.total_size();
    }
    if out.is_empty() {
        return Err(invalid("append without record batches".into()));
    }
    Ok(out)
}

impl PartitionLog {
    /// Refuses work on a closed log or one whose directory is offline.
    pub(super) fn check_open(&self, inner: &Inner) -> Result<(), StorageError> {
        self.health.check()?;
        if inner.closed {
            return Err(StorageError::LogClosed(self.tp.to_string()));
        }
        Ok(())
    }

    // ---- leader epochs -------------------------------------------------------------

    /// Records that `epoch` starts at `start_offset` (a new leader calls this with its
    /// log end offset). Kafka's `assign`: a no-op if `epoch` is already the latest;
    /// entries at or above the new epoch or offset are replaced. The
    /// `leader-epoch-checkpoint` file is rewritten when the cache changes.
    pub fn assign_epoch(&self, epoch: i32, start_offset: i64) -> Result<(), StorageError> {
        self.health
            .note(self.assign_epoch_unnoted(epoch, start_offset))
    }

    fn assign_epoch_unnoted(&self, epoch: i32, start_offset: i64) -> Result<(), StorageError> {
        if epoch < 0 || start_offset < 0 {
            return Err(invalid(format!(
                "cannot assign leader epoch {epoch} at offset {start_offset}"
            )));
        }
        let mut inner = self.lock();
        self.check_open(&inner)?;
        if inner.epochs.assign(epoch, start_offset) {
            log::info!("{}: leader epoch {epoch} starts at {start_offset}", self.tp);
            inner.epochs.flush()?;
        }
        Ok(())
    }

    /// The latest leader epoch in the cache.
    pub fn latest_epoch(&self) -> Option<i32> {
        self.lock().epochs.latest_epoch()
    }

    /// All `(epoch, start offset)` entries, oldest first.
    pub fn leader_epoch_entries(&self) -> Vec<EpochEntry> {
        self.lock().epochs.entries().to_vec()
    }

    /// OffsetForLeaderEpoch: `(largest epoch <= epoch, its end offset)`, where the end
    /// offset is the next epoch's start offset or, for the latest epoch, the log end
    /// offset; `(-1, -1)` if `epoch` is -1 or above every known epoch.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> (i32, i64) {
        let inner = self.lock();
        inner.epochs.end_offset_for(epoch, inner.next_offset)
    }

    /// The epoch `append` stamps: `requested`, recorded at the log end if new, or else the
    /// latest epoch (epoch 0 recorded at the log start when there is none).
    pub(super) fn leader_epoch_for_append(
        &self,
        inner: &mut Inner,
        requested: Option<i32>,
    ) -> Result<i32, StorageError> {
        let latest = inner.epochs.latest_epoch();
        let (epoch, start) = match (requested, latest) {
            (Some(e), _) if e < 0 => return Err(invalid(format!("leader epoch {e}"))),
            (Some(e), Some(l)) if e < l => {
                return Err(invalid(format!(
                    "leader epoch {e} is older than the log's latest epoch {l}"
                )));
            }
            (Some(e), _) => (e, inner.next_offset),
            (None, Some(l)) => return Ok(l),
            (None, None) => (0, inner.log_start),
        };
        if inner.epochs.assign(epoch, start) {
            inner.epochs.flush()?;
        }
        Ok(epoch)
    }

    /// The leader's append: as [`append`](PartitionLog::append), stamping `leader_epoch`
    /// into every batch (recording it at the log end offset if it is new). Fails if
    /// `leader_epoch` is older than the latest epoch of the log.
    pub fn append_as_leader(
        &self,
        batches: &[u8],
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo, StorageError> {
        self.append_with_epoch(batches, Some(leader_epoch), now_ms)
    }

    // ---- follower append -----------------------------------------------------------

    /// Appends batches fetched from the leader verbatim: offsets, epochs and timestamps
    /// are kept, every CRC is checked, producer state is updated (never rejected) and the
    /// epoch cache learns each batch's `partition_leader_epoch`.
    ///
    /// The first batch must start at the log end offset, else
    /// `StorageError::OffsetOutOfRange { offset: <first base offset>, .. }`; offsets must
    /// increase (`InvalidRecord`). One exception, as Kafka: an empty log whose end offset
    /// falls inside the first batch (the leader's log start is mid-batch after
    /// DeleteRecords) restarts at that batch's base offset, keeping its log start offset.
    pub fn append_as_follower(
        &self,
        batches: &[u8],
        now_ms: i64,
    ) -> Result<AppendInfo, StorageError> {
        self.health
            .note(self.append_as_follower_unnoted(batches, now_ms))
    }

    fn append_as_follower_unnoted(
        &self,
        batches: &[u8],
        now_ms: i64,
    ) -> Result<AppendInfo, StorageError> {
        let walked = check_follower_batches(batches)?;
        let mut inner = self.lock();
        self.check_open(&inner)?;
        let first = walked[0].1;
        let leo = inner.next_offset;
        // A first batch above the log end is a gap the leader's cleaner left (compacted
        // batches keep their offsets; a removed batch leaves its offsets unused), as
        // Kafka's follower append accepts; below it is an error.
        if first.base_offset < leo {
            let empty = inner.size() == 0;
            if empty && first.base_offset < leo && first.last_offset() >= leo {
                self.restart_empty_at(&mut inner, first.base_offset)?;
            } else {
                return Err(StorageError::OffsetOutOfRange {
                    offset: first.base_offset,
                    log_start_offset: inner.log_start,
                    log_end_offset: leo,
                });
            }
        }
        let seg_bytes = inner.config.segment_bytes;
        let mut i = 0;
        while i < walked.len() {
            let start = walked[i].0;
            let mut j = i + 1;
            let mut size = walked[i].1.total_size();
            while j < walked.len() && (size + walked[j].1.total_size()) as u64 <= seg_bytes {
                size += walked[j].1.total_size();
                j += 1;
            }
            if size as u64 > seg_bytes {
                return Err(StorageError::RecordBatchTooLarge {
                    size,
                    segment_bytes: seg_bytes,
                });
            }
            let chunk: Vec<(usize, BatchHeader)> =
                walked[i..j].iter().map(|(p, h)| (p - start, *h)).collect();
            self.write_follower_chunk(&mut inner, &batches[start..start + size], &chunk, now_ms)?;
            i = j;
        }
        if inner.unflushed_messages >= inner.config.flush_messages {
            self.flush_locked(&mut inner, now_ms)?;
        }
        let next = inner.next_offset;
        let log_start_offset = inner.log_start;
        self.publish(&inner);
        drop(inner);
        self.notify_log_end(next);
        Ok(AppendInfo {
            base_offset: first.base_offset,
            last_offset: next - 1,
            log_append_time: -1,
            log_start_offset,
            duplicate: false,
        })
    }

    fn write_follower_chunk(
        &self,
        inner: &mut Inner,
        bytes: &[u8],
        chunk: &[(usize, BatchHeader)],
        now_ms: i64,
    ) -> Result<(), StorageError> {
        let Some(&(_, last)) = chunk.last() else {
            return Ok(());
        };
        let max_ts = chunk
            .iter()
            .map(|(_, h)| h.max_timestamp)
            .max()
            .unwrap_or(-1);
        self.maybe_roll(
            inner,
            bytes.len() as u64,
            last.last_offset(),
            max_ts,
            now_ms,
        )?;
        let interval = inner.config.index_interval_bytes;
        let active = inner
            .segments
            .values_mut()
            .next_back()
            .ok_or_else(|| StorageError::LogClosed(format!("{} has no segment", self.tp)))?;
        if !active.can_hold(chunk[0].1.base_offset) || !active.can_hold(last.last_offset()) {
            return Err(invalid(format!(
                "offsets {}..={} do not fit segment {}",
                chunk[0].1.base_offset,
                last.last_offset(),
                active.base
            )));
        }
        active.created_ms.get_or_insert(now_ms);
        active.append(&mut [IoSlice::new(bytes)], chunk, interval)?;
        inner.next_offset = last.next_offset();
        inner.fix_high_watermark();
        let mut epochs_changed = false;
        let mut records = 0i64;
        for (_, h) in chunk {
            inner.producers.apply(h, h.max_timestamp);
            epochs_changed |= inner.epochs.assign(h.partition_leader_epoch, h.base_offset);
            records += i64::from(h.last_offset_delta) + 1;
        }
        inner.unflushed_messages = inner.unflushed_messages.saturating_add(records);
        if epochs_changed {
            inner.epochs.flush()?;
        }
        Ok(())
    }

    /// An empty log restarts at `base` (below its end offset), keeping its log start.
    fn restart_empty_at(&self, inner: &mut Inner, base: i64) -> Result<(), StorageError> {
        log::info!(
            "{}: empty log restarts at {base} (first fetched batch starts below the log end {})",
            self.tp,
            inner.next_offset
        );
        for seg in std::mem::take(&mut inner.segments).into_values() {
            seg.delete_files()?;
        }
        inner.pending_flush.clear();
        inner
            .segments
            .insert(base, Segment::create(&self.dir, base, None)?);
        inner.next_offset = base;
        inner.recovery_point = base;
        if inner.epochs.truncate_from_end(base) {
            inner.epochs.flush()?;
        }
        sync_dir(&self.dir)
    }

    // ---- truncation ----------------------------------------------------------------

    /// Removes every batch holding an offset >= `offset` (a follower after
    /// OffsetForLeaderEpoch). Whole batches go, so if `offset` falls inside a batch the
    /// new log end is that batch's base offset. Later segments are deleted, the cut
    /// segment's file is shortened and its indexes rebuilt, and the epoch cache,
    /// producer state (rebuilt from the remaining batch headers), recovery point and high
    /// watermark follow. `offset` below the first segment means
    /// [`truncate_fully_and_start_at`](Self::truncate_fully_and_start_at). A no-op at or
    /// past the log end. Returns the new log end offset.
    pub fn truncate_to(&self, offset: i64) -> Result<i64, StorageError> {
        self.health.note(self.truncate_to_unnoted(offset))
    }

    fn truncate_to_unnoted(&self, offset: i64) -> Result<i64, StorageError> {
        if offset < 0 {
            return Err(invalid(format!("cannot truncate to offset {offset}")));
        }
        let mut inner = self.lock();
        self.check_open(&inner)?;
        if offset >= inner.next_offset {
            return Ok(inner.next_offset);
        }
        let first_base = inner.segments.keys().next().copied().unwrap_or(0);
        if offset < first_base {
            self.truncate_fully_locked(&mut inner, offset)?;
            let next = inner.next_offset;
            drop(inner);
            self.notify_log_end(next);
            return Ok(next);
        }
        let doomed: Vec<i64> = inner
            .segments
            .range(offset + 1..)
            .map(|(b, _)| *b)
            .collect();
        for base in &doomed {
            if let Some(seg) = inner.segments.remove(base) {
                seg.delete_files()?;
            }
        }
        self.cut_last_segment(&mut inner, offset)?;
        let next = inner
            .segments
            .values()
            .next_back()
            .map_or(offset, |s| s.next_offset);
        inner.next_offset = next;
        inner.log_start = inner.log_start.min(next);
        inner.recovery_point = inner.recovery_point.min(next);
        inner.pending_flush.retain(|(upto, _)| *upto <= next);
        if inner.epochs.truncate_from_end(next) {
            inner.epochs.flush()?;
        }
        inner.producers = rebuild_producers(&inner)?;
        inner.fix_high_watermark();
        if !doomed.is_empty() {
            sync_dir(&self.dir)?;
        }
        log::info!("{}: truncated to {offset}; log end offset {next}", self.tp);
        self.publish(&inner);
        drop(inner);
        self.notify_log_end(next);
        Ok(next)
    }

    /// Cuts the last segment before the batch holding `offset`, if any.
    fn cut_last_segment(&self, inner: &mut Inner, offset: i64) -> Result<(), StorageError> {
        let interval = inner.config.index_interval_bytes;
        let Some(seg) = inner.segments.values().next_back() else {
            return Ok(());
        };
        let Some((pos, _)) = seg.view().find_batch(seg.index_position(offset), offset)? else {
            return Ok(()); // `offset` lies past this segment's last batch
        };
        let (base, created) = (seg.base, seg.created_ms);
        seg.file.set_len(pos).map_err(|source| StorageError::IoAt {
            path: seg.log_path.clone(),
            source,
        })?;
        let fresh = reopen_truncated(&self.dir, base, interval, created)?;
        inner.segments.insert(base, fresh);
        Ok(())
    }

    /// Deletes the whole log and restarts it, empty, at `offset` (a follower whose log
    /// is entirely behind the leader's log start). Log start, end, recovery point and
    /// high watermark become `offset`; epochs and producer state are cleared.
    pub fn truncate_fully_and_start_at(&self, offset: i64) -> Result<(), StorageError> {
        self.health
            .note(self.truncate_fully_and_start_at_unnoted(offset))
    }

    fn truncate_fully_and_start_at_unnoted(&self, offset: i64) -> Result<(), StorageError> {
        if offset < 0 {
            return Err(invalid(format!(
                "cannot restart the log at offset {offset}"
            )));
        }
        let mut inner = self.lock();
        self.check_open(&inner)?;
        self.truncate_fully_locked(&mut inner, offset)?;
        drop(inner);
        self.notify_log_end(offset);
        Ok(())
    }

    fn truncate_fully_locked(&self, inner: &mut Inner, offset: i64) -> Result<(), StorageError> {
        for seg in std::mem::take(&mut inner.segments).into_values() {
            seg.delete_files()?;
        }
        inner.pending_flush.clear();
        inner
            .segments
            .insert(offset, Segment::create(&self.dir, offset, None)?);
        inner.log_start = offset;
        inner.next_offset = offset;
        inner.recovery_point = offset;
        inner.unflushed_messages = 0;
        inner.producers = ProducerState::default();
        inner.epochs.clear();
        inner.epochs.flush()?;
        inner.high_watermark = offset;
        sync_dir(&self.dir)?;
        log::info!("{}: log truncated fully; restarts at {offset}", self.tp);
        self.publish(inner);
        Ok(())
    }

    // ---- high watermark and log start ----------------------------------------------

    /// Raises the high watermark to `hw` (clamped into `[log start, log end]`; never
    /// lowered: only truncation lowers it). Ignored while the HW follows the log end.
    /// Returns the high watermark now in force.
    pub fn set_high_watermark(&self, hw: i64) -> i64 {
        let mut inner = self.lock();
        if !inner.hw_follows_leo {
            let current = inner.high_watermark();
            let wanted = hw.min(inner.next_offset).max(inner.log_start);
            inner.high_watermark = current.max(wanted);
        }
        self.publish(&inner);
        inner.high_watermark()
    }

    /// Single-replica mode (the default): the high watermark is the log end offset.
    /// Replicated partitions turn it off before their first append or truncation; the
    /// high watermark then starts from the checkpointed (or last tracked) value.
    pub fn set_hw_follows_leo(&self, follow: bool) {
        let mut inner = self.lock();
        inner.hw_follows_leo = follow;
        inner.fix_high_watermark();
        self.publish(&inner);
    }

    pub fn hw_follows_leo(&self) -> bool {
        self.lock().hw_follows_leo
    }

    /// Moves the log start offset up to `offset` (DeleteRecords on the leader; the
    /// leader's log start on a follower) and deletes the segments wholly below it (never
    /// the active one). `offset` above the high watermark is `OffsetOutOfRange`. Returns
    /// whether the log start moved.
    pub fn advance_log_start(&self, offset: i64) -> Result<bool, StorageError> {
        self.health.note(self.advance_log_start_unnoted(offset))
    }

    fn advance_log_start_unnoted(&self, offset: i64) -> Result<bool, StorageError> {
        let mut inner = self.lock();
        self.check_open(&inner)?;
        if offset <= inner.log_start {
            return Ok(false);
        }
        if offset > inner.high_watermark() {
            return Err(StorageError::OffsetOutOfRange {
                offset,
                log_start_offset: inner.log_start,
                log_end_offset: inner.next_offset,
            });
        }
        inner.log_start = offset;
        self.delete_below_log_start(&mut inner)?;
        self.after_log_start_moved(&mut inner)?;
        self.publish(&inner);
        Ok(true)
    }

    /// Deletes the segments (except the active one) wholly below the log start offset.
    pub(super) fn delete_below_log_start(&self, inner: &mut Inner) -> Result<usize, StorageError> {
        let start = inner.log_start;
        let n = deletable_prefix(inner, |seg, last| !last && seg.next_offset <= start);
        // the active segment is never in the prefix, so no roll (and no clock) is needed
        self.delete_prefix(inner, n, 0, "log start offset")
    }

    /// Keeps the epoch cache and high watermark consistent with a new log start.
    pub(super) fn after_log_start_moved(&self, inner: &mut Inner) -> Result<(), StorageError> {
        if inner.epochs.truncate_from_start(inner.log_start) {
            inner.epochs.flush()?;
        }
        inner.high_watermark = inner.high_watermark.max(inner.log_start);
        Ok(())
    }

    /// The high watermark to checkpoint: the tracked value, which keeps a loaded
    /// checkpoint until the log changes (so a restart before the replica manager has set
    /// the mode does not promote uncommitted data).
    pub(super) fn checkpoint_high_watermark(&self) -> i64 {
        let inner = self.lock();
        inner
            .high_watermark
            .min(inner.next_offset)
            .max(inner.log_start)
    }
}

/// Producer state from every batch header still in the log (as a restart builds it).
fn rebuild_producers(inner: &Inner) -> Result<ProducerState, StorageError> {
    let mut producers = ProducerState::default();
    for seg in inner.segments.values() {
        let view = seg.view();
        let mut pos = 0;
        while let Some(h) = view.header_at(pos)? {
            producers.apply(&h, h.max_timestamp);
            pos += h.total_size() as u64;
        }
    }
    Ok(producers)
}

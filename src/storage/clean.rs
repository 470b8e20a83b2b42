//! One cleaning pass over one log (Kafka's `Cleaner.doClean`): compaction keeps the
//! latest record of every key.
//!
//! Owns: the cleanable range of a log (from its first dirty offset up to the first
//! segment that is active, above the high watermark or younger than
//! `min.compaction.lag.ms`) and its dirty ratio; the offset map (key → latest offset in
//! the dirty part, bounded by `log.cleaner.dedupe.buffer.size`); rewriting groups of
//! segments (at most `segment.bytes` each) into `<base>.log.cleaned`, and swapping the
//! result in (`.cleaned` → `.swap` → `.log`, the old segments deleted in between, so a
//! crash at any point leaves either the old segments or the whole cleaned one; see
//! `load.rs`).
//! Record rules (Kafka's `shouldRetainRecord` and `filterTo`): a record is kept when it is
//! past the offset map, or has a key whose latest offset it is; a keyless record is
//! dropped; a tombstone is kept until its batch's delete horizon (KIP-534: set to now +
//! `delete.retention.ms` the first time the cleaner keeps it) has passed. Offsets never
//! change: a rewritten batch keeps its base offset, last offset delta, producer id, epoch
//! and base sequence, and a producer's last batch is kept even when emptied, so its
//! sequence survives. Control batches are kept as they are.
//! Must never: touch the active segment or anything above the high watermark, hold the
//! partition lock while reading or writing segment data, or read a clock.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{BufWriter, Write};
use std::path::Path;

use super::checkpoint::sync_dir;
use super::error::{IoContext, StorageError};
use super::index::Index;
use super::partition::PartitionLog;
use super::segment::{Segment, SegmentView, index_entries, segment_path};
use crate::format::batch::{ATTR_DELETE_HORIZON, BatchError, BatchHeader, HEADER_LEN};
use crate::format::file_slice::pread_upto;
use crate::format::rebuild::encode_batch;
use crate::format::records::{RawRecord, RecordIter};

/// What one log offers the cleaner now.
#[derive(Debug, Clone, PartialEq)]
pub struct Cleanable {
    /// Where the dirty part starts (the cleaner checkpoint, or the log start).
    pub first_dirty: i64,
    /// The first offset not to clean: the base of the first segment that may not be.
    pub end: i64,
    pub clean_bytes: u64,
    pub dirty_bytes: u64,
    /// `max.compaction.lag.ms` has passed for the oldest dirty record.
    pub overdue: bool,
    pub min_ratio: f64,
}

impl Cleanable {
    /// Dirty bytes over all cleanable bytes.
    pub fn ratio(&self) -> f64 {
        let total = self.clean_bytes + self.dirty_bytes;
        if total == 0 {
            0.0
        } else {
            self.dirty_bytes as f64 / total as f64
        }
    }

    /// Kafka cleans a log once its ratio reaches `min.cleanable.dirty.ratio`, or when a
    /// record has waited longer than `max.compaction.lag.ms`.
    pub fn wanted(&self) -> bool {
        self.overdue || self.ratio() >= self.min_ratio
    }
}

/// What a cleaning pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanStats {
    pub segments_in: usize,
    pub segments_out: usize,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub records_read: u64,
    pub records_kept: u64,
}

/// The limits of one pass (from `log.cleaner.*`).
#[derive(Debug, Clone, Copy)]
pub struct PassLimits {
    /// Keys the offset map may hold.
    pub map_capacity: usize,
    /// Read and write buffer size.
    pub io_buffer_size: usize,
}

/// The result of [`PartitionLog::clean`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cleaned {
    /// The new first dirty offset (the cleaner checkpoint).
    pub first_dirty: i64,
    pub stats: CleanStats,
}

/// Key → latest offset, keys held as 128-bit hashes (Kafka's `SkimpyOffsetMap` keeps
/// MD5 digests), so memory per key is fixed whatever the key's size.
struct OffsetMap {
    map: HashMap<u128, i64>,
    capacity: usize,
    /// The last offset put in the map: records above it are not covered by it.
    latest: i64,
}

fn key_hash(key: &[u8]) -> u128 {
    let half = |seed: u8| {
        let mut h = DefaultHasher::new();
        seed.hash(&mut h);
        key.hash(&mut h);
        h.finish()
    };
    (u128::from(half(0)) << 64) | u128::from(half(1))
}

impl OffsetMap {
    fn get(&self, key: &[u8]) -> Option<i64> {
        self.map.get(&key_hash(key)).copied()
    }
}

/// Reads the batches of a segment snapshot in order through one buffer.
struct BatchReader<'a> {
    view: &'a SegmentView,
    pos: u64,
    buf: Vec<u8>,
    /// File position of `buf[0]`.
    buf_at: u64,
    cap: usize,
}

impl<'a> BatchReader<'a> {
    fn new(view: &'a SegmentView, cap: usize) -> Self {
        BatchReader {
            view,
            pos: 0,
            buf: Vec::new(),
            buf_at: 0,
            cap: cap.max(HEADER_LEN),
        }
    }

    /// Makes `[pos, pos + need)` available in `buf`.
    fn fill(&mut self, need: usize) -> Result<(), StorageError> {
        let have = self.buf_at + self.buf.len() as u64;
        if self.pos >= self.buf_at && self.pos + need as u64 <= have {
            return Ok(());
        }
        let len = need.max(self.cap).min((self.view.size - self.pos) as usize);
        self.buf.resize(len, 0);
        let n = pread_upto(&self.view.file, &mut self.buf, self.pos).at(&self.view.path)?;
        self.buf.truncate(n);
        self.buf_at = self.pos;
        if n < need {
            return Err(StorageError::CorruptBatch(BatchError::Truncated {
                needed: need,
                available: n,
            }));
        }
        Ok(())
    }

    /// The next batch: its header and bytes. `None` at the end of the snapshot.
    fn next(&mut self) -> Result<Option<(BatchHeader, &[u8])>, StorageError> {
        if self.pos + HEADER_LEN as u64 > self.view.size {
            return Ok(None);
        }
        self.fill(HEADER_LEN)?;
        let at = (self.pos - self.buf_at) as usize;
        let h = BatchHeader::parse(&self.buf[at..])?;
        let size = h.total_size();
        if h.batch_length < crate::format::batch::MIN_BATCH_LENGTH
            || self.pos + size as u64 > self.view.size
        {
            return Err(StorageError::CorruptBatch(BatchError::InvalidLength(
                h.batch_length,
            )));
        }
        self.fill(size)?;
        let at = (self.pos - self.buf_at) as usize;
        self.pos += size as u64;
        Ok(Some((h, &self.buf[at..at + size])))
    }
}

/// What the cleaner does with one batch.
enum Kept {
    Original,
    Rebuilt(Vec<u8>),
    Dropped,
}

/// Everything one batch's filter needs.
struct Rules<'a> {
    map: &'a OffsetMap,
    /// Last offset of each producer's latest batch.
    producers: &'a HashMap<i64, i64>,
    now_ms: i64,
    delete_retention_ms: i64,
}

impl Rules<'_> {
    fn keep(&self, r: &RawRecord, tombstones_expired: bool) -> bool {
        if r.offset > self.map.latest {
            return true;
        }
        let Some(key) = &r.key else {
            return false;
        };
        let latest = self.map.get(key).is_none_or(|o| r.offset >= o);
        latest && !(r.tombstone && tombstones_expired)
    }

    fn filter(
        &self,
        h: &BatchHeader,
        bytes: &[u8],
        stats: &mut CleanStats,
    ) -> Result<Kept, StorageError> {
        if h.is_control() {
            return Ok(Kept::Original);
        }
        let horizon = h.delete_horizon_ms();
        let expired = horizon.is_some_and(|t| self.now_ms >= t);
        let mut it = RecordIter::new(bytes)?;
        let mut total = 0u64;
        let mut kept = Vec::new();
        while let Some(r) = it.next_raw() {
            let r = r?;
            total += 1;
            if self.keep(&r, expired) {
                kept.push(r);
            }
        }
        stats.records_read += total;
        stats.records_kept += kept.len() as u64;
        let tombstones = kept.iter().any(|r| r.tombstone);
        if kept.len() as u64 == total && (!tombstones || horizon.is_some()) {
            return Ok(Kept::Original);
        }
        let mut header = *h;
        if kept.is_empty() {
            let last_of_producer = self.producers.get(&h.producer_id) == Some(&h.last_offset());
            if h.producer_id < 0 || !last_of_producer {
                return Ok(Kept::Dropped);
            }
            header.attributes &= !ATTR_DELETE_HORIZON;
            header.base_timestamp = h.max_timestamp;
            return Ok(Kept::Rebuilt(encode_batch(
                &header,
                &[],
                h.compression()?,
                None,
            )?));
        }
        if tombstones {
            header.attributes |= ATTR_DELETE_HORIZON;
            header.base_timestamp =
                horizon.unwrap_or(self.now_ms.saturating_add(self.delete_retention_ms));
        } else {
            header.attributes &= !ATTR_DELETE_HORIZON;
            header.base_timestamp = kept[0].timestamp;
        }
        if !h.is_log_append_time() {
            header.max_timestamp = kept.iter().map(|r| r.timestamp).max().unwrap_or(-1);
        }
        Ok(Kept::Rebuilt(encode_batch(
            &header,
            &kept,
            h.compression()?,
            None,
        )?))
    }
}

/// A written `.cleaned` file and the batches in it (file position, header).
struct CleanedFile {
    base: i64,
    path: std::path::PathBuf,
    file: File,
    size: u64,
    next_offset: i64,
    batches: Vec<(u64, BatchHeader)>,
}

impl PartitionLog {
    /// The cleanable range of a compacted log, given its cleaner checkpoint; `None` when
    /// the log is not compacted or nothing dirty may be cleaned yet.
    pub(crate) fn cleanable(&self, checkpoint: Option<i64>, now_ms: i64) -> Option<Cleanable> {
        let inner = self.lock();
        let cfg = &inner.config;
        if !cfg.compact || inner.closed {
            return None;
        }
        let mut first_dirty = checkpoint.unwrap_or(inner.log_start);
        if first_dirty < inner.log_start || first_dirty > inner.next_offset {
            first_dirty = inner.log_start;
        }
        let hw = inner.high_watermark();
        let young_after = now_ms.saturating_sub(cfg.min_compaction_lag_ms);
        let count = inner.segments.len();
        let (mut clean_bytes, mut dirty_bytes) = (0, 0);
        let mut end = None;
        let mut first_dirty_ts = None;
        for (i, seg) in inner.segments.values().enumerate() {
            if seg.next_offset <= first_dirty && i + 1 < count {
                clean_bytes += seg.size;
                continue;
            }
            let young = cfg.min_compaction_lag_ms > 0 && seg.largest_timestamp() > young_after;
            if i + 1 == count || seg.next_offset > hw || young {
                end = Some(seg.base);
                break;
            }
            dirty_bytes += seg.size;
            if first_dirty_ts.is_none() {
                first_dirty_ts = seg.state.first_batch_timestamp;
            }
        }
        let end = end?;
        if end <= first_dirty || dirty_bytes == 0 {
            return None;
        }
        let overdue = cfg.max_compaction_lag_ms < i64::MAX
            && first_dirty_ts
                .is_some_and(|t| t >= 0 && now_ms.saturating_sub(t) > cfg.max_compaction_lag_ms);
        Some(Cleanable {
            first_dirty,
            end,
            clean_bytes,
            dirty_bytes,
            overdue,
            min_ratio: cfg.min_cleanable_dirty_ratio,
        })
    }

    /// Cleans the log up to `c.end` (or as far as the offset map reaches): every segment
    /// below is rewritten, in groups, keeping the latest record per key. `io` is told of
    /// every chunk of bytes read or written (the caller throttles there); when it answers
    /// `false` the pass stops (`StorageError::CleanerStopped`), leaving the log as it was
    /// or with the groups already swapped in.
    pub(crate) fn clean(
        &self,
        c: &Cleanable,
        limits: PassLimits,
        now_ms: i64,
        io: &mut dyn FnMut(u64) -> bool,
    ) -> Result<Cleaned, StorageError> {
        self.health.check()?;
        let result = self.clean_unnoted(c, limits, now_ms, io);
        self.health.note(result)
    }

    fn clean_unnoted(
        &self,
        c: &Cleanable,
        limits: PassLimits,
        now_ms: i64,
        io: &mut dyn FnMut(u64) -> bool,
    ) -> Result<Cleaned, StorageError> {
        let (views, producers, config) = {
            let inner = self.lock();
            self.check_open(&inner)?;
            let views: Vec<(SegmentView, i64)> = inner
                .segments
                .values()
                .filter(|s| s.base < c.end)
                .map(|s| (s.view(), s.next_offset))
                .collect();
            (views, inner.producers.last_offsets(), inner.config.clone())
        };
        let mut stats = CleanStats::default();
        let map = build_offset_map(&views, c.first_dirty, limits, io, &mut stats)?;
        if map.latest < c.first_dirty {
            return Ok(Cleaned {
                first_dirty: c.first_dirty,
                stats,
            });
        }
        let upto = (map.latest + 1).min(c.end);
        let rules = Rules {
            map: &map,
            producers: &producers,
            now_ms,
            delete_retention_ms: config.delete_retention_ms,
        };
        let cleanable: Vec<&(SegmentView, i64)> =
            views.iter().filter(|(v, _)| v.base < upto).collect();
        for group in group_by_size(&cleanable, config.segment_bytes) {
            let written = self.write_cleaned(&group, &rules, limits, io, &mut stats)?;
            if !self.swap_in(&group, written, config.index_interval_bytes)? {
                log::info!(
                    "{}: log changed while it was cleaned; cleaning stops here",
                    self.tp
                );
                return Ok(Cleaned {
                    first_dirty: c.first_dirty,
                    stats,
                });
            }
            stats.segments_in += group.len();
            stats.segments_out += 1;
        }
        Ok(Cleaned {
            first_dirty: upto,
            stats,
        })
    }

    /// Writes one group's kept batches to `<base>.log.cleaned` and fsyncs it.
    fn write_cleaned(
        &self,
        group: &[&(SegmentView, i64)],
        rules: &Rules<'_>,
        limits: PassLimits,
        io: &mut dyn FnMut(u64) -> bool,
        stats: &mut CleanStats,
    ) -> Result<CleanedFile, StorageError> {
        let base = group[0].0.base;
        let path = segment_path(&self.dir, base, "log.cleaned");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .at(&path)?;
        let result = (|| {
            let mut out = CleanedFile {
                base,
                path: path.clone(),
                file: file.try_clone().at(&path)?,
                size: 0,
                next_offset: base,
                batches: Vec::new(),
            };
            let mut w = BufWriter::with_capacity(limits.io_buffer_size, &file);
            for (view, _) in group {
                let mut reader = BatchReader::new(view, limits.io_buffer_size);
                while let Some((h, bytes)) = reader.next()? {
                    keep_going(io, bytes.len())?;
                    stats.bytes_read += bytes.len() as u64;
                    let rebuilt;
                    let (h, bytes) = match rules.filter(&h, bytes, stats)? {
                        Kept::Dropped => continue,
                        Kept::Original => (h, bytes),
                        Kept::Rebuilt(b) => {
                            rebuilt = b;
                            (BatchHeader::parse(&rebuilt)?, &rebuilt[..])
                        }
                    };
                    w.write_all(bytes).at(&path)?;
                    keep_going(io, bytes.len())?;
                    out.batches.push((out.size, h));
                    out.size += bytes.len() as u64;
                    out.next_offset = h.next_offset();
                }
            }
            w.flush().at(&path)?;
            drop(w);
            // The cleaned segment ages like the segments it replaces (time retention).
            if let Some(last) = group.last()
                && let Ok(modified) = fs::metadata(&last.0.path).and_then(|m| m.modified())
            {
                let _ = file.set_modified(modified);
            }
            file.sync_all().at(&path)?;
            stats.bytes_written += out.size;
            Ok(out)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&path);
        }
        result
    }

    /// Replaces the group's segments with the cleaned file, under the partition lock,
    /// if they are still what was read (a truncation, retention or DeleteRecords meanwhile
    /// makes this pass stop: `false`, and the cleaned file is removed).
    fn swap_in(
        &self,
        group: &[&(SegmentView, i64)],
        cleaned: CleanedFile,
        interval: u32,
    ) -> Result<bool, StorageError> {
        let mut inner = self.lock();
        let active = inner.segments.keys().next_back().copied();
        let unchanged = !inner.closed
            && group.iter().all(|(view, next)| {
                Some(view.base) != active
                    && inner.segments.get(&view.base).is_some_and(|s| {
                        s.is_file(&view.file) && s.size == view.size && s.next_offset == *next
                    })
            });
        if !unchanged {
            drop(inner);
            fs::remove_file(&cleaned.path).at(&cleaned.path)?;
            return Ok(false);
        }
        let base = cleaned.base;
        let swap = segment_path(&self.dir, base, "log.swap");
        fs::rename(&cleaned.path, &swap).at(&swap)?;
        sync_dir(&self.dir)?;
        let mut created_ms = None;
        for (view, _) in group {
            if let Some(old) = inner.segments.remove(&view.base) {
                created_ms = created_ms.or(old.created_ms);
                old.delete_files()?;
            }
        }
        let log_path = segment_path(&self.dir, base, "log");
        fs::rename(&swap, &log_path).at(&log_path)?;
        let (state, offsets, times) = index_entries(base, &cleaned.batches, interval);
        let mut seg = Segment {
            base,
            log_path,
            file: std::sync::Arc::new(cleaned.file),
            size: cleaned.size,
            next_offset: cleaned.next_offset,
            offset_index: Index::open_with(
                &segment_path(&self.dir, base, "index"),
                offsets,
                false,
            )?,
            time_index: Index::open_with(
                &segment_path(&self.dir, base, "timeindex"),
                times,
                false,
            )?,
            state,
            created_ms,
        };
        seg.seal_time_index();
        seg.flush()?;
        sync_dir(&self.dir)?;
        inner.segments.insert(base, seg);
        self.publish(&inner);
        Ok(true)
    }
}

fn keep_going(io: &mut dyn FnMut(u64) -> bool, bytes: usize) -> Result<(), StorageError> {
    if io(bytes as u64) {
        Ok(())
    } else {
        Err(StorageError::CleanerStopped)
    }
}

/// Puts the latest offset of every key in the dirty part into the map, stopping at a batch
/// boundary once the map is full (at least one batch is always mapped).
fn build_offset_map(
    views: &[(SegmentView, i64)],
    first_dirty: i64,
    limits: PassLimits,
    io: &mut dyn FnMut(u64) -> bool,
    stats: &mut CleanStats,
) -> Result<OffsetMap, StorageError> {
    let mut map = OffsetMap {
        map: HashMap::new(),
        capacity: limits.map_capacity.max(1),
        latest: first_dirty - 1,
    };
    for (view, next) in views {
        if *next <= first_dirty {
            continue;
        }
        let mut reader = BatchReader::new(view, limits.io_buffer_size);
        while let Some((h, bytes)) = reader.next()? {
            keep_going(io, bytes.len())?;
            stats.bytes_read += bytes.len() as u64;
            if h.last_offset() < first_dirty {
                continue;
            }
            if map.map.len() >= map.capacity && map.latest >= first_dirty {
                return Ok(map);
            }
            if !h.is_control() {
                let mut it = RecordIter::new(bytes)?;
                while let Some(r) = it.next_raw() {
                    let r = r?;
                    if let (true, Some(key)) = (r.offset >= first_dirty, &r.key) {
                        map.map.insert(key_hash(key), r.offset);
                    }
                }
            }
            map.latest = h.last_offset();
        }
    }
    Ok(map)
}

/// Consecutive segments whose sizes add up to at most `segment_bytes` and whose offsets
/// fit one segment's 32-bit relative offsets (Kafka's `groupSegmentsBySize`).
fn group_by_size<'a>(
    segments: &[&'a (SegmentView, i64)],
    segment_bytes: u64,
) -> Vec<Vec<&'a (SegmentView, i64)>> {
    let max = segment_bytes.min(i32::MAX as u64);
    let mut groups: Vec<Vec<&(SegmentView, i64)>> = Vec::new();
    let mut size = 0u64;
    for &seg in segments {
        let fits = groups.last().is_some_and(|g| {
            size + seg.0.size <= max && seg.1 - 1 - g[0].0.base <= i64::from(i32::MAX)
        });
        if fits {
            size += seg.0.size;
            if let Some(g) = groups.last_mut() {
                g.push(seg);
            }
        } else {
            size = seg.0.size;
            groups.push(vec![seg]);
        }
    }
    groups
}

/// Completes a swap a crash interrupted (`<base>.log.swap` present): the segments it
/// replaces (bases inside its offset range) are deleted and it becomes `<base>.log`.
pub(crate) fn complete_swap(
    dir: &Path,
    base: i64,
    next_offset: i64,
    logs: &[i64],
) -> Result<(), StorageError> {
    for &old in logs
        .iter()
        .filter(|b| **b >= base && **b < next_offset.max(base + 1))
    {
        for ext in ["log", "index", "timeindex"] {
            let p = segment_path(dir, old, ext);
            match fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(StorageError::IoAt { path: p, source }),
            }
        }
    }
    let swap = segment_path(dir, base, "log.swap");
    let log = segment_path(dir, base, "log");
    fs::rename(&swap, &log).at(&log)?;
    sync_dir(dir)
}

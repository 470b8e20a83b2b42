//! Opening one partition directory: segment discovery, crash recovery, index rebuild,
//! producer-state rebuild, and validating (or rebuilding) the leader epoch cache.
//!
//! Owns: deciding which segments to verify (everything after the recovery point, or all
//! headers when the shutdown was clean), truncating at the first torn or corrupt batch,
//! dropping later segments, and keeping or rewriting `.index`/`.timeindex` files.
//! Must never: trust an index without checking it against the batches it points at, or
//! panic on any file content.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::{BufReader, Read};
use std::path::Path;

use super::epoch::{LEADER_EPOCH_FILE, LeaderEpochCache};
use super::error::{IoContext, StorageError};
use super::index::{Index, OffsetEntry, TimeEntry, read_entries};
use super::partition::{Inner, PartitionLog};
use super::producer::ProducerState;
use super::segment::{Segment, index_entries, segment_path};
use super::{LogConfig, TopicPartition};
use crate::format::batch::{self, BatchHeader, HEADER_LEN, MIN_BATCH_LENGTH};

/// Where a partition's load starts from.
pub(crate) struct LoadParams<'a> {
    pub tp: TopicPartition,
    pub dir: &'a Path,
    pub config: LogConfig,
    pub recovery_point: Option<i64>,
    pub log_start: Option<i64>,
    /// Checkpointed high watermark; `None` means the log end offset (no
    /// `replication-offset-checkpoint` file: a log directory of a single broker).
    pub high_watermark: Option<i64>,
    pub clean: bool,
    pub now_ms: i64,
    pub health: std::sync::Arc<super::health::LogDirHealth>,
}

/// What scanning one `.log` file found.
struct Scan {
    valid_size: u64,
    file_size: u64,
    next_offset: i64,
    /// (position, header) of every valid batch.
    batches: Vec<(u64, BatchHeader)>,
}

/// Leftovers removed at load: an interrupted cleaning's output, deletions, temp files.
/// (`.log.swap` is a finished cleaning whose swap was interrupted: completed instead.)
const SKIP_SUFFIXES: [&str; 3] = [".deleted", ".cleaned", ".tmp"];

fn parse_base(name: &str, ext: &str) -> Option<i64> {
    let stem = name.strip_suffix(ext)?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// Removes leftovers and orphan indexes; returns the base offsets of `.log` files.
fn discover(dir: &Path) -> Result<Vec<i64>, StorageError> {
    let mut logs = Vec::new();
    let mut indexes = Vec::new();
    let mut swaps = Vec::new();
    for entry in fs::read_dir(dir).at(dir)? {
        let entry = entry.at(dir)?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if let Some(base) = parse_base(&name, ".log.swap") {
            swaps.push(base);
        } else if SKIP_SUFFIXES.iter().any(|s| name.ends_with(s)) || name.ends_with(".swap") {
            log::info!("removing leftover file {}", entry.path().display());
            fs::remove_file(entry.path()).at(&entry.path())?;
        } else if let Some(base) = parse_base(&name, ".log") {
            logs.push(base);
        } else if let Some(base) =
            parse_base(&name, ".index").or_else(|| parse_base(&name, ".timeindex"))
        {
            indexes.push((base, entry.path()));
        }
    }
    logs.sort_unstable();
    for base in swaps {
        let path = segment_path(dir, base, "log.swap");
        let next = scan(&path, base, base, false)?.next_offset;
        log::info!(
            "{}: completing an interrupted cleaner swap (offsets {base}..{next})",
            path.display()
        );
        super::clean::complete_swap(dir, base, next, &logs)?;
        let replaced = |b: &i64| *b >= base && *b < next.max(base + 1);
        logs.retain(|b| !replaced(b));
        indexes.retain(|(b, _)| !replaced(b));
        logs.push(base);
        logs.sort_unstable();
    }
    for (base, path) in indexes {
        if logs.binary_search(&base).is_err() {
            fs::remove_file(&path).at(&path)?;
        }
    }
    Ok(logs)
}

/// Walks the batches of a segment. With `verify`, every batch's CRC is checked;
/// otherwise only headers and lengths. Stops at the first bad batch.
fn scan(path: &Path, base: i64, min_offset: i64, verify: bool) -> Result<Scan, StorageError> {
    let file = fs::File::open(path).at(path)?;
    let file_size = file.metadata().at(path)?.len();
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut out = Scan {
        valid_size: 0,
        file_size,
        next_offset: min_offset,
        batches: Vec::new(),
    };
    let mut buf = vec![0u8; HEADER_LEN];
    let mut pos = 0u64;
    while pos + HEADER_LEN as u64 <= file_size {
        buf.resize(HEADER_LEN, 0);
        reader.read_exact(&mut buf).at(path)?;
        let Ok(h) = BatchHeader::parse(&buf) else {
            break;
        };
        let size = h.total_size() as u64;
        if h.batch_length < MIN_BATCH_LENGTH || pos + size > file_size {
            break;
        }
        let body = (size - HEADER_LEN as u64) as usize;
        if verify {
            buf.resize(HEADER_LEN + body, 0);
            reader.read_exact(&mut buf[HEADER_LEN..]).at(path)?;
            if let Err(e) = batch::validate_one(&buf, false) {
                log::warn!(
                    "{}: corrupt batch at offset {} (position {pos}): {e}; truncating there",
                    path.display(),
                    h.base_offset
                );
                break;
            }
        } else {
            reader.seek_relative(body as i64).at(path)?;
        }
        let in_range =
            h.base_offset >= out.next_offset && h.last_offset() - base <= i64::from(i32::MAX);
        if !in_range || h.last_offset() < h.base_offset - 1 {
            log::warn!(
                "{}: batch at position {pos} has out-of-order offset {}",
                path.display(),
                h.base_offset
            );
            break;
        }
        out.batches.push((pos, h));
        out.next_offset = h.next_offset().max(out.next_offset);
        pos += size;
        out.valid_size = pos;
    }
    Ok(out)
}

/// An existing offset index is kept if every entry points at a scanned batch start whose
/// base offset is <= the entry's offset, and entries increase.
fn offset_index_ok(entries: &[OffsetEntry], base: i64, scan: &Scan) -> bool {
    let increasing = entries
        .windows(2)
        .all(|w| w[0].relative_offset < w[1].relative_offset && w[0].position < w[1].position);
    increasing
        && entries.iter().all(|e| {
            let found = scan
                .batches
                .binary_search_by_key(&u64::from(e.position), |(p, _)| *p);
            found
                .is_ok_and(|i| scan.batches[i].1.base_offset <= base + i64::from(e.relative_offset))
        })
}

fn time_index_ok(entries: &[TimeEntry], base: i64, scan: &Scan, max_ts: i64) -> bool {
    entries
        .windows(2)
        .all(|w| w[0].timestamp < w[1].timestamp && w[0].relative_offset <= w[1].relative_offset)
        && entries.iter().all(|e| {
            e.timestamp <= max_ts
                && base + i64::from(e.relative_offset) < scan.next_offset.max(base + 1)
        })
}

/// Opens a scanned segment, keeping valid index files and rebuilding the others.
fn open_segment(
    dir: &Path,
    base: i64,
    scan: &Scan,
    interval: u32,
    now_ms: i64,
) -> Result<Segment, StorageError> {
    let (state, offsets, times) = index_entries(base, &scan.batches, interval);
    let idx_path = segment_path(dir, base, "index");
    let time_path = segment_path(dir, base, "timeindex");
    // A file that is valid but shorter than the rebuilt entries lost its tail in a
    // crash (entries reach the file on flush and roll): the rebuilt ones replace it.
    let offset_index = match read_entries::<OffsetEntry>(&idx_path)? {
        Some(e) if e.len() >= offsets.len() && offset_index_ok(&e, base, scan) => {
            Index::open_with(&idx_path, e, true)?
        }
        _ => {
            log::info!("rebuilding {}", idx_path.display());
            Index::open_with(&idx_path, offsets, false)?
        }
    };
    let time_index = match read_entries::<TimeEntry>(&time_path)? {
        Some(e) if e.len() >= times.len() && time_index_ok(&e, base, scan, state.max_timestamp) => {
            Index::open_with(&time_path, e, true)?
        }
        _ => {
            log::info!("rebuilding {}", time_path.display());
            Index::open_with(&time_path, times, false)?
        }
    };
    let log_path = segment_path(dir, base, "log");
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&log_path)
        .at(&log_path)?;
    Ok(Segment {
        base,
        log_path,
        file: std::sync::Arc::new(file),
        size: scan.valid_size,
        next_offset: scan.next_offset.max(base),
        offset_index,
        time_index,
        state,
        created_ms: Some(now_ms),
    })
}

/// Reopens segment `base` after its `.log` was cut: indexes are rebuilt from the
/// remaining batches and everything is fsynced (a truncation must not come back).
pub(crate) fn reopen_truncated(
    dir: &Path,
    base: i64,
    interval: u32,
    created_ms: Option<i64>,
) -> Result<Segment, StorageError> {
    for ext in ["index", "timeindex"] {
        let p = segment_path(dir, base, ext);
        match fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(StorageError::IoAt { path: p, source }),
        }
    }
    let path = segment_path(dir, base, "log");
    let s = scan(&path, base, base, false)?;
    if s.valid_size < s.file_size {
        let f = OpenOptions::new().write(true).open(&path).at(&path)?;
        f.set_len(s.valid_size).at(&path)?;
    }
    let mut seg = open_segment(dir, base, &s, interval, created_ms.unwrap_or(0))?;
    seg.created_ms = created_ms;
    seg.flush()?;
    Ok(seg)
}

/// The epoch cache for a loaded log: the file, cut back to the log end, plus any epoch
/// newer than its latest that the batches show (a crash between a write and the file
/// update); without a usable file, rebuilt from the batches. Then cut to the log start.
fn load_epochs(
    dir: &Path,
    scanned: LeaderEpochCache,
    log_start: i64,
    log_end: i64,
) -> Result<LeaderEpochCache, StorageError> {
    let (mut cache, mut changed) = match LeaderEpochCache::load(dir)? {
        Some(mut c) => {
            let mut changed = c.truncate_from_end(log_end);
            for e in scanned.entries() {
                if c.latest_epoch().is_none_or(|l| e.epoch > l) {
                    changed |= c.assign(e.epoch, e.start_offset);
                }
            }
            (c, changed)
        }
        None => {
            let write = !scanned.entries().is_empty() || dir.join(LEADER_EPOCH_FILE).exists();
            (scanned, write)
        }
    };
    changed |= cache.truncate_from_start(log_start);
    if changed {
        cache.flush()?;
    }
    Ok(cache)
}

/// Loads (and if needed recovers) one partition directory.
pub(crate) fn load_partition(p: LoadParams<'_>) -> Result<PartitionLog, StorageError> {
    let bases = discover(p.dir)?;
    let recovery_point = p.recovery_point.unwrap_or(0);
    let interval = p.config.index_interval_bytes;
    let mut producers = ProducerState::default();
    let mut segments = BTreeMap::new();
    let mut next_offset = bases.first().copied().unwrap_or(0);
    let mut recovered = false;
    let mut scanned_epochs = LeaderEpochCache::empty(p.dir);
    for (i, &base) in bases.iter().enumerate() {
        let after_rp = bases.get(i + 1).is_none_or(|next| *next > recovery_point);
        let verify = !p.clean && after_rp;
        let path = segment_path(p.dir, base, "log");
        let min = next_offset.max(base);
        let s = scan(&path, base, min, verify)?;
        for (_, h) in &s.batches {
            producers.apply(h, h.max_timestamp);
            scanned_epochs.assign(h.partition_leader_epoch, h.base_offset);
        }
        let torn = s.valid_size < s.file_size;
        if torn {
            log::warn!(
                "{}: truncating {} from {} to {} bytes",
                p.tp,
                path.display(),
                s.file_size,
                s.valid_size
            );
            let f = OpenOptions::new().write(true).open(&path).at(&path)?;
            f.set_len(s.valid_size).at(&path)?;
            f.sync_all().at(&path)?;
        }
        let mut seg = open_segment(p.dir, base, &s, interval, p.now_ms)?;
        next_offset = seg.next_offset;
        let is_last = torn || i + 1 == bases.len();
        if !is_last {
            seg.seal_time_index();
        }
        if verify || torn {
            seg.flush()?;
            recovered = true;
        }
        segments.insert(base, seg);
        if torn {
            for later in &bases[i + 1..] {
                log::warn!("{}: deleting segment {later} after corruption", p.tp);
                for ext in ["log", "index", "timeindex"] {
                    let lp = segment_path(p.dir, *later, ext);
                    if lp.exists() {
                        fs::remove_file(&lp).at(&lp)?;
                    }
                }
            }
            break;
        }
    }
    if segments.is_empty() {
        let base = p.log_start.unwrap_or(0).max(0);
        segments.insert(base, Segment::create(p.dir, base, Some(p.now_ms))?);
        next_offset = base;
    }
    let first_base = segments.keys().next().copied().unwrap_or(0);
    let log_start = p
        .log_start
        .unwrap_or(first_base)
        .clamp(first_base, next_offset.max(first_base));
    if recovered {
        log::info!("{}: recovered log, end offset {next_offset}", p.tp);
    }
    let epochs = load_epochs(p.dir, scanned_epochs, log_start, next_offset)?;
    let high_watermark = p
        .high_watermark
        .unwrap_or(next_offset)
        .min(next_offset)
        .max(log_start);
    let inner = Inner {
        config: p.config,
        segments,
        log_start,
        next_offset,
        recovery_point: next_offset,
        producers,
        unflushed_messages: 0,
        last_flush_ms: p.now_ms,
        closed: false,
        pending_flush: Vec::new(),
        epochs,
        high_watermark,
        hw_follows_leo: true,
    };
    Ok(PartitionLog::from_parts(
        p.tp,
        p.dir.to_path_buf(),
        inner,
        p.health,
    ))
}

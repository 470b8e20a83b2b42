//! One log segment: `<base>.log` (held open) plus its `.index` and `.timeindex` (in
//! memory, written out on flush and roll).
//!
//! Owns: appending already-offset-assigned batch bytes, Kafka's index-interval rule,
//! per-segment timestamp bookkeeping, and positional reads of batch headers.
//! Must never: assign offsets, validate producers, or decide when to roll or delete.

use std::fs::{File, OpenOptions};
use std::io::IoSlice;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::{IoContext, StorageError};
use super::index::{Index, OffsetEntry, TimeEntry};
use crate::format::FileSlice;
use crate::format::batch::{BatchHeader, HEADER_LEN};
use crate::format::file_slice::pread_upto;

/// `<20-digit base offset>.<ext>` inside `dir`.
pub(crate) fn segment_path(dir: &Path, base: i64, ext: &str) -> PathBuf {
    dir.join(format!("{base:020}.{ext}"))
}

/// Writes all of `bufs`, in order, at `pos` with positioned vectored writes
/// (`pwritev(2)`), retrying short and interrupted writes. `bufs` is consumed.
pub(crate) fn pwrite_all_vectored(
    file: &File,
    mut bufs: &mut [IoSlice<'_>],
    mut pos: u64,
) -> std::io::Result<()> {
    // Linux and macOS cap one call at IOV_MAX (1024) buffers.
    const MAX_IOVS: usize = 1024;
    IoSlice::advance_slices(&mut bufs, 0); // drop leading empty buffers
    while !bufs.is_empty() {
        let offset = libc::off_t::try_from(pos).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "file offset too large")
        })?;
        let count = bufs.len().min(MAX_IOVS) as libc::c_int;
        // SAFETY: `IoSlice` is ABI compatible with `iovec` on Unix; the `count` buffers
        // it points to are valid for reads for the duration of the call.
        let n = unsafe {
            libc::pwritev(
                file.as_raw_fd(),
                bufs.as_ptr().cast::<libc::iovec>(),
                count,
                offset,
            )
        };
        match n {
            n if n > 0 => {
                IoSlice::advance_slices(&mut bufs, n as usize);
                pos += n as u64;
            }
            0 => return Err(std::io::ErrorKind::WriteZero.into()),
            _ => {
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
    Ok(())
}

/// Index bookkeeping that the scan at load time and live appends share.
#[derive(Clone, Debug, Default)]
pub(crate) struct IndexState {
    pub max_timestamp: i64,
    pub offset_of_max_timestamp: i64,
    pub bytes_since_last_entry: u64,
    pub first_batch_timestamp: Option<i64>,
}

/// What the interval rule says to add for one batch.
pub(crate) struct IndexAdds {
    pub offset: Option<OffsetEntry>,
    pub time: Option<(i64, u32)>,
}

impl IndexState {
    pub fn new() -> Self {
        IndexState {
            max_timestamp: -1,
            offset_of_max_timestamp: -1,
            ..Default::default()
        }
    }

    /// Kafka's `LogSegment.append` per-batch rule: track the max timestamp; once more than
    /// `interval` bytes were appended since the last entry, index this batch.
    pub fn on_batch(
        &mut self,
        base: i64,
        h: &BatchHeader,
        position: u64,
        interval: u32,
    ) -> IndexAdds {
        if self.first_batch_timestamp.is_none() {
            self.first_batch_timestamp = Some(h.max_timestamp);
        }
        if h.max_timestamp > self.max_timestamp {
            self.max_timestamp = h.max_timestamp;
            self.offset_of_max_timestamp = h.last_offset();
        }
        let mut adds = IndexAdds {
            offset: None,
            time: None,
        };
        if self.bytes_since_last_entry > u64::from(interval) {
            let rel = (h.last_offset() - base) as u32;
            adds.offset = Some(OffsetEntry {
                relative_offset: rel,
                position: position as u32,
            });
            if self.max_timestamp >= 0 {
                adds.time = Some((
                    self.max_timestamp,
                    (self.offset_of_max_timestamp - base) as u32,
                ));
            }
            self.bytes_since_last_entry = 0;
        }
        self.bytes_since_last_entry += h.total_size() as u64;
        adds
    }
}

/// The index entries Kafka's interval rule gives a segment's batches (each with its file
/// position), and the bookkeeping after the last: what a loaded or a cleaned segment
/// starts from.
pub(crate) fn index_entries(
    base: i64,
    batches: &[(u64, BatchHeader)],
    interval: u32,
) -> (IndexState, Vec<OffsetEntry>, Vec<TimeEntry>) {
    let mut state = IndexState::new();
    let mut offsets = Vec::new();
    let mut times: Vec<TimeEntry> = Vec::new();
    for (pos, h) in batches {
        let adds = state.on_batch(base, h, *pos, interval);
        offsets.extend(adds.offset);
        if let Some((ts, rel)) = adds.time
            && times.last().is_none_or(|t| ts > t.timestamp)
        {
            times.push(TimeEntry {
                timestamp: ts,
                relative_offset: rel,
            });
        }
    }
    (state, offsets, times)
}

/// Files of a rolled segment waiting for their fsync.
pub(crate) struct SyncHandles {
    log: (PathBuf, Arc<File>),
    indexes: Vec<(PathBuf, File)>,
}

impl SyncHandles {
    pub fn sync(&self) -> Result<(), StorageError> {
        self.log.1.sync_all().at(&self.log.0)?;
        for (path, f) in &self.indexes {
            f.sync_all().at(path)?;
        }
        Ok(())
    }
}

/// An open segment.
pub(crate) struct Segment {
    pub base: i64,
    pub log_path: PathBuf,
    pub file: Arc<File>,
    /// Committed size in bytes; readers never look past it.
    pub size: u64,
    /// Offset following the last batch (== base when empty).
    pub next_offset: i64,
    pub offset_index: Index<OffsetEntry>,
    pub time_index: Index<TimeEntry>,
    pub state: IndexState,
    /// Time of creation (first append for new segments, load time for loaded ones).
    pub created_ms: Option<i64>,
}

impl Segment {
    /// Creates a fresh empty segment, truncating leftovers with the same base.
    pub fn create(dir: &Path, base: i64, created_ms: Option<i64>) -> Result<Segment, StorageError> {
        let log_path = segment_path(dir, base, "log");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&log_path)
            .at(&log_path)?;
        Ok(Segment {
            base,
            log_path,
            file: Arc::new(file),
            size: 0,
            next_offset: base,
            offset_index: Index::create(&segment_path(dir, base, "index"))?,
            time_index: Index::create(&segment_path(dir, base, "timeindex"))?,
            state: IndexState::new(),
            created_ms,
        })
    }

    /// True if `offset` can be stored as a relative offset of this segment.
    pub fn can_hold(&self, offset: i64) -> bool {
        offset - self.base <= i64::from(i32::MAX) && offset >= self.base
    }

    /// Appends batches (offsets already assigned) given as buffers that together are
    /// their concatenation, written with one positioned vectored write; `headers` give
    /// each batch's position inside that concatenation. On a write error the file is cut
    /// back, so no partial batch is left behind.
    pub fn append(
        &mut self,
        data: &mut [IoSlice<'_>],
        headers: &[(usize, BatchHeader)],
        interval: u32,
    ) -> Result<(), StorageError> {
        let len: u64 = data.iter().map(|b| b.len() as u64).sum();
        if let Err(e) = pwrite_all_vectored(&self.file, data, self.size) {
            let _ = self.file.set_len(self.size);
            return Err(StorageError::IoAt {
                path: self.log_path.clone(),
                source: e,
            });
        }
        for (pos, h) in headers {
            let adds = self
                .state
                .on_batch(self.base, h, self.size + *pos as u64, interval);
            if let Some(e) = adds.offset {
                self.offset_index.append(e);
            }
            if let Some((ts, rel)) = adds.time {
                self.time_index.maybe_append(ts, rel);
            }
            self.next_offset = h.next_offset();
        }
        self.size += len;
        Ok(())
    }

    /// Kafka's `onBecomeInactiveSegment`/close: record the final max timestamp.
    pub fn seal_time_index(&mut self) {
        if self.state.max_timestamp >= 0 {
            let rel = (self.state.offset_of_max_timestamp - self.base) as u32;
            self.time_index.maybe_append(self.state.max_timestamp, rel);
        }
    }

    /// fsyncs the log and writes out and fsyncs both indexes.
    pub fn flush(&mut self) -> Result<(), StorageError> {
        self.file.sync_all().at(&self.log_path)?;
        self.offset_index.flush()?;
        self.time_index.flush()
    }

    /// Writes out the indexes and returns handles on this segment's files that can be
    /// fsynced later, outside the partition lock (the log file is shared; the index
    /// descriptors are closed once synced).
    pub fn sync_handles(&mut self) -> Result<SyncHandles, StorageError> {
        Ok(SyncHandles {
            log: (self.log_path.clone(), self.file.clone()),
            indexes: vec![
                self.offset_index.write_for_sync()?,
                self.time_index.write_for_sync()?,
            ],
        })
    }

    /// Largest timestamp for retention: max batch timestamp, else the file mtime.
    pub fn largest_timestamp(&self) -> i64 {
        if self.state.max_timestamp >= 0 {
            return self.state.max_timestamp;
        }
        std::fs::metadata(&self.log_path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(self.created_ms.unwrap_or(-1), |d| d.as_millis() as i64)
    }

    /// Removes the segment's files (missing files are fine).
    pub fn delete_files(&self) -> Result<(), StorageError> {
        for p in [
            self.log_path.as_path(),
            self.offset_index.path(),
            self.time_index.path(),
        ] {
            match std::fs::remove_file(p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(StorageError::IoAt {
                        path: p.to_path_buf(),
                        source: e,
                    });
                }
            }
        }
        Ok(())
    }

    /// Whether this segment writes to `file` (not a later segment with the same base).
    pub fn is_file(&self, file: &Arc<File>) -> bool {
        Arc::ptr_eq(&self.file, file)
    }

    /// A read-only view for I/O outside the partition lock.
    pub fn view(&self) -> SegmentView {
        SegmentView {
            base: self.base,
            file: Arc::clone(&self.file),
            size: self.size,
            path: self.log_path.clone(),
        }
    }

    /// File position to start scanning from for `offset` (sparse index lookup).
    pub fn index_position(&self, offset: i64) -> u64 {
        let rel = (offset - self.base).clamp(0, i64::from(u32::MAX)) as u32;
        self.offset_index
            .lookup(rel)
            .map_or(0, |e| u64::from(e.position))
    }

    /// Start of the last indexed batch at or before position `limit` whose last offset is
    /// at most `max_offset` (0 when none). Every batch before it ends by `limit` and lies
    /// below `max_offset`; that batch itself may end at `max_offset` (an exclusive bound
    /// for the read), so the caller still checks it. Index entries map a batch's last
    /// offset to its start.
    pub fn boundary_before(&self, limit: u64, max_offset: i64) -> u64 {
        self.offset_index
            .lookup_within(limit, max_offset.saturating_sub(self.base))
            .map_or(0, |e| u64::from(e.position))
    }

    /// File position to start a timestamp search from (time index, then offset index).
    pub fn time_position(&self, ts: i64, min_offset: i64) -> u64 {
        let from = self
            .time_index
            .lookup_before(ts)
            .map_or(self.base, |e| self.base + i64::from(e.relative_offset));
        self.index_position(from.max(min_offset))
    }
}

/// Immutable snapshot of a segment for reads without holding the partition lock.
#[derive(Clone)]
pub(crate) struct SegmentView {
    pub base: i64,
    pub file: Arc<File>,
    pub size: u64,
    pub path: PathBuf,
}

impl SegmentView {
    /// Header of the batch at `pos`, or `None` at (or past) the committed end.
    pub fn header_at(&self, pos: u64) -> Result<Option<BatchHeader>, StorageError> {
        if pos + HEADER_LEN as u64 > self.size {
            return Ok(None);
        }
        let mut buf = [0u8; HEADER_LEN];
        let n = pread_upto(&self.file, &mut buf, pos).at(&self.path)?;
        let h = BatchHeader::parse(&buf[..n])?;
        if pos + h.total_size() as u64 > self.size
            || h.batch_length < crate::format::batch::MIN_BATCH_LENGTH
        {
            return Err(StorageError::CorruptBatch(
                crate::format::batch::BatchError::InvalidLength(h.batch_length),
            ));
        }
        Ok(Some(h))
    }

    /// From `pos`, finds the first batch whose last offset >= `offset`.
    pub fn find_batch(
        &self,
        mut pos: u64,
        offset: i64,
    ) -> Result<Option<(u64, BatchHeader)>, StorageError> {
        while let Some(h) = self.header_at(pos)? {
            if h.last_offset() >= offset {
                return Ok(Some((pos, h)));
            }
            pos += h.total_size() as u64;
        }
        Ok(None)
    }

    /// The `len` bytes at `pos`, not read.
    pub fn slice(&self, pos: u64, len: usize) -> FileSlice {
        FileSlice::new(Arc::clone(&self.file), self.path.clone(), pos, len)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::FileExt;

    use super::*;

    #[test]
    fn vectored_write_writes_every_buffer_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.path().join("f"))
            .unwrap();
        file.write_all_at(b"head", 0).unwrap();
        // more buffers than one pwritev takes, with empty ones at both ends and between
        let parts: Vec<Vec<u8>> = (0..2500u32)
            .map(|i| vec![(i % 251) as u8; (i % 4) as usize])
            .collect();
        let mut bufs: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
        pwrite_all_vectored(&file, &mut bufs, 4).unwrap();
        let expected: Vec<u8> = b"head"
            .iter()
            .chain(parts.iter().flatten())
            .copied()
            .collect();
        let mut got = vec![0u8; expected.len() + 1];
        let n = pread_upto(&file, &mut got, 0).unwrap();
        assert_eq!(&got[..n], &expected[..]);
        pwrite_all_vectored(&file, &mut [IoSlice::new(&[])], 0).unwrap();
    }
}

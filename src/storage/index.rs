//! Sparse offset index (`.index`) and time index (`.timeindex`) in Kafka's file format.
//!
//! Owns: the entry encodings (offset index: 4-byte BE relative offset + 4-byte BE file
//! position; time index: 8-byte BE timestamp + 4-byte BE relative offset), the files
//! (written out on flush and roll, not preallocated, no descriptor held) and the
//! in-memory entries every lookup uses.
//! Must never: decide when entries are added (the segment does), or read the `.log`.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::error::{IoContext, StorageError};

/// One fixed-size index entry.
pub(crate) trait Entry: Copy + PartialEq {
    const SIZE: usize;
    fn encode(&self, out: &mut Vec<u8>);
    fn decode(b: &[u8]) -> Self;
}

/// Offset index entry: relative offset -> file position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OffsetEntry {
    pub relative_offset: u32,
    pub position: u32,
}

/// Time index entry: timestamp -> relative offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimeEntry {
    pub timestamp: i64,
    pub relative_offset: u32,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl Entry for OffsetEntry {
    const SIZE: usize = 8;
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.relative_offset.to_be_bytes());
        out.extend_from_slice(&self.position.to_be_bytes());
    }
    fn decode(b: &[u8]) -> Self {
        OffsetEntry {
            relative_offset: u32_at(b, 0),
            position: u32_at(b, 4),
        }
    }
}

impl Entry for TimeEntry {
    const SIZE: usize = 12;
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.relative_offset.to_be_bytes());
    }
    fn decode(b: &[u8]) -> Self {
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&b[0..8]);
        TimeEntry {
            timestamp: i64::from_be_bytes(ts),
            relative_offset: u32_at(b, 8),
        }
    }
}

/// An index file plus its in-memory entries. Lookups use the entries only, and no file
/// descriptor is held: appends go to memory and are written out (the entries since the
/// last write, at their place in the file) when the segment is flushed or rolled, as
/// Kafka's memory-mapped indexes reach the disk only then. After a crash a file may lack
/// its last entries; recovery rebuilds them from the batches.
pub(crate) struct Index<E: Entry> {
    path: PathBuf,
    entries: Vec<E>,
    /// Entries already in the file.
    written: usize,
}

/// Reads all entries of an index file; `Ok(None)` if it is missing or its length is not
/// a multiple of the entry size (both mean: rebuild).
pub(crate) fn read_entries<E: Entry>(path: &Path) -> Result<Option<Vec<E>>, StorageError> {
    let mut buf = Vec::new();
    match File::open(path) {
        Ok(mut f) => f.read_to_end(&mut buf).at(path)?,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(StorageError::IoAt {
                path: path.to_path_buf(),
                source: e,
            });
        }
    };
    if buf.len() % E::SIZE != 0 {
        return Ok(None);
    }
    Ok(Some(buf.chunks_exact(E::SIZE).map(E::decode).collect()))
}

impl<E: Entry> Index<E> {
    /// An index of `entries` at `path`. Unless `on_disk_matches`, the file is (re)written
    /// to hold exactly them.
    pub fn open_with(
        path: &Path,
        entries: Vec<E>,
        on_disk_matches: bool,
    ) -> Result<Self, StorageError> {
        if !on_disk_matches {
            let mut buf = Vec::with_capacity(entries.len() * E::SIZE);
            for e in &entries {
                e.encode(&mut buf);
            }
            let file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(path)
                .at(path)?;
            file.write_all_at(&buf, 0).at(path)?;
        }
        Ok(Index {
            path: path.to_path_buf(),
            written: entries.len(),
            entries,
        })
    }

    /// Creates an empty index file (truncating any leftover).
    pub fn create(path: &Path) -> Result<Self, StorageError> {
        Self::open_with(path, Vec::new(), false)
    }

    #[cfg(test)]
    pub fn entries(&self) -> &[E] {
        &self.entries
    }

    pub fn append(&mut self, e: E) {
        self.entries.push(e);
    }

    /// Writes the entries the file lacks; returns the open file (for an fsync).
    fn write_out(&mut self) -> Result<File, StorageError> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.path)
            .at(&self.path)?;
        if self.written < self.entries.len() {
            let mut buf = Vec::with_capacity((self.entries.len() - self.written) * E::SIZE);
            for e in &self.entries[self.written..] {
                e.encode(&mut buf);
            }
            file.write_all_at(&buf, (self.written * E::SIZE) as u64)
                .at(&self.path)?;
            self.written = self.entries.len();
        }
        Ok(file)
    }

    /// Writes out the file and hands over its descriptor for a later fsync.
    pub fn write_for_sync(&mut self) -> Result<(PathBuf, File), StorageError> {
        Ok((self.path.clone(), self.write_out()?))
    }

    /// Writes out and fsyncs the file.
    pub fn flush(&mut self) -> Result<(), StorageError> {
        self.write_out()?.sync_all().at(&self.path)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Index<OffsetEntry> {
    /// Largest entry with relative offset <= `relative`; `None` means "start of segment".
    pub fn lookup(&self, relative: u32) -> Option<OffsetEntry> {
        let i = self
            .entries
            .partition_point(|e| e.relative_offset <= relative);
        i.checked_sub(1).map(|i| self.entries[i])
    }

    /// Largest entry with position <= `position` and relative offset <= `relative`
    /// (both grow along the index).
    pub fn lookup_within(&self, position: u64, relative: i64) -> Option<OffsetEntry> {
        let by_position = self
            .entries
            .partition_point(|e| u64::from(e.position) <= position);
        let by_offset = self
            .entries
            .partition_point(|e| i64::from(e.relative_offset) <= relative);
        by_position
            .min(by_offset)
            .checked_sub(1)
            .map(|i| self.entries[i])
    }
}

impl Index<TimeEntry> {
    /// Largest entry with timestamp < `ts` (strictly: every record before that entry's
    /// batch is then known to be older than `ts`); `None` means "start of segment".
    pub fn lookup_before(&self, ts: i64) -> Option<TimeEntry> {
        let i = self.entries.partition_point(|e| e.timestamp < ts);
        i.checked_sub(1).map(|i| self.entries[i])
    }

    /// Kafka's `maybeAppend`: only when `ts` exceeds the last indexed timestamp.
    pub fn maybe_append(&mut self, ts: i64, relative: u32) {
        let last_ts = self.entries.last().map_or(-1, |e| e.timestamp);
        let last_off = self.entries.last().map_or(0, |e| e.relative_offset);
        if ts > last_ts && relative >= last_off {
            self.append(TimeEntry {
                timestamp: ts,
                relative_offset: relative,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_index_file_format_and_lookup() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("0.index");
        let mut idx = Index::<OffsetEntry>::create(&p).unwrap();
        idx.append(OffsetEntry {
            relative_offset: 10,
            position: 4100,
        });
        assert_eq!(std::fs::read(&p).unwrap(), b"", "appends stay in memory");
        idx.flush().unwrap();
        idx.append(OffsetEntry {
            relative_offset: 20,
            position: 8300,
        });
        idx.flush().unwrap();
        let raw = std::fs::read(&p).unwrap();
        assert_eq!(
            raw,
            [0, 0, 0, 10, 0, 0, 0x10, 0x04, 0, 0, 0, 20, 0, 0, 0x20, 0x6c]
        );
        assert_eq!(idx.lookup(5), None);
        assert_eq!(idx.lookup(10).unwrap().position, 4100);
        assert_eq!(idx.lookup(19).unwrap().position, 4100);
        assert_eq!(idx.lookup(99).unwrap().position, 8300);
        let back: Vec<OffsetEntry> = read_entries(&p).unwrap().unwrap();
        assert_eq!(back, idx.entries());
    }

    #[test]
    fn time_index_maybe_append() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("0.timeindex");
        let mut idx = Index::<TimeEntry>::create(&p).unwrap();
        idx.maybe_append(100, 3);
        idx.maybe_append(100, 5); // not greater: skipped
        idx.maybe_append(200, 9);
        assert_eq!(idx.entries().len(), 2);
        idx.flush().unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().len(), 24);
        assert_eq!(idx.lookup_before(100), None);
        assert_eq!(idx.lookup_before(101).unwrap().relative_offset, 3);
        assert_eq!(idx.lookup_before(1000).unwrap().relative_offset, 9);
        std::fs::write(&p, [0u8; 13]).unwrap();
        assert!(read_entries::<TimeEntry>(&p).unwrap().is_none());
    }
}

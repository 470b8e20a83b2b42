//! The leader epoch cache of one partition (Kafka's `LeaderEpochFileCache`) and its
//! `leader-epoch-checkpoint` file in the partition directory.
//!
//! Owns: the ordered `(epoch, start offset)` entries, Kafka's assignment, truncation and
//! OffsetForLeaderEpoch lookup rules, and the file format (line 1 version `0`, line 2 entry
//! count, then `epoch startOffset` lines), always written atomically.
//! Must never: read the log (the partition feeds it batch epochs), or fail a load on a
//! malformed file (that is reported and the cache rebuilt from the batches).

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::checkpoint::write_atomic;
use super::error::StorageError;

/// File name of the cache inside the partition directory.
pub(crate) const LEADER_EPOCH_FILE: &str = "leader-epoch-checkpoint";
/// Kafka's `UNDEFINED_EPOCH`.
pub const UNDEFINED_EPOCH: i32 = -1;
/// Kafka's `UNDEFINED_EPOCH_OFFSET`.
pub const UNDEFINED_EPOCH_OFFSET: i64 = -1;

/// One cache entry: the first offset written in `epoch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EpochEntry {
    pub epoch: i32,
    pub start_offset: i64,
}

/// Entries are strictly increasing in both epoch and start offset.
pub(crate) struct LeaderEpochCache {
    path: PathBuf,
    entries: Vec<EpochEntry>,
}

fn parse(text: &str) -> Result<Vec<EpochEntry>, String> {
    let mut out: Vec<EpochEntry> = Vec::new();
    for line in super::checkpoint::entry_lines(text)? {
        let mut parts = line.split_whitespace();
        let (Some(epoch), Some(offset), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!("malformed line {line:?}"));
        };
        let e = EpochEntry {
            epoch: epoch
                .parse()
                .map_err(|e| format!("epoch in {line:?}: {e}"))?,
            start_offset: offset
                .parse()
                .map_err(|e| format!("offset in {line:?}: {e}"))?,
        };
        let monotonic = out
            .last()
            .is_none_or(|l| e.epoch > l.epoch && e.start_offset > l.start_offset);
        if e.epoch < 0 || e.start_offset < 0 || !monotonic {
            return Err(format!("entry {line:?} is not monotonic or negative"));
        }
        out.push(e);
    }
    Ok(out)
}

impl LeaderEpochCache {
    /// An empty cache for the partition directory `dir` (nothing is written).
    pub fn empty(dir: &Path) -> Self {
        LeaderEpochCache {
            path: dir.join(LEADER_EPOCH_FILE),
            entries: Vec::new(),
        }
    }

    /// Reads the file in `dir`; `Ok(None)` if it is missing or malformed (rebuild).
    pub fn load(dir: &Path) -> Result<Option<Self>, StorageError> {
        let path = dir.join(LEADER_EPOCH_FILE);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) if e.kind() == ErrorKind::InvalidData => String::new(),
            Err(source) => return Err(StorageError::IoAt { path, source }),
        };
        match parse(&text) {
            Ok(entries) => Ok(Some(LeaderEpochCache { path, entries })),
            Err(reason) => {
                let err = StorageError::BadCheckpoint { path, reason };
                log::warn!("{err}; rebuilding it from the record batches");
                Ok(None)
            }
        }
    }

    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    pub fn latest(&self) -> Option<EpochEntry> {
        self.entries.last().copied()
    }

    pub fn latest_epoch(&self) -> Option<i32> {
        self.latest().map(|e| e.epoch)
    }

    /// Kafka's `assign`: adds `(epoch, start_offset)` if the epoch is new (or the same
    /// epoch now starts earlier), first removing entries from the end whose epoch or start
    /// offset is not below the new one. Negative values are ignored. Returns whether the
    /// cache changed (the caller then calls [`flush`](Self::flush)).
    pub fn assign(&mut self, epoch: i32, start_offset: i64) -> bool {
        if epoch < 0 || start_offset < 0 {
            return false;
        }
        let needed = self
            .latest()
            .is_none_or(|l| l.epoch != epoch || start_offset < l.start_offset);
        if !needed {
            return false;
        }
        let before = self.entries.len();
        while self
            .entries
            .last()
            .is_some_and(|l| l.epoch >= epoch || l.start_offset >= start_offset)
        {
            self.entries.pop();
        }
        let removed = before - self.entries.len();
        if removed > 1 {
            log::warn!(
                "{}: new epoch entry ({epoch}, {start_offset}) removed {removed} entries",
                self.path.display()
            );
        }
        self.entries.push(EpochEntry {
            epoch,
            start_offset,
        });
        true
    }

    /// Kafka's `endOffsetFor`: `(largest epoch <= requested, start offset of the next
    /// higher epoch)`, the log end offset for the latest epoch, or
    /// `(UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET)` when the requested epoch is undefined or
    /// above every known epoch. An epoch below every known one answers
    /// `(requested, first start offset)`.
    pub fn end_offset_for(&self, requested: i32, log_end_offset: i64) -> (i32, i64) {
        const UNDEFINED: (i32, i64) = (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET);
        if requested == UNDEFINED_EPOCH {
            return UNDEFINED;
        }
        if self.latest_epoch() == Some(requested) {
            return (requested, log_end_offset);
        }
        let higher = self.entries.partition_point(|e| e.epoch <= requested);
        let Some(next) = self.entries.get(higher) else {
            return UNDEFINED;
        };
        match higher.checked_sub(1).map(|i| self.entries[i]) {
            Some(floor) => (floor.epoch, next.start_offset),
            None => (requested, next.start_offset),
        }
    }

    /// Kafka's `truncateFromEnd`: removes entries starting at or after `end_offset`.
    pub fn truncate_from_end(&mut self, end_offset: i64) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.start_offset < end_offset);
        self.entries.len() != before
    }

    /// Kafka's `truncateFromStart`: drops entries starting at or before `start_offset`
    /// except the last of them, which is moved to start at `start_offset`.
    pub fn truncate_from_start(&mut self, start_offset: i64) -> bool {
        let n = self
            .entries
            .partition_point(|e| e.start_offset <= start_offset);
        let Some(last) = n.checked_sub(1).map(|i| self.entries[i]) else {
            return false;
        };
        if n == 1 && last.start_offset == start_offset {
            return false;
        }
        self.entries.drain(..n);
        self.entries.insert(
            0,
            EpochEntry {
                epoch: last.epoch,
                start_offset,
            },
        );
        true
    }

    /// Removes every entry. Returns whether there were any.
    pub fn clear(&mut self) -> bool {
        let had = !self.entries.is_empty();
        self.entries.clear();
        had
    }

    /// Atomically writes the file.
    pub fn flush(&self) -> Result<(), StorageError> {
        let mut text = format!("0\n{}\n", self.entries.len());
        for e in &self.entries {
            text.push_str(&format!("{} {}\n", e.epoch, e.start_offset));
        }
        write_atomic(&self.path, &text)
    }

    /// Removes the file if present (a brand-new log).
    pub fn remove_file(&self) -> Result<(), StorageError> {
        match fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StorageError::IoAt {
                path: self.path.clone(),
                source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(c: &LeaderEpochCache) -> Vec<(i32, i64)> {
        c.entries()
            .iter()
            .map(|e| (e.epoch, e.start_offset))
            .collect()
    }

    #[test]
    fn assign_rules() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = LeaderEpochCache::empty(dir.path());
        assert!(c.assign(0, 0));
        assert!(!c.assign(0, 5)); // same epoch, later offset: nothing
        assert!(c.assign(2, 10));
        assert!(!c.assign(-1, 20));
        assert!(c.assign(3, 10)); // same start offset: (2, 10) never had data
        assert_eq!(pairs(&c), vec![(0, 0), (3, 10)]);
        assert!(c.assign(3, 8)); // same epoch starting earlier
        assert_eq!(pairs(&c), vec![(0, 0), (3, 8)]);
        assert!(c.assign(1, 4)); // non-monotonic: later entries go
        assert_eq!(pairs(&c), vec![(0, 0), (1, 4)]);
    }

    #[test]
    fn end_offset_for_semantics() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = LeaderEpochCache::empty(dir.path());
        assert_eq!(c.end_offset_for(0, 10), (-1, -1));
        c.assign(1, 5);
        c.assign(3, 20);
        c.assign(6, 40);
        assert_eq!(c.end_offset_for(-1, 99), (-1, -1));
        assert_eq!(c.end_offset_for(0, 99), (0, 5)); // below the first epoch
        assert_eq!(c.end_offset_for(1, 99), (1, 20));
        assert_eq!(c.end_offset_for(2, 99), (1, 20)); // unknown epoch: floor
        assert_eq!(c.end_offset_for(3, 99), (3, 40));
        assert_eq!(c.end_offset_for(5, 99), (3, 40));
        assert_eq!(c.end_offset_for(6, 99), (6, 99)); // latest: log end
        assert_eq!(c.end_offset_for(7, 99), (-1, -1));
    }

    #[test]
    fn truncation_and_file_roundtrip() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = LeaderEpochCache::empty(dir.path());
        for (e, o) in [(0, 0), (1, 10), (2, 20), (4, 30)] {
            c.assign(e, o);
        }
        c.flush().unwrap();
        let text = fs::read_to_string(dir.path().join(LEADER_EPOCH_FILE)).unwrap();
        assert_eq!(text, "0\n4\n0 0\n1 10\n2 20\n4 30\n");
        let back = LeaderEpochCache::load(dir.path()).unwrap().unwrap();
        assert_eq!(pairs(&back), pairs(&c));
        assert!(c.truncate_from_end(30));
        assert!(!c.truncate_from_end(31));
        assert_eq!(pairs(&c), vec![(0, 0), (1, 10), (2, 20)]);
        assert!(c.truncate_from_start(15));
        assert_eq!(pairs(&c), vec![(1, 15), (2, 20)]);
        assert!(!c.truncate_from_start(15));
        assert!(!c.truncate_from_start(3));
        assert!(c.truncate_from_start(20));
        assert_eq!(pairs(&c), vec![(2, 20)]);
        assert!(c.clear());
        // malformed files are reported as missing
        for bad in [
            "",
            "1\n0\n",
            "0\n2\n1 5\n",
            "0\n2\n3 5\n2 9\n",
            "0\n1\nx y\n",
        ] {
            fs::write(dir.path().join(LEADER_EPOCH_FILE), bad).unwrap();
            assert!(
                LeaderEpochCache::load(dir.path()).unwrap().is_none(),
                "{bad:?}"
            );
        }
        fs::remove_file(dir.path().join(LEADER_EPOCH_FILE)).unwrap();
        assert!(LeaderEpochCache::load(dir.path()).unwrap().is_none());
    }
}

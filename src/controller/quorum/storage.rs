//! The Raft log and vote of one controller, on disk in the quorum directory
//! (e.g. `<log.dir>/__cluster_metadata-0/`), implementing openraft's `RaftLogStorage`.
//!
//! Files:
//! - `vote.json` — the current vote, replaced atomically (tmp + fsync + rename + dir fsync).
//! - `raft.log` — an append-only stream of records `[len: u32 LE][crc32c: u32 LE][json]`,
//!   each an entry, a truncation, a purge mark or a committed id. Opening replays it and cuts
//!   a torn or corrupt tail (a `kill -9` mid-write). A purge rewrites the file (tmp + rename)
//!   with only the live entries, which also drops old committed marks.
//!
//! Owns: durability of log entries (fsynced before openraft is told they are flushed) and of
//! the vote. Must never: interpret entries (that is the state machine's job) or hold its lock
//! across an `.await`. All entries are kept in memory too: the metadata log is small and is
//! compacted by snapshots.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{
    AnyError, Entry, LogId, LogState, OptionalSend, RaftLogReader, StorageError, StorageIOError,
    Vote,
};
use serde::{Deserialize, Serialize};

use super::TypeConfig;

const LOG_FILE: &str = "raft.log";
const VOTE_FILE: &str = "vote.json";
/// A record larger than this is treated as corruption.
const MAX_RECORD: usize = 64 * 1024 * 1024;

type NodeId = u64;
type StorageResult<T> = Result<T, StorageError<NodeId>>;

/// One record of `raft.log`.
#[derive(Serialize, Deserialize)]
enum LogRecord {
    Entry(Entry<TypeConfig>),
    /// Entries with index >= `since` are deleted.
    Truncate {
        since: u64,
    },
    /// Entries up to and including this id are deleted (covered by a snapshot).
    Purged(LogId<NodeId>),
    Committed(LogId<NodeId>),
}

/// The log store; cheap to clone (clones share the same log), and its own log reader.
#[derive(Clone)]
pub(crate) struct LogStore {
    inner: Arc<Mutex<LogInner>>,
}

struct LogInner {
    dir: PathBuf,
    file: File,
    entries: BTreeMap<u64, Entry<TypeConfig>>,
    last_purged: Option<LogId<NodeId>>,
    committed: Option<LogId<NodeId>>,
    vote: Option<Vote<NodeId>>,
}

impl LogStore {
    /// Opens (or creates) the log in `dir`, recovering from a torn tail.
    pub(crate) fn open(dir: &Path) -> io::Result<LogStore> {
        fs::create_dir_all(dir)?;
        let vote = match fs::read(dir.join(VOTE_FILE)) {
            Ok(bytes) => Some(serde_json::from_slice(&bytes).map_err(io::Error::other)?),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let path = dir.join(LOG_FILE);
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)?;
        // Make the file's directory entry durable (it may have just been created).
        File::open(dir)?.sync_all()?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let (records, good_len) = decode_records(&bytes);
        if good_len < bytes.len() {
            log::warn!(
                "{}: cutting a torn tail of {} bytes at offset {good_len}",
                path.display(),
                bytes.len() - good_len
            );
            file.set_len(good_len as u64)?;
            file.sync_all()?;
        }
        let mut inner = LogInner {
            dir: dir.to_path_buf(),
            file,
            entries: BTreeMap::new(),
            last_purged: None,
            committed: None,
            vote,
        };
        for record in records {
            inner.replay(record);
        }
        Ok(LogStore {
            inner: Arc::new(Mutex::new(inner)),
        })
    }

    fn lock(&self) -> MutexGuard<'_, LogInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl LogInner {
    fn replay(&mut self, record: LogRecord) {
        match record {
            LogRecord::Entry(e) => {
                self.entries.insert(e.log_id.index, e);
            }
            LogRecord::Truncate { since } => {
                self.entries.split_off(&since);
            }
            LogRecord::Purged(id) => self.purge_in_memory(id),
            LogRecord::Committed(id) => self.committed = Some(id),
        }
    }

    fn purge_in_memory(&mut self, id: LogId<NodeId>) {
        self.entries = self.entries.split_off(&(id.index + 1));
        if self.last_purged.is_none_or(|p| p < id) {
            self.last_purged = Some(id);
        }
    }

    fn write_records(&mut self, records: &[LogRecord], sync: bool) -> io::Result<()> {
        let mut buf = Vec::new();
        for r in records {
            encode_record(&mut buf, r)?;
        }
        self.file.write_all(&buf)?;
        if sync {
            self.file.sync_data()?;
        }
        Ok(())
    }

    /// Rewrites `raft.log` with only what is live: purge mark, committed id, entries.
    fn rewrite(&mut self) -> io::Result<()> {
        let mut buf = Vec::new();
        if let Some(p) = self.last_purged {
            encode_record(&mut buf, &LogRecord::Purged(p))?;
        }
        if let Some(c) = self.committed {
            encode_record(&mut buf, &LogRecord::Committed(c))?;
        }
        for e in self.entries.values() {
            encode_record(&mut buf, &LogRecord::Entry(e.clone()))?;
        }
        write_atomic(&self.dir, LOG_FILE, &buf)?;
        self.file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(self.dir.join(LOG_FILE))?;
        Ok(())
    }
}

fn encode_record(buf: &mut Vec<u8>, record: &LogRecord) -> io::Result<()> {
    let json = serde_json::to_vec(record).map_err(io::Error::other)?;
    buf.extend_from_slice(&(json.len() as u32).to_le_bytes());
    buf.extend_from_slice(&crc32c::crc32c(&json).to_le_bytes());
    buf.extend_from_slice(&json);
    Ok(())
}

/// Decodes records until the end or the first torn/corrupt one; returns them and the length
/// of the good prefix.
fn decode_records(bytes: &[u8]) -> (Vec<LogRecord>, usize) {
    let mut records = Vec::new();
    let mut pos = 0;
    while let Some(header) = bytes.get(pos..pos + 8) {
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if len > MAX_RECORD {
            break;
        }
        let Some(payload) = bytes.get(pos + 8..pos + 8 + len) else {
            break;
        };
        if crc32c::crc32c(payload) != crc {
            break;
        }
        let Ok(record) = serde_json::from_slice(payload) else {
            break;
        };
        records.push(record);
        pos += 8 + len;
    }
    (records, pos)
}

/// Writes `dir/name` so that it survives a crash whole: tmp file, fsync, rename, dir fsync.
pub(crate) fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, dir.join(name))?;
    File::open(dir)?.sync_all()
}

fn write_err(e: io::Error) -> StorageError<NodeId> {
    StorageIOError::write_logs(AnyError::new(&e)).into()
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> StorageResult<Vec<Entry<TypeConfig>>> {
        let inner = self.lock();
        Ok(inner.entries.range(range).map(|(_, e)| e.clone()).collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> StorageResult<LogState<TypeConfig>> {
        let inner = self.lock();
        let last = inner.entries.values().next_back().map(|e| e.log_id);
        Ok(LogState {
            last_purged_log_id: inner.last_purged,
            last_log_id: last.or(inner.last_purged),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> StorageResult<()> {
        let mut inner = self.lock();
        let json = serde_json::to_vec(vote).map_err(|e| StorageIOError::write_vote(&e))?;
        write_atomic(&inner.dir, VOTE_FILE, &json)
            .map_err(|e| StorageIOError::write_vote(AnyError::new(&e)))?;
        inner.vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> StorageResult<Option<Vote<NodeId>>> {
        Ok(self.lock().vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId<NodeId>>) -> StorageResult<()> {
        let mut inner = self.lock();
        if let Some(c) = committed {
            // Not fsynced: a lost committed mark only means re-learning it from the leader.
            inner
                .write_records(&[LogRecord::Committed(c)], false)
                .map_err(write_err)?;
        }
        inner.committed = committed;
        Ok(())
    }

    async fn read_committed(&mut self) -> StorageResult<Option<LogId<NodeId>>> {
        Ok(self.lock().committed)
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> StorageResult<()>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<_> = entries.into_iter().collect();
        let records: Vec<_> = entries.iter().cloned().map(LogRecord::Entry).collect();
        let mut inner = self.lock();
        let result = inner.write_records(&records, true);
        if result.is_ok() {
            for e in entries {
                inner.entries.insert(e.log_id.index, e);
            }
        }
        drop(inner);
        let reported = result
            .as_ref()
            .map(|_| ())
            .map_err(|e| io::Error::new(e.kind(), e.to_string()));
        callback.log_io_completed(reported);
        result.map_err(write_err)
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> StorageResult<()> {
        let mut inner = self.lock();
        let since = log_id.index;
        inner
            .write_records(&[LogRecord::Truncate { since }], true)
            .map_err(write_err)?;
        inner.entries.split_off(&since);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> StorageResult<()> {
        let mut inner = self.lock();
        inner.purge_in_memory(log_id);
        inner.rewrite().map_err(write_err)
    }
}

#[cfg(test)]
mod tests {
    use openraft::{CommittedLeaderId, EntryPayload};

    use super::*;
    use crate::controller::quorum::state::MetadataCommand;

    fn entry(index: u64) -> Entry<TypeConfig> {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Normal(MetadataCommand::AllocateProducerIds { block_size: 1 }),
        }
    }

    fn write_entries(store: &LogStore, from: u64, to: u64) {
        let mut inner = store.lock();
        let records: Vec<_> = (from..=to).map(|i| LogRecord::Entry(entry(i))).collect();
        inner.write_records(&records, true).unwrap();
        for i in from..=to {
            inner.entries.insert(i, entry(i));
        }
    }

    #[test]
    fn torn_tail_is_cut_and_log_recovers() {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::open(dir.path()).unwrap();
        write_entries(&store, 1, 3);
        drop(store);
        let path = dir.path().join(LOG_FILE);
        let good = fs::metadata(&path).unwrap().len();
        // A torn write: half a record.
        let mut buf = Vec::new();
        encode_record(&mut buf, &LogRecord::Entry(entry(4))).unwrap();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&buf[..buf.len() / 2]).unwrap();
        drop(f);

        let store = LogStore::open(dir.path()).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().len(), good);
        let inner = store.lock();
        assert_eq!(inner.entries.keys().copied().collect::<Vec<_>>(), [1, 2, 3]);
    }

    #[test]
    fn truncate_and_purge_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::open(dir.path()).unwrap();
        write_entries(&store, 1, 10);
        {
            let mut inner = store.lock();
            inner
                .write_records(&[LogRecord::Truncate { since: 8 }], true)
                .unwrap();
            inner.entries.split_off(&8);
            inner.purge_in_memory(entry(3).log_id);
            inner.rewrite().unwrap();
        }
        drop(store);
        let store = LogStore::open(dir.path()).unwrap();
        let inner = store.lock();
        assert_eq!(
            inner.entries.keys().copied().collect::<Vec<_>>(),
            [4, 5, 6, 7]
        );
        assert_eq!(inner.last_purged, Some(entry(3).log_id));
    }
}

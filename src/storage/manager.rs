//! `LogManager`: every partition log of one log directory.
//!
//! Owns: the partition map, loading at startup (with the clean-shutdown marker and the
//! checkpoint files), the partitions that failed to load (offline: never recreated over,
//! their checkpoint entries kept), create/delete of partition directories, the log
//! directory's health, and the periodic duties (retention, flush, checkpoint) plus clean
//! shutdown.
//! Must never: sit on the append/fetch hot path beyond a read-locked map lookup, or run
//! a timer itself (callers drive `run_retention`/`flush_due`/`checkpoint`).

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::checkpoint::{self, LOG_START_FILE, RECOVERY_POINT_FILE, REPLICATION_OFFSET_FILE};
use super::cleaner::{CLEANER_CHECKPOINT_FILE, CleanerState};
use super::error::{IoContext, StorageError};
use super::health::LogDirHealth;
use super::load::{LoadParams, load_partition};
use super::partition::PartitionLog;
use super::{LogConfig, TopicPartition};

/// Kafka's clean-shutdown marker file in the log directory.
pub const CLEAN_SHUTDOWN_FILE: &str = ".kafka_cleanshutdown";

/// All partition logs of one log directory. `Send + Sync`; share as `Arc<LogManager>`.
pub struct LogManager {
    dir: PathBuf,
    logs: RwLock<HashMap<TopicPartition, Arc<PartitionLog>>>,
    /// Partitions whose directory failed to load, until a restart.
    offline: RwLock<HashMap<TopicPartition, OfflineLog>>,
    health: Arc<LogDirHealth>,
    /// Serialises checkpoint writers (they share tmp file names).
    checkpoint_lock: Mutex<()>,
    /// The log cleaner's checkpoints and skipped logs (`cleaner.rs`).
    cleaner: Mutex<CleanerState>,
}

/// A partition that failed to load: why, and its checkpointed offsets (written back
/// unchanged, so a later start that loads it still has them).
struct OfflineLog {
    reason: String,
    recovery_point: Option<i64>,
    log_start: Option<i64>,
    high_watermark: Option<i64>,
}

fn valid_topic(topic: &str) -> bool {
    !topic.is_empty()
        && topic != "."
        && topic != ".."
        && topic.len() <= 249
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

impl LogManager {
    /// Opens (creating if missing) `dir`, loads and recovers every `<topic>-<partition>`.
    /// A partition that fails to load is logged and kept offline (as Kafka takes a
    /// failed log offline rather than refusing to start); the others load.
    pub fn open(
        dir: &Path,
        configs: &dyn Fn(&str) -> LogConfig,
        now_ms: i64,
    ) -> Result<LogManager, StorageError> {
        fs::create_dir_all(dir).at(dir)?;
        let marker = dir.join(CLEAN_SHUTDOWN_FILE);
        let clean = marker.exists();
        let recovery_points = checkpoint::read(&dir.join(RECOVERY_POINT_FILE))?;
        let log_starts = checkpoint::read(&dir.join(LOG_START_FILE))?;
        // Without the file (a directory written before replication), every log's high
        // watermark is its log end; a log missing from the file starts at 0 (as Kafka),
        // clamped to its log start.
        let hw_path = dir.join(REPLICATION_OFFSET_FILE);
        let hw_file = hw_path.exists();
        let high_watermarks = checkpoint::read(&hw_path)?;
        let cleaner_points = checkpoint::read(&dir.join(CLEANER_CHECKPOINT_FILE))?;
        let health = Arc::new(LogDirHealth::new(dir));
        let mut logs = HashMap::new();
        let mut offline = HashMap::new();
        for entry in fs::read_dir(dir).at(dir)? {
            let entry = entry.at(dir)?;
            let path = entry.path();
            if !entry.file_type().at(&path)?.is_dir() {
                continue;
            }
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if name.ends_with("-delete") {
                log::info!("removing deleted log directory {}", path.display());
                fs::remove_dir_all(&path).at(&path)?;
                continue;
            }
            let Some(tp) = TopicPartition::parse_dir_name(&name) else {
                log::debug!("ignoring non-partition directory {}", path.display());
                continue;
            };
            let high_watermark = if hw_file {
                Some(high_watermarks.get(&tp).copied().unwrap_or(0))
            } else {
                None
            };
            let loaded = load_partition(LoadParams {
                dir: &path,
                config: configs(&tp.topic),
                recovery_point: recovery_points.get(&tp).copied(),
                log_start: log_starts.get(&tp).copied(),
                high_watermark,
                clean,
                now_ms,
                tp: tp.clone(),
                health: health.clone(),
            });
            match loaded {
                Ok(log) => {
                    logs.insert(tp, Arc::new(log));
                }
                Err(e) => {
                    log::error!(
                        "partition {tp} is offline: loading {} failed: {e}",
                        path.display()
                    );
                    let entry = OfflineLog {
                        reason: e.to_string(),
                        recovery_point: recovery_points.get(&tp).copied(),
                        log_start: log_starts.get(&tp).copied(),
                        high_watermark: high_watermarks.get(&tp).copied(),
                    };
                    offline.insert(tp, entry);
                }
            }
        }
        log::info!(
            "loaded {} partition log(s) from {} (clean shutdown: {clean}; {} offline)",
            logs.len(),
            dir.display(),
            offline.len()
        );
        let manager = LogManager {
            dir: dir.to_path_buf(),
            logs: RwLock::new(logs),
            offline: RwLock::new(offline),
            health,
            checkpoint_lock: Mutex::new(()),
            cleaner: Mutex::new(CleanerState {
                points: cleaner_points,
                ..Default::default()
            }),
        };
        manager.checkpoint()?;
        if clean {
            fs::remove_file(&marker).at(&marker)?;
        }
        Ok(manager)
    }

    pub(super) fn cleaner_state(&self) -> std::sync::MutexGuard<'_, CleanerState> {
        self.cleaner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Held while a checkpoint file is written (they share tmp file names).
    pub(super) fn checkpoint_guard(&self) -> std::sync::MutexGuard<'_, ()> {
        self.checkpoint_lock
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn read_logs(&self) -> RwLockReadGuard<'_, HashMap<TopicPartition, Arc<PartitionLog>>> {
        self.logs.read().unwrap_or_else(|e| e.into_inner())
    }

    fn read_offline(&self) -> RwLockReadGuard<'_, HashMap<TopicPartition, OfflineLog>> {
        self.offline.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_logs(&self) -> RwLockWriteGuard<'_, HashMap<TopicPartition, Arc<PartitionLog>>> {
        self.logs.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Every open (online) log.
    pub fn all(&self) -> Vec<Arc<PartitionLog>> {
        self.read_logs().values().cloned().collect()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The size and free space of the log dir's filesystem, in bytes: `(total, usable by
    /// this process)`, as Java's `File.getTotalSpace` and `getUsableSpace` report them.
    pub fn disk_space(&self) -> std::io::Result<(u64, u64)> {
        use std::os::unix::ffi::OsStrExt;
        let path = std::ffi::CString::new(self.dir.as_os_str().as_bytes())
            .map_err(std::io::Error::other)?;
        // SAFETY: statvfs only writes the struct passed to it; `path` is NUL-terminated.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::statvfs(path.as_ptr(), &mut st) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let frsize = st.f_frsize as u64;
        Ok((st.f_blocks as u64 * frsize, st.f_bavail as u64 * frsize))
    }

    /// The log directory's health (offline after an I/O error).
    pub fn health(&self) -> &LogDirHealth {
        &self.health
    }

    /// Partitions that failed to load at startup, sorted.
    pub fn offline_partitions(&self) -> Vec<TopicPartition> {
        let mut v: Vec<TopicPartition> = self.read_offline().keys().cloned().collect();
        v.sort();
        v
    }

    pub fn is_offline(&self, tp: &TopicPartition) -> bool {
        self.health.is_offline() || self.read_offline().contains_key(tp)
    }

    pub fn get(&self, tp: &TopicPartition) -> Option<Arc<PartitionLog>> {
        self.read_logs().get(tp).cloned()
    }

    /// Creates the log (directory and first segment); returns the existing one if any.
    /// An offline partition is refused: its directory holds data that did not load.
    pub fn create(
        &self,
        tp: &TopicPartition,
        config: LogConfig,
    ) -> Result<Arc<PartitionLog>, StorageError> {
        if !valid_topic(&tp.topic) || tp.partition < 0 {
            return Err(StorageError::InvalidTopic(tp.to_string()));
        }
        self.health.check()?;
        if let Some(o) = self.read_offline().get(tp) {
            return Err(StorageError::PartitionOffline {
                partition: tp.to_string(),
                reason: o.reason.clone(),
            });
        }
        self.health.note(self.create_unnoted(tp, config))
    }

    fn create_unnoted(
        &self,
        tp: &TopicPartition,
        config: LogConfig,
    ) -> Result<Arc<PartitionLog>, StorageError> {
        let mut logs = self.write_logs();
        if let Some(log) = logs.get(tp) {
            return Ok(Arc::clone(log));
        }
        let path = self.dir.join(tp.dir_name());
        fs::create_dir_all(&path).at(&path)?;
        let log = Arc::new(PartitionLog::create_new(
            tp.clone(),
            &path,
            config,
            self.health.clone(),
        )?);
        checkpoint::sync_dir(&self.dir)?;
        logs.insert(tp.clone(), Arc::clone(&log));
        Ok(log)
    }

    /// Removes the partition and its directory; later appends to it fail. As Kafka, the
    /// directory is first renamed to `<topic>-<partition>.<uuid>-delete` (under the map
    /// lock, so a concurrent `create` starts from a fresh directory), then removed.
    pub fn delete(&self, tp: &TopicPartition) -> Result<(), StorageError> {
        let path = self.dir.join(tp.dir_name());
        let doomed = self.dir.join(format!(
            "{}.{}-delete",
            tp.dir_name(),
            uuid::Uuid::new_v4().simple()
        ));
        {
            let mut logs = self.write_logs();
            let was_offline = self
                .offline
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .remove(tp)
                .is_some();
            self.cleaner_state().points.remove(tp);
            match logs.remove(tp) {
                Some(log) => log.mark_closed(),
                None if was_offline => {}
                None => return Ok(()),
            }
            match fs::rename(&path, &doomed) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(StorageError::IoAt { path, source: e }),
            }
        }
        fs::remove_dir_all(&doomed).at(&doomed)
    }

    /// All partitions, sorted.
    pub fn partitions(&self) -> Vec<TopicPartition> {
        let mut v: Vec<TopicPartition> = self.read_logs().keys().cloned().collect();
        v.sort();
        v
    }

    /// Gives every log the config `config_of` resolves for its topic, where it changed
    /// (a topic's configs were altered): retention, segment size and time, limits and
    /// `min.insync.replicas` apply from the next append, roll or retention pass.
    pub fn apply_configs(&self, config_of: &dyn Fn(&str) -> LogConfig) {
        let mut resolved: HashMap<String, LogConfig> = HashMap::new();
        let mut changed: BTreeMap<String, usize> = BTreeMap::new();
        for log in self.all() {
            let topic = &log.topic_partition().topic;
            let wanted = resolved
                .entry(topic.clone())
                .or_insert_with(|| config_of(topic));
            if log.config() != *wanted {
                log.set_config(wanted.clone());
                *changed.entry(topic.clone()).or_default() += 1;
            }
        }
        for (topic, n) in changed {
            log::info!("topic {topic}: new config applied to {n} partition log(s)");
        }
    }

    /// Applies `config` to every partition of `topic` (tests; the broker goes through
    /// [`LogManager::apply_configs`]).
    #[cfg(test)]
    pub fn update_config(&self, topic: &str, config: LogConfig) {
        for log in self
            .all()
            .iter()
            .filter(|l| l.topic_partition().topic == topic)
        {
            log.set_config(config.clone());
        }
    }

    /// Runs `f` over every log, continuing past failures; returns the first error.
    fn for_each(
        &self,
        f: impl Fn(&PartitionLog) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        self.health.check()?;
        let mut first_err = None;
        for log in self.all() {
            if let Err(e) = self.health.note(f(&log)) {
                log::error!("{}: {e}", log.topic_partition());
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Time and size retention over all logs.
    pub fn run_retention(&self, now_ms: i64) -> Result<(), StorageError> {
        self.for_each(|log| log.run_retention(now_ms).map(|_| ()))
    }

    /// fsyncs segments rolled since the last call (off the request path).
    pub fn flush_rolled(&self) -> Result<(), StorageError> {
        self.for_each(|log| log.flush_rolled())
    }

    /// fsyncs logs whose `flush_ms` has elapsed.
    pub fn flush_due(&self, now_ms: i64) -> Result<(), StorageError> {
        self.for_each(|log| log.flush_due(now_ms))
    }

    /// Writes the recovery-point, log-start and high-watermark checkpoint files (Kafka
    /// format, atomically).
    pub fn checkpoint(&self) -> Result<(), StorageError> {
        self.health.check()?;
        self.health.note(self.checkpoint_unnoted())
    }

    fn checkpoint_unnoted(&self) -> Result<(), StorageError> {
        let _guard = self
            .checkpoint_lock
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let mut recovery = Vec::new();
        let mut starts = Vec::new();
        for log in self.all() {
            let tp = log.topic_partition().clone();
            recovery.push((tp.clone(), log.recovery_point()));
            starts.push((tp, log.log_start_offset()));
        }
        for (tp, o) in self.read_offline().iter() {
            recovery.extend(o.recovery_point.map(|v| (tp.clone(), v)));
            starts.extend(o.log_start.map(|v| (tp.clone(), v)));
        }
        recovery.sort();
        starts.sort();
        checkpoint::write(&self.dir.join(RECOVERY_POINT_FILE), &recovery)?;
        checkpoint::write(&self.dir.join(LOG_START_FILE), &starts)?;
        self.write_high_watermarks()
    }

    /// Writes only `replication-offset-checkpoint` (Kafka checkpoints high watermarks
    /// more often than recovery points: `replica.high.watermark.checkpoint.interval.ms`).
    pub fn checkpoint_high_watermarks(&self) -> Result<(), StorageError> {
        self.health.check()?;
        let _guard = self
            .checkpoint_lock
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        self.health.note(self.write_high_watermarks())
    }

    /// `replication-offset-checkpoint` for every log, offline ones included (the caller
    /// holds the checkpoint lock).
    fn write_high_watermarks(&self) -> Result<(), StorageError> {
        let mut hws: Vec<(TopicPartition, i64)> = self
            .all()
            .iter()
            .map(|log| {
                (
                    log.topic_partition().clone(),
                    log.checkpoint_high_watermark(),
                )
            })
            .collect();
        hws.extend(
            self.read_offline()
                .iter()
                .filter_map(|(tp, o)| o.high_watermark.map(|v| (tp.clone(), v))),
        );
        hws.sort();
        checkpoint::write(&self.dir.join(REPLICATION_OFFSET_FILE), &hws)
    }

    /// Flushes and closes every log, checkpoints, and writes the clean-shutdown marker.
    /// An offline directory is left as it is: no marker, so the next start recovers it.
    pub fn shutdown(&self) -> Result<(), StorageError> {
        self.health.check()?;
        self.for_each(|log| log.flush_all(true))?;
        self.checkpoint()?;
        let marker = self.dir.join(CLEAN_SHUTDOWN_FILE);
        {
            use std::io::Write;
            let mut f = fs::File::create(&marker).at(&marker)?;
            f.write_all(b"{\"version\":0,\"brokerEpoch\":-1}")
                .at(&marker)?;
            f.sync_all().at(&marker)?;
        }
        checkpoint::sync_dir(&self.dir)
    }
}

//! Tests of loading and crash recovery: clean restarts, torn tails, corrupt batches,
//! missing indexes, checkpoints, leftovers, and producer state across restarts.

use std::fs;
use std::path::{Path, PathBuf};

use super::manager::CLEAN_SHUTDOWN_FILE;
use super::tests_log::{append, headers, open, tp};
use super::{LogConfig, LogManager, StorageError, TopicPartition};
use crate::format::testutil::{BatchSpec, build_batch, simple};

fn reopen(dir: &Path, cfg: LogConfig) -> LogManager {
    LogManager::open(dir, &move |_| cfg.clone(), 1_000).unwrap()
}

fn seg_file(dir: &Path, base: i64, ext: &str) -> PathBuf {
    dir.join(format!("my-topic-0/{base:020}.{ext}"))
}

/// Every offset below `end` is found in the batch that holds it.
fn assert_every_offset_readable(log: &super::PartitionLog, end: i64) {
    for off in 0..end {
        let h = headers(&log.read(off, 1, true, i64::MAX).unwrap())[0];
        assert!(
            h.base_offset <= off && off <= h.last_offset(),
            "offset {off}"
        );
    }
}

fn small_segments() -> LogConfig {
    let b = simple(10, 0);
    LogConfig {
        segment_bytes: (b.len() * 3) as u64,
        index_interval_bytes: 100,
        ..LogConfig::default()
    }
}

#[test]
fn clean_restart_keeps_data_and_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_segments();
    let (m, log) = open(dir.path(), cfg.clone());
    for i in 0..10 {
        append(&log, &simple(10, i * 100), 0);
    }
    let before = log.read(0, usize::MAX, false, i64::MAX).unwrap();
    let index_before = fs::read(seg_file(dir.path(), 0, "index")).unwrap();
    assert!(
        fs::read(seg_file(dir.path(), 90, "timeindex"))
            .unwrap()
            .is_empty()
    );
    m.shutdown().unwrap();
    // shutdown seals the active segment's time index with its max timestamp (as Kafka)
    let time_before = fs::read(seg_file(dir.path(), 90, "timeindex")).unwrap();
    assert_eq!(time_before, [0, 0, 0, 0, 0, 0, 3, 141, 0, 0, 0, 9]);
    assert!(dir.path().join(CLEAN_SHUTDOWN_FILE).exists());
    assert!(log.append(&simple(1, 0), 0).is_err());
    let rp = fs::read_to_string(dir.path().join("recovery-point-offset-checkpoint")).unwrap();
    assert_eq!(rp, "0\n1\nmy-topic 0 100\n");
    drop((m, log));

    let m = reopen(dir.path(), cfg.clone());
    assert!(!dir.path().join(CLEAN_SHUTDOWN_FILE).exists());
    let log = m.get(&tp()).unwrap();
    assert_eq!(log.log_end_offset(), 100);
    assert_eq!(log.read(0, usize::MAX, false, i64::MAX).unwrap(), before);
    assert_eq!(
        fs::read(seg_file(dir.path(), 0, "index")).unwrap(),
        index_before
    );
    assert_eq!(
        fs::read(seg_file(dir.path(), 90, "timeindex")).unwrap(),
        time_before
    );
    assert_eq!(append(&log, &simple(1, 0), 0).base_offset, 100);
    assert_eq!(log.offset_for_timestamp(450).unwrap(), Some((50, 500)));
    assert_eq!(log.max_timestamp_offset().unwrap(), Some((99, 909)));
}

#[test]
fn torn_tail_is_cut_and_appends_continue() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig::default();
    let (m, log) = open(dir.path(), cfg.clone());
    for _ in 0..5 {
        append(&log, &simple(4, 0), 0);
    }
    let good_size = log.size_bytes();
    drop((m, log)); // crash: no clean shutdown marker

    let path = seg_file(dir.path(), 0, "log");
    let mut data = fs::read(&path).unwrap();
    data.extend_from_slice(&[0xab; 100]);
    fs::write(&path, &data).unwrap();
    let m = reopen(dir.path(), cfg.clone());
    let log = m.get(&tp()).unwrap();
    assert_eq!((log.log_end_offset(), log.size_bytes()), (20, good_size));
    assert_eq!(fs::metadata(&path).unwrap().len(), good_size);
    drop((m, log));

    // cut the last batch in half
    let f = fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(good_size - 10).unwrap();
    drop(f);
    let m = reopen(dir.path(), cfg);
    let log = m.get(&tp()).unwrap();
    assert_eq!(log.log_end_offset(), 16);
    assert_eq!(append(&log, &simple(2, 0), 0).base_offset, 16);
    let all = log.read(0, usize::MAX, false, i64::MAX).unwrap();
    assert_eq!(headers(&all).len(), 5);
}

#[test]
fn crc_corruption_in_the_middle_truncates_and_drops_later_segments() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_segments();
    let (m, log) = open(dir.path(), cfg.clone());
    let b = simple(10, 0);
    for _ in 0..8 {
        append(&log, &b, 0);
    }
    drop((m, log));
    assert!(seg_file(dir.path(), 60, "log").exists());
    let path = seg_file(dir.path(), 30, "log");
    let mut data = fs::read(&path).unwrap();
    let at = b.len() + 70; // inside the second batch's records
    data[at] ^= 0x55;
    fs::write(&path, &data).unwrap();

    let m = reopen(dir.path(), cfg);
    let log = m.get(&tp()).unwrap();
    assert_eq!(log.log_end_offset(), 40);
    assert_eq!(fs::metadata(&path).unwrap().len(), b.len() as u64);
    assert!(!seg_file(dir.path(), 60, "log").exists());
    assert!(!seg_file(dir.path(), 60, "index").exists());
    assert_eq!(append(&log, &b, 0).base_offset, 40);
    assert_eq!(
        log.read(35, 1 << 20, false, i64::MAX).unwrap().len(),
        b.len() * 2
    );
}

#[test]
fn missing_or_corrupt_index_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        index_interval_bytes: 100,
        ..LogConfig::default()
    };
    let (m, log) = open(dir.path(), cfg.clone());
    for i in 0..20 {
        append(&log, &simple(3, i * 10), 0);
    }
    m.shutdown().unwrap();
    drop((m, log));
    let idx = seg_file(dir.path(), 0, "index");
    let tidx = seg_file(dir.path(), 0, "timeindex");
    let (idx_before, tidx_before) = (fs::read(&idx).unwrap(), fs::read(&tidx).unwrap());
    assert!(idx_before.len() >= 8 * 5);
    fs::remove_file(&idx).unwrap();
    fs::write(&tidx, [1u8; 13]).unwrap();
    let m = reopen(dir.path(), cfg.clone());
    assert_eq!(fs::read(&idx).unwrap(), idx_before);
    // the sealed entry at shutdown is not part of the interval rule; a rebuilt active
    // time index holds only the interval entries
    let rebuilt = fs::read(&tidx).unwrap();
    assert!(tidx_before.starts_with(&rebuilt) && !rebuilt.is_empty());
    // an index pointing into the middle of a batch is rejected too
    drop(m);
    let mut bad = idx_before.clone();
    bad[7] = bad[7].wrapping_add(1);
    fs::write(&idx, &bad).unwrap();
    let m = reopen(dir.path(), cfg);
    assert_eq!(fs::read(&idx).unwrap(), idx_before);
    assert_every_offset_readable(&m.get(&tp()).unwrap(), 60);
}

#[test]
fn producer_state_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig::default();
    let (m, log) = open(dir.path(), cfg.clone());
    let b0 = build_batch(&BatchSpec::new(3).producer(42, 2, 0));
    let b1 = build_batch(&BatchSpec::new(3).producer(42, 2, 3));
    append(&log, &b0, 0);
    append(&log, &b1, 0);
    drop((m, log)); // crash
    let m = reopen(dir.path(), cfg);
    let log = m.get(&tp()).unwrap();
    let dup = append(&log, &b1, 0);
    assert!(dup.duplicate);
    assert_eq!((dup.base_offset, dup.last_offset), (3, 5));
    let gap = build_batch(&BatchSpec::new(1).producer(42, 2, 7));
    assert!(matches!(
        log.append(&gap, 0),
        Err(StorageError::OutOfOrderSequence { .. })
    ));
    let old = build_batch(&BatchSpec::new(1).producer(42, 1, 6));
    assert!(matches!(
        log.append(&old, 0),
        Err(StorageError::InvalidProducerEpoch { .. })
    ));
    assert_eq!(
        append(&log, &build_batch(&BatchSpec::new(1).producer(42, 2, 6)), 0).base_offset,
        6
    );
}

#[test]
fn leftovers_and_foreign_entries() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig::default();
    let (m, log) = open(dir.path(), cfg.clone());
    append(&log, &simple(2, 0), 0);
    m.shutdown().unwrap();
    drop((m, log));
    let d = dir.path();
    fs::create_dir(d.join("not_a_partition")).unwrap();
    fs::create_dir(d.join("foo-bar")).unwrap();
    fs::create_dir(d.join("gone-0.0123abcd-delete")).unwrap();
    fs::write(d.join("meta.properties"), "version=1\n").unwrap();
    let pd = d.join("my-topic-0");
    fs::write(pd.join("00000000000000000007.log.deleted"), "x").unwrap();
    fs::write(pd.join("00000000000000000009.index"), "").unwrap(); // orphan
    fs::write(pd.join("leader-epoch-checkpoint"), "0\n0\n").unwrap();
    let m = reopen(d, cfg);
    assert_eq!(m.partitions(), vec![tp()]);
    assert!(!d.join("gone-0.0123abcd-delete").exists());
    assert!(d.join("not_a_partition").exists());
    assert!(!pd.join("00000000000000000007.log.deleted").exists());
    assert!(!pd.join("00000000000000000009.index").exists());
    assert!(pd.join("leader-epoch-checkpoint").exists());
    assert_eq!(m.get(&tp()).unwrap().log_end_offset(), 2);
}

#[test]
fn log_start_offset_checkpoint_and_empty_partition_dir() {
    let dir = tempfile::tempdir().unwrap();
    let b = simple(10, 0);
    let cfg = LogConfig {
        segment_bytes: (b.len() * 2) as u64,
        retention_ms: 1000,
        ..LogConfig::default()
    };
    let (m, log) = open(dir.path(), cfg.clone());
    for _ in 0..5 {
        append(&log, &b, 0);
    }
    m.run_retention(1_000_000).unwrap();
    assert_eq!(log.log_start_offset(), 50);
    fs::create_dir(dir.path().join("other-3")).unwrap();
    m.checkpoint().unwrap();
    let ls = fs::read_to_string(dir.path().join("log-start-offset-checkpoint")).unwrap();
    assert_eq!(ls, "0\n1\nmy-topic 0 50\n");
    drop((m, log));
    let m = reopen(dir.path(), cfg);
    let log = m.get(&tp()).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (50, 50));
    assert_eq!(append(&log, &b, 0).base_offset, 50);
    let other = m.get(&TopicPartition::new("other", 3)).unwrap();
    assert_eq!(other.log_end_offset(), 0);
    assert!(dir.path().join("other-3/00000000000000000000.log").exists());
}

#[test]
fn large_batches_and_garbage_segment() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig::default();
    let (m, log) = open(dir.path(), cfg.clone());
    let big = build_batch(&BatchSpec::new(3).value_size(100_000).codec(3));
    append(&log, &big, 0);
    drop((m, log));
    // a whole segment of garbage after the real one is dropped on recovery
    fs::write(seg_file(dir.path(), 3, "log"), vec![0x11u8; 5000]).unwrap();
    let m = reopen(dir.path(), cfg);
    let log = m.get(&tp()).unwrap();
    assert_eq!(log.log_end_offset(), 3);
    assert_eq!(log.read(0, 10, true, i64::MAX).unwrap().len(), big.len());
    assert_eq!(append(&log, &simple(1, 0), 0).base_offset, 3);
}

/// Descriptors this process holds on files under `dir`.
fn open_files_under(dir: &Path) -> usize {
    fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.starts_with(dir))
        .count()
}

#[test]
fn segments_hold_one_descriptor_and_a_crash_loses_no_index_entry() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_segments();
    let (m, log) = open(dir.path(), cfg.clone());
    for i in 0..12 {
        append(&log, &simple(10, i * 100), 0);
    }
    log.flush_rolled().unwrap();
    let segments = log.lock().segments.len();
    assert!(segments >= 3);
    let part = dir.path().join("my-topic-0");
    assert_eq!(open_files_under(&part), segments, "one .log per segment");
    // a rolled segment's index reached its file; the active one's is still in memory
    assert!(
        !fs::read(seg_file(dir.path(), 0, "index"))
            .unwrap()
            .is_empty()
    );
    let active = *log.lock().segments.keys().next_back().unwrap();
    let active_index = seg_file(dir.path(), active, "index");
    let in_memory = log.lock().segments[&active].offset_index.entries().len();
    assert!(in_memory > 0);
    assert!(fs::read(&active_index).unwrap().is_empty());
    // a crash (no shutdown): recovery rebuilds the entries the file never got
    drop((m, log));
    let m = reopen(dir.path(), cfg);
    assert_eq!(fs::read(&active_index).unwrap().len(), in_memory * 8);
    let log = m.get(&tp()).unwrap();
    assert_eq!(log.log_end_offset(), 120);
    assert_every_offset_readable(&log, 120);
}

#[test]
fn a_partition_that_fails_to_load_is_offline_and_the_rest_load() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig::default();
    let other = TopicPartition::new("other", 0);
    let (m, log) = open(dir.path(), cfg.clone());
    append(&log, &simple(5, 0), 0);
    let other_log = m.create(&other, cfg.clone()).unwrap();
    append(&other_log, &simple(3, 0), 0);
    m.shutdown().unwrap();
    drop((m, log, other_log));
    // a segment that cannot be read (here: a directory in its place)
    let seg = seg_file(dir.path(), 0, "log");
    fs::remove_file(&seg).unwrap();
    fs::create_dir(&seg).unwrap();

    let m = reopen(dir.path(), cfg.clone());
    assert_eq!(m.offline_partitions(), vec![tp()]);
    assert!(m.get(&tp()).is_none() && m.is_offline(&tp()));
    assert!(matches!(
        m.create(&tp(), cfg.clone()),
        Err(StorageError::PartitionOffline { .. })
    ));
    assert!(
        seg.is_dir(),
        "nothing was created over the offline partition"
    );
    assert_eq!(m.get(&other).unwrap().log_end_offset(), 3);
    // its checkpoint entries survive the checkpoints written while it is offline
    m.checkpoint().unwrap();
    let rp = fs::read_to_string(dir.path().join("recovery-point-offset-checkpoint")).unwrap();
    assert!(rp.contains("my-topic 0 5\n"), "{rp}");
    // deleting its topic removes the directory
    m.delete(&tp()).unwrap();
    assert!(m.offline_partitions().is_empty() && !seg.exists());
}

#[test]
fn an_io_error_takes_the_log_dir_offline_and_a_restart_recovers_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig::default();
    let other = TopicPartition::new("other", 0);
    let (m, log) = open(dir.path(), cfg.clone());
    let other_log = m.create(&other, cfg.clone()).unwrap();
    append(&log, &simple(5, 0), 0);
    append(&other_log, &simple(2, 0), 0);
    let before = log.read(0, usize::MAX, false, i64::MAX).unwrap();
    // the disk fails under the active segment: its writes return EBADF
    {
        let mut inner = log.lock();
        let active = inner.segments.values_mut().next_back().unwrap();
        active.file = std::sync::Arc::new(fs::File::open(&active.log_path).unwrap());
    }
    assert!(matches!(
        log.append(&simple(1, 0), 0),
        Err(StorageError::IoAt { .. })
    ));
    assert!(m.health().is_offline());
    let offline = |r: Result<_, StorageError>| matches!(r, Err(StorageError::LogDirOffline { .. }));
    assert!(offline(other_log.append(&simple(1, 0), 0).map(|_| ())));
    assert!(offline(log.read_slice(0, 100, true, i64::MAX).map(|_| ())));
    assert!(offline(
        m.create(&TopicPartition::new("new", 0), cfg.clone())
            .map(|_| ())
    ));
    assert!(offline(m.shutdown()));
    assert!(!dir.path().join(CLEAN_SHUTDOWN_FILE).exists());
    drop((m, log, other_log));

    let m = reopen(dir.path(), cfg);
    assert!(!m.health().is_offline());
    let log = m.get(&tp()).unwrap();
    assert_eq!(log.read(0, usize::MAX, false, i64::MAX).unwrap(), before);
    assert_eq!(append(&log, &simple(1, 0), 0).base_offset, 5);
    assert_eq!(m.get(&other).unwrap().log_end_offset(), 2);
}

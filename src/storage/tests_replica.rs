//! Tests of the replication primitives: leader epochs (stamping, cache, file, recovery),
//! follower append, truncation, high watermark (+ checkpoint), HW-bounded retention and
//! log-start advance.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use super::tests_log::{append, headers, open, tp};
use super::{EpochEntry, LogConfig, LogManager, PartitionLog, StorageError, TopicPartition};
use crate::format::testutil::{BatchSpec, build_batch, simple};
use crate::format::{batch, builder};

fn reopen(dir: &Path, cfg: LogConfig) -> LogManager {
    LogManager::open(dir, &move |_| cfg.clone(), 1_000).unwrap()
}

fn small_segments() -> LogConfig {
    LogConfig {
        segment_bytes: (simple(10, 0).len() * 3) as u64,
        index_interval_bytes: 100,
        ..LogConfig::default()
    }
}

fn entries(log: &PartitionLog) -> Vec<(i32, i64)> {
    log.leader_epoch_entries()
        .iter()
        .map(|e| (e.epoch, e.start_offset))
        .collect()
}

fn epoch_file(dir: &Path) -> String {
    fs::read_to_string(dir.join("my-topic-0/leader-epoch-checkpoint")).unwrap()
}

fn all(log: &PartitionLog) -> bytes::Bytes {
    log.read(log.log_start_offset(), usize::MAX, false, i64::MAX)
        .unwrap()
}

fn leader_append(log: &PartitionLog, b: &[u8], epoch: i32) -> super::AppendInfo {
    log.append_as_leader(b, epoch, 0).unwrap()
}

/// A leader log with 10-record batches: epoch 1 for offsets 0..30, epoch 3 for 30..50,
/// epoch 4 for 50..60.
fn leader_with_epochs(log: &PartitionLog) {
    for (epoch, batches) in [(1, 3), (3, 2), (4, 1)] {
        log.assign_epoch(epoch, log.log_end_offset()).unwrap();
        for _ in 0..batches {
            append(log, &simple(10, 0), 0);
        }
    }
}

/// A follower in the same log directory.
fn follower(m: &LogManager, cfg: LogConfig) -> Arc<PartitionLog> {
    let f = m.create(&TopicPartition::new("follower", 0), cfg).unwrap();
    f.set_hw_follows_leo(false);
    f
}

/// Copies everything the follower lacks, as a fetcher would (reads up to the LEO).
fn replicate(leader: &PartitionLog, f: &PartitionLog) {
    while f.log_end_offset() < leader.log_end_offset() {
        let chunk = leader
            .read(f.log_end_offset(), 1 << 20, true, i64::MAX)
            .unwrap();
        f.append_as_follower(&chunk, 0).unwrap();
    }
}

#[test]
fn epoch_is_stamped_with_valid_crc_and_cached() {
    let dir = tempfile::tempdir().unwrap();
    let (_m, log) = open(dir.path(), LogConfig::default());
    assert_eq!(log.latest_epoch(), None);
    // without an assigned epoch: 0, recorded at the log start
    append(&log, &simple(3, 0), 0);
    // the broker's own batches carry -1 and get stamped too
    let own = builder::build_batch(&[(Some(b"k"), Some(b"v"))], 5);
    log.append(&own, 0).unwrap();
    assert_eq!(entries(&log), vec![(0, 0)]);
    log.assign_epoch(3, log.log_end_offset()).unwrap();
    append(&log, &simple(2, 0), 0); // `append` uses the latest epoch
    leader_append(&log, &simple(2, 0), 3);
    leader_append(&log, &simple(2, 0), 5); // a new epoch is recorded at the log end
    assert!(matches!(
        log.append_as_leader(&simple(1, 0), 4, 0),
        Err(StorageError::InvalidRecord(_))
    ));
    assert!(log.assign_epoch(-1, 0).is_err());
    assert_eq!(entries(&log), vec![(0, 0), (3, 4), (5, 8)]);
    assert_eq!(epoch_file(dir.path()), "0\n3\n0 0\n3 4\n5 8\n");
    // batch::validate checks every CRC
    let stamped: Vec<(i64, i32)> = headers(&all(&log))
        .iter()
        .map(|h| (h.base_offset, h.partition_leader_epoch))
        .collect();
    assert_eq!(stamped, vec![(0, 0), (3, 0), (4, 3), (6, 3), (8, 5)]);
}

#[test]
fn offset_for_leader_epoch_semantics() {
    let dir = tempfile::tempdir().unwrap();
    let (_m, log) = open(dir.path(), LogConfig::default());
    assert_eq!(log.end_offset_for_epoch(0), (-1, -1));
    leader_with_epochs(&log);
    assert_eq!(entries(&log), vec![(1, 0), (3, 30), (4, 50)]);
    assert_eq!(log.end_offset_for_epoch(-1), (-1, -1));
    assert_eq!(log.end_offset_for_epoch(0), (0, 0));
    assert_eq!(log.end_offset_for_epoch(1), (1, 30));
    assert_eq!(log.end_offset_for_epoch(2), (1, 30));
    assert_eq!(log.end_offset_for_epoch(3), (3, 50));
    assert_eq!(log.end_offset_for_epoch(4), (4, 60));
    assert_eq!(log.end_offset_for_epoch(5), (-1, -1));
    append(&log, &simple(5, 0), 0);
    assert_eq!(log.end_offset_for_epoch(4), (4, 65));
}

#[test]
fn follower_append_keeps_offsets_epochs_and_producer_state() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_segments();
    let (m, leader) = open(dir.path(), cfg.clone());
    leader_with_epochs(&leader);
    let pid = build_batch(&BatchSpec::new(4).producer(7, 0, 0));
    leader_append(&leader, &pid, 4);
    let f = follower(&m, cfg);
    replicate(&leader, &f);
    assert_eq!(f.log_end_offset(), 64);
    assert_eq!(all(&f), all(&leader));
    assert_eq!(entries(&f), entries(&leader));
    assert_eq!(f.end_offset_for_epoch(3), (3, 50));
    // the follower rolled its own segments, and reads across them
    assert!(f.lock().segments.len() > 1);
    assert_eq!(f.high_watermark(), 0); // replicated: HW only moves when told
    // not at the log end: refused with the offsets involved
    let again = leader.read(50, 1 << 20, true, i64::MAX).unwrap();
    assert!(matches!(
        f.append_as_follower(&again, 0),
        Err(StorageError::OffsetOutOfRange {
            offset: 50,
            log_end_offset: 64,
            ..
        })
    ));
    // offsets must increase
    let mut twice = build_batch(&BatchSpec::new(2).base_offset(64));
    twice.extend_from_slice(&build_batch(&BatchSpec::new(2).base_offset(65)));
    assert!(matches!(
        f.append_as_follower(&twice, 0),
        Err(StorageError::InvalidRecord(_))
    ));
    // the CRC is checked
    let mut bad = build_batch(&BatchSpec::new(2).base_offset(64));
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert!(matches!(
        f.append_as_follower(&bad, 0),
        Err(StorageError::CorruptBatch(_))
    ));
    assert_eq!(f.log_end_offset(), 64);
    // producer state came along: after a leader change the producer continues at seq 4
    // and a retry of the replicated batch is a duplicate
    f.assign_epoch(6, 64).unwrap();
    let dup = f.append(&pid, 0).unwrap();
    assert!(dup.duplicate);
    assert_eq!((dup.base_offset, dup.last_offset), (60, 63));
    let next = build_batch(&BatchSpec::new(1).producer(7, 0, 4));
    assert_eq!(append(&f, &next, 0).base_offset, 64);
    assert!(
        f.append(&build_batch(&BatchSpec::new(1).producer(7, 0, 9)), 0)
            .is_err()
    );
    assert_eq!(
        headers(&f.read(64, 1000, true, i64::MAX).unwrap())[0].partition_leader_epoch,
        6
    );
}

#[test]
fn truncation_mid_segment_and_across_segments_then_appends_continue() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_segments();
    let (m, leader) = open(dir.path(), cfg.clone());
    leader_with_epochs(&leader); // segments [0, 30), [30, 60)
    for _ in 0..3 {
        leader_append(&leader, &simple(10, 0), 4); // segment [60, 90)
    }
    let f = follower(&m, cfg.clone());
    replicate(&leader, &f);
    f.set_high_watermark(80);
    let bases = |l: &PartitionLog| l.lock().segments.keys().copied().collect::<Vec<_>>();
    assert_eq!(bases(&f), vec![0, 30, 60]);

    // mid-segment, at a batch boundary
    assert_eq!(f.truncate_to(80).unwrap(), 80);
    assert_eq!(f.truncate_to(85).unwrap(), 80); // past the end: no-op
    assert_eq!(f.log_end_offset(), 80);
    assert_eq!(f.high_watermark(), 80);
    assert_eq!(all(&f), leader.read(0, usize::MAX, false, 80).unwrap());
    // inside a batch: the whole batch goes
    assert_eq!(f.truncate_to(75).unwrap(), 70);
    assert_eq!(f.high_watermark(), 70);
    // across segments: later segments are deleted with their files
    assert_eq!(f.truncate_to(40).unwrap(), 40);
    assert_eq!(bases(&f), vec![0, 30]);
    assert!(
        !dir.path()
            .join("follower-0/00000000000000000060.log")
            .exists()
    );
    assert_eq!(entries(&f), vec![(1, 0), (3, 30)]);
    assert_eq!(f.end_offset_for_epoch(3), (3, 40));
    assert_eq!(f.high_watermark(), 40);
    // at a segment base: the segment stays, empty
    assert_eq!(f.truncate_to(30).unwrap(), 30);
    assert_eq!(bases(&f), vec![0, 30]);
    assert_eq!(entries(&f), vec![(1, 0)]);
    assert_eq!(
        fs::metadata(dir.path().join("follower-0/00000000000000000030.log"))
            .unwrap()
            .len(),
        0
    );
    assert!(f.read(30, 100, true, i64::MAX).unwrap().is_empty());
    assert_eq!(f.offset_for_timestamp(0).unwrap().map(|x| x.0), Some(0));
    assert_eq!(f.max_timestamp_offset().unwrap().map(|x| x.0), Some(9));

    // fetching again from the leader restores an identical log
    replicate(&leader, &f);
    assert_eq!(all(&f), all(&leader));
    assert_eq!(entries(&f), entries(&leader));
    // and the follower may become leader and append
    f.truncate_to(50).unwrap();
    f.assign_epoch(7, 50).unwrap();
    let info = leader_append(&f, &simple(5, 0), 7);
    assert_eq!((info.base_offset, info.last_offset), (50, 54));
    assert_eq!(entries(&f), vec![(1, 0), (3, 30), (7, 50)]);
    let r = f.read(40, 1 << 20, false, i64::MAX).unwrap();
    let hs = headers(&r);
    assert_eq!(
        hs.iter().map(|h| h.base_offset).collect::<Vec<_>>(),
        vec![40, 50]
    );
    // the sparse index was rebuilt for the cut segment: lookups still find batches
    assert_eq!(f.read(45, 1 << 20, false, i64::MAX).unwrap(), r);
}

#[test]
fn restart_after_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_segments();
    let (m, log) = open(dir.path(), cfg.clone());
    log.set_hw_follows_leo(false);
    leader_with_epochs(&log);
    log.set_high_watermark(45);
    m.checkpoint().unwrap();
    log.truncate_to(40).unwrap();
    let expected = all(&log);
    // crash (no clean shutdown, recovery point checkpointed above the new end)
    drop((m, log));
    let m = reopen(dir.path(), cfg.clone());
    let log = m.get(&tp()).unwrap();
    assert_eq!(log.log_end_offset(), 40);
    assert_eq!(all(&log), expected);
    assert_eq!(entries(&log), vec![(1, 0), (3, 30)]);
    log.set_hw_follows_leo(false);
    assert_eq!(log.high_watermark(), 40); // checkpointed 45, clamped to the log end
    assert_eq!(append(&log, &simple(2, 0), 0).base_offset, 40);
    m.shutdown().unwrap();
    drop((m, log));
    let m = reopen(dir.path(), cfg);
    let log = m.get(&tp()).unwrap();
    assert_eq!(log.log_end_offset(), 42);
    assert_eq!(log.end_offset_for_epoch(3), (3, 42));
}

#[test]
fn truncate_fully_and_mid_batch_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_segments();
    let (m, leader) = open(dir.path(), cfg.clone());
    leader_with_epochs(&leader);
    let f = follower(&m, cfg.clone());
    replicate(&leader, &f);
    f.set_high_watermark(60);
    // the leader's log start moved past the follower's log
    f.truncate_fully_and_start_at(100).unwrap();
    assert_eq!(
        (f.log_start_offset(), f.log_end_offset(), f.high_watermark()),
        (100, 100, 100)
    );
    assert!(f.leader_epoch_entries().is_empty());
    let files: Vec<String> = fs::read_dir(dir.path().join("follower-0"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".log"))
        .collect();
    assert_eq!(files, vec!["00000000000000000100.log"]);
    let mut b = build_batch(&BatchSpec::new(5).base_offset(100));
    batch::set_partition_leader_epoch(&mut b, 9);
    f.append_as_follower(&b, 0).unwrap();
    assert_eq!(entries(&f), vec![(9, 100)]);
    // truncating below the first segment also restarts the log
    assert_eq!(f.truncate_to(50).unwrap(), 50);
    assert_eq!((f.log_start_offset(), f.log_end_offset()), (50, 50));

    // the leader's log start is inside a batch (DeleteRecords): an empty follower
    // restarts at the batch's base, keeping its log start
    f.truncate_fully_and_start_at(33).unwrap();
    let chunk = leader.read(33, 1 << 20, true, i64::MAX).unwrap();
    assert_eq!(headers(&chunk)[0].base_offset, 30);
    f.append_as_follower(&chunk, 0).unwrap();
    assert_eq!(f.log_start_offset(), 33);
    assert_eq!(
        f.lock().segments.keys().copied().collect::<Vec<_>>(),
        vec![30]
    );
    assert!(matches!(
        f.read(31, 100, true, i64::MAX),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    replicate(&leader, &f);
    assert_eq!(
        f.read(33, usize::MAX, false, i64::MAX).unwrap(),
        leader.read(33, usize::MAX, false, i64::MAX).unwrap()
    );
    m.checkpoint().unwrap();
    drop((m, leader, f));
    let m = reopen(dir.path(), cfg);
    let f = m.get(&TopicPartition::new("follower", 0)).unwrap();
    assert_eq!((f.log_start_offset(), f.log_end_offset()), (33, 60));
    assert_eq!(entries(&f), vec![(3, 33), (4, 50)]);
}

#[test]
fn high_watermark_rules_and_watch() {
    let dir = tempfile::tempdir().unwrap();
    let (_m, log) = open(dir.path(), LogConfig::default());
    assert!(log.hw_follows_leo());
    append(&log, &simple(5, 0), 0);
    assert_eq!(log.high_watermark(), 5); // single replica: HW == LEO
    assert_eq!(log.set_high_watermark(2), 5); // ignored while following
    log.set_hw_follows_leo(false);
    let mut rx = log.subscribe_high_watermark();
    append(&log, &simple(5, 0), 0);
    assert_eq!(log.high_watermark(), 5);
    assert!(!rx.has_changed().unwrap());
    assert_eq!(log.set_high_watermark(8), 8);
    assert!(rx.has_changed().unwrap());
    assert_eq!(*rx.borrow_and_update(), 8);
    assert_eq!(log.set_high_watermark(6), 8); // monotonic
    assert_eq!(log.set_high_watermark(100), 10); // never above the log end
    // a consumer read is bounded by the HW; a follower's by the LEO
    log.truncate_to(5).unwrap();
    assert_eq!(log.high_watermark(), 5);
    append(&log, &simple(5, 0), 0);
    assert_eq!(
        headers(&log.read(0, 1 << 20, false, log.high_watermark()).unwrap()).len(),
        1
    );
    assert_eq!(
        headers(&log.read(0, 1 << 20, false, log.log_end_offset()).unwrap()).len(),
        2
    );
    log.set_hw_follows_leo(true);
    assert_eq!(log.high_watermark(), 10);
}

#[test]
fn high_watermark_checkpoint_roundtrip_and_clamping() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig::default();
    let (m, log) = open(dir.path(), cfg.clone());
    let other = m
        .create(&TopicPartition::new("other", 1), cfg.clone())
        .unwrap();
    log.set_hw_follows_leo(false);
    append(&log, &simple(10, 0), 0);
    log.set_high_watermark(4);
    append(&other, &simple(3, 0), 0);
    m.checkpoint().unwrap();
    let path = dir.path().join("replication-offset-checkpoint");
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        "0\n2\nmy-topic 0 4\nother 1 3\n"
    );
    m.shutdown().unwrap();
    drop((m, log, other));

    let m = reopen(dir.path(), cfg.clone());
    let log = m.get(&tp()).unwrap();
    assert_eq!(log.high_watermark(), 10); // follows the LEO until told otherwise
    log.set_hw_follows_leo(false);
    assert_eq!(log.high_watermark(), 4);
    // the checkpoint written at open kept the loaded value
    assert!(
        fs::read_to_string(&path)
            .unwrap()
            .contains("my-topic 0 4\n")
    );
    drop((m, log));

    // clamped to the log end; a partition missing from the file starts at its log start
    fs::write(&path, "0\n1\nmy-topic 0 999\n").unwrap();
    let m = reopen(dir.path(), cfg.clone());
    let log = m.get(&tp()).unwrap();
    log.set_hw_follows_leo(false);
    assert_eq!(log.high_watermark(), 10);
    let other = m.get(&TopicPartition::new("other", 1)).unwrap();
    other.set_hw_follows_leo(false);
    assert_eq!(other.high_watermark(), 0);
    drop((m, log, other));

    // no file at all (a single-broker directory): the HW is the log end
    fs::remove_file(&path).unwrap();
    let m = reopen(dir.path(), cfg);
    let other = m.get(&TopicPartition::new("other", 1)).unwrap();
    other.set_hw_follows_leo(false);
    assert_eq!(other.high_watermark(), 3);
}

#[test]
fn retention_never_passes_the_high_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        retention_ms: 1000,
        ..small_segments()
    };
    let (m, log) = open(dir.path(), cfg);
    log.set_hw_follows_leo(false);
    for _ in 0..10 {
        append(&log, &simple(10, 0), 0); // segments of 30 records, all expired
    }
    log.set_high_watermark(45);
    m.run_retention(1_000_000).unwrap();
    assert_eq!(log.log_start_offset(), 30); // [30, 60) holds offsets above the HW
    assert!(log.log_start_offset() <= log.high_watermark());
    log.set_high_watermark(100);
    m.run_retention(1_000_000).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (100, 100));
    assert_eq!(entries(&log), vec![(0, 100)]);
}

#[test]
fn advance_log_start_is_bounded_by_the_high_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_segments();
    let (m, log) = open(dir.path(), cfg.clone());
    log.set_hw_follows_leo(false);
    leader_with_epochs(&log);
    log.set_high_watermark(40);
    assert!(matches!(
        log.advance_log_start(41),
        Err(StorageError::OffsetOutOfRange { offset: 41, .. })
    ));
    assert!(log.advance_log_start(35).unwrap());
    assert!(!log.advance_log_start(20).unwrap());
    assert_eq!(log.log_start_offset(), 35);
    assert_eq!(
        log.lock().segments.keys().copied().collect::<Vec<_>>(),
        vec![30]
    );
    assert!(
        !dir.path()
            .join("my-topic-0/00000000000000000000.log")
            .exists()
    );
    assert_eq!(entries(&log), vec![(3, 35), (4, 50)]);
    assert!(matches!(
        log.read(34, 100, true, i64::MAX),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    // the batch holding the new log start is still served whole
    assert_eq!(
        headers(&log.read(35, 1 << 20, true, i64::MAX).unwrap())[0].base_offset,
        30
    );
    // the active segment is never deleted: the log start may sit at the log end
    log.set_high_watermark(60);
    assert!(log.advance_log_start(60).unwrap());
    assert_eq!(
        log.lock().segments.keys().copied().collect::<Vec<_>>(),
        vec![30]
    );
    m.checkpoint().unwrap();
    drop((m, log));
    let m = reopen(dir.path(), cfg);
    let log = m.get(&tp()).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (60, 60));
    assert_eq!(entries(&log), vec![(4, 60)]);
}

#[test]
fn epoch_cache_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_segments();
    let (m, log) = open(dir.path(), cfg.clone());
    leader_with_epochs(&log);
    m.shutdown().unwrap();
    drop((m, log));
    let file = dir.path().join("my-topic-0/leader-epoch-checkpoint");
    let want = vec![
        EpochEntry {
            epoch: 1,
            start_offset: 0,
        },
        EpochEntry {
            epoch: 3,
            start_offset: 30,
        },
        EpochEntry {
            epoch: 4,
            start_offset: 50,
        },
    ];

    // missing: rebuilt from the batches and written back
    fs::remove_file(&file).unwrap();
    let m = reopen(dir.path(), cfg.clone());
    assert_eq!(m.get(&tp()).unwrap().leader_epoch_entries(), want);
    assert_eq!(epoch_file(dir.path()), "0\n3\n1 0\n3 30\n4 50\n");
    drop(m);

    // entries at or beyond the log end are dropped; a newer epoch seen only in the
    // batches (crash before the file was written) is added
    fs::write(&file, "0\n3\n1 0\n3 30\n8 70\n").unwrap();
    let m = reopen(dir.path(), cfg.clone());
    assert_eq!(m.get(&tp()).unwrap().leader_epoch_entries(), want);
    drop(m);
    // an epoch without batches (a leader that never wrote) survives below the log end
    fs::write(&file, "0\n3\n1 0\n2 25\n3 30\n").unwrap();
    let m = reopen(dir.path(), cfg.clone());
    let log = m.get(&tp()).unwrap();
    assert_eq!(entries(&log), vec![(1, 0), (2, 25), (3, 30), (4, 50)]);
    assert_eq!(log.end_offset_for_epoch(1), (1, 25));
    drop((m, log));
    // malformed: rebuilt
    fs::write(&file, "garbage").unwrap();
    let m = reopen(dir.path(), cfg);
    assert_eq!(m.get(&tp()).unwrap().leader_epoch_entries(), want);
}

#[test]
fn legacy_logs_without_epochs() {
    // A log written before epochs were stamped (-1 in every batch) and no cache file.
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig::default();
    let (m, log) = open(dir.path(), cfg.clone());
    let mut b = simple(3, 0);
    batch::set_partition_leader_epoch(&mut b, -1);
    log.append_as_follower(&b, 0).unwrap();
    assert!(log.leader_epoch_entries().is_empty());
    m.shutdown().unwrap();
    drop((m, log));
    let m = reopen(dir.path(), cfg);
    let log = m.get(&tp()).unwrap();
    assert!(
        !dir.path()
            .join("my-topic-0/leader-epoch-checkpoint")
            .exists()
    );
    assert_eq!(log.end_offset_for_epoch(0), (-1, -1));
    append(&log, &simple(1, 0), 0);
    assert_eq!(entries(&log), vec![(0, 0)]);
    assert_eq!(log.end_offset_for_epoch(0), (0, 4));
}

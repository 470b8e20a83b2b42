//! Tests of the live log: append/read, offsets, roll, indexes, timestamps, retention,
//! idempotent producers and LogAppendTime.

use std::sync::Arc;

use super::{LogConfig, LogManager, PartitionLog, StorageError, TimestampType, TopicPartition};
use crate::format::batch::{self, BatchHeader};
use crate::format::testutil::{BatchSpec, build_batch, simple};

pub(crate) fn tp() -> TopicPartition {
    TopicPartition::new("my-topic", 0)
}

pub(crate) fn open(dir: &std::path::Path, cfg: LogConfig) -> (LogManager, Arc<PartitionLog>) {
    let c = cfg.clone();
    let m = LogManager::open(dir, &move |_| c.clone(), 0).unwrap();
    let log = m.create(&tp(), cfg).unwrap();
    (m, log)
}

pub(crate) fn append(log: &PartitionLog, b: &[u8], now: i64) -> super::AppendInfo {
    log.append(b, now).unwrap()
}

pub(crate) fn headers(bytes: &[u8]) -> Vec<BatchHeader> {
    batch::validate(bytes).unwrap()
}

fn segment_bases(log: &PartitionLog) -> Vec<i64> {
    log.lock().segments.keys().copied().collect()
}

#[test]
fn append_read_roundtrip_and_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let (_m, log) = open(dir.path(), LogConfig::default());
    let mut rx = log.subscribe();
    let mut expected = 0;
    for i in 0..50 {
        let n = 1 + i % 7;
        let info = append(&log, &simple(n, 1000 + i as i64), 5);
        assert_eq!(info.base_offset, expected);
        assert_eq!(info.last_offset, expected + n as i64 - 1);
        assert_eq!(info.log_append_time, -1);
        assert!(!info.duplicate);
        expected += n as i64;
    }
    assert_eq!(log.log_end_offset(), expected);
    assert!(rx.has_changed().unwrap());
    assert_eq!(*rx.borrow_and_update(), expected);
    let all = log.read(0, usize::MAX, false, i64::MAX).unwrap();
    let hs = headers(&all);
    assert_eq!(hs.len(), 50);
    assert_eq!(all.len() as u64, log.size_bytes());
    let mut next = 0;
    for h in &hs {
        assert_eq!(h.base_offset, next);
        next = h.next_offset();
    }
    // read from the middle of a batch returns that batch
    let mid = hs[10].base_offset + 1.min(i64::from(hs[10].last_offset_delta));
    let r = log.read(mid, 1 << 20, false, i64::MAX).unwrap();
    assert_eq!(headers(&r)[0].base_offset, hs[10].base_offset);
    // end of log is empty; beyond and below are out of range
    assert!(log.read(expected, 100, true, i64::MAX).unwrap().is_empty());
    assert!(matches!(
        log.read(expected + 1, 100, true, i64::MAX),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    assert!(matches!(
        log.read(-1, 100, true, i64::MAX),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
}

#[test]
fn max_bytes_min_one_and_max_offset() {
    let dir = tempfile::tempdir().unwrap();
    let (_m, log) = open(dir.path(), LogConfig::default());
    let b = simple(5, 0);
    for _ in 0..4 {
        append(&log, &b, 0);
    }
    let size = b.len();
    assert_eq!(
        log.read(0, size * 2 + 10, false, i64::MAX).unwrap().len(),
        size * 2
    );
    assert_eq!(log.read(0, size - 1, false, i64::MAX).unwrap().len(), 0);
    assert_eq!(log.read(0, size - 1, true, i64::MAX).unwrap().len(), size);
    assert_eq!(log.read(7, 1, true, i64::MAX).unwrap().len(), size);
    // max_offset (exclusive) stops before batches reaching it
    assert_eq!(log.read(0, 1 << 20, false, 10).unwrap().len(), size * 2);
    assert_eq!(log.read(0, 1 << 20, false, 9).unwrap().len(), size);
    assert!(log.read(10, 1 << 20, true, 10).unwrap().is_empty());
}

#[test]
fn roll_by_size_and_reads_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let b = simple(10, 0);
    let cfg = LogConfig {
        segment_bytes: (b.len() * 3) as u64,
        ..LogConfig::default()
    };
    let (_m, log) = open(dir.path(), cfg);
    for _ in 0..10 {
        append(&log, &b, 0);
    }
    assert_eq!(segment_bases(&log), vec![0, 30, 60, 90]);
    assert!(
        dir.path()
            .join("my-topic-0/00000000000000000030.log")
            .exists()
    );
    assert!(
        dir.path()
            .join("my-topic-0/00000000000000000030.index")
            .exists()
    );
    assert!(
        dir.path()
            .join("my-topic-0/00000000000000000030.timeindex")
            .exists()
    );
    // a read returns data from one segment only (as Kafka)
    let r = log.read(25, 1 << 20, false, i64::MAX).unwrap();
    assert_eq!(
        headers(&r)
            .iter()
            .map(|h| h.base_offset)
            .collect::<Vec<_>>(),
        vec![20]
    );
    let r = log.read(30, 1 << 20, false, i64::MAX).unwrap();
    assert_eq!(headers(&r).len(), 3);
    // Rolled segments are fsynced off the append path; then the recovery point moves.
    assert_eq!(log.lock().recovery_point, 0);
    log.flush_rolled().unwrap();
    assert_eq!(log.lock().recovery_point, 90);
    // too large for a segment / for max.message.bytes
    let big = build_batch(&BatchSpec::new(40));
    assert!(matches!(
        log.append(&big, 0),
        Err(StorageError::RecordBatchTooLarge { .. })
    ));
    log.set_config(LogConfig {
        max_message_bytes: 100,
        ..LogConfig::default()
    });
    assert!(matches!(
        log.append(&b, 0),
        Err(StorageError::RecordTooLarge { .. })
    ));
}

#[test]
fn roll_by_time() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        segment_ms: 1000,
        ..LogConfig::default()
    };
    let (_m, log) = open(dir.path(), cfg);
    append(&log, &simple(2, 10_000), 10_000);
    append(&log, &simple(2, 10_900), 10_900);
    assert_eq!(segment_bases(&log), vec![0]);
    append(&log, &simple(2, 11_001), 11_001);
    assert_eq!(segment_bases(&log), vec![0, 4]);
    // time index of the rolled segment was sealed with its max timestamp
    let inner = log.lock();
    let first = inner.segments.get(&0).unwrap();
    let last = first.time_index.entries().last().copied().unwrap();
    assert_eq!((last.timestamp, last.relative_offset), (10_901, 3));
}

#[test]
fn sparse_index_positions() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        index_interval_bytes: 200,
        ..LogConfig::default()
    };
    let (_m, log) = open(dir.path(), cfg);
    let b = simple(4, 0);
    for i in 0..40 {
        append(&log, &build_batch(&BatchSpec::new(4).timestamps(i * 10)), 0);
    }
    let size = b.len() as u32;
    log.flush_all(false).unwrap(); // writes the index out
    let inner = log.lock();
    let seg = inner.segments.get(&0).unwrap();
    let entries = seg.offset_index.entries().to_vec();
    assert!(entries.len() > 5, "{entries:?}");
    // Kafka's rule: index a batch once more than `interval` bytes preceded it
    let per = 200 / size + 1;
    assert_eq!(entries[0].position, per * size);
    for e in &entries {
        assert_eq!(e.position % size, 0);
        assert_eq!(e.relative_offset, (e.position / size) * 4 + 3); // last offset of batch
    }
    let disk: Vec<u8> =
        std::fs::read(dir.path().join("my-topic-0/00000000000000000000.index")).unwrap();
    assert_eq!(disk.len(), entries.len() * 8);
    assert_eq!(seg.index_position(0), 0);
    let e = entries[2];
    assert_eq!(
        seg.index_position(i64::from(e.relative_offset)),
        u64::from(e.position)
    );
    assert_eq!(
        seg.index_position(i64::from(e.relative_offset) + 1),
        u64::from(e.position)
    );
    assert!(!seg.time_index.entries().is_empty());
    drop(inner);
    for off in [0, 1, 37, 38, 100, 159] {
        let r = log.read(off, 1, true, i64::MAX).unwrap();
        let h = headers(&r)[0];
        assert!(
            h.base_offset <= off && off <= h.last_offset(),
            "offset {off}"
        );
    }
}

#[test]
fn offset_for_timestamp_all_codecs() {
    for (codec, xerial) in [
        (0, false),
        (1, false),
        (2, false),
        (2, true),
        (3, false),
        (4, false),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = LogConfig {
            index_interval_bytes: 100,
            segment_bytes: 2000,
            ..LogConfig::default()
        };
        let (_m, log) = open(dir.path(), cfg);
        for i in 0..30i64 {
            // batch i: 100i+0, +10, +20, +30, +40, +95, +60, +70, +80, +90 (max in the middle)
            let ts: Vec<i64> = (0..10)
                .map(|j| 100 * i + if j == 5 { 95 } else { 10 * j })
                .collect();
            let mut spec = BatchSpec::new(10).explicit(ts).codec(codec);
            if xerial {
                spec = spec.xerial();
            }
            append(&log, &build_batch(&spec), 0);
        }
        assert!(log.lock().segments.len() > 1, "codec {codec}");
        assert_eq!(log.offset_for_timestamp(-5).unwrap(), Some((0, 0)));
        assert_eq!(log.offset_for_timestamp(0).unwrap(), Some((0, 0)));
        assert_eq!(log.offset_for_timestamp(1055).unwrap(), Some((105, 1095)));
        assert_eq!(log.offset_for_timestamp(1030).unwrap(), Some((103, 1030)));
        assert_eq!(log.offset_for_timestamp(1096).unwrap(), Some((110, 1100)));
        assert_eq!(log.offset_for_timestamp(2995).unwrap(), Some((295, 2995)));
        assert_eq!(log.offset_for_timestamp(2996).unwrap(), None);
        assert_eq!(log.max_timestamp_offset().unwrap(), Some((295, 2995)));
    }
}

#[test]
fn max_timestamp_first_occurrence_and_empty() {
    let dir = tempfile::tempdir().unwrap();
    let (_m, log) = open(dir.path(), LogConfig::default());
    assert_eq!(log.max_timestamp_offset().unwrap(), None);
    assert_eq!(log.offset_for_timestamp(0).unwrap(), None);
    append(
        &log,
        &build_batch(&BatchSpec::new(3).explicit(vec![5, 50, 7])),
        0,
    );
    append(
        &log,
        &build_batch(&BatchSpec::new(2).explicit(vec![50, 1])),
        0,
    );
    assert_eq!(log.max_timestamp_offset().unwrap(), Some((1, 50)));
}

#[test]
fn log_append_time_rewrites_batches() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        timestamp_type: TimestampType::LogAppendTime,
        ..LogConfig::default()
    };
    let (_m, log) = open(dir.path(), cfg);
    let info = append(&log, &build_batch(&BatchSpec::new(3).codec(4)), 123_456);
    assert_eq!(info.log_append_time, 123_456);
    let r = log.read(0, 1 << 20, false, i64::MAX).unwrap();
    let h = headers(&r)[0]; // CRC still valid
    assert!(h.is_log_append_time());
    assert_eq!(h.max_timestamp, 123_456);
    assert_eq!(log.offset_for_timestamp(100).unwrap(), Some((0, 123_456)));
}

/// The stored batches of a log, split.
fn stored_batches(log: &PartitionLog) -> Vec<Vec<u8>> {
    let all = log.read(0, usize::MAX, false, i64::MAX).unwrap();
    let mut out = Vec::new();
    let mut pos = 0;
    for h in headers(&all) {
        out.push(all[pos..pos + h.total_size()].to_vec());
        pos += h.total_size();
    }
    out
}

#[test]
fn log_append_time_gets_correct_crc_and_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        timestamp_type: TimestampType::LogAppendTime,
        ..LogConfig::default()
    };
    let (_m, log) = open(dir.path(), cfg);
    let first = build_batch(&BatchSpec::new(2).timestamps(10).producer(5, 0, 0));
    let mut two = build_batch(&BatchSpec::new(3).timestamps(20).codec(1));
    two.extend_from_slice(&simple(1, 30));
    let info = log.append_as_leader(&first, 4, 1_000).unwrap();
    assert_eq!((info.base_offset, info.last_offset), (0, 1));
    assert_eq!(info.log_append_time, 1_000);
    let info = log.append_as_leader(&two, 4, 2_000).unwrap();
    assert_eq!((info.base_offset, info.last_offset), (2, 5));
    // a retried duplicate answers with the append time of the original
    let dup = log.append_as_leader(&first, 4, 3_000).unwrap();
    assert!(dup.duplicate);
    assert_eq!(dup.log_append_time, 1_000);

    let sent = [
        first,
        two[..headers(&two)[0].total_size()].to_vec(),
        simple(1, 30),
    ];
    let stored = stored_batches(&log);
    assert_eq!(stored.len(), 3);
    for ((bytes, original), (base, now)) in
        stored
            .iter()
            .zip(&sent)
            .zip([(0, 1_000), (2, 2_000), (5, 2_000)])
    {
        let h = batch::validate(bytes).unwrap()[0]; // CRC-32C valid
        let o = BatchHeader::parse(original).unwrap();
        assert!(h.is_log_append_time());
        assert_eq!(h.attributes, o.attributes | batch::ATTR_LOG_APPEND_TIME);
        assert_eq!((h.base_offset, h.partition_leader_epoch), (base, 4));
        assert_eq!(h.max_timestamp, now);
        assert_eq!(h.base_timestamp, o.base_timestamp);
        assert_ne!(h.crc, o.crc);
        // the records themselves are the producer's
        assert_eq!(bytes[batch::HEADER_LEN..], original[batch::HEADER_LEN..]);
    }
}

#[test]
fn create_time_append_writes_the_producers_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (_m, log) = open(dir.path(), LogConfig::default());
    let sent = [
        build_batch(&BatchSpec::new(3).timestamps(10).producer(9, 2, 0)),
        build_batch(&BatchSpec::new(2).timestamps(5).codec(4)),
        simple(1, 7),
    ];
    log.append_as_leader(&sent[0], 3, 0).unwrap();
    let mut rest = sent[1].clone();
    rest.extend_from_slice(&sent[2]);
    let info = log.append_as_leader(&rest, 3, 0).unwrap();
    assert_eq!((info.base_offset, info.last_offset), (3, 5));
    let stored = stored_batches(&log);
    assert_eq!(stored.len(), 3);
    for ((bytes, original), base) in stored.iter().zip(&sent).zip([0i64, 3, 5]) {
        assert_eq!(bytes.len(), original.len());
        assert_eq!(bytes[0..8], base.to_be_bytes());
        assert_eq!(bytes[8..12], original[8..12]);
        assert_eq!(bytes[12..16], 3i32.to_be_bytes());
        assert_eq!(bytes[16..], original[16..]);
    }
}

#[test]
fn append_of_more_batches_than_one_vectored_write_takes() {
    // two buffers per batch: 600 batches need more than IOV_MAX (1024) of them
    let dir = tempfile::tempdir().unwrap();
    let (_m, log) = open(dir.path(), LogConfig::default());
    let mut many = Vec::new();
    for i in 0..600 {
        many.extend_from_slice(&simple(1 + i % 3, i as i64));
    }
    let info = append(&log, &many, 0);
    let stored = log.read(0, usize::MAX, false, i64::MAX).unwrap();
    assert_eq!(stored.len(), many.len());
    let hs = headers(&stored);
    assert_eq!(hs.len(), 600);
    assert_eq!(info.last_offset, hs[599].last_offset());
    assert!(
        hs.windows(2)
            .all(|w| w[1].base_offset == w[0].next_offset())
    );
}

#[test]
fn failed_write_leaves_log_and_producer_state_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let (m, log) = open(dir.path(), LogConfig::default());
    append(&log, &simple(2, 0), 0);
    let size = log.size_bytes();
    // swap the active segment's file for a read-only handle: the write fails
    let path = log.lock().active().unwrap().log_path.clone();
    {
        let mut inner = log.lock();
        let seg = inner.segments.values_mut().next_back().unwrap();
        seg.file = Arc::new(std::fs::File::open(&path).unwrap());
    }
    let b = build_batch(&BatchSpec::new(3).producer(11, 0, 0));
    assert!(matches!(log.append(&b, 0), Err(StorageError::IoAt { .. })));
    assert_eq!((log.log_end_offset(), log.size_bytes()), (2, size));
    assert_eq!(std::fs::metadata(&path).unwrap().len(), size);
    // the directory is offline until a restart
    assert!(matches!(
        log.append(&b, 0),
        Err(StorageError::LogDirOffline { .. })
    ));
    drop((m, log));
    let m = LogManager::open(dir.path(), &|_| LogConfig::default(), 0).unwrap();
    let log = m.get(&tp()).unwrap();
    // the batch was never recorded: the retry is appended, not answered as a duplicate
    let info = append(&log, &b, 0);
    assert!(!info.duplicate);
    assert_eq!((info.base_offset, info.last_offset), (2, 4));
    assert_eq!(
        headers(&log.read(0, 1 << 20, false, i64::MAX).unwrap()).len(),
        2
    );
}

#[test]
fn produce_limits_follow_config_updates() {
    let dir = tempfile::tempdir().unwrap();
    let (m, log) = open(dir.path(), LogConfig::default());
    assert_eq!(log.config().min_insync_replicas, 1);
    m.update_config(
        "my-topic",
        LogConfig {
            min_insync_replicas: 2,
            timestamp_after_max_ms: 5,
            ..LogConfig::default()
        },
    );
    let c = log.config();
    assert_eq!((c.min_insync_replicas, c.timestamp_after_max_ms), (2, 5));
}

#[test]
fn retention_by_time_and_size() {
    let dir = tempfile::tempdir().unwrap();
    let b = simple(10, 0);
    let cfg = LogConfig {
        segment_bytes: (b.len() * 2) as u64,
        retention_ms: 1000,
        ..LogConfig::default()
    };
    let (m, log) = open(dir.path(), cfg.clone());
    for i in 0..6i64 {
        append(&log, &simple(10, i * 1000), 0);
    }
    assert_eq!(segment_bases(&log), vec![0, 20, 40]);
    m.run_retention(2500).unwrap(); // segment 0 (max ts 1009) expired
    assert_eq!(segment_bases(&log), vec![20, 40]);
    assert_eq!(log.log_start_offset(), 20);
    assert!(matches!(
        log.read(5, 100, true, i64::MAX),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    assert!(
        !dir.path()
            .join("my-topic-0/00000000000000000000.log")
            .exists()
    );
    // everything expired: roll so an empty active segment remains at the log end
    m.run_retention(100_000).unwrap();
    assert_eq!(segment_bases(&log), vec![60]);
    assert_eq!(
        (
            log.log_start_offset(),
            log.log_end_offset(),
            log.size_bytes()
        ),
        (60, 60, 0)
    );
    m.run_retention(200_000).unwrap();
    assert_eq!(segment_bases(&log), vec![60]);
    assert_eq!(append(&log, &simple(1, 0), 0).base_offset, 60);
    // size retention
    m.update_config(
        "my-topic",
        LogConfig {
            retention_ms: -1,
            retention_bytes: (b.len() * 3) as i64,
            ..cfg
        },
    );
    for _ in 0..7 {
        append(&log, &b, 0);
    }
    // segments: [60: 1 record + b] [71: 2b] [91: 2b] [111: 2b]; Kafka deletes a segment
    // only while the remainder still holds at least retention.bytes
    assert_eq!(segment_bases(&log), vec![60, 71, 91, 111]);
    m.run_retention(0).unwrap();
    assert_eq!(segment_bases(&log), vec![91, 111]);
    assert_eq!(log.size_bytes(), (b.len() * 4) as u64);
    assert_eq!(log.log_start_offset(), 91);
}

#[test]
fn compacted_log_keeps_records_past_retention() {
    let dir = tempfile::tempdir().unwrap();
    let b = simple(10, 0);
    let cfg = LogConfig {
        segment_bytes: (b.len() * 2) as u64,
        retention_ms: 1000,
        retention_bytes: b.len() as i64,
        delete_retention: false,
        ..LogConfig::default()
    };
    let (m, log) = open(dir.path(), cfg.clone());
    for i in 0..6i64 {
        append(&log, &simple(10, i * 1000), 0);
    }
    m.run_retention(1_000_000_000).unwrap();
    assert_eq!(segment_bases(&log), vec![0, 20, 40]);
    assert_eq!(log.log_start_offset(), 0);
    // a log start offset moved by DeleteRecords still deletes what is below it
    assert!(log.advance_log_start(20).unwrap());
    assert_eq!(segment_bases(&log), vec![20, 40]);
    // and `compact,delete` (or `delete`) turns time retention back on
    m.update_config(
        "my-topic",
        LogConfig {
            delete_retention: true,
            ..cfg
        },
    );
    m.run_retention(1_000_000_000).unwrap();
    assert_eq!(log.log_start_offset(), 60);
}

#[test]
fn idempotent_producer() {
    let dir = tempfile::tempdir().unwrap();
    let (_m, log) = open(dir.path(), LogConfig::default());
    let b0 = build_batch(&BatchSpec::new(3).producer(7, 0, 0));
    let b1 = build_batch(&BatchSpec::new(2).producer(7, 0, 3));
    assert_eq!(append(&log, &b0, 0).base_offset, 0);
    assert_eq!(append(&log, &simple(1, 0), 0).base_offset, 3);
    assert_eq!(append(&log, &b1, 0).base_offset, 4);
    let dup = append(&log, &b0, 0);
    assert!(dup.duplicate);
    assert_eq!((dup.base_offset, dup.last_offset), (0, 2));
    assert_eq!(log.log_end_offset(), 6);
    let gap = build_batch(&BatchSpec::new(1).producer(7, 0, 9));
    assert!(matches!(
        log.append(&gap, 0),
        Err(StorageError::OutOfOrderSequence { .. })
    ));
    let bump_bad = build_batch(&BatchSpec::new(1).producer(7, 1, 5));
    assert!(matches!(
        log.append(&bump_bad, 0),
        Err(StorageError::OutOfOrderSequence { .. })
    ));
    let bump = build_batch(&BatchSpec::new(1).producer(7, 1, 0));
    assert_eq!(append(&log, &bump, 0).base_offset, 6);
    let old = build_batch(&BatchSpec::new(1).producer(7, 0, 5));
    assert!(matches!(
        log.append(&old, 0),
        Err(StorageError::InvalidProducerEpoch { .. })
    ));
    assert_eq!(log.log_end_offset(), 7);
}

#[test]
fn closed_after_delete() {
    let dir = tempfile::tempdir().unwrap();
    let (m, log) = open(dir.path(), LogConfig::default());
    append(&log, &simple(1, 0), 0);
    assert!(Arc::ptr_eq(
        &m.create(&tp(), LogConfig::default()).unwrap(),
        &log
    ));
    m.delete(&tp()).unwrap();
    assert!(m.get(&tp()).is_none());
    assert!(!dir.path().join("my-topic-0").exists());
    assert!(matches!(
        log.append(&simple(1, 0), 0),
        Err(StorageError::LogClosed(_))
    ));
    assert!(
        m.create(&TopicPartition::new("../x", 0), LogConfig::default())
            .is_err()
    );
}

#[test]
fn multi_batch_append_flush_and_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<LogManager>();
    assert_send_sync::<PartitionLog>();
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        flush_messages: 5,
        flush_ms: 100,
        ..LogConfig::default()
    };
    let (m, log) = open(dir.path(), cfg);
    let mut two = simple(3, 0);
    two.extend_from_slice(&simple(2, 0));
    let info = append(&log, &two, 0);
    assert_eq!((info.base_offset, info.last_offset), (0, 4));
    let hs = headers(&log.read(0, 1 << 20, false, i64::MAX).unwrap());
    assert_eq!(
        hs.iter().map(|h| h.base_offset).collect::<Vec<_>>(),
        vec![0, 3]
    );
    assert_eq!(log.lock().recovery_point, 5); // flush.messages reached
    append(&log, &simple(1, 0), 10);
    assert_eq!(log.lock().recovery_point, 5);
    m.flush_due(50).unwrap();
    assert_eq!(log.lock().recovery_point, 5);
    m.flush_due(200).unwrap();
    assert_eq!(log.lock().recovery_point, 6);

    let writers: Vec<_> = (0..4)
        .map(|_| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for _ in 0..50 {
                    append(&log, &simple(2, 0), 0);
                }
            })
        })
        .collect();
    let reader = {
        let log = Arc::clone(&log);
        std::thread::spawn(move || {
            for _ in 0..200 {
                let r = log.read(0, 1 << 20, false, log.log_end_offset()).unwrap();
                batch::validate(&r).unwrap();
            }
        })
    };
    for w in writers {
        w.join().unwrap();
    }
    reader.join().unwrap();
    assert_eq!(log.log_end_offset(), 6 + 4 * 50 * 2);
    let all = log.read(0, usize::MAX, false, i64::MAX).unwrap();
    assert_eq!(headers(&all).len(), 3 + 200);
}

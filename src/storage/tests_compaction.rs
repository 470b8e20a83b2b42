//! Tests of log compaction: what a reader from the beginning sees after cleaning, offsets,
//! tombstones and their delete horizon, producer state, the active segment, crash
//! recovery of an interrupted swap, and the cleaner checkpoint.

use super::tests_log::{open, tp};
use super::{CleanerConfig, LogConfig, LogManager, PartitionLog};
use crate::format::batch::{self, BatchHeader};
use crate::format::builder::build_batch;
use crate::format::records::RecordIter;
use crate::format::testutil::{BatchSpec, build_batch as spec_batch};

/// (offset, key, value) of every record a reader from the log start sees.
type Seen = Vec<(i64, String, Option<String>)>;

fn compacted() -> LogConfig {
    LogConfig {
        compact: true,
        delete_retention: false,
        segment_bytes: 150, // about two small batches per segment
        min_cleanable_dirty_ratio: 0.0,
        ..LogConfig::default()
    }
}

fn put(log: &PartitionLog, key: &str, value: Option<&str>, now: i64) -> i64 {
    let b = build_batch(&[(Some(key.as_bytes()), value.map(str::as_bytes))], now);
    log.append(&b, now).unwrap().base_offset
}

fn batches(log: &PartitionLog) -> Vec<(BatchHeader, Vec<u8>)> {
    // one read returns the batches of one segment: read on until the log end
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let all = log.read(offset, usize::MAX, false, i64::MAX).unwrap();
        assert!(!all.is_empty(), "nothing read at {offset}");
        let mut pos = 0;
        while pos < all.len() {
            let h = batch::validate_one(&all[pos..], false).unwrap();
            out.push((h, all[pos..pos + h.total_size()].to_vec()));
            pos += h.total_size();
            offset = h.next_offset();
        }
    }
    out
}

fn seen(log: &PartitionLog) -> Seen {
    let mut out = Vec::new();
    for (_, b) in batches(log) {
        let mut it = RecordIter::new(&b).unwrap();
        while let Some(r) = it.next_keyed() {
            let r = r.unwrap();
            let s = |b: Option<bytes::Bytes>| b.map(|b| String::from_utf8(b.to_vec()).unwrap());
            out.push((r.offset, s(r.key).unwrap_or_default(), s(r.value)));
        }
    }
    out
}

fn roll(log: &PartitionLog, now: i64) {
    let mut inner = log.lock();
    log.roll(&mut inner, now).unwrap();
}

fn clean(m: &LogManager, now: i64) -> bool {
    m.clean_dirtiest(&CleanerConfig::default(), now, &mut |_| true)
        .unwrap()
        .is_some()
}

fn rec(offset: i64, key: &str, value: Option<&str>) -> (i64, String, Option<String>) {
    (offset, key.to_string(), value.map(str::to_string))
}

#[test]
fn the_latest_record_per_key_survives_with_its_offset() {
    let dir = tempfile::tempdir().unwrap();
    let (m, log) = open(dir.path(), compacted());
    let writes = [
        ("a", Some("1")),
        ("b", Some("1")),
        ("a", Some("2")),
        ("c", Some("1")),
        ("b", None),
        ("a", Some("3")),
        ("d", Some("1")),
    ];
    for (k, v) in writes {
        put(&log, k, v, 1_000);
    }
    let before = seen(&log);
    assert_eq!(before.len(), 7);
    assert!(clean(&m, 2_000));
    let after = seen(&log);
    // The active segment (the last write, maybe more) is left as it was.
    let active_base = *log.lock().segments.keys().next_back().unwrap();
    assert!(active_base <= 6);
    let cleaned: Seen = after
        .iter()
        .filter(|r| r.0 < active_base)
        .cloned()
        .collect();
    let expected: Seen = [
        rec(3, "c", Some("1")),
        rec(4, "b", None),
        rec(5, "a", Some("3")),
    ]
    .into_iter()
    .filter(|r| r.0 < active_base)
    .collect();
    assert_eq!(cleaned, expected);
    let untouched: Seen = before.into_iter().filter(|r| r.0 >= active_base).collect();
    assert_eq!(after[cleaned.len()..], untouched[..]);
    assert_eq!(log.log_end_offset(), 7, "the log end does not move");
    assert_eq!(m.cleaner_checkpoint(&tp()), Some(active_base));
    // Nothing dirty is left: no second pass.
    assert!(!clean(&m, 3_000));
    // Reads at a removed offset land on the next record kept.
    let from_zero = log.read(0, usize::MAX, false, i64::MAX).unwrap();
    let first = batch::validate_one(&from_zero, false).unwrap();
    assert_eq!(first.base_offset, 3);
}

#[test]
fn tombstones_go_once_their_delete_horizon_passes() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        delete_retention_ms: 10_000,
        ..compacted()
    };
    let (m, log) = open(dir.path(), cfg);
    put(&log, "a", Some("1"), 1_000);
    put(&log, "a", None, 1_000);
    put(&log, "b", Some("1"), 1_000);
    put(&log, "c", Some("1"), 1_000);
    put(&log, "z", Some("1"), 1_000);
    assert!(clean(&m, 5_000));
    let (h, _) = batches(&log)
        .into_iter()
        .find(|(h, _)| h.base_offset == 1)
        .expect("the tombstone is kept on the first pass");
    assert_eq!(h.delete_horizon_ms(), Some(15_000));
    // More data makes the log dirty again; before the horizon the tombstone stays.
    put(&log, "x", Some("1"), 1_000);
    put(&log, "y", Some("1"), 1_000);
    put(&log, "w", Some("1"), 1_000);
    assert!(clean(&m, 14_999));
    assert!(seen(&log).iter().any(|r| r.0 == 1));
    put(&log, "v", Some("1"), 1_000);
    put(&log, "u", Some("1"), 1_000);
    put(&log, "t", Some("1"), 1_000);
    assert!(clean(&m, 15_000));
    let after = seen(&log);
    assert!(!after.iter().any(|r| r.1 == "a"), "{after:?}");
    assert!(after.iter().any(|r| r.1 == "b"));
}

#[test]
fn compressed_batches_stay_compressed_and_keep_their_offsets() {
    for codec in 1..=4u8 {
        let dir = tempfile::tempdir().unwrap();
        let cfg = LogConfig {
            segment_bytes: 1024 * 1024,
            ..compacted()
        };
        let (m, log) = open(dir.path(), cfg);
        // keys k0..k9 twice, the second batch compressed too; then a batch to roll past
        log.append(&spec_batch(&BatchSpec::new(10).codec(codec)), 1)
            .unwrap();
        log.append(&spec_batch(&BatchSpec::new(5).codec(codec)), 1)
            .unwrap();
        roll(&log, 2);
        put(&log, "tail", Some("x"), 2);
        assert!(clean(&m, 10), "codec {codec}");
        let bs = batches(&log);
        assert_eq!(bs[0].0.compression_id(), codec);
        assert_eq!(bs[0].0.base_offset, 0);
        assert_eq!(bs[0].0.last_offset(), 9, "the last offset delta is kept");
        assert_eq!(bs[0].0.records_count, 5);
        let offsets: Vec<i64> = seen(&log).iter().map(|r| r.0).collect();
        assert_eq!(
            offsets,
            vec![5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
            "codec {codec}"
        );
    }
}

#[test]
fn a_producers_last_batch_is_kept_empty_and_its_sequence_survives() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        segment_bytes: 1024 * 1024,
        ..compacted()
    };
    let (m, log) = open(dir.path(), cfg.clone());
    // producer 7 writes k0 (sequence 0); a later plain write of k0 supersedes it
    log.append(&spec_batch(&BatchSpec::new(1).producer(7, 0, 0)), 1)
        .unwrap();
    put(&log, "k0", Some("newer"), 1);
    roll(&log, 2);
    put(&log, "tail", Some("x"), 2);
    assert!(clean(&m, 10));
    let bs = batches(&log);
    assert_eq!(bs[0].0.base_offset, 0);
    assert_eq!(bs[0].0.records_count, 0, "kept empty for the producer");
    assert_eq!(bs[0].0.producer_id, 7);
    drop(log);
    m.shutdown().unwrap();
    drop(m);
    let m = LogManager::open(dir.path(), &move |_| cfg.clone(), 0).unwrap();
    let log = m.get(&tp()).unwrap();
    let dup = log
        .append(&spec_batch(&BatchSpec::new(1).producer(7, 0, 0)), 3)
        .unwrap();
    assert!(dup.duplicate, "sequence 0 is still known after the restart");
    let next = log
        .append(&spec_batch(&BatchSpec::new(1).producer(7, 0, 1)), 3)
        .unwrap();
    assert!(!next.duplicate);
}

#[test]
fn nothing_above_the_high_watermark_or_younger_than_the_lag_is_cleaned() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        min_compaction_lag_ms: 1_000,
        ..compacted()
    };
    let (m, log) = open(dir.path(), cfg);
    for _ in 0..6 {
        put(&log, "a", Some("1"), 10_000);
    }
    assert!(!clean(&m, 10_500), "younger than min.compaction.lag.ms");
    assert!(clean(&m, 11_001));
    let dir2 = tempfile::tempdir().unwrap();
    let (m2, log2) = open(dir2.path(), compacted());
    log2.set_hw_follows_leo(false);
    for _ in 0..6 {
        put(&log2, "a", Some("1"), 10_000);
    }
    assert_eq!(log2.high_watermark(), 0);
    assert!(!clean(&m2, 20_000), "nothing is below the high watermark");
}

#[test]
fn the_dirty_ratio_decides() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        min_cleanable_dirty_ratio: 0.5,
        ..compacted()
    };
    let (m, log) = open(dir.path(), cfg);
    for k in ["a", "b", "c", "d", "e", "f"] {
        put(&log, k, Some("1"), 1);
    }
    let c = log.cleanable(None, 2).unwrap();
    assert_eq!(c.ratio(), 1.0);
    assert!(clean(&m, 2));
    // Distinct keys: everything is kept; one more small segment is far below 50% dirty.
    put(&log, "g", Some("1"), 1);
    put(&log, "h", Some("1"), 1);
    let c = log.cleanable(m.cleaner_checkpoint(&tp()), 2);
    assert!(c.as_ref().is_none_or(|c| !c.wanted()), "{c:?}");
}

#[test]
fn an_interrupted_swap_completes_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = compacted();
    let (m, log) = open(dir.path(), cfg.clone());
    for k in ["a", "b", "c", "d", "e"] {
        put(&log, k, Some("1"), 1);
    }
    let before = seen(&log);
    let bases: Vec<i64> = log.lock().segments.keys().copied().collect();
    assert!(bases.len() >= 3, "{bases:?}");
    let part = dir.path().join(tp().dir_name());
    // A swap of the first two segments that got as far as `.swap`: their batches, one file.
    let seg = |b: i64| super::segment::segment_path(&part, b, "log");
    let mut swap = std::fs::read(seg(bases[0])).unwrap();
    swap.extend(std::fs::read(seg(bases[1])).unwrap());
    drop(log);
    m.shutdown().unwrap();
    drop(m);
    std::fs::write(super::segment::segment_path(&part, 0, "log.swap"), &swap).unwrap();
    std::fs::write(
        super::segment::segment_path(&part, 0, "log.cleaned"),
        b"junk",
    )
    .unwrap();
    let m = LogManager::open(dir.path(), &move |_| cfg.clone(), 0).unwrap();
    let log = m.get(&tp()).unwrap();
    let now: Vec<i64> = log.lock().segments.keys().copied().collect();
    assert_eq!(now[0], 0);
    assert!(
        !now.contains(&bases[1]),
        "the replaced segment is gone: {now:?}"
    );
    assert_eq!(seen(&log), before);
    assert!(!super::segment::segment_path(&part, 0, "log.swap").exists());
    assert!(!super::segment::segment_path(&part, 0, "log.cleaned").exists());
}

#[test]
fn the_cleaner_checkpoint_survives_a_restart_and_a_follower_accepts_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = compacted();
    let (m, log) = open(dir.path(), cfg.clone());
    for k in ["a", "a", "a", "b", "c"] {
        put(&log, k, Some("1"), 1);
    }
    assert!(clean(&m, 2));
    let point = m.cleaner_checkpoint(&tp()).unwrap();
    let text = std::fs::read_to_string(dir.path().join("cleaner-offset-checkpoint")).unwrap();
    assert_eq!(text, format!("0\n1\nmy-topic 0 {point}\n"));
    let leader_batches: Vec<u8> = batches(&log).into_iter().flat_map(|(_, b)| b).collect();
    drop(log);
    m.shutdown().unwrap();
    drop(m);
    let m = LogManager::open(dir.path(), &move |_| cfg.clone(), 0).unwrap();
    assert_eq!(m.cleaner_checkpoint(&tp()), Some(point));
    // A follower copying the compacted log: offsets 0 and 1 are a gap it must accept.
    let fdir = tempfile::tempdir().unwrap();
    let (_fm, follower) = open(fdir.path(), compacted());
    follower.append_as_follower(&leader_batches, 3).unwrap();
    assert_eq!(follower.log_end_offset(), 5);
    assert_eq!(seen(&follower)[0].0, 2);
}

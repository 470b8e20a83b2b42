//! Tests of the fetch read path: the slice that `read_slice` cuts (with the offset index
//! skipping ahead) equals a plain walk over every batch header.

use super::LogConfig;
use super::tests_log::{append, open};
use crate::format::batch::BatchHeader;
use crate::format::testutil::{BatchSpec, build_batch};

/// Whether a batch below `max_offset` starts at `pos` of `all` (the slice was cut short).
fn more_at(all: &[u8], pos: usize, max_offset: i64) -> bool {
    pos < all.len() && BatchHeader::parse(&all[pos..]).unwrap().last_offset() < max_offset
}

/// Expected slice length: from the batch holding `offset`, whole batches within
/// `max_bytes` (the first alone when it is larger and `min_one`) below `max_offset`.
fn naive(all: &[u8], offset: i64, max_bytes: usize, min_one: bool, max_offset: i64) -> usize {
    let mut pos = 0;
    let mut start = None;
    let mut len = 0;
    while pos < all.len() {
        let h = BatchHeader::parse(&all[pos..]).unwrap();
        let size = h.total_size();
        pos += size;
        if start.is_none() {
            if h.last_offset() < offset {
                continue;
            }
            start = Some(());
            if h.last_offset() >= max_offset {
                return 0;
            }
            if size > max_bytes {
                return if min_one { size } else { 0 };
            }
        }
        if len + size > max_bytes || h.last_offset() >= max_offset {
            break;
        }
        len += size;
    }
    len
}

fn check(interval: u32) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        index_interval_bytes: interval,
        ..LogConfig::default()
    };
    let (_m, log) = open(dir.path(), cfg);
    let mut seed = 7u64;
    let mut rand = move |n: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    for _ in 0..300 {
        let count = 1 + rand(20) as usize;
        let size = 1 + rand(300) as usize;
        append(
            &log,
            &build_batch(&BatchSpec::new(count).value_size(size)),
            0,
        );
    }
    let end = log.log_end_offset();
    let all = log.read(0, usize::MAX, false, i64::MAX).unwrap();
    assert_eq!(all.len() as u64, log.size_bytes());
    for _ in 0..2000 {
        let offset = rand(end as u64) as i64;
        let max_bytes = rand(all.len() as u64 / 2) as usize;
        let max_offset = offset + rand((end - offset) as u64 + 5) as i64;
        let min_one = rand(2) == 0;
        let read = log
            .read_slice(offset, max_bytes, min_one, max_offset)
            .unwrap();
        let got = read.as_ref().map_or(0, |(s, _)| s.len());
        let want = naive(&all, offset, max_bytes, min_one, max_offset);
        let what = format!(
            "offset {offset} max_bytes {max_bytes} min_one {min_one} max_offset {max_offset}"
        );
        assert_eq!(got, want, "{what}");
        if let Some((slice, more)) = read {
            let end = slice.position() as usize + slice.len();
            assert_eq!(more, more_at(&all, end, max_offset), "{what}");
        }
    }
}

#[test]
fn slices_match_a_full_header_walk_with_a_dense_index() {
    check(1);
}

#[test]
fn slices_match_a_full_header_walk_with_the_default_index() {
    check(4096);
}

#[test]
fn a_slice_reads_back_the_bytes_it_covers() {
    let dir = tempfile::tempdir().unwrap();
    let (_m, log) = open(dir.path(), LogConfig::default());
    for i in 0..20 {
        append(
            &log,
            &build_batch(&BatchSpec::new(5).value_size(100 + i)),
            0,
        );
    }
    let all = log.read(0, usize::MAX, false, i64::MAX).unwrap();
    let (slice, more) = log.read_slice(7, 2000, false, i64::MAX).unwrap().unwrap();
    assert!(more, "2000 bytes hold a few of the 20 batches");
    let start = slice.position() as usize;
    assert_eq!(start, BatchHeader::parse(&all).unwrap().total_size());
    assert_eq!(slice.read().unwrap(), all.slice(start..start + slice.len()));
    assert!(log.read_slice(100, 2000, true, i64::MAX).unwrap().is_none());
    // A slice past the end of its file (a truncated log) does not read short.
    let past = super::FileSlice::new(
        std::sync::Arc::new(std::fs::File::open(slice.path()).unwrap()),
        slice.path().to_path_buf(),
        all.len() as u64 - 10,
        20,
    );
    assert!(past.read().is_err());
}

#[test]
fn a_slice_that_ends_with_its_segment_says_more_follows() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        segment_bytes: 2000,
        ..LogConfig::default()
    };
    let (_m, log) = open(dir.path(), cfg);
    for _ in 0..20 {
        append(&log, &build_batch(&BatchSpec::new(5).value_size(100)), 0);
    }
    let end = log.log_end_offset();
    let (_, more) = log.read_slice(0, 1 << 20, true, end).unwrap().unwrap();
    assert!(
        more,
        "later segments hold more: a long poll answers at once"
    );
    let (_, more) = log
        .read_slice(end - 1, 1 << 20, true, end)
        .unwrap()
        .unwrap();
    assert!(!more, "the slice reaches the log end");
    let (_, more) = log.read_slice(0, 1 << 20, true, 5).unwrap().unwrap();
    assert!(!more, "nothing more below max_offset");
}

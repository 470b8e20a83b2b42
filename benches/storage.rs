//! Storage hot paths: segment append with index updates, offset/time index lookups and the
//! fetch read path (`PartitionLog::read` with 1 MiB max bytes).
//!
//! `cargo bench --bench storage`

mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use vltava::format::batch;
use vltava::storage::{LogConfig, LogManager, PartitionLog, TopicPartition};

const NOW: i64 = 1_700_000_000_000;

struct Log {
    _dir: tempfile::TempDir,
    _mgr: LogManager,
    log: Arc<PartitionLog>,
}

fn open(segment_bytes: u64) -> Log {
    let dir = tempfile::tempdir().expect("tempdir");
    let mgr = LogManager::open(dir.path(), &|_| LogConfig::default(), NOW).expect("open");
    let cfg = LogConfig {
        segment_bytes,
        ..LogConfig::default()
    };
    let log = mgr
        .create(&TopicPartition::new("bench", 0), cfg)
        .expect("create");
    Log {
        _dir: dir,
        _mgr: mgr,
        log,
    }
}

/// Many small batches into a `LogManager`-owned log: per-batch cost of offset assignment,
/// the segment write (pwrite) and index maintenance (an entry every 4 KiB, Kafka's default
/// `index.interval.bytes`), with 16 MiB segments so rolls are included.
fn segment_append(c: &mut Criterion) {
    let mut g = c.benchmark_group("storage/segment_append");
    for &(records, value) in &[(1usize, 100usize), (10, 100), (10, 1024)] {
        let b = common::batch(records, value, NOW);
        let label = format!("{records}x{value}B ({} B batch)", b.len());
        g.throughput(Throughput::Elements(1));
        let per_log = ((128usize << 20) / b.len()) as u64;
        g.bench_function(BenchmarkId::new("PartitionLog::append", label), |bn| {
            bn.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut done = 0;
                while done < iters {
                    let l = open(16 << 20);
                    let n = per_log.min(iters - done);
                    let start = Instant::now();
                    for _ in 0..n {
                        black_box(l.log.append(&b, NOW).unwrap());
                    }
                    total += start.elapsed();
                    done += n;
                }
                total
            })
        });
    }
    g.finish();
}

/// A log of `batches` batches of 10 x 100 B records (record i of the log has timestamp
/// NOW + i), 16 MiB segments.
fn filled(batches: usize) -> (Log, i64) {
    let l = open(16 << 20);
    for i in 0..batches {
        let b = common::batch(10, 100, NOW + 10 * i as i64);
        l.log.append(&b, NOW).unwrap();
    }
    let end = l.log.log_end_offset();
    (l, end)
}

fn lookups(c: &mut Criterion) {
    // 100k batches of ~1.1 KB = 1M records, ~114 MB in 7 segments of 16 MiB.
    let (l, end) = filled(100_000);
    let mut g = c.benchmark_group("storage/lookup");
    g.throughput(Throughput::Elements(1));
    let mut rng = common::Rng::new(42);
    // Offset index: locate the batch holding a random offset and read just that batch
    // (max_bytes 1 + min_one returns the first whole batch).
    g.bench_function("read(random offset, one batch)", |bn| {
        bn.iter(|| {
            let o = rng.below(end as u64) as i64;
            black_box(l.log.read(o, 1, true, i64::MAX).unwrap())
        })
    });
    let mut rng = common::Rng::new(7);
    g.bench_function("offset_for_timestamp(random ts)", |bn| {
        bn.iter(|| {
            let ts = NOW + rng.below(end as u64) as i64;
            black_box(l.log.offset_for_timestamp(ts).unwrap())
        })
    });
    g.finish();

    let mut g = c.benchmark_group("storage/fetch_read");
    // Probe the size actually returned so the throughput figure is honest.
    let sample = l.log.read(0, 1 << 20, true, i64::MAX).unwrap();
    g.throughput(Throughput::Bytes(sample.len() as u64));
    let mut rng = common::Rng::new(9);
    g.bench_function("read(random offset, max_bytes 1 MiB)", |bn| {
        bn.iter(|| {
            let o = rng.below((end - 20_000).max(1) as u64) as i64;
            black_box(l.log.read(o, 1 << 20, true, i64::MAX).unwrap())
        })
    });
    // Sequential consumer: read from where the previous read stopped (the fetch loop of
    // a consumer reading the whole log), wrapping at the end.
    let mut next = 0i64;
    g.bench_function("read(sequential, max_bytes 1 MiB)", |bn| {
        bn.iter(|| {
            let bytes = l.log.read(next, 1 << 20, true, i64::MAX).unwrap();
            // Advance past the last whole batch returned.
            let mut pos = 0;
            let mut last = next;
            while pos < bytes.len() {
                let h = batch::BatchHeader::parse(&bytes[pos..]).unwrap();
                last = h.next_offset();
                pos += h.total_size();
            }
            next = if last >= end { 0 } else { last };
            black_box(bytes)
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::quick();
    targets = segment_append, lookups
}
criterion_main!(benches);

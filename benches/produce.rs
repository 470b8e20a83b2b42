//! Produce hot path without the network: batch validation (header + CRC-32C) and offset
//! assignment + append into a partition log.
//!
//! `cargo bench --bench produce`

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use vltava::format::batch;
use vltava::protocol::validate::{Limits, produce_records};
use vltava::storage::{LogConfig, LogManager, PartitionLog, TopicPartition};

const NOW: i64 = 1_700_000_000_000;

/// (label, batch bytes target, value size): librdkafka's 100 B and 1 KiB records in a
/// 16 KiB batch, and a full 1 MiB batch (max.message.bytes).
const SHAPES: &[(&str, usize, usize)] = &[
    ("16KiB/100B", 16 * 1024, 100),
    ("16KiB/1KiB", 16 * 1024, 1024),
    ("1MiB/1KiB", 1000 * 1024, 1024),
];

fn limits() -> Limits<'static> {
    Limits {
        max_message_bytes: 1_048_588,
        segment_bytes: 1 << 30,
        now_ms: NOW,
        timestamp_bounds: Some((i64::MAX, i64::MAX)),
        version: 12,
        compacted: false,
        topic: "bench",
        partition: 0,
    }
}

fn validate(c: &mut Criterion) {
    let mut g = c.benchmark_group("produce/validate");
    let limits = limits();
    for &(label, size, value) in SHAPES {
        let b = Bytes::from(common::batch_of_size(size, value, NOW));
        g.throughput(Throughput::Bytes(b.len() as u64));
        g.bench_with_input(
            BenchmarkId::new("format::batch::validate", label),
            &b,
            |bn, b| bn.iter(|| batch::validate(black_box(b)).unwrap()),
        );
        g.bench_with_input(
            BenchmarkId::new("protocol::validate::produce_records", label),
            &b,
            |bn, b| bn.iter(|| produce_records(Some(black_box(b)), &limits).unwrap()),
        );
    }
    g.finish();
}

/// A fresh log on a fresh temp dir, with 64 MiB segments (so rolls happen in the bench).
struct Fresh {
    _dir: tempfile::TempDir,
    _mgr: LogManager,
    log: std::sync::Arc<PartitionLog>,
}

fn fresh() -> Fresh {
    let dir = tempfile::tempdir().expect("tempdir");
    let mgr = LogManager::open(dir.path(), &|_| LogConfig::default(), NOW).expect("open");
    let cfg = LogConfig {
        segment_bytes: 64 << 20,
        ..LogConfig::default()
    };
    let log = mgr
        .create(&TopicPartition::new("bench", 0), cfg)
        .expect("create");
    Fresh {
        _dir: dir,
        _mgr: mgr,
        log,
    }
}

/// What `handlers::produce::append` does per partition: validate, then
/// `PartitionLog::append` straight from the request bytes (header stamping, producer
/// state, one vectored segment write, index update).
/// The log is recreated every 256 MiB outside the timed region so the temp dir stays small.
fn append(c: &mut Criterion) {
    let mut g = c.benchmark_group("produce/append");
    let limits = limits();
    for &(label, size, value) in SHAPES {
        let b = Bytes::from(common::batch_of_size(size, value, NOW));
        let per_log = ((256usize << 20) / b.len()).max(1) as u64;
        g.throughput(Throughput::Bytes(b.len() as u64));
        g.bench_with_input(
            BenchmarkId::new("validate+PartitionLog::append", label),
            &b,
            |bn, b| {
                bn.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    let mut done = 0u64;
                    while done < iters {
                        let f = fresh();
                        let n = per_log.min(iters - done);
                        let start = Instant::now();
                        for _ in 0..n {
                            produce_records(Some(b), &limits).unwrap();
                            let info = f.log.append(b, NOW).unwrap();
                            black_box(info);
                        }
                        total += start.elapsed();
                        done += n;
                    }
                    total
                })
            },
        );
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::quick();
    targets = validate, append
}
criterion_main!(benches);

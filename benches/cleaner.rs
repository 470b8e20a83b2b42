//! The log cleaner: one compaction pass (`LogManager::clean_dirtiest`) over a 32 MiB log
//! of 100 B values in 10-record batches, 1 MiB segments, for a few key spaces (every key
//! written many times, or nearly every record its own key). Throughput is the bytes of
//! log the pass reads (each segment is read twice: offset map, then rewrite).
//!
//! `cargo bench --bench cleaner`

mod common;

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use vltava::format::builder::build_batch;
use vltava::storage::{CleanerConfig, LogConfig, LogManager, TopicPartition};

const NOW: i64 = 1_700_000_000_000;
const LOG_BYTES: u64 = 32 << 20;

/// A compacted log of about `LOG_BYTES`, keys drawn from `keys` distinct ones.
fn dirty_log(keys: u64) -> (tempfile::TempDir, LogManager, u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = LogConfig {
        compact: true,
        delete_retention: false,
        segment_bytes: 1 << 20,
        min_cleanable_dirty_ratio: 0.0,
        ..LogConfig::default()
    };
    let c = cfg.clone();
    let mgr = LogManager::open(dir.path(), &move |_| c.clone(), NOW).expect("open");
    let log = mgr
        .create(&TopicPartition::new("bench", 0), cfg)
        .expect("create");
    let mut rng = common::Rng::new(7);
    let value = [b'v'; 100];
    while log.size_bytes() < LOG_BYTES {
        let keys: Vec<Vec<u8>> = (0..10)
            .map(|_| format!("key-{:012}", rng.below(keys)).into_bytes())
            .collect();
        let records: Vec<_> = keys
            .iter()
            .map(|k| (Some(&k[..]), Some(&value[..])))
            .collect();
        log.append(&build_batch(&records, NOW), NOW)
            .expect("append");
    }
    let size = log.size_bytes();
    (dir, mgr, size)
}

fn clean_pass(c: &mut Criterion) {
    let mut g = c.benchmark_group("cleaner/pass");
    g.sample_size(10);
    for &keys in &[1_000u64, 100_000, 10_000_000] {
        let (_dir, _mgr, size) = dirty_log(keys);
        g.throughput(Throughput::Bytes(size));
        g.bench_function(
            BenchmarkId::new("clean_dirtiest", format!("{keys} keys")),
            |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let (_dir, mgr, _) = dirty_log(keys);
                        let start = Instant::now();
                        let done = mgr
                            .clean_dirtiest(&CleanerConfig::default(), NOW, &mut |_| true)
                            .expect("clean");
                        total += start.elapsed();
                        assert!(done.is_some());
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
    targets = clean_pass
}
criterion_main!(benches);

//! Shared helpers for the criterion benches: v2 record batches built from scratch (the
//! library's own builder, `storage::testutil`, is test-only), a tiny deterministic PRNG,
//! and the short criterion configuration every bench uses.

#![allow(dead_code)]

use std::time::Duration;

use criterion::Criterion;

/// Short measurement so `cargo bench` finishes in a few minutes on 2 cores.
pub fn quick() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
}

fn put_varint(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// One uncompressed v2 batch of `count` records with `value_size`-byte values and no keys
/// (what `rdkafka_performance -P -s N` sends). Record i has timestamp `first_ts + i`.
/// Base offset 0, producer id -1 (not idempotent), CRC-32C computed over bytes[21..].
pub fn batch(count: usize, value_size: usize, first_ts: i64) -> Vec<u8> {
    let mut records = Vec::with_capacity(count * (value_size + 16));
    let value = vec![b'v'; value_size];
    let mut r = Vec::with_capacity(value_size + 16);
    for i in 0..count {
        r.clear();
        r.push(0u8); // attributes
        put_varint(&mut r, i as i64); // timestamp delta
        put_varint(&mut r, i as i64); // offset delta
        put_varint(&mut r, -1); // null key
        put_varint(&mut r, value_size as i64);
        r.extend_from_slice(&value);
        put_varint(&mut r, 0); // no headers
        put_varint(&mut records, r.len() as i64);
        records.extend_from_slice(&r);
    }
    let max_ts = first_ts + count as i64 - 1;
    let mut b = Vec::with_capacity(61 + records.len());
    b.extend_from_slice(&0i64.to_be_bytes()); // base offset
    b.extend_from_slice(&((49 + records.len()) as i32).to_be_bytes()); // batch length
    b.extend_from_slice(&0i32.to_be_bytes()); // partition leader epoch
    b.push(2); // magic
    b.extend_from_slice(&0u32.to_be_bytes()); // crc placeholder
    b.extend_from_slice(&0i16.to_be_bytes()); // attributes: no compression, CreateTime
    b.extend_from_slice(&(count as i32 - 1).to_be_bytes()); // last offset delta
    b.extend_from_slice(&first_ts.to_be_bytes());
    b.extend_from_slice(&max_ts.to_be_bytes());
    b.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
    b.extend_from_slice(&(-1i16).to_be_bytes()); // producer epoch
    b.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
    b.extend_from_slice(&(count as i32).to_be_bytes());
    b.extend_from_slice(&records);
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

/// A batch of `value_size`-byte records filling about `target_bytes`.
pub fn batch_of_size(target_bytes: usize, value_size: usize, first_ts: i64) -> Vec<u8> {
    let per_record = value_size + 8;
    let count = ((target_bytes.saturating_sub(61)) / per_record).max(1);
    batch(count, value_size, first_ts)
}

/// xorshift64*: deterministic random offsets without a `rand` dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

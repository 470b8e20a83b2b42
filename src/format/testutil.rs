//! Test-only helpers: builds valid v2 record batches (any codec, optional producer id)
//! so storage and protocol tests can exercise real bytes. Never compiled outside tests.

use std::io::Write;

/// Description of a batch to build.
#[derive(Clone, Debug)]
pub struct BatchSpec {
    pub base_offset: i64,
    pub count: usize,
    /// Timestamp of record i is `first_ts + i * ts_step`.
    pub first_ts: i64,
    pub ts_step: i64,
    /// Explicit per-record timestamps (overrides first_ts/ts_step when set).
    pub explicit_ts: Option<Vec<i64>>,
    pub value_size: usize,
    pub codec: u8,
    /// Use xerial framing for snappy (as the Java client does).
    pub xerial: bool,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
}

impl BatchSpec {
    pub fn new(count: usize) -> Self {
        BatchSpec {
            base_offset: 0,
            count,
            first_ts: 1_000,
            ts_step: 1,
            explicit_ts: None,
            value_size: 10,
            codec: 0,
            xerial: false,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
        }
    }
    pub fn base_offset(mut self, o: i64) -> Self {
        self.base_offset = o;
        self
    }
    pub fn timestamps(mut self, first: i64) -> Self {
        self.first_ts = first;
        self
    }
    pub fn explicit(mut self, ts: Vec<i64>) -> Self {
        self.count = ts.len();
        self.explicit_ts = Some(ts);
        self
    }
    pub fn value_size(mut self, n: usize) -> Self {
        self.value_size = n;
        self
    }
    pub fn codec(mut self, c: u8) -> Self {
        self.codec = c;
        self
    }
    pub fn xerial(mut self) -> Self {
        self.xerial = true;
        self
    }
    pub fn producer(mut self, pid: i64, epoch: i16, seq: i32) -> Self {
        self.producer_id = pid;
        self.producer_epoch = epoch;
        self.base_sequence = seq;
        self
    }
    fn ts(&self, i: usize) -> i64 {
        match &self.explicit_ts {
            Some(v) => v[i],
            None => self.first_ts + i as i64 * self.ts_step,
        }
    }
}

pub(crate) fn put_varint(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn encode_records(spec: &BatchSpec, base_ts: i64) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..spec.count {
        let mut r = Vec::new();
        r.push(0u8); // attributes
        put_varint(&mut r, spec.ts(i) - base_ts);
        put_varint(&mut r, i as i64);
        let key = format!("k{i}");
        put_varint(&mut r, key.len() as i64);
        r.extend_from_slice(key.as_bytes());
        put_varint(&mut r, spec.value_size as i64);
        r.extend(std::iter::repeat_n(b'v', spec.value_size));
        put_varint(&mut r, 0); // headers
        put_varint(&mut out, r.len() as i64);
        out.extend_from_slice(&r);
    }
    out
}

fn compress(spec: &BatchSpec, raw: &[u8]) -> Vec<u8> {
    match spec.codec {
        0 => raw.to_vec(),
        1 => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(raw).unwrap();
            e.finish().unwrap()
        }
        2 => {
            let block = snap::raw::Encoder::new().compress_vec(raw).unwrap();
            if !spec.xerial {
                return block;
            }
            let mut out = vec![0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
            out.extend_from_slice(&1i32.to_be_bytes());
            out.extend_from_slice(&1i32.to_be_bytes());
            out.extend_from_slice(&(block.len() as i32).to_be_bytes());
            out.extend_from_slice(&block);
            out
        }
        3 => {
            let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
            e.write_all(raw).unwrap();
            e.finish().unwrap()
        }
        4 => zstd::encode_all(raw, 3).unwrap(),
        c => panic!("codec {c}"),
    }
}

/// Builds one valid v2 batch (CRC computed) per `spec`.
pub fn build_batch(spec: &BatchSpec) -> Vec<u8> {
    let base_ts = if spec.count > 0 { spec.ts(0) } else { -1 };
    let max_ts = (0..spec.count).map(|i| spec.ts(i)).max().unwrap_or(-1);
    let records = compress(spec, &encode_records(spec, base_ts));
    let mut b = Vec::with_capacity(61 + records.len());
    b.extend_from_slice(&spec.base_offset.to_be_bytes());
    b.extend_from_slice(&((49 + records.len()) as i32).to_be_bytes());
    b.extend_from_slice(&0i32.to_be_bytes()); // partition leader epoch
    b.push(2);
    b.extend_from_slice(&0u32.to_be_bytes()); // crc placeholder
    b.extend_from_slice(&(spec.codec as i16).to_be_bytes());
    b.extend_from_slice(&(spec.count as i32 - 1).to_be_bytes());
    b.extend_from_slice(&base_ts.to_be_bytes());
    b.extend_from_slice(&max_ts.to_be_bytes());
    b.extend_from_slice(&spec.producer_id.to_be_bytes());
    b.extend_from_slice(&spec.producer_epoch.to_be_bytes());
    b.extend_from_slice(&spec.base_sequence.to_be_bytes());
    b.extend_from_slice(&(spec.count as i32).to_be_bytes());
    b.extend_from_slice(&records);
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

/// Convenience: a batch of `count` records with timestamps starting at `ts`.
pub fn simple(count: usize, ts: i64) -> Vec<u8> {
    build_batch(&BatchSpec::new(count).timestamps(ts))
}

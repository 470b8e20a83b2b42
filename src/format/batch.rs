//! Record batch (magic v2) header parsing and validation as pure byte functions.
//!
//! Owns: the byte layout of the 61-byte v2 batch header, CRC-32C checks, and the header
//! rewrites the broker performs on produce (base offset, leader epoch, LogAppendTime).
//! Must never: decode or re-encode records, allocate per record, or panic on any input.
//! Used by storage (append/recovery) and by protocol-level produce validation.

use thiserror::Error;

/// Size of the v2 batch header, including base offset and batch length.
pub const HEADER_LEN: usize = 61;
/// Bytes before the `batch_length`-covered region: base offset (8) + batch length (4).
pub const LOG_OVERHEAD: usize = 12;
/// Smallest legal `batch_length` (header without the log overhead).
pub const MIN_BATCH_LENGTH: i32 = (HEADER_LEN - LOG_OVERHEAD) as i32;

const PARTITION_LEADER_EPOCH_POS: usize = 12;
const MAGIC_POS: usize = 16;
const CRC_POS: usize = 17;
const ATTRIBUTES_POS: usize = 21;
const MAX_TIMESTAMP_POS: usize = 35;

/// Attribute bit: timestamps are LogAppendTime.
pub const ATTR_LOG_APPEND_TIME: i16 = 0x08;
/// Attribute bit: batch is part of a transaction.
pub const ATTR_TRANSACTIONAL: i16 = 0x10;
/// Attribute bit: control batch (transaction markers).
pub const ATTR_CONTROL: i16 = 0x20;
/// Attribute bit (KIP-534): the base timestamp is the batch's delete horizon, the time
/// after which the cleaner removes its tombstones.
pub const ATTR_DELETE_HORIZON: i16 = 0x40;

/// Errors found while checking raw batch bytes.
#[derive(Error, Debug, Clone, PartialEq, Eq)]
pub enum BatchError {
    #[error("batch truncated: need {needed} bytes, have {available}")]
    Truncated { needed: usize, available: usize },
    #[error("invalid batch length {0}")]
    InvalidLength(i32),
    #[error("unsupported record batch magic {0}")]
    UnsupportedMagic(i8),
    #[error("CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch { stored: u32, computed: u32 },
    #[error("invalid record count {count} with last offset delta {last_offset_delta}")]
    InvalidRecordCount { count: i32, last_offset_delta: i32 },
    #[error("unsupported compression codec {0}")]
    UnsupportedCompression(u8),
    #[error("decompression failed: {0}")]
    Decompression(String),
    #[error("malformed record: {0}")]
    MalformedRecord(&'static str),
}

/// Compression codec stored in attribute bits 0..3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    /// The codec of attribute bits 0..3; an unknown id is `UnsupportedCompression`.
    pub fn from_id(id: u8) -> Result<Compression, BatchError> {
        match id {
            0 => Ok(Compression::None),
            1 => Ok(Compression::Gzip),
            2 => Ok(Compression::Snappy),
            3 => Ok(Compression::Lz4),
            4 => Ok(Compression::Zstd),
            c => Err(BatchError::UnsupportedCompression(c)),
        }
    }

    /// The codec's id in attribute bits 0..3.
    pub fn id(self) -> u8 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }
}

/// The parsed 61-byte v2 batch header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    i32::from_be_bytes(a)
}
fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

impl BatchHeader {
    /// Parses the header at the start of `b`. Checks only that 61 bytes are present and
    /// that the magic is 2 (the magic byte sits at the same position in all versions).
    pub fn parse(b: &[u8]) -> Result<BatchHeader, BatchError> {
        if b.len() > MAGIC_POS {
            let magic = b[MAGIC_POS] as i8;
            if magic != 2 {
                return Err(BatchError::UnsupportedMagic(magic));
            }
        }
        if b.len() < HEADER_LEN {
            return Err(BatchError::Truncated {
                needed: HEADER_LEN,
                available: b.len(),
            });
        }
        Ok(BatchHeader {
            base_offset: be_i64(b, 0),
            batch_length: be_i32(b, 8),
            partition_leader_epoch: be_i32(b, 12),
            magic: b[MAGIC_POS] as i8,
            crc: be_i32(b, CRC_POS) as u32,
            attributes: be_i16(b, ATTRIBUTES_POS),
            last_offset_delta: be_i32(b, 23),
            base_timestamp: be_i64(b, 27),
            max_timestamp: be_i64(b, MAX_TIMESTAMP_POS),
            producer_id: be_i64(b, 43),
            producer_epoch: be_i16(b, 51),
            base_sequence: be_i32(b, 53),
            records_count: be_i32(b, 57),
        })
    }

    /// Total size of the batch on disk / on the wire (log overhead included).
    pub fn total_size(&self) -> usize {
        LOG_OVERHEAD + self.batch_length.max(0) as usize
    }

    /// Offset of the last record (base offset + last offset delta).
    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .saturating_add(i64::from(self.last_offset_delta))
    }

    /// The offset following this batch.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().saturating_add(1)
    }

    /// Raw codec id (attributes & 0x7).
    pub fn compression_id(&self) -> u8 {
        (self.attributes & 0x7) as u8
    }

    /// Compression codec; an unknown codec id is `BatchError::UnsupportedCompression`.
    pub fn compression(&self) -> Result<Compression, BatchError> {
        Compression::from_id(self.compression_id())
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & ATTR_TRANSACTIONAL != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & ATTR_CONTROL != 0
    }

    /// The delete horizon the cleaner set on this batch (KIP-534), if any.
    pub fn delete_horizon_ms(&self) -> Option<i64> {
        (self.attributes & ATTR_DELETE_HORIZON != 0).then_some(self.base_timestamp)
    }

    /// True when the batch timestamps are LogAppendTime.
    pub fn is_log_append_time(&self) -> bool {
        self.attributes & ATTR_LOG_APPEND_TIME != 0
    }

    /// Sequence number of the last record, with Kafka's int32 wrap-around; -1 if none.
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence < 0 {
            return -1;
        }
        increment_sequence(self.base_sequence, self.last_offset_delta)
    }
}

/// Kafka's `DefaultRecordBatch.incrementSequence`: sequences wrap from i32::MAX to 0.
pub fn increment_sequence(seq: i32, increment: i32) -> i32 {
    if seq > i32::MAX - increment {
        increment - (i32::MAX - seq) - 1
    } else {
        seq + increment
    }
}

/// CRC-32C over the CRC-covered part of a batch (everything from the attributes on).
fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(&batch[ATTRIBUTES_POS..])
}

/// Checks one batch at the start of `bytes`; returns the header and the batch size.
/// `strict` adds the produce-time record-count check (compacted batches on disk may
/// legitimately have fewer records than `last_offset_delta + 1`).
pub fn validate_one(bytes: &[u8], strict: bool) -> Result<BatchHeader, BatchError> {
    if bytes.len() < LOG_OVERHEAD {
        return Err(BatchError::Truncated {
            needed: LOG_OVERHEAD,
            available: bytes.len(),
        });
    }
    let batch_length = be_i32(bytes, 8);
    if batch_length < MIN_BATCH_LENGTH {
        // Old magic values have shorter headers; report the magic when we can see it.
        if bytes.len() > MAGIC_POS && bytes[MAGIC_POS] as i8 != 2 {
            return Err(BatchError::UnsupportedMagic(bytes[MAGIC_POS] as i8));
        }
        return Err(BatchError::InvalidLength(batch_length));
    }
    let size = LOG_OVERHEAD + batch_length as usize;
    let header = BatchHeader::parse(bytes)?;
    if bytes.len() < size {
        return Err(BatchError::Truncated {
            needed: size,
            available: bytes.len(),
        });
    }
    let computed = compute_crc(&bytes[..size]);
    if computed != header.crc {
        return Err(BatchError::CrcMismatch {
            stored: header.crc,
            computed,
        });
    }
    header.compression()?;
    let count_ok = if strict {
        header.records_count > 0 && header.last_offset_delta == header.records_count - 1
    } else {
        header.records_count >= 0 && header.last_offset_delta >= -1
    };
    if header.records_count < 0 || !count_ok {
        return Err(BatchError::InvalidRecordCount {
            count: header.records_count,
            last_offset_delta: header.last_offset_delta,
        });
    }
    Ok(header)
}

/// Walks concatenated v2 batches and fully checks each (lengths, magic, CRC-32C, record
/// count vs last offset delta, codec). A truncated trailing batch is an error.
pub fn validate(bytes: &[u8]) -> Result<Vec<BatchHeader>, BatchError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let h = validate_one(&bytes[pos..], true)?;
        pos += h.total_size();
        out.push(h);
    }
    Ok(out)
}

/// Walks concatenated batches checking only header parsing and lengths (no CRC).
/// Used on the append path, where the caller has already run [`validate`].
pub fn walk_headers(bytes: &[u8]) -> Result<Vec<(usize, BatchHeader)>, BatchError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let h = BatchHeader::parse(&bytes[pos..])?;
        if h.batch_length < MIN_BATCH_LENGTH {
            return Err(BatchError::InvalidLength(h.batch_length));
        }
        let size = h.total_size();
        if bytes.len() - pos < size {
            return Err(BatchError::Truncated {
                needed: size,
                available: bytes.len() - pos,
            });
        }
        out.push((pos, h));
        pos += size;
    }
    Ok(out)
}

/// Overwrites the base offset (bytes 0..8, outside the CRC). No-op if `batch` is short.
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    if let Some(dst) = batch.get_mut(0..8) {
        dst.copy_from_slice(&base_offset.to_be_bytes());
    }
}

/// Overwrites the partition leader epoch (bytes 12..16, outside the CRC, as the Kafka
/// leader stamps every appended batch). No-op if `batch` is short.
pub fn set_partition_leader_epoch(batch: &mut [u8], epoch: i32) {
    let at = PARTITION_LEADER_EPOCH_POS;
    if let Some(dst) = batch.get_mut(at..at + 4) {
        dst.copy_from_slice(&epoch.to_be_bytes());
    }
}

/// The header of `batch` (one whole batch) as the leader stores it: a copy of the first
/// [`HEADER_LEN`] bytes with the base offset and partition leader epoch overwritten (both
/// outside the CRC). With `log_append_time`, Kafka's LogAppendTime rewrite is applied as
/// well: the timestamp-type attribute bit is set, max_timestamp becomes that time, and the
/// CRC is recomputed over the patched header and the unchanged rest of `batch`. The
/// records after the header are never copied.
pub fn stamped_header(
    batch: &[u8],
    base_offset: i64,
    partition_leader_epoch: i32,
    log_append_time: Option<i64>,
) -> Result<[u8; HEADER_LEN], BatchError> {
    let Some(src) = batch.first_chunk::<HEADER_LEN>() else {
        return Err(BatchError::Truncated {
            needed: HEADER_LEN,
            available: batch.len(),
        });
    };
    let mut h = *src;
    set_base_offset(&mut h, base_offset);
    set_partition_leader_epoch(&mut h, partition_leader_epoch);
    if let Some(now_ms) = log_append_time {
        let attrs = be_i16(&h, ATTRIBUTES_POS) | ATTR_LOG_APPEND_TIME;
        h[ATTRIBUTES_POS..ATTRIBUTES_POS + 2].copy_from_slice(&attrs.to_be_bytes());
        h[MAX_TIMESTAMP_POS..MAX_TIMESTAMP_POS + 8].copy_from_slice(&now_ms.to_be_bytes());
        let crc = crc32c::crc32c_append(compute_crc(&h), &batch[HEADER_LEN..]);
        h[CRC_POS..CRC_POS + 4].copy_from_slice(&crc.to_be_bytes());
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::testutil::{BatchSpec, build_batch};

    #[test]
    fn parse_and_validate_roundtrip() {
        let b = build_batch(&BatchSpec::new(5).base_offset(100).timestamps(1000));
        let hs = validate(&b).unwrap();
        assert_eq!(hs.len(), 1);
        let h = hs[0];
        assert_eq!(h.base_offset, 100);
        assert_eq!(h.records_count, 5);
        assert_eq!(h.last_offset(), 104);
        assert_eq!(h.total_size(), b.len());
        assert_eq!(h.max_timestamp, 1004);
        assert_eq!(h.compression().unwrap(), Compression::None);
    }

    #[test]
    fn validate_errors() {
        let b = build_batch(&BatchSpec::new(3));
        let mut two = b.clone();
        two.extend_from_slice(&b);
        assert_eq!(validate(&two).unwrap().len(), 2);
        // truncated trailing batch
        assert!(matches!(
            validate(&two[..two.len() - 1]),
            Err(BatchError::Truncated { .. })
        ));
        // crc
        let mut bad = b.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        assert!(matches!(
            validate(&bad),
            Err(BatchError::CrcMismatch { .. })
        ));
        // magic
        let mut m = b.clone();
        m[16] = 1;
        assert_eq!(validate(&m), Err(BatchError::UnsupportedMagic(1)));
        // length too small
        let mut l = b.clone();
        l[8..12].copy_from_slice(&10i32.to_be_bytes());
        assert_eq!(validate(&l), Err(BatchError::InvalidLength(10)));
        // codec 7 (CRC recomputed so only the codec is wrong)
        let mut c = b.clone();
        c[22] |= 7;
        let crc = compute_crc(&c);
        c[17..21].copy_from_slice(&crc.to_be_bytes());
        assert_eq!(validate(&c), Err(BatchError::UnsupportedCompression(7)));
        // garbage never panics
        for n in 0..70 {
            let _ = validate(&vec![0xffu8; n]);
            let _ = validate(&vec![0u8; n]);
        }
    }

    /// The stamped header followed by the batch's own records.
    fn restamped(b: &[u8], base: i64, epoch: i32, lat: Option<i64>) -> Vec<u8> {
        let mut out = stamped_header(b, base, epoch, lat).unwrap().to_vec();
        out.extend_from_slice(&b[HEADER_LEN..]);
        out
    }

    #[test]
    fn stamped_header_patches_only_offset_and_epoch() {
        let b = build_batch(&BatchSpec::new(2).timestamps(5).producer(7, 1, 3));
        let s = restamped(&b, 42, 9, None);
        assert_eq!(&s[0..8], &42i64.to_be_bytes());
        assert_eq!(&s[12..16], &9i32.to_be_bytes());
        // everything else, CRC included, is the producer's
        assert_eq!(&s[8..12], &b[8..12]);
        assert_eq!(&s[16..], &b[16..]);
        let h = validate(&s).unwrap()[0];
        assert_eq!((h.base_offset, h.partition_leader_epoch), (42, 9));
        assert!(!h.is_log_append_time());
    }

    #[test]
    fn log_append_time_rewrite_keeps_crc_valid() {
        let b = build_batch(&BatchSpec::new(2).timestamps(5));
        let s = restamped(&b, 42, 3, Some(777));
        let h = validate(&s).unwrap()[0];
        assert!(h.is_log_append_time());
        assert_eq!(h.max_timestamp, 777);
        assert_eq!(h.base_timestamp, 5);
        assert_eq!((h.base_offset, h.partition_leader_epoch), (42, 3));
        // the records are untouched; the CRC is the one of the rewritten batch
        assert_eq!(&s[HEADER_LEN..], &b[HEADER_LEN..]);
        let mut whole = b.clone();
        whole[21..23].copy_from_slice(&h.attributes.to_be_bytes());
        whole[35..43].copy_from_slice(&777i64.to_be_bytes());
        assert_eq!(h.crc, crc32c::crc32c(&whole[21..]));
        assert!(matches!(
            stamped_header(&b[..HEADER_LEN - 1], 0, 0, None),
            Err(BatchError::Truncated { .. })
        ));
    }

    #[test]
    fn sequence_wraps() {
        assert_eq!(increment_sequence(i32::MAX, 1), 0);
        assert_eq!(increment_sequence(i32::MAX - 1, 3), 1);
        assert_eq!(increment_sequence(5, 2), 7);
    }
}

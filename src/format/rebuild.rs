//! Writes record batches again from records read out of them: the log cleaner's
//! retained records (Kafka's `MemoryRecords.filterTo` / `buildRetainedRecordsInto`), and
//! produced batches recompressed to a topic's `compression.type`.
//!
//! Owns: encoding records (their key, value and headers bytes kept as they were) into a
//! v2 batch under a given header, compression with each codec, the CRC.
//! Must never: change a kept record's offset, timestamp, key, value or headers, or panic
//! on any input.

use std::io::Write;

use super::batch::{BatchError, BatchHeader, Compression, HEADER_LEN, LOG_OVERHEAD};
use super::records::RawRecord;

/// Java's `SnappyOutputStream` block size (what the reference broker writes).
const SNAPPY_BLOCK: usize = 32 * 1024;
const XERIAL_HEADER: [u8; 16] = [
    0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1,
];

fn put_varint(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8 & 0x7f) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn varint_len(v: i64) -> usize {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    let mut n = 1;
    while z >= 0x80 {
        z >>= 7;
        n += 1;
    }
    n
}

fn failed(e: impl std::fmt::Display) -> BatchError {
    BatchError::Decompression(format!("compression failed: {e}"))
}

/// Compresses record bytes with `codec` (`level`: the codec's level, `None` its default),
/// in the framing Kafka's own broker writes (gzip stream, xerial-framed snappy, lz4
/// frame, zstd frame).
pub fn compress(codec: Compression, level: Option<i32>, raw: &[u8]) -> Result<Vec<u8>, BatchError> {
    match codec {
        Compression::None => Ok(raw.to_vec()),
        Compression::Gzip => {
            let level = level
                .filter(|l| (1..=9).contains(l))
                .map_or(flate2::Compression::default(), |l| {
                    flate2::Compression::new(l as u32)
                });
            let mut e = flate2::write::GzEncoder::new(Vec::new(), level);
            e.write_all(raw).map_err(failed)?;
            e.finish().map_err(failed)
        }
        Compression::Snappy => {
            let mut out = XERIAL_HEADER.to_vec();
            let mut enc = snap::raw::Encoder::new();
            for chunk in raw.chunks(SNAPPY_BLOCK) {
                let block = enc.compress_vec(chunk).map_err(failed)?;
                out.extend_from_slice(&(block.len() as u32).to_be_bytes());
                out.extend_from_slice(&block);
            }
            Ok(out)
        }
        Compression::Lz4 => {
            let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
            e.write_all(raw).map_err(failed)?;
            e.finish().map_err(failed)
        }
        Compression::Zstd => zstd::encode_all(raw, level.unwrap_or(3)).map_err(failed),
    }
}

/// Encodes `records` as one batch under `header`: its base offset, leader epoch,
/// attributes (the codec bits replaced by `codec`), last offset delta, base and max
/// timestamps, producer fields are written as given; the record count, length and CRC
/// are computed. Each record's offset and timestamp deltas are taken against the header's
/// base offset and base timestamp. With no records the batch is a bare header
/// (uncompressed), as Kafka writes a batch kept only for its producer state.
pub fn encode_batch(
    header: &BatchHeader,
    records: &[RawRecord],
    codec: Compression,
    level: Option<i32>,
) -> Result<Vec<u8>, BatchError> {
    let mut raw = Vec::new();
    for r in records {
        let ts_delta = r.timestamp.wrapping_sub(header.base_timestamp);
        let offset_delta = r.offset.wrapping_sub(header.base_offset);
        let len = 1 + varint_len(ts_delta) + varint_len(offset_delta) + r.body.len();
        put_varint(&mut raw, len as i64);
        raw.push(0); // record attributes (unused in v2)
        put_varint(&mut raw, ts_delta);
        put_varint(&mut raw, offset_delta);
        raw.extend_from_slice(&r.body);
    }
    let codec = if records.is_empty() {
        Compression::None
    } else {
        codec
    };
    let body = compress(codec, level, &raw)?;
    let batch_length = i32::try_from(HEADER_LEN - LOG_OVERHEAD + body.len())
        .map_err(|_| BatchError::InvalidLength(i32::MAX))?;
    let attributes = (header.attributes & !0x7) | i16::from(codec.id());
    let mut b = Vec::with_capacity(HEADER_LEN + body.len());
    b.extend_from_slice(&header.base_offset.to_be_bytes());
    b.extend_from_slice(&batch_length.to_be_bytes());
    b.extend_from_slice(&header.partition_leader_epoch.to_be_bytes());
    b.push(2);
    b.extend_from_slice(&[0; 4]); // CRC, below
    b.extend_from_slice(&attributes.to_be_bytes());
    b.extend_from_slice(&header.last_offset_delta.to_be_bytes());
    b.extend_from_slice(&header.base_timestamp.to_be_bytes());
    b.extend_from_slice(&header.max_timestamp.to_be_bytes());
    b.extend_from_slice(&header.producer_id.to_be_bytes());
    b.extend_from_slice(&header.producer_epoch.to_be_bytes());
    b.extend_from_slice(&header.base_sequence.to_be_bytes());
    b.extend_from_slice(&(records.len() as i32).to_be_bytes());
    b.extend_from_slice(&body);
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    Ok(b)
}

/// The batch (one whole v2 batch) with its records compressed with `codec` instead
/// (Kafka's `LogValidator` when a topic's `compression.type` differs from the producer's):
/// every header field and every record kept as it was.
pub fn recompress(
    batch: &[u8],
    codec: Compression,
    level: Option<i32>,
) -> Result<Vec<u8>, BatchError> {
    let header = BatchHeader::parse(batch)?;
    let mut it = super::records::RecordIter::new(batch)?;
    let records: Vec<RawRecord> = std::iter::from_fn(|| it.next_raw()).collect::<Result<_, _>>()?;
    if records.len() != header.records_count.max(0) as usize {
        return Err(BatchError::MalformedRecord(
            "record count does not match the records",
        ));
    }
    encode_batch(&header, &records, codec, level)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::batch;
    use crate::format::records::RecordIter;
    use crate::format::testutil::{BatchSpec, build_batch};

    fn raw_records(b: &[u8]) -> Vec<RawRecord> {
        let mut it = RecordIter::new(b).unwrap();
        std::iter::from_fn(|| it.next_raw())
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn kept_records_read_back_the_same_in_every_codec() {
        for codec in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let original = build_batch(&BatchSpec::new(10).base_offset(100).timestamps(5_000));
            let h = BatchHeader::parse(&original).unwrap();
            let all = raw_records(&original);
            let kept: Vec<RawRecord> = all.iter().filter(|r| r.offset % 3 == 0).cloned().collect();
            let mut header = h;
            header.base_timestamp = 4_000; // a delete horizon, say: deltas go negative
            let out = encode_batch(&header, &kept, codec, None).unwrap();
            let back = batch::validate_one(&out, false).unwrap();
            assert_eq!(back.records_count, kept.len() as i32);
            assert_eq!(back.last_offset(), h.last_offset(), "{codec:?}");
            assert_eq!(back.compression().unwrap(), codec);
            assert_eq!(raw_records(&out), kept, "{codec:?}");
        }
    }

    #[test]
    fn recompressing_changes_only_the_codec() {
        let original = build_batch(
            &BatchSpec::new(20)
                .codec(2)
                .timestamps(7_000)
                .producer(3, 1, 40),
        );
        let h = BatchHeader::parse(&original).unwrap();
        for codec in [
            Compression::None,
            Compression::Gzip,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let out = recompress(&original, codec, Some(5)).unwrap();
            let back = batch::validate_one(&out, true).unwrap();
            assert_eq!(back.compression().unwrap(), codec);
            let same = |x: &BatchHeader| {
                (
                    x.base_offset,
                    x.last_offset_delta,
                    x.base_timestamp,
                    x.max_timestamp,
                    x.producer_id,
                    x.producer_epoch,
                    x.base_sequence,
                    x.records_count,
                )
            };
            assert_eq!(same(&back), same(&h), "{codec:?}");
            assert_eq!(raw_records(&out), raw_records(&original), "{codec:?}");
        }
    }

    #[test]
    fn no_records_is_a_bare_header() {
        let original = build_batch(&BatchSpec::new(3).producer(7, 1, 20).codec(4));
        let h = BatchHeader::parse(&original).unwrap();
        let out = encode_batch(&h, &[], Compression::Zstd, None).unwrap();
        assert_eq!(out.len(), HEADER_LEN);
        let back = batch::validate_one(&out, false).unwrap();
        assert_eq!(back.records_count, 0);
        assert_eq!(back.compression().unwrap(), Compression::None);
        assert_eq!(back.last_sequence(), h.last_sequence());
        assert_eq!(back.producer_id, 7);
    }
}

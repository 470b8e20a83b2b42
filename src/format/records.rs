//! Record-level iteration inside one v2 batch: yields `(offset, timestamp)` per record,
//! decompressing gzip / snappy (raw or xerial-framed) / lz4 (frame) / zstd as needed.
//!
//! Owns: varint decoding and decompression for timestamp lookups (ListOffsets), readers
//! of internal topics and the log cleaner.
//! Must never: be used on the produce or fetch hot path, buffer a whole decompressed
//! batch when a streaming decoder exists, inflate a batch past `MAX_DECOMPRESSED`, or
//! panic on malformed input.

use std::io::{self, Read};

use super::batch::{BatchError, BatchHeader, Compression, HEADER_LEN};

/// Upper bound for the decompressed records of one batch, whatever the codec. A batch is
/// at most `max.message.bytes` (1 MiB by default) compressed; producers write far less than
/// this uncompressed, while a compression bomb (zstd, gzip) would inflate without end.
const MAX_DECOMPRESSED: usize = 256 * 1024 * 1024;
const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];

/// Iterator over `(offset, timestamp)` of each record of a batch.
pub struct RecordIter<'a> {
    header: BatchHeader,
    reader: Box<dyn Read + 'a>,
    remaining: i32,
    failed: bool,
}

fn decomp_err(e: impl std::fmt::Display) -> BatchError {
    BatchError::Decompression(e.to_string())
}

/// A decompressing reader that fails, rather than keeps inflating, once it has produced
/// `limit` bytes and the stream still has more.
struct Bounded<R: Read> {
    inner: io::Take<R>,
    limit: usize,
}

impl<R: Read> Bounded<R> {
    fn new(inner: R, limit: usize) -> Self {
        Bounded {
            inner: inner.take(limit as u64),
            limit,
        }
    }
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() && self.inner.limit() == 0 {
            let mut probe = [0u8; 1];
            if self.inner.get_mut().read(&mut probe)? != 0 {
                return Err(io::Error::other(format!(
                    "decompressed records exceed {} bytes",
                    self.limit
                )));
            }
        }
        Ok(n)
    }
}

fn snappy_decode(data: &[u8], limit: usize) -> Result<Vec<u8>, BatchError> {
    let raw = |block: &[u8], out: &mut Vec<u8>| -> Result<(), BatchError> {
        let len = snap::raw::decompress_len(block).map_err(decomp_err)?;
        if out.len() + len > limit {
            return Err(BatchError::Decompression(format!(
                "decompressed records exceed {limit} bytes"
            )));
        }
        let start = out.len();
        out.resize(start + len, 0);
        snap::raw::Decoder::new()
            .decompress(block, &mut out[start..])
            .map_err(decomp_err)?;
        Ok(())
    };
    let mut out = Vec::new();
    if data.len() >= 16 && data[..8] == XERIAL_MAGIC {
        let mut pos = 16;
        while pos < data.len() {
            let len_bytes = data
                .get(pos..pos + 4)
                .ok_or(BatchError::MalformedRecord("xerial block length"))?;
            let len = u32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]])
                as usize;
            pos += 4;
            let block = data
                .get(pos..pos + len)
                .ok_or(BatchError::MalformedRecord("xerial block"))?;
            raw(block, &mut out)?;
            pos += len;
        }
    } else {
        raw(data, &mut out)?;
    }
    Ok(out)
}

impl<'a> RecordIter<'a> {
    /// `batch` must hold the complete batch (header included).
    pub fn new(batch: &'a [u8]) -> Result<RecordIter<'a>, BatchError> {
        Self::with_limit(batch, MAX_DECOMPRESSED)
    }

    /// `new` with at most `limit` decompressed bytes.
    fn with_limit(batch: &'a [u8], limit: usize) -> Result<RecordIter<'a>, BatchError> {
        let header = BatchHeader::parse(batch)?;
        let end = header.total_size();
        let body = batch.get(HEADER_LEN..end).ok_or(BatchError::Truncated {
            needed: end,
            available: batch.len(),
        })?;
        let reader: Box<dyn Read + 'a> = match header.compression()? {
            Compression::None => Box::new(body),
            Compression::Gzip => {
                Box::new(Bounded::new(flate2::read::MultiGzDecoder::new(body), limit))
            }
            // Bounded before decoding: each block's declared length is checked.
            Compression::Snappy => Box::new(io::Cursor::new(snappy_decode(body, limit)?)),
            Compression::Lz4 => Box::new(Bounded::new(
                lz4_flex::frame::FrameDecoder::new(body),
                limit,
            )),
            Compression::Zstd => Box::new(Bounded::new(
                zstd::stream::read::Decoder::new(body).map_err(decomp_err)?,
                limit,
            )),
        };
        Ok(RecordIter {
            header,
            reader,
            remaining: header.records_count.max(0),
            failed: false,
        })
    }

    fn read_byte(&mut self) -> Result<u8, BatchError> {
        let mut b = [0u8; 1];
        self.reader.read_exact(&mut b).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => {
                BatchError::MalformedRecord("unexpected end of records")
            }
            _ => decomp_err(e),
        })?;
        Ok(b[0])
    }

    /// Zigzag varlong; returns the value and the number of bytes consumed.
    fn read_varlong(&mut self) -> Result<(i64, usize), BatchError> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = self.read_byte()?;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok((((v >> 1) as i64) ^ -((v & 1) as i64), i + 1));
            }
        }
        Err(BatchError::MalformedRecord("varint too long"))
    }

    /// Reads one record's prefix; returns (offset, timestamp, bytes left in the record).
    fn record_prefix(&mut self) -> Result<(i64, i64, u64), BatchError> {
        let (offset, ts, _, rest) = self.record_prefix_raw()?;
        Ok((offset, ts, rest))
    }

    /// `record_prefix` plus the record's own timestamp (base timestamp + delta), which a
    /// LogAppendTime batch keeps underneath the batch's time.
    fn record_prefix_raw(&mut self) -> Result<(i64, i64, i64, u64), BatchError> {
        let (len, _) = self.read_varlong()?;
        if len < 0 {
            return Err(BatchError::MalformedRecord("negative record length"));
        }
        self.read_byte()?; // attributes
        let (ts_delta, n1) = self.read_varlong()?;
        let (offset_delta, n2) = self.read_varlong()?;
        let consumed = (1 + n1 + n2) as i64;
        let rest = len.checked_sub(consumed).filter(|r| *r >= 0);
        let rest = rest.ok_or(BatchError::MalformedRecord("record length too small"))?;
        let h = &self.header;
        let own = h.base_timestamp.wrapping_add(ts_delta);
        let ts = if h.is_log_append_time() {
            h.max_timestamp
        } else {
            own
        };
        Ok((
            h.base_offset.wrapping_add(offset_delta),
            ts,
            own,
            rest as u64,
        ))
    }

    /// The next record whole, for the log cleaner (which keeps or drops records and
    /// writes the kept ones again). `None` at the end of the batch.
    pub fn next_raw(&mut self) -> Option<Result<RawRecord, BatchError>> {
        if self.remaining <= 0 || self.failed {
            return None;
        }
        self.remaining -= 1;
        let r = self.raw_record();
        self.failed = r.is_err();
        Some(r)
    }

    fn raw_record(&mut self) -> Result<RawRecord, BatchError> {
        let (offset, _, own_timestamp, rest) = self.record_prefix_raw()?;
        let body = self.record_body(rest)?;
        let mut cur = &body[..];
        let key = take_varbytes(&mut cur)?;
        let tombstone = take_varbytes(&mut cur)?.is_none();
        Ok(RawRecord {
            offset,
            timestamp: own_timestamp,
            key,
            tombstone,
            body: bytes::Bytes::from(body),
        })
    }

    /// The `rest` bytes of a record after its offset delta.
    fn record_body(&mut self, rest: u64) -> Result<Vec<u8>, BatchError> {
        if rest > MAX_DECOMPRESSED as u64 {
            return Err(BatchError::MalformedRecord("record too large"));
        }
        // Grows with the bytes actually read: `rest` is only what the record claims.
        let mut body = Vec::new();
        (&mut self.reader)
            .take(rest)
            .read_to_end(&mut body)
            .map_err(decomp_err)?;
        if body.len() as u64 != rest {
            return Err(BatchError::MalformedRecord("unexpected end of records"));
        }
        Ok(body)
    }

    /// The next record with its key and value (headers are skipped), for readers of
    /// internal topics. `None` at the end of the batch.
    pub fn next_keyed(&mut self) -> Option<Result<KeyedRecord, BatchError>> {
        if self.remaining <= 0 || self.failed {
            return None;
        }
        self.remaining -= 1;
        let r = self.keyed_record();
        self.failed = r.is_err();
        Some(r)
    }

    fn keyed_record(&mut self) -> Result<KeyedRecord, BatchError> {
        let (offset, timestamp, rest) = self.record_prefix()?;
        let body = self.record_body(rest)?;
        let mut cur = &body[..];
        let key = take_varbytes(&mut cur)?;
        let value = take_varbytes(&mut cur)?;
        Ok(KeyedRecord {
            offset,
            timestamp,
            key,
            value,
        })
    }

    fn next_record(&mut self) -> Result<(i64, i64), BatchError> {
        let (offset, ts, rest) = self.record_prefix()?;
        let skipped =
            io::copy(&mut (&mut self.reader).take(rest), &mut io::sink()).map_err(decomp_err)?;
        if skipped != rest {
            return Err(BatchError::MalformedRecord("unexpected end of records"));
        }
        Ok((offset, ts))
    }
}

/// A record's offset, timestamp, key and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedRecord {
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<bytes::Bytes>,
    pub value: Option<bytes::Bytes>,
}

/// One record as stored: its offset, its own timestamp (LogAppendTime batches included),
/// its key, whether its value is null, and its bytes after the offset delta (key, value
/// and headers, as written), which [`crate::format::rebuild`] writes back unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<bytes::Bytes>,
    pub tombstone: bool,
    pub body: bytes::Bytes,
}

/// Reads a zigzag varint length followed by that many bytes (-1: null).
fn take_varbytes(cur: &mut &[u8]) -> Result<Option<bytes::Bytes>, BatchError> {
    let mut v: u64 = 0;
    let mut i = 0;
    loop {
        let (&b, rest) = cur
            .split_first()
            .ok_or(BatchError::MalformedRecord("unexpected end of record"))?;
        *cur = rest;
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            break;
        }
        i += 1;
        if i >= 10 {
            return Err(BatchError::MalformedRecord("varint too long"));
        }
    }
    let len = ((v >> 1) as i64) ^ -((v & 1) as i64);
    if len < 0 {
        return Ok(None);
    }
    let len = len as usize;
    if cur.len() < len {
        return Err(BatchError::MalformedRecord("field longer than record"));
    }
    let (field, rest) = cur.split_at(len);
    *cur = rest;
    Ok(Some(bytes::Bytes::copy_from_slice(field)))
}

impl Iterator for RecordIter<'_> {
    type Item = Result<(i64, i64), BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining <= 0 || self.failed {
            return None;
        }
        self.remaining -= 1;
        let r = self.next_record();
        self.failed = r.is_err();
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::testutil::{BatchSpec, build_batch, put_varint};

    #[test]
    fn all_codecs_yield_records() {
        for (codec, xerial) in [
            (0, false),
            (1, false),
            (2, false),
            (2, true),
            (3, false),
            (4, false),
        ] {
            let mut spec = BatchSpec::new(20)
                .base_offset(50)
                .timestamps(10_000)
                .codec(codec);
            if xerial {
                spec = spec.xerial();
            }
            let b = build_batch(&spec);
            let recs: Vec<_> = RecordIter::new(&b)
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert_eq!(recs.len(), 20, "codec {codec}");
            assert_eq!(recs[0], (50, 10_000));
            assert_eq!(recs[19], (69, 10_019));
        }
    }

    #[test]
    fn decompression_stops_at_the_limit() {
        // One record whose value inflates to 2 MiB, against a 1 MiB limit: an error, not
        // an allocation or a scan of everything the stream would produce.
        for (codec, xerial) in [(1, false), (2, false), (2, true), (3, false), (4, false)] {
            let mut spec = BatchSpec::new(1).value_size(2 << 20).codec(codec);
            if xerial {
                spec = spec.xerial();
            }
            let b = build_batch(&spec);
            assert!(
                b.len() < 1 << 20,
                "codec {codec}: test batch must be compressed"
            );
            let limited = RecordIter::with_limit(&b, 1 << 20)
                .and_then(|mut it| it.next().expect("one record"));
            let err = limited.expect_err(&format!("codec {codec}"));
            assert!(err.to_string().contains("exceed"), "codec {codec}: {err}");
            let keyed = RecordIter::with_limit(&b, 1 << 20)
                .and_then(|mut it| it.next_keyed().expect("one record"));
            assert!(keyed.is_err(), "codec {codec}");
            // The same batch within the limit reads.
            let ok = RecordIter::with_limit(&b, 4 << 20).unwrap().next().unwrap();
            assert!(ok.is_ok(), "codec {codec}: {ok:?}");
        }
    }

    #[test]
    fn huge_record_length_does_not_allocate() {
        // An uncompressed record claiming (nearly) MAX_DECOMPRESSED bytes in a tiny batch.
        let mut b = build_batch(&BatchSpec::new(1));
        b.truncate(HEADER_LEN);
        put_varint(&mut b, (MAX_DECOMPRESSED - 16) as i64);
        b.extend_from_slice(&[0, 0, 0]); // attributes, timestamp delta, offset delta
        let len = (b.len() - 12) as i32;
        b[8..12].copy_from_slice(&len.to_be_bytes());
        let r = RecordIter::new(&b).unwrap().next_keyed().unwrap();
        assert!(matches!(r, Err(BatchError::MalformedRecord(_))), "{r:?}");
    }

    #[test]
    fn garbage_does_not_panic() {
        let b = build_batch(&BatchSpec::new(5).codec(1));
        for cut in 61..b.len() {
            let mut x = b[..cut].to_vec();
            x[8..12].copy_from_slice(&((cut - 12) as i32).to_be_bytes());
            if let Ok(it) = RecordIter::new(&x) {
                for _ in it {}
            }
        }
        let mut y = build_batch(&BatchSpec::new(5));
        for byte in y.iter_mut().skip(61) {
            *byte = 0xff;
        }
        let r: Vec<_> = RecordIter::new(&y).unwrap().collect();
        assert!(r.iter().any(|x| x.is_err()));
    }
}

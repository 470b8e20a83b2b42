//! Builds uncompressed v2 record batches for records the broker writes itself
//! (internal topics such as `__consumer_offsets`). Clients' batches are never rebuilt.

use bytes::{BufMut, BytesMut};

use super::batch::HEADER_LEN;

fn put_varint(buf: &mut BytesMut, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        buf.put_u8((z as u8 & 0x7f) | 0x80);
        z >>= 7;
    }
    buf.put_u8(z as u8);
}

fn put_varbytes(buf: &mut BytesMut, b: Option<&[u8]>) {
    match b {
        Some(b) => {
            put_varint(buf, b.len() as i64);
            buf.put_slice(b);
        }
        None => put_varint(buf, -1),
    }
}

/// A record the broker writes: (key, value); a `None` value is a tombstone.
pub type KeyValue<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);

/// A batch of `(key, value)` records (a `None` value is a tombstone), all stamped with
/// `timestamp`, base offset 0 (the log assigns the real one), no producer id.
pub fn build_batch(records: &[KeyValue<'_>], timestamp: i64) -> BytesMut {
    let mut body = BytesMut::new();
    for (i, (key, value)) in records.iter().enumerate() {
        let mut rec = BytesMut::new();
        rec.put_u8(0); // attributes
        put_varint(&mut rec, 0); // timestamp delta
        put_varint(&mut rec, i as i64); // offset delta
        put_varbytes(&mut rec, *key);
        put_varbytes(&mut rec, *value);
        put_varint(&mut rec, 0); // headers
        put_varint(&mut body, rec.len() as i64);
        body.put_slice(&rec);
    }
    let mut b = BytesMut::with_capacity(HEADER_LEN + body.len());
    b.put_i64(0); // base offset
    b.put_i32((HEADER_LEN - 12 + body.len()) as i32); // batch length
    b.put_i32(-1); // partition leader epoch
    b.put_i8(2); // magic
    b.put_u32(0); // crc, filled below
    b.put_i16(0); // attributes
    b.put_i32(records.len() as i32 - 1); // last offset delta
    b.put_i64(timestamp); // base timestamp
    b.put_i64(timestamp); // max timestamp
    b.put_i64(-1); // producer id
    b.put_i16(-1); // producer epoch
    b.put_i32(-1); // base sequence
    b.put_i32(records.len() as i32);
    b.put_slice(&body);
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::batch;
    use crate::format::records::RecordIter;

    #[test]
    fn built_batches_validate_and_read_back() {
        let recs: Vec<KeyValue<'_>> = vec![
            (Some(b"k1"), Some(b"v1")),
            (Some(b"k2"), None),
            (None, Some(b"")),
        ];
        let b = build_batch(&recs, 1234);
        let headers = batch::validate(&b).unwrap();
        assert_eq!(headers[0].records_count, 3);
        let mut it = RecordIter::new(&b).unwrap();
        let mut out = Vec::new();
        while let Some(r) = it.next_keyed() {
            out.push(r.unwrap());
        }
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].key.as_deref(), Some(&b"k1"[..]));
        assert_eq!(out[1].value, None);
        assert_eq!(out[2].key, None);
        assert_eq!(out[2].value.as_deref(), Some(&b""[..]));
        assert_eq!(out[2].offset, 2);
        assert_eq!(out[0].timestamp, 1234);
    }
}

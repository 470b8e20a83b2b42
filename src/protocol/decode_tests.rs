//! Issue 14: lengths and counts read from the wire are checked against the bytes left
//! before anything is allocated for them (vendor/kafka-protocol/VLTAVA-PATCH.md). Each
//! case is a small frame declaring a huge collection; it must decode to an `Err`, not
//! abort the process on a failed allocation.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{MetadataRequest, ProduceRequest, SyncGroupRequest};
use kafka_protocol::records::RecordBatchDecoder;

use super::{FrameError, decode_body, parse_request};

const HUGE: u32 = 1_000_000_000;

fn put_uvarint(b: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        b.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    b.put_u8(v as u8);
}

fn put_varint(b: &mut BytesMut, v: i64) {
    put_uvarint(b, ((v << 1) ^ (v >> 63)) as u64);
}

/// A request frame (without its size prefix): header v1, or v2 when `flexible`, with
/// client id "t", followed by `body`.
fn frame(api_key: i16, version: i16, flexible: bool, body: &[u8]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(api_key);
    b.put_i16(version);
    b.put_i32(7);
    b.put_i16(1);
    b.put_u8(b't');
    if flexible {
        b.put_u8(0); // no tagged fields
    }
    b.put_slice(body);
    b.freeze()
}

/// Parses the frame and decodes its body as `T`; the decode error's text.
fn decode_err<T: kafka_protocol::protocol::Decodable + std::fmt::Debug>(frame: Bytes) -> String {
    let req = parse_request(frame).expect("header decodes");
    let mut body = req.body.clone();
    match decode_body::<T>(&mut body, req.version) {
        Ok(v) => panic!("decoded {v:?}"),
        Err(e) => e.to_string(),
    }
}

fn assert_refused_allocation(err: &str, size: u64) {
    assert!(
        err.contains(&format!("Tried to allocate a collection of size {size}")),
        "{err}"
    );
}

#[test]
fn metadata_with_a_billion_topics_is_an_error() {
    // Non-flexible (v4): Int32 topics count. 50 bytes on the wire with the size prefix.
    let mut body = BytesMut::new();
    body.put_u32(HUGE);
    body.put_bytes(0, 31);
    let f = frame(3, 4, false, &body);
    assert_eq!(4 + f.len(), 50);
    assert_refused_allocation(&decode_err::<MetadataRequest>(f), HUGE.into());

    // Flexible (v9+): compact array, length + 1 as an unsigned varint.
    for version in [9, 12, 13] {
        let mut body = BytesMut::new();
        put_uvarint(&mut body, u64::from(HUGE) + 1);
        body.put_bytes(0, 29);
        let f = frame(3, version, true, &body);
        assert_eq!(4 + f.len(), 50);
        assert_refused_allocation(&decode_err::<MetadataRequest>(f), HUGE.into());
    }

    // The largest compact count there is.
    let mut body = BytesMut::new();
    put_uvarint(&mut body, u64::from(u32::MAX));
    let err = decode_err::<MetadataRequest>(frame(3, 12, true, &body));
    assert_refused_allocation(&err, u64::from(u32::MAX) - 1);
}

#[test]
fn huge_string_lengths_are_errors() {
    // v4 topic name: Int16 length 32767 with three bytes behind it.
    let mut body = BytesMut::new();
    body.put_i32(1);
    body.put_i16(i16::MAX);
    body.put_slice(b"abc");
    decode_err::<MetadataRequest>(frame(3, 4, false, &body));

    // v12 topic: topic id, then a compact nullable name of u32::MAX - 1 bytes.
    let mut body = BytesMut::new();
    put_uvarint(&mut body, 2);
    body.put_bytes(0, 16);
    put_uvarint(&mut body, u64::from(u32::MAX));
    body.put_slice(b"abc");
    decode_err::<MetadataRequest>(frame(3, 12, true, &body));

    // The header's client id (an Int16 string in every header version).
    let mut f = BytesMut::new();
    f.put_i16(3);
    f.put_i16(12);
    f.put_i32(7);
    f.put_i16(i16::MAX);
    f.put_slice(b"abc");
    match parse_request(f.freeze()) {
        Err(FrameError::BadHeader { .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn huge_bytes_lengths_are_errors() {
    // SyncGroup v0: group, generation, member, one assignment of i32::MAX bytes.
    let mut body = BytesMut::new();
    body.put_i16(1);
    body.put_u8(b'g');
    body.put_i32(1);
    body.put_i16(1);
    body.put_u8(b'm');
    body.put_i32(1);
    body.put_i16(1);
    body.put_u8(b'm');
    body.put_i32(i32::MAX);
    body.put_slice(b"abc");
    decode_err::<SyncGroupRequest>(frame(14, 0, false, &body));

    // SyncGroup v4 (flexible): compact strings and a compact assignment of u32::MAX - 1.
    let mut body = BytesMut::new();
    put_uvarint(&mut body, 2);
    body.put_u8(b'g');
    body.put_i32(1);
    put_uvarint(&mut body, 2);
    body.put_u8(b'm');
    put_uvarint(&mut body, 0); // group instance id: null
    put_uvarint(&mut body, 2); // one assignment
    put_uvarint(&mut body, 2);
    body.put_u8(b'm');
    put_uvarint(&mut body, u64::from(u32::MAX));
    body.put_slice(b"abc");
    decode_err::<SyncGroupRequest>(frame(14, 4, true, &body));

    // Produce v9: a partition's records (compact nullable bytes) of u32::MAX - 1 bytes.
    let mut body = BytesMut::new();
    put_uvarint(&mut body, 0); // transactional id: null
    body.put_i16(1); // acks
    body.put_i32(1000); // timeout
    put_uvarint(&mut body, 2); // one topic
    put_uvarint(&mut body, 2);
    body.put_u8(b't');
    put_uvarint(&mut body, 2); // one partition
    body.put_i32(0);
    put_uvarint(&mut body, u64::from(u32::MAX));
    body.put_slice(b"abc");
    decode_err::<ProduceRequest>(frame(0, 9, true, &body));
}

#[test]
fn huge_tagged_fields_are_errors() {
    // Metadata v12 with null topics, then ~4e9 tagged fields, the first of u32::MAX bytes.
    let mut body = BytesMut::new();
    put_uvarint(&mut body, 0); // topics: null
    body.put_u8(1); // allow_auto_topic_creation
    body.put_u8(0); // include_topic_authorized_operations
    put_uvarint(&mut body, u64::from(u32::MAX)); // number of tagged fields
    put_uvarint(&mut body, 99); // an unknown tag
    put_uvarint(&mut body, u64::from(u32::MAX)); // its size
    body.put_slice(b"abc");
    decode_err::<MetadataRequest>(frame(3, 12, true, &body));

    // A tagged-field count with nothing behind it.
    let mut body = BytesMut::new();
    put_uvarint(&mut body, 0);
    body.put_u8(1);
    body.put_u8(0);
    put_uvarint(&mut body, u64::from(u32::MAX));
    decode_err::<MetadataRequest>(frame(3, 12, true, &body));
}

/// An uncompressed v2 batch (valid CRC) declaring `count` records, holding `records`.
fn batch(count: i32, records: &[u8]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i64(0); // base offset
    b.put_i32(49 + records.len() as i32);
    b.put_i32(0); // partition leader epoch
    b.put_i8(2); // magic
    b.put_u32(0); // crc, below
    b.put_i16(0); // attributes
    b.put_i32(0); // last offset delta
    b.put_i64(0); // first timestamp
    b.put_i64(0); // max timestamp
    b.put_i64(-1); // producer id
    b.put_i16(-1); // producer epoch
    b.put_i32(-1); // base sequence
    b.put_i32(count);
    b.put_slice(records);
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b.freeze()
}

/// One record: null key and value, `headers` declared, `tail` after the count.
fn record(key_len: i64, headers: i64, tail: &[u8]) -> Vec<u8> {
    let mut r = BytesMut::new();
    r.put_i8(0); // attributes
    put_varint(&mut r, 0); // timestamp delta
    put_varint(&mut r, 0); // offset delta
    put_varint(&mut r, key_len);
    put_varint(&mut r, -1); // value: null
    put_varint(&mut r, headers);
    r.put_slice(tail);
    let mut out = BytesMut::new();
    put_varint(&mut out, r.len() as i64);
    out.put_slice(&r);
    out.to_vec()
}

#[test]
fn record_batches_with_huge_counts_are_errors() {
    // Sanity: the helpers make a batch the crate reads.
    let ok = RecordBatchDecoder::decode(&mut batch(1, &record(-1, 0, &[])));
    assert_eq!(ok.expect("valid batch").records.len(), 1);

    let err = RecordBatchDecoder::decode(&mut batch(HUGE as i32, &record(-1, 0, &[])))
        .expect_err("record count");
    assert_refused_allocation(&err.to_string(), HUGE.into());

    let err = RecordBatchDecoder::decode(&mut batch(1, &record(-1, HUGE.into(), &[0; 8])))
        .expect_err("header count");
    assert_refused_allocation(&err.to_string(), HUGE.into());

    // Key, and header key and value lengths, past the record's end.
    RecordBatchDecoder::decode(&mut batch(1, &record(HUGE.into(), 0, &[]))).expect_err("key");
    let mut header = BytesMut::new();
    put_varint(&mut header, i64::from(i32::MAX)); // header key length
    header.put_slice(b"abc");
    RecordBatchDecoder::decode(&mut batch(1, &record(-1, 1, &header))).expect_err("header key");
    let mut header = BytesMut::new();
    put_varint(&mut header, 1);
    header.put_u8(b'h');
    put_varint(&mut header, i64::from(i32::MAX)); // header value length
    header.put_slice(b"abc");
    RecordBatchDecoder::decode(&mut batch(1, &record(-1, 1, &header))).expect_err("header value");
}

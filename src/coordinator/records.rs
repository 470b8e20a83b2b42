//! Apache Kafka's `__consumer_offsets` record schemas (non-flexible versions), so that
//! Kafka's own tools can read what vltava writes and vltava can read what Kafka wrote.
//!
//! Keys: version 0/1 = OffsetCommitKey {group, topic, partition}; version 2 =
//! GroupMetadataKey {group}. Values: OffsetCommitValue v0–v3, GroupMetadataValue v0–v3.
//! A null value is a tombstone.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// A decoded record key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordKey {
    Offset {
        group: String,
        topic: String,
        partition: i32,
    },
    Group {
        group: String,
    },
}

/// A committed offset as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetValue {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
}

/// One member as stored in group metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberValue {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub subscription: Bytes,
    pub assignment: Bytes,
}

/// Group metadata as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupValue {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub current_state_timestamp: i64,
    pub members: Vec<MemberValue>,
}

/// A record that failed to decode.
#[derive(Debug, thiserror::Error)]
#[error("malformed __consumer_offsets record: {0}")]
pub struct RecordError(pub &'static str);

fn put_str(buf: &mut BytesMut, s: &str) {
    buf.put_i16(s.len() as i16);
    buf.put_slice(s.as_bytes());
}

fn put_nullable_str(buf: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_str(buf, s),
        None => buf.put_i16(-1),
    }
}

fn put_bytes(buf: &mut BytesMut, b: &[u8]) {
    buf.put_i32(b.len() as i32);
    buf.put_slice(b);
}

fn need(buf: &Bytes, n: usize) -> Result<(), RecordError> {
    if buf.remaining() < n {
        Err(RecordError("truncated"))
    } else {
        Ok(())
    }
}

fn get_i16(buf: &mut Bytes) -> Result<i16, RecordError> {
    need(buf, 2)?;
    Ok(buf.get_i16())
}

fn get_i32(buf: &mut Bytes) -> Result<i32, RecordError> {
    need(buf, 4)?;
    Ok(buf.get_i32())
}

fn get_i64(buf: &mut Bytes) -> Result<i64, RecordError> {
    need(buf, 8)?;
    Ok(buf.get_i64())
}

fn get_nullable_str(buf: &mut Bytes) -> Result<Option<String>, RecordError> {
    let len = get_i16(buf)?;
    if len < 0 {
        return Ok(None);
    }
    need(buf, len as usize)?;
    let b = buf.split_to(len as usize);
    String::from_utf8(b.to_vec())
        .map(Some)
        .map_err(|_| RecordError("string is not UTF-8"))
}

fn get_str(buf: &mut Bytes) -> Result<String, RecordError> {
    get_nullable_str(buf)?.ok_or(RecordError("null string"))
}

fn get_bytes(buf: &mut Bytes) -> Result<Bytes, RecordError> {
    let len = get_i32(buf)?;
    if len < 0 {
        return Ok(Bytes::new());
    }
    need(buf, len as usize)?;
    Ok(buf.split_to(len as usize))
}

/// Encodes a key (OffsetCommitKey v1 or GroupMetadataKey v2).
pub fn encode_key(key: &RecordKey) -> Bytes {
    let mut buf = BytesMut::new();
    match key {
        RecordKey::Offset {
            group,
            topic,
            partition,
        } => {
            buf.put_i16(1);
            put_str(&mut buf, group);
            put_str(&mut buf, topic);
            buf.put_i32(*partition);
        }
        RecordKey::Group { group } => {
            buf.put_i16(2);
            put_str(&mut buf, group);
        }
    }
    buf.freeze()
}

/// Decodes a key; `None` for key versions this module does not know (e.g. share groups).
pub fn decode_key(mut buf: Bytes) -> Result<Option<RecordKey>, RecordError> {
    match get_i16(&mut buf)? {
        0 | 1 => Ok(Some(RecordKey::Offset {
            group: get_str(&mut buf)?,
            topic: get_str(&mut buf)?,
            partition: get_i32(&mut buf)?,
        })),
        2 => Ok(Some(RecordKey::Group {
            group: get_str(&mut buf)?,
        })),
        _ => Ok(None),
    }
}

/// Encodes an OffsetCommitValue v3.
pub fn encode_offset(v: &OffsetValue) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(3);
    buf.put_i64(v.offset);
    buf.put_i32(v.leader_epoch);
    put_str(&mut buf, &v.metadata);
    buf.put_i64(v.commit_timestamp);
    buf.freeze()
}

/// Decodes OffsetCommitValue v0–v3 (v4 is flexible and carries a tagged topic id; its
/// fixed fields match v3).
pub fn decode_offset(mut buf: Bytes) -> Result<OffsetValue, RecordError> {
    let version = get_i16(&mut buf)?;
    let offset = get_i64(&mut buf)?;
    let leader_epoch = if version >= 3 { get_i32(&mut buf)? } else { -1 };
    let metadata = if version >= 4 {
        compact_str(&mut buf)?
    } else {
        get_str(&mut buf)?
    };
    let commit_timestamp = get_i64(&mut buf)?;
    Ok(OffsetValue {
        offset,
        leader_epoch,
        metadata,
        commit_timestamp,
    })
}

fn compact_str(buf: &mut Bytes) -> Result<String, RecordError> {
    let mut len: u64 = 0;
    let mut shift = 0;
    loop {
        need(buf, 1)?;
        let b = buf.get_u8();
        len |= ((b & 0x7f) as u64) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 28 {
            return Err(RecordError("varint too long"));
        }
    }
    let len = len.saturating_sub(1) as usize;
    need(buf, len)?;
    String::from_utf8(buf.split_to(len).to_vec()).map_err(|_| RecordError("string is not UTF-8"))
}

/// Encodes a GroupMetadataValue v3.
pub fn encode_group(v: &GroupValue) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(3);
    put_str(&mut buf, &v.protocol_type);
    buf.put_i32(v.generation);
    put_nullable_str(&mut buf, v.protocol.as_deref());
    put_nullable_str(&mut buf, v.leader.as_deref());
    buf.put_i64(v.current_state_timestamp);
    buf.put_i32(v.members.len() as i32);
    for m in &v.members {
        put_str(&mut buf, &m.member_id);
        put_nullable_str(&mut buf, m.group_instance_id.as_deref());
        put_str(&mut buf, &m.client_id);
        put_str(&mut buf, &m.client_host);
        buf.put_i32(m.rebalance_timeout_ms);
        buf.put_i32(m.session_timeout_ms);
        put_bytes(&mut buf, &m.subscription);
        put_bytes(&mut buf, &m.assignment);
    }
    buf.freeze()
}

/// Decodes GroupMetadataValue v0–v3.
pub fn decode_group(mut buf: Bytes) -> Result<GroupValue, RecordError> {
    let version = get_i16(&mut buf)?;
    if version > 3 {
        return Err(RecordError("flexible group metadata versions are not read"));
    }
    let protocol_type = get_str(&mut buf)?;
    let generation = get_i32(&mut buf)?;
    let protocol = get_nullable_str(&mut buf)?;
    let leader = get_nullable_str(&mut buf)?;
    let current_state_timestamp = if version >= 2 { get_i64(&mut buf)? } else { -1 };
    let count = get_i32(&mut buf)?;
    let mut members = Vec::with_capacity(count.clamp(0, 1024) as usize);
    for _ in 0..count.max(0) {
        let member_id = get_str(&mut buf)?;
        let group_instance_id = if version >= 3 {
            get_nullable_str(&mut buf)?
        } else {
            None
        };
        let client_id = get_str(&mut buf)?;
        let client_host = get_str(&mut buf)?;
        let rebalance_timeout_ms = if version >= 1 { get_i32(&mut buf)? } else { -1 };
        let session_timeout_ms = get_i32(&mut buf)?;
        let rebalance_timeout_ms = if rebalance_timeout_ms < 0 {
            session_timeout_ms
        } else {
            rebalance_timeout_ms
        };
        members.push(MemberValue {
            member_id,
            group_instance_id,
            client_id,
            client_host,
            rebalance_timeout_ms,
            session_timeout_ms,
            subscription: get_bytes(&mut buf)?,
            assignment: get_bytes(&mut buf)?,
        });
    }
    Ok(GroupValue {
        protocol_type,
        generation,
        protocol,
        leader,
        current_state_timestamp,
        members,
    })
}

/// One `__consumer_offsets` record, decoded: what a group operation asks to write, and
/// what the coordinator applies once it is written or when it replays the partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoordinatorRecord {
    /// A committed offset (`None`: its tombstone).
    Offset {
        group: String,
        topic: String,
        partition: i32,
        value: Option<OffsetValue>,
    },
    /// A group's metadata (`None`: its tombstone).
    Group {
        group: String,
        value: Option<GroupValue>,
    },
}

impl CoordinatorRecord {
    /// The group the record belongs to.
    pub fn group(&self) -> &str {
        match self {
            CoordinatorRecord::Offset { group, .. } | CoordinatorRecord::Group { group, .. } => {
                group
            }
        }
    }

    /// The record's key and value bytes (`None`: tombstone).
    pub fn encode(&self) -> (Bytes, Option<Bytes>) {
        match self {
            CoordinatorRecord::Offset {
                group,
                topic,
                partition,
                value,
            } => {
                let key = RecordKey::Offset {
                    group: group.clone(),
                    topic: topic.clone(),
                    partition: *partition,
                };
                (encode_key(&key), value.as_ref().map(encode_offset))
            }
            CoordinatorRecord::Group { group, value } => {
                let key = RecordKey::Group {
                    group: group.clone(),
                };
                (encode_key(&key), value.as_ref().map(encode_group))
            }
        }
    }

    /// Decodes a record read from the log; `None` for keys this coordinator does not own.
    pub fn decode(key: Bytes, value: Option<Bytes>) -> Result<Option<Self>, RecordError> {
        Ok(match decode_key(key)? {
            None => None,
            Some(RecordKey::Offset {
                group,
                topic,
                partition,
            }) => Some(CoordinatorRecord::Offset {
                group,
                topic,
                partition,
                value: value.map(decode_offset).transpose()?,
            }),
            Some(RecordKey::Group { group }) => Some(CoordinatorRecord::Group {
                group,
                value: value.map(decode_group).transpose()?,
            }),
        })
    }
}

/// The `__consumer_offsets` partition of a group: Java's `String.hashCode`, made
/// non-negative as Kafka's `Utils.abs` does, modulo the partition count.
pub fn partition_for(group: &str, partitions: i32) -> i32 {
    let mut h: i32 = 0;
    for unit in group.encode_utf16() {
        h = h.wrapping_mul(31).wrapping_add(unit as i32);
    }
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    abs % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        for k in [
            RecordKey::Offset {
                group: "g".into(),
                topic: "t".into(),
                partition: 7,
            },
            RecordKey::Group { group: "g".into() },
        ] {
            assert_eq!(decode_key(encode_key(&k)).unwrap(), Some(k));
        }
    }

    #[test]
    fn values_round_trip() {
        let o = OffsetValue {
            offset: 42,
            leader_epoch: 3,
            metadata: "m".into(),
            commit_timestamp: 1000,
        };
        assert_eq!(decode_offset(encode_offset(&o)).unwrap(), o);
        let g = GroupValue {
            protocol_type: "consumer".into(),
            generation: 5,
            protocol: Some("range".into()),
            leader: Some("a".into()),
            current_state_timestamp: 99,
            members: vec![MemberValue {
                member_id: "a".into(),
                group_instance_id: Some("i".into()),
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout_ms: 300_000,
                session_timeout_ms: 45_000,
                subscription: Bytes::from_static(b"sub"),
                assignment: Bytes::from_static(b"asg"),
            }],
        };
        assert_eq!(decode_group(encode_group(&g)).unwrap(), g);
        assert!(decode_group(Bytes::from_static(&[0, 3, 0])).is_err());
    }

    #[test]
    fn coordinator_records_round_trip() {
        let offset = OffsetValue {
            offset: 7,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp: 5,
        };
        for r in [
            CoordinatorRecord::Offset {
                group: "g".into(),
                topic: "t".into(),
                partition: 1,
                value: Some(offset),
            },
            CoordinatorRecord::Offset {
                group: "g".into(),
                topic: "t".into(),
                partition: 1,
                value: None,
            },
            CoordinatorRecord::Group {
                group: "g".into(),
                value: None,
            },
        ] {
            let (k, v) = r.encode();
            assert_eq!(CoordinatorRecord::decode(k, v).unwrap(), Some(r));
        }
        let share_key = Bytes::from_static(&[0, 9, 0, 1, b'g']);
        assert_eq!(CoordinatorRecord::decode(share_key, None).unwrap(), None);
    }

    #[test]
    fn partition_matches_java_hash_code() {
        // "test-group".hashCode() == 627841412 in Java; 627841412 % 50 == 12.
        assert_eq!(partition_for("test-group", 50), 12);
        assert_eq!(partition_for("", 50), 0);
    }
}

//! Produce-side validation of record batches, before anything is stored.
//!
//! Checks the v2 batch headers and CRC-32C (the records themselves only for compacted
//! topics' keys and out-of-range timestamps) and picks the
//! Kafka error code for each failure, as Apache Kafka's `ProduceRequest.validateRecords`
//! and `LogValidator` do.

use bytes::Bytes;
use kafka_protocol::error::ResponseError;

use crate::format::records::RecordIter;
use crate::format::{BatchError, BatchHeader, batch};

/// What a topic allows, for validation.
pub struct Limits<'a> {
    pub max_message_bytes: i32,
    pub segment_bytes: u64,
    pub now_ms: i64,
    /// `message.timestamp.before.max.ms` / `after.max.ms` (CreateTime topics only).
    pub timestamp_bounds: Option<(i64, i64)>,
    /// The Produce version: zstd needs v7+.
    pub version: i16,
    /// The topic is compacted: every record needs a key.
    pub compacted: bool,
    /// The topic and partition, for record error messages.
    pub topic: &'a str,
    pub partition: i32,
}

/// Kafka's compression id for zstd, which clients may use from Produce/Fetch v7/v10.
pub const ZSTD: u8 = 4;

/// A rejected partition payload: Kafka's error, a message for the client, and the
/// records at fault (KIP-467: each record's index in the batch, with a message).
#[derive(Debug)]
pub struct Rejected {
    pub error: ResponseError,
    pub message: String,
    pub record_errors: Vec<(i32, Option<String>)>,
}

fn reject(error: ResponseError, message: impl Into<String>) -> Rejected {
    Rejected {
        error,
        message: message.into(),
        record_errors: Vec::new(),
    }
}

/// Validates the records of one partition of a produce request (v3+: exactly one v2 batch).
pub fn produce_records(
    records: Option<&Bytes>,
    limits: &Limits<'_>,
) -> Result<BatchHeader, Rejected> {
    let bytes = match records {
        Some(b) if !b.is_empty() => b,
        _ => {
            return Err(reject(
                ResponseError::InvalidRecord,
                "Produce requests must have at least one record batch per partition",
            ));
        }
    };
    // The magic byte sits at offset 16; an old message format is an invalid record.
    if bytes.len() > 16 && bytes[16] != 2 {
        return Err(reject(
            ResponseError::InvalidRecord,
            format!(
                "Produce requests are only allowed to contain record batches with magic version 2, got {}",
                bytes[16] as i8
            ),
        ));
    }
    let headers = batch::validate(bytes).map_err(|e| match e {
        BatchError::UnsupportedMagic(m) => reject(
            ResponseError::InvalidRecord,
            format!("record batches with magic version {m} are not supported"),
        ),
        BatchError::UnsupportedCompression(c) => reject(
            ResponseError::UnsupportedCompressionType,
            format!("unknown compression type id {c}"),
        ),
        other => reject(ResponseError::CorruptMessage, other.to_string()),
    })?;
    if headers.len() != 1 {
        return Err(reject(
            ResponseError::InvalidRecord,
            "Produce requests are only allowed to contain exactly one record batch per partition",
        ));
    }
    let h = headers[0];
    if h.compression_id() == ZSTD && limits.version < 7 {
        return Err(reject(
            ResponseError::UnsupportedCompressionType,
            "Produce requests with version < 7 are not allowed to use ZStandard compression",
        ));
    }
    if h.is_control() {
        return Err(reject(
            ResponseError::InvalidRecord,
            "Clients are not allowed to write control records",
        ));
    }
    if h.records_count <= 0 {
        return Err(reject(
            ResponseError::InvalidRecord,
            "record batch has no records",
        ));
    }
    let size = bytes.len();
    if size as u64 > limits.segment_bytes {
        return Err(reject(
            ResponseError::RecordListTooLarge,
            format!(
                "batch of {size} bytes exceeds the segment size {}",
                limits.segment_bytes
            ),
        ));
    }
    if size > limits.max_message_bytes.max(0) as usize {
        return Err(reject(
            ResponseError::MessageTooLarge,
            format!(
                "batch of {size} bytes exceeds max.message.bytes {}",
                limits.max_message_bytes
            ),
        ));
    }
    // Records are looked at only where a rule needs them: every record of a compacted
    // topic (its key), and the timestamps of a batch whose header shows one out of range
    // or whose topic bounds how old a record may be.
    let timestamps_to_check = limits.timestamp_bounds.is_some_and(|(before, after)| {
        h.max_timestamp > limits.now_ms.saturating_add(after) || before < i64::MAX
    });
    if limits.compacted || timestamps_to_check {
        check_records(bytes, &h, limits)?;
    }
    Ok(h)
}

/// Kafka's `LogValidator.validateRecord` for each record: a compacted topic's record needs
/// a key, and a CreateTime record's timestamp must lie within the topic's bounds. All
/// faults are collected, as Kafka's `processRecordErrors` reports them.
fn check_records(bytes: &Bytes, h: &BatchHeader, limits: &Limits<'_>) -> Result<(), Rejected> {
    let mut it =
        RecordIter::new(bytes).map_err(|e| reject(ResponseError::CorruptMessage, e.to_string()))?;
    let mut errors: Vec<(ResponseError, i32, String)> = Vec::new();
    let mut index = 0i32;
    while let Some(r) = it.next_keyed() {
        let r = r.map_err(|e| reject(ResponseError::CorruptMessage, e.to_string()))?;
        if limits.compacted && r.key.is_none() {
            errors.push((
                ResponseError::InvalidRecord,
                index,
                format!(
                    "Compacted topic cannot accept message without key in topic partition {}-{}",
                    limits.topic, limits.partition
                ),
            ));
        } else if let Some((before, after)) = limits.timestamp_bounds {
            let (low, high) = (
                limits.now_ms.wrapping_sub(before),
                limits.now_ms.wrapping_add(after),
            );
            let ts = r.timestamp;
            if !h.is_log_append_time() && ts >= 0 && (ts < low || ts > high) {
                errors.push((
                    ResponseError::InvalidTimestamp,
                    index,
                    format!(
                        "Timestamp {ts} of message with offset {} is out of range. The timestamp should be within [{low}, {high}]",
                        r.offset
                    ),
                ));
            }
        }
        index += 1;
    }
    if errors.is_empty() {
        return Ok(());
    }
    let shown: Vec<String> = errors
        .iter()
        .take(3)
        .map(|(_, i, m)| format!("RecordError(batchIndex={i}, message='{m}')"))
        .collect();
    let (error, message) = if errors
        .iter()
        .any(|(e, _, _)| *e == ResponseError::InvalidTimestamp)
    {
        (
            ResponseError::InvalidTimestamp,
            "One or more records have been rejected due to invalid timestamp".to_string(),
        )
    } else {
        (
            ResponseError::InvalidRecord,
            format!(
                "One or more records have been rejected due to {} record errors in total, and only showing the first three errors at most: [{}]",
                errors.len(),
                shown.join(", ")
            ),
        )
    };
    Err(Rejected {
        error,
        message,
        record_errors: errors.into_iter().map(|(_, i, m)| (i, Some(m))).collect(),
    })
}

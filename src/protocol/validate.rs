//! Produce-side validation of record batches, before anything is stored.
//!
//! Checks the v2 batch headers and CRC-32C (never the records themselves) and picks the
//! Kafka error code for each failure, as Apache Kafka's `ProduceRequest.validateRecords`
//! and `LogValidator` do.

use bytes::Bytes;
use kafka_protocol::error::ResponseError;

use crate::format::{BatchError, BatchHeader, batch};

/// What a topic allows, for validation.
pub struct Limits {
    pub max_message_bytes: i32,
    pub segment_bytes: u64,
    pub now_ms: i64,
    /// `message.timestamp.before.max.ms` / `after.max.ms` (CreateTime topics only).
    pub timestamp_bounds: Option<(i64, i64)>,
    /// The Produce version: zstd needs v7+.
    pub version: i16,
}

/// Kafka's compression id for zstd, which clients may use from Produce/Fetch v7/v10.
pub const ZSTD: u8 = 4;

/// A rejected partition payload: Kafka's error and a message for the client.
#[derive(Debug)]
pub struct Rejected {
    pub error: ResponseError,
    pub message: String,
}

fn reject(error: ResponseError, message: impl Into<String>) -> Rejected {
    Rejected {
        error,
        message: message.into(),
    }
}

/// Validates the records of one partition of a produce request (v3+: exactly one v2 batch).
pub fn produce_records(records: Option<&Bytes>, limits: &Limits) -> Result<BatchHeader, Rejected> {
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
    if let Some((before, after)) = limits.timestamp_bounds {
        let too_new = h.max_timestamp > limits.now_ms.saturating_add(after);
        let too_old =
            h.base_timestamp >= 0 && h.base_timestamp < limits.now_ms.saturating_sub(before);
        if too_new || too_old {
            return Err(reject(
                ResponseError::InvalidTimestamp,
                format!(
                    "timestamps of the batch are out of the range allowed by message.timestamp.before.max.ms / after.max.ms (now {})",
                    limits.now_ms
                ),
            ));
        }
    }
    Ok(h)
}

//! The one place where domain errors become Kafka error codes.

use kafka_protocol::error::ResponseError;

use crate::broker::TopicError;
use crate::storage::{BatchError, StorageError};

/// The Kafka error for a failed topic operation.
pub fn topic_error(e: &TopicError) -> ResponseError {
    match e {
        TopicError::InvalidTopic(_) => ResponseError::InvalidTopicException,
        TopicError::AlreadyExists(_) => ResponseError::TopicAlreadyExists,
        TopicError::InvalidPartitions(_) => ResponseError::InvalidPartitions,
        TopicError::InvalidReplicationFactor(_) => ResponseError::InvalidReplicationFactor,
        TopicError::InvalidReplicaAssignment(_) => ResponseError::InvalidReplicaAssignment,
        TopicError::InvalidConfig(_) => ResponseError::InvalidConfig,
        TopicError::InvalidRequest(_) => ResponseError::InvalidRequest,
        TopicError::UnknownTopic => ResponseError::UnknownTopicOrPartition,
        TopicError::DeletionDisabled => ResponseError::TopicDeletionDisabled,
        TopicError::Storage(s) => storage_error(s),
        TopicError::Metadata(_) => ResponseError::UnknownServerError,
    }
}

/// The Kafka error for a failed log operation.
pub fn storage_error(e: &StorageError) -> ResponseError {
    match e {
        StorageError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
        StorageError::CorruptBatch(b) => match b {
            BatchError::UnsupportedMagic(_) => ResponseError::InvalidRecord,
            BatchError::UnsupportedCompression(_) => ResponseError::UnsupportedCompressionType,
            _ => ResponseError::CorruptMessage,
        },
        StorageError::OutOfOrderSequence { .. } => ResponseError::OutOfOrderSequenceNumber,
        StorageError::InvalidProducerEpoch { .. } => ResponseError::InvalidProducerEpoch,
        StorageError::UnknownProducerId { .. } => ResponseError::UnknownProducerId,
        StorageError::RecordTooLarge { .. } => ResponseError::MessageTooLarge,
        StorageError::RecordBatchTooLarge { .. } => ResponseError::RecordListTooLarge,
        StorageError::InvalidRecord(_) => ResponseError::InvalidRecord,
        StorageError::InvalidTopic(_) => ResponseError::InvalidTopicException,
        StorageError::LogClosed(_) => ResponseError::UnknownTopicOrPartition,
        StorageError::Io(_) | StorageError::IoAt { .. } | StorageError::BadCheckpoint { .. } => {
            ResponseError::KafkaStorageError
        }
    }
}

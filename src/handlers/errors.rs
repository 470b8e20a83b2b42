//! The one place where domain errors become Kafka error codes.

use kafka_protocol::error::ResponseError;

use crate::broker::TopicError;
use crate::coordinator::GroupError;
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
        TopicError::UnknownTopic | TopicError::NoSuchTopic(_) => {
            ResponseError::UnknownTopicOrPartition
        }
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
        StorageError::CleanerStopped => ResponseError::UnknownServerError,
        StorageError::Io(_)
        | StorageError::IoAt { .. }
        | StorageError::BadCheckpoint { .. }
        | StorageError::LogDirOffline { .. }
        | StorageError::PartitionOffline { .. } => ResponseError::KafkaStorageError,
    }
}

/// The Kafka error for a failed group operation.
pub fn group_error(e: &GroupError) -> ResponseError {
    match e {
        GroupError::UnknownMemberId => ResponseError::UnknownMemberId,
        GroupError::IllegalGeneration => ResponseError::IllegalGeneration,
        GroupError::RebalanceInProgress => ResponseError::RebalanceInProgress,
        GroupError::InconsistentGroupProtocol => ResponseError::InconsistentGroupProtocol,
        GroupError::MemberIdRequired => ResponseError::MemberIdRequired,
        GroupError::FencedInstanceId => ResponseError::FencedInstanceId,
        GroupError::InvalidSessionTimeout => ResponseError::InvalidSessionTimeout,
        GroupError::InvalidGroupId => ResponseError::InvalidGroupId,
        GroupError::CoordinatorNotAvailable => ResponseError::CoordinatorNotAvailable,
        GroupError::CoordinatorLoadInProgress => ResponseError::CoordinatorLoadInProgress,
        GroupError::NotCoordinator => ResponseError::NotCoordinator,
        GroupError::GroupIdNotFound => ResponseError::GroupIdNotFound,
        GroupError::NonEmptyGroup => ResponseError::NonEmptyGroup,
        GroupError::GroupSubscribedToTopic => ResponseError::GroupSubscribedToTopic,
        GroupError::OffsetMetadataTooLarge => ResponseError::OffsetMetadataTooLarge,
        GroupError::UnknownTopicOrPartition => ResponseError::UnknownTopicOrPartition,
        // A failed write to __consumer_offsets: clients retry after rediscovering the
        // coordinator, as Kafka has them do.
        GroupError::Storage(_) => ResponseError::CoordinatorNotAvailable,
    }
}

/// The error code (0 for none) of an optional group error.
pub fn group_code(e: Option<&GroupError>) -> i16 {
    e.map(|e| group_error(e).code()).unwrap_or(0)
}

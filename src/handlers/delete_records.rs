//! DeleteRecords (key 21): moves partitions' log start offsets up (Kafka's
//! `kafka-delete-records.sh`, AdminClient `deleteRecords`, Streams purging repartition
//! topics). Decode → `ReplicaManager::delete_records` → encode.

use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use super::{errors, replica_error};
use crate::broker::Broker;
use crate::protocol::Request;
use crate::replication::delete::DeleteError;

pub async fn handle(
    broker: &Broker,
    _req: &Request,
    msg: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
    let entries: Vec<(String, i32, i64)> = msg
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.0.as_str().to_string(), p.partition_index, p.offset))
        })
        .collect();
    let timeout = Duration::from_millis(msg.timeout_ms.max(0) as u64);
    let mut results = broker
        .replicas
        .delete_records(&entries, timeout)
        .await
        .into_iter();
    let topics = msg
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .zip(results.by_ref())
                .map(|(p, r)| {
                    let (low_watermark, error) = match r {
                        Ok(low) => (low, None),
                        Err(e) => (-1, Some(delete_error(&e))),
                    };
                    DeleteRecordsPartitionResult::default()
                        .with_partition_index(p.partition_index)
                        .with_low_watermark(low_watermark)
                        .with_error_code(error.map_or(0, |e| e.code()))
                })
                .collect();
            DeleteRecordsTopicResult::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    DeleteRecordsResponse::default().with_topics(topics)
}

fn delete_error(e: &DeleteError) -> ResponseError {
    match e {
        DeleteError::Replica(r) => replica_error(*r),
        DeleteError::InternalTopic => ResponseError::InvalidTopicException,
        DeleteError::PolicyViolation => ResponseError::PolicyViolation,
        DeleteError::OffsetOutOfRange => ResponseError::OffsetOutOfRange,
        DeleteError::Timeout => ResponseError::RequestTimedOut,
        DeleteError::Storage(s) => errors::storage_error(s),
    }
}

//! Produce (key 0): validate each partition's batch, append it, answer per acks.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, LeaderIdAndEpoch, NodeEndpoint, PartitionProduceResponse,
    TopicProduceResponse,
};
use kafka_protocol::messages::{BrokerId, ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;

use bytes::Bytes;

use super::errors;
use crate::broker::{Broker, QuotaKind, now_ms};
use crate::format::rebuild;
use crate::protocol::Request;
use crate::protocol::validate::{self, Limits};
use crate::replication::append::{Acks, AppendEntry, AppendError};
use crate::replication::manager::ReplicaError;
use crate::storage::{AppendInfo, LogConfig, TimestampType};
use std::time::Duration;

/// Returns `None` for acks=0: Kafka sends no response then.
///
/// Decode, one call to `ReplicaManager::append_records` for every partition of the
/// request (it appends as leader and, for acks=all, waits once with one deadline), encode.
pub async fn handle(
    broker: &Broker,
    req: &Request,
    msg: ProduceRequest,
) -> Option<ProduceResponse> {
    let version = req.version;
    let acks = msg.acks;
    let now = now_ms();
    let timeout = Duration::from_millis(msg.timeout_ms.max(0) as u64);
    // Every partition's slot in the response: answered now (an error), or by the append.
    let mut slots: Vec<(usize, PartitionProduceResponse, Option<usize>)> = Vec::new();
    let mut topics = Vec::with_capacity(msg.topic_data.len());
    let mut entries = Vec::new();
    for (t, topic) in msg.topic_data.into_iter().enumerate() {
        let name = topic.name.0.as_str().to_string();
        let known = broker.metadata.get(&name).is_some();
        for p in topic.partition_data {
            let resp = PartitionProduceResponse::default().with_index(p.index);
            let slot = if !matches!(acks, -1..=1) {
                (
                    t,
                    error(resp, ResponseError::InvalidRequiredAcks, None),
                    None,
                )
            } else if !known {
                (
                    t,
                    error(resp, ResponseError::UnknownTopicOrPartition, None),
                    None,
                )
            } else {
                entries.push(AppendEntry {
                    topic: name.clone(),
                    partition: p.index,
                    records: p.records.unwrap_or_default(),
                });
                (t, resp, Some(entries.len() - 1))
            };
            slots.push(slot);
        }
        topics.push(
            TopicProduceResponse::default()
                .with_name(topic.name)
                .with_topic_id(topic.topic_id),
        );
    }
    let mode = if acks == -1 { Acks::All } else { Acks::Leader };
    let results = broker
        .replicas
        .append_records(entries, mode, timeout, now, |config, entry| {
            check_batch(config, entry, now, version)
        })
        .await;
    for (t, resp, entry) in slots {
        let resp = match entry {
            None => resp,
            Some(i) => answer(resp, &results[i], version),
        };
        // log_start_offset only exists from v5; -1 is its default.
        let resp = if version < 5 {
            resp.with_log_start_offset(-1)
        } else {
            resp
        };
        topics[t].partition_responses.push(resp);
    }
    if acks == 0 {
        return None;
    }
    let throttle = broker.quotas.record(
        &broker.metadata.snapshot().client_quotas,
        QuotaKind::Produce,
        super::client_id(req),
        req.body.len() as f64,
        now_ms(),
    );
    let mut resp = ProduceResponse::default()
        .with_responses(topics)
        .with_throttle_time_ms(throttle.min(i32::MAX as u64) as i32);
    if version >= 10 {
        resp.node_endpoints = leader_endpoints(broker, &resp);
    }
    Some(resp)
}

/// A refused batch: the Kafka error, its message, and the records at fault (KIP-467).
struct Refusal {
    code: ResponseError,
    message: Option<String>,
    record_errors: Vec<(i32, Option<String>)>,
}

impl Refusal {
    fn new(code: ResponseError, message: impl Into<String>) -> Self {
        Refusal {
            code,
            message: Some(message.into()),
            record_errors: Vec::new(),
        }
    }
}

/// Validates a partition's batch against its topic's config (run under the leader role,
/// before the append); a batch in another codec than the topic's `compression.type` comes
/// back recompressed (Kafka's `LogValidator`), one in the topic's codec is left alone.
fn check_batch(
    config: &LogConfig,
    entry: &AppendEntry,
    now: i64,
    version: i16,
) -> Result<Option<Bytes>, Refusal> {
    let records = &entry.records;
    let timestamp_bounds = (config.timestamp_type == TimestampType::CreateTime).then_some((
        config.timestamp_before_max_ms,
        config.timestamp_after_max_ms,
    ));
    let limits = Limits {
        max_message_bytes: config.max_message_bytes,
        segment_bytes: config.segment_bytes,
        now_ms: now,
        timestamp_bounds,
        version,
        compacted: config.compact,
        topic: &entry.topic,
        partition: entry.partition,
    };
    let records = (!records.is_empty()).then_some(records);
    let header = validate::produce_records(records, &limits).map_err(|r| Refusal {
        code: r.error,
        message: Some(r.message),
        record_errors: r.record_errors,
    })?;
    if header.is_transactional() {
        return Err(Refusal::new(
            ResponseError::InvalidTxnState,
            "transactional batches need a transaction coordinator, which this broker does not run",
        ));
    }
    let Some(codec) = config.compression else {
        return Ok(None);
    };
    if header.compression().ok() == Some(codec) {
        return Ok(None);
    }
    match rebuild::recompress(&entry.records, codec, config.compression_level) {
        Ok(b) => Ok(Some(Bytes::from(b))),
        Err(e) => Err(Refusal::new(ResponseError::CorruptMessage, e.to_string())),
    }
}

/// A partition's answer from its append result.
fn answer(
    resp: PartitionProduceResponse,
    result: &Result<AppendInfo, AppendError<Refusal>>,
    version: i16,
) -> PartitionProduceResponse {
    let e = match result {
        Ok(info) => {
            return resp
                .with_base_offset(info.base_offset)
                .with_log_append_time_ms(info.log_append_time)
                .with_log_start_offset(info.log_start_offset);
        }
        Err(e) => e,
    };
    match e {
        AppendError::Rejected(r) => error(resp, r.code, r.message.clone()).with_record_errors(
            r.record_errors
                .iter()
                .map(|(index, message)| {
                    BatchIndexAndErrorMessage::default()
                        .with_batch_index(*index)
                        .with_batch_index_error_message(message.clone().map(StrBytes::from_string))
                })
                .collect(),
        ),
        AppendError::Replica(r) => {
            let resp = error(resp, super::replica_error(*r), None);
            // From v10 a NOT_LEADER_OR_FOLLOWER answer names the current leader (KIP-951).
            match *r {
                ReplicaError::NotLeader {
                    leader,
                    leader_epoch,
                } if version >= 10 && leader >= 0 => resp.with_current_leader(
                    LeaderIdAndEpoch::default()
                        .with_leader_id(BrokerId(leader))
                        .with_leader_epoch(leader_epoch),
                ),
                _ => resp,
            }
        }
        AppendError::NotEnoughReplicas => error(resp, ResponseError::NotEnoughReplicas, None),
        AppendError::NotEnoughReplicasAfterAppend => {
            error(resp, ResponseError::NotEnoughReplicasAfterAppend, None)
        }
        AppendError::Timeout => error(resp, ResponseError::RequestTimedOut, None),
        AppendError::Storage(e) => {
            let code = errors::storage_error(e);
            if code == ResponseError::KafkaStorageError {
                log::error!("append failed: {e}");
            }
            error(resp, code, Some(e.to_string()))
        }
    }
}

fn error(
    resp: PartitionProduceResponse,
    code: ResponseError,
    message: Option<String>,
) -> PartitionProduceResponse {
    resp.with_error_code(code.code())
        .with_base_offset(-1)
        .with_log_append_time_ms(-1)
        .with_log_start_offset(-1)
        .with_error_message(message.map(StrBytes::from_string))
}

/// The endpoints of the leaders named in `current_leader` fields (Produce v10+).
fn leader_endpoints(broker: &Broker, resp: &ProduceResponse) -> Vec<NodeEndpoint> {
    let mut ids: Vec<i32> = resp
        .responses
        .iter()
        .flat_map(|t| t.partition_responses.iter())
        .map(|p| p.current_leader.leader_id.0)
        .filter(|id| *id >= 0)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids.into_iter()
        .filter_map(|id| {
            broker.broker_endpoint(id).map(|(host, port)| {
                NodeEndpoint::default()
                    .with_node_id(BrokerId(id))
                    .with_host(StrBytes::from_string(host))
                    .with_port(port as i32)
            })
        })
        .collect()
}

//! Produce (key 0): validate each partition's batch, append it, answer per acks.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::{
    LeaderIdAndEpoch, NodeEndpoint, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{BrokerId, ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;

use crate::broker::{Broker, now_ms};
use crate::config::topic::effective_i64;
use crate::controller::TopicMeta;
use crate::protocol::validate::{self, Limits};
use crate::protocol::{Request, errors};
use crate::replication::manager::{ReplicaError, ReplicaManager};
use crate::storage::{PartitionLog, TimestampType};
use std::sync::Arc;
use std::time::Duration;

/// Returns `None` for acks=0: Kafka sends no response then.
pub async fn handle(
    broker: &Broker,
    req: &Request,
    msg: ProduceRequest,
) -> Option<ProduceResponse> {
    let version = req.version;
    let acks = msg.acks;
    let valid_acks = matches!(acks, -1..=1);
    let now = now_ms();
    let ctx = Ctx {
        broker,
        acks,
        now,
        version,
    };
    let timeout = Duration::from_millis(msg.timeout_ms.max(0) as u64);
    let mut responses = Vec::with_capacity(msg.topic_data.len());
    for topic in msg.topic_data {
        let name = topic.name.0.as_str().to_string();
        let meta = broker.metadata.get(&name);
        // Append every partition first, then wait for replication (acks=all) of all.
        let appended: Vec<Appended> = topic
            .partition_data
            .into_iter()
            .map(|p| {
                let resp = PartitionProduceResponse::default().with_index(p.index);
                if !valid_acks {
                    return (error(resp, ResponseError::InvalidRequiredAcks, None), None);
                }
                let Some(meta) = meta.as_ref() else {
                    return (
                        error(resp, ResponseError::UnknownTopicOrPartition, None),
                        None,
                    );
                };
                append(&ctx, meta, p.index, p.records.as_ref(), resp)
            })
            .collect();
        let mut partition_responses = Vec::with_capacity(appended.len());
        for (resp, pending) in appended {
            let resp = match pending {
                Some((log, last_offset)) if acks == -1 => {
                    await_replication(broker, meta.as_ref(), &log, last_offset, timeout, resp).await
                }
                _ => resp,
            };
            // log_start_offset only exists from v5; -1 is its default.
            partition_responses.push(if version < 5 {
                resp.with_log_start_offset(-1)
            } else {
                resp
            });
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(topic.name)
                .with_topic_id(topic.topic_id)
                .with_partition_responses(partition_responses),
        );
    }
    if acks == 0 {
        return None;
    }
    let mut resp = ProduceResponse::default().with_responses(responses);
    if version >= 10 {
        resp.node_endpoints = leader_endpoints(broker, &resp);
    }
    Some(resp)
}

/// What every partition of one produce request shares.
struct Ctx<'a> {
    broker: &'a Broker,
    acks: i16,
    now: i64,
    version: i16,
}

/// A partition's response, and the appended log with the last offset when the answer
/// must wait for replication.
type Appended = (PartitionProduceResponse, Option<(Arc<PartitionLog>, i64)>);

fn append(
    ctx: &Ctx<'_>,
    meta: &TopicMeta,
    partition: i32,
    records: Option<&bytes::Bytes>,
    resp: PartitionProduceResponse,
) -> Appended {
    let Ctx { broker, acks, .. } = *ctx;
    let (log, leader_epoch) = match broker.leader_log(&meta.name, partition) {
        Ok(l) => l,
        Err(e) => {
            let resp = error(resp, super::replica_error(e), None);
            // From v10 a NOT_LEADER_OR_FOLLOWER answer names the current leader (KIP-951).
            return match e {
                ReplicaError::NotLeader {
                    leader,
                    leader_epoch,
                } if ctx.version >= 10 && leader >= 0 => (
                    resp.with_current_leader(
                        LeaderIdAndEpoch::default()
                            .with_leader_id(BrokerId(leader))
                            .with_leader_epoch(leader_epoch),
                    ),
                    None,
                ),
                _ => (resp, None),
            };
        }
    };
    let resp = appended_to(ctx, meta, partition, records, resp, &log, leader_epoch);
    let last = resp.base_offset + i64::from(last_delta(records));
    if resp.error_code == 0 && acks == -1 {
        (resp, Some((log, last)))
    } else {
        (resp, None)
    }
}

/// The last-offset delta of the (single, validated) batch.
fn last_delta(records: Option<&bytes::Bytes>) -> i32 {
    records
        .and_then(|b| crate::storage::BatchHeader::parse(b).ok())
        .map_or(0, |h| h.last_offset_delta)
}

fn appended_to(
    ctx: &Ctx<'_>,
    meta: &TopicMeta,
    partition: i32,
    records: Option<&bytes::Bytes>,
    resp: PartitionProduceResponse,
    log: &PartitionLog,
    leader_epoch: i32,
) -> PartitionProduceResponse {
    let Ctx {
        broker,
        acks,
        now,
        version,
    } = *ctx;
    let config = log.config();
    let timestamp_bounds = (config.timestamp_type == TimestampType::CreateTime).then(|| {
        (
            effective_i64(
                "message.timestamp.before.max.ms",
                &meta.configs,
                &broker.config,
            ),
            effective_i64(
                "message.timestamp.after.max.ms",
                &meta.configs,
                &broker.config,
            ),
        )
    });
    let limits = Limits {
        max_message_bytes: config.max_message_bytes,
        segment_bytes: config.segment_bytes,
        now_ms: now,
        timestamp_bounds,
        version,
    };
    let header = match validate::produce_records(records, &limits) {
        Ok(h) => h,
        Err(r) => return error(resp, r.error, Some(r.message)),
    };
    if header.is_transactional() {
        return error(
            resp,
            ResponseError::InvalidTxnState,
            Some("transactional batches need a transaction coordinator, which this broker does not run".into()),
        );
    }
    let min_isr = effective_i64("min.insync.replicas", &meta.configs, &broker.config);
    if acks == -1 && (broker.replicas.isr_size(&meta.name, partition) as i64) < min_isr {
        return error(resp, ResponseError::NotEnoughReplicas, None);
    }
    let Some(bytes) = records else {
        return error(resp, ResponseError::InvalidRecord, None);
    };
    let appended = log.append_as_leader(bytes, leader_epoch, now);
    broker.replicas.after_leader_append(&meta.name, partition);
    match appended {
        Ok(info) => resp
            .with_base_offset(info.base_offset)
            .with_log_append_time_ms(info.log_append_time)
            .with_log_start_offset(info.log_start_offset),
        Err(e) => {
            let code = errors::storage_error(&e);
            if code == ResponseError::KafkaStorageError {
                log::error!("append to {}-{partition} failed: {e}", meta.name);
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

/// acks=all: answer once the high watermark covers the batch, or with an error when the
/// ISR shrank below `min.insync.replicas` or the request's timeout passed.
async fn await_replication(
    broker: &Broker,
    meta: Option<&TopicMeta>,
    log: &PartitionLog,
    last_offset: i64,
    timeout: Duration,
    resp: PartitionProduceResponse,
) -> PartitionProduceResponse {
    let partition = resp.index;
    if ReplicaManager::wait_replicated(log, last_offset, timeout).await {
        return resp;
    }
    let min_isr = meta.map_or(1, |m| {
        effective_i64("min.insync.replicas", &m.configs, &broker.config)
    });
    let isr = meta.map_or(0, |m| broker.replicas.isr_size(&m.name, partition)) as i64;
    let code = if isr < min_isr {
        ResponseError::NotEnoughReplicasAfterAppend
    } else {
        ResponseError::RequestTimedOut
    };
    error(resp, code, None)
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

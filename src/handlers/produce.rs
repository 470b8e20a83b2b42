//! Produce (key 0): validate each partition's batch, append it, answer per acks.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::{
    LeaderIdAndEpoch, NodeEndpoint, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{BrokerId, ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;

use crate::broker::{Broker, now_ms};
use crate::controller::TopicMeta;
use crate::protocol::validate::{self, Limits};
use crate::protocol::{Request, errors};
use crate::replication::manager::{ReplicaError, ReplicaManager};
use crate::storage::{AppendInfo, LogConfig, PartitionLog, TimestampType};
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
                Some(p) => await_replication(broker, &name, p, timeout, resp).await,
                None => resp,
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

/// A partition's response, and what its answer waits on when it must wait for
/// replication (acks=all).
type Appended = (PartitionProduceResponse, Option<Pending>);

/// An acks=all append waiting for the high watermark to pass its last offset.
struct Pending {
    log: Arc<PartitionLog>,
    last_offset: i64,
    /// `min.insync.replicas` when the batch was appended.
    min_isr: i64,
}

fn append(
    ctx: &Ctx<'_>,
    meta: &TopicMeta,
    partition: i32,
    records: Option<&bytes::Bytes>,
    resp: PartitionProduceResponse,
) -> Appended {
    let (log, leader_epoch) = match ctx.broker.leader_log(&meta.name, partition) {
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
    let config = log.config();
    match append_to(ctx, meta, partition, records, &log, &config, leader_epoch) {
        Ok(info) => {
            let resp = resp
                .with_base_offset(info.base_offset)
                .with_log_append_time_ms(info.log_append_time)
                .with_log_start_offset(info.log_start_offset);
            let pending = (ctx.acks == -1).then(|| Pending {
                log,
                last_offset: info.last_offset,
                min_isr: config.min_insync_replicas,
            });
            (resp, pending)
        }
        Err((code, message)) => (error(resp, code, message), None),
    }
}

/// Validates the partition's batch and appends it to `log` (whose config is `config`).
fn append_to(
    ctx: &Ctx<'_>,
    meta: &TopicMeta,
    partition: i32,
    records: Option<&bytes::Bytes>,
    log: &PartitionLog,
    config: &LogConfig,
    leader_epoch: i32,
) -> Result<AppendInfo, (ResponseError, Option<String>)> {
    let Ctx {
        broker,
        acks,
        now,
        version,
    } = *ctx;
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
    };
    let header =
        validate::produce_records(records, &limits).map_err(|r| (r.error, Some(r.message)))?;
    if header.is_transactional() {
        return Err((
            ResponseError::InvalidTxnState,
            Some("transactional batches need a transaction coordinator, which this broker does not run".into()),
        ));
    }
    if acks == -1
        && (broker.replicas.isr_size(&meta.name, partition) as i64) < config.min_insync_replicas
    {
        return Err((ResponseError::NotEnoughReplicas, None));
    }
    let Some(bytes) = records else {
        return Err((ResponseError::InvalidRecord, None));
    };
    let appended = log.append_as_leader(bytes, leader_epoch, now);
    broker.replicas.after_leader_append(&meta.name, partition);
    appended.map_err(|e| {
        let code = errors::storage_error(&e);
        if code == ResponseError::KafkaStorageError {
            log::error!("append to {}-{partition} failed: {e}", meta.name);
        }
        (code, Some(e.to_string()))
    })
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
    topic: &str,
    pending: Pending,
    timeout: Duration,
    resp: PartitionProduceResponse,
) -> PartitionProduceResponse {
    if ReplicaManager::wait_replicated(&pending.log, pending.last_offset, timeout).await {
        return resp;
    }
    let isr = broker.replicas.isr_size(topic, resp.index) as i64;
    let code = if isr < pending.min_isr {
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

//! Produce (key 0): validate each partition's batch, append it, answer per acks.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;

use crate::broker::{Broker, now_ms};
use crate::config::topic::effective_i64;
use crate::controller::TopicMeta;
use crate::protocol::validate::{self, Limits};
use crate::protocol::{Request, errors};
use crate::storage::TimestampType;

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
    let mut responses = Vec::with_capacity(msg.topic_data.len());
    for topic in msg.topic_data {
        let name = topic.name.0.as_str();
        let meta = broker.metadata.get(name);
        let partition_responses = topic
            .partition_data
            .into_iter()
            .map(|p| {
                let resp = PartitionProduceResponse::default().with_index(p.index);
                if !valid_acks {
                    return error(resp, ResponseError::InvalidRequiredAcks, None);
                }
                let Some(meta) = meta.as_ref() else {
                    return error(resp, ResponseError::UnknownTopicOrPartition, None);
                };
                append(&ctx, meta, p.index, p.records.as_ref(), resp)
            })
            .map(|r| {
                if version < 5 {
                    // log_start_offset only exists from v5; -1 is its default.
                    r.with_log_start_offset(-1)
                } else {
                    r
                }
            })
            .collect();
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
    Some(ProduceResponse::default().with_responses(responses))
}

/// What every partition of one produce request shares.
struct Ctx<'a> {
    broker: &'a Broker,
    acks: i16,
    now: i64,
    version: i16,
}

fn append(
    ctx: &Ctx<'_>,
    meta: &TopicMeta,
    partition: i32,
    records: Option<&bytes::Bytes>,
    resp: PartitionProduceResponse,
) -> PartitionProduceResponse {
    let Ctx {
        broker,
        acks,
        now,
        version,
    } = *ctx;
    let Some(log) = broker.partition(&meta.name, partition) else {
        return error(resp, ResponseError::UnknownTopicOrPartition, None);
    };
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
    // One replica is the whole ISR: acks=all cannot be satisfied above min.insync.replicas 1.
    if acks == -1 && effective_i64("min.insync.replicas", &meta.configs, &broker.config) > 1 {
        return error(resp, ResponseError::NotEnoughReplicas, None);
    }
    let Some(bytes) = records else {
        return error(resp, ResponseError::InvalidRecord, None);
    };
    match log.append(bytes::BytesMut::from(&bytes[..]), now) {
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

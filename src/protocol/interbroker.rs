//! The requests one broker sends another, in domain terms: a follower's Fetch (with its
//! `replica_id`) and OffsetForLeaderEpoch. This is the only place they are built and
//! read, so `replication` never sees a Kafka message.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::{
    ApiKey, BrokerId, FetchRequest, FetchResponse, OffsetForLeaderEpochRequest,
    OffsetForLeaderEpochResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::client::{BrokerClient, ClientError};

const FETCH_VERSION: i16 = 12;
const EPOCH_VERSION: i16 = 4;

/// Where a follower stands in one partition, for OffsetForLeaderEpoch.
#[derive(Debug, Clone)]
pub struct EpochQuery {
    pub topic: String,
    pub partition: i32,
    /// The leader epoch the follower follows (fences a stale leader).
    pub current_leader_epoch: i32,
    /// The latest epoch in the follower's log (-1: none).
    pub leader_epoch: i32,
}

/// The leader's answer for one partition: where `leader_epoch` ends in its log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochEnd {
    pub topic: String,
    pub partition: i32,
    /// `None`: answered; else the leader's refusal (Kafka's error name).
    pub error: Option<String>,
    pub leader_epoch: i32,
    pub end_offset: i64,
}

/// One partition of a follower fetch.
#[derive(Debug, Clone)]
pub struct FetchPosition {
    pub topic: String,
    pub partition: i32,
    pub current_leader_epoch: i32,
    pub fetch_offset: i64,
    pub log_start_offset: i64,
}

/// The leader's answer for one partition of a follower fetch.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub topic: String,
    pub partition: i32,
    pub outcome: FetchOutcome,
}

#[derive(Debug, Clone)]
pub enum FetchOutcome {
    /// Batches from the fetch offset (possibly none), with the leader's marks.
    Records {
        records: Option<Bytes>,
        high_watermark: i64,
        log_start_offset: i64,
    },
    /// The fetch offset is outside the leader's log, which starts at `log_start_offset`.
    OffsetOutOfRange { log_start_offset: i64 },
    /// Any other refusal (Kafka's error name), retried on the next round.
    Refused(String),
}

/// Groups items by topic, keeping the first-seen order of topics and of items.
fn by_topic<T>(items: &[T], topic: impl Fn(&T) -> &str) -> Vec<(String, Vec<&T>)> {
    let mut out: Vec<(String, Vec<&T>)> = Vec::new();
    for item in items {
        let t = topic(item);
        match out.iter_mut().find(|(name, _)| name == t) {
            Some((_, v)) => v.push(item),
            None => out.push((t.to_string(), vec![item])),
        }
    }
    out
}

fn error_name(code: i16) -> Option<String> {
    match ResponseError::try_from_code(code) {
        None if code == 0 => None,
        None => Some(format!("error code {code}")),
        Some(e) => Some(format!("{e:?}")),
    }
}

impl BrokerClient {
    /// OffsetForLeaderEpoch as replica `replica_id`.
    pub async fn offsets_for_leader_epoch(
        &mut self,
        replica_id: i32,
        queries: &[EpochQuery],
    ) -> Result<Vec<EpochEnd>, ClientError> {
        let topics = by_topic(queries, |q| &q.topic)
            .into_iter()
            .map(|(topic, qs)| {
                OffsetForLeaderTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(topic)))
                    .with_partitions(
                        qs.iter()
                            .map(|q| {
                                OffsetForLeaderPartition::default()
                                    .with_partition(q.partition)
                                    .with_current_leader_epoch(q.current_leader_epoch)
                                    .with_leader_epoch(q.leader_epoch)
                            })
                            .collect(),
                    )
            })
            .collect();
        let req = OffsetForLeaderEpochRequest::default()
            .with_replica_id(BrokerId(replica_id))
            .with_topics(topics);
        let resp: OffsetForLeaderEpochResponse = self
            .send(
                ApiKey::OffsetForLeaderEpoch,
                EPOCH_VERSION,
                &req,
                Duration::ZERO,
            )
            .await?;
        Ok(resp
            .topics
            .into_iter()
            .flat_map(|t| {
                let topic = t.topic.0.as_str().to_string();
                t.partitions.into_iter().map(move |p| EpochEnd {
                    topic: topic.clone(),
                    partition: p.partition,
                    error: error_name(p.error_code),
                    leader_epoch: p.leader_epoch,
                    end_offset: p.end_offset,
                })
            })
            .collect())
    }

    /// A follower fetch as replica `replica_id`: waits up to `max_wait` for data, reads
    /// at most `partition_max_bytes` per partition.
    pub async fn follower_fetch(
        &mut self,
        replica_id: i32,
        max_wait: Duration,
        partition_max_bytes: i32,
        positions: &[FetchPosition],
    ) -> Result<Vec<Fetched>, ClientError> {
        let topics = by_topic(positions, |p| &p.topic)
            .into_iter()
            .map(|(topic, ps)| {
                FetchTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(topic)))
                    .with_partitions(
                        ps.iter()
                            .map(|p| {
                                FetchPartition::default()
                                    .with_partition(p.partition)
                                    .with_current_leader_epoch(p.current_leader_epoch)
                                    .with_fetch_offset(p.fetch_offset)
                                    .with_log_start_offset(p.log_start_offset)
                                    .with_partition_max_bytes(partition_max_bytes)
                            })
                            .collect(),
                    )
            })
            .collect();
        let max_wait_ms = max_wait.as_millis().min(i32::MAX as u128) as i32;
        let req = FetchRequest::default()
            .with_replica_id(BrokerId(replica_id))
            .with_max_wait_ms(max_wait_ms)
            .with_min_bytes(1)
            .with_max_bytes(16 << 20)
            .with_session_id(0)
            .with_session_epoch(-1)
            .with_topics(topics);
        let resp: FetchResponse = self
            .send(ApiKey::Fetch, FETCH_VERSION, &req, max_wait)
            .await?;
        if let Some(e) = error_name(resp.error_code) {
            return Err(self.protocol_error(format!("fetch refused: {e}")));
        }
        Ok(resp
            .responses
            .into_iter()
            .flat_map(|t| {
                let topic = t.topic.0.as_str().to_string();
                t.partitions.into_iter().map(move |p| {
                    let outcome = match ResponseError::try_from_code(p.error_code) {
                        None if p.error_code == 0 => FetchOutcome::Records {
                            records: p.records,
                            high_watermark: p.high_watermark,
                            log_start_offset: p.log_start_offset,
                        },
                        Some(ResponseError::OffsetOutOfRange) => FetchOutcome::OffsetOutOfRange {
                            log_start_offset: p.log_start_offset,
                        },
                        _ => FetchOutcome::Refused(error_name(p.error_code).unwrap_or_default()),
                    };
                    Fetched {
                        topic: topic.clone(),
                        partition: p.partition_index,
                        outcome,
                    }
                })
            })
            .collect())
    }
}

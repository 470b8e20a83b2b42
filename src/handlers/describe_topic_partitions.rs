//! DescribeTopicPartitions (key 75): topics with their partitions' leaders, epochs,
//! replicas, ISR and offline replicas, paginated by a partition limit and a cursor
//! (what `kafka-topics.sh --describe` uses in Kafka 4.0).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use kafka_protocol::messages::{
    BrokerId, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::metadata::TOPIC_OPS_ALL;
use crate::broker::Broker;
use crate::controller::topic_name;
use crate::protocol::Request;

/// Kafka's `max.request.partition.size.limit` default.
const MAX_PARTITIONS: i32 = 2000;

pub async fn handle(
    broker: &Broker,
    _req: &Request,
    msg: DescribeTopicPartitionsRequest,
) -> DescribeTopicPartitionsResponse {
    let state = broker.metadata.snapshot();
    // Requested topics (all topics when none are named), in name order.
    let mut names: Vec<String> = if msg.topics.is_empty() {
        state.topics.keys().cloned().collect()
    } else {
        msg.topics
            .iter()
            .map(|t| t.name.0.as_str().to_string())
            .collect()
    };
    names.sort();
    names.dedup();
    let (mut first_topic, mut first_partition) = (0usize, 0i32);
    if let Some(c) = &msg.cursor {
        match names.iter().position(|n| n == c.topic_name.0.as_str()) {
            Some(i) if c.partition_index >= 0 => {
                first_topic = i;
                first_partition = c.partition_index;
            }
            _ => {
                // Kafka refuses a cursor outside the requested topics.
                return DescribeTopicPartitionsResponse::default().with_topics(vec![
                    DescribeTopicPartitionsResponseTopic::default()
                        .with_error_code(ResponseError::InvalidRequest.code())
                        .with_name(Some(c.topic_name.clone())),
                ]);
            }
        }
    }
    let mut budget = msg.response_partition_limit.clamp(1, MAX_PARTITIONS);
    let mut topics = Vec::new();
    let mut next_cursor = None;
    for (i, name) in names.iter().enumerate().skip(first_topic) {
        let base = DescribeTopicPartitionsResponseTopic::default()
            .with_name(Some(TopicName(StrBytes::from_string(name.clone()))))
            .with_is_internal(topic_name::is_internal(name))
            .with_topic_authorized_operations(TOPIC_OPS_ALL);
        let Some(t) = state.topics.get(name) else {
            let code = if topic_name::validate(name).is_err() {
                ResponseError::InvalidTopicException
            } else {
                ResponseError::UnknownTopicOrPartition
            };
            topics.push(base.with_error_code(code.code()));
            continue;
        };
        let start = if i == first_topic { first_partition } else { 0 };
        let mut partitions = Vec::new();
        for (p, info) in t.partitions.iter().enumerate().skip(start as usize) {
            if budget == 0 {
                next_cursor = Some(
                    Cursor::default()
                        .with_topic_name(TopicName(StrBytes::from_string(name.clone())))
                        .with_partition_index(p as i32),
                );
                break;
            }
            budget -= 1;
            let ids = |v: &[i32]| v.iter().map(|b| BrokerId(*b)).collect::<Vec<_>>();
            let offline: Vec<i32> = info
                .replicas
                .iter()
                .copied()
                .filter(|r| !state.is_live(*r))
                .collect();
            partitions.push(
                DescribeTopicPartitionsResponsePartition::default()
                    .with_error_code(if info.leader < 0 {
                        ResponseError::LeaderNotAvailable.code()
                    } else {
                        0
                    })
                    .with_partition_index(p as i32)
                    .with_leader_id(BrokerId(info.leader))
                    .with_leader_epoch(info.leader_epoch)
                    .with_replica_nodes(ids(&info.replicas))
                    .with_isr_nodes(ids(&info.isr))
                    .with_eligible_leader_replicas(Some(Vec::new()))
                    .with_last_known_elr(Some(Vec::new()))
                    .with_offline_replicas(ids(&offline)),
            );
        }
        topics.push(base.with_topic_id(t.id).with_partitions(partitions));
        if next_cursor.is_some() {
            break;
        }
    }
    DescribeTopicPartitionsResponse::default()
        .with_topics(topics)
        .with_next_cursor(next_cursor)
}

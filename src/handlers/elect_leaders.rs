//! ElectLeaders (key 43, v0–v2): preferred (v0, or election_type 0) and unclean (1)
//! leader elections. Decode → `Broker::elect_leaders` → encode.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::broker::{Broker, ElectError};
use crate::controller::quorum::{ElectionRefusal, ElectionType};
use crate::protocol::Request;

pub async fn handle(
    broker: &Broker,
    req: &Request,
    msg: ElectLeadersRequest,
) -> ElectLeadersResponse {
    let election = match (req.version, msg.election_type) {
        (0, _) | (_, 0) => ElectionType::Preferred,
        (_, 1) => ElectionType::Unclean,
        _ => {
            return ElectLeadersResponse::default()
                .with_error_code(ResponseError::InvalidRequest.code());
        }
    };
    let partitions = msg.topic_partitions.map(|ts| {
        ts.iter()
            .flat_map(|t| {
                let name = t.topic.0.as_str().to_string();
                t.partitions.iter().map(move |p| (name.clone(), *p))
            })
            .collect()
    });
    let timeout = Duration::from_millis(msg.timeout_ms.max(0) as u64);
    let mut by_topic: BTreeMap<String, Vec<PartitionResult>> = BTreeMap::new();
    for ((topic, partition), outcome) in broker.elect_leaders(partitions, election, timeout).await {
        let (code, message) = match outcome {
            Ok(()) => (0, None),
            Err(e) => {
                let (code, message) = elect_error(&e);
                (code.code(), message.map(StrBytes::from_string))
            }
        };
        by_topic.entry(topic).or_default().push(
            PartitionResult::default()
                .with_partition_id(partition)
                .with_error_code(code)
                .with_error_message(message),
        );
    }
    ElectLeadersResponse::default().with_replica_election_results(
        by_topic
            .into_iter()
            .map(|(topic, results)| {
                ReplicaElectionResult::default()
                    .with_topic(TopicName(StrBytes::from_string(topic)))
                    .with_partition_result(results)
            })
            .collect(),
    )
}

/// The Kafka error of a partition's election, with a message where Kafka sends one.
fn elect_error(e: &ElectError) -> (ResponseError, Option<String>) {
    match e {
        ElectError::Refused(r) => (
            match r {
                ElectionRefusal::UnknownPartition => ResponseError::UnknownTopicOrPartition,
                ElectionRefusal::NotNeeded => ResponseError::ElectionNotNeeded,
                ElectionRefusal::PreferredNotAvailable => {
                    ResponseError::PreferredLeaderNotAvailable
                }
                ElectionRefusal::EligibleNotAvailable => ResponseError::EligibleLeadersNotAvailable,
            },
            None,
        ),
        ElectError::Timeout => (ResponseError::RequestTimedOut, None),
        ElectError::Metadata(m) => (ResponseError::UnknownServerError, Some(m.clone())),
    }
}

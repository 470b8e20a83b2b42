//! OffsetCommit (key 8): group members and standalone consumers (generation -1).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use super::errors;
use super::groups::{coordinator_loaded, now, opt_str};
use crate::broker::Broker;
use crate::coordinator::records::OffsetValue;
use crate::protocol::Request;

pub async fn handle(
    broker: &Broker,
    req: &Request,
    msg: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let now = now();
    // Partitions of unknown topics are refused one by one; the rest go to the coordinator.
    let mut commits = Vec::new();
    for t in &msg.topics {
        for p in &t.partitions {
            if broker.partition_exists(t.name.0.as_str(), p.partition_index) {
                let value = OffsetValue {
                    offset: p.committed_offset,
                    leader_epoch: if req.version >= 6 {
                        p.committed_leader_epoch
                    } else {
                        -1
                    },
                    metadata: opt_str(&p.committed_metadata).unwrap_or_default(),
                    commit_timestamp: now,
                };
                commits.push(((t.name.0.as_str().to_string(), p.partition_index), value));
            }
        }
    }
    let outcome = coordinator_loaded(broker, msg.group_id.0.as_str())
        .await
        .and_then(|()| {
            broker.groups.commit(
                msg.group_id.0.as_str(),
                msg.member_id.as_str(),
                opt_str(&msg.group_instance_id).as_deref(),
                msg.generation_id_or_member_epoch,
                commits.clone(),
                now,
            )
        });
    // Answered once the offsets are replicated, as Kafka does.
    let outcome = broker.group_outcome_committed(outcome).await;
    let code_for = |topic: &str, partition: i32| -> i16 {
        let Some(i) = commits
            .iter()
            .position(|((t, p), _)| t == topic && *p == partition)
        else {
            return ResponseError::UnknownTopicOrPartition.code();
        };
        match &outcome {
            Err(e) => errors::group_error(e).code(),
            Ok(results) => errors::group_code(results.get(i).and_then(|r| r.as_ref().err())),
        }
    };
    let topics = msg
        .topics
        .iter()
        .map(|t| {
            let name = t.name.0.as_str();
            OffsetCommitResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(
                    t.partitions
                        .iter()
                        .map(|p| {
                            OffsetCommitResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(code_for(name, p.partition_index))
                        })
                        .collect(),
                )
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}

//! OffsetDelete (key 47): removes committed offsets of topics the group does not consume.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use super::errors;
use super::groups::{coordinator_loaded, now};
use crate::broker::Broker;
use crate::protocol::Request;

pub async fn handle(
    broker: &Broker,
    _req: &Request,
    msg: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    let known: Vec<(String, i32)> = msg
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.0.as_str().to_string(), p.partition_index))
        })
        .filter(|(t, p)| broker.partition_exists(t, *p))
        .collect();
    let outcome = coordinator_loaded(broker, msg.group_id.0.as_str())
        .await
        .and_then(|()| {
            broker
                .groups
                .delete_offsets(msg.group_id.0.as_str(), &known, now())
        });
    let outcome = broker.group_outcome_committed(outcome).await;
    let results = match outcome {
        Err(e) => {
            return OffsetDeleteResponse::default().with_error_code(errors::group_error(&e).code());
        }
        Ok(r) => r,
    };
    let topics = msg
        .topics
        .iter()
        .map(|t| {
            let name = t.name.0.as_str();
            OffsetDeleteResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(
                    t.partitions
                        .iter()
                        .map(|p| {
                            let code = match known
                                .iter()
                                .position(|(kt, kp)| kt == name && *kp == p.partition_index)
                            {
                                None => ResponseError::UnknownTopicOrPartition.code(),
                                Some(i) => errors::group_code(
                                    results.get(i).and_then(|r| r.as_ref().err()),
                                ),
                            };
                            OffsetDeleteResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(code)
                        })
                        .collect(),
                )
        })
        .collect();
    OffsetDeleteResponse::default().with_topics(topics)
}

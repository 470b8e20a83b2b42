//! CreatePartitions (key 37): raise a topic's partition count.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};
use kafka_protocol::protocol::StrBytes;

use super::errors;
use crate::broker::Broker;
use crate::protocol::Request;

pub async fn handle(
    broker: &Broker,
    _req: &Request,
    msg: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let duplicates = super::repeated_names(msg.topics.iter().map(|t| t.name.0.as_str()));
    let mut results = Vec::with_capacity(msg.topics.len());
    for t in msg.topics {
        let name = t.name.0.as_str().to_string();
        let base = CreatePartitionsTopicResult::default().with_name(t.name.clone());
        if duplicates.contains(&name) {
            results.push(
                base.with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(StrBytes::from_static_str(
                        "Duplicate topic in request.",
                    ))),
            );
            continue;
        }
        let assignments: Vec<Vec<i32>> = t
            .assignments
            .unwrap_or_default()
            .iter()
            .map(|a| a.broker_ids.iter().map(|b| b.0).collect())
            .collect();
        let r = match broker
            .create_partitions(&name, t.count, &assignments, msg.validate_only)
            .await
        {
            Ok(()) => base,
            Err(e) => base
                .with_error_code(errors::topic_error(&e).code())
                .with_error_message(Some(StrBytes::from_string(e.to_string()))),
        };
        results.push(r);
    }
    CreatePartitionsResponse::default().with_results(results)
}

//! DeleteTopics (key 20): by name (all versions) and by topic id (v6+).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::errors;
use crate::broker::Broker;
use crate::protocol::Request;

pub async fn handle(
    broker: &Broker,
    req: &Request,
    msg: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    // v0-5 carry plain names; v6+ carry (name or id) states.
    let targets: Vec<(Option<String>, Uuid)> = if req.version >= 6 {
        msg.topics
            .into_iter()
            .map(|t| (t.name.map(|n| n.0.as_str().to_string()), t.topic_id))
            .collect()
    } else {
        msg.topic_names
            .into_iter()
            .map(|n| (Some(n.0.as_str().to_string()), Uuid::nil()))
            .collect()
    };
    let mut responses = Vec::with_capacity(targets.len());
    for (name, id) in targets {
        responses.push(delete_one(broker, name, id).await);
    }
    DeleteTopicsResponse::default().with_responses(responses)
}

async fn delete_one(broker: &Broker, name: Option<String>, id: Uuid) -> DeletableTopicResult {
    let topic_name = |n: &str| Some(TopicName(StrBytes::from_string(n.to_string())));
    let (name, unknown) = match name {
        Some(n) => (n, ResponseError::UnknownTopicOrPartition),
        None => match broker.metadata.get_by_id(id) {
            Some(meta) if !id.is_nil() => (meta.name, ResponseError::UnknownTopicId),
            _ => {
                return DeletableTopicResult::default()
                    .with_topic_id(id)
                    .with_error_code(ResponseError::UnknownTopicId.code());
            }
        },
    };
    match broker.delete_topic(&name).await {
        Ok(meta) => DeletableTopicResult::default()
            .with_name(topic_name(&name))
            .with_topic_id(meta.id),
        Err(e) => {
            let code = match errors::topic_error(&e) {
                ResponseError::UnknownTopicOrPartition => unknown,
                other => other,
            };
            DeletableTopicResult::default()
                .with_name(topic_name(&name))
                .with_topic_id(id)
                .with_error_code(code.code())
                .with_error_message(Some(StrBytes::from_string(e.to_string())))
        }
    }
}

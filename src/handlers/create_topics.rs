//! CreateTopics (key 19): validation, validate_only, configs, explicit assignments.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::protocol::StrBytes;

use super::errors;
use crate::broker::{Broker, NewTopic};
use crate::config::topic::{self as topic_config};
use crate::protocol::Request;

pub async fn handle(
    broker: &Broker,
    req: &Request,
    msg: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let duplicates = super::repeated_names(msg.topics.iter().map(|t| t.name.0.as_str()));
    let mut results = Vec::with_capacity(msg.topics.len());
    for t in msg.topics {
        let name = t.name.0.as_str().to_string();
        // Kafka answers a created topic with a null error message (the crate's default is "").
        let base = CreatableTopicResult::default()
            .with_name(t.name.clone())
            .with_error_message(None);
        if duplicates.contains(&name) {
            results.push(
                base.with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(StrBytes::from_string(format!(
                        "Create topics request contains multiple entries for the following topics: {name}"
                    )))),
            );
            continue;
        }
        let new_topic = NewTopic {
            name: name.clone(),
            num_partitions: t.num_partitions,
            replication_factor: t.replication_factor,
            assignments: t
                .assignments
                .iter()
                .map(|a| {
                    (
                        a.partition_index,
                        a.broker_ids.iter().map(|b| b.0).collect(),
                    )
                })
                .collect(),
            configs: t
                .configs
                .iter()
                .map(|c| {
                    (
                        c.name.as_str().to_string(),
                        c.value.as_ref().map(|v| v.as_str().to_string()),
                    )
                })
                .collect(),
        };
        let result = match broker.create_topic(&new_topic, msg.validate_only).await {
            Ok(meta) if req.version >= 5 => {
                let mut r = base
                    .with_num_partitions(meta.partitions)
                    .with_replication_factor(meta.replication_factor)
                    .with_configs(Some(effective_configs(broker, &meta.configs)));
                if !msg.validate_only && req.version >= 7 {
                    r = r.with_topic_id(meta.id);
                }
                r
            }
            Ok(_) => base,
            Err(e) => base
                .with_error_code(errors::topic_error(&e).code())
                .with_error_message(Some(StrBytes::from_string(e.to_string()))),
        };
        results.push(result);
    }
    CreateTopicsResponse::default().with_topics(results)
}

/// Every topic config with its effective value and source, as CreateTopics v5+ reports it.
fn effective_configs(
    broker: &Broker,
    overrides: &BTreeMap<String, String>,
) -> Vec<CreatableTopicConfigs> {
    let config = broker.effective_config();
    topic_config::TOPIC_CONFIGS
        .iter()
        .map(|def| {
            let r = topic_config::resolve(def, overrides, &config);
            CreatableTopicConfigs::default()
                .with_name(StrBytes::from_static_str(def.name))
                .with_value(Some(StrBytes::from_string(r.value)))
                .with_config_source(r.source as i8)
        })
        .collect()
}

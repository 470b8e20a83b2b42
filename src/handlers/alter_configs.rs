//! AlterConfigs (key 33: the given configs replace a resource's overrides) and
//! IncrementalAlterConfigs (key 44: SET, DELETE, APPEND, SUBTRACT per key). Per resource:
//! the new overrides are computed (`config::alter`), validated and committed by the
//! broker (`Broker::alter_topic_configs`, `Broker::alter_broker_configs`).

use std::collections::HashMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse, alter_configs_response, incremental_alter_configs_response,
};
use kafka_protocol::protocol::StrBytes;

use super::errors;
use crate::broker::Broker;
use crate::config::alter::{self, ConfigChangeError, ConfigOp, ConfigSchema};
use crate::protocol::Request;

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;

/// What a request asks for one resource.
enum Change {
    Incremental(Vec<(String, ConfigOp)>),
    Replace(Vec<(String, Option<String>)>),
}

impl Change {
    fn apply(
        &self,
        current: &std::collections::BTreeMap<String, String>,
        schema: &dyn ConfigSchema,
    ) -> Result<std::collections::BTreeMap<String, String>, ConfigChangeError> {
        match self {
            Change::Incremental(ops) => alter::apply_incremental(current, ops, schema),
            Change::Replace(configs) => alter::apply_replacement(configs),
        }
    }
}

type Outcome = Result<(), (ResponseError, String)>;

fn string(s: &StrBytes) -> String {
    s.as_str().to_string()
}

/// Resources named more than once are refused (each occurrence), as Kafka does.
fn repeated(resources: impl Iterator<Item = (i8, String)>) -> HashMap<(i8, String), usize> {
    let mut counts = HashMap::new();
    for r in resources {
        *counts.entry(r).or_insert(0) += 1;
    }
    counts
}

async fn alter_resource(
    broker: &Broker,
    resource_type: i8,
    name: &str,
    change: Result<Change, String>,
    validate_only: bool,
) -> Outcome {
    let change = change.map_err(|m| (ResponseError::InvalidRequest, m))?;
    match resource_type {
        RESOURCE_TOPIC => broker
            .alter_topic_configs(
                name,
                |current| change.apply(current, &crate::config::topic::TopicSchema),
                validate_only,
            )
            .await
            .map_err(|e| (errors::topic_error(&e), e.to_string())),
        RESOURCE_BROKER => broker
            .alter_broker_configs(
                name,
                |current| change.apply(current, &crate::config::dynamic::BrokerSchema),
                validate_only,
            )
            .await
            .map_err(|e| (errors::topic_error(&e), e.to_string())),
        8 | 16 | 32 => Err((
            ResponseError::InvalidRequest,
            format!("vltava keeps no configs of resource type {resource_type}"),
        )),
        t => Err((
            ResponseError::InvalidRequest,
            format!("Unknown resource type {t}"),
        )),
    }
}

fn error_fields(outcome: &Outcome) -> (i16, Option<StrBytes>) {
    match outcome {
        // Kafka sends a null message with NONE.
        Ok(()) => (0, None),
        Err((code, message)) => (code.code(), Some(StrBytes::from_string(message.clone()))),
    }
}

pub async fn incremental(
    broker: &Broker,
    _req: &Request,
    msg: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let counts = repeated(
        msg.resources
            .iter()
            .map(|r| (r.resource_type, string(&r.resource_name))),
    );
    let mut responses = Vec::with_capacity(msg.resources.len());
    for r in &msg.resources {
        let name = string(&r.resource_name);
        let outcome = if counts[&(r.resource_type, name.clone())] > 1 {
            Err((
                ResponseError::InvalidRequest,
                "Each resource must appear at most once.".into(),
            ))
        } else {
            let ops = r
                .configs
                .iter()
                .map(|c| {
                    let value = c.value.as_ref().map(string);
                    ConfigOp::from_wire(c.config_operation, value)
                        .map(|op| (string(&c.name), op))
                        .ok_or_else(|| {
                            format!("Unknown alter config operation {}", c.config_operation)
                        })
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Change::Incremental);
            alter_resource(broker, r.resource_type, &name, ops, msg.validate_only).await
        };
        let (code, message) = error_fields(&outcome);
        responses.push(
            incremental_alter_configs_response::AlterConfigsResourceResponse::default()
                .with_error_code(code)
                .with_error_message(message)
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone()),
        );
    }
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

pub async fn legacy(
    broker: &Broker,
    _req: &Request,
    msg: AlterConfigsRequest,
) -> AlterConfigsResponse {
    let counts = repeated(
        msg.resources
            .iter()
            .map(|r| (r.resource_type, string(&r.resource_name))),
    );
    let mut responses = Vec::with_capacity(msg.resources.len());
    for r in &msg.resources {
        let name = string(&r.resource_name);
        let outcome = if counts[&(r.resource_type, name.clone())] > 1 {
            Err((
                ResponseError::InvalidRequest,
                "Each resource must appear at most once.".into(),
            ))
        } else {
            let configs = r
                .configs
                .iter()
                .map(|c| (string(&c.name), c.value.as_ref().map(string)))
                .collect();
            let change = Ok(Change::Replace(configs));
            alter_resource(broker, r.resource_type, &name, change, msg.validate_only).await
        };
        let (code, message) = error_fields(&outcome);
        responses.push(
            alter_configs_response::AlterConfigsResourceResponse::default()
                .with_error_code(code)
                .with_error_message(message)
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone()),
        );
    }
    AlterConfigsResponse::default().with_responses(responses)
}

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

/// Alters every resource of a request, in order: a resource named twice is refused (each
/// time), the others are changed one after another.
async fn alter_all(
    broker: &Broker,
    resources: Vec<(i8, StrBytes, Result<Change, String>)>,
    validate_only: bool,
) -> Vec<(i8, StrBytes, Outcome)> {
    let counts = repeated(resources.iter().map(|(t, n, _)| (*t, string(n))));
    let mut out = Vec::with_capacity(resources.len());
    for (resource_type, name, change) in resources {
        let outcome = if counts[&(resource_type, string(&name))] > 1 {
            Err((
                ResponseError::InvalidRequest,
                "Each resource must appear at most once.".into(),
            ))
        } else {
            alter_resource(broker, resource_type, name.as_str(), change, validate_only).await
        };
        out.push((resource_type, name, outcome));
    }
    out
}

pub async fn incremental(
    broker: &Broker,
    _req: &Request,
    msg: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let resources = msg
        .resources
        .into_iter()
        .map(|r| {
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
            (r.resource_type, r.resource_name, ops)
        })
        .collect();
    let responses = alter_all(broker, resources, msg.validate_only)
        .await
        .into_iter()
        .map(|(resource_type, name, outcome)| {
            let (code, message) = error_fields(&outcome);
            incremental_alter_configs_response::AlterConfigsResourceResponse::default()
                .with_error_code(code)
                .with_error_message(message)
                .with_resource_type(resource_type)
                .with_resource_name(name)
        })
        .collect();
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

pub async fn legacy(
    broker: &Broker,
    _req: &Request,
    msg: AlterConfigsRequest,
) -> AlterConfigsResponse {
    let resources = msg
        .resources
        .into_iter()
        .map(|r| {
            let configs = r
                .configs
                .iter()
                .map(|c| (string(&c.name), c.value.as_ref().map(string)))
                .collect();
            (
                r.resource_type,
                r.resource_name,
                Ok(Change::Replace(configs)),
            )
        })
        .collect();
    let responses = alter_all(broker, resources, msg.validate_only)
        .await
        .into_iter()
        .map(|(resource_type, name, outcome)| {
            let (code, message) = error_fields(&outcome);
            alter_configs_response::AlterConfigsResourceResponse::default()
                .with_error_code(code)
                .with_error_message(message)
                .with_resource_type(resource_type)
                .with_resource_name(name)
        })
        .collect();
    AlterConfigsResponse::default().with_responses(responses)
}

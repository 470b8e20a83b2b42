//! DescribeConfigs (key 32): topic configs (with sources and synonyms) and the broker
//! configs vltava has, with Kafka's defaults.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::config::topic::{self as topic_config, ConfigSource, ConfigType};
use crate::config::{docs, dynamic};
use crate::controller::topic_name;
use crate::protocol::Request;

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;

/// Broker configs vltava honours, with their types and Kafka's defaults (`None`: null).
const BROKER_CONFIGS: &[(&str, ConfigType, Option<&str>)] = &[
    ("advertised.listeners", ConfigType::String, None),
    (
        "auto.create.topics.enable",
        ConfigType::Boolean,
        Some("true"),
    ),
    ("broker.id", ConfigType::Int, Some("-1")),
    ("compression.gzip.level", ConfigType::Int, Some("-1")),
    ("compression.lz4.level", ConfigType::Int, Some("9")),
    ("compression.type", ConfigType::String, Some("producer")),
    ("compression.zstd.level", ConfigType::Int, Some("3")),
    ("default.replication.factor", ConfigType::Int, Some("1")),
    ("delete.topic.enable", ConfigType::Boolean, Some("true")),
    (
        "listeners",
        ConfigType::String,
        Some("PLAINTEXT://127.0.0.1:9092"),
    ),
    ("log.cleaner.backoff.ms", ConfigType::Long, Some("15000")),
    (
        "log.cleaner.dedupe.buffer.size",
        ConfigType::Long,
        Some("134217728"),
    ),
    (
        "log.cleaner.delete.retention.ms",
        ConfigType::Long,
        Some("86400000"),
    ),
    ("log.cleaner.enable", ConfigType::Boolean, Some("true")),
    (
        "log.cleaner.io.buffer.load.factor",
        ConfigType::Double,
        Some("0.9"),
    ),
    (
        "log.cleaner.io.buffer.size",
        ConfigType::Int,
        Some("524288"),
    ),
    (
        "log.cleaner.io.max.bytes.per.second",
        ConfigType::Double,
        Some("1.7976931348623157E308"),
    ),
    (
        "log.cleaner.max.compaction.lag.ms",
        ConfigType::Long,
        Some("9223372036854775807"),
    ),
    (
        "log.cleaner.min.cleanable.ratio",
        ConfigType::Double,
        Some("0.5"),
    ),
    (
        "log.cleaner.min.compaction.lag.ms",
        ConfigType::Long,
        Some("0"),
    ),
    ("log.cleaner.threads", ConfigType::Int, Some("1")),
    ("log.cleanup.policy", ConfigType::List, Some("delete")),
    ("log.dir", ConfigType::String, Some("/tmp/vltava-logs")),
    ("log.dirs", ConfigType::String, None),
    (
        "log.flush.interval.messages",
        ConfigType::Long,
        Some("9223372036854775807"),
    ),
    ("log.flush.interval.ms", ConfigType::Long, None),
    (
        "log.flush.scheduler.interval.ms",
        ConfigType::Long,
        Some("9223372036854775807"),
    ),
    ("log.index.interval.bytes", ConfigType::Int, Some("4096")),
    (
        "log.message.timestamp.type",
        ConfigType::String,
        Some("CreateTime"),
    ),
    ("log.retention.bytes", ConfigType::Long, Some("-1")),
    (
        "log.retention.check.interval.ms",
        ConfigType::Long,
        Some("300000"),
    ),
    ("log.retention.hours", ConfigType::Int, Some("168")),
    ("log.retention.minutes", ConfigType::Int, None),
    ("log.retention.ms", ConfigType::Long, None),
    ("log.roll.hours", ConfigType::Int, Some("168")),
    ("log.roll.ms", ConfigType::Long, None),
    ("log.segment.bytes", ConfigType::Int, Some("1073741824")),
    (
        "log.segment.delete.delay.ms",
        ConfigType::Long,
        Some("60000"),
    ),
    ("message.max.bytes", ConfigType::Int, Some("1048588")),
    ("node.id", ConfigType::Int, Some("-1")),
    ("num.partitions", ConfigType::Int, Some("1")),
    (
        "socket.request.max.bytes",
        ConfigType::Int,
        Some("104857600"),
    ),
];

pub async fn handle(
    broker: &Broker,
    req: &Request,
    msg: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let include = Include {
        synonyms: msg.include_synonyms,
        documentation: msg.include_documentation,
    };
    let results = msg
        .resources
        .into_iter()
        .map(|r| {
            let keys: Option<Vec<String>> = r
                .configuration_keys
                .as_ref()
                .map(|ks| ks.iter().map(|k| k.as_str().to_string()).collect());
            // Null or an empty list: every config (as Kafka's ConfigHelper does).
            let wanted = |name: &str| {
                keys.as_ref()
                    .is_none_or(|ks| ks.is_empty() || ks.iter().any(|k| k == name))
            };
            let base = DescribeConfigsResult::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone());
            let name = r.resource_name.as_str();
            let outcome = match r.resource_type {
                RESOURCE_TOPIC => topic(broker, name, &wanted, include),
                RESOURCE_BROKER => broker_configs(broker, name, &wanted, include),
                t => Err((
                    ResponseError::InvalidRequest,
                    format!("Unsupported resource type {t} for DescribeConfigs"),
                )),
            };
            match outcome {
                Ok(configs) if req.version < 3 => base
                    .with_configs(configs.into_iter().map(|c| c.with_config_type(0)).collect())
                    .with_error_message(Some(StrBytes::default())),
                Ok(configs) => base
                    .with_configs(configs)
                    .with_error_message(Some(StrBytes::default())),
                Err((code, message)) => base
                    .with_error_code(code.code())
                    .with_error_message(Some(StrBytes::from_string(message))),
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

type Outcome = Result<Vec<DescribeConfigsResourceResult>, (ResponseError, String)>;

/// The optional parts of each config entry the request asks for.
#[derive(Clone, Copy)]
struct Include {
    synonyms: bool,
    /// v3+; always false in older versions.
    documentation: bool,
}

fn topic(broker: &Broker, name: &str, wanted: &dyn Fn(&str) -> bool, include: Include) -> Outcome {
    if let Err(e) = topic_name::validate(name) {
        return Err((ResponseError::InvalidTopicException, e));
    }
    let Some(meta) = broker.metadata.get(name) else {
        return Err((
            ResponseError::UnknownTopicOrPartition,
            format!("Topic {name} does not exist."),
        ));
    };
    let config = broker.effective_config();
    Ok(topic_config::TOPIC_CONFIGS
        .iter()
        .filter(|d| wanted(d.name))
        .map(|d| {
            let r = topic_config::resolve(d, &meta.configs, &config);
            let mut entry = entry(d.name, Some(r.value), r.source, d.kind, false, include);
            if include.synonyms {
                entry.synonyms = r
                    .synonyms
                    .into_iter()
                    .map(|(n, v, s)| {
                        DescribeConfigsSynonym::default()
                            .with_name(StrBytes::from_string(n))
                            .with_value(Some(StrBytes::from_string(v)))
                            .with_source(s as i8)
                    })
                    .collect();
            }
            entry
        })
        .collect())
}

fn broker_configs(
    broker: &Broker,
    name: &str,
    wanted: &dyn Fn(&str) -> bool,
    include: Include,
) -> Outcome {
    let id = broker.node_id().to_string();
    if !name.is_empty() && name != id {
        return Err((
            ResponseError::InvalidRequest,
            format!("Unexpected broker id, expected {id} or empty string, but received {name}"),
        ));
    }
    let config = broker.effective_config();
    let layers = &config.dynamic;
    // The cluster-default resource shows the configs set for every broker; a broker's
    // own resource every config, from the most specific layer that sets it.
    let keys: Vec<(String, ConfigType, Option<&str>)> = if name.is_empty() {
        layers
            .cluster_default
            .keys()
            .map(|k| (k.clone(), dynamic_type(k), None))
            .collect()
    } else {
        let mut keys: Vec<_> = BROKER_CONFIGS
            .iter()
            .map(|(n, kind, default)| (n.to_string(), *kind, *default))
            .collect();
        for k in layers
            .this_broker
            .keys()
            .chain(layers.cluster_default.keys())
        {
            if !keys.iter().any(|(n, _, _)| n == k) {
                keys.push((k.clone(), dynamic_type(k), None));
            }
        }
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        keys
    };
    Ok(keys
        .into_iter()
        .filter(|(n, _, _)| wanted(n))
        .map(|(n, kind, default)| {
            let mut found: Vec<(String, ConfigSource)> = Vec::new();
            if !name.is_empty() {
                found.extend(
                    layers
                        .this_broker
                        .get(&n)
                        .map(|v| (v.clone(), ConfigSource::DynamicBroker)),
                );
            }
            found.extend(
                layers
                    .cluster_default
                    .get(&n)
                    .map(|v| (v.clone(), ConfigSource::DynamicDefaultBroker)),
            );
            if !name.is_empty() {
                found.extend(
                    config
                        .explicit
                        .get(&n)
                        .map(|v| (v.clone(), ConfigSource::StaticBroker)),
                );
                found.extend(default.map(|d| (d.to_string(), ConfigSource::Default)));
            }
            let (value, source) = found
                .first()
                .map(|(v, s)| (Some(v.clone()), *s))
                .unwrap_or((None, ConfigSource::Default));
            let read_only = !dynamic::is_dynamic(&n);
            let mut e = entry(&n, value.clone(), source, kind, read_only, include);
            if include.synonyms {
                let synonyms = if found.is_empty() {
                    vec![(None, source)]
                } else {
                    found.into_iter().map(|(v, s)| (Some(v), s)).collect()
                };
                e.synonyms = synonyms
                    .into_iter()
                    .map(|(v, s)| {
                        DescribeConfigsSynonym::default()
                            .with_name(StrBytes::from_string(n.clone()))
                            .with_value(v.map(StrBytes::from_string))
                            .with_source(s as i8)
                    })
                    .collect();
            }
            e
        })
        .collect())
}

/// The type of a dynamic broker key that the broker table does not list: its topic
/// config's type.
fn dynamic_type(key: &str) -> ConfigType {
    if let Some((_, kind, _)) = BROKER_CONFIGS.iter().find(|(n, _, _)| *n == key) {
        return *kind;
    }
    topic_config::TOPIC_CONFIGS
        .iter()
        .find(|d| d.broker_key == Some(key))
        .map_or(ConfigType::Long, |d| d.kind)
}

fn entry(
    name: &str,
    value: Option<String>,
    source: ConfigSource,
    kind: ConfigType,
    read_only: bool,
    include: Include,
) -> DescribeConfigsResourceResult {
    // Kafka sends null unless documentation is asked for (the crate's default is "").
    let documentation = include
        .documentation
        .then(|| docs::documentation(name))
        .flatten()
        .map(StrBytes::from_static_str);
    DescribeConfigsResourceResult::default()
        .with_name(StrBytes::from_string(name.to_string()))
        .with_value(value.map(StrBytes::from_string))
        .with_read_only(read_only)
        .with_config_source(source as i8)
        .with_config_type(kind as i8)
        .with_documentation(documentation)
}

#[cfg(test)]
mod tests {
    use super::BROKER_CONFIGS;
    use crate::config::docs::documentation;

    #[test]
    fn every_broker_config_is_documented() {
        for (name, _, _) in BROKER_CONFIGS {
            assert!(documentation(name).is_some(), "{name}");
        }
    }
}

//! Topic-level configs: names, types, defaults (from the broker's config), validation,
//! and the mapping onto the storage layer's `LogConfig`.

use std::collections::BTreeMap;

use super::BrokerConfig;
use crate::storage::Compression;
use crate::storage::{LogConfig, TimestampType};

/// Kafka's config value types, as DescribeConfigs (v3+) reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    Boolean = 1,
    String = 2,
    Int = 3,
    Long = 5,
    Double = 6,
    List = 7,
}

/// One topic config: its name, the broker key it falls back to, and its type.
pub struct TopicConfigDef {
    pub name: &'static str,
    /// The broker config that supplies the default (a synonym in DescribeConfigs).
    pub broker_key: Option<&'static str>,
    pub kind: ConfigType,
    /// Kafka's default when neither the topic nor the broker sets it.
    pub default: &'static str,
}

const fn def(
    name: &'static str,
    broker_key: Option<&'static str>,
    kind: ConfigType,
    default: &'static str,
) -> TopicConfigDef {
    TopicConfigDef {
        name,
        broker_key,
        kind,
        default,
    }
}

const BOOLEAN: ConfigType = ConfigType::Boolean;
const STRING: ConfigType = ConfigType::String;
const INT: ConfigType = ConfigType::Int;
const LONG: ConfigType = ConfigType::Long;
const DOUBLE: ConfigType = ConfigType::Double;
const LIST: ConfigType = ConfigType::List;

/// Every topic config Apache Kafka 4.0 knows, in its alphabetical order.
pub const TOPIC_CONFIGS: &[TopicConfigDef] = &[
    def("cleanup.policy", Some("log.cleanup.policy"), LIST, "delete"),
    def(
        "compression.gzip.level",
        Some("compression.gzip.level"),
        INT,
        "-1",
    ),
    def(
        "compression.lz4.level",
        Some("compression.lz4.level"),
        INT,
        "9",
    ),
    def(
        "compression.type",
        Some("compression.type"),
        STRING,
        "producer",
    ),
    def(
        "compression.zstd.level",
        Some("compression.zstd.level"),
        INT,
        "3",
    ),
    def(
        "delete.retention.ms",
        Some("log.cleaner.delete.retention.ms"),
        LONG,
        "86400000",
    ),
    def(
        "file.delete.delay.ms",
        Some("log.segment.delete.delay.ms"),
        LONG,
        "60000",
    ),
    def(
        "flush.messages",
        Some("log.flush.interval.messages"),
        LONG,
        "9223372036854775807",
    ),
    def(
        "flush.ms",
        Some("log.flush.interval.ms"),
        LONG,
        "9223372036854775807",
    ),
    def("follower.replication.throttled.replicas", None, LIST, ""),
    def(
        "index.interval.bytes",
        Some("log.index.interval.bytes"),
        INT,
        "4096",
    ),
    def("leader.replication.throttled.replicas", None, LIST, ""),
    def(
        "local.retention.bytes",
        Some("log.local.retention.bytes"),
        LONG,
        "-2",
    ),
    def(
        "local.retention.ms",
        Some("log.local.retention.ms"),
        LONG,
        "-2",
    ),
    def(
        "max.compaction.lag.ms",
        Some("log.cleaner.max.compaction.lag.ms"),
        LONG,
        "9223372036854775807",
    ),
    def(
        "max.message.bytes",
        Some("message.max.bytes"),
        INT,
        "1048588",
    ),
    def(
        "message.timestamp.after.max.ms",
        Some("log.message.timestamp.after.max.ms"),
        LONG,
        "3600000",
    ),
    def(
        "message.timestamp.before.max.ms",
        Some("log.message.timestamp.before.max.ms"),
        LONG,
        "9223372036854775807",
    ),
    def(
        "message.timestamp.type",
        Some("log.message.timestamp.type"),
        STRING,
        "CreateTime",
    ),
    def(
        "min.cleanable.dirty.ratio",
        Some("log.cleaner.min.cleanable.ratio"),
        DOUBLE,
        "0.5",
    ),
    def(
        "min.compaction.lag.ms",
        Some("log.cleaner.min.compaction.lag.ms"),
        LONG,
        "0",
    ),
    def("min.insync.replicas", Some("min.insync.replicas"), INT, "1"),
    def("preallocate", Some("log.preallocate"), BOOLEAN, "false"),
    def("remote.log.copy.disable", None, BOOLEAN, "false"),
    def("remote.log.delete.on.disable", None, BOOLEAN, "false"),
    def("remote.storage.enable", None, BOOLEAN, "false"),
    def("retention.bytes", Some("log.retention.bytes"), LONG, "-1"),
    def("retention.ms", Some("log.retention.ms"), LONG, "604800000"),
    def(
        "segment.bytes",
        Some("log.segment.bytes"),
        INT,
        "1073741824",
    ),
    def(
        "segment.index.bytes",
        Some("log.index.size.max.bytes"),
        INT,
        "10485760",
    ),
    def("segment.jitter.ms", Some("log.roll.jitter.ms"), LONG, "0"),
    def("segment.ms", Some("log.roll.ms"), LONG, "604800000"),
    def(
        "unclean.leader.election.enable",
        Some("unclean.leader.election.enable"),
        BOOLEAN,
        "false",
    ),
];

/// Looks a topic config up by name.
pub fn lookup(name: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_CONFIGS.iter().find(|d| d.name == name)
}

/// The topic config schema, as config changes see it.
pub struct TopicSchema;

impl super::alter::ConfigSchema for TopicSchema {
    fn is_list(&self, key: &str) -> bool {
        lookup(key).is_some_and(|d| d.kind == ConfigType::List)
    }

    fn default_of(&self, key: &str) -> Option<String> {
        lookup(key).map(|d| d.default.to_string())
    }
}

/// Why a topic config was refused (becomes INVALID_CONFIG with this message).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidTopicConfig(pub String);

/// Checks one topic config value.
pub fn validate(name: &str, value: Option<&str>) -> Result<(), InvalidTopicConfig> {
    let def = lookup(name)
        .ok_or_else(|| InvalidTopicConfig(format!("Unknown topic config name: {name}")))?;
    let Some(value) = value else {
        return Err(InvalidTopicConfig(format!(
            "Null value not supported for topic config {name}"
        )));
    };
    let bad = |why: &str| {
        InvalidTopicConfig(format!(
            "Invalid value {value} for configuration {name}: {why}"
        ))
    };
    match def.kind {
        ConfigType::Boolean => {
            if !value.eq_ignore_ascii_case("true") && !value.eq_ignore_ascii_case("false") {
                return Err(bad("Expected value to be either true or false"));
            }
        }
        ConfigType::Int => {
            value
                .trim()
                .parse::<i32>()
                .map_err(|_| bad("Not a number of type INT"))?;
        }
        ConfigType::Long => {
            value
                .trim()
                .parse::<i64>()
                .map_err(|_| bad("Not a number of type LONG"))?;
        }
        ConfigType::Double => {
            value
                .trim()
                .parse::<f64>()
                .map_err(|_| bad("Not a number of type DOUBLE"))?;
        }
        ConfigType::String | ConfigType::List => {}
    }
    match name {
        "cleanup.policy" => {
            for p in value.split(',').map(str::trim) {
                if p != "delete" && p != "compact" {
                    return Err(bad("String must be one of: compact, delete"));
                }
            }
        }
        "message.timestamp.type" if value != "CreateTime" && value != "LogAppendTime" => {
            return Err(bad("String must be one of: CreateTime, LogAppendTime"));
        }
        "compression.type"
            if !["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"].contains(&value) =>
        {
            return Err(bad(
                "String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer",
            ));
        }
        "compression.gzip.level" if !matches!(parse_i64(value), 1..=9 | -1) => {
            return Err(bad("Value must be between 1 and 9 or equal to -1"));
        }
        "compression.lz4.level" | "compression.zstd.level" => {
            let (min, max) = if name == "compression.lz4.level" {
                (1, 17)
            } else {
                (-131_072, 22)
            };
            let v = parse_i64(value);
            if v < min {
                return Err(bad(&format!("Value must be at least {min}")));
            }
            if v > max {
                return Err(bad(&format!("Value must be no more than {max}")));
            }
        }
        "segment.bytes" if parse_i64(value) < 14 => return Err(bad("Value must be at least 14")),
        "segment.ms" | "index.interval.bytes" if parse_i64(value) < 1 => {
            return Err(bad("Value must be at least 1"));
        }
        "max.message.bytes"
        | "min.insync.replicas"
        | "delete.retention.ms"
        | "min.compaction.lag.ms"
            if parse_i64(value) < 0 =>
        {
            return Err(bad("Value must be at least 0"));
        }
        "max.compaction.lag.ms" if parse_i64(value) < 1 => {
            return Err(bad("Value must be at least 1"));
        }
        "min.cleanable.dirty.ratio" => {
            let ratio: f64 = value.trim().parse().unwrap_or(f64::NAN);
            if ratio < 0.0 {
                return Err(bad("Value must be at least 0"));
            }
            if ratio > 1.0 {
                return Err(bad("Value must be no more than 1"));
            }
        }
        _ => {}
    }
    Ok(())
}

fn parse_i64(v: &str) -> i64 {
    v.trim().parse().unwrap_or(i64::MIN)
}

/// Where a config's effective value came from (DescribeConfigs' config_source).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    Topic = 1,
    DynamicBroker = 2,
    DynamicDefaultBroker = 3,
    StaticBroker = 4,
    Default = 5,
}

/// The effective value of a topic config with its source and synonyms (most specific first).
pub struct Resolved {
    pub value: String,
    pub source: ConfigSource,
    pub synonyms: Vec<(String, String, ConfigSource)>,
}

/// Resolves a topic config against the topic's overrides and the broker's config.
pub fn resolve(
    def: &TopicConfigDef,
    overrides: &BTreeMap<String, String>,
    broker: &BrokerConfig,
) -> Resolved {
    let mut synonyms = Vec::new();
    if let Some(v) = overrides.get(def.name) {
        synonyms.push((def.name.to_string(), v.clone(), ConfigSource::Topic));
    }
    if let Some(bk) = def.broker_key {
        let layers = [
            (&broker.dynamic.this_broker, ConfigSource::DynamicBroker),
            (
                &broker.dynamic.cluster_default,
                ConfigSource::DynamicDefaultBroker,
            ),
            (&broker.explicit, ConfigSource::StaticBroker),
        ];
        for (layer, source) in layers {
            if let Some(v) = layer_value(bk, layer) {
                synonyms.push((bk.to_string(), v, source));
            }
        }
        // Kafka lists the broker key's default as a synonym only when that broker config
        // has a default of its own; a topic config without a broker key has none.
        if !BROKER_KEYS_WITHOUT_DEFAULT.contains(&bk) {
            synonyms.push((
                bk.to_string(),
                def.default.to_string(),
                ConfigSource::Default,
            ));
        }
    }
    let (value, source) = synonyms
        .first()
        .map(|(_, v, s)| (v.clone(), *s))
        .unwrap_or_else(|| (def.default.to_string(), ConfigSource::Default));
    Resolved {
        value,
        source,
        synonyms,
    }
}

/// Broker configs whose Kafka default is null (the effective value comes from a coarser
/// sibling such as `log.retention.hours`, or from a fixed fallback), so DescribeConfigs
/// lists no DEFAULT synonym under their topic configs.
const BROKER_KEYS_WITHOUT_DEFAULT: &[&str] = &[
    "log.flush.interval.ms",
    "log.retention.ms",
    "log.roll.ms",
    "log.roll.jitter.ms",
];

/// A broker key's value in one layer of settings (static or dynamic), with the unit
/// conversions Kafka applies (`log.retention.hours` is a synonym of `log.retention.ms`,
/// and so on; a negative retention is -1).
pub fn layer_value(key: &str, layer: &BTreeMap<String, String>) -> Option<String> {
    let scaled = |k: &str, factor: i64| {
        let v = layer.get(k)?.trim().parse::<i64>().ok()?;
        Some(if v < 0 { -1 } else { v.saturating_mul(factor) }.to_string())
    };
    match key {
        "log.retention.ms" => layer
            .get(key)
            .cloned()
            .or_else(|| scaled("log.retention.minutes", 60_000))
            .or_else(|| scaled("log.retention.hours", 3_600_000)),
        "log.roll.ms" => layer
            .get(key)
            .cloned()
            .or_else(|| scaled("log.roll.hours", 3_600_000)),
        k => layer.get(k).cloned(),
    }
}

/// The effective numeric value of a topic config (topic override, broker config, default).
pub fn effective_i64(
    name: &str,
    overrides: &BTreeMap<String, String>,
    broker: &BrokerConfig,
) -> i64 {
    lookup(name)
        .map(|d| resolve(d, overrides, broker).value)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Builds the storage configuration of a topic from broker defaults plus its overrides.
/// The overrides must have passed [`validate`].
pub fn log_config(broker: &BrokerConfig, overrides: &BTreeMap<String, String>) -> LogConfig {
    let mut c = broker.log.clone();
    let long = |k: &str| overrides.get(k).and_then(|v| v.trim().parse::<i64>().ok());
    if let Some(v) = long("segment.bytes") {
        c.segment_bytes = v.max(14) as u64;
    }
    if let Some(v) = long("segment.ms") {
        c.segment_ms = v;
    }
    if let Some(v) = long("retention.ms") {
        c.retention_ms = if v < 0 { -1 } else { v };
    }
    if let Some(v) = long("retention.bytes") {
        c.retention_bytes = v;
    }
    if let Some(v) = long("index.interval.bytes") {
        c.index_interval_bytes = v.clamp(1, u32::MAX as i64) as u32;
    }
    if let Some(v) = long("max.message.bytes") {
        c.max_message_bytes = v.clamp(0, i32::MAX as i64) as i32;
    }
    if let Some(v) = long("flush.messages") {
        c.flush_messages = v;
    }
    if let Some(v) = long("flush.ms") {
        c.flush_ms = v;
    }
    if let Some(v) = long("file.delete.delay.ms") {
        c.file_delete_delay_ms = v;
    }
    match overrides.get("message.timestamp.type").map(String::as_str) {
        Some("LogAppendTime") => c.timestamp_type = TimestampType::LogAppendTime,
        Some("CreateTime") => c.timestamp_type = TimestampType::CreateTime,
        _ => {}
    }
    // Produce checks these on every request; resolved here once per config change.
    let effective = |name| effective_i64(name, overrides, broker);
    let policy = lookup("cleanup.policy").map(|d| resolve(d, overrides, broker).value);
    let has = |name: &str| {
        policy
            .as_deref()
            .is_some_and(|p| p.split(',').any(|p| p.trim() == name))
    };
    c.delete_retention = policy.is_none() || has("delete");
    c.compact = has("compact");
    c.delete_retention_ms = effective("delete.retention.ms");
    c.min_compaction_lag_ms = effective("min.compaction.lag.ms");
    c.max_compaction_lag_ms = effective("max.compaction.lag.ms");
    let codec = lookup("compression.type").map(|d| resolve(d, overrides, broker).value);
    (c.compression, c.compression_level) = match codec.as_deref() {
        Some("uncompressed") => (Some(Compression::None), None),
        Some("gzip") => (
            Some(Compression::Gzip),
            Some(effective("compression.gzip.level") as i32).filter(|l| *l > 0),
        ),
        Some("snappy") => (Some(Compression::Snappy), None),
        Some("lz4") => (
            Some(Compression::Lz4),
            Some(effective("compression.lz4.level") as i32),
        ),
        Some("zstd") => (
            Some(Compression::Zstd),
            Some(effective("compression.zstd.level") as i32),
        ),
        _ => (None, None),
    };
    c.min_cleanable_dirty_ratio = lookup("min.cleanable.dirty.ratio")
        .map(|d| resolve(d, overrides, broker).value)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.5);
    c.timestamp_before_max_ms = effective("message.timestamp.before.max.ms");
    c.timestamp_after_max_ms = effective("message.timestamp.after.max.ms");
    c.min_insync_replicas = effective("min.insync.replicas");
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_problem() {
        assert!(validate("retention.ms", Some("1000")).is_ok());
        assert!(validate("retention.ms", Some("soon")).is_err());
        assert!(validate("no.such.config", Some("1")).is_err());
        assert!(validate("cleanup.policy", Some("compact,delete")).is_ok());
        assert!(validate("cleanup.policy", Some("shred")).is_err());
        assert!(validate("segment.bytes", Some("1")).is_err());
        assert!(validate("retention.ms", None).is_err());
    }

    #[test]
    fn overrides_reach_the_log_config() {
        let broker = BrokerConfig::load(None, &[]).unwrap();
        let mut o = BTreeMap::new();
        o.insert("retention.ms".to_string(), "1234".to_string());
        o.insert(
            "message.timestamp.type".to_string(),
            "LogAppendTime".to_string(),
        );
        let c = log_config(&broker, &o);
        assert_eq!(c.retention_ms, 1234);
        assert_eq!(c.timestamp_type, TimestampType::LogAppendTime);
    }

    #[test]
    fn produce_limits_resolve_like_effective_values() {
        let broker = BrokerConfig::load(
            None,
            &[
                "min.insync.replicas=2".to_string(),
                "log.message.timestamp.before.max.ms=5000".to_string(),
            ],
        )
        .unwrap();
        let mut o = BTreeMap::new();
        let c = log_config(&broker, &o);
        assert_eq!(
            (
                c.timestamp_before_max_ms,
                c.timestamp_after_max_ms,
                c.min_insync_replicas
            ),
            (5000, 3_600_000, 2)
        );
        o.insert("min.insync.replicas".to_string(), "3".to_string());
        o.insert(
            "message.timestamp.after.max.ms".to_string(),
            "7".to_string(),
        );
        let c = log_config(&broker, &o);
        for (name, value) in [
            ("message.timestamp.before.max.ms", c.timestamp_before_max_ms),
            ("message.timestamp.after.max.ms", c.timestamp_after_max_ms),
            ("min.insync.replicas", c.min_insync_replicas),
        ] {
            assert_eq!(value, effective_i64(name, &o, &broker), "{name}");
        }
        assert_eq!((c.timestamp_after_max_ms, c.min_insync_replicas), (7, 3));
        // without any setting: Kafka's defaults, as `LogConfig::default()` has them
        let plain = BrokerConfig::load(None, &[]).unwrap();
        let c = log_config(&plain, &BTreeMap::new());
        let d = LogConfig::default();
        assert_eq!(
            (
                c.timestamp_before_max_ms,
                c.timestamp_after_max_ms,
                c.min_insync_replicas
            ),
            (
                d.timestamp_before_max_ms,
                d.timestamp_after_max_ms,
                d.min_insync_replicas
            )
        );
    }

    #[test]
    fn resolution_orders_synonyms() {
        let broker = BrokerConfig::load(None, &["log.retention.hours=1".to_string()]).unwrap();
        let d = lookup("retention.ms").unwrap();
        let r = resolve(d, &BTreeMap::new(), &broker);
        assert_eq!(r.value, "3600000");
        assert_eq!(r.source, ConfigSource::StaticBroker);
        let mut o = BTreeMap::new();
        o.insert("retention.ms".to_string(), "5".to_string());
        let r = resolve(d, &o, &broker);
        assert_eq!(r.value, "5");
        assert_eq!(r.source, ConfigSource::Topic);
        // log.retention.ms has no default of its own in Kafka: no DEFAULT synonym.
        assert_eq!(r.synonyms.len(), 2);
        let r = resolve(
            lookup("remote.storage.enable").unwrap(),
            &BTreeMap::new(),
            &broker,
        );
        assert_eq!(
            (r.value.as_str(), r.source),
            ("false", ConfigSource::Default)
        );
        assert!(r.synonyms.is_empty());
        let r = resolve(lookup("cleanup.policy").unwrap(), &BTreeMap::new(), &broker);
        assert_eq!(r.synonyms.len(), 1);
    }

    #[test]
    fn only_a_delete_policy_deletes_by_time_and_size() {
        let broker = BrokerConfig::load(None, &[]).unwrap();
        let policy = |p: &str| {
            let o = BTreeMap::from([("cleanup.policy".to_string(), p.to_string())]);
            log_config(&broker, &o).delete_retention
        };
        assert!(log_config(&broker, &BTreeMap::new()).delete_retention);
        assert!(policy("delete"));
        assert!(policy("compact,delete"));
        assert!(policy("delete, compact"));
        assert!(!policy("compact"));
        let compacting = BrokerConfig::load(None, &["log.cleanup.policy=compact".to_string()]);
        assert!(!log_config(&compacting.unwrap(), &BTreeMap::new()).delete_retention);
    }
}

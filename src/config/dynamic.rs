//! Dynamic broker configs (Kafka's `DynamicBrokerConfig`, the part vltava applies): the
//! broker defaults of topic configs (`log.retention.ms`, `log.segment.bytes`,
//! `log.cleanup.policy`, `message.max.bytes`, `min.insync.replicas`, …) can be set for
//! the whole cluster (resource name "") and per broker, are kept in the controller's
//! metadata, and take effect at once on every log without a topic override. The layers,
//! most specific first: this broker's, the cluster default, the static config, Kafka's
//! default.

use std::collections::BTreeMap;

use super::alter::{ConfigChangeError, ConfigSchema};
use super::keys::{KeyKind, classify};
use super::topic::TOPIC_CONFIGS;
use super::{BrokerConfig, ConfigError};

/// The dynamic layers of a broker's config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DynamicLayers {
    /// Set for every broker (resource name "").
    pub cluster_default: BTreeMap<String, String>,
    /// Set for this broker (resource name = its node id).
    pub this_broker: BTreeMap<String, String>,
}

/// Coarser synonyms of topic-default keys (`log.retention.ms` is also set in minutes or
/// hours, `log.roll.ms` in hours).
const SYNONYMS: &[&str] = &[
    "log.retention.minutes",
    "log.retention.hours",
    "log.roll.hours",
    "log.roll.jitter.hours",
];

/// The log cleaner's settings Kafka changes at runtime (`LogCleaner.ReconfigurableConfigs`);
/// the cleaner task reads them before every pass.
const CLEANER_KEYS: &[&str] = &[
    "log.cleaner.threads",
    "log.cleaner.dedupe.buffer.size",
    "log.cleaner.io.buffer.load.factor",
    "log.cleaner.io.buffer.size",
    "log.cleaner.io.max.bytes.per.second",
    "log.cleaner.backoff.ms",
];

/// Whether vltava changes `key` at runtime: every broker default of a topic config, and
/// the log cleaner's settings.
pub fn is_dynamic(key: &str) -> bool {
    SYNONYMS.contains(&key)
        || CLEANER_KEYS.contains(&key)
        || TOPIC_CONFIGS.iter().any(|d| d.broker_key == Some(key))
}

/// The broker config schema, as config changes see it.
pub struct BrokerSchema;

impl ConfigSchema for BrokerSchema {
    fn is_list(&self, key: &str) -> bool {
        key == "log.cleanup.policy"
    }

    fn not_a_list(&self, key: &str, _op: &str) -> String {
        format!("Config value append is not allowed for config key: {key}")
    }

    fn default_of(&self, key: &str) -> Option<String> {
        TOPIC_CONFIGS
            .iter()
            .find(|d| d.broker_key == Some(key))
            .map(|d| d.default.to_string())
    }
}

/// Checks a broker resource name: "" (the cluster default) or a node id.
pub fn check_broker_name(name: &str) -> Result<(), ConfigChangeError> {
    if name.is_empty() || name.parse::<i32>().is_ok_and(|id| id >= 0) {
        Ok(())
    } else {
        Err(ConfigChangeError::InvalidRequest(format!(
            "Invalid broker name {name}: a broker id or the empty string for the cluster default"
        )))
    }
}

/// Checks the dynamic layers: every key Kafka knows must be one vltava changes at runtime,
/// and the values must parse as the broker's own config would.
pub fn check_layer(
    base: &BrokerConfig,
    layers: &DynamicLayers,
) -> Result<BrokerConfig, ConfigChangeError> {
    let keys = layers
        .cluster_default
        .keys()
        .chain(layers.this_broker.keys());
    // Keys Kafka does not know are kept, as Kafka keeps them (plugins read them); known
    // ones must be dynamic here.
    let fixed: Vec<&str> = keys
        .filter(|k| !is_dynamic(k) && classify(k) != KeyKind::Unknown)
        .map(String::as_str)
        .collect();
    if !fixed.is_empty() {
        return Err(ConfigChangeError::InvalidRequest(format!(
            "Cannot update these configs dynamically: {} (vltava changes the broker defaults of topic configs at runtime; other broker configs are static)",
            fixed.join(", ")
        )));
    }
    // Kafka answers a bad broker value with INVALID_REQUEST (a bad topic value is
    // INVALID_CONFIG).
    effective(base, layers).map_err(|e| match e {
        ConfigError::Invalid { key, value, reason } => ConfigChangeError::InvalidRequest(format!(
            "Invalid value {value} for configuration {key}: {reason}"
        )),
        other => ConfigChangeError::InvalidRequest(other.to_string()),
    })
}

/// The broker's effective config: its static config with the dynamic layers on top.
/// `explicit` stays the static keys (their source is STATIC_BROKER_CONFIG); the layers
/// are kept in `dynamic`.
pub fn effective(base: &BrokerConfig, layers: &DynamicLayers) -> Result<BrokerConfig, ConfigError> {
    if layers == &base.dynamic {
        return Ok(base.clone());
    }
    let mut props = base.explicit.clone();
    props.extend(layers.cluster_default.clone());
    props.extend(layers.this_broker.clone());
    let mut c = BrokerConfig::from_props(props)?;
    c.explicit = base.explicit.clone();
    c.dynamic = layers.clone();
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layers(default: &[(&str, &str)], own: &[(&str, &str)]) -> DynamicLayers {
        let m = |p: &[(&str, &str)]| {
            p.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        DynamicLayers {
            cluster_default: m(default),
            this_broker: m(own),
        }
    }

    #[test]
    fn layers_override_static_configs_in_order() {
        let base =
            BrokerConfig::from_props([("log.retention.hours".to_string(), "1".to_string())].into())
                .unwrap();
        assert_eq!(base.log.retention_ms, 3_600_000);
        let c = effective(&base, &layers(&[("log.retention.ms", "5000")], &[])).unwrap();
        assert_eq!(
            c.log.retention_ms, 5000,
            "the cluster default beats the static hours"
        );
        assert_eq!(c.explicit, base.explicit);
        let c = effective(
            &base,
            &layers(
                &[("log.retention.ms", "5000")],
                &[("log.retention.ms", "7000")],
            ),
        )
        .unwrap();
        assert_eq!(
            c.log.retention_ms, 7000,
            "this broker's layer beats the default"
        );
    }

    #[test]
    fn only_topic_defaults_are_dynamic_and_values_must_parse() {
        let base = BrokerConfig::from_props(BTreeMap::new()).unwrap();
        assert!(check_layer(&base, &layers(&[("log.segment.bytes", "2000000")], &[])).is_ok());
        assert!(matches!(
            check_layer(&base, &layers(&[], &[("num.partitions", "3")])),
            Err(ConfigChangeError::InvalidRequest(m)) if m.contains("num.partitions")
        ));
        assert!(matches!(
            check_layer(&base, &layers(&[("log.retention.ms", "abc")], &[])),
            Err(ConfigChangeError::InvalidRequest(m)) if m.contains("log.retention.ms")
        ));
        assert!(
            check_layer(&base, &layers(&[], &[("custom.plugin.key", "x")])).is_ok(),
            "keys Kafka does not know are kept, as Kafka keeps them"
        );
        assert!(check_broker_name("").is_ok() && check_broker_name("3").is_ok());
        assert!(check_broker_name("x").is_err());
    }
}

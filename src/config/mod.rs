//! Broker configuration: Kafka's `server.properties` format and key names.
//!
//! Owns parsing (via the `java-properties` crate), Kafka's defaults, validation and the
//! classification of keys into honoured, ignored (JVM/ZooKeeper-only or not yet used) and
//! unknown. A bad value is a startup error that names the key. This module never touches
//! the network or the disk beyond reading the properties file.

pub mod alter;
mod connections;
pub mod docs;
pub mod dynamic;
mod keys;
mod listener;
pub mod quotas;
pub mod topic;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use connections::ConnectionConfig;
pub use listener::{Listener, parse_listeners};

use crate::coordinator::GroupConfig;
use crate::storage::{LogConfig, TimestampType};

/// A configuration problem found at startup.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot parse config file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: java_properties::PropertiesError,
    },
    #[error("invalid value {value:?} for config key `{key}`: {reason}")]
    Invalid {
        key: String,
        value: String,
        reason: String,
    },
    #[error("bad --override argument {0:?}: expected key=value")]
    BadOverride(String),
}

impl ConfigError {
    fn invalid(key: &str, value: &str, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.to_string(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}

/// The broker's effective configuration.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// `node.id` (or `broker.id`).
    pub node_id: i32,
    /// `listeners`: where the broker binds. Controller listeners are excluded.
    pub listeners: Vec<Listener>,
    /// `advertised.listeners`: what clients are told (defaults to `listeners`).
    pub advertised_listeners: Vec<Listener>,
    /// The controller listener (`controller.listener.names`), if one is configured.
    pub controller_listener: Option<Listener>,
    /// `controller.quorum.voters` (or a one-voter `controller.quorum.bootstrap.servers`);
    /// empty means a quorum of this broker alone.
    pub quorum_voters: Vec<(i32, std::net::SocketAddr)>,
    /// `broker.session.timeout.ms`
    pub broker_session_timeout_ms: i64,
    /// `broker.heartbeat.interval.ms`
    pub broker_heartbeat_interval_ms: u64,
    /// `replica.lag.time.max.ms`
    pub replica_lag_time_max_ms: i64,
    /// `offsets.topic.replication.factor`
    pub offsets_topic_replication_factor: i16,
    /// `auto.leader.rebalance.enable`
    pub auto_leader_rebalance: bool,
    /// `leader.imbalance.check.interval.seconds`, in ms.
    pub leader_imbalance_check_ms: i64,
    /// `log.dirs` (one directory: several are refused).
    pub log_dir: PathBuf,
    pub num_partitions: i32,
    pub default_replication_factor: i16,
    pub auto_create_topics: bool,
    pub delete_topic_enable: bool,
    pub message_max_bytes: i32,
    pub socket_request_max_bytes: usize,
    /// Client quotas are measured over `quota.window.num` samples of
    /// `quota.window.size.seconds` each (Kafka's defaults: 11 of 1 s).
    pub quota_window_num: u32,
    pub quota_window_size_seconds: u32,
    /// Connection limits (`max.connections*`, `connections.max.idle.ms`, ...).
    pub connections: ConnectionConfig,
    pub retention_check_interval_ms: u64,
    pub log_flush_scheduler_interval_ms: u64,
    /// Defaults for every topic's log (topic configs override them).
    pub log: LogConfig,
    /// The log cleaner (`log.cleaner.*`).
    pub cleaner: crate::storage::CleanerConfig,
    /// The group coordinator's settings (`group.*`, `offsets.*`).
    pub group: GroupConfig,
    /// `offsets.retention.check.interval.ms`
    pub offsets_retention_check_interval_ms: u64,
    /// `offsets.topic.segment.bytes`
    pub offsets_topic_segment_bytes: i64,
    /// Every key that was set, with its value (for DescribeConfigs' STATIC_BROKER_CONFIG).
    pub explicit: BTreeMap<String, String>,
    /// Dynamic configs in force on top of `explicit` (see [`dynamic::effective`]).
    pub dynamic: dynamic::DynamicLayers,
    /// Keys that were accepted but have no effect, reported once at startup.
    pub ignored: Vec<String>,
    /// Keys Kafka does not know either.
    pub unknown: Vec<String>,
}

impl BrokerConfig {
    /// Reads an optional properties file and applies `key=value` overrides on top.
    pub fn load(file: Option<&Path>, overrides: &[String]) -> Result<Self, ConfigError> {
        let mut props = BTreeMap::new();
        if let Some(path) = file {
            let f = std::fs::File::open(path).map_err(|e| ConfigError::Io {
                path: path.to_path_buf(),
                source: e,
            })?;
            let map = java_properties::read(std::io::BufReader::new(f)).map_err(|e| {
                ConfigError::Parse {
                    path: path.to_path_buf(),
                    source: e,
                }
            })?;
            props.extend(map);
        }
        for o in overrides {
            let (k, v) = o
                .split_once('=')
                .ok_or_else(|| ConfigError::BadOverride(o.clone()))?;
            props.insert(k.trim().to_string(), v.trim().to_string());
        }
        Self::from_props(props)
    }

    /// Builds the configuration from already-parsed properties.
    pub fn from_props(props: BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let p = Props(&props);
        let node_id = match p.get("node.id") {
            Some(_) => p.int("node.id", 1)?,
            None => p.int("broker.id", 1)?,
        };
        if node_id < 0 {
            return Err(ConfigError::invalid(
                "node.id",
                &node_id.to_string(),
                "must be >= 0",
            ));
        }
        let controller_names: Vec<String> = p
            .get("controller.listener.names")
            .map(|v| split_list(v).map(str::to_uppercase).collect())
            .unwrap_or_default();
        let protocol_map = listener::parse_protocol_map(p.get("listener.security.protocol.map"))?;
        let listeners_raw = p.get("listeners").unwrap_or("PLAINTEXT://127.0.0.1:9092");
        let listeners = parse_listeners(
            "listeners",
            listeners_raw,
            &protocol_map,
            &controller_names,
            false,
        )?;
        let controller_listener = parse_listeners(
            "listeners",
            listeners_raw,
            &protocol_map,
            &controller_names,
            true,
        )?
        .into_iter()
        .next();
        if listeners.is_empty() {
            return Err(ConfigError::invalid(
                "listeners",
                listeners_raw,
                "no client listener (only controller listeners were given)",
            ));
        }
        let advertised_listeners = match p.get("advertised.listeners") {
            Some(v) => parse_listeners(
                "advertised.listeners",
                v,
                &protocol_map,
                &controller_names,
                false,
            )?,
            None => listeners.clone(),
        };
        let log_dirs_key = if p.get("log.dirs").is_some() {
            "log.dirs"
        } else {
            "log.dir"
        };
        let log_dir = match p.get(log_dirs_key) {
            Some(v) => {
                let dirs: Vec<&str> = split_list(v).collect();
                if dirs.len() > 1 {
                    return Err(ConfigError::invalid(
                        log_dirs_key,
                        v,
                        "vltava serves one log directory per broker (JBOD is not supported)",
                    ));
                }
                dirs.first()
                    .copied()
                    .unwrap_or("/tmp/vltava-logs")
                    .to_string()
            }
            None => "/tmp/vltava-logs".to_string(),
        };
        if log_dir.is_empty() {
            return Err(ConfigError::invalid("log.dirs", "", "must not be empty"));
        }

        let message_max_bytes = p.int("message.max.bytes", 1_048_588)?;
        if message_max_bytes < 0 {
            return Err(ConfigError::invalid(
                "message.max.bytes",
                &message_max_bytes.to_string(),
                "must be >= 0",
            ));
        }
        let log = LogConfig {
            segment_bytes: p.positive_long("log.segment.bytes", 1 << 30)? as u64,
            segment_ms: match p.get("log.roll.ms") {
                Some(_) => p.positive_long("log.roll.ms", 0)?,
                None => p.positive_long("log.roll.hours", 168)? * 3_600_000,
            },
            retention_ms: retention_ms(&p)?,
            retention_bytes: p.long("log.retention.bytes", -1)?,
            index_interval_bytes: p.positive_long("log.index.interval.bytes", 4096)? as u32,
            max_message_bytes: message_max_bytes,
            timestamp_type: match p.get("log.message.timestamp.type") {
                None | Some("CreateTime") => TimestampType::CreateTime,
                Some("LogAppendTime") => TimestampType::LogAppendTime,
                Some(v) => {
                    return Err(ConfigError::invalid(
                        "log.message.timestamp.type",
                        v,
                        "must be CreateTime or LogAppendTime",
                    ));
                }
            },
            flush_messages: p.positive_long("log.flush.interval.messages", i64::MAX)?,
            flush_ms: match p.get("log.flush.interval.ms") {
                Some(_) => p.positive_long("log.flush.interval.ms", i64::MAX)?,
                None => i64::MAX,
            },
            file_delete_delay_ms: p.long("log.segment.delete.delay.ms", 60_000)?,
            // resolved per topic by `topic::log_config`, as DescribeConfigs resolves them
            ..LogConfig::default()
        };
        let default_replication_factor = p.int("default.replication.factor", 1)?;
        if !(1..=i16::MAX as i32).contains(&default_replication_factor) {
            return Err(ConfigError::invalid(
                "default.replication.factor",
                &default_replication_factor.to_string(),
                "must be at least 1",
            ));
        }
        let num_partitions = p.int("num.partitions", 1)?;
        if num_partitions < 1 {
            return Err(ConfigError::invalid(
                "num.partitions",
                &num_partitions.to_string(),
                "must be at least 1",
            ));
        }
        let socket_request_max_bytes = p.int("socket.request.max.bytes", 104_857_600)?;
        if socket_request_max_bytes < 1 {
            return Err(ConfigError::invalid(
                "socket.request.max.bytes",
                &socket_request_max_bytes.to_string(),
                "must be at least 1",
            ));
        }

        let group = GroupConfig {
            initial_rebalance_delay_ms: p.long("group.initial.rebalance.delay.ms", 3000)?.max(0),
            min_session_timeout_ms: p.int("group.min.session.timeout.ms", 6000)?,
            max_session_timeout_ms: p.int("group.max.session.timeout.ms", 1_800_000)?,
            offsets_partitions: p.int("offsets.topic.num.partitions", 50)?,
            offsets_retention_ms: p
                .positive_long("offsets.retention.minutes", 10080)?
                .saturating_mul(60_000),
            offset_metadata_max_bytes: p.int("offset.metadata.max.bytes", 4096)?.max(0) as usize,
            commit_timeout_ms: p.positive_long("offsets.commit.timeout.ms", 5000)?,
        };
        if group.offsets_partitions < 1 {
            return Err(ConfigError::invalid(
                "offsets.topic.num.partitions",
                &group.offsets_partitions.to_string(),
                "must be at least 1",
            ));
        }
        if group.min_session_timeout_ms > group.max_session_timeout_ms {
            return Err(ConfigError::invalid(
                "group.min.session.timeout.ms",
                &group.min_session_timeout_ms.to_string(),
                "must not exceed group.max.session.timeout.ms",
            ));
        }
        let offsets_retention_check_interval_ms =
            p.positive_long("offsets.retention.check.interval.ms", 600_000)? as u64;
        let offsets_topic_segment_bytes =
            p.positive_long("offsets.topic.segment.bytes", 104_857_600)?;
        let roles = p.get("process.roles").unwrap_or("broker,controller");
        let mut roles: Vec<&str> = split_list(roles).collect();
        roles.sort_unstable();
        if roles != ["broker", "controller"] {
            return Err(ConfigError::invalid(
                "process.roles",
                p.get("process.roles").unwrap_or_default(),
                "vltava runs combined nodes only: broker,controller",
            ));
        }
        let quorum_voters = match (
            p.get("controller.quorum.voters"),
            p.get("controller.quorum.bootstrap.servers"),
        ) {
            (Some(v), _) if !v.trim().is_empty() => crate::controller::quorum::parse_voters(v)
                .map_err(|e| ConfigError::invalid("controller.quorum.voters", v, e))?,
            (_, Some(b)) if split_list(b).count() > 1 => {
                return Err(ConfigError::invalid(
                    "controller.quorum.bootstrap.servers",
                    b,
                    "a dynamic quorum of several controllers is not supported; list the voters in controller.quorum.voters (id@host:port,...)",
                ));
            }
            _ => Vec::new(),
        };
        if !quorum_voters.is_empty() && !quorum_voters.iter().any(|(id, _)| *id == node_id) {
            return Err(ConfigError::invalid(
                "controller.quorum.voters",
                p.get("controller.quorum.voters").unwrap_or_default(),
                format!("node.id {node_id} is not one of the voters"),
            ));
        }
        let offsets_topic_replication_factor = p.int("offsets.topic.replication.factor", 3)?;
        if !(1..=i16::MAX as i32).contains(&offsets_topic_replication_factor) {
            return Err(ConfigError::invalid(
                "offsets.topic.replication.factor",
                &offsets_topic_replication_factor.to_string(),
                "must be at least 1",
            ));
        }
        // Broker defaults of topic configs are checked as the topic configs are (Kafka
        // refuses to start with a bad one).
        for def in topic::TOPIC_CONFIGS {
            let Some((key, value)) = def.broker_key.and_then(|k| p.get(k).map(|v| (k, v))) else {
                continue;
            };
            if let Err(e) = topic::validate(def.name, Some(value)) {
                let prefix = format!("Invalid value {value} for configuration {}: ", def.name);
                let why = e.0.strip_prefix(&prefix).unwrap_or(&e.0).to_string();
                return Err(ConfigError::invalid(key, value, why));
            }
        }
        let mut ignored = Vec::new();
        let mut unknown = Vec::new();
        for key in props.keys() {
            match keys::classify(key) {
                keys::KeyKind::Honoured => {}
                keys::KeyKind::Ignored => ignored.push(key.clone()),
                keys::KeyKind::Unknown => unknown.push(key.clone()),
            }
        }
        Ok(BrokerConfig {
            node_id,
            listeners,
            advertised_listeners,
            controller_listener,
            quorum_voters,
            broker_session_timeout_ms: p.positive_long("broker.session.timeout.ms", 9000)?,
            broker_heartbeat_interval_ms: p.positive_long("broker.heartbeat.interval.ms", 2000)?
                as u64,
            replica_lag_time_max_ms: p.positive_long("replica.lag.time.max.ms", 30_000)?,
            offsets_topic_replication_factor: offsets_topic_replication_factor as i16,
            auto_leader_rebalance: p.bool("auto.leader.rebalance.enable", true)?,
            leader_imbalance_check_ms: p
                .positive_long("leader.imbalance.check.interval.seconds", 300)?
                .saturating_mul(1000),
            log_dir: PathBuf::from(log_dir),
            num_partitions,
            default_replication_factor: default_replication_factor as i16,
            auto_create_topics: p.bool("auto.create.topics.enable", true)?,
            delete_topic_enable: p.bool("delete.topic.enable", true)?,
            message_max_bytes,
            socket_request_max_bytes: socket_request_max_bytes as usize,
            quota_window_num: p
                .positive_long("quota.window.num", 11)?
                .min(u32::MAX as i64) as u32,
            quota_window_size_seconds: p
                .positive_long("quota.window.size.seconds", 1)?
                .min(u32::MAX as i64) as u32,
            connections: connections::load(&p)?,
            retention_check_interval_ms: p
                .positive_long("log.retention.check.interval.ms", 300_000)?
                as u64,
            log_flush_scheduler_interval_ms: p
                .positive_long("log.flush.scheduler.interval.ms", i64::MAX)?
                as u64,
            log,
            cleaner: cleaner_config(&p)?,
            group,
            offsets_retention_check_interval_ms,
            offsets_topic_segment_bytes,
            explicit: props,
            dynamic: dynamic::DynamicLayers::default(),
            ignored,
            unknown,
        })
    }
}

fn retention_ms(p: &Props) -> Result<i64, ConfigError> {
    let ms = if p.get("log.retention.ms").is_some() {
        p.long("log.retention.ms", -1)?
    } else if p.get("log.retention.minutes").is_some() {
        p.long("log.retention.minutes", -1)?.saturating_mul(60_000)
    } else {
        p.long("log.retention.hours", 168)?
            .saturating_mul(3_600_000)
    };
    // Kafka treats any negative value as "unlimited".
    Ok(if ms < 0 { -1 } else { ms })
}

fn cleaner_config(p: &Props) -> Result<crate::storage::CleanerConfig, ConfigError> {
    let d = crate::storage::CleanerConfig::default();
    let at_least = |key: &str, v: f64, min: f64| {
        if v < min {
            Err(ConfigError::invalid(
                key,
                p.get(key).unwrap_or_default(),
                format!("must be at least {min}"),
            ))
        } else {
            Ok(v)
        }
    };
    let threads = p.int("log.cleaner.threads", d.threads)?;
    at_least("log.cleaner.threads", f64::from(threads), 0.0)?;
    let io_buffer_size = p.int("log.cleaner.io.buffer.size", d.io_buffer_size)?;
    at_least("log.cleaner.io.buffer.size", f64::from(io_buffer_size), 0.0)?;
    let dedupe = p.long("log.cleaner.dedupe.buffer.size", d.dedupe_buffer_size)?;
    let load_factor = p.double("log.cleaner.io.buffer.load.factor", d.io_buffer_load_factor)?;
    let max_rate = p.double(
        "log.cleaner.io.max.bytes.per.second",
        d.io_max_bytes_per_second,
    )?;
    let backoff_ms = p.long("log.cleaner.backoff.ms", d.backoff_ms)?;
    at_least("log.cleaner.backoff.ms", backoff_ms as f64, 0.0)?;
    Ok(crate::storage::CleanerConfig {
        enable: p.bool("log.cleaner.enable", d.enable)?,
        threads,
        dedupe_buffer_size: dedupe,
        io_buffer_load_factor: load_factor,
        io_buffer_size,
        io_max_bytes_per_second: max_rate,
        backoff_ms,
    })
}

fn split_list(v: &str) -> impl Iterator<Item = &str> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// Typed accessors that name the key in every error.
struct Props<'a>(&'a BTreeMap<String, String>);

impl Props<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|s| s.as_str())
    }

    fn long(&self, key: &str, default: i64) -> Result<i64, ConfigError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .parse::<i64>()
                .map_err(|_| ConfigError::invalid(key, v, "not a valid number (long)")),
        }
    }

    fn positive_long(&self, key: &str, default: i64) -> Result<i64, ConfigError> {
        let v = self.long(key, default)?;
        if v < 1 {
            return Err(ConfigError::invalid(
                key,
                &v.to_string(),
                "must be at least 1",
            ));
        }
        Ok(v)
    }

    fn double(&self, key: &str, default: f64) -> Result<f64, ConfigError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|x| !x.is_nan())
                .ok_or_else(|| ConfigError::invalid(key, v, "not a valid number (double)")),
        }
    }

    fn int(&self, key: &str, default: i32) -> Result<i32, ConfigError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .parse::<i32>()
                .map_err(|_| ConfigError::invalid(key, v, "not a valid number (int)")),
        }
    }

    fn bool(&self, key: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(key).map(|v| v.to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if v == "true" => Ok(true),
            Some(v) if v == "false" => Ok(false),
            Some(_) => Err(ConfigError::invalid(
                key,
                self.get(key).unwrap_or_default(),
                "must be true or false",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<BrokerConfig, ConfigError> {
        let overrides: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        BrokerConfig::load(None, &overrides)
    }

    #[test]
    fn defaults_match_kafka_quickstart() {
        let c = load(&[]).unwrap();
        assert_eq!(c.node_id, 1);
        assert_eq!(c.listeners[0].host, "127.0.0.1");
        assert_eq!(c.listeners[0].port, 9092);
        assert_eq!(c.log_dir, PathBuf::from("/tmp/vltava-logs"));
        assert_eq!(c.num_partitions, 1);
        assert!(c.auto_create_topics);
        assert_eq!(c.log.segment_bytes, 1 << 30);
        assert_eq!(c.log.retention_ms, 168 * 3_600_000);
        assert_eq!(c.message_max_bytes, 1_048_588);
    }

    #[test]
    fn bad_value_names_the_key() {
        let err = load(&[("num.partitions", "lots")]).unwrap_err().to_string();
        assert!(err.contains("num.partitions"), "{err}");
        let err = load(&[("num.partitions", "-3")]).unwrap_err().to_string();
        assert!(err.contains("num.partitions"), "{err}");
        let err = load(&[("auto.create.topics.enable", "maybe")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("auto.create.topics.enable"), "{err}");
        let err = load(&[("listeners", "SSL://:9093")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("listeners"), "{err}");
        let err = load(&[("log.dirs", "/a,/b")]).unwrap_err().to_string();
        assert!(
            err.contains("log.dirs") && err.contains("one log directory"),
            "{err}"
        );
        assert_eq!(
            load(&[("log.dir", "/a")]).unwrap().log_dir,
            PathBuf::from("/a")
        );
    }

    #[test]
    fn kafka_server_properties_keys_are_classified() {
        let c = load(&[
            ("process.roles", "broker,controller"),
            ("zookeeper.connect", "localhost:2181"),
            ("num.network.threads", "3"),
            ("listeners", "PLAINTEXT://:9092,CONTROLLER://:9093"),
            ("controller.listener.names", "CONTROLLER"),
            (
                "listener.security.protocol.map",
                "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            ),
            ("no.such.key", "1"),
            ("log.retention.minutes", "5"),
            ("log.roll.hours", "2"),
        ])
        .unwrap();
        assert_eq!(
            c.listeners.len(),
            1,
            "controller listener is not a client listener"
        );
        assert_eq!(c.listeners[0].port, 9092);
        assert!(c.ignored.contains(&"zookeeper.connect".to_string()));
        assert!(c.ignored.contains(&"num.network.threads".to_string()));
        assert_eq!(c.unknown, vec!["no.such.key".to_string()]);
        assert_eq!(c.log.retention_ms, 300_000);
        assert_eq!(c.log.segment_ms, 7_200_000);
    }

    #[test]
    fn override_without_equals_is_rejected() {
        assert!(matches!(
            BrokerConfig::load(None, &["oops".to_string()]),
            Err(ConfigError::BadOverride(_))
        ));
    }
}

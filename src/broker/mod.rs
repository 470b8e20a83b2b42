//! The broker: configuration, cluster metadata and logs tied together, plus the topic
//! operations the handlers call and the background tasks (retention, flush, checkpoints).
//!
//! Speaks domain types only; handlers translate Kafka messages to these calls and the
//! errors back to Kafka codes through `protocol::errors`.

mod offsets_topic;
mod tasks;
mod topics;

use std::sync::Arc;

pub use tasks::run;
pub use topics::{NewTopic, TopicError};

use crate::config::BrokerConfig;
use crate::controller::{MetadataError, MetadataStore, TopicMeta};
use crate::coordinator::{GroupCoordinator, OFFSETS_TOPIC};
use crate::storage::{LogManager, PartitionLog, StorageError, TopicPartition};

/// An address clients are told to connect to.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub listener: String,
    pub host: String,
    pub port: u16,
}

/// Why the broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error("log directory: {0}")]
    Storage(#[from] StorageError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Shared broker state; one per process, behind an `Arc`.
pub struct Broker {
    pub config: BrokerConfig,
    pub metadata: MetadataStore,
    pub logs: Arc<LogManager>,
    /// Consumer groups and committed offsets.
    pub groups: GroupCoordinator,
    /// Advertised endpoints, with ephemeral ports resolved after binding.
    pub endpoints: Vec<Endpoint>,
    /// Serialises topic creation, deletion and growth (never held across `.await`).
    topic_ops: std::sync::Mutex<()>,
}

impl Broker {
    /// Opens the metadata and the logs (running recovery) for `config`.
    pub fn open(config: BrokerConfig, endpoints: Vec<Endpoint>) -> Result<Self, StartupError> {
        let metadata = MetadataStore::open(&config.log_dir, config.node_id)?;
        let topics = metadata.topics();
        let configs = |topic: &str| {
            let overrides = topics
                .iter()
                .find(|t| t.name == topic)
                .map(|t| t.configs.clone())
                .unwrap_or_default();
            crate::config::topic::log_config(&config, &overrides)
        };
        let logs = LogManager::open(&config.log_dir, &configs, now_ms())?;
        // Partition directories of topics that no longer exist are leftovers of a
        // deletion interrupted by a crash; partitions without a directory are created.
        for tp in logs.partitions() {
            let known = topics
                .iter()
                .any(|t| t.name == tp.topic && tp.partition < t.partitions);
            if !known {
                log::warn!(
                    "removing log of unknown partition {}-{}",
                    tp.topic,
                    tp.partition
                );
                logs.delete(&tp)?;
            }
        }
        let logs = Arc::new(logs);
        let groups = GroupCoordinator::new(
            config.group.clone(),
            Box::new(offsets_topic::OffsetsTopicLog { logs: logs.clone() }),
        );
        let broker = Broker {
            config,
            metadata,
            logs,
            groups,
            endpoints,
            topic_ops: std::sync::Mutex::new(()),
        };
        for t in &topics {
            broker.ensure_logs(t)?;
        }
        if let Some(t) = broker.metadata.get(OFFSETS_TOPIC) {
            offsets_topic::replay(&broker.logs, &broker.groups, t.partitions);
        }
        Ok(broker)
    }

    /// This broker's node id.
    pub fn node_id(&self) -> i32 {
        self.config.node_id
    }

    /// The endpoint for the listener a client connected through (the first one today).
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoints[0]
    }

    /// The log of a partition, if the topic and partition exist.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<Arc<PartitionLog>> {
        self.logs.get(&TopicPartition {
            topic: topic.to_string(),
            partition,
        })
    }

    /// The storage configuration of a topic.
    pub fn log_config(&self, meta: &TopicMeta) -> crate::storage::LogConfig {
        crate::config::topic::log_config(&self.config, &meta.configs)
    }

    fn ensure_logs(&self, meta: &TopicMeta) -> Result<(), StorageError> {
        let config = self.log_config(meta);
        for p in 0..meta.partitions {
            let tp = TopicPartition {
                topic: meta.name.clone(),
                partition: p,
            };
            if self.logs.get(&tp).is_none() {
                self.logs.create(&tp, config.clone())?;
            }
        }
        Ok(())
    }
}

/// Wall-clock milliseconds since the epoch (the only clock handlers use).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

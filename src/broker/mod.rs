//! The broker: configuration, cluster metadata (from the controller quorum), the replica
//! manager and the group coordinator tied together, plus the topic operations the handlers
//! call and the background tasks (retention, flush, checkpoints, heartbeats).
//!
//! Speaks domain types only; handlers translate Kafka messages to these calls and the
//! errors back to Kafka codes through `handlers::errors`.

mod cleaner;
mod configs;
mod elections;
mod offsets_topic;
mod quotas;
mod startup;
mod tasks;
mod topics;

use std::sync::Arc;

pub use elections::ElectError;
pub use quotas::{AlterQuotaError, ClientQuotas, QuotaAlteration, QuotaKind};
pub use tasks::run;
pub use topics::{NewTopic, TopicError};

use crate::config::BrokerConfig;
use crate::controller::meta_properties::MetaPropertiesError;
use crate::controller::quorum::{BrokerInfo, QuorumError};
use crate::controller::{Metadata, MetadataError};
use crate::coordinator::GroupCoordinator;
use crate::replication::manager::{ReplicaError, ReplicaManager};
use crate::storage::{LogManager, PartitionLog, StorageError};

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
    MetaProperties(#[from] MetaPropertiesError),
    #[error("controller quorum: {0}")]
    Quorum(#[from] QuorumError),
    #[error("cluster metadata: {0}")]
    Metadata(#[from] MetadataError),
    #[error("log directory: {0}")]
    Storage(#[from] StorageError),
    #[error("config: {0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error(
        "the controller stopped ({0}); the broker stopped with it, restart it once the cause \
         (a full or failing disk) is fixed"
    )]
    ControllerStopped(String),
}

/// Shared broker state; one per process, behind an `Arc`.
pub struct Broker {
    /// The static config (file and `--override`s), as the broker started.
    pub config: BrokerConfig,
    /// The static config with the dynamic broker configs in force on top
    /// ([`effective_config`](Self::effective_config)), replaced when they change.
    effective: std::sync::RwLock<Arc<BrokerConfig>>,
    /// Cluster metadata, agreed by the controller quorum.
    pub metadata: Arc<Metadata>,
    pub logs: Arc<LogManager>,
    /// Which partitions this broker leads or follows.
    pub replicas: Arc<ReplicaManager>,
    /// Consumer groups and committed offsets (of the offsets partitions this broker leads).
    pub groups: GroupCoordinator,
    /// Measured client rates against the client quotas in the metadata.
    pub quotas: ClientQuotas,
    /// This broker's advertised endpoints, with ephemeral ports resolved after binding.
    pub endpoints: Vec<Endpoint>,
    /// Serialises topic creation, deletion and growth on this broker.
    topic_ops: tokio::sync::Mutex<()>,
    /// The process's open-file limit (raised to the hard limit at startup).
    open_file_limit: u64,
    /// How many partition replicas this broker may host: three quarters of the open-file
    /// limit, `FILES_PER_PARTITION` files each (the rest is for connections and the
    /// controller's log). Topic creation and growth beyond it are refused.
    partition_budget: usize,
}

/// Open files counted per partition replica: each segment holds its `.log` open (indexes
/// hold no descriptor), and the count leaves room for one rolled segment beside the
/// active one.
pub const FILES_PER_PARTITION: usize = 2;

impl Broker {
    /// The config in force: the static one with the dynamic broker configs on top; what
    /// topic logs, CreateTopics and DescribeConfigs resolve defaults from.
    pub fn effective_config(&self) -> Arc<BrokerConfig> {
        self.effective
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// This broker's node id.
    pub fn node_id(&self) -> i32 {
        self.config.node_id
    }

    /// This broker's endpoint for clients (the first listener).
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoints[0]
    }

    /// The controller id Metadata and DescribeCluster report: a live broker that takes
    /// admin requests, as in Kafka's KRaft mode (where any broker forwards them to the
    /// quorum). The quorum leader when it is a live broker, else this broker, so a
    /// stopped node is never named.
    pub fn reported_controller_id(&self) -> i32 {
        let leader = self.metadata.controller_id();
        let state = self.metadata.snapshot();
        match state.brokers.get(&leader) {
            Some(b) if !b.fenced => leader,
            _ => self.node_id(),
        }
    }

    /// Live brokers with their endpoints, as Metadata reports them.
    pub fn live_brokers(&self) -> Vec<BrokerInfo> {
        self.metadata
            .snapshot()
            .brokers
            .values()
            .filter(|b| !b.fenced)
            .cloned()
            .collect()
    }

    /// The endpoint of a broker by id, if it is registered.
    pub fn broker_endpoint(&self, id: i32) -> Option<(String, u16)> {
        self.metadata
            .snapshot()
            .brokers
            .get(&id)
            .map(|b| (b.host.clone(), b.port))
    }

    /// The log of a partition this broker leads.
    pub fn leader_log(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<(Arc<PartitionLog>, i32), ReplicaError> {
        self.replicas.leader_log(topic, partition)
    }

    /// Whether the topic and partition exist in the cluster.
    pub fn partition_exists(&self, topic: &str, partition: i32) -> bool {
        self.metadata
            .snapshot()
            .topics
            .get(topic)
            .is_some_and(|t| partition >= 0 && (partition as usize) < t.partitions.len())
    }
}

/// Wall-clock milliseconds since the epoch (the only clock handlers use).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A one-node broker on `log_dir` (a quorum of one, no listener, no background tasks),
/// for tests and the fuzz harness that drive `handlers::dispatch` directly. `overrides`
/// are `key=value` settings on top of the defaults.
pub async fn open_standalone(
    log_dir: &std::path::Path,
    overrides: &[String],
) -> Result<Arc<Broker>, StartupError> {
    let mut settings = vec![
        format!("log.dirs={}", log_dir.display()),
        "listeners=PLAINTEXT://127.0.0.1:0".to_string(),
    ];
    settings.extend_from_slice(overrides);
    let config = BrokerConfig::load(None, &settings)?;
    let endpoint = Endpoint {
        listener: "PLAINTEXT".into(),
        host: "127.0.0.1".into(),
        port: 9092,
    };
    startup::open(config, vec![endpoint]).await
}

#[cfg(test)]
pub(crate) async fn open_for_test(log_dir: &std::path::Path) -> Arc<Broker> {
    open_standalone(log_dir, &[])
        .await
        .expect("open test broker")
}

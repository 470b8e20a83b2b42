//! The broker's view of cluster metadata: reads come from the latest state applied by the
//! controller quorum (a cheap `Arc` snapshot), writes are proposals to the quorum.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use uuid::Uuid;

use super::quorum::{
    ClusterState, CommandError, CommandOutput, MetadataCommand, PartitionInfo, Quorum, QuorumError,
};

/// Producer ids are reserved from the quorum in blocks of this size.
const PRODUCER_ID_BLOCK: i64 = 1000;

/// One topic as the broker uses it.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicMeta {
    pub name: String,
    pub id: Uuid,
    pub partitions: i32,
    pub replication_factor: i16,
    /// Topic-level config overrides.
    pub configs: BTreeMap<String, String>,
    /// Replicas, ISR, leader and epochs of each partition (index = partition).
    pub assignments: Vec<PartitionInfo>,
}

/// Failures of metadata changes.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("Topic '{0}' already exists.")]
    TopicExists(String),
    #[error("This server does not host this topic: {0}")]
    UnknownTopic(String),
    #[error("the controller refused the change: {0}")]
    Refused(CommandError),
    #[error("the controller quorum is not available: {0}")]
    Quorum(#[from] QuorumError),
}

/// Cluster metadata as seen by this broker.
pub struct Metadata {
    quorum: Quorum,
    state: watch::Receiver<Arc<ClusterState>>,
    /// (next id, end of the reserved block).
    producer_ids: Mutex<(i64, i64)>,
}

impl Metadata {
    pub fn new(quorum: Quorum) -> Self {
        let state = quorum.state();
        Metadata {
            quorum,
            state,
            producer_ids: Mutex::new((0, 0)),
        }
    }

    /// The quorum itself (for shutdown and leadership questions).
    pub fn quorum(&self) -> &Quorum {
        &self.quorum
    }

    /// The latest applied state.
    pub fn snapshot(&self) -> Arc<ClusterState> {
        self.state.borrow().clone()
    }

    /// A receiver that sees every applied state.
    pub fn watch(&self) -> watch::Receiver<Arc<ClusterState>> {
        self.state.clone()
    }

    pub fn cluster_id(&self) -> String {
        self.state.borrow().cluster_id.clone()
    }

    /// The active controller (the quorum leader), -1 if none is known.
    pub fn controller_id(&self) -> i32 {
        self.quorum.leader().unwrap_or(-1)
    }

    pub fn get(&self, name: &str) -> Option<TopicMeta> {
        self.state.borrow().topics.get(name).map(to_meta)
    }

    pub fn get_by_id(&self, id: Uuid) -> Option<TopicMeta> {
        self.state
            .borrow()
            .topics
            .values()
            .find(|t| t.id == id)
            .map(to_meta)
    }

    /// All topics, by name.
    pub fn topics(&self) -> Vec<TopicMeta> {
        self.state.borrow().topics.values().map(to_meta).collect()
    }

    /// Proposes a command and waits until it is applied; a refused command is an error.
    pub async fn propose(&self, cmd: MetadataCommand) -> Result<CommandOutput, MetadataError> {
        match self.quorum.propose(cmd).await? {
            Ok(out) => Ok(out),
            Err(CommandError::TopicExists(t)) => Err(MetadataError::TopicExists(t)),
            Err(CommandError::UnknownTopic(t)) => Err(MetadataError::UnknownTopic(t)),
            Err(e) => Err(MetadataError::Refused(e)),
        }
    }

    /// A producer id never handed out before, in this cluster, even across crashes.
    pub async fn allocate_producer_id(&self) -> Result<i64, MetadataError> {
        {
            let mut ids = self.producer_ids.lock().unwrap_or_else(|p| p.into_inner());
            if ids.0 < ids.1 {
                ids.0 += 1;
                return Ok(ids.0 - 1);
            }
        }
        let out = self
            .propose(MetadataCommand::AllocateProducerIds {
                block_size: PRODUCER_ID_BLOCK,
            })
            .await?;
        let CommandOutput::ProducerIdBlock { start, len } = out else {
            return Err(MetadataError::Refused(CommandError::Invalid(
                "unexpected answer to a producer-id allocation".into(),
            )));
        };
        let mut ids = self.producer_ids.lock().unwrap_or_else(|p| p.into_inner());
        *ids = (start + 1, start + len);
        Ok(start)
    }
}

fn to_meta(t: &super::quorum::TopicInfo) -> TopicMeta {
    TopicMeta {
        name: t.name.clone(),
        id: t.id,
        partitions: t.partitions.len() as i32,
        replication_factor: t.partitions.first().map_or(0, |p| p.replicas.len() as i16),
        configs: t.configs.clone(),
        assignments: t.partitions.clone(),
    }
}

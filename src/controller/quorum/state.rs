//! The replicated cluster-metadata state machine: `ClusterState` and the `MetadataCommand`s
//! that change it.
//!
//! Owns: the data model of cluster metadata (brokers and their liveness, topics, partition
//! assignments, leaders, leader/partition epochs, ISR, producer-id blocks, cluster id) and
//! `ClusterState::apply`, which is pure and deterministic: the same commands applied in the
//! same order give the same state on every voter.
//!
//! Must never: read a clock, do I/O, panic on a bad command (an invalid command is an
//! `Err(CommandError)` result that leaves the state unchanged), or know Kafka message structs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Topic config that allows electing a leader outside the ISR (data loss accepted).
pub const UNCLEAN_LEADER_ELECTION: &str = "unclean.leader.election.enable";

/// A registered broker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerInfo {
    pub id: i32,
    pub host: String,
    pub port: u16,
    pub rack: Option<String>,
    /// A fenced broker is not alive: it leads nothing and is not elected.
    pub fenced: bool,
    /// Bumped on every registration (Kafka's broker epoch).
    pub epoch: i64,
    /// Time of the last registration or heartbeat, as given by the proposer.
    pub last_heartbeat_ms: i64,
}

/// One partition's assignment and leadership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionInfo {
    /// Replica broker ids; the first is the preferred leader.
    pub replicas: Vec<i32>,
    /// In-sync replicas; never empty.
    pub isr: Vec<i32>,
    /// Leader broker id, -1 when there is none.
    pub leader: i32,
    /// Bumped whenever the leader changes.
    pub leader_epoch: i32,
    /// Bumped on every change of leader or ISR.
    pub partition_epoch: i32,
}

/// A topic: id, configs (only the ones set on the topic) and partitions (index = partition).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicInfo {
    pub name: String,
    pub id: Uuid,
    pub configs: BTreeMap<String, String>,
    pub partitions: Vec<PartitionInfo>,
}

/// A client quota entity (Kafka's `ClientQuotaEntity`): entity types (`user`, `client-id`,
/// `ip`) with a name each, `None` for the type's default; sorted by type, each type once.
pub type QuotaEntity = Vec<(String, Option<String>)>;

/// A quota value. Kafka's quotas are doubles; stored values are positive and finite (the
/// broker validates them), so equality by bits is equality.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(transparent)]
pub struct QuotaValue(pub f64);

impl PartialEq for QuotaValue {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for QuotaValue {}

/// The quotas set on one entity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientQuota {
    pub entity: QuotaEntity,
    /// Quota key (`producer_byte_rate`, …) → value; never empty.
    pub values: BTreeMap<String, QuotaValue>,
}

/// Everything the controller quorum agrees on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterState {
    pub brokers: BTreeMap<i32, BrokerInfo>,
    pub topics: BTreeMap<String, TopicInfo>,
    /// First producer id of the next block handed out by `AllocateProducerIds`.
    pub next_producer_id_block: i64,
    /// Empty until `InitCluster`.
    pub cluster_id: String,
    /// Dynamic broker configs: "" for the cluster default, a node id for one broker.
    #[serde(default)]
    pub broker_configs: BTreeMap<String, BTreeMap<String, String>>,
    /// Client quotas, sorted by entity, each entity once.
    #[serde(default)]
    pub client_quotas: Vec<ClientQuota>,
}

/// A change to the cluster metadata, as stored in the replicated log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetadataCommand {
    /// Sets the cluster id once; a different id later is refused.
    InitCluster {
        cluster_id: String,
    },
    /// Registers (or re-registers) a broker: unfenced, epoch bumped.
    RegisterBroker {
        id: i32,
        host: String,
        port: u16,
        rack: Option<String>,
        now_ms: i64,
    },
    /// Records a heartbeat time. Optional: liveness may instead be tracked in memory by the
    /// active controller, which then proposes only `FenceBroker`.
    BrokerHeartbeat {
        id: i32,
        now_ms: i64,
    },
    FenceBroker {
        id: i32,
    },
    UnfenceBroker {
        id: i32,
    },
    /// Creates a topic with one replica list per partition. Each partition's leader is its
    /// first unfenced replica and its ISR its unfenced replicas.
    CreateTopic {
        name: String,
        id: Uuid,
        partitions: Vec<Vec<i32>>,
        configs: BTreeMap<String, String>,
    },
    DeleteTopic {
        name: String,
    },
    /// Appends partitions to an existing topic.
    CreatePartitions {
        name: String,
        new_assignments: Vec<Vec<i32>>,
    },
    /// Sets (`Some`) or removes (`None`) topic configs.
    AlterTopicConfigs {
        name: String,
        changes: BTreeMap<String, Option<String>>,
    },
    /// Sets (`Some`) or removes (`None`) dynamic broker configs of `broker` ("": the
    /// cluster default, else a node id).
    AlterBrokerConfigs {
        broker: String,
        changes: BTreeMap<String, Option<String>>,
    },
    /// Sets (`Some`) or removes (`None`) quota values of one entity (validated by the
    /// proposer; the entity must be sorted by type).
    AlterClientQuotas {
        entity: QuotaEntity,
        changes: BTreeMap<String, Option<QuotaValue>>,
    },
    /// Changes a partition's leader and/or ISR. When `expected_partition_epoch` is set and
    /// differs from the current partition epoch, the change is refused as stale.
    ChangePartition {
        topic: String,
        partition: i32,
        leader: Option<i32>,
        isr: Option<Vec<i32>>,
        expected_partition_epoch: Option<i32>,
    },
    /// Hands out `block_size` producer ids; the result is the block's first id.
    AllocateProducerIds {
        block_size: i64,
    },
    /// Applies each command in order (not atomically: each has its own result).
    Batch(Vec<MetadataCommand>),
}

/// What a successfully applied command produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandOutput {
    /// The command was applied (or was a Raft-internal entry).
    Applied,
    /// The command changed nothing (for example a `ChangePartition` to the current values).
    Unchanged,
    /// A registered broker's new epoch.
    BrokerEpoch(i64),
    /// The first id of an allocated producer-id block.
    ProducerIdBlock { start: i64, len: i64 },
    /// One result per command of a `Batch`.
    Batch(Vec<CommandResult>),
}

/// Why a command was refused. The state is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum CommandError {
    #[error("cluster id is already {0}")]
    ClusterIdMismatch(String),
    #[error("broker {0} is not registered")]
    UnknownBroker(i32),
    #[error("topic {0} does not exist")]
    UnknownTopic(String),
    #[error("topic {0} already exists")]
    TopicExists(String),
    #[error("topic id {0} is already used")]
    TopicIdExists(Uuid),
    #[error("partition {1} of topic {0} does not exist")]
    UnknownPartition(String, i32),
    #[error("stale partition epoch: expected {expected}, current {current}")]
    StalePartitionEpoch { expected: i32, current: i32 },
    #[error("invalid: {0}")]
    Invalid(String),
}

/// The result of applying one command.
pub type CommandResult = Result<CommandOutput, CommandError>;

impl ClusterState {
    /// Is `id` registered and not fenced?
    pub fn is_live(&self, id: i32) -> bool {
        self.brokers.get(&id).is_some_and(|b| !b.fenced)
    }

    /// Unfenced broker ids, ascending.
    pub fn live_brokers(&self) -> Vec<i32> {
        self.brokers
            .values()
            .filter(|b| !b.fenced)
            .map(|b| b.id)
            .collect()
    }

    /// Applies one command. Deterministic; a refused command leaves the state unchanged.
    pub fn apply(&mut self, cmd: MetadataCommand) -> CommandResult {
        use MetadataCommand as C;
        match cmd {
            C::InitCluster { cluster_id } => self.init_cluster(cluster_id),
            C::RegisterBroker {
                id,
                host,
                port,
                rack,
                now_ms,
            } => self.register_broker(id, host, port, rack, now_ms),
            C::BrokerHeartbeat { id, now_ms } => {
                let b = self.broker_mut(id)?;
                b.last_heartbeat_ms = now_ms;
                Ok(CommandOutput::Applied)
            }
            C::FenceBroker { id } => self.set_fenced(id, true),
            C::UnfenceBroker { id } => self.set_fenced(id, false),
            C::CreateTopic {
                name,
                id,
                partitions,
                configs,
            } => self.create_topic(name, id, partitions, configs),
            C::DeleteTopic { name } => match self.topics.remove(&name) {
                Some(_) => Ok(CommandOutput::Applied),
                None => Err(CommandError::UnknownTopic(name)),
            },
            C::CreatePartitions {
                name,
                new_assignments,
            } => self.create_partitions(name, new_assignments),
            C::AlterTopicConfigs { name, changes } => {
                let topic = self.topic_mut(&name)?;
                for (key, value) in changes {
                    match value {
                        Some(v) => topic.configs.insert(key, v),
                        None => topic.configs.remove(&key),
                    };
                }
                Ok(CommandOutput::Applied)
            }
            C::AlterBrokerConfigs { broker, changes } => {
                let configs = self.broker_configs.entry(broker.clone()).or_default();
                for (key, value) in changes {
                    match value {
                        Some(v) => configs.insert(key, v),
                        None => configs.remove(&key),
                    };
                }
                if configs.is_empty() {
                    self.broker_configs.remove(&broker);
                }
                Ok(CommandOutput::Applied)
            }
            C::AlterClientQuotas { entity, changes } => self.alter_client_quotas(entity, changes),
            C::ChangePartition {
                topic,
                partition,
                leader,
                isr,
                expected_partition_epoch,
            } => self.change_partition(topic, partition, leader, isr, expected_partition_epoch),
            C::AllocateProducerIds { block_size } => {
                if block_size <= 0 {
                    return Err(invalid("producer id block size must be positive"));
                }
                let start = self.next_producer_id_block;
                let next = start
                    .checked_add(block_size)
                    .ok_or_else(|| invalid("producer ids exhausted"))?;
                self.next_producer_id_block = next;
                Ok(CommandOutput::ProducerIdBlock {
                    start,
                    len: block_size,
                })
            }
            C::Batch(cmds) => Ok(CommandOutput::Batch(
                cmds.into_iter().map(|c| self.apply(c)).collect(),
            )),
        }
    }

    fn init_cluster(&mut self, cluster_id: String) -> CommandResult {
        if cluster_id.is_empty() {
            return Err(invalid("cluster id must not be empty"));
        }
        if self.cluster_id.is_empty() {
            self.cluster_id = cluster_id;
            Ok(CommandOutput::Applied)
        } else if self.cluster_id == cluster_id {
            Ok(CommandOutput::Unchanged)
        } else {
            Err(CommandError::ClusterIdMismatch(self.cluster_id.clone()))
        }
    }

    fn register_broker(
        &mut self,
        id: i32,
        host: String,
        port: u16,
        rack: Option<String>,
        now_ms: i64,
    ) -> CommandResult {
        if id < 0 {
            return Err(invalid("broker id must not be negative"));
        }
        let epoch = self.brokers.get(&id).map_or(0, |b| b.epoch + 1);
        self.brokers.insert(
            id,
            BrokerInfo {
                id,
                host,
                port,
                rack,
                fenced: false,
                epoch,
                last_heartbeat_ms: now_ms,
            },
        );
        Ok(CommandOutput::BrokerEpoch(epoch))
    }

    fn set_fenced(&mut self, id: i32, fenced: bool) -> CommandResult {
        let b = self.broker_mut(id)?;
        if b.fenced == fenced {
            return Ok(CommandOutput::Unchanged);
        }
        b.fenced = fenced;
        Ok(CommandOutput::Applied)
    }

    fn create_topic(
        &mut self,
        name: String,
        id: Uuid,
        assignments: Vec<Vec<i32>>,
        configs: BTreeMap<String, String>,
    ) -> CommandResult {
        if name.is_empty() {
            return Err(invalid("topic name must not be empty"));
        }
        if self.topics.contains_key(&name) {
            return Err(CommandError::TopicExists(name));
        }
        if id.is_nil() || self.topics.values().any(|t| t.id == id) {
            return Err(CommandError::TopicIdExists(id));
        }
        if assignments.is_empty() {
            return Err(invalid("a topic needs at least one partition"));
        }
        let partitions = self.new_partitions(&assignments)?;
        self.topics.insert(
            name.clone(),
            TopicInfo {
                name,
                id,
                configs,
                partitions,
            },
        );
        Ok(CommandOutput::Applied)
    }

    fn create_partitions(&mut self, name: String, assignments: Vec<Vec<i32>>) -> CommandResult {
        if !self.topics.contains_key(&name) {
            return Err(CommandError::UnknownTopic(name));
        }
        if assignments.is_empty() {
            return Err(invalid("no partitions to add"));
        }
        let mut partitions = self.new_partitions(&assignments)?;
        self.topic_mut(&name)?.partitions.append(&mut partitions);
        Ok(CommandOutput::Applied)
    }

    /// Validates replica lists and builds fresh partitions: leader = first live replica,
    /// ISR = live replicas (or the first replica when none is live, so it is never empty).
    fn new_partitions(&self, assignments: &[Vec<i32>]) -> Result<Vec<PartitionInfo>, CommandError> {
        assignments
            .iter()
            .map(|replicas| {
                self.check_replicas(replicas)?;
                let mut isr: Vec<i32> = replicas
                    .iter()
                    .copied()
                    .filter(|r| self.is_live(*r))
                    .collect();
                let leader = isr.first().copied().unwrap_or(-1);
                if isr.is_empty() {
                    isr.push(replicas[0]);
                }
                Ok(PartitionInfo {
                    replicas: replicas.clone(),
                    isr,
                    leader,
                    leader_epoch: 0,
                    partition_epoch: 0,
                })
            })
            .collect()
    }

    fn check_replicas(&self, replicas: &[i32]) -> Result<(), CommandError> {
        if replicas.is_empty() {
            return Err(invalid("a partition needs at least one replica"));
        }
        for (i, r) in replicas.iter().enumerate() {
            if replicas[..i].contains(r) {
                return Err(invalid(format!("replica {r} is listed twice")));
            }
            if !self.brokers.contains_key(r) {
                return Err(CommandError::UnknownBroker(*r));
            }
        }
        Ok(())
    }

    fn alter_client_quotas(
        &mut self,
        entity: QuotaEntity,
        changes: BTreeMap<String, Option<QuotaValue>>,
    ) -> CommandResult {
        let sorted = entity.windows(2).all(|w| w[0].0 < w[1].0);
        if entity.is_empty() || !sorted {
            return Err(invalid("a quota entity needs its types once each, sorted"));
        }
        if changes
            .values()
            .flatten()
            .any(|v| !(v.0.is_finite() && v.0 > 0.0))
        {
            return Err(invalid("quota values must be positive and finite"));
        }
        let at = self
            .client_quotas
            .binary_search_by(|q| q.entity.cmp(&entity));
        let mut values = match at {
            Ok(i) => self.client_quotas[i].values.clone(),
            Err(_) => BTreeMap::new(),
        };
        for (key, value) in changes {
            match value {
                Some(v) => values.insert(key, v),
                None => values.remove(&key),
            };
        }
        match (at, values.is_empty()) {
            (Ok(i), true) => {
                self.client_quotas.remove(i);
            }
            (Ok(i), false) => self.client_quotas[i].values = values,
            (Err(_), true) => return Ok(CommandOutput::Unchanged),
            (Err(i), false) => self.client_quotas.insert(i, ClientQuota { entity, values }),
        }
        Ok(CommandOutput::Applied)
    }

    fn change_partition(
        &mut self,
        topic: String,
        partition: i32,
        leader: Option<i32>,
        isr: Option<Vec<i32>>,
        expected_partition_epoch: Option<i32>,
    ) -> CommandResult {
        let t = self.topic_mut(&topic)?;
        let p = usize::try_from(partition)
            .ok()
            .and_then(|i| t.partitions.get_mut(i))
            .ok_or_else(|| CommandError::UnknownPartition(topic.clone(), partition))?;
        if let Some(expected) = expected_partition_epoch
            && expected != p.partition_epoch
        {
            return Err(CommandError::StalePartitionEpoch {
                expected,
                current: p.partition_epoch,
            });
        }
        let new_leader = leader.unwrap_or(p.leader);
        let new_isr = isr.unwrap_or_else(|| p.isr.clone());
        if new_isr.is_empty() {
            return Err(invalid("the ISR must not be empty"));
        }
        for (i, r) in new_isr.iter().enumerate() {
            if !p.replicas.contains(r) || new_isr[..i].contains(r) {
                return Err(invalid(format!("ISR member {r} is not a distinct replica")));
            }
        }
        if new_leader != -1 && !new_isr.contains(&new_leader) {
            return Err(invalid(format!("leader {new_leader} is not in the ISR")));
        }
        if new_leader == p.leader && new_isr == p.isr {
            return Ok(CommandOutput::Unchanged);
        }
        if new_leader != p.leader {
            p.leader = new_leader;
            p.leader_epoch += 1;
        }
        p.isr = new_isr;
        p.partition_epoch += 1;
        Ok(CommandOutput::Applied)
    }

    fn broker_mut(&mut self, id: i32) -> Result<&mut BrokerInfo, CommandError> {
        self.brokers
            .get_mut(&id)
            .ok_or(CommandError::UnknownBroker(id))
    }

    fn topic_mut(&mut self, name: &str) -> Result<&mut TopicInfo, CommandError> {
        self.topics
            .get_mut(name)
            .ok_or_else(|| CommandError::UnknownTopic(name.to_string()))
    }
}

fn invalid(msg: impl Into<String>) -> CommandError {
    CommandError::Invalid(msg.into())
}

//! Topic lifecycle: create (with validation), delete, add partitions.

use std::collections::{BTreeMap, HashMap};

use uuid::Uuid;

use super::{Broker, FILES_PER_PARTITION};
use crate::config::topic as topic_config;
use crate::controller::quorum::{MetadataCommand, PlacementError, place_replicas};
use crate::controller::{MetadataError, TopicMeta, topic_name};
use crate::storage::StorageError;

/// A topic as a client asks for it; -1 means "the broker default".
#[derive(Debug, Clone)]
pub struct NewTopic {
    pub name: String,
    pub num_partitions: i32,
    pub replication_factor: i16,
    /// Explicit replica lists per partition index, if the client gave them.
    pub assignments: Vec<(i32, Vec<i32>)>,
    pub configs: BTreeMap<String, Option<String>>,
}

/// Why a topic operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    #[error("{0}")]
    InvalidTopic(String),
    #[error("Topic '{0}' already exists.")]
    AlreadyExists(String),
    #[error("{0}")]
    InvalidPartitions(String),
    #[error("{0}")]
    InvalidReplicationFactor(String),
    #[error("{0}")]
    InvalidReplicaAssignment(String),
    #[error("{0}")]
    InvalidConfig(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("This server does not host this topic-partition.")]
    UnknownTopic,
    /// An unknown topic named in a config change (Kafka's message names it).
    #[error("The topic '{0}' does not exist.")]
    NoSuchTopic(String),
    #[error("Topic deletion is disabled.")]
    DeletionDisabled,
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Metadata(MetadataError),
}

impl From<MetadataError> for TopicError {
    fn from(e: MetadataError) -> Self {
        match e {
            MetadataError::TopicExists(n) => TopicError::AlreadyExists(n),
            MetadataError::UnknownTopic(_) => TopicError::UnknownTopic,
            other => TopicError::Metadata(other),
        }
    }
}

impl Broker {
    /// Validates and (unless `validate_only`) creates a topic with its logs.
    pub async fn create_topic(
        &self,
        t: &NewTopic,
        validate_only: bool,
    ) -> Result<TopicMeta, TopicError> {
        topic_name::validate(&t.name).map_err(TopicError::InvalidTopic)?;
        if self.metadata.get(&t.name).is_some() {
            return Err(TopicError::AlreadyExists(t.name.clone()));
        }
        let unified = topic_name::unify_collision_chars(&t.name);
        if let Some(existing) = self
            .metadata
            .topics()
            .into_iter()
            .find(|m| topic_name::unify_collision_chars(&m.name) == unified)
        {
            return Err(TopicError::InvalidTopic(format!(
                "Topic '{}' collides with existing topic: {}",
                t.name, existing.name
            )));
        }
        let (partitions, replication_factor, placement) = if t.assignments.is_empty() {
            let partitions = match t.num_partitions {
                -1 => self.config.num_partitions,
                n if n <= 0 => {
                    return Err(TopicError::InvalidPartitions(
                        "Number of partitions was set to an invalid non-positive value.".into(),
                    ));
                }
                n => n,
            };
            let rf = match t.replication_factor {
                -1 => self.config.default_replication_factor,
                n if n <= 0 => {
                    return Err(TopicError::InvalidReplicationFactor(
                        "Replication factor must be larger than 0, or -1 to use the default value."
                            .into(),
                    ));
                }
                n => n,
            };
            self.check_replication_factor(rf)?;
            self.check_replica_count(partitions as usize * rf as usize)?;
            let placement = place_replicas(&self.metadata.snapshot(), partitions, rf as i32)
                .map_err(placement_error)?;
            (partitions, rf, placement)
        } else {
            if t.num_partitions != -1 || t.replication_factor != -1 {
                return Err(TopicError::InvalidRequest(
                    "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.".into(),
                ));
            }
            let (rf, replicas) = self.check_assignments(&t.assignments, 0)?;
            (replicas.len() as i32, rf, replicas)
        };
        let mut configs = BTreeMap::new();
        for (k, v) in &t.configs {
            topic_config::validate(k, v.as_deref())
                .map_err(|e| TopicError::InvalidConfig(e.to_string()))?;
            configs.insert(k.clone(), v.clone().unwrap_or_default());
        }
        self.check_placement_budget(&placement)?;
        let id = Uuid::new_v4();
        if validate_only {
            return Ok(TopicMeta {
                name: t.name.clone(),
                id,
                partitions,
                replication_factor,
                configs,
                assignments: Vec::new(),
            });
        }
        let _guard = self.topic_ops.lock().await;
        self.metadata
            .propose(MetadataCommand::CreateTopic {
                name: t.name.clone(),
                id,
                partitions: placement,
                configs,
            })
            .await?;
        // The local replicas exist once this broker has reconciled the new state.
        self.reconcile();
        let meta = self.metadata.get(&t.name).ok_or(TopicError::UnknownTopic)?;
        log::info!(
            "created topic {} ({} partitions, id {})",
            meta.name,
            meta.partitions,
            crate::controller::base64_url_uuid(meta.id)
        );
        Ok(meta)
    }

    /// Auto-creates a topic with the broker defaults, if `auto.create.topics.enable`.
    pub async fn auto_create(&self, name: &str) -> Result<TopicMeta, TopicError> {
        let t = NewTopic {
            name: name.to_string(),
            num_partitions: -1,
            replication_factor: -1,
            assignments: Vec::new(),
            configs: BTreeMap::new(),
        };
        match self.create_topic(&t, false).await {
            Err(TopicError::AlreadyExists(_)) => {
                self.metadata.get(name).ok_or(TopicError::UnknownTopic)
            }
            other => other,
        }
    }

    /// Deletes a topic and its logs.
    pub async fn delete_topic(&self, name: &str) -> Result<TopicMeta, TopicError> {
        if !self.config.delete_topic_enable {
            return Err(TopicError::DeletionDisabled);
        }
        let _guard = self.topic_ops.lock().await;
        let meta = self.metadata.get(name).ok_or(TopicError::UnknownTopic)?;
        self.metadata
            .propose(MetadataCommand::DeleteTopic {
                name: name.to_string(),
            })
            .await?;
        // Every replica deletes its log when it reconciles the new state.
        self.reconcile();
        log::info!("deleted topic {name}");
        Ok(meta)
    }

    /// Raises the partition count of a topic.
    pub async fn create_partitions(
        &self,
        name: &str,
        count: i32,
        assignments: &[Vec<i32>],
        validate_only: bool,
    ) -> Result<(), TopicError> {
        let meta = self.metadata.get(name).ok_or(TopicError::UnknownTopic)?;
        if count < meta.partitions {
            return Err(TopicError::InvalidPartitions(format!(
                "Topic currently has {} partitions, which is higher than the requested {count}.",
                meta.partitions
            )));
        }
        if count == meta.partitions {
            return Err(TopicError::InvalidPartitions(format!(
                "Topic already has {} partitions.",
                meta.partitions
            )));
        }
        let added = (count - meta.partitions) as usize;
        let placement = if !assignments.is_empty() {
            if assignments.len() != added {
                return Err(TopicError::InvalidReplicaAssignment(format!(
                    "Increasing the number of partitions by {added} but {} assignments provided.",
                    assignments.len()
                )));
            }
            let numbered: Vec<(i32, Vec<i32>)> = assignments
                .iter()
                .enumerate()
                .map(|(i, r)| (i as i32, r.clone()))
                .collect();
            self.check_assignments(&numbered, meta.replication_factor)?;
            assignments.to_vec()
        } else {
            self.check_replication_factor(meta.replication_factor)?;
            self.check_replica_count(added * meta.replication_factor.max(1) as usize)?;
            place_replicas(
                &self.metadata.snapshot(),
                added as i32,
                meta.replication_factor as i32,
            )
            .map_err(placement_error)?
        };
        self.check_placement_budget(&placement)?;
        if validate_only {
            return Ok(());
        }
        let _guard = self.topic_ops.lock().await;
        let current = self.metadata.get(name).ok_or(TopicError::UnknownTopic)?;
        if current.partitions != meta.partitions {
            return Err(TopicError::InvalidPartitions(format!(
                "Topic currently has {} partitions, which is higher than the requested {count}.",
                current.partitions
            )));
        }
        self.metadata
            .propose(MetadataCommand::CreatePartitions {
                name: name.to_string(),
                new_assignments: placement,
            })
            .await?;
        self.reconcile();
        Ok(())
    }

    /// Refuses, before anything is placed, a request for more partition replicas than the
    /// live brokers' open-file budgets could hold together.
    fn check_replica_count(&self, replicas: usize) -> Result<(), TopicError> {
        let brokers = self.live_brokers().len().max(1);
        let room = self.partition_budget.saturating_mul(brokers);
        if replicas > room {
            return Err(TopicError::InvalidPartitions(format!(
                "Creating {replicas} partition replicas would exceed what {brokers} broker(s) can open: {} partition replicas each ({} open files per partition, limit {} open files; raise the open-file limit, ulimit -n)",
                self.partition_budget, FILES_PER_PARTITION, self.open_file_limit,
            )));
        }
        Ok(())
    }

    /// Refuses a placement that puts more partition replicas on one broker than its
    /// open-file budget allows (each partition holds its segment and index files open).
    fn check_placement_budget(&self, placement: &[Vec<i32>]) -> Result<(), TopicError> {
        let mut load: HashMap<i32, usize> = HashMap::new();
        for t in self.metadata.snapshot().topics.values() {
            for p in &t.partitions {
                for r in &p.replicas {
                    *load.entry(*r).or_default() += 1;
                }
            }
        }
        for replicas in placement {
            for r in replicas {
                *load.entry(*r).or_default() += 1;
            }
        }
        if let Some((broker, n)) = load.iter().find(|(_, n)| **n > self.partition_budget) {
            return Err(TopicError::InvalidPartitions(format!(
                "Broker {broker} would host {n} partition replicas, more than the {} its open-file limit allows ({} open files per partition, limit {} open files; raise the open-file limit, ulimit -n)",
                self.partition_budget, FILES_PER_PARTITION, self.open_file_limit,
            )));
        }
        Ok(())
    }

    fn check_replication_factor(&self, rf: i16) -> Result<(), TopicError> {
        let brokers = self.live_brokers().len() as i32;
        if rf as i32 > brokers {
            return Err(TopicError::InvalidReplicationFactor(format!(
                "Unable to replicate the partition {rf} time(s): The target replication factor of {rf} cannot be reached because only {brokers} broker(s) are registered."
            )));
        }
        Ok(())
    }

    /// Checks explicit replica assignments, given in any order as Kafka takes them; returns
    /// the replication factor and the replica lists in partition order.
    fn check_assignments(
        &self,
        assignments: &[(i32, Vec<i32>)],
        expected_rf: i16,
    ) -> Result<(i16, Vec<Vec<i32>>), TopicError> {
        let mut by_index: Vec<&(i32, Vec<i32>)> = assignments.iter().collect();
        by_index.sort_by_key(|(index, _)| *index);
        if let Some(w) = by_index.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(TopicError::InvalidReplicaAssignment(format!(
                "Found multiple manual partition assignments for partition {}",
                w[0].0
            )));
        }
        if by_index
            .iter()
            .enumerate()
            .any(|(i, (index, _))| *index != i as i32)
        {
            return Err(TopicError::InvalidReplicaAssignment(
                "partitions should be a consecutive 0-based integer sequence".into(),
            ));
        }
        let rf = by_index[0].1.len();
        for (index, replicas) in by_index.iter().map(|a| (&a.0, &a.1)) {
            if replicas.is_empty() || replicas.len() != rf {
                return Err(TopicError::InvalidReplicaAssignment(
                    "All partitions should have the same number of replicas".into(),
                ));
            }
            if expected_rf > 0 && replicas.len() != expected_rf as usize {
                return Err(TopicError::InvalidReplicaAssignment(format!(
                    "Inconsistent replication factor between partitions, partition 0 has {expected_rf} while partitions [{index}] have replication factors [{}], respectively.",
                    replicas.len()
                )));
            }
            let mut seen = replicas.clone();
            seen.sort_unstable();
            seen.dedup();
            if seen.len() != replicas.len() {
                return Err(TopicError::InvalidReplicaAssignment(format!(
                    "Duplicate brokers not allowed in replica assignment: {replicas:?} for partition id {index}."
                )));
            }
            let live = self.live_brokers();
            if let Some(b) = replicas.iter().find(|b| !live.iter().any(|l| l.id == **b)) {
                return Err(TopicError::InvalidReplicaAssignment(format!(
                    "Unknown broker id {b} in the replica assignment of partition {index}."
                )));
            }
        }
        Ok((
            rf as i16,
            by_index.into_iter().map(|(_, r)| r.clone()).collect(),
        ))
    }
}

fn placement_error(e: PlacementError) -> TopicError {
    match e {
        PlacementError::InsufficientBrokers { wanted, live } => {
            TopicError::InvalidReplicationFactor(format!(
                "Unable to replicate the partition {wanted} time(s): The target replication factor of {wanted} cannot be reached because only {live} broker(s) are registered."
            ))
        }
        PlacementError::InvalidReplicationFactor => TopicError::InvalidReplicationFactor(
            "Replication factor must be larger than 0, or -1 to use the default value.".into(),
        ),
        PlacementError::InvalidPartitionCount => TopicError::InvalidPartitions(
            "Number of partitions was set to an invalid non-positive value.".into(),
        ),
    }
}

//! Topic lifecycle: create (with validation), delete, add partitions.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::Broker;
use crate::config::topic as topic_config;
use crate::controller::{MetadataError, TopicMeta, topic_name};
use crate::storage::{StorageError, TopicPartition};

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
            MetadataError::TopicCollision { .. } => TopicError::InvalidTopic(e.to_string()),
            MetadataError::UnknownTopic(_) => TopicError::UnknownTopic,
            other => TopicError::Metadata(other),
        }
    }
}

impl Broker {
    /// Validates and (unless `validate_only`) creates a topic with its logs.
    pub fn create_topic(&self, t: &NewTopic, validate_only: bool) -> Result<TopicMeta, TopicError> {
        topic_name::validate(&t.name).map_err(TopicError::InvalidTopic)?;
        if self.metadata.get(&t.name).is_some() {
            return Err(TopicError::AlreadyExists(t.name.clone()));
        }
        let (partitions, replication_factor) = if t.assignments.is_empty() {
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
            (partitions, rf)
        } else {
            if t.num_partitions != -1 || t.replication_factor != -1 {
                return Err(TopicError::InvalidRequest(
                    "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.".into(),
                ));
            }
            self.check_assignments(&t.assignments, 0)?
        };
        let mut configs = BTreeMap::new();
        for (k, v) in &t.configs {
            topic_config::validate(k, v.as_deref())
                .map_err(|e| TopicError::InvalidConfig(e.to_string()))?;
            configs.insert(k.clone(), v.clone().unwrap_or_default());
        }
        let meta = TopicMeta {
            name: t.name.clone(),
            id: Uuid::new_v4(),
            partitions,
            replication_factor,
            configs,
        };
        if validate_only {
            return Ok(meta);
        }
        let _guard = self.topic_ops.lock().unwrap_or_else(|p| p.into_inner());
        if self.metadata.get(&t.name).is_some() {
            return Err(TopicError::AlreadyExists(t.name.clone()));
        }
        // Logs first, then metadata: whoever sees the topic can also use its partitions.
        self.ensure_logs(&meta)?;
        self.metadata.create(meta.clone())?;
        log::info!(
            "created topic {} ({} partitions, id {})",
            meta.name,
            meta.partitions,
            crate::controller::base64_url_uuid(meta.id)
        );
        Ok(meta)
    }

    /// Auto-creates a topic with the broker defaults, if `auto.create.topics.enable`.
    pub fn auto_create(&self, name: &str) -> Result<TopicMeta, TopicError> {
        let t = NewTopic {
            name: name.to_string(),
            num_partitions: -1,
            replication_factor: -1,
            assignments: Vec::new(),
            configs: BTreeMap::new(),
        };
        match self.create_topic(&t, false) {
            Err(TopicError::AlreadyExists(_)) => {
                self.metadata.get(name).ok_or(TopicError::UnknownTopic)
            }
            other => other,
        }
    }

    /// Deletes a topic and its logs.
    pub fn delete_topic(&self, name: &str) -> Result<TopicMeta, TopicError> {
        if !self.config.delete_topic_enable {
            return Err(TopicError::DeletionDisabled);
        }
        let _guard = self.topic_ops.lock().unwrap_or_else(|p| p.into_inner());
        let meta = self.metadata.delete(name)?;
        for p in 0..meta.partitions {
            self.logs.delete(&TopicPartition {
                topic: meta.name.clone(),
                partition: p,
            })?;
        }
        log::info!("deleted topic {name}");
        Ok(meta)
    }

    /// Raises the partition count of a topic.
    pub fn create_partitions(
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
        if !assignments.is_empty() {
            let added = (count - meta.partitions) as usize;
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
        }
        if validate_only {
            return Ok(());
        }
        let _guard = self.topic_ops.lock().unwrap_or_else(|p| p.into_inner());
        let mut grown = self.metadata.get(name).ok_or(TopicError::UnknownTopic)?;
        if grown.partitions != meta.partitions {
            return Err(TopicError::InvalidPartitions(format!(
                "Topic currently has {} partitions, which is higher than the requested {count}.",
                grown.partitions
            )));
        }
        grown.partitions = count;
        self.ensure_logs(&grown)?;
        self.metadata.set_partitions(name, count)?;
        Ok(())
    }

    fn check_replication_factor(&self, rf: i16) -> Result<(), TopicError> {
        let brokers = 1;
        if rf as i32 > brokers {
            return Err(TopicError::InvalidReplicationFactor(format!(
                "Unable to replicate the partition {rf} time(s): The target replication factor of {rf} cannot be reached because only {brokers} broker(s) are registered."
            )));
        }
        Ok(())
    }

    /// Checks explicit replica assignments; returns (partition count, replication factor).
    fn check_assignments(
        &self,
        assignments: &[(i32, Vec<i32>)],
        expected_rf: i16,
    ) -> Result<(i32, i16), TopicError> {
        let rf = assignments[0].1.len();
        for (i, (index, replicas)) in assignments.iter().enumerate() {
            if *index != i as i32 {
                return Err(TopicError::InvalidReplicaAssignment(
                    "Partitions should be a consecutive 0-based integer sequence".into(),
                ));
            }
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
            if let Some(b) = replicas.iter().find(|b| **b != self.node_id()) {
                return Err(TopicError::InvalidReplicaAssignment(format!(
                    "Unknown broker id {b} in the replica assignment of partition {index}."
                )));
            }
        }
        Ok((assignments.len() as i32, rf as i16))
    }
}

//! The replica manager: which partitions this broker leads or follows, following the
//! controller's metadata. Leaders track their followers (ISR, high watermark) and answer
//! produce/fetch; followers are fed by the `fetcher`.
//!
//! It reconciles local state with every applied metadata state: new replicas get a log,
//! leadership changes assign a leader epoch in the log (leader) or start fetching with a
//! truncation first (follower), and logs of deleted topics are removed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use super::fetcher::Fetcher;
use super::leader::LeaderState;
use crate::controller::Metadata;
use crate::controller::quorum::{ClusterState, MetadataCommand, PartitionInfo};
use crate::storage::{LogConfig, LogManager, PartitionLog, TopicPartition};

/// The role of this broker for one partition.
#[derive(Debug)]
pub enum Role {
    Leader(LeaderState),
    /// Following `leader` (-1: no leader right now) at `leader_epoch`.
    Follower {
        leader: i32,
        leader_epoch: i32,
    },
}

impl Role {
    /// This broker's leadership of the partition, or the refusal a leader-only request
    /// (produce, follower fetch) gets here.
    pub fn leader(&self) -> Result<&LeaderState, ReplicaError> {
        match self {
            Role::Leader(l) => Ok(l),
            Role::Follower { .. } => Err(self.not_leader()),
        }
    }

    /// As [`leader`](Self::leader), and only at `epoch`: a later leadership of this
    /// broker refuses too (the log may have changed hands in between).
    pub fn leader_at(&self, epoch: i32) -> Result<&LeaderState, ReplicaError> {
        match self {
            Role::Leader(l) if l.leader_epoch == epoch => Ok(l),
            _ => Err(self.not_leader()),
        }
    }

    /// As [`leader`](Self::leader), mutably.
    pub fn leader_mut(&mut self) -> Result<&mut LeaderState, ReplicaError> {
        match self {
            Role::Leader(l) => Ok(l),
            Role::Follower { .. } => Err(self.not_leader()),
        }
    }

    fn not_leader(&self) -> ReplicaError {
        match self {
            Role::Leader(l) => ReplicaError::NotLeader {
                leader: l.local_id,
                leader_epoch: l.leader_epoch,
            },
            Role::Follower {
                leader,
                leader_epoch,
            } => ReplicaError::NotLeader {
                leader: *leader,
                leader_epoch: *leader_epoch,
            },
        }
    }
}

/// One partition this broker hosts.
pub struct Replica {
    pub log: Arc<PartitionLog>,
    pub role: Mutex<Role>,
    /// The leader epoch of every role change (-1: removed), for waiters that must stop
    /// when this broker stops leading (acks=all, see `append`).
    pub leadership: tokio::sync::watch::Sender<i32>,
    /// Woken when a follower reports a new log start offset (DeleteRecords waits on it).
    pub followers_moved: tokio::sync::Notify,
}

/// Why a request cannot be served here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaError {
    /// This broker does not host the partition (or the topic does not exist).
    Unknown,
    /// This broker's replica of the partition is offline (its log failed to load).
    Offline,
    /// Another broker leads it (`leader` -1: none right now), at `leader_epoch`.
    NotLeader { leader: i32, leader_epoch: i32 },
}

/// All replicas of this broker.
pub struct ReplicaManager {
    node_id: i32,
    logs: Arc<LogManager>,
    pub(super) metadata: Arc<Metadata>,
    replicas: RwLock<HashMap<TopicPartition, Arc<Replica>>>,
    fetcher: Fetcher,
    /// `replica.lag.time.max.ms`
    lag_max_ms: i64,
}

impl ReplicaManager {
    pub fn new(
        node_id: i32,
        logs: Arc<LogManager>,
        metadata: Arc<Metadata>,
        lag_max_ms: i64,
    ) -> Self {
        let fetcher = Fetcher::new(node_id, metadata.clone());
        ReplicaManager {
            node_id,
            logs,
            metadata,
            replicas: RwLock::new(HashMap::new()),
            fetcher,
            lag_max_ms,
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<TopicPartition, Arc<Replica>>> {
        self.replicas.read().unwrap_or_else(|p| p.into_inner())
    }

    /// A hosted partition, whatever its role.
    pub fn replica(&self, topic: &str, partition: i32) -> Option<Arc<Replica>> {
        self.read()
            .get(&TopicPartition {
                topic: topic.to_string(),
                partition,
            })
            .cloned()
    }

    /// A hosted partition, or why there is none here: `Offline` where its log failed to
    /// load, else `Unknown`.
    pub fn hosted(&self, topic: &str, partition: i32) -> Result<Arc<Replica>, ReplicaError> {
        self.replica(topic, partition).ok_or_else(|| {
            let tp = TopicPartition::new(topic, partition);
            if self.logs.is_offline(&tp) {
                ReplicaError::Offline
            } else {
                ReplicaError::Unknown
            }
        })
    }

    /// The log of a partition this broker leads, with the leader epoch.
    pub fn leader_log(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<(Arc<PartitionLog>, i32), ReplicaError> {
        let r = self.hosted(topic, partition)?;
        let role = r.role.lock().unwrap_or_else(|p| p.into_inner());
        Ok((r.log.clone(), role.leader()?.leader_epoch))
    }

    /// A follower fetched at `fetch_offset`: update its state, the high watermark, and
    /// propose an ISR expansion when it caught up.
    pub fn on_follower_fetch(
        &self,
        topic: &str,
        partition: i32,
        replica_id: i32,
        fetch_offset: i64,
        now: i64,
    ) -> Result<(), ReplicaError> {
        let r = self.hosted(topic, partition)?;
        let proposal = {
            let mut role = r.role.lock().unwrap_or_else(|p| p.into_inner());
            self.follower_fetched(&r, role.leader_mut()?, replica_id, fetch_offset, -1, now)?
        };
        if let Some(isr) = proposal {
            self.propose_isr(topic, partition, isr);
        }
        Ok(())
    }

    /// [`on_follower_fetch`](Self::on_follower_fetch) under the role lock the caller
    /// holds, with the follower's log start offset (-1: not reported): returns the ISR to
    /// propose (after the lock is released), if any.
    pub(super) fn follower_fetched(
        &self,
        r: &Replica,
        l: &mut LeaderState,
        replica_id: i32,
        fetch_offset: i64,
        log_start: i64,
        now: i64,
    ) -> Result<Option<Vec<i32>>, ReplicaError> {
        if !l.replicas.contains(&replica_id) {
            return Err(ReplicaError::NotLeader {
                leader: self.node_id,
                leader_epoch: l.leader_epoch,
            });
        }
        let leo = r.log.log_end_offset();
        let hw = r.log.high_watermark();
        let proposal = l.on_follower_fetch(replica_id, fetch_offset, leo, hw, now);
        if log_start >= 0 && l.note_log_start(replica_id, log_start) {
            r.followers_moved.notify_waiters();
        }
        r.log.set_high_watermark(l.high_watermark(leo));
        Ok(proposal)
    }

    pub(super) fn propose_isr(&self, topic: &str, partition: i32, isr: Vec<i32>) {
        let metadata = self.metadata.clone();
        let cmd = MetadataCommand::ChangePartition {
            topic: topic.to_string(),
            partition,
            leader: None,
            isr: Some(isr.clone()),
            expected_partition_epoch: None,
        };
        let replica = self.replica(topic, partition);
        let tp = format!("{topic}-{partition}");
        tokio::spawn(async move {
            log::info!("{tp}: proposing ISR {isr:?}");
            if let Err(e) = metadata.propose(cmd).await {
                log::warn!("{tp}: ISR change refused: {e}");
                if let Some(r) = replica
                    && let Role::Leader(l) = &mut *r.role.lock().unwrap_or_else(|p| p.into_inner())
                {
                    l.clear_pending();
                }
            }
        });
    }

    /// Shrinks the ISR of led partitions whose followers lag (run periodically).
    pub fn check_isr(&self, now: i64) {
        let replicas: Vec<(TopicPartition, Arc<Replica>)> = self
            .read()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (tp, r) in replicas {
            let proposal = {
                let mut role = r.role.lock().unwrap_or_else(|p| p.into_inner());
                match &mut *role {
                    Role::Leader(l) => l.shrink(r.log.log_end_offset(), self.lag_max_ms, now),
                    Role::Follower { .. } => None,
                }
            };
            if let Some(isr) = proposal {
                self.propose_isr(&tp.topic, tp.partition, isr);
            }
        }
    }

    /// Brings local replicas in line with the metadata.
    pub fn reconcile(&self, state: &ClusterState, configs: &dyn Fn(&str) -> LogConfig, now: i64) {
        // An offline log directory follows no leader (see `LogDirHealth`).
        let dir_offline = self.logs.health().is_offline();
        let mut wanted: HashMap<TopicPartition, PartitionInfo> = HashMap::new();
        for t in state.topics.values() {
            for (i, p) in t.partitions.iter().enumerate() {
                if p.replicas.contains(&self.node_id) {
                    wanted.insert(
                        TopicPartition {
                            topic: t.name.clone(),
                            partition: i as i32,
                        },
                        p.clone(),
                    );
                }
            }
        }
        // Replicas that went away (deleted topics, reassignments).
        let gone: Vec<TopicPartition> = self
            .read()
            .keys()
            .filter(|tp| !wanted.contains_key(*tp))
            .cloned()
            .collect();
        for tp in gone {
            self.fetcher.remove(&tp);
            let removed = self
                .replicas
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&tp);
            if let Some(r) = removed {
                *r.role.lock().unwrap_or_else(|p| p.into_inner()) = Role::Follower {
                    leader: -1,
                    leader_epoch: -1,
                };
                r.leadership.send_replace(-1);
            }
            if !state.topics.contains_key(&tp.topic)
                && let Err(e) = self.logs.delete(&tp)
            {
                log::error!("cannot delete the log of {tp}: {e}");
            }
        }
        // Offline logs (they failed to load) of deleted topics go too.
        for tp in self.logs.offline_partitions() {
            if !state.topics.contains_key(&tp.topic)
                && let Err(e) = self.logs.delete(&tp)
            {
                log::error!("cannot delete the offline log of {tp}: {e}");
            }
        }
        for (tp, p) in wanted {
            let PartitionInfo {
                replicas,
                isr,
                leader,
                leader_epoch: epoch,
                ..
            } = p;
            let rf = replicas.len();
            let existing = self.read().get(&tp).cloned();
            let replica = match existing {
                Some(r) => r,
                None => {
                    let log = match self.logs.get(&tp) {
                        Some(l) => l,
                        // its load failure was logged at startup; never recreated
                        None if self.logs.is_offline(&tp) => continue,
                        None => match self.logs.create(&tp, configs(&tp.topic)) {
                            Ok(l) => l,
                            Err(e) => {
                                log::error!("cannot create the log of {tp}: {e}");
                                continue;
                            }
                        },
                    };
                    log.set_hw_follows_leo(rf == 1);
                    let r = Arc::new(Replica {
                        log,
                        role: Mutex::new(Role::Follower {
                            leader: -1,
                            leader_epoch: -1,
                        }),
                        leadership: tokio::sync::watch::Sender::new(-1),
                        followers_moved: tokio::sync::Notify::new(),
                    });
                    self.replicas
                        .write()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(tp.clone(), r.clone());
                    r
                }
            };
            let mut role = replica.role.lock().unwrap_or_else(|p| p.into_inner());
            match &mut *role {
                Role::Leader(l) if leader == self.node_id && l.leader_epoch == epoch => {
                    l.on_metadata(isr);
                    continue;
                }
                Role::Follower {
                    leader: cur,
                    leader_epoch: cur_epoch,
                } if leader != self.node_id && *cur == leader && *cur_epoch == epoch => continue,
                _ => {}
            }
            replica.log.set_hw_follows_leo(rf == 1);
            if leader == self.node_id {
                let leo = replica.log.log_end_offset();
                if let Err(e) = replica.log.assign_epoch(epoch, leo) {
                    log::error!("{tp}: cannot assign leader epoch {epoch}: {e}");
                }
                self.fetcher.remove(&tp);
                let l = LeaderState::new(self.node_id, epoch, replicas, isr, leo, now);
                replica.log.set_high_watermark(l.high_watermark(leo));
                log::info!("{tp}: leader at epoch {epoch} from offset {leo}");
                *role = Role::Leader(l);
            } else {
                *role = Role::Follower {
                    leader,
                    leader_epoch: epoch,
                };
                if leader >= 0 && !dir_offline {
                    log::info!("{tp}: following broker {leader} at epoch {epoch}");
                    self.fetcher
                        .add(tp.clone(), replica.log.clone(), leader, epoch);
                } else {
                    self.fetcher.remove(&tp);
                }
            }
            replica.leadership.send_replace(epoch);
        }
    }

    /// Stops every fetcher.
    pub fn shutdown(&self) {
        self.fetcher.shutdown();
    }
}

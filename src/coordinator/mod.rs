//! The group coordinator: consumer groups of the classic protocol and their committed
//! offsets, made durable in the compacted internal topic `__consumer_offsets` with
//! Apache Kafka's record schemas and rebuilt from it at startup (`replay`).
//!
//! The group logic (`group.rs`, `membership.rs`) is a deterministic state machine: time
//! comes in as arguments and its only output besides responses is "persist this group",
//! which this module turns into records through the `OffsetsLog` trait. It never touches
//! sockets or Kafka message structs.
//!
//! Groups are kept per `__consumer_offsets` partition, each behind its own lock, so the
//! records of one partition are appended in the order its groups changed and no write
//! holds up the groups of other partitions. Every write returns a [`WriteMark`]; the
//! handlers answer only once the mark is committed (replicated to the ISR), as Kafka's
//! coordinator answers only once its records are.

mod group;
mod membership;
pub mod records;
mod subscription;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::{Notify, oneshot};

pub use group::{Group, GroupError, GroupState, JoinResult, SyncResult};
pub use membership::{JoinParams, Persist, SyncParams};
use records::{OffsetValue, RecordKey};

/// The internal topic holding offsets and group metadata.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Where a coordinator write landed in `__consumer_offsets`: committed once that
/// partition's high watermark passes `last_offset` while its leader epoch is still
/// `leader_epoch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteMark {
    pub partition: i32,
    pub last_offset: i64,
    pub leader_epoch: i32,
}

/// Where the coordinator writes its records.
pub trait OffsetsLog: Send + Sync {
    /// Appends `(key, value)` records (`None`: tombstone) to a partition of
    /// `__consumer_offsets` as its leader; an error means nothing was written, and is
    /// what the request that caused the write is answered with.
    fn append(
        &self,
        partition: i32,
        records: &[(Bytes, Option<Bytes>)],
        now: i64,
    ) -> Result<WriteMark, GroupError>;

    /// The partition's high watermark: records below it are replicated, and only their
    /// offsets count (are answered by OffsetFetch).
    fn high_watermark(&self, partition: i32) -> i64;
}

/// Coordinator settings (Kafka's `group.*` and `offsets.*` broker configs).
#[derive(Debug, Clone)]
pub struct GroupConfig {
    pub initial_rebalance_delay_ms: i64,
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    pub offsets_partitions: i32,
    pub offsets_retention_ms: i64,
    pub offset_metadata_max_bytes: usize,
    /// `offsets.commit.timeout.ms`: how long a write waits to be replicated.
    pub commit_timeout_ms: i64,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            initial_rebalance_delay_ms: 3000,
            min_session_timeout_ms: 6000,
            max_session_timeout_ms: 1_800_000,
            offsets_partitions: 50,
            offsets_retention_ms: 7 * 24 * 3_600_000,
            offset_metadata_max_bytes: 4096,
            commit_timeout_ms: 5000,
        }
    }
}

/// A member as DescribeGroups shows it.
#[derive(Debug, Clone)]
pub struct MemberSummary {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

/// A group as DescribeGroups shows it.
#[derive(Debug, Clone)]
pub struct GroupSummary {
    pub state: GroupState,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<MemberSummary>,
}

/// Per-partition outcomes of a request, and the mark of its write (`None`: none).
pub type Outcomes = (Vec<Result<(), GroupError>>, Option<WriteMark>);

/// One offset commit (or fetch result) for a partition.
pub type PartitionOffset = ((String, i32), OffsetValue);

/// The groups of one `__consumer_offsets` partition.
type Shard = HashMap<String, Group>;

/// All groups of this broker.
pub struct GroupCoordinator {
    config: GroupConfig,
    /// One shard per `__consumer_offsets` partition (index = partition).
    shards: Vec<Mutex<Shard>>,
    /// The `__consumer_offsets` partitions whose groups are loaded here (this broker
    /// leads them).
    loaded: Mutex<std::collections::HashSet<i32>>,
    log: Box<dyn OffsetsLog>,
    /// Woken when a group's timers may have moved earlier.
    pub timers_changed: Notify,
}

impl GroupCoordinator {
    pub fn new(config: GroupConfig, log: Box<dyn OffsetsLog>) -> Self {
        GroupCoordinator {
            shards: (0..config.offsets_partitions.max(1))
                .map(|_| Mutex::new(HashMap::new()))
                .collect(),
            config,
            loaded: Mutex::new(Default::default()),
            log,
            timers_changed: Notify::new(),
        }
    }

    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    /// The shard of a `__consumer_offsets` partition.
    fn shard_at(&self, partition: i32) -> std::sync::MutexGuard<'_, Shard> {
        let i = (partition.max(0) as usize).min(self.shards.len() - 1);
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The shard holding a group.
    fn shard(&self, group: &str) -> std::sync::MutexGuard<'_, Shard> {
        self.shard_at(self.partition_of(group))
    }

    /// The group's latest write (`None`: none since it was loaded), for the handlers to
    /// wait on before answering with the group's state.
    pub fn last_write(&self, group_id: &str) -> Option<Result<WriteMark, GroupError>> {
        self.shard(group_id).get(group_id)?.last_write.clone()
    }

    /// The `__consumer_offsets` partition that holds a group.
    pub fn partition_of(&self, group: &str) -> i32 {
        records::partition_for(group, self.config.offsets_partitions)
    }

    /// Whether this coordinator owns `group` (its partition is loaded here).
    pub fn owns(&self, group: &str) -> bool {
        self.loaded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&self.partition_of(group))
    }

    /// The partitions loaded here.
    pub fn loaded_partitions(&self) -> std::collections::HashSet<i32> {
        self.loaded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Forgets the groups of a partition (leadership moved away, or before a reload);
    /// waiting members are told to find the coordinator again.
    pub fn unload_partition(&self, partition: i32) {
        self.loaded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&partition);
        self.shard_at(partition).clear();
    }

    /// Marks a partition as loaded, after its records were replayed.
    pub fn mark_loaded(&self, partition: i32) {
        self.loaded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(partition);
    }

    /// Writes the group's metadata record (a tombstone once the group is gone); the
    /// outcome becomes the group's `last_write`.
    fn persist_group(&self, group: &mut Group, now: i64) {
        let key = records::encode_key(&RecordKey::Group {
            group: group.id.clone(),
        });
        let value =
            (group.state != GroupState::Dead).then(|| records::encode_group(&group.to_record()));
        let written = self
            .log
            .append(self.partition_of(&group.id), &[(key, value)], now);
        if let Err(e) = &written {
            log::error!("cannot persist group {}: {e}", group.id);
        }
        group.last_write = Some(written);
    }

    /// Makes the group's replicated pending offsets count.
    fn settle(&self, group: &mut Group) {
        group.settle(self.log.high_watermark(self.partition_of(&group.id)));
    }

    fn after(&self, group: &mut Group, persist: Persist, now: i64) {
        if persist.0 {
            self.persist_group(group, now);
        }
        self.timers_changed.notify_one();
    }

    /// JoinGroup. Waits (outside any lock) for the rebalance when needed.
    pub fn join(&self, group_id: &str, p: JoinParams, now: i64) -> oneshot::Receiver<JoinResult> {
        let immediate = |e: GroupError| {
            let (tx, rx) = oneshot::channel();
            let _ = tx.send(JoinResult::error(&p.member_id, e));
            rx
        };
        if group_id.is_empty() {
            return immediate(GroupError::InvalidGroupId);
        }
        if p.session_timeout_ms < self.config.min_session_timeout_ms
            || p.session_timeout_ms > self.config.max_session_timeout_ms
        {
            return immediate(GroupError::InvalidSessionTimeout);
        }
        let mut groups = self.shard(group_id);
        if !groups.contains_key(group_id) {
            if !p.member_id.is_empty() {
                return immediate(GroupError::UnknownMemberId);
            }
            groups.insert(group_id.to_string(), Group::new(group_id, now));
        }
        let group = groups.get_mut(group_id).expect("inserted above");
        let (rx, persist) = group.join(p, now);
        self.after(group, persist, now);
        rx
    }

    /// SyncGroup.
    pub fn sync(&self, group_id: &str, p: SyncParams, now: i64) -> oneshot::Receiver<SyncResult> {
        let mut groups = self.shard(group_id);
        let Some(group) = groups.get_mut(group_id) else {
            let (tx, rx) = oneshot::channel();
            let _ = tx.send(SyncResult::error(GroupError::UnknownMemberId));
            return rx;
        };
        let (rx, persist) = group.sync(p, now);
        self.after(group, persist, now);
        rx
    }

    /// Heartbeat.
    pub fn heartbeat(
        &self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        now: i64,
    ) -> Result<(), GroupError> {
        let mut groups = self.shard(group_id);
        let group = groups
            .get_mut(group_id)
            .ok_or(GroupError::UnknownMemberId)?;
        group.heartbeat(member_id, instance_id, generation, now)
    }

    /// LeaveGroup for several members; the outer error is for the whole group.
    pub fn leave(
        &self,
        group_id: &str,
        members: &[(String, Option<String>)],
        now: i64,
    ) -> Result<Vec<Result<(), GroupError>>, GroupError> {
        let mut groups = self.shard(group_id);
        let group = groups
            .get_mut(group_id)
            .ok_or(GroupError::UnknownMemberId)?;
        let mut results = Vec::with_capacity(members.len());
        let mut persist = Persist(false);
        for (member_id, instance_id) in members {
            match group.leave(member_id, instance_id.as_deref(), now) {
                Ok(p) => {
                    persist.0 |= p.0;
                    results.push(Ok(()));
                }
                Err(e) => results.push(Err(e)),
            }
        }
        self.after(group, persist, now);
        Ok(results)
    }

    /// OffsetCommit. Offsets are written to `__consumer_offsets` before they count; the
    /// answer waits for the returned mark (`None`: nothing was written).
    pub fn commit(
        &self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        offsets: Vec<PartitionOffset>,
        now: i64,
    ) -> Result<Outcomes, GroupError> {
        if group_id.is_empty() {
            return Err(GroupError::InvalidGroupId);
        }
        let mut groups = self.shard(group_id);
        if !groups.contains_key(group_id) {
            if generation >= 0 || !member_id.is_empty() {
                return Err(GroupError::IllegalGeneration);
            }
            groups.insert(group_id.to_string(), Group::new(group_id, now));
        }
        let group = groups.get_mut(group_id).expect("inserted above");
        let standalone = generation < 0 && member_id.is_empty();
        match group.state {
            GroupState::Dead => return Err(GroupError::CoordinatorNotAvailable),
            GroupState::Empty if standalone => {}
            _ if standalone => return Err(GroupError::UnknownMemberId),
            state => {
                group.validate_member(member_id, instance_id, generation)?;
                if state == GroupState::CompletingRebalance {
                    return Err(GroupError::RebalanceInProgress);
                }
                if let Some(m) = group.members.get_mut(member_id) {
                    m.session_deadline = now + m.session_timeout_ms as i64;
                }
            }
        }
        let max = self.config.offset_metadata_max_bytes;
        let mut results = Vec::with_capacity(offsets.len());
        let mut batch = Vec::new();
        let mut accepted = Vec::new();
        for ((topic, partition), value) in offsets {
            if value.metadata.len() > max {
                results.push(Err(GroupError::OffsetMetadataTooLarge));
                continue;
            }
            results.push(Ok(()));
            let key = RecordKey::Offset {
                group: group_id.to_string(),
                topic: topic.clone(),
                partition,
            };
            batch.push((
                records::encode_key(&key),
                Some(records::encode_offset(&value)),
            ));
            accepted.push(((topic, partition), value));
        }
        if batch.is_empty() {
            return Ok((results, None));
        }
        let written = self.log.append(self.partition_of(group_id), &batch, now);
        group.last_write = Some(written.clone());
        let mark = written.inspect_err(|e| {
            log::error!("cannot persist offsets of group {group_id}: {e}");
        })?;
        group
            .pending_offsets
            .push_back((mark.last_offset, accepted));
        Ok((results, Some(mark)))
    }

    /// OffsetFetch: the committed offsets of the partitions asked for (all when `None`).
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        partitions: Option<&[(String, i32)]>,
    ) -> Result<Vec<(String, i32, Option<OffsetValue>)>, GroupError> {
        let mut groups = self.shard(group_id);
        let group = groups.get_mut(group_id).map(|g| {
            self.settle(g);
            &*g
        });
        if group.is_some_and(|g| g.state == GroupState::Dead) {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        Ok(match partitions {
            Some(ps) => ps
                .iter()
                .map(|(t, p)| {
                    let v = group.and_then(|g| g.offsets.get(&(t.clone(), *p)).cloned());
                    (t.clone(), *p, v)
                })
                .collect(),
            None => {
                let mut all: Vec<_> = group
                    .map(|g| {
                        g.offsets
                            .iter()
                            .map(|((t, p), v)| (t.clone(), *p, Some(v.clone())))
                            .collect()
                    })
                    .unwrap_or_default();
                all.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
                all
            }
        })
    }

    /// DescribeGroups for one group; `None` if it does not exist.
    pub fn describe(&self, group_id: &str) -> Option<GroupSummary> {
        let groups = self.shard(group_id);
        let g = groups.get(group_id)?;
        let protocol = g.protocol_name.clone().unwrap_or_default();
        let stable = g.state == GroupState::Stable;
        Some(GroupSummary {
            state: g.state,
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            protocol: if stable {
                protocol.clone()
            } else {
                String::new()
            },
            members: g
                .members
                .values()
                .map(|m| MemberSummary {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: if stable {
                        m.metadata_for(&protocol)
                    } else {
                        Bytes::new()
                    },
                    assignment: if stable {
                        m.assignment.clone()
                    } else {
                        Bytes::new()
                    },
                })
                .collect(),
        })
    }

    /// ListGroups: (group id, protocol type, state) of every group.
    pub fn list(&self) -> Vec<(String, String, GroupState)> {
        let mut out = Vec::new();
        for shard in &self.shards {
            let groups = shard.lock().unwrap_or_else(|p| p.into_inner());
            out.extend(
                groups
                    .values()
                    .filter(|g| g.state != GroupState::Dead)
                    .map(|g| {
                        (
                            g.id.clone(),
                            g.protocol_type.clone().unwrap_or_default(),
                            g.state,
                        )
                    }),
            );
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// DeleteGroups for one group: only an empty group can be deleted. The answer waits
    /// for the returned mark.
    pub fn delete_group(&self, group_id: &str, now: i64) -> Result<WriteMark, GroupError> {
        let mut groups = self.shard(group_id);
        let group = groups
            .get_mut(group_id)
            .ok_or(GroupError::GroupIdNotFound)?;
        match group.state {
            GroupState::Empty => {}
            GroupState::Dead => return Err(GroupError::GroupIdNotFound),
            _ => return Err(GroupError::NonEmptyGroup),
        }
        // Pending offsets too: their records come before these tombstones.
        let mut batch: Vec<(Bytes, Option<Bytes>)> = group
            .offset_partitions()
            .into_iter()
            .map(|(t, p)| {
                let key = RecordKey::Offset {
                    group: group_id.to_string(),
                    topic: t,
                    partition: p,
                };
                (records::encode_key(&key), None)
            })
            .collect();
        batch.push((
            records::encode_key(&RecordKey::Group {
                group: group_id.to_string(),
            }),
            None,
        ));
        let mark = self.log.append(self.partition_of(group_id), &batch, now)?;
        groups.remove(group_id);
        Ok(mark)
    }

    /// OffsetDelete: removes offsets of topics the group is not subscribed to. The answer
    /// waits for the returned mark (`None`: nothing was written).
    pub fn delete_offsets(
        &self,
        group_id: &str,
        partitions: &[(String, i32)],
        now: i64,
    ) -> Result<Outcomes, GroupError> {
        let mut groups = self.shard(group_id);
        let group = groups
            .get_mut(group_id)
            .ok_or(GroupError::GroupIdNotFound)?;
        if group.state == GroupState::Dead {
            return Err(GroupError::GroupIdNotFound);
        }
        let subscribed = if group.state == GroupState::Empty {
            Some(Default::default())
        } else {
            group.subscribed_topics()
        };
        let Some(subscribed) = subscribed else {
            // Members whose subscriptions cannot be read: Kafka refuses the whole request.
            return Err(GroupError::NonEmptyGroup);
        };
        let mut results = Vec::with_capacity(partitions.len());
        let mut batch = Vec::new();
        for (t, p) in partitions {
            if subscribed.contains(t) {
                results.push(Err(GroupError::GroupSubscribedToTopic));
                continue;
            }
            results.push(Ok(()));
            if group.has_offset(&(t.clone(), *p)) {
                let key = RecordKey::Offset {
                    group: group_id.to_string(),
                    topic: t.clone(),
                    partition: *p,
                };
                batch.push(((t.clone(), *p), records::encode_key(&key)));
            }
        }
        if batch.is_empty() {
            return Ok((results, None));
        }
        let recs: Vec<(Bytes, Option<Bytes>)> =
            batch.iter().map(|(_, k)| (k.clone(), None)).collect();
        let written = self.log.append(self.partition_of(group_id), &recs, now);
        group.last_write = Some(written.clone());
        let mark = written?;
        for (tp, _) in batch {
            group.forget_offset(&tp);
        }
        Ok((results, Some(mark)))
    }

    /// Runs every group's timers; returns the next time there is work.
    pub fn tick(&self, now: i64) -> Option<i64> {
        let mut next: Option<i64> = None;
        for shard in &self.shards {
            let mut groups = shard.lock().unwrap_or_else(|p| p.into_inner());
            for group in groups.values_mut() {
                let persist = group.tick(now);
                if persist.0 {
                    self.persist_group(group, now);
                }
                if let Some(d) = group.next_deadline() {
                    next = Some(next.map_or(d, |n| n.min(d)));
                }
            }
        }
        next
    }

    /// Expires offsets of empty groups older than `offsets.retention.minutes`, and
    /// drops empty groups left without offsets.
    pub fn expire_offsets(&self, now: i64) {
        for shard in &self.shards {
            let mut groups = shard.lock().unwrap_or_else(|p| p.into_inner());
            self.expire_shard(&mut groups, now);
        }
    }

    fn expire_shard(&self, groups: &mut Shard, now: i64) {
        let retention = self.config.offsets_retention_ms;
        let mut dead = Vec::new();
        for group in groups.values_mut() {
            if group.state != GroupState::Empty {
                continue;
            }
            self.settle(group);
            let base = group.state_timestamp;
            let expired: Vec<(String, i32)> = group
                .offsets
                .iter()
                .filter(|(_, v)| now - v.commit_timestamp.max(base) >= retention)
                .map(|(k, _)| k.clone())
                .collect();
            if !expired.is_empty() {
                let recs: Vec<(Bytes, Option<Bytes>)> = expired
                    .iter()
                    .map(|(t, p)| {
                        let key = RecordKey::Offset {
                            group: group.id.clone(),
                            topic: t.clone(),
                            partition: *p,
                        };
                        (records::encode_key(&key), None)
                    })
                    .collect();
                match self.log.append(self.partition_of(&group.id), &recs, now) {
                    Ok(_) => {
                        for k in &expired {
                            group.offsets.remove(k);
                        }
                        log::info!("expired {} offsets of group {}", expired.len(), group.id);
                    }
                    Err(e) => log::error!("cannot expire offsets of group {}: {e}", group.id),
                }
            }
            if group.offsets.is_empty()
                && group.pending_offsets.is_empty()
                && group.members.is_empty()
            {
                dead.push(group.id.clone());
            }
        }
        for id in dead {
            if let Some(mut g) = groups.remove(&id) {
                g.state = GroupState::Dead;
                self.persist_group(&mut g, now);
            }
        }
    }

    /// Applies one `__consumer_offsets` record during startup replay.
    pub fn replay(
        &self,
        key: Bytes,
        value: Option<Bytes>,
        now: i64,
    ) -> Result<(), records::RecordError> {
        let Some(key) = records::decode_key(key)? else {
            return Ok(());
        };
        let group_id = match &key {
            RecordKey::Offset { group, .. } | RecordKey::Group { group } => group.clone(),
        };
        let mut groups = self.shard(&group_id);
        match key {
            RecordKey::Offset {
                group,
                topic,
                partition,
            } => match value {
                Some(v) => {
                    let v = records::decode_offset(v)?;
                    groups
                        .entry(group.clone())
                        .or_insert_with(|| Group::new(&group, now))
                        .offsets
                        .insert((topic, partition), v);
                }
                None => {
                    if let Some(g) = groups.get_mut(&group) {
                        g.offsets.remove(&(topic, partition));
                    }
                }
            },
            RecordKey::Group { group } => match value {
                Some(v) => {
                    let v = records::decode_group(v)?;
                    groups
                        .entry(group.clone())
                        .or_insert_with(|| Group::new(&group, now))
                        .restore(v, now);
                }
                None => {
                    groups.remove(&group);
                }
            },
        }
        Ok(())
    }
}

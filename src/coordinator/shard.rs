//! The groups of one `__consumer_offsets` partition and the operations on them.
//!
//! Every operation that changes what must be durable returns a [`CoordinatorResult`]
//! (Kafka's own name): the records to write and the response to give once they are
//! committed. It does no I/O. Membership changes happen in memory at once, as in Kafka's
//! classic groups (the group record only mirrors them); offsets and tombstones take effect
//! through [`Shard::apply`] once their records are written, and `apply` is also what
//! replays the partition when it is loaded, so what a write changes and what a reload
//! rebuilds cannot drift apart.

use std::collections::HashMap;

use tokio::sync::oneshot;

use super::group::{Group, GroupError, GroupState, JoinResult, SyncResult};
use super::membership::{JoinParams, Persist, SyncParams};
use super::records::{CoordinatorRecord, OffsetValue};
use super::{GroupConfig, PartitionOffset, WriteMark};

/// What a group operation decided: records to write, and the response to send once they
/// are committed (at once when there are none).
#[must_use]
pub struct CoordinatorResult<T> {
    pub records: Vec<CoordinatorRecord>,
    pub response: T,
}

impl<T> CoordinatorResult<T> {
    fn new(records: Vec<CoordinatorRecord>, response: T) -> Self {
        CoordinatorResult { records, response }
    }

    fn response(response: T) -> Self {
        CoordinatorResult::new(Vec::new(), response)
    }
}

/// Who commits offsets: a member of the group at a generation, or a standalone consumer
/// (empty member id, generation -1).
#[derive(Debug, Clone, Copy)]
pub struct Committer<'a> {
    pub member_id: &'a str,
    pub instance_id: Option<&'a str>,
    pub generation: i32,
}

/// How a record reaches [`Shard::apply`].
#[derive(Debug, Clone, Copy)]
pub enum Applied {
    /// Read back from the log while loading the partition.
    Replayed,
    /// Just written by this coordinator at `mark`: the group record's state is already in
    /// memory, and offsets count once the mark is replicated.
    Written(WriteMark),
}

/// The groups of one `__consumer_offsets` partition.
#[derive(Default)]
pub struct Shard {
    groups: HashMap<String, Group>,
}

/// The metadata record of a group (its tombstone once the group is dead).
fn group_record(group: &Group) -> CoordinatorRecord {
    CoordinatorRecord::Group {
        group: group.id.clone(),
        value: (group.state != GroupState::Dead).then(|| group.to_record()),
    }
}

fn persisted(group: &Group, persist: Persist) -> Vec<CoordinatorRecord> {
    if persist.0 {
        vec![group_record(group)]
    } else {
        Vec::new()
    }
}

fn offset_tombstone(group: &str, (topic, partition): &(String, i32)) -> CoordinatorRecord {
    CoordinatorRecord::Offset {
        group: group.to_string(),
        topic: topic.clone(),
        partition: *partition,
        value: None,
    }
}

impl Shard {
    pub fn get(&self, group_id: &str) -> Option<&Group> {
        self.groups.get(group_id)
    }

    pub fn get_mut(&mut self, group_id: &str) -> Option<&mut Group> {
        self.groups.get_mut(group_id)
    }

    pub fn groups(&self) -> impl Iterator<Item = &Group> {
        self.groups.values()
    }

    pub fn clear(&mut self) {
        self.groups.clear();
    }

    /// JoinGroup; the answer arrives on the receiver, at once or when the rebalance ends.
    pub fn join(
        &mut self,
        config: &GroupConfig,
        group_id: &str,
        p: JoinParams,
        now: i64,
    ) -> CoordinatorResult<oneshot::Receiver<JoinResult>> {
        let immediate = |e: GroupError| {
            let (tx, rx) = oneshot::channel();
            let _ = tx.send(JoinResult::error(&p.member_id, e));
            CoordinatorResult::response(rx)
        };
        if group_id.is_empty() {
            return immediate(GroupError::InvalidGroupId);
        }
        if p.session_timeout_ms < config.min_session_timeout_ms
            || p.session_timeout_ms > config.max_session_timeout_ms
        {
            return immediate(GroupError::InvalidSessionTimeout);
        }
        if !self.groups.contains_key(group_id) {
            if !p.member_id.is_empty() {
                return immediate(GroupError::UnknownMemberId);
            }
            self.groups
                .insert(group_id.to_string(), Group::new(group_id, now));
        }
        let group = self.groups.get_mut(group_id).expect("inserted above");
        let (rx, persist) = group.join(p, now);
        CoordinatorResult::new(persisted(group, persist), rx)
    }

    /// SyncGroup; the leader's call makes the group stable and writes its assignment.
    pub fn sync(
        &mut self,
        group_id: &str,
        p: SyncParams,
        now: i64,
    ) -> CoordinatorResult<oneshot::Receiver<SyncResult>> {
        let Some(group) = self.groups.get_mut(group_id) else {
            let (tx, rx) = oneshot::channel();
            let _ = tx.send(SyncResult::error(GroupError::UnknownMemberId));
            return CoordinatorResult::response(rx);
        };
        let (rx, persist) = group.sync(p, now);
        CoordinatorResult::new(persisted(group, persist), rx)
    }

    /// The assignment of `generation` was not written: the group rebalances.
    pub fn assignment_not_written(
        &mut self,
        group_id: &str,
        generation: i32,
        now: i64,
    ) -> CoordinatorResult<()> {
        let Some(group) = self.groups.get_mut(group_id) else {
            return CoordinatorResult::response(());
        };
        let persist = group.assignment_not_written(generation, now);
        CoordinatorResult::new(persisted(group, persist), ())
    }

    /// LeaveGroup for several members; the outer error is for the whole group.
    pub fn leave(
        &mut self,
        group_id: &str,
        members: &[(String, Option<String>)],
        now: i64,
    ) -> Result<CoordinatorResult<Vec<Result<(), GroupError>>>, GroupError> {
        let group = self
            .groups
            .get_mut(group_id)
            .ok_or(GroupError::UnknownMemberId)?;
        let mut results = Vec::with_capacity(members.len());
        let mut persist = Persist(false);
        for (member_id, instance_id) in members {
            results.push(
                group
                    .leave(member_id, instance_id.as_deref(), now)
                    .map(|p| persist.0 |= p.0),
            );
        }
        Ok(CoordinatorResult::new(persisted(group, persist), results))
    }

    /// OffsetCommit: one record per accepted offset; they count once committed.
    pub fn commit(
        &mut self,
        config: &GroupConfig,
        group_id: &str,
        committer: Committer<'_>,
        offsets: Vec<PartitionOffset>,
        now: i64,
    ) -> Result<CoordinatorResult<Vec<Result<(), GroupError>>>, GroupError> {
        let Committer {
            member_id,
            instance_id,
            generation,
        } = committer;
        if group_id.is_empty() {
            return Err(GroupError::InvalidGroupId);
        }
        if !self.groups.contains_key(group_id) {
            if generation >= 0 || !member_id.is_empty() {
                return Err(GroupError::IllegalGeneration);
            }
            self.groups
                .insert(group_id.to_string(), Group::new(group_id, now));
        }
        let group = self.groups.get_mut(group_id).expect("inserted above");
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
        let mut results = Vec::with_capacity(offsets.len());
        let mut records = Vec::new();
        for ((topic, partition), value) in offsets {
            if value.metadata.len() > config.offset_metadata_max_bytes {
                results.push(Err(GroupError::OffsetMetadataTooLarge));
                continue;
            }
            results.push(Ok(()));
            records.push(CoordinatorRecord::Offset {
                group: group_id.to_string(),
                topic,
                partition,
                value: Some(value),
            });
        }
        Ok(CoordinatorResult::new(records, results))
    }

    /// OffsetFetch: the committed offsets of the partitions asked for (all when `None`),
    /// with `high_watermark` telling which pending offsets are committed.
    pub fn fetch_offsets(
        &mut self,
        group_id: &str,
        partitions: Option<&[(String, i32)]>,
        high_watermark: i64,
    ) -> Result<Vec<(String, i32, Option<OffsetValue>)>, GroupError> {
        let group = self.groups.get_mut(group_id).map(|g| {
            g.settle(high_watermark);
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

    /// DeleteGroups for one group: only an empty group can be deleted. Its offsets'
    /// tombstones (pending ones too: their records come first) and then its own.
    pub fn delete_group(&mut self, group_id: &str) -> Result<CoordinatorResult<()>, GroupError> {
        let group = self
            .groups
            .get(group_id)
            .ok_or(GroupError::GroupIdNotFound)?;
        match group.state {
            GroupState::Empty => {}
            GroupState::Dead => return Err(GroupError::GroupIdNotFound),
            _ => return Err(GroupError::NonEmptyGroup),
        }
        let mut records: Vec<CoordinatorRecord> = group
            .offset_partitions()
            .iter()
            .map(|tp| offset_tombstone(group_id, tp))
            .collect();
        records.push(CoordinatorRecord::Group {
            group: group_id.to_string(),
            value: None,
        });
        Ok(CoordinatorResult::new(records, ()))
    }

    /// OffsetDelete: tombstones for offsets of topics the group is not subscribed to.
    pub fn delete_offsets(
        &mut self,
        group_id: &str,
        partitions: &[(String, i32)],
    ) -> Result<CoordinatorResult<Vec<Result<(), GroupError>>>, GroupError> {
        let group = self
            .groups
            .get(group_id)
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
        let mut records = Vec::new();
        for tp in partitions {
            if subscribed.contains(&tp.0) {
                results.push(Err(GroupError::GroupSubscribedToTopic));
                continue;
            }
            results.push(Ok(()));
            if group.has_offset(tp) {
                records.push(offset_tombstone(group_id, tp));
            }
        }
        Ok(CoordinatorResult::new(records, results))
    }

    /// Runs every group's timers; the response is the next time there is work.
    pub fn tick(&mut self, now: i64) -> CoordinatorResult<Option<i64>> {
        let mut records = Vec::new();
        let mut next: Option<i64> = None;
        for group in self.groups.values_mut() {
            let persist = group.tick(now);
            records.extend(persisted(group, persist));
            if let Some(d) = group.next_deadline() {
                next = Some(next.map_or(d, |n| n.min(d)));
            }
        }
        CoordinatorResult::new(records, next)
    }

    /// Offsets of empty groups older than `retention_ms` get tombstones, and so do empty
    /// groups left without offsets; the response counts the expired offsets per group.
    pub fn expire(
        &mut self,
        retention_ms: i64,
        high_watermark: i64,
        now: i64,
    ) -> CoordinatorResult<Vec<(String, usize)>> {
        let mut records = Vec::new();
        let mut expired_counts = Vec::new();
        for group in self.groups.values_mut() {
            if group.state != GroupState::Empty {
                continue;
            }
            group.settle(high_watermark);
            let base = group.state_timestamp;
            let expired: Vec<&(String, i32)> = group
                .offsets
                .iter()
                .filter(|(_, v)| now - v.commit_timestamp.max(base) >= retention_ms)
                .map(|(k, _)| k)
                .collect();
            let left = group.offsets.len() - expired.len();
            if !expired.is_empty() {
                expired_counts.push((group.id.clone(), expired.len()));
                records.extend(expired.iter().map(|tp| offset_tombstone(&group.id, tp)));
            }
            if left == 0 && group.pending_offsets.is_empty() && group.members.is_empty() {
                records.push(CoordinatorRecord::Group {
                    group: group.id.clone(),
                    value: None,
                });
            }
        }
        CoordinatorResult::new(records, expired_counts)
    }

    /// Applies one record, written just now or read back at load.
    pub fn apply(&mut self, record: CoordinatorRecord, how: Applied, now: i64) {
        match record {
            CoordinatorRecord::Offset {
                group,
                topic,
                partition,
                value: Some(value),
            } => {
                let g = self
                    .groups
                    .entry(group.clone())
                    .or_insert_with(|| Group::new(&group, now));
                let tp = (topic, partition);
                match how {
                    Applied::Replayed => {
                        g.offsets.insert(tp, value);
                    }
                    Applied::Written(mark) => {
                        g.pending_offsets.push_back((mark.last_offset, (tp, value)));
                    }
                }
            }
            CoordinatorRecord::Offset {
                group,
                topic,
                partition,
                value: None,
            } => {
                if let Some(g) = self.groups.get_mut(&group) {
                    g.forget_offset(&(topic, partition));
                }
            }
            CoordinatorRecord::Group {
                group,
                value: Some(value),
            } => {
                if let Applied::Replayed = how {
                    self.groups
                        .entry(group.clone())
                        .or_insert_with(|| Group::new(&group, now))
                        .restore(value, now);
                }
            }
            CoordinatorRecord::Group { group, value: None } => {
                self.groups.remove(&group);
            }
        }
    }
}

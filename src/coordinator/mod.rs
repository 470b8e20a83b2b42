//! The group coordinator: consumer groups of the classic protocol and their committed
//! offsets, made durable in the compacted internal topic `__consumer_offsets` with
//! Apache Kafka's record schemas and rebuilt from it at startup (`replay`).
//!
//! The group logic (`group.rs`, `membership.rs`, `shard.rs`) is a deterministic state
//! machine: time comes in as arguments, and each operation returns the records to write
//! and the response to give ([`CoordinatorResult`]). It never touches sockets, the log or
//! Kafka message structs. This module is the runtime around it: it appends the records
//! through the `OffsetsLog` trait, applies them once written with the same function that
//! replays a partition at load, and hands back the [`WriteMark`] the handlers wait on:
//! they answer only once the mark is committed (replicated to the ISR), as Kafka's
//! coordinator answers only once its records are.
//!
//! Groups are kept per `__consumer_offsets` partition, each behind its own lock, so the
//! records of one partition are appended in the order its groups changed and no write
//! holds up the groups of other partitions.

mod group;
mod membership;
pub mod records;
mod shard;
mod subscription;
#[cfg(test)]
mod tests;

use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::{Notify, oneshot};

pub use group::{Group, GroupError, GroupState, JoinResult, SyncResult};
pub use membership::{JoinParams, Persist, SyncParams};
use records::{CoordinatorRecord, OffsetValue};
pub use shard::CoordinatorResult;
use shard::{Applied, Committer, Shard};

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
    /// The partition's `min.insync.replicas` at the write (tells a shrunk ISR from a
    /// slow one when the wait times out).
    pub min_isr: i64,
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

/// All groups of this broker.
pub struct GroupCoordinator {
    config: GroupConfig,
    /// One shard per `__consumer_offsets` partition (index = partition).
    shards: Vec<Mutex<Shard>>,
    /// The `__consumer_offsets` partitions whose groups are loaded here (this broker
    /// leads them).
    loaded: Mutex<std::collections::HashSet<i32>>,
    log: Box<dyn OffsetsLog>,
    /// Woken when a group's timers may have moved earlier (JoinGroup, SyncGroup,
    /// LeaveGroup); never by `tick` itself, whose caller sleeps until the next deadline.
    pub timers_changed: Notify,
}

impl GroupCoordinator {
    pub fn new(config: GroupConfig, log: Box<dyn OffsetsLog>) -> Self {
        GroupCoordinator {
            shards: (0..config.offsets_partitions.max(1))
                .map(|_| Mutex::new(Shard::default()))
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
    fn shard_at(&self, partition: i32) -> MutexGuard<'_, Shard> {
        let i = (partition.max(0) as usize).min(self.shards.len() - 1);
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The shard holding a group.
    fn shard(&self, group: &str) -> MutexGuard<'_, Shard> {
        self.shard_at(self.partition_of(group))
    }

    /// Appends a result's records to `partition` (under its shard's lock, so records are
    /// written in the order the groups changed), applies them once written, and records
    /// the outcome as the `last_write` of every group they name. Returns the response and
    /// the write's outcome (`None`: there was nothing to write).
    fn write<T>(
        &self,
        shard: &mut Shard,
        partition: i32,
        result: CoordinatorResult<T>,
        now: i64,
    ) -> (T, Option<Result<WriteMark, GroupError>>) {
        let CoordinatorResult { records, response } = result;
        if records.is_empty() {
            return (response, None);
        }
        let encoded: Vec<_> = records.iter().map(CoordinatorRecord::encode).collect();
        let written = self.log.append(partition, &encoded, now);
        let mut groups: Vec<String> = records.iter().map(|r| r.group().to_string()).collect();
        groups.sort();
        groups.dedup();
        match &written {
            Ok(mark) => {
                for r in records {
                    shard.apply(r, Applied::Written(*mark), now);
                }
            }
            Err(e) => log::error!(
                "cannot write {} records of group {} to {OFFSETS_TOPIC}-{partition}: {e}",
                encoded.len(),
                groups.join(", ")
            ),
        }
        for g in groups {
            if let Some(g) = shard.get_mut(&g) {
                g.last_write = Some(written.clone());
            }
        }
        (response, Some(written))
    }

    /// [`write`](Self::write) for a request that fails as a whole when its write fails.
    fn write_or_fail<T>(
        &self,
        shard: &mut Shard,
        partition: i32,
        result: CoordinatorResult<T>,
        now: i64,
    ) -> Result<(T, Option<WriteMark>), GroupError> {
        match self.write(shard, partition, result, now) {
            (response, None) => Ok((response, None)),
            (response, Some(Ok(mark))) => Ok((response, Some(mark))),
            (_, Some(Err(e))) => Err(e),
        }
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

    /// JoinGroup. Waits (outside any lock) for the rebalance when needed.
    pub fn join(&self, group_id: &str, p: JoinParams, now: i64) -> oneshot::Receiver<JoinResult> {
        let partition = self.partition_of(group_id);
        let mut shard = self.shard_at(partition);
        let result = shard.join(&self.config, group_id, p, now);
        let rx = self.write(&mut shard, partition, result, now).0;
        self.timers_changed.notify_one();
        rx
    }

    /// SyncGroup. When the leader's assignment cannot be written, the group rebalances
    /// (the callers are answered with the write's error through `last_write`).
    pub fn sync(&self, group_id: &str, p: SyncParams, now: i64) -> oneshot::Receiver<SyncResult> {
        let partition = self.partition_of(group_id);
        let generation = p.generation;
        let mut shard = self.shard_at(partition);
        let result = shard.sync(group_id, p, now);
        let (rx, written) = self.write(&mut shard, partition, result, now);
        if let Some(Err(_)) = written {
            let rebalance = shard.assignment_not_written(group_id, generation, now);
            let _ = self.write(&mut shard, partition, rebalance, now);
        }
        self.timers_changed.notify_one();
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
        let mut shard = self.shard(group_id);
        let group = shard.get_mut(group_id).ok_or(GroupError::UnknownMemberId)?;
        group.heartbeat(member_id, instance_id, generation, now)
    }

    /// LeaveGroup for several members; the outer error is for the whole group.
    pub fn leave(
        &self,
        group_id: &str,
        members: &[(String, Option<String>)],
        now: i64,
    ) -> Result<Vec<Result<(), GroupError>>, GroupError> {
        let partition = self.partition_of(group_id);
        let mut shard = self.shard_at(partition);
        let result = shard.leave(group_id, members, now)?;
        let results = self.write(&mut shard, partition, result, now).0;
        self.timers_changed.notify_one();
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
        let partition = self.partition_of(group_id);
        let mut shard = self.shard_at(partition);
        let committer = Committer {
            member_id,
            instance_id,
            generation,
        };
        let result = shard.commit(&self.config, group_id, committer, offsets, now)?;
        self.write_or_fail(&mut shard, partition, result, now)
    }

    /// OffsetFetch: the committed offsets of the partitions asked for (all when `None`).
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        partitions: Option<&[(String, i32)]>,
    ) -> Result<Vec<(String, i32, Option<OffsetValue>)>, GroupError> {
        let partition = self.partition_of(group_id);
        let high_watermark = self.log.high_watermark(partition);
        self.shard_at(partition)
            .fetch_offsets(group_id, partitions, high_watermark)
    }

    /// DescribeGroups for one group; `None` if it does not exist.
    pub fn describe(&self, group_id: &str) -> Option<GroupSummary> {
        let shard = self.shard(group_id);
        let g = shard.get(group_id)?;
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
            let shard = shard.lock().unwrap_or_else(|p| p.into_inner());
            out.extend(
                shard
                    .groups()
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
        let partition = self.partition_of(group_id);
        let mut shard = self.shard_at(partition);
        let result = shard.delete_group(group_id)?;
        let ((), mark) = self.write_or_fail(&mut shard, partition, result, now)?;
        Ok(mark.expect("a deleted group writes at least its tombstone"))
    }

    /// OffsetDelete: removes offsets of topics the group is not subscribed to. The answer
    /// waits for the returned mark (`None`: nothing was written).
    pub fn delete_offsets(
        &self,
        group_id: &str,
        partitions: &[(String, i32)],
        now: i64,
    ) -> Result<Outcomes, GroupError> {
        let partition = self.partition_of(group_id);
        let mut shard = self.shard_at(partition);
        let result = shard.delete_offsets(group_id, partitions)?;
        self.write_or_fail(&mut shard, partition, result, now)
    }

    /// Runs every group's timers; returns the next time there is work.
    pub fn tick(&self, now: i64) -> Option<i64> {
        let mut next: Option<i64> = None;
        for partition in 0..self.shards.len() as i32 {
            let mut shard = self.shard_at(partition);
            let result = shard.tick(now);
            let (due, _) = self.write(&mut shard, partition, result, now);
            if let Some(d) = due {
                next = Some(next.map_or(d, |n| n.min(d)));
            }
        }
        next
    }

    /// Expires offsets of empty groups older than `offsets.retention.minutes`, and
    /// drops empty groups left without offsets.
    pub fn expire_offsets(&self, now: i64) {
        for partition in 0..self.shards.len() as i32 {
            let high_watermark = self.log.high_watermark(partition);
            let mut shard = self.shard_at(partition);
            let result = shard.expire(self.config.offsets_retention_ms, high_watermark, now);
            if let (expired, Some(Ok(_))) = self.write(&mut shard, partition, result, now) {
                for (group, n) in expired {
                    log::info!("expired {n} offsets of group {group}");
                }
            }
        }
    }

    /// Applies one `__consumer_offsets` record read back while loading its partition.
    pub fn replay(
        &self,
        key: Bytes,
        value: Option<Bytes>,
        now: i64,
    ) -> Result<(), records::RecordError> {
        if let Some(record) = CoordinatorRecord::decode(key, value)? {
            self.shard(record.group())
                .apply(record, Applied::Replayed, now);
        }
        Ok(())
    }
}

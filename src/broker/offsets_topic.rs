//! The `__consumer_offsets` topic: created on first use (as Kafka creates it on the first
//! FindCoordinator), written by the group coordinator through the replica manager (as the
//! partition's leader, acks=all), and replayed partition by partition when this broker
//! becomes the leader of that partition (and so its groups' coordinator).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::{Broker, NewTopic, TopicError, now_ms};
use crate::coordinator::{GroupCoordinator, GroupError, OFFSETS_TOPIC, OffsetsLog, WriteMark};
use crate::format::records::RecordIter;
use crate::format::{batch, builder};
use crate::replication::append::{Acks, AppendEntry, AppendError, Written};
use crate::replication::manager::{ReplicaError, ReplicaManager};
use crate::storage::{LogManager, TopicPartition};

/// Appends coordinator records to the partitions of `__consumer_offsets` this broker
/// leads: the same write path as a producer's acks=all batch.
pub(super) struct OffsetsTopicLog {
    pub replicas: Arc<ReplicaManager>,
}

impl OffsetsLog for OffsetsTopicLog {
    fn append(
        &self,
        partition: i32,
        records: &[(Bytes, Option<Bytes>)],
        now: i64,
    ) -> Result<WriteMark, GroupError> {
        let recs: Vec<builder::KeyValue<'_>> = records
            .iter()
            .map(|(k, v)| (Some(&k[..]), v.as_deref()))
            .collect();
        let entry = AppendEntry {
            topic: OFFSETS_TOPIC.to_string(),
            partition,
            records: builder::build_batch(&recs, now).freeze(),
        };
        let no_check = |_: &_, _: &_| Ok::<_, Infallible>(None);
        match self.replicas.append_now(&entry, Acks::All, now, &no_check) {
            Ok((_, w)) => Ok(WriteMark {
                partition,
                last_offset: w.last_offset,
                leader_epoch: w.leader_epoch,
                min_isr: w.min_isr,
            }),
            Err(e) => Err(write_error(e)),
        }
    }

    fn high_watermark(&self, partition: i32) -> i64 {
        self.replicas
            .replica(OFFSETS_TOPIC, partition)
            .map_or(-1, |r| r.log.high_watermark())
    }
}

/// A failed coordinator write as Kafka's coordinator runtime reports it: clients find the
/// coordinator again (NOT_COORDINATOR) or retry it (COORDINATOR_NOT_AVAILABLE).
fn write_error(e: AppendError<Infallible>) -> GroupError {
    match e {
        AppendError::Replica(ReplicaError::NotLeader { .. } | ReplicaError::Offline) => {
            GroupError::NotCoordinator
        }
        AppendError::Replica(ReplicaError::Unknown)
        | AppendError::NotEnoughReplicas
        | AppendError::NotEnoughReplicasAfterAppend
        | AppendError::Timeout => GroupError::CoordinatorNotAvailable,
        AppendError::Storage(e) => GroupError::Storage(e.to_string()),
        AppendError::Rejected(never) => match never {},
    }
}

impl Broker {
    /// Waits until a coordinator write is replicated to the ISR of its partition, at most
    /// `offsets.commit.timeout.ms`: group requests are answered only then.
    pub async fn group_write_committed(&self, mark: WriteMark) -> Result<(), GroupError> {
        self.wait_group_write(mark, self.group_write_deadline())
            .await
    }

    /// As [`group_write_committed`](Self::group_write_committed) for the writes of one
    /// request, with one deadline for all of them: they are waited for in turn, and the
    /// whole wait is bounded by one `offsets.commit.timeout.ms`.
    pub async fn group_writes_committed(
        &self,
        marks: Vec<Result<WriteMark, GroupError>>,
    ) -> Vec<Result<(), GroupError>> {
        let deadline = self.group_write_deadline();
        let mut out = Vec::with_capacity(marks.len());
        for mark in marks {
            out.push(match mark {
                Ok(mark) => self.wait_group_write(mark, deadline).await,
                Err(e) => Err(e),
            });
        }
        out
    }

    fn group_write_deadline(&self) -> tokio::time::Instant {
        let timeout = Duration::from_millis(self.groups.config().commit_timeout_ms as u64);
        tokio::time::Instant::now() + timeout
    }

    async fn wait_group_write(
        &self,
        mark: WriteMark,
        deadline: tokio::time::Instant,
    ) -> Result<(), GroupError> {
        let written = Written {
            topic: OFFSETS_TOPIC.to_string(),
            partition: mark.partition,
            last_offset: mark.last_offset,
            leader_epoch: mark.leader_epoch,
            min_isr: mark.min_isr,
        };
        self.replicas
            .wait_written::<Infallible>(&written, deadline)
            .await
            .map_err(write_error)
    }

    /// A group request's outcome, once the write it made (if any) is replicated.
    pub async fn group_outcome_committed<T>(
        &self,
        outcome: Result<(T, Option<WriteMark>), GroupError>,
    ) -> Result<T, GroupError> {
        let (value, mark) = outcome?;
        if let Some(mark) = mark {
            self.group_write_committed(mark).await?;
        }
        Ok(value)
    }

    /// Waits until the group's latest record is committed (or reports why it was not):
    /// answers that reveal a group's state (JoinGroup, SyncGroup, LeaveGroup) wait so.
    pub async fn group_state_committed(&self, group_id: &str) -> Result<(), GroupError> {
        match self.groups.last_write(group_id) {
            None => Ok(()),
            Some(Err(e)) => Err(e),
            Some(Ok(mark)) => self.group_write_committed(mark).await,
        }
    }
}

impl Broker {
    /// Creates `__consumer_offsets` if it does not exist yet.
    pub async fn ensure_offsets_topic(&self) -> Result<(), TopicError> {
        if self.metadata.get(OFFSETS_TOPIC).is_some() {
            return Ok(());
        }
        let mut configs = BTreeMap::new();
        configs.insert("cleanup.policy".to_string(), Some("compact".to_string()));
        configs.insert("compression.type".to_string(), Some("producer".to_string()));
        configs.insert(
            "segment.bytes".to_string(),
            Some(self.config.offsets_topic_segment_bytes.to_string()),
        );
        let live = self.live_brokers().len().max(1) as i16;
        let t = NewTopic {
            name: OFFSETS_TOPIC.to_string(),
            num_partitions: self.config.group.offsets_partitions,
            replication_factor: self.config.offsets_topic_replication_factor.min(live),
            assignments: Vec::new(),
            configs,
        };
        match self.create_topic(&t, false).await {
            Ok(_) | Err(TopicError::AlreadyExists(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Loads the groups of offsets partitions this broker now leads; unloads the others.
pub(super) fn follow_leadership(broker: &Broker) {
    let Some(meta) = broker.metadata.get(OFFSETS_TOPIC) else {
        return;
    };
    let loaded = broker.groups.loaded_partitions();
    for (p, info) in meta.assignments.iter().enumerate() {
        let p = p as i32;
        let leads = info.leader == broker.node_id();
        if leads && !loaded.contains(&p) {
            broker.groups.unload_partition(p);
            replay(&broker.logs, &broker.groups, p);
            broker.groups.mark_loaded(p);
        } else if !leads && loaded.contains(&p) {
            log::info!("no longer the coordinator of {OFFSETS_TOPIC}-{p}");
            broker.groups.unload_partition(p);
        }
    }
}

/// Rebuilds the groups and offsets of one partition of `__consumer_offsets`.
fn replay(logs: &LogManager, coordinator: &GroupCoordinator, p: i32) {
    let now = now_ms();
    let mut records = 0usize;
    let Some(log) = logs.get(&TopicPartition {
        topic: OFFSETS_TOPIC.to_string(),
        partition: p,
    }) else {
        return;
    };
    let end = log.log_end_offset();
    let mut offset = log.log_start_offset();
    while offset < end {
        let chunk = match log.read(offset, 1 << 20, true, end) {
            Ok(c) if !c.is_empty() => c,
            Ok(_) => break,
            Err(e) => {
                log::error!("cannot replay {OFFSETS_TOPIC}-{p} at {offset}: {e}");
                break;
            }
        };
        let Ok(walk) = batch::walk_headers(&chunk) else {
            log::error!("corrupt batch in {OFFSETS_TOPIC}-{p} at {offset}");
            break;
        };
        for (pos, header) in walk {
            offset = header.next_offset();
            let bytes = &chunk[pos..pos + header.total_size()];
            let Ok(mut it) = RecordIter::new(bytes) else {
                continue;
            };
            while let Some(r) = it.next_keyed() {
                match r {
                    Ok(rec) => {
                        let Some(key) = rec.key else { continue };
                        records += 1;
                        if let Err(e) = coordinator.replay(key, rec.value, now) {
                            log::warn!("skipping record in {OFFSETS_TOPIC}-{p}: {e}");
                        }
                    }
                    Err(e) => {
                        log::warn!("skipping batch in {OFFSETS_TOPIC}-{p}: {e}");
                        break;
                    }
                }
            }
        }
    }
    if records > 0 {
        log::info!("loaded {records} group and offset records from {OFFSETS_TOPIC}-{p}");
    }
}

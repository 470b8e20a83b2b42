//! DeleteRecords (Kafka's `ReplicaManager.deleteRecords` + `DelayedDeleteRecords`): the
//! leader moves its log start offset up to the requested offset, deleting the segments
//! wholly below it, and the request is answered once every replica on a live broker has
//! moved its own log start as far (the low watermark). Followers learn the leader's log
//! start from their fetch responses and report theirs in their next fetch.

use std::time::Duration;

use tokio::time::Instant;

use super::manager::{ReplicaError, ReplicaManager};
use crate::controller::topic_name;
use crate::storage::{StorageError, blocking};

/// DeleteRecords' offset meaning "up to the high watermark".
pub const HIGH_WATERMARK: i64 = -1;

/// Why one partition's records were not deleted.
#[derive(Debug)]
pub enum DeleteError {
    /// Not hosted here, or not led by this broker (also: demoted during the wait).
    Replica(ReplicaError),
    /// An internal topic (INVALID_TOPIC_EXCEPTION).
    InternalTopic,
    /// `cleanup.policy` without `delete` (POLICY_VIOLATION).
    PolicyViolation,
    /// Below zero or above the high watermark (OFFSET_OUT_OF_RANGE).
    OffsetOutOfRange,
    /// The leader moved its log start; followers did not follow in time.
    Timeout,
    Storage(StorageError),
}

impl ReplicaManager {
    /// Deletes the records below each `(topic, partition, offset)` and answers per entry,
    /// in order, with the partition's low watermark; waits at most `timeout` for the
    /// whole call until the followers have deleted them too.
    pub async fn delete_records(
        &self,
        entries: &[(String, i32, i64)],
        timeout: Duration,
    ) -> Vec<Result<i64, DeleteError>> {
        let deadline = Instant::now() + timeout;
        // Every leader moves its log start first, then the waits run under one deadline.
        let moved: Vec<Result<(i64, i32), DeleteError>> = entries
            .iter()
            .map(|(t, p, offset)| self.delete_on_leader(t, *p, *offset))
            .collect();
        let mut out = Vec::with_capacity(entries.len());
        for ((t, p, _), m) in entries.iter().zip(moved) {
            out.push(match m {
                Ok((offset, epoch)) => {
                    self.wait_low_watermark(t, *p, offset, epoch, deadline)
                        .await
                }
                Err(e) => Err(e),
            });
        }
        out
    }

    /// The leader's part (Kafka's `Partition.deleteRecordsOnLeader`): the offset it moved
    /// its log start to, and the leader epoch it did so in.
    fn delete_on_leader(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> Result<(i64, i32), DeleteError> {
        if topic_name::is_internal(topic) {
            return Err(DeleteError::InternalTopic);
        }
        let r = self
            .hosted(topic, partition)
            .map_err(DeleteError::Replica)?;
        let role = r.role.lock().unwrap_or_else(|p| p.into_inner());
        let l = role.leader().map_err(DeleteError::Replica)?;
        if !r.log.config().delete_retention {
            return Err(DeleteError::PolicyViolation);
        }
        let offset = if offset == HIGH_WATERMARK {
            r.log.high_watermark()
        } else {
            offset
        };
        if offset < 0 {
            return Err(DeleteError::OffsetOutOfRange);
        }
        match blocking(|| r.log.advance_log_start(offset)) {
            Ok(_) => Ok((offset, l.leader_epoch)),
            Err(StorageError::OffsetOutOfRange { .. }) => Err(DeleteError::OffsetOutOfRange),
            Err(e) => Err(DeleteError::Storage(e)),
        }
    }

    /// Waits until the low watermark of a partition this broker leads at `epoch` reaches
    /// `offset`; answers it.
    async fn wait_low_watermark(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        epoch: i32,
        deadline: Instant,
    ) -> Result<i64, DeleteError> {
        let r = self
            .hosted(topic, partition)
            .map_err(DeleteError::Replica)?;
        let mut leadership = r.leadership.subscribe();
        // A follower's broker that is fenced no longer counts: metadata changes wake too.
        let mut cluster = self.metadata.watch();
        loop {
            // Registered before the check, so a report in between is not missed.
            let moved = r.followers_moved.notified();
            tokio::pin!(moved);
            moved.as_mut().enable();
            {
                let role = r.role.lock().unwrap_or_else(|p| p.into_inner());
                let l = role.leader_at(epoch).map_err(DeleteError::Replica)?;
                let state = self.metadata.snapshot();
                let alive = |id: i32| state.brokers.get(&id).is_some_and(|b| !b.fenced);
                let low = l.low_watermark(r.log.log_start_offset(), alive);
                if low >= offset {
                    return Ok(low);
                }
            }
            if Instant::now() >= deadline {
                return Err(DeleteError::Timeout);
            }
            // Woken by a follower's report, a leadership change, new metadata or the deadline.
            let closed = tokio::time::timeout_at(deadline, async {
                tokio::select! {
                    _ = moved => false,
                    r = leadership.changed() => r.is_err(),
                    r = cluster.changed() => r.is_err(),
                }
            })
            .await;
            if closed == Ok(true) {
                return Err(DeleteError::Replica(ReplicaError::Unknown));
            }
        }
    }
}

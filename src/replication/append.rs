//! The one write path (Kafka's `ReplicaManager.appendRecords` + `DelayedProduce`): every
//! leader append — a producer's batch or a coordinator's records — goes through
//! [`ReplicaManager::append_records`]. It holds the partition's leader role for the
//! whole append, checks `min.insync.replicas`, moves the high watermark, and for
//! acks=all waits once for the whole request, with one deadline, until the high
//! watermark passes every batch — re-checking on every wake that this broker still
//! leads at the epoch it appended in, so a record replaced after a demotion is never
//! confirmed.
//!
//! The append itself is blocking file I/O (writes, rolls): it runs with
//! `block_in_place`, so a slow disk holds up the request that writes, not every
//! connection served by the same runtime thread (`benches/slow_disk` measures it).

use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::manager::{ReplicaError, ReplicaManager};
use crate::storage::{AppendInfo, LogConfig, StorageError, blocking};

/// How many replicas must have a batch before it is acknowledged (the produce `acks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    /// acks=0 and acks=1: the leader's own append.
    Leader,
    /// acks=all: every replica of the ISR, and at least `min.insync.replicas`.
    All,
}

/// One partition's part of an append.
pub struct AppendEntry {
    pub topic: String,
    pub partition: i32,
    /// One or more v2 batches, as produced.
    pub records: Bytes,
}

/// Why one partition's append was not acknowledged. `E` is the caller's own rejection
/// (its validation of the batch against the partition's config).
#[derive(Debug)]
pub enum AppendError<E> {
    /// The caller's check refused the batch; nothing was appended.
    Rejected(E),
    /// Not hosted here, or not led by this broker (also: demoted during the wait).
    Replica(ReplicaError),
    /// acks=all with an ISR smaller than `min.insync.replicas`: nothing was appended.
    NotEnoughReplicas,
    /// Appended, but the ISR shrank below `min.insync.replicas` before it was replicated.
    NotEnoughReplicasAfterAppend,
    /// Appended, not replicated within the request's timeout.
    Timeout,
    Storage(StorageError),
}

/// Where a leader append landed: replicated once the high watermark passes
/// `last_offset` while this broker still leads at `leader_epoch`.
#[derive(Debug, Clone)]
pub struct Written {
    pub topic: String,
    pub partition: i32,
    pub last_offset: i64,
    pub leader_epoch: i32,
    /// `min.insync.replicas` at the append (tells a shrunk ISR from a slow one).
    pub min_isr: i64,
}

impl ReplicaManager {
    /// Appends every entry as leader and answers per entry, in order. `check` sees each
    /// entry's batch and its partition's config before the append, under the leader role,
    /// and refuses it or returns the bytes to append instead (`None`: the batch as sent).
    /// With [`Acks::All`], waits until every appended entry is replicated to the ISR, at
    /// most `timeout` for the whole call.
    pub async fn append_records<E>(
        &self,
        entries: Vec<AppendEntry>,
        acks: Acks,
        timeout: Duration,
        now: i64,
        check: impl Fn(&LogConfig, &AppendEntry) -> Result<Option<Bytes>, E>,
    ) -> Vec<Result<AppendInfo, AppendError<E>>> {
        let deadline = Instant::now() + timeout;
        let mut results = Vec::with_capacity(entries.len());
        let mut waiting = Vec::new();
        for (index, e) in entries.iter().enumerate() {
            let result = self.append_now(e, acks, now, &check);
            results.push(result.map(|(info, written)| {
                if acks == Acks::All {
                    waiting.push((index, written));
                }
                info
            }));
        }
        // One deadline for all: the waits overlap, so the call takes at most `timeout`.
        for (index, w) in waiting {
            if let Err(e) = self.wait_written(&w, deadline).await {
                results[index] = Err(e);
            }
        }
        results
    }

    /// Validates and appends one entry while holding its leader role, without waiting:
    /// for callers that must order their appends (the group coordinator appends under a
    /// lock, then waits with [`wait_written`](Self::wait_written) outside it).
    pub fn append_now<E>(
        &self,
        e: &AppendEntry,
        acks: Acks,
        now: i64,
        check: &impl Fn(&LogConfig, &AppendEntry) -> Result<Option<Bytes>, E>,
    ) -> Result<(AppendInfo, Written), AppendError<E>> {
        let r = self
            .hosted(&e.topic, e.partition)
            .map_err(AppendError::Replica)?;
        let role = r.role.lock().unwrap_or_else(|p| p.into_inner());
        let leader = role.leader().map_err(AppendError::Replica)?;
        let config = r.log.config();
        // The caller's validation may convert the records (recompression to the topic's
        // codec); what it returns is what is appended.
        let converted = check(&config, e).map_err(AppendError::Rejected)?;
        let records = converted.as_ref().unwrap_or(&e.records);
        if acks == Acks::All && (leader.maximal_isr().len() as i64) < config.min_insync_replicas {
            return Err(AppendError::NotEnoughReplicas);
        }
        let appended = blocking(|| r.log.append_as_leader(records, leader.leader_epoch, now));
        // A leader alone in its ISR moves the high watermark itself.
        r.log
            .set_high_watermark(leader.high_watermark(r.log.log_end_offset()));
        let info = appended.map_err(AppendError::Storage)?;
        let written = Written {
            topic: e.topic.clone(),
            partition: e.partition,
            last_offset: info.last_offset,
            leader_epoch: leader.leader_epoch,
            min_isr: config.min_insync_replicas,
        };
        Ok((info, written))
    }

    /// Waits until the high watermark passes `w.last_offset` while this broker still leads
    /// at `w.leader_epoch`, or `deadline`.
    pub async fn wait_written<E>(
        &self,
        w: &Written,
        deadline: Instant,
    ) -> Result<(), AppendError<E>> {
        let Some(r) = self.replica(&w.topic, w.partition) else {
            return Err(AppendError::Replica(ReplicaError::Unknown));
        };
        let mut hw = r.log.subscribe_high_watermark();
        let mut leadership = r.leadership.subscribe();
        loop {
            // Under the role lock: while it shows this leadership, the log cannot have
            // been truncated (only a follower truncates), so the high watermark is ours.
            {
                let role = r.role.lock().unwrap_or_else(|p| p.into_inner());
                let l = role
                    .leader_at(w.leader_epoch)
                    .map_err(AppendError::Replica)?;
                if r.log.high_watermark() > w.last_offset {
                    return Ok(());
                }
                if Instant::now() >= deadline {
                    return Err(if (l.maximal_isr().len() as i64) < w.min_isr {
                        AppendError::NotEnoughReplicasAfterAppend
                    } else {
                        AppendError::Timeout
                    });
                }
            }
            // Woken by a high watermark move, a leadership change or the deadline.
            let closed = tokio::time::timeout_at(deadline, async {
                tokio::select! {
                    r = hw.changed() => r.is_err(),
                    r = leadership.changed() => r.is_err(),
                }
            })
            .await;
            if closed == Ok(true) {
                return Err(AppendError::Replica(ReplicaError::Unknown));
            }
        }
    }
}

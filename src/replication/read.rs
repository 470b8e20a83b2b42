//! The one read path (Kafka's `ReplicaManager.fetchMessages` + `DelayedFetch`): a fetch,
//! from a consumer or a follower, goes through [`ReplicaManager::fetch_records`]. It
//! checks leadership and the fetcher's leader epoch once, records a follower's position
//! (which may move the high watermark and grow the ISR), then reads every partition —
//! consumers up to the high watermark, followers up to the log end — and, while fewer
//! than `min_bytes` were read, nothing failed and no read stopped short of the data it
//! may return (at `max_bytes` or a segment's end), waits for appends until `max_wait`. The answer is file slices; the caller decides how to send them.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::manager::{ReplicaError, ReplicaManager};
use super::purgatory;
use crate::format::file_slice::FileSlice;
use crate::storage::{PartitionLog, StorageError};

/// Who fetches, and how long it may wait for data.
#[derive(Debug, Clone, Copy)]
pub struct FetchParams {
    /// The fetching follower's broker id, or `None` for a consumer.
    pub follower: Option<i32>,
    pub min_bytes: usize,
    /// For the whole response; the first partition with data may exceed it by one batch.
    pub max_bytes: usize,
    pub max_wait: Duration,
}

/// One partition's part of a fetch.
#[derive(Debug, Clone)]
pub struct FetchTarget {
    pub topic: String,
    pub partition: i32,
    pub fetch_offset: i64,
    pub max_bytes: usize,
    /// The leader epoch the fetcher knows (-1: unchecked).
    pub current_leader_epoch: i32,
    /// The fetching follower's log start offset (-1: not sent, as from consumers).
    pub log_start_offset: i64,
}

/// How a fetcher's leader epoch differs from this leader's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpochMismatch {
    /// The fetcher knows a newer epoch than this broker (UNKNOWN_LEADER_EPOCH).
    Newer,
    /// The fetcher's epoch is older (FENCED_LEADER_EPOCH).
    Fenced,
}

/// Compares a request's `current_leader_epoch` (-1: no check) with the leader's.
pub fn check_leader_epoch(current: i32, leader_epoch: i32) -> Result<(), EpochMismatch> {
    if current < 0 {
        return Ok(());
    }
    match current.cmp(&leader_epoch) {
        std::cmp::Ordering::Greater => Err(EpochMismatch::Newer),
        std::cmp::Ordering::Less => Err(EpochMismatch::Fenced),
        std::cmp::Ordering::Equal => Ok(()),
    }
}

/// Why one partition of a fetch was not read.
#[derive(Debug)]
pub enum ReadError {
    /// Not hosted here, not led by this broker, or a follower not among its replicas.
    Replica(ReplicaError),
    Epoch(EpochMismatch),
    Storage(StorageError),
}

/// What one partition answered.
#[derive(Debug)]
pub struct PartitionRead {
    pub high_watermark: i64,
    pub log_start_offset: i64,
    /// The batches from the fetch offset, if any are readable.
    pub records: Option<FileSlice>,
}

/// A partition's refusal before any read; copied into every pass of the read loop.
#[derive(Debug, Clone, Copy)]
enum Refused {
    Replica(ReplicaError),
    Epoch(EpochMismatch),
}

impl From<Refused> for ReadError {
    fn from(r: Refused) -> Self {
        match r {
            Refused::Replica(e) => ReadError::Replica(e),
            Refused::Epoch(e) => ReadError::Epoch(e),
        }
    }
}

impl ReplicaManager {
    /// Reads every target, in order, waiting as [`FetchParams`] allows. A refused or
    /// failed partition makes the fetch answer at once, as Kafka's does.
    pub async fn fetch_records(
        &self,
        targets: &[FetchTarget],
        params: FetchParams,
        now: i64,
    ) -> Vec<Result<PartitionRead, ReadError>> {
        let logs: Vec<Result<Arc<PartitionLog>, Refused>> = targets
            .iter()
            .map(|t| self.fetch_log(t, params.follower, now))
            .collect();
        // Subscribe before the first read so no append between read and wait is missed.
        let mut watches: Vec<_> = logs
            .iter()
            .filter_map(|l| l.as_ref().ok())
            .map(|l| match params.follower {
                Some(_) => l.subscribe(),
                None => l.subscribe_high_watermark(),
            })
            .collect();
        let deadline = Instant::now() + params.max_wait;
        loop {
            let pass = read_all(targets, &logs, &params);
            if pass.total >= params.min_bytes
                || pass.any_error
                || pass.cut_short
                || Instant::now() >= deadline
                || !purgatory::wait_any(&mut watches, deadline).await
            {
                return pass.reads;
            }
        }
    }

    /// The log a target reads from, after the leader and epoch checks; for a follower,
    /// records its fetch position first, under the same hold of the leader role.
    fn fetch_log(
        &self,
        t: &FetchTarget,
        follower: Option<i32>,
        now: i64,
    ) -> Result<Arc<PartitionLog>, Refused> {
        let r = self
            .hosted(&t.topic, t.partition)
            .map_err(Refused::Replica)?;
        let proposal = {
            let mut role = r.role.lock().unwrap_or_else(|p| p.into_inner());
            let l = role.leader_mut().map_err(Refused::Replica)?;
            check_leader_epoch(t.current_leader_epoch, l.leader_epoch).map_err(Refused::Epoch)?;
            match follower {
                Some(id) => self
                    .follower_fetched(&r, l, id, t.fetch_offset, t.log_start_offset, now)
                    .map_err(Refused::Replica)?,
                None => None,
            }
        };
        if let Some(isr) = proposal {
            self.propose_isr(&t.topic, t.partition, isr);
        }
        Ok(r.log.clone())
    }
}

/// One pass over every target.
struct Pass {
    reads: Vec<Result<PartitionRead, ReadError>>,
    /// Bytes read.
    total: usize,
    any_error: bool,
    /// A read stopped before the data it may return ends (at `max_bytes` or at the end of
    /// a segment): the answer is as full as it gets now (Kafka's `DelayedFetch` completes
    /// at once when the fetch offset is on an older segment than the high watermark).
    cut_short: bool,
}

fn read_all(
    targets: &[FetchTarget],
    logs: &[Result<Arc<PartitionLog>, Refused>],
    params: &FetchParams,
) -> Pass {
    let mut total = 0usize;
    let mut any_error = false;
    let mut cut_short = false;
    let mut out = Vec::with_capacity(targets.len());
    for (t, log) in targets.iter().zip(logs) {
        let read = match log {
            Err(refused) => Err(ReadError::from(*refused)),
            Ok(log) => {
                let hw = log.high_watermark();
                let upto = match params.follower {
                    Some(_) => log.log_end_offset(),
                    None => hw,
                };
                let budget = t.max_bytes.min(params.max_bytes.saturating_sub(total));
                // The first partition with data may exceed the limits by one batch (KIP-74).
                let min_one = total == 0;
                log.read_slice(t.fetch_offset, budget, min_one, upto)
                    .map(|read| {
                        let records = read.map(|(slice, more)| {
                            cut_short |= more;
                            slice
                        });
                        total += records.as_ref().map_or(0, FileSlice::len);
                        PartitionRead {
                            high_watermark: hw,
                            log_start_offset: log.log_start_offset(),
                            records,
                        }
                    })
                    .map_err(ReadError::Storage)
            }
        };
        any_error |= read.is_err();
        out.push(read);
    }
    Pass {
        reads: out,
        total,
        any_error,
        cut_short,
    }
}

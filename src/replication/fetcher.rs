//! Follower fetching: one task per leader broker keeps this broker's replicas of that
//! leader's partitions up to date, with Kafka's own Fetch API (with `replica_id`). A
//! partition joins in the truncating state: OffsetForLeaderEpoch first tells where the
//! leader's history for our latest epoch ends, and the local log is cut there.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::controller::Metadata;
use crate::protocol::client::BrokerClient;
use crate::protocol::interbroker::{EpochQuery, FetchOutcome, FetchPosition};
use crate::storage::{PartitionLog, TopicPartition};

const MAX_WAIT: Duration = Duration::from_millis(500);
const PARTITION_MAX_BYTES: i32 = 1 << 20;
const IO_TIMEOUT: Duration = Duration::from_secs(5);
const RETRY: Duration = Duration::from_millis(200);

struct Followed {
    log: Arc<PartitionLog>,
    leader_epoch: i32,
    /// OffsetForLeaderEpoch still has to run before fetching.
    truncating: bool,
}

type Partitions = Arc<Mutex<HashMap<TopicPartition, Followed>>>;

struct LeaderTask {
    partitions: Partitions,
    handle: JoinHandle<()>,
}

/// All follower fetchers of this broker.
pub struct Fetcher {
    node_id: i32,
    metadata: Arc<Metadata>,
    tasks: Mutex<HashMap<i32, LeaderTask>>,
}

impl Fetcher {
    pub fn new(node_id: i32, metadata: Arc<Metadata>) -> Self {
        Fetcher {
            node_id,
            metadata,
            tasks: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i32, LeaderTask>> {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts following `leader` for `tp` at `leader_epoch` (truncating first).
    pub fn add(&self, tp: TopicPartition, log: Arc<PartitionLog>, leader: i32, leader_epoch: i32) {
        self.remove(&tp);
        let mut tasks = self.lock();
        let task = tasks.entry(leader).or_insert_with(|| {
            let partitions: Partitions = Arc::default();
            let handle = tokio::spawn(run(
                self.node_id,
                leader,
                partitions.clone(),
                self.metadata.clone(),
            ));
            LeaderTask { partitions, handle }
        });
        task.partitions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                tp,
                Followed {
                    log,
                    leader_epoch,
                    truncating: true,
                },
            );
    }

    /// Stops following `tp`, whoever leads it.
    pub fn remove(&self, tp: &TopicPartition) {
        let mut tasks = self.lock();
        let mut empty = Vec::new();
        for (leader, task) in tasks.iter() {
            let mut parts = task.partitions.lock().unwrap_or_else(|p| p.into_inner());
            parts.remove(tp);
            if parts.is_empty() {
                empty.push(*leader);
            }
        }
        for leader in empty {
            if let Some(t) = tasks.remove(&leader) {
                t.handle.abort();
            }
        }
    }

    pub fn shutdown(&self) {
        for (_, t) in self.lock().drain() {
            t.handle.abort();
        }
    }
}

async fn run(node_id: i32, leader: i32, partitions: Partitions, metadata: Arc<Metadata>) {
    let mut client: Option<BrokerClient> = None;
    loop {
        if client.is_none() {
            let addr = metadata
                .snapshot()
                .brokers
                .get(&leader)
                .filter(|b| !b.fenced)
                .map(|b| format!("{}:{}", b.host, b.port));
            let Some(addr) = addr else {
                tokio::time::sleep(RETRY).await;
                continue;
            };
            match BrokerClient::connect(&addr, &format!("vltava-replica-{node_id}"), IO_TIMEOUT)
                .await
            {
                Ok(c) => client = Some(c),
                Err(e) => {
                    log::debug!("follower fetcher for broker {leader}: {e}");
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            }
        }
        let Some(c) = client.as_mut() else { continue };
        let result = async {
            truncate(c, node_id, &partitions).await?;
            fetch(c, node_id, &partitions).await
        }
        .await;
        if let Err(e) = result {
            log::debug!("follower fetcher for broker {leader}: {e}");
            client = None;
            tokio::time::sleep(RETRY).await;
        }
    }
}

fn snapshot(
    partitions: &Partitions,
    truncating: bool,
) -> Vec<(TopicPartition, Arc<PartitionLog>, i32)> {
    partitions
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .filter(|(_, f)| f.truncating == truncating)
        .map(|(tp, f)| (tp.clone(), f.log.clone(), f.leader_epoch))
        .collect()
}

/// OffsetForLeaderEpoch for partitions that just started following, then truncation.
async fn truncate(
    c: &mut BrokerClient,
    node_id: i32,
    partitions: &Partitions,
) -> Result<(), String> {
    let items = snapshot(partitions, true);
    if items.is_empty() {
        return Ok(());
    }
    let queries: Vec<EpochQuery> = items
        .iter()
        .map(|(tp, log, epoch)| EpochQuery {
            topic: tp.topic.clone(),
            partition: tp.partition,
            current_leader_epoch: *epoch,
            leader_epoch: log.latest_epoch().unwrap_or(-1),
        })
        .collect();
    let ends = c
        .offsets_for_leader_epoch(node_id, &queries)
        .await
        .map_err(|e| e.to_string())?;
    for p in ends {
        let tp = TopicPartition {
            topic: p.topic,
            partition: p.partition,
        };
        let Some((_, log, _)) = items.iter().find(|(x, _, _)| *x == tp) else {
            continue;
        };
        if let Some(e) = p.error {
            log::debug!("{tp}: OffsetForLeaderEpoch: {e}");
            continue;
        }
        if p.end_offset >= 0 && p.end_offset < log.log_end_offset() {
            log::info!(
                "{tp}: truncating from {} to {} (leader epoch {} ends there)",
                log.log_end_offset(),
                p.end_offset,
                p.leader_epoch
            );
            log.truncate_to(p.end_offset).map_err(|e| e.to_string())?;
        }
        if let Some(f) = partitions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(&tp)
        {
            f.truncating = false;
        }
    }
    Ok(())
}

/// One Fetch round for the partitions in the fetching state.
async fn fetch(c: &mut BrokerClient, node_id: i32, partitions: &Partitions) -> Result<(), String> {
    let items = snapshot(partitions, false);
    if items.is_empty() {
        tokio::time::sleep(Duration::from_millis(50)).await;
        return Ok(());
    }
    let positions: Vec<FetchPosition> = items
        .iter()
        .map(|(tp, log, epoch)| FetchPosition {
            topic: tp.topic.clone(),
            partition: tp.partition,
            current_leader_epoch: *epoch,
            fetch_offset: log.log_end_offset(),
            log_start_offset: log.log_start_offset(),
        })
        .collect();
    let fetched = c
        .follower_fetch(node_id, MAX_WAIT, PARTITION_MAX_BYTES, &positions)
        .await
        .map_err(|e| e.to_string())?;
    let now = now_ms();
    for p in fetched {
        let tp = TopicPartition {
            topic: p.topic,
            partition: p.partition,
        };
        let Some((_, log, _)) = items.iter().find(|(x, _, _)| *x == tp) else {
            continue;
        };
        match p.outcome {
            FetchOutcome::Records {
                records,
                high_watermark,
                log_start_offset,
            } => {
                if let Some(records) = records.filter(|r| !r.is_empty()) {
                    log.append_as_follower(&records, now)
                        .map_err(|e| format!("{tp}: {e}"))?;
                }
                log.set_high_watermark(high_watermark.min(log.log_end_offset()));
                if log_start_offset > log.log_start_offset() {
                    let _ = log.advance_log_start(log_start_offset.min(log.high_watermark()));
                }
            }
            FetchOutcome::OffsetOutOfRange { log_start_offset } => {
                if log.log_end_offset() < log_start_offset {
                    log.truncate_fully_and_start_at(log_start_offset)
                        .map_err(|e| format!("{tp}: {e}"))?;
                } else if let Some(f) = partitions
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_mut(&tp)
                {
                    f.truncating = true;
                }
            }
            FetchOutcome::Refused(e) => log::debug!("{tp}: fetch from leader: {e}"),
        }
    }
    Ok(())
}

/// Wall-clock milliseconds (follower appends keep the leader's timestamps; this only
/// stamps local bookkeeping).
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

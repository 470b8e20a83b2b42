//! Follower fetching: one task per leader broker keeps this broker's replicas of that
//! leader's partitions up to date, with Kafka's own Fetch API (with `replica_id`). A
//! partition joins in the truncating state: OffsetForLeaderEpoch first tells where the
//! leader's history for our latest epoch ends, and the local log is cut there.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::{
    ApiKey, BrokerId, FetchRequest, FetchResponse, OffsetForLeaderEpochRequest,
    OffsetForLeaderEpochResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use tokio::task::JoinHandle;

use crate::controller::Metadata;
use crate::net::client::BrokerClient;
use crate::storage::{PartitionLog, TopicPartition};

const FETCH_VERSION: i16 = 12;
const EPOCH_VERSION: i16 = 4;
const MAX_WAIT_MS: i32 = 500;
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

fn by_topic(items: &[(TopicPartition, Arc<PartitionLog>, i32)]) -> Vec<(String, Vec<usize>)> {
    let mut out: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, (tp, _, _)) in items.iter().enumerate() {
        match out.iter_mut().find(|(t, _)| *t == tp.topic) {
            Some((_, v)) => v.push(i),
            None => out.push((tp.topic.clone(), vec![i])),
        }
    }
    out
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
    let topics = by_topic(&items)
        .into_iter()
        .map(|(topic, idx)| {
            OffsetForLeaderTopic::default()
                .with_topic(TopicName(StrBytes::from_string(topic)))
                .with_partitions(
                    idx.iter()
                        .map(|i| {
                            let (tp, log, epoch) = &items[*i];
                            OffsetForLeaderPartition::default()
                                .with_partition(tp.partition)
                                .with_current_leader_epoch(*epoch)
                                .with_leader_epoch(log.latest_epoch().unwrap_or(-1))
                        })
                        .collect(),
                )
        })
        .collect();
    let req = OffsetForLeaderEpochRequest::default()
        .with_replica_id(BrokerId(node_id))
        .with_topics(topics);
    let resp: OffsetForLeaderEpochResponse = c
        .send(
            ApiKey::OffsetForLeaderEpoch,
            EPOCH_VERSION,
            &req,
            Duration::ZERO,
        )
        .await
        .map_err(|e| e.to_string())?;
    for t in resp.topics {
        for p in t.partitions {
            let tp = TopicPartition {
                topic: t.topic.0.as_str().to_string(),
                partition: p.partition,
            };
            let Some((_, log, _)) = items.iter().find(|(x, _, _)| *x == tp) else {
                continue;
            };
            if p.error_code != 0 {
                log::debug!("{tp}: OffsetForLeaderEpoch error {}", p.error_code);
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
    let topics = by_topic(&items)
        .into_iter()
        .map(|(topic, idx)| {
            FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_string(topic)))
                .with_partitions(
                    idx.iter()
                        .map(|i| {
                            let (tp, log, epoch) = &items[*i];
                            FetchPartition::default()
                                .with_partition(tp.partition)
                                .with_current_leader_epoch(*epoch)
                                .with_fetch_offset(log.log_end_offset())
                                .with_log_start_offset(log.log_start_offset())
                                .with_partition_max_bytes(PARTITION_MAX_BYTES)
                        })
                        .collect(),
                )
        })
        .collect();
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(node_id))
        .with_max_wait_ms(MAX_WAIT_MS)
        .with_min_bytes(1)
        .with_max_bytes(16 << 20)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(topics);
    let resp: FetchResponse = c
        .send(
            ApiKey::Fetch,
            FETCH_VERSION,
            &req,
            Duration::from_millis(MAX_WAIT_MS as u64),
        )
        .await
        .map_err(|e| e.to_string())?;
    if resp.error_code != 0 {
        return Err(format!("fetch error {}", resp.error_code));
    }
    let now = now_ms();
    for t in resp.responses {
        for p in t.partitions {
            let tp = TopicPartition {
                topic: t.topic.0.as_str().to_string(),
                partition: p.partition_index,
            };
            let Some((_, log, _)) = items.iter().find(|(x, _, _)| *x == tp) else {
                continue;
            };
            match ResponseError::try_from_code(p.error_code) {
                None => {
                    if let Some(records) = p.records.filter(|r| !r.is_empty()) {
                        log.append_as_follower(&records, now)
                            .map_err(|e| format!("{tp}: {e}"))?;
                    }
                    log.set_high_watermark(p.high_watermark.min(log.log_end_offset()));
                    if p.log_start_offset > log.log_start_offset() {
                        let _ = log.advance_log_start(p.log_start_offset.min(log.high_watermark()));
                    }
                }
                Some(ResponseError::OffsetOutOfRange) => {
                    if log.log_end_offset() < p.log_start_offset {
                        log.truncate_fully_and_start_at(p.log_start_offset)
                            .map_err(|e| format!("{tp}: {e}"))?;
                    } else if let Some(f) = partitions
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get_mut(&tp)
                    {
                        f.truncating = true;
                    }
                }
                Some(e) => log::debug!("{tp}: fetch from leader: {e}"),
            }
        }
    }
    Ok(())
}

fn now_ms() -> i64 {
    crate::broker::now_ms()
}

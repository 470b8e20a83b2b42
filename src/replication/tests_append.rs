//! The write path against a broker's own replica manager, with the metadata it reconciles
//! to written by the test: followers that never fetch, demotions in the middle of a wait.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use uuid::Uuid;

use super::append::{Acks, AppendEntry, AppendError};
use super::manager::ReplicaError;
use crate::broker::{Broker, now_ms, open_for_test};
use crate::controller::quorum::{ClusterState, PartitionInfo, TopicInfo};
use crate::format::builder;
use crate::storage::{AppendInfo, LogConfig};

pub(super) const TOPIC: &str = "replicated";

/// A cluster state with one topic whose partitions all have `leader` at `epoch`.
pub(super) fn state(
    partitions: usize,
    replicas: &[i32],
    isr: &[i32],
    leader: i32,
    epoch: i32,
) -> ClusterState {
    let p = PartitionInfo {
        replicas: replicas.to_vec(),
        isr: isr.to_vec(),
        leader,
        leader_epoch: epoch,
        partition_epoch: epoch,
    };
    let mut s = ClusterState::default();
    s.topics.insert(
        TOPIC.to_string(),
        TopicInfo {
            name: TOPIC.to_string(),
            id: Uuid::from_u128(7),
            configs: BTreeMap::new(),
            partitions: vec![p; partitions],
        },
    );
    s
}

pub(super) fn reconcile(broker: &Broker, s: &ClusterState, min_isr: i64) {
    let config = LogConfig {
        min_insync_replicas: min_isr,
        ..LogConfig::default()
    };
    broker.replicas.reconcile(s, &|_| config.clone(), now_ms());
}

pub(super) fn entry(partition: i32) -> AppendEntry {
    AppendEntry {
        topic: TOPIC.to_string(),
        partition,
        records: Bytes::from(builder::build_batch(&[(Some(b"k"), Some(b"v"))], now_ms()).to_vec()),
    }
}

type Results = Vec<Result<AppendInfo, AppendError<()>>>;

async fn append(broker: &Arc<Broker>, entries: Vec<AppendEntry>, timeout: Duration) -> Results {
    broker
        .replicas
        .append_records(entries, Acks::All, timeout, now_ms(), |_, _| {
            Ok::<_, ()>(None)
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_all_is_answered_once_the_isr_has_the_batch() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open_for_test(dir.path()).await;
    let me = broker.node_id();
    reconcile(&broker, &state(1, &[me, 2, 3], &[me, 2, 3], me, 5), 2);
    let b = broker.clone();
    let wait =
        tokio::spawn(async move { append(&b, vec![entry(0)], Duration::from_secs(30)).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !wait.is_finished(),
        "answered before any follower had the batch"
    );
    for follower in [2, 3] {
        broker
            .replicas
            .on_follower_fetch(TOPIC, 0, follower, 1, now_ms())
            .unwrap();
    }
    let results = tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(results[0].as_ref().unwrap().base_offset, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_demoted_during_the_wait_never_confirms() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open_for_test(dir.path()).await;
    let me = broker.node_id();
    reconcile(&broker, &state(1, &[me, 2, 3], &[me, 2, 3], me, 5), 1);
    let b = broker.clone();
    let wait =
        tokio::spawn(async move { append(&b, vec![entry(0)], Duration::from_secs(30)).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Broker 2 takes over at epoch 6; this broker follows (and would truncate, refetch
    // and see its high watermark pass the offset: the answer must not depend on that).
    reconcile(&broker, &state(1, &[me, 2, 3], &[2, 3], 2, 6), 1);
    let log = broker.replicas.replica(TOPIC, 0).unwrap().log.clone();
    log.set_high_watermark(log.log_end_offset());
    let results = tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .unwrap()
        .unwrap();
    match &results[0] {
        Err(AppendError::Replica(ReplicaError::NotLeader {
            leader: 2,
            leader_epoch: 6,
        })) => {}
        other => panic!("a demoted leader answered {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_deadline_covers_every_partition_of_a_request() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open_for_test(dir.path()).await;
    let me = broker.node_id();
    // Follower 2 is in the ISR and never fetches: every partition waits to the timeout.
    reconcile(&broker, &state(50, &[me, 2], &[me, 2], me, 1), 1);
    let timeout = Duration::from_millis(400);
    let started = tokio::time::Instant::now();
    let results = append(&broker, (0..50).map(entry).collect(), timeout).await;
    let took = started.elapsed();
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Err(AppendError::Timeout)))
    );
    // 50 sequential waits would take 20 s; one shared deadline takes one timeout.
    assert!(took < timeout * 5, "50 partitions took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_all_below_min_insync_replicas_appends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open_for_test(dir.path()).await;
    let me = broker.node_id();
    reconcile(&broker, &state(1, &[me, 2, 3], &[me], me, 1), 2);
    let results = append(&broker, vec![entry(0)], Duration::from_secs(1)).await;
    assert!(matches!(results[0], Err(AppendError::NotEnoughReplicas)));
    let log = broker.replicas.replica(TOPIC, 0).unwrap().log.clone();
    assert_eq!(log.log_end_offset(), 0);
    // acks=1 needs only the leader.
    let results = broker
        .replicas
        .append_records(
            vec![entry(0)],
            Acks::Leader,
            Duration::ZERO,
            now_ms(),
            |_, _| Ok::<_, ()>(None),
        )
        .await;
    assert_eq!(results[0].as_ref().unwrap().base_offset, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callers_check_refuses_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open_for_test(dir.path()).await;
    let me = broker.node_id();
    reconcile(&broker, &state(1, &[me], &[me], me, 1), 1);
    let results = broker
        .replicas
        .append_records(
            vec![entry(0)],
            Acks::All,
            Duration::from_secs(1),
            now_ms(),
            |c, _| Err(c.min_insync_replicas),
        )
        .await;
    assert!(matches!(results[0], Err(AppendError::Rejected(1))));
    let unknown = AppendEntry {
        partition: 9,
        ..entry(0)
    };
    let results = append(&broker, vec![unknown], Duration::from_secs(1)).await;
    assert!(matches!(
        results[0],
        Err(AppendError::Replica(ReplicaError::Unknown))
    ));
}

//! The read path against a broker's own replica manager: what consumers and followers
//! see, the long poll, and the refusals that answer at once.

use std::time::Duration;

use super::append::Acks;
use super::manager::ReplicaError;
use super::read::{EpochMismatch, FetchParams, FetchTarget, PartitionRead, ReadError};
use super::tests_append::{TOPIC, entry, reconcile, state};
use crate::broker::{Broker, now_ms, open_for_test};

fn target(offset: i64, epoch: i32) -> FetchTarget {
    FetchTarget {
        topic: TOPIC.to_string(),
        partition: 0,
        fetch_offset: offset,
        max_bytes: 1 << 20,
        current_leader_epoch: epoch,
        log_start_offset: -1,
    }
}

fn params(follower: Option<i32>, max_wait: Duration) -> FetchParams {
    FetchParams {
        follower,
        min_bytes: 1,
        max_bytes: 1 << 20,
        max_wait,
    }
}

async fn fetch(
    broker: &Broker,
    t: FetchTarget,
    p: FetchParams,
) -> Result<PartitionRead, ReadError> {
    let mut reads = tokio::time::timeout(
        Duration::from_secs(10),
        broker.replicas.fetch_records(&[t], p, now_ms()),
    )
    .await
    .expect("fetch answered within its bounds");
    assert_eq!(reads.len(), 1);
    reads.remove(0)
}

fn append_one(broker: &Broker) {
    broker
        .replicas
        .append_now(&entry(0), Acks::Leader, now_ms(), &|_, _| Ok::<_, ()>(None))
        .unwrap();
}

fn bytes(r: &PartitionRead) -> usize {
    r.records.as_ref().map_or(0, |s| s.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_read_to_the_high_watermark_and_followers_to_the_log_end() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open_for_test(dir.path()).await;
    let me = broker.node_id();
    reconcile(&broker, &state(1, &[me, 2], &[me, 2], me, 5), 1);
    append_one(&broker);
    let short = Duration::from_millis(100);

    let consumer = fetch(&broker, target(0, 5), params(None, short))
        .await
        .unwrap();
    assert_eq!((consumer.high_watermark, bytes(&consumer)), (0, 0));

    let follower = fetch(&broker, target(0, 5), params(Some(2), short))
        .await
        .unwrap();
    assert!(
        bytes(&follower) > 0,
        "a follower reads past the high watermark"
    );

    // The follower's next fetch position acknowledges the batch: the high watermark moves.
    fetch(&broker, target(1, 5), params(Some(2), Duration::ZERO))
        .await
        .unwrap();
    let consumer = fetch(&broker, target(0, 5), params(None, short))
        .await
        .unwrap();
    assert_eq!(consumer.high_watermark, 1);
    assert!(bytes(&consumer) > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_is_answered_by_the_append_it_waits_for() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open_for_test(dir.path()).await;
    let me = broker.node_id();
    reconcile(&broker, &state(1, &[me], &[me], me, 1), 1);
    let b = broker.clone();
    let poll = tokio::spawn(async move {
        fetch(&b, target(0, -1), params(None, Duration::from_secs(30))).await
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!poll.is_finished(), "answered with nothing to read");
    append_one(&broker);
    let read = tokio::time::timeout(Duration::from_secs(10), poll)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(bytes(&read) > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_answer_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open_for_test(dir.path()).await;
    let me = broker.node_id();
    reconcile(&broker, &state(1, &[me, 2], &[me, 2], me, 5), 1);
    let long = params(None, Duration::from_secs(30));
    assert!(matches!(
        fetch(&broker, target(0, 4), long).await,
        Err(ReadError::Epoch(EpochMismatch::Fenced))
    ));
    assert!(matches!(
        fetch(&broker, target(0, 6), long).await,
        Err(ReadError::Epoch(EpochMismatch::Newer))
    ));
    // Broker 9 is no replica of the partition.
    assert!(matches!(
        fetch(
            &broker,
            target(0, 5),
            params(Some(9), Duration::from_secs(30))
        )
        .await,
        Err(ReadError::Replica(ReplicaError::NotLeader { .. }))
    ));
    assert!(matches!(
        fetch(&broker, target(5, 5), long).await,
        Err(ReadError::Storage(_))
    ));
}

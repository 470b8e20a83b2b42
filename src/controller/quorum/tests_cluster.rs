//! Quorum tests over loopback TCP on ephemeral ports: one voter, three voters, leader
//! failover, catch-up after restart, a minority left. Every wait is bounded.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::time::Duration;

use uuid::Uuid;

use super::*;

const WAIT: Duration = Duration::from_secs(15);

fn bind(addr: SocketAddr) -> TcpListener {
    TcpListener::bind(addr).expect("bind controller listener")
}

fn config(
    id: i32,
    voters: &[(i32, SocketAddr)],
    listener: TcpListener,
    dir: &Path,
) -> QuorumConfig {
    let mut cfg = QuorumConfig::new(id, voters.to_vec(), dir).unwrap();
    cfg.listen = Listen::Listener(listener);
    cfg.election_timeout_ms = (300, 600);
    cfg.heartbeat_ms = 50;
    cfg.snapshot_every = 5;
    cfg.propose_timeout = Duration::from_secs(10);
    cfg
}

fn register(id: i32) -> MetadataCommand {
    MetadataCommand::RegisterBroker {
        id,
        host: "127.0.0.1".into(),
        port: 9000 + id as u16,
        rack: None,
        now_ms: 0,
    }
}

fn topic(name: &str, partitions: Vec<Vec<i32>>) -> MetadataCommand {
    MetadataCommand::CreateTopic {
        name: name.into(),
        id: Uuid::new_v4(),
        partitions,
        configs: Default::default(),
    }
}

async fn propose_ok(q: &Quorum, cmd: MetadataCommand) -> CommandOutput {
    let r = q.propose(cmd.clone()).await.expect("propose");
    r.unwrap_or_else(|e| panic!("{cmd:?} refused: {e}"))
}

async fn wait_state(q: &Quorum, what: &str, pred: impl Fn(&ClusterState) -> bool) {
    let mut rx = q.state();
    let waited = tokio::time::timeout(WAIT, rx.wait_for(|s| pred(s))).await;
    assert!(
        matches!(waited, Ok(Ok(_))),
        "node {}: timed out waiting for {what}",
        q.node_id()
    );
}

/// Waits until every node in `nodes` agrees on one leader other than `not`.
async fn wait_common_leader(nodes: &[&Quorum], not: Option<i32>) -> i32 {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let leaders: Vec<_> = nodes.iter().map(|q| q.leader()).collect();
        if let Some(Some(l)) = leaders.first()
            && leaders.iter().all(|x| *x == Some(*l))
            && Some(*l) != not
        {
            return *l;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no common leader: {leaders:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_voter_proposes_applies_and_restarts_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let listener = bind("127.0.0.1:0".parse().unwrap());
    let addr = listener.local_addr().unwrap();
    let voters = vec![(1, addr)];

    let q = Quorum::start(config(1, &voters, listener, dir.path()))
        .await
        .unwrap();
    assert_eq!(q.wait_for_leader(WAIT).await.unwrap(), 1);
    propose_ok(
        &q,
        MetadataCommand::InitCluster {
            cluster_id: "c1".into(),
        },
    )
    .await;
    propose_ok(&q, register(1)).await;
    propose_ok(&q, topic("t", vec![vec![1], vec![1]])).await;
    // Enough entries to take a snapshot and purge the log before it.
    for i in 0..8 {
        let out = propose_ok(&q, MetadataCommand::AllocateProducerIds { block_size: 10 }).await;
        assert_eq!(
            out,
            CommandOutput::ProducerIdBlock {
                start: i * 10,
                len: 10
            }
        );
    }
    let refused = q
        .propose(MetadataCommand::DeleteTopic { name: "x".into() })
        .await;
    assert_eq!(
        refused.unwrap(),
        Err(CommandError::UnknownTopic("x".into()))
    );
    let before = q.state().borrow().clone();
    assert_eq!(before.topics["t"].partitions[1].leader, 1);
    assert!(q.is_leader());
    q.shutdown().await;
    assert!(dir.path().join("snapshot.json").exists());

    let q = Quorum::start(config(1, &voters, bind(addr), dir.path()))
        .await
        .unwrap();
    wait_state(&q, "state restored", |s| *s == *before).await;
    q.wait_for_leader(WAIT).await.unwrap();
    let out = propose_ok(&q, MetadataCommand::AllocateProducerIds { block_size: 10 }).await;
    assert_eq!(out, CommandOutput::ProducerIdBlock { start: 80, len: 10 });
    q.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_voters_replicate_forward_fail_over_and_catch_up() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let listeners: Vec<_> = (0..3)
        .map(|_| bind("127.0.0.1:0".parse().unwrap()))
        .collect();
    let voters: Vec<(i32, SocketAddr)> = listeners
        .iter()
        .enumerate()
        .map(|(i, l)| (i as i32 + 1, l.local_addr().unwrap()))
        .collect();
    let mut starts = Vec::new();
    for (i, l) in listeners.into_iter().enumerate() {
        let cfg = config(i as i32 + 1, &voters, l, dirs[i].path());
        starts.push(tokio::spawn(Quorum::start(cfg)));
    }
    let mut nodes = Vec::new();
    for s in starts {
        nodes.push(Some(s.await.unwrap().unwrap()));
    }
    let all: Vec<&Quorum> = nodes.iter().flatten().collect();
    let leader = wait_common_leader(&all, None).await;

    // Propose from a follower: forwarded to the leader.
    let follower = all.iter().find(|q| q.node_id() != leader).unwrap();
    assert!(!follower.is_leader());
    for b in 1..=3 {
        propose_ok(follower, register(b)).await;
    }
    let placement = place_replicas(&follower.state().borrow(), 6, 3).unwrap();
    propose_ok(follower, topic("t", placement)).await;
    for q in &all {
        wait_state(q, "topic on every node", |s| s.topics.contains_key("t")).await;
    }
    let reference = all[0].state().borrow().clone();
    for q in &all {
        wait_state(q, "converged state", |s| *s == *reference).await;
    }

    // Described by the leader, asked from a follower: every voter caught up (the followers
    // answer heartbeats), each log end offset at or above the high watermark.
    let deadline = tokio::time::Instant::now() + WAIT;
    let d = loop {
        let d = follower.describe().await.expect("describe");
        let all_known = d.voters.iter().all(|v| v.last_caught_up_ms > 0);
        if all_known || tokio::time::Instant::now() > deadline {
            break d;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(d.leader_id, leader);
    assert!(d.leader_epoch >= 1);
    assert_eq!(
        d.voters.iter().map(|v| v.replica_id).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(d.addresses.len(), 3);
    for v in &d.voters {
        assert!(v.last_caught_up_ms > 0, "{d:?}");
        assert!(v.last_fetch_ms >= v.last_caught_up_ms, "{d:?}");
        assert!(
            v.log_end_offset >= d.high_watermark && d.high_watermark > 0,
            "{d:?}"
        );
    }

    // Stop the leader: the two others elect a new one and keep going.
    let old = nodes[(leader - 1) as usize].take().unwrap();
    let old_addr = voters[(leader - 1) as usize].1;
    old.shutdown().await;
    let rest: Vec<&Quorum> = nodes.iter().flatten().collect();
    let new_leader = wait_common_leader(&rest, Some(leader)).await;
    assert_ne!(new_leader, leader);
    let active = rest.iter().find(|q| q.node_id() == new_leader).unwrap();
    let mut became_active = active.active_controller();
    let waited = tokio::time::timeout(WAIT, became_active.wait_for(|a| *a == Some(new_leader)));
    assert!(
        matches!(waited.await, Ok(Ok(_))),
        "new leader never became active"
    );
    assert!(active.is_leader());
    let fenced = {
        let state = active.state().borrow().clone();
        let mut cmds = vec![MetadataCommand::FenceBroker { id: leader }];
        cmds.extend(on_broker_fenced(&state, leader));
        MetadataCommand::Batch(cmds)
    };
    propose_ok(rest[0], fenced).await;
    for i in 0..12 {
        propose_ok(
            rest[i % 2],
            MetadataCommand::AllocateProducerIds { block_size: 1 },
        )
        .await;
    }
    for q in &rest {
        wait_state(q, "failover applied", |s| {
            s.next_producer_id_block == 12
                && s.topics["t"].partitions.iter().all(|p| p.leader != leader)
        })
        .await;
    }

    // Restart the old leader from its directory: it catches up (by snapshot: the others
    // purged their logs meanwhile).
    let cfg = config(
        leader,
        &voters,
        bind(old_addr),
        dirs[(leader - 1) as usize].path(),
    );
    let back = Quorum::start(cfg).await.unwrap();
    let target = rest[0].state().borrow().clone();
    wait_state(&back, "restarted node caught up", |s| *s == *target).await;
    let rejoin = MetadataCommand::Batch(on_broker_unfenced(&target, leader));
    propose_ok(&back, MetadataCommand::UnfenceBroker { id: leader }).await;
    propose_ok(&back, rejoin).await;
    nodes[(leader - 1) as usize] = Some(back);
    let all: Vec<&Quorum> = nodes.iter().flatten().collect();
    let final_state = all[0].state().borrow().clone();
    for q in &all {
        wait_state(q, "final convergence", |s| *s == *final_state).await;
        assert!(q.state().borrow().is_live(leader));
    }
    for q in nodes.into_iter().flatten() {
        q.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_minority_cannot_commit() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let listeners: Vec<_> = (0..3)
        .map(|_| bind("127.0.0.1:0".parse().unwrap()))
        .collect();
    let voters: Vec<(i32, SocketAddr)> = listeners
        .iter()
        .enumerate()
        .map(|(i, l)| (i as i32 + 1, l.local_addr().unwrap()))
        .collect();
    let mut nodes = Vec::new();
    for (i, l) in listeners.into_iter().enumerate() {
        let mut cfg = config(i as i32 + 1, &voters, l, dirs[i].path());
        cfg.propose_timeout = Duration::from_secs(2);
        nodes.push(Quorum::start(cfg).await.unwrap());
    }
    let all: Vec<&Quorum> = nodes.iter().collect();
    wait_common_leader(&all, None).await;
    propose_ok(&nodes[2], register(1)).await;
    let last = nodes.pop().unwrap();
    for q in nodes {
        q.shutdown().await;
    }
    let r = last.propose(register(2)).await;
    assert!(matches!(r, Err(QuorumError::Timeout(_))), "{r:?}");
    eprintln!(
        "minority: leader() = {:?}, is_leader() = {}",
        last.leader(),
        last.is_leader()
    );
    last.shutdown().await;
}

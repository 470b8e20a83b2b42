//! The active controller's duties, run on every node but acting only on the quorum leader:
//! fence brokers whose heartbeats stopped (electing new leaders for what they led), elect
//! leaders for leaderless partitions when a broker comes back, and move leadership back to
//! preferred replicas (`auto.leader.rebalance.enable`).
//!
//! Decisions are the pure functions of `quorum::decisions`; this module only decides when
//! to run them and proposes their commands.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::Metadata;
use super::quorum::{
    ClusterState, MetadataCommand, on_broker_fenced, on_broker_unfenced, preferred_leader_elections,
};

/// Timings of the active controller.
#[derive(Debug, Clone)]
pub struct ControllerTimings {
    /// `broker.session.timeout.ms`: a broker silent this long is fenced.
    pub session_timeout_ms: i64,
    /// `auto.leader.rebalance.enable`
    pub auto_leader_rebalance: bool,
    /// `leader.imbalance.check.interval.seconds`, in ms.
    pub imbalance_check_ms: i64,
}

/// Commands the active controller `self_id` should propose now, given the state and the
/// time. Heartbeats are judged from `active_since` at the earliest: a new controller gives
/// every broker a full session (heartbeats may have stalled during the election), as
/// Kafka's controller does after a failover.
pub fn duties(
    state: &ClusterState,
    now: i64,
    t: &ControllerTimings,
    rebalance_due: bool,
    self_id: i32,
    active_since: i64,
) -> Vec<MetadataCommand> {
    let mut out = Vec::new();
    for b in state.brokers.values() {
        let silent = now - b.last_heartbeat_ms.max(active_since);
        if !b.fenced && b.id != self_id && silent > t.session_timeout_ms {
            log::warn!(
                "broker {} missed heartbeats for {} ms: fencing it",
                b.id,
                now - b.last_heartbeat_ms
            );
            let mut batch = vec![MetadataCommand::FenceBroker { id: b.id }];
            batch.extend(on_broker_fenced(state, b.id));
            out.push(MetadataCommand::Batch(batch));
        }
    }
    if !out.is_empty() {
        return out;
    }
    // Live brokers that are in the ISR of leaderless partitions take them over.
    for id in state.live_brokers() {
        let elections = on_broker_unfenced(state, id);
        if !elections.is_empty() {
            out.push(MetadataCommand::Batch(elections));
            return out;
        }
    }
    if rebalance_due && t.auto_leader_rebalance {
        let moves = preferred_leader_elections(state);
        if !moves.is_empty() {
            out.push(MetadataCommand::Batch(moves));
        }
    }
    out
}

/// Runs the duties every 250 ms while this node leads the quorum, until `stop`.
pub async fn run(
    metadata: Arc<Metadata>,
    timings: ControllerTimings,
    mut stop: watch::Receiver<bool>,
) {
    let mut last_rebalance = now_ms();
    let self_id = metadata.quorum().node_id();
    let mut active_since: Option<i64> = None;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = stop.changed() => return,
        }
        if !metadata.quorum().is_leader() {
            active_since = None;
            continue;
        }
        let now = now_ms();
        let since = *active_since.get_or_insert(now);
        let rebalance_due = now - last_rebalance >= timings.imbalance_check_ms;
        if rebalance_due {
            last_rebalance = now;
        }
        let state = metadata.snapshot();
        for cmd in duties(&state, now, &timings, rebalance_due, self_id, since) {
            if let Err(e) = metadata.propose(cmd).await {
                log::warn!("controller proposal failed: {e}");
            }
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::quorum::place_replicas;

    fn cluster(now: i64) -> ClusterState {
        let mut s = ClusterState::default();
        for id in 1..=3 {
            s.apply(MetadataCommand::RegisterBroker {
                id,
                host: "127.0.0.1".into(),
                port: 9091 + id as u16,
                rack: None,
                now_ms: now,
            })
            .unwrap();
        }
        let parts = place_replicas(&s, 6, 3).unwrap();
        s.apply(MetadataCommand::CreateTopic {
            name: "t".into(),
            id: uuid::Uuid::new_v4(),
            partitions: parts,
            configs: Default::default(),
        })
        .unwrap();
        s
    }

    fn timings() -> ControllerTimings {
        ControllerTimings {
            session_timeout_ms: 9000,
            auto_leader_rebalance: true,
            imbalance_check_ms: 300_000,
        }
    }

    #[test]
    fn leaders_are_spread_and_a_silent_broker_is_fenced_with_new_leaders() {
        let mut s = cluster(0);
        let leads = |s: &ClusterState, id: i32| {
            s.topics["t"]
                .partitions
                .iter()
                .filter(|p| p.leader == id)
                .count()
        };
        assert_eq!((leads(&s, 1), leads(&s, 2), leads(&s, 3)), (2, 2, 2));
        for id in [1, 3] {
            s.apply(MetadataCommand::BrokerHeartbeat { id, now_ms: 9000 })
                .unwrap();
        }
        assert!(duties(&s, 9000, &timings(), false, 1, 0).is_empty());
        // A controller that just took over gives everyone a full session.
        assert!(duties(&s, 9001, &timings(), false, 1, 5000).is_empty());
        let cmds = duties(&s, 9001, &timings(), false, 1, 0);
        assert_eq!(cmds.len(), 1, "broker 2 is fenced");
        for c in cmds {
            s.apply(c).unwrap();
        }
        assert!(s.brokers[&2].fenced);
        assert_eq!(leads(&s, 2), 0);
        assert_eq!(leads(&s, 1) + leads(&s, 3), 6);
        assert!(s.topics["t"].partitions.iter().all(|p| !p.isr.contains(&2)));
        // Broker 2 comes back, catches up (ISR), then gets its preferred leadership back.
        s.apply(MetadataCommand::RegisterBroker {
            id: 2,
            host: "127.0.0.1".into(),
            port: 9093,
            rack: None,
            now_ms: 10_000,
        })
        .unwrap();
        for (i, p) in s.topics["t"].partitions.clone().iter().enumerate() {
            let mut isr = p.isr.clone();
            isr.push(2);
            s.apply(MetadataCommand::ChangePartition {
                topic: "t".into(),
                partition: i as i32,
                leader: None,
                isr: Some(isr),
                expected_partition_epoch: None,
            })
            .unwrap();
        }
        let cmds = duties(&s, 10_001, &timings(), true, 1, 0);
        for c in cmds {
            s.apply(c).unwrap();
        }
        assert_eq!((leads(&s, 1), leads(&s, 2), leads(&s, 3)), (2, 2, 2));
    }
}

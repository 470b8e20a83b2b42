//! Controller decisions: pure functions from a `&ClusterState` to the `MetadataCommand`s the
//! active controller should propose (replica placement, leader elections, ISR shrinking).
//!
//! Owns: the placement and election rules. Must never: mutate state, read a clock, do I/O.
//! Commands carry the partition epoch they were computed from, so a decision made on a stale
//! state is refused by `ClusterState::apply` instead of overwriting a newer change. The
//! caller runs these only on the quorum leader, from one task, and proposes the result.

use super::state::{ClusterState, MetadataCommand, PartitionInfo, UNCLEAN_LEADER_ELECTION};

/// Why replicas could not be placed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    #[error("replication factor must be at least 1")]
    InvalidReplicationFactor,
    #[error("partition count must be at least 1")]
    InvalidPartitionCount,
    #[error("replication factor {wanted} is larger than the {live} available brokers")]
    InsufficientBrokers { wanted: usize, live: usize },
}

/// Striped placement over unfenced brokers (ascending ids): partition `p` gets the brokers
/// starting at `(start + p) mod n`, so preferred leaders and replicas are spread evenly.
/// `start` is the number of partitions already in the cluster (mod `n`), so successive
/// topics do not all put partition 0 on the same broker. Deterministic.
pub fn place_replicas(
    state: &ClusterState,
    partitions: i32,
    replication_factor: i32,
) -> Result<Vec<Vec<i32>>, PlacementError> {
    if replication_factor < 1 {
        return Err(PlacementError::InvalidReplicationFactor);
    }
    if partitions < 1 {
        return Err(PlacementError::InvalidPartitionCount);
    }
    let live = state.live_brokers();
    let (n, rf) = (live.len(), replication_factor as usize);
    if rf > n {
        return Err(PlacementError::InsufficientBrokers {
            wanted: rf,
            live: n,
        });
    }
    let existing: usize = state.topics.values().map(|t| t.partitions.len()).sum();
    let start = existing % n;
    Ok((0..partitions as usize)
        .map(|p| (0..rf).map(|k| live[(start + p + k) % n]).collect())
        .collect())
}

/// Broker `id` is (being) fenced: remove it from every ISR (never emptying one: the last
/// member stays, as in Kafka) and elect a new leader for every partition it led — the first
/// live ISR member in replica order, else (with `unclean.leader.election.enable=true`) the
/// first live replica, else none (-1). `id` counts as dead whatever the state says; propose
/// `FenceBroker { id }` together with these (e.g. in one `Batch`).
pub fn on_broker_fenced(state: &ClusterState, id: i32) -> Vec<MetadataCommand> {
    each_partition(state, |part, unclean| {
        let p = part.p;
        if p.leader != id && !p.isr.contains(&id) {
            return None;
        }
        let (leader, isr) = without_replica(state, p, id, unclean);
        change(part, leader, isr)
    })
}

/// Broker `id` stays live but cannot serve the partitions `offline` names (their logs
/// failed to load): it leaves their ISRs and another replica takes over what it led,
/// elected as in [`on_broker_fenced`]. Where no other replica can lead, nothing changes
/// (the partition stays with `id`, which answers KAFKA_STORAGE_ERROR): a leaderless
/// partition would be handed straight back to `id` by [`on_broker_unfenced`].
pub fn on_replicas_offline(
    state: &ClusterState,
    id: i32,
    offline: impl Fn(&str, i32) -> bool,
) -> Vec<MetadataCommand> {
    each_partition(state, |part, unclean| {
        let p = part.p;
        if !offline(part.topic, part.index) || (p.leader != id && !p.isr.contains(&id)) {
            return None;
        }
        let (leader, isr) = without_replica(state, p, id, unclean);
        if p.leader == id && leader == -1 {
            return None;
        }
        change(part, leader, isr)
    })
}

/// `p`'s leader and ISR once replica `id` is out: `id` leaves the ISR (never emptying
/// it: the last member stays, as in Kafka) and, if it led, the first live ISR member in
/// replica order leads, else (`unclean`) the first live replica, else none (-1).
fn without_replica(
    state: &ClusterState,
    p: &PartitionInfo,
    id: i32,
    unclean: bool,
) -> (i32, Vec<i32>) {
    let live = |b: i32| b != id && state.is_live(b);
    let mut isr: Vec<i32> = p.isr.iter().copied().filter(|r| *r != id).collect();
    if isr.is_empty() {
        isr = p.isr.clone();
    }
    let mut leader = p.leader;
    if p.leader == id {
        leader = first_in_replica_order(p, |r| live(r) && isr.contains(&r)).unwrap_or(-1);
        if leader == -1
            && unclean
            && let Some(r) = first_in_replica_order(p, live)
        {
            leader = r;
            isr = vec![r];
        }
    }
    (leader, isr)
}

/// Broker `id` is (being) unfenced: it becomes leader of every leaderless partition whose ISR
/// contains it (or, with unclean election enabled, of which it is a replica). `id` counts as
/// live whatever the state says; propose `UnfenceBroker`/`RegisterBroker` with these.
pub fn on_broker_unfenced(state: &ClusterState, id: i32) -> Vec<MetadataCommand> {
    each_partition(state, |part, unclean| {
        let p = part.p;
        if p.leader != -1 || !p.replicas.contains(&id) {
            return None;
        }
        if p.isr.contains(&id) {
            change(part, id, p.isr.clone())
        } else if unclean {
            change(part, id, vec![id])
        } else {
            None
        }
    })
}

/// Moves leadership back to each partition's preferred (first) replica when it is live, in
/// the ISR and not already the leader (Kafka's `auto.leader.rebalance.enable`).
pub fn preferred_leader_elections(state: &ClusterState) -> Vec<MetadataCommand> {
    each_partition(state, |part, _| {
        let p = part.p;
        let preferred = *p.replicas.first()?;
        if p.leader == preferred || !state.is_live(preferred) || !p.isr.contains(&preferred) {
            return None;
        }
        change(part, preferred, p.isr.clone())
    })
}

/// The election an ElectLeaders request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectionType {
    /// The first replica, when it is live and in the ISR.
    Preferred,
    /// For a partition without a leader: a live ISR member, else any live replica (records
    /// the ISR did not have may be lost).
    Unclean,
}

/// Why an ElectLeaders request changes nothing for a partition (Kafka's errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectionRefusal {
    UnknownPartition,
    /// ELECTION_NOT_NEEDED: the preferred replica leads, or (unclean) there is a leader.
    NotNeeded,
    /// PREFERRED_LEADER_NOT_AVAILABLE
    PreferredNotAvailable,
    /// ELIGIBLE_LEADERS_NOT_AVAILABLE
    EligibleNotAvailable,
}

/// One partition of an ElectLeaders request (Kafka's `ReplicationControlManager.electLeader`).
pub fn elect_leader(
    state: &ClusterState,
    topic: &str,
    partition: i32,
    election: ElectionType,
) -> Result<MetadataCommand, ElectionRefusal> {
    let p = state
        .topics
        .get(topic)
        .and_then(|t| t.partitions.get(usize::try_from(partition).ok()?))
        .ok_or(ElectionRefusal::UnknownPartition)?;
    let part = Part {
        topic,
        index: partition,
        p,
    };
    let preferred = p.replicas.first().copied();
    match election {
        ElectionType::Preferred => {
            let preferred = preferred.ok_or(ElectionRefusal::PreferredNotAvailable)?;
            if p.leader == preferred {
                return Err(ElectionRefusal::NotNeeded);
            }
            if !state.is_live(preferred) || !p.isr.contains(&preferred) {
                return Err(ElectionRefusal::PreferredNotAvailable);
            }
            change(part, preferred, p.isr.clone()).ok_or(ElectionRefusal::NotNeeded)
        }
        ElectionType::Unclean => {
            if p.leader >= 0 {
                return Err(ElectionRefusal::NotNeeded);
            }
            let live = |r: i32| state.is_live(r);
            if let Some(leader) = first_in_replica_order(p, |r| live(r) && p.isr.contains(&r)) {
                return change(part, leader, p.isr.clone()).ok_or(ElectionRefusal::NotNeeded);
            }
            let leader =
                first_in_replica_order(p, live).ok_or(ElectionRefusal::EligibleNotAvailable)?;
            change(part, leader, vec![leader]).ok_or(ElectionRefusal::NotNeeded)
        }
    }
}

/// A partition with its topic name and index.
#[derive(Clone, Copy)]
struct Part<'a> {
    topic: &'a str,
    index: i32,
    p: &'a PartitionInfo,
}

fn each_partition(
    state: &ClusterState,
    mut decide: impl FnMut(Part<'_>, bool) -> Option<MetadataCommand>,
) -> Vec<MetadataCommand> {
    let mut out = Vec::new();
    for t in state.topics.values() {
        let unclean = t
            .configs
            .get(UNCLEAN_LEADER_ELECTION)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        for (index, p) in t.partitions.iter().enumerate() {
            let part = Part {
                topic: &t.name,
                index: index as i32,
                p,
            };
            out.extend(decide(part, unclean));
        }
    }
    out
}

fn first_in_replica_order(p: &PartitionInfo, ok: impl Fn(i32) -> bool) -> Option<i32> {
    p.replicas.iter().copied().find(|r| ok(*r))
}

/// A `ChangePartition` for `p`, or `None` when nothing would change.
fn change(part: Part<'_>, leader: i32, isr: Vec<i32>) -> Option<MetadataCommand> {
    let p = part.p;
    if leader == p.leader && isr == p.isr {
        return None;
    }
    Some(MetadataCommand::ChangePartition {
        topic: part.topic.to_string(),
        partition: part.index,
        leader: (leader != p.leader).then_some(leader),
        isr: (isr != p.isr).then_some(isr),
        expected_partition_epoch: Some(p.partition_epoch),
    })
}

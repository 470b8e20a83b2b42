//! The quorum as its leader sees it: Kafka's DescribeQuorum, built from openraft's
//! metrics and from what the leader's replication RPCs learned about each follower.
//!
//! Offsets are Kafka's: a replica's log end offset is the index after its last entry
//! (openraft's first entry has index 0), the high watermark the index after the last
//! entry the leader has applied (applied entries are committed).
//!
//! Owns: `QuorumDescription`, `PeerContacts` (the time of each follower's last answered
//! AppendEntries and of the last one that reached the leader's log end). Must never:
//! change Raft state.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use openraft::{BasicNode, RaftMetrics, ServerState};
use serde::{Deserialize, Serialize};

/// One voter's replication progress; times are ms since the epoch, -1 when not known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaProgress {
    pub replica_id: i32,
    pub log_end_offset: i64,
    pub last_fetch_ms: i64,
    pub last_caught_up_ms: i64,
}

/// The quorum described by its leader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuorumDescription {
    pub leader_id: i32,
    /// The Raft term (Kafka's leader epoch of the metadata log).
    pub leader_epoch: i32,
    pub high_watermark: i64,
    /// Every voter, the leader included, by id.
    pub voters: Vec<ReplicaProgress>,
    /// Each voter's controller address, `host:port`.
    pub addresses: Vec<(i32, String)>,
}

/// What the leader's replication RPCs learned of each follower.
#[derive(Debug, Default)]
pub(crate) struct PeerContacts {
    peers: Mutex<BTreeMap<u64, Contact>>,
    /// The leader's last log index as last seen in its metrics (`u64::MAX`: none).
    leader_last_index: AtomicU64,
    /// The term the contacts belong to; a new term starts from nothing known.
    term: AtomicU64,
}

#[derive(Debug, Clone, Copy)]
struct Contact {
    last_fetch_ms: i64,
    last_caught_up_ms: i64,
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl PeerContacts {
    pub(crate) fn new() -> PeerContacts {
        PeerContacts {
            leader_last_index: AtomicU64::new(u64::MAX),
            ..Default::default()
        }
    }

    /// Follows this node's metrics: its log end, and a new term forgets every contact.
    pub(crate) fn observe(&self, term: u64, last_log_index: Option<u64>) {
        self.leader_last_index
            .store(last_log_index.unwrap_or(u64::MAX), Ordering::Relaxed);
        if self.term.swap(term, Ordering::Relaxed) != term {
            self.lock().clear();
        }
    }

    /// A follower answered an AppendEntries whose last entry (or, for one without entries,
    /// whose previous entry) has `last_index`.
    pub(crate) fn answered(&self, peer: u64, last_index: Option<u64>) {
        let now = now_ms();
        let leader_end = self.leader_last_index.load(Ordering::Relaxed);
        let caught_up = match (last_index, leader_end) {
            (_, u64::MAX) => true,
            (Some(i), end) => i >= end,
            (None, _) => false,
        };
        let mut peers = self.lock();
        let c = peers.entry(peer).or_insert(Contact {
            last_fetch_ms: -1,
            last_caught_up_ms: -1,
        });
        c.last_fetch_ms = now;
        if caught_up {
            c.last_caught_up_ms = now;
        }
    }

    fn get(&self, peer: u64) -> Option<Contact> {
        self.lock().get(&peer).copied()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Contact>> {
        self.peers.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The description, if `m` are the metrics of the leader.
pub(crate) fn describe(
    m: &RaftMetrics<u64, BasicNode>,
    contacts: &PeerContacts,
) -> Option<QuorumDescription> {
    if m.state != ServerState::Leader {
        return None;
    }
    let now = now_ms();
    let end = |index: Option<u64>| index.map_or(0, |i| i as i64 + 1);
    let membership = m.membership_config.membership();
    let voters = membership
        .voter_ids()
        .map(|id| {
            if id == m.id {
                return ReplicaProgress {
                    replica_id: id as i32,
                    log_end_offset: end(m.last_log_index),
                    last_fetch_ms: now,
                    last_caught_up_ms: now,
                };
            }
            let matched = m
                .replication
                .as_ref()
                .and_then(|r| r.get(&id).copied().flatten());
            let contact = contacts.get(id);
            ReplicaProgress {
                replica_id: id as i32,
                // Kafka reports -1 for a voter the leader has not heard from in its term.
                log_end_offset: matched.map_or(-1, |l| l.index as i64 + 1),
                last_fetch_ms: contact.map_or(-1, |c| c.last_fetch_ms),
                last_caught_up_ms: contact.map_or(-1, |c| c.last_caught_up_ms),
            }
        })
        .collect();
    let addresses = membership
        .nodes()
        .map(|(id, n)| (*id as i32, n.addr.clone()))
        .collect();
    Some(QuorumDescription {
        leader_id: m.id as i32,
        leader_epoch: m.current_term as i32,
        high_watermark: end(m.last_applied.map(|l| l.index)),
        voters,
        addresses,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_follower_is_caught_up_when_its_answer_reaches_the_leader_end() {
        let c = PeerContacts::new();
        c.observe(3, Some(10));
        c.answered(2, Some(7));
        let behind = c.get(2).unwrap();
        assert!(behind.last_fetch_ms > 0);
        assert_eq!(behind.last_caught_up_ms, -1);
        c.answered(2, Some(10));
        assert!(c.get(2).unwrap().last_caught_up_ms > 0);
        // A new term forgets what the old one learned.
        c.observe(4, Some(11));
        assert!(c.get(2).is_none());
    }
}

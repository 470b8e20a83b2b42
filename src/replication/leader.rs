//! What the leader of a partition knows about its followers: their log end offsets, when
//! each was last caught up, the in-sync replica set, and the high watermark that follows
//! from them. Pure and deterministic (time is an argument); ISR changes are returned as
//! proposals for the controller, never applied here.

use std::collections::BTreeMap;

/// One follower as seen by the leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowerState {
    /// The follower's log end offset (its last fetch offset).
    pub leo: i64,
    /// When the follower last fetched up to the leader's log end offset.
    pub last_caught_up_ms: i64,
    /// The follower's log start offset, as its last fetch reported it (-1: unknown).
    pub log_start: i64,
}

/// The leader's view of one partition's replicas.
#[derive(Debug, Clone)]
pub struct LeaderState {
    pub local_id: i32,
    pub leader_epoch: i32,
    /// The first offset written in this leader epoch (followers must reach it to join
    /// the ISR, as in Kafka).
    pub epoch_start_offset: i64,
    pub replicas: Vec<i32>,
    /// The ISR as committed by the controller.
    pub isr: Vec<i32>,
    /// An ISR change sent to the controller and not yet seen in its metadata.
    pub pending_isr: Option<Vec<i32>>,
    pub followers: BTreeMap<i32, FollowerState>,
}

impl LeaderState {
    /// A new leadership at `leo` (the log end when this broker became leader).
    pub fn new(
        local_id: i32,
        leader_epoch: i32,
        replicas: Vec<i32>,
        isr: Vec<i32>,
        leo: i64,
        now: i64,
    ) -> Self {
        let followers = replicas
            .iter()
            .filter(|r| **r != local_id)
            .map(|r| {
                (
                    *r,
                    FollowerState {
                        leo: -1,
                        // Followers in the ISR get a full lag window before a shrink.
                        last_caught_up_ms: if isr.contains(r) { now } else { -1 },
                        log_start: -1,
                    },
                )
            })
            .collect();
        LeaderState {
            local_id,
            leader_epoch,
            epoch_start_offset: leo,
            replicas,
            isr,
            pending_isr: None,
            followers,
        }
    }

    /// The ISR used for the high watermark and acks=all: Kafka's "maximal ISR", which
    /// counts a pending expansion but not yet a pending shrink.
    pub fn maximal_isr(&self) -> Vec<i32> {
        let mut isr = self.isr.clone();
        if let Some(p) = &self.pending_isr {
            for r in p {
                if !isr.contains(r) {
                    isr.push(*r);
                }
            }
        }
        isr
    }

    /// The high watermark: the smallest log end offset among in-sync replicas.
    pub fn high_watermark(&self, leader_leo: i64) -> i64 {
        self.maximal_isr()
            .iter()
            .map(|r| {
                if *r == self.local_id {
                    leader_leo
                } else {
                    self.followers.get(r).map_or(-1, |f| f.leo)
                }
            })
            .min()
            .unwrap_or(leader_leo)
            .max(0)
    }

    /// Records the log start offset a follower's fetch reported; whether it changed.
    pub fn note_log_start(&mut self, replica: i32, log_start: i64) -> bool {
        match self.followers.get_mut(&replica) {
            Some(f) if f.log_start != log_start => {
                f.log_start = log_start;
                true
            }
            _ => false,
        }
    }

    /// The low watermark (Kafka's `lowWatermarkIfLeader`): the smallest log start offset
    /// among this leader and the followers on live brokers; DeleteRecords is done once it
    /// reaches the requested offset. A follower that has not reported yet counts as -1.
    pub fn low_watermark(&self, leader_log_start: i64, alive: impl Fn(i32) -> bool) -> i64 {
        self.followers
            .iter()
            .filter(|(id, _)| alive(**id))
            .map(|(_, f)| f.log_start)
            .fold(leader_log_start, i64::min)
    }

    /// Records a follower fetch at `fetch_offset`. Returns a proposed ISR when the
    /// follower has caught up and is not in the ISR yet.
    pub fn on_follower_fetch(
        &mut self,
        replica: i32,
        fetch_offset: i64,
        leader_leo: i64,
        hw: i64,
        now: i64,
    ) -> Option<Vec<i32>> {
        let f = self.followers.get_mut(&replica)?;
        f.leo = fetch_offset;
        if fetch_offset >= leader_leo {
            f.last_caught_up_ms = now;
        }
        let in_isr = self.maximal_isr().contains(&replica);
        let caught_up = fetch_offset >= hw && fetch_offset >= self.epoch_start_offset;
        if !in_isr && caught_up && self.pending_isr.is_none() {
            let mut isr = self.isr.clone();
            isr.push(replica);
            isr.sort_by_key(|r| self.replicas.iter().position(|x| x == r));
            self.pending_isr = Some(isr.clone());
            return Some(isr);
        }
        None
    }

    /// Followers in the ISR that have not caught up for `lag_max_ms` leave it.
    pub fn shrink(&mut self, leader_leo: i64, lag_max_ms: i64, now: i64) -> Option<Vec<i32>> {
        if self.pending_isr.is_some() {
            return None;
        }
        let laggards: Vec<i32> = self
            .isr
            .iter()
            .filter(|r| **r != self.local_id)
            .filter(|r| {
                self.followers
                    .get(r)
                    .is_some_and(|f| f.leo < leader_leo && now - f.last_caught_up_ms > lag_max_ms)
            })
            .copied()
            .collect();
        if laggards.is_empty() {
            return None;
        }
        let isr: Vec<i32> = self
            .isr
            .iter()
            .filter(|r| !laggards.contains(r))
            .copied()
            .collect();
        self.pending_isr = Some(isr.clone());
        Some(isr)
    }

    /// The controller's metadata arrived: adopt its ISR and forget a matching proposal.
    pub fn on_metadata(&mut self, isr: Vec<i32>) {
        if self.pending_isr.as_ref().is_some_and(|p| *p == isr) || self.pending_isr.is_none() {
            self.pending_isr = None;
        }
        self.isr = isr;
    }

    /// A proposal was refused or timed out: allow a new one.
    pub fn clear_pending(&mut self) {
        self.pending_isr = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leader() -> LeaderState {
        LeaderState::new(1, 3, vec![1, 2, 3], vec![1, 2, 3], 100, 0)
    }

    #[test]
    fn high_watermark_is_the_slowest_in_sync_replica() {
        let mut l = leader();
        assert_eq!(l.high_watermark(120), 0, "followers have not fetched yet");
        l.on_follower_fetch(2, 110, 120, 0, 1);
        l.on_follower_fetch(3, 120, 120, 0, 1);
        assert_eq!(l.high_watermark(120), 110);
        l.on_follower_fetch(2, 120, 120, 110, 2);
        assert_eq!(l.high_watermark(120), 120);
    }

    #[test]
    fn a_lagging_follower_leaves_and_a_caught_up_one_returns() {
        let mut l = leader();
        l.on_follower_fetch(2, 100, 100, 100, 0);
        l.on_follower_fetch(3, 100, 100, 100, 0);
        // 3 stops fetching while the leader grows.
        l.on_follower_fetch(2, 150, 150, 100, 20_000);
        assert_eq!(l.shrink(150, 30_000, 25_000), None);
        let isr = l.shrink(150, 30_000, 30_001).expect("3 lags");
        assert_eq!(isr, vec![1, 2]);
        assert_eq!(
            l.maximal_isr(),
            vec![1, 2, 3],
            "a pending shrink still counts"
        );
        l.on_metadata(vec![1, 2]);
        assert_eq!(l.high_watermark(150), 150, "the ISR no longer waits for 3");
        // 3 comes back and catches up to the high watermark.
        assert_eq!(l.on_follower_fetch(3, 120, 150, 150, 31_000), None);
        assert_eq!(
            l.on_follower_fetch(3, 150, 150, 150, 31_500),
            Some(vec![1, 2, 3])
        );
        l.on_metadata(vec![1, 2, 3]);
        assert_eq!(l.pending_isr, None);
    }

    #[test]
    fn joining_requires_reaching_the_epoch_start() {
        let mut l = LeaderState::new(1, 4, vec![1, 2], vec![1], 500, 0);
        assert_eq!(l.on_follower_fetch(2, 400, 500, 0, 1), None);
        assert_eq!(l.on_follower_fetch(2, 500, 500, 500, 2), Some(vec![1, 2]));
    }

    #[test]
    fn the_low_watermark_is_the_smallest_live_log_start() {
        let mut l = leader();
        assert_eq!(l.low_watermark(5, |_| true), -1, "followers not heard from");
        assert!(l.note_log_start(2, 5));
        assert!(!l.note_log_start(2, 5), "unchanged");
        l.note_log_start(3, 2);
        assert_eq!(l.low_watermark(5, |_| true), 2);
        assert_eq!(
            l.low_watermark(5, |id| id != 3),
            5,
            "a dead broker does not count"
        );
        assert!(l.note_log_start(3, 7));
        assert_eq!(
            l.low_watermark(5, |_| true),
            5,
            "the leader's own log start too"
        );
    }
}

//! The classic group protocol's transitions: JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
//! and the timers (join phase, sync phase, session expiry), as in Apache Kafka's
//! `ClassicGroup` coordinator.
//!
//! Every method takes `now` (ms) and returns whether the group's metadata changed in a way
//! that must be persisted. Waiting JoinGroup/SyncGroup calls are answered through the
//! members' `oneshot` senders.

use bytes::Bytes;
use tokio::sync::oneshot;

use super::group::{Group, GroupError, GroupState, JoinResult, Member, SyncResult};

/// A JoinGroup call, in domain terms.
#[derive(Debug, Clone)]
pub struct JoinParams {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// JoinGroup v4+: a new dynamic member first gets MEMBER_ID_REQUIRED.
    pub require_known_member_id: bool,
    /// group.initial.rebalance.delay.ms
    pub initial_delay_ms: i64,
}

/// A SyncGroup call, in domain terms.
#[derive(Debug, Clone, Default)]
pub struct SyncParams {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    /// The leader's assignments: (member id, assignment).
    pub assignments: Vec<(String, Bytes)>,
}

/// Whether a call changed what must be written to `__consumer_offsets`.
#[must_use]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Persist(pub bool);

impl Group {
    /// Handles JoinGroup; the result arrives on the returned receiver, at once or when
    /// the rebalance completes.
    pub fn join(&mut self, p: JoinParams, now: i64) -> (oneshot::Receiver<JoinResult>, Persist) {
        let (tx, rx) = oneshot::channel();
        let persist = self.join_inner(p, tx, now);
        (rx, persist)
    }

    fn join_inner(&mut self, p: JoinParams, tx: oneshot::Sender<JoinResult>, now: i64) -> Persist {
        let reply = |tx: oneshot::Sender<JoinResult>, id: &str, e| {
            let _ = tx.send(JoinResult::error(id, e));
            Persist(false)
        };
        if self.state == GroupState::Dead {
            return reply(tx, &p.member_id, GroupError::CoordinatorNotAvailable);
        }
        if !self.supports(&p.protocol_type, &p.protocols) {
            return reply(tx, &p.member_id, GroupError::InconsistentGroupProtocol);
        }
        if p.member_id.is_empty() {
            return self.join_unknown(p, tx, now);
        }
        // A known member id.
        if let Some(instance) = &p.group_instance_id
            && self
                .static_members
                .get(instance)
                .is_some_and(|m| *m != p.member_id)
        {
            return reply(tx, &p.member_id, GroupError::FencedInstanceId);
        }
        if self.pending_members.remove(&p.member_id).is_some() {
            self.add_member(&p, p.member_id.clone(), tx, now);
            return self.prepare_or_complete(now, p.initial_delay_ms);
        }
        let Some(member) = self.members.get_mut(&p.member_id) else {
            return reply(tx, &p.member_id, GroupError::UnknownMemberId);
        };
        let same_protocols = member.protocols == p.protocols;
        member.protocols = p.protocols.clone();
        member.session_timeout_ms = p.session_timeout_ms;
        member.rebalance_timeout_ms = p.rebalance_timeout_ms;
        member.session_deadline = now + p.session_timeout_ms as i64;
        match self.state {
            GroupState::PreparingRebalance => {
                self.set_join_waiter(&p.member_id, tx);
                self.maybe_complete_join(now)
            }
            GroupState::CompletingRebalance if same_protocols => {
                // The member missed its JoinGroup response: send it again.
                let _ = tx.send(self.join_result_for(&p.member_id));
                Persist(false)
            }
            GroupState::Stable if same_protocols && !self.is_leader(&p.member_id) => {
                let _ = tx.send(self.join_result_for(&p.member_id));
                Persist(false)
            }
            _ => {
                self.set_join_waiter(&p.member_id, tx);
                self.prepare_rebalance(now, p.initial_delay_ms)
            }
        }
    }

    fn join_unknown(
        &mut self,
        p: JoinParams,
        tx: oneshot::Sender<JoinResult>,
        now: i64,
    ) -> Persist {
        let new_id = format!("{}-{}", p.client_id, uuid::Uuid::new_v4());
        if let Some(instance) = p.group_instance_id.clone() {
            if let Some(old_id) = self.static_members.get(&instance).cloned() {
                return self.replace_static_member(&old_id, new_id, p, tx, now);
            }
            self.add_member(&p, new_id, tx, now);
            return self.prepare_or_complete(now, p.initial_delay_ms);
        }
        if p.require_known_member_id {
            self.pending_members
                .insert(new_id.clone(), now + p.session_timeout_ms as i64);
            let _ = tx.send(JoinResult::error(&new_id, GroupError::MemberIdRequired));
            return Persist(false);
        }
        self.add_member(&p, new_id, tx, now);
        self.prepare_or_complete(now, p.initial_delay_ms)
    }

    /// A static member restarted with a new member id: the old id is fenced and the new
    /// one takes its place (and its assignment).
    fn replace_static_member(
        &mut self,
        old_id: &str,
        new_id: String,
        p: JoinParams,
        tx: oneshot::Sender<JoinResult>,
        now: i64,
    ) -> Persist {
        let Some(mut old) = self.members.shift_remove(old_id) else {
            self.add_member(&p, new_id, tx, now);
            return self.prepare_or_complete(now, p.initial_delay_ms);
        };
        if let Some(w) = old.join_waiter.take() {
            let _ = w.send(JoinResult::error(old_id, GroupError::FencedInstanceId));
        }
        if let Some(w) = old.sync_waiter.take() {
            let _ = w.send(SyncResult::error(GroupError::FencedInstanceId));
        }
        let was_leader = self.leader.as_deref() == Some(old_id);
        let assignment = old.assignment.clone();
        self.pending_sync.remove(old_id);
        self.add_member(&p, new_id.clone(), tx, now);
        if let Some(m) = self.members.get_mut(&new_id) {
            m.assignment = assignment;
        }
        if was_leader {
            self.leader = Some(new_id.clone());
        }
        // As in Kafka (KIP-345): in a stable group the returning static member takes over
        // without a rebalance, unless its protocols would change the group's protocol.
        if self.state == GroupState::Stable && self.select_protocol() == self.protocol_name {
            let result = self.join_result_for(&new_id);
            if let Some(w) = self
                .members
                .get_mut(&new_id)
                .and_then(|m| m.join_waiter.take())
            {
                let _ = w.send(result);
            }
            return Persist(true);
        }
        let _ = self.prepare_or_complete(now, p.initial_delay_ms);
        Persist(true)
    }

    fn add_member(
        &mut self,
        p: &JoinParams,
        id: String,
        tx: oneshot::Sender<JoinResult>,
        now: i64,
    ) {
        if let Some(instance) = &p.group_instance_id {
            self.static_members.insert(instance.clone(), id.clone());
        }
        if self.members.is_empty() {
            self.protocol_type = Some(p.protocol_type.clone());
        }
        self.members.insert(
            id.clone(),
            Member {
                id,
                instance_id: p.group_instance_id.clone(),
                client_id: p.client_id.clone(),
                client_host: p.client_host.clone(),
                session_timeout_ms: p.session_timeout_ms,
                rebalance_timeout_ms: p.rebalance_timeout_ms,
                protocol_type: p.protocol_type.clone(),
                protocols: p.protocols.clone(),
                assignment: Bytes::new(),
                join_waiter: Some(tx),
                sync_waiter: None,
                session_deadline: now + p.session_timeout_ms as i64,
            },
        );
    }

    fn set_join_waiter(&mut self, member_id: &str, tx: oneshot::Sender<JoinResult>) {
        if let Some(m) = self.members.get_mut(member_id)
            && let Some(old) = m.join_waiter.replace(tx)
        {
            let _ = old.send(JoinResult::error(
                member_id,
                GroupError::RebalanceInProgress,
            ));
        }
    }

    fn prepare_or_complete(&mut self, now: i64, initial_delay_ms: i64) -> Persist {
        match self.state {
            GroupState::PreparingRebalance => {
                if self.initial_join {
                    // Each new member during the initial delay extends it, up to the
                    // rebalance timeout (Kafka's InitialDelayedJoin).
                    let cap = self.initial_join_started + self.rebalance_timeout();
                    self.join_deadline = (now + initial_delay_ms).min(cap).max(self.join_deadline);
                }
                self.maybe_complete_join(now)
            }
            _ => self.prepare_rebalance(now, initial_delay_ms),
        }
    }

    fn is_leader(&self, member_id: &str) -> bool {
        self.leader.as_deref() == Some(member_id)
    }

    /// Starts a rebalance: every member must rejoin within the rebalance timeout.
    pub(super) fn prepare_rebalance(&mut self, now: i64, initial_delay_ms: i64) -> Persist {
        if self.state == GroupState::CompletingRebalance {
            for m in self.members.values_mut() {
                m.assignment = Bytes::new();
                if let Some(w) = m.sync_waiter.take() {
                    let _ = w.send(SyncResult::error(GroupError::RebalanceInProgress));
                }
            }
        }
        self.pending_sync.clear();
        let was_empty = self.state == GroupState::Empty;
        self.transition(GroupState::PreparingRebalance, now);
        if was_empty {
            self.initial_join = true;
            self.initial_join_started = now;
            self.join_deadline = now + initial_delay_ms.min(self.rebalance_timeout());
        } else {
            self.initial_join = false;
            self.join_deadline = now + self.rebalance_timeout();
        }
        self.maybe_complete_join(now)
    }

    /// Completes the join phase when everyone has rejoined (not during the initial
    /// delay) or the deadline has passed.
    pub(super) fn maybe_complete_join(&mut self, now: i64) -> Persist {
        if self.state != GroupState::PreparingRebalance {
            return Persist(false);
        }
        let all_joined = self.pending_members.is_empty()
            && self.members.values().all(|m| m.join_waiter.is_some());
        if (all_joined && !self.initial_join) || now >= self.join_deadline {
            return self.complete_join(now);
        }
        Persist(false)
    }

    fn complete_join(&mut self, now: i64) -> Persist {
        // Dynamic members that did not rejoin in time leave the group.
        let gone: Vec<String> = self
            .members
            .values()
            .filter(|m| m.join_waiter.is_none() && m.instance_id.is_none())
            .map(|m| m.id.clone())
            .collect();
        for id in gone {
            self.remove_member_quietly(&id);
        }
        self.initial_join = false;
        self.generation += 1;
        if self.members.is_empty() {
            self.protocol_name = None;
            self.leader = None;
            self.transition(GroupState::Empty, now);
            return Persist(true);
        }
        self.protocol_name = self.select_protocol();
        if !self
            .leader
            .as_ref()
            .is_some_and(|l| self.members.contains_key(l))
        {
            let first_joined = self
                .members
                .values()
                .find(|m| m.join_waiter.is_some())
                .or_else(|| self.members.values().next())
                .map(|m| m.id.clone());
            self.leader = first_joined;
        }
        self.transition(GroupState::CompletingRebalance, now);
        self.pending_sync = self.members.keys().cloned().collect();
        self.sync_deadline = now + self.rebalance_timeout();
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            let result = self.join_result_for(&id);
            if let Some(m) = self.members.get_mut(&id) {
                m.session_deadline = now + m.session_timeout_ms as i64;
                if let Some(w) = m.join_waiter.take() {
                    let _ = w.send(result);
                }
            }
        }
        Persist(false)
    }

    fn join_result_for(&self, member_id: &str) -> JoinResult {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        let leader = self.leader.clone().unwrap_or_default();
        let members = if leader == member_id {
            self.members
                .values()
                .map(|m| {
                    (
                        m.id.clone(),
                        m.instance_id.clone(),
                        m.metadata_for(&protocol),
                    )
                })
                .collect()
        } else {
            Vec::new()
        };
        JoinResult {
            error: None,
            generation_id: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader,
            member_id: member_id.to_string(),
            members,
        }
    }

    /// Handles SyncGroup; the leader's call carries everyone's assignment.
    pub fn sync(&mut self, p: SyncParams, now: i64) -> (oneshot::Receiver<SyncResult>, Persist) {
        let member_id = p.member_id.as_str();
        let (tx, rx) = oneshot::channel();
        let fail = |tx: oneshot::Sender<SyncResult>, e| {
            let _ = tx.send(SyncResult::error(e));
        };
        if let Err(e) =
            self.validate_member(member_id, p.group_instance_id.as_deref(), p.generation)
        {
            fail(tx, e);
            return (rx, Persist(false));
        }
        if p.protocol_type
            .as_ref()
            .is_some_and(|t| Some(t) != self.protocol_type.as_ref())
            || p.protocol_name
                .as_ref()
                .is_some_and(|n| Some(n) != self.protocol_name.as_ref())
        {
            fail(tx, GroupError::InconsistentGroupProtocol);
            return (rx, Persist(false));
        }
        let mut persist = Persist(false);
        match self.state {
            GroupState::Empty | GroupState::Dead => fail(tx, GroupError::UnknownMemberId),
            GroupState::PreparingRebalance => fail(tx, GroupError::RebalanceInProgress),
            GroupState::Stable => {
                let _ = tx.send(self.sync_result_for(member_id));
            }
            GroupState::CompletingRebalance => {
                self.pending_sync.remove(member_id);
                if let Some(m) = self.members.get_mut(member_id) {
                    m.sync_waiter = Some(tx);
                    m.session_deadline = now + m.session_timeout_ms as i64;
                }
                if self.is_leader(member_id) {
                    for m in self.members.values_mut() {
                        m.assignment = p
                            .assignments
                            .iter()
                            .find(|(id, _)| *id == m.id)
                            .map(|(_, a)| a.clone())
                            .unwrap_or_default();
                    }
                    self.transition(GroupState::Stable, now);
                    let ids: Vec<String> = self.members.keys().cloned().collect();
                    for id in ids {
                        let result = self.sync_result_for(&id);
                        if let Some(w) =
                            self.members.get_mut(&id).and_then(|m| m.sync_waiter.take())
                        {
                            let _ = w.send(result);
                        }
                    }
                    persist = Persist(true);
                }
            }
        }
        (rx, persist)
    }

    /// The leader's assignment for `generation` could not be written: members forget it
    /// and rejoin (Kafka's `resetAndPropagateAssignmentError` + `maybePrepareRebalance`;
    /// the SyncGroup calls themselves are answered with the write's error).
    pub(super) fn assignment_not_written(&mut self, generation: i32, now: i64) -> Persist {
        if self.state != GroupState::Stable || self.generation != generation {
            return Persist(false);
        }
        for m in self.members.values_mut() {
            m.assignment = Bytes::new();
        }
        self.prepare_rebalance(now, 0)
    }

    fn sync_result_for(&self, member_id: &str) -> SyncResult {
        SyncResult {
            error: None,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            assignment: self
                .members
                .get(member_id)
                .map(|m| m.assignment.clone())
                .unwrap_or_default(),
        }
    }

    /// Checks that a member exists with this (static) identity and generation.
    pub(super) fn validate_member(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Result<(), GroupError> {
        if self.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        if let Some(i) = instance_id
            && self.static_members.get(i).is_some_and(|m| m != member_id)
        {
            return Err(GroupError::FencedInstanceId);
        }
        if !self.members.contains_key(member_id) {
            return Err(GroupError::UnknownMemberId);
        }
        if generation != self.generation {
            return Err(GroupError::IllegalGeneration);
        }
        Ok(())
    }

    /// Handles Heartbeat.
    pub fn heartbeat(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        now: i64,
    ) -> Result<(), GroupError> {
        if self.state == GroupState::Empty {
            return Err(GroupError::UnknownMemberId);
        }
        self.validate_member(member_id, instance_id, generation)?;
        if let Some(m) = self.members.get_mut(member_id) {
            m.session_deadline = now + m.session_timeout_ms as i64;
        }
        match self.state {
            GroupState::PreparingRebalance => Err(GroupError::RebalanceInProgress),
            _ => Ok(()),
        }
    }

    /// Handles one member of LeaveGroup (by member id, or by instance id when the member
    /// id is empty).
    pub fn leave(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        now: i64,
    ) -> Result<Persist, GroupError> {
        if self.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        let id = match instance_id {
            Some(i) => {
                let Some(known) = self.static_members.get(i).cloned() else {
                    return Err(GroupError::UnknownMemberId);
                };
                if !member_id.is_empty() && member_id != known {
                    return Err(GroupError::FencedInstanceId);
                }
                known
            }
            None => member_id.to_string(),
        };
        if self.pending_members.remove(&id).is_some() {
            return Ok(self.maybe_complete_join(now));
        }
        if !self.members.contains_key(&id) {
            return Err(GroupError::UnknownMemberId);
        }
        Ok(self.remove_member(&id, now))
    }

    /// Removes a member and moves the group on (rebalance, or complete the join phase).
    pub(super) fn remove_member(&mut self, id: &str, now: i64) -> Persist {
        self.remove_member_quietly(id);
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => self.prepare_rebalance(now, 0),
            GroupState::PreparingRebalance => self.maybe_complete_join(now),
            GroupState::Empty | GroupState::Dead => Persist(false),
        }
    }

    fn remove_member_quietly(&mut self, id: &str) {
        if let Some(mut m) = self.members.shift_remove(id) {
            if let Some(w) = m.join_waiter.take() {
                let _ = w.send(JoinResult::error(id, GroupError::UnknownMemberId));
            }
            if let Some(w) = m.sync_waiter.take() {
                let _ = w.send(SyncResult::error(GroupError::UnknownMemberId));
            }
            if let Some(i) = &m.instance_id {
                self.static_members.remove(i);
            }
        }
        self.pending_sync.remove(id);
        if self.leader.as_deref() == Some(id) {
            self.leader = None;
        }
    }

    /// Runs the group's timers: join deadline, sync deadline, pending-member and session
    /// expiry.
    pub fn tick(&mut self, now: i64) -> Persist {
        let mut persist = self.maybe_complete_join(now);
        self.pending_members.retain(|_, deadline| *deadline > now);
        if self.state == GroupState::CompletingRebalance && now >= self.sync_deadline {
            let late: Vec<String> = self.pending_sync.iter().cloned().collect();
            for id in late {
                log::info!("group {}: member {id} did not sync in time", self.id);
                persist.0 |= self.remove_member(&id, now).0;
            }
        }
        let awaiting_join = self.state == GroupState::PreparingRebalance;
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| m.session_deadline <= now && !(awaiting_join && m.join_waiter.is_some()))
            .map(|m| m.id.clone())
            .collect();
        for id in expired {
            log::info!("group {}: session of member {id} expired", self.id);
            persist.0 |= self.remove_member(&id, now).0;
        }
        persist.0 |= self.maybe_complete_join(now).0;
        persist
    }

    /// The earliest time at which `tick` has work to do.
    pub fn next_deadline(&self) -> Option<i64> {
        let mut d: Vec<i64> = self.members.values().map(|m| m.session_deadline).collect();
        d.extend(self.pending_members.values().copied());
        if self.state == GroupState::PreparingRebalance {
            d.push(self.join_deadline);
        }
        if self.state == GroupState::CompletingRebalance {
            d.push(self.sync_deadline);
        }
        d.into_iter().min()
    }
}

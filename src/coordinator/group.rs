//! One consumer group of the classic protocol: its state, members and committed offsets.
//!
//! Pure data plus small helpers; the transitions live in `membership.rs`. Time is passed
//! in as milliseconds; nothing here reads a clock or does I/O. Responses that must wait
//! (JoinGroup, SyncGroup) are held as `oneshot` senders inside the members.

use std::collections::{HashMap, HashSet, VecDeque};

use bytes::Bytes;
use indexmap::IndexMap;
use tokio::sync::oneshot;

use super::records::{GroupValue, MemberValue, OffsetValue};

/// Kafka's classic group states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    /// The name Kafka reports in DescribeGroups and ListGroups.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// Group-level failures; `handlers::errors` maps them to Kafka codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    #[error("The coordinator is not aware of this member.")]
    UnknownMemberId,
    #[error("The generation id provided in the request is not the current generation.")]
    IllegalGeneration,
    #[error("The group is rebalancing, so a rejoin is needed.")]
    RebalanceInProgress,
    #[error(
        "The group member's supported protocols are incompatible with those of existing members or first group member tried to join with empty protocol type or empty protocol list."
    )]
    InconsistentGroupProtocol,
    #[error(
        "The group member needs to have a valid member id before actually entering a consumer group."
    )]
    MemberIdRequired,
    #[error(
        "The broker rejected this static consumer since another consumer with the same group.instance.id has registered with a different member.id."
    )]
    FencedInstanceId,
    #[error(
        "The session timeout is not within the range allowed by the broker (as configured by group.min.session.timeout.ms and group.max.session.timeout.ms)."
    )]
    InvalidSessionTimeout,
    #[error("The configured groupId is invalid.")]
    InvalidGroupId,
    #[error("The coordinator is not available.")]
    CoordinatorNotAvailable,
    #[error("This is not the correct coordinator.")]
    NotCoordinator,
    #[error("The coordinator is loading and hence can't process requests.")]
    CoordinatorLoadInProgress,
    #[error("The group id does not exist.")]
    GroupIdNotFound,
    #[error("The group is not empty.")]
    NonEmptyGroup,
    #[error("The consumer group is actively subscribed to the topic.")]
    GroupSubscribedToTopic,
    #[error("The metadata field of the offset request was too large.")]
    OffsetMetadataTooLarge,
    #[error("This server does not host this topic-partition.")]
    UnknownTopicOrPartition,
    #[error("The server experienced an unexpected error when processing the request.")]
    Storage(String),
}

/// What a joining member gets back.
#[derive(Debug, Clone, Default)]
pub struct JoinResult {
    pub error: Option<GroupError>,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// Only the leader gets the members, with their metadata for the chosen protocol.
    pub members: Vec<(String, Option<String>, Bytes)>,
}

impl JoinResult {
    pub fn error(member_id: &str, e: GroupError) -> Self {
        JoinResult {
            error: Some(e),
            generation_id: -1,
            member_id: member_id.to_string(),
            ..Default::default()
        }
    }
}

/// What a syncing member gets back.
#[derive(Debug, Clone, Default)]
pub struct SyncResult {
    pub error: Option<GroupError>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncResult {
    pub fn error(e: GroupError) -> Self {
        SyncResult {
            error: Some(e),
            ..Default::default()
        }
    }
}

/// A member of a group.
#[derive(Debug)]
pub struct Member {
    pub id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    /// (protocol name, metadata), in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    pub join_waiter: Option<oneshot::Sender<JoinResult>>,
    pub sync_waiter: Option<oneshot::Sender<SyncResult>>,
    /// When the session expires without a heartbeat.
    pub session_deadline: i64,
}

impl Member {
    pub(super) fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(n, _)| n == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    pub(super) fn supports(&self, protocol: &str) -> bool {
        self.protocols.iter().any(|(n, _)| n == protocol)
    }
}

/// A consumer group.
#[derive(Debug)]
pub struct Group {
    pub id: String,
    pub state: GroupState,
    /// When the group entered its current state (ms).
    pub state_timestamp: i64,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub generation: i32,
    pub leader: Option<String>,
    pub members: IndexMap<String, Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, with the deadline to join by.
    pub pending_members: HashMap<String, i64>,
    /// group.instance.id → member id.
    pub static_members: HashMap<String, String>,
    /// Deadline of the join phase (PreparingRebalance).
    pub join_deadline: i64,
    /// True while the first rebalance of an empty group waits for more members.
    pub initial_join: bool,
    pub initial_join_started: i64,
    /// Members that have not sent SyncGroup in CompletingRebalance, with the deadline.
    pub pending_sync: HashSet<String>,
    pub sync_deadline: i64,
    /// Committed offsets per (topic, partition): what OffsetFetch answers.
    pub offsets: HashMap<(String, i32), OffsetValue>,
    /// Offsets written but not yet known to be replicated, in write order, each with the
    /// last log offset of its write; they count once the high watermark passes it
    /// ([`settle`](Self::settle)), as Kafka's coordinator reads at its last committed offset.
    pub pending_offsets: VecDeque<(i64, super::PartitionOffset)>,
    /// Where the group's latest record went (or why it could not be written): answers
    /// that reveal the group's state wait until it is committed.
    pub last_write: Option<Result<super::WriteMark, GroupError>>,
}

impl Group {
    /// A new group with no members.
    pub fn new(id: &str, now: i64) -> Self {
        Group {
            id: id.to_string(),
            state: GroupState::Empty,
            state_timestamp: now,
            protocol_type: None,
            protocol_name: None,
            generation: 0,
            leader: None,
            members: IndexMap::new(),
            pending_members: HashMap::new(),
            static_members: HashMap::new(),
            join_deadline: 0,
            initial_join: false,
            initial_join_started: 0,
            pending_sync: HashSet::new(),
            sync_deadline: 0,
            offsets: HashMap::new(),
            pending_offsets: VecDeque::new(),
            last_write: None,
        }
    }

    /// Makes every pending write below `high_watermark` (the first offset of
    /// `__consumer_offsets` not yet replicated) count.
    pub fn settle(&mut self, high_watermark: i64) {
        while let Some((last, _)) = self.pending_offsets.front() {
            if *last >= high_watermark {
                break;
            }
            let (_, (tp, value)) = self.pending_offsets.pop_front().expect("front exists");
            self.offsets.insert(tp, value);
        }
    }

    /// Whether the group has an offset for the partition, committed or pending.
    pub fn has_offset(&self, tp: &(String, i32)) -> bool {
        self.offsets.contains_key(tp) || self.pending_offsets.iter().any(|(_, (k, _))| k == tp)
    }

    /// Every partition the group has an offset for, committed or pending.
    pub fn offset_partitions(&self) -> HashSet<(String, i32)> {
        let pending = self.pending_offsets.iter().map(|(_, (k, _))| k);
        self.offsets.keys().chain(pending).cloned().collect()
    }

    /// Drops the partition's offset, committed and pending (its tombstone was written).
    pub fn forget_offset(&mut self, tp: &(String, i32)) {
        self.offsets.remove(tp);
        self.pending_offsets.retain(|(_, (k, _))| k != tp);
    }

    pub(super) fn transition(&mut self, state: GroupState, now: i64) {
        self.state = state;
        self.state_timestamp = now;
    }

    /// The largest rebalance timeout among members (the join phase's length).
    pub(super) fn rebalance_timeout(&self) -> i64 {
        self.members
            .values()
            .map(|m| m.rebalance_timeout_ms as i64)
            .max()
            .unwrap_or(0)
    }

    /// Protocols every member supports.
    pub(super) fn candidate_protocols(&self) -> Vec<String> {
        let Some(first) = self.members.values().next() else {
            return Vec::new();
        };
        first
            .protocols
            .iter()
            .map(|(n, _)| n.clone())
            .filter(|p| self.members.values().all(|m| m.supports(p)))
            .collect()
    }

    /// Whether a joining member's protocols fit this group.
    pub(super) fn supports(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if self.members.is_empty() {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        if self.protocol_type.as_deref() != Some(protocol_type) {
            return false;
        }
        let candidates = self.candidate_protocols();
        protocols.iter().any(|(n, _)| candidates.contains(n))
    }

    /// Each member votes for its most preferred candidate; most votes wins, ties go to
    /// the earlier candidate.
    pub(super) fn select_protocol(&self) -> Option<String> {
        let candidates = self.candidate_protocols();
        let mut votes: Vec<(String, usize)> = candidates.iter().map(|c| (c.clone(), 0)).collect();
        for m in self.members.values() {
            if let Some((name, _)) = m.protocols.iter().find(|(n, _)| candidates.contains(n))
                && let Some(v) = votes.iter_mut().find(|(c, _)| c == name)
            {
                v.1 += 1;
            }
        }
        let mut best: Option<(String, usize)> = None;
        for (c, n) in votes {
            if best.as_ref().is_none_or(|(_, b)| n > *b) {
                best = Some((c, n));
            }
        }
        best.map(|(c, _)| c)
    }

    /// Topics the members are subscribed to, if the group uses the consumer protocol and
    /// the subscriptions can be read (used by OffsetDelete).
    pub fn subscribed_topics(&self) -> Option<HashSet<String>> {
        if self.protocol_type.as_deref() != Some("consumer") {
            return None;
        }
        let protocol = self.protocol_name.as_deref()?;
        let mut topics = HashSet::new();
        for m in self.members.values() {
            topics.extend(super::subscription::topics(&m.metadata_for(protocol))?);
        }
        Some(topics)
    }

    /// The group metadata record value for the current state.
    pub(super) fn to_record(&self) -> GroupValue {
        let protocol = self.protocol_name.clone();
        GroupValue {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation,
            protocol: protocol.clone(),
            leader: self.leader.clone(),
            current_state_timestamp: self.state_timestamp,
            members: self
                .members
                .values()
                .map(|m| MemberValue {
                    member_id: m.id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: m.session_timeout_ms,
                    subscription: protocol
                        .as_deref()
                        .map(|p| m.metadata_for(p))
                        .unwrap_or_default(),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        }
    }

    /// Restores a group from its metadata record (replay at startup). Members come back
    /// with a fresh session so that live consumers keep their generation.
    pub(super) fn restore(&mut self, v: GroupValue, now: i64) {
        self.protocol_type = (!v.protocol_type.is_empty()).then_some(v.protocol_type);
        self.generation = v.generation;
        self.protocol_name = v.protocol.clone();
        self.leader = v.leader;
        self.state_timestamp = if v.current_state_timestamp >= 0 {
            v.current_state_timestamp
        } else {
            now
        };
        self.members.clear();
        self.static_members.clear();
        for m in v.members {
            if let Some(i) = &m.group_instance_id {
                self.static_members.insert(i.clone(), m.member_id.clone());
            }
            let protocols = match &v.protocol {
                Some(p) => vec![(p.clone(), m.subscription.clone())],
                None => Vec::new(),
            };
            self.members.insert(
                m.member_id.clone(),
                Member {
                    id: m.member_id,
                    instance_id: m.group_instance_id,
                    client_id: m.client_id,
                    client_host: m.client_host,
                    session_timeout_ms: m.session_timeout_ms,
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    protocol_type: self.protocol_type.clone().unwrap_or_default(),
                    protocols,
                    assignment: m.assignment,
                    join_waiter: None,
                    sync_waiter: None,
                    session_deadline: now + m.session_timeout_ms as i64,
                },
            );
        }
        self.state = if self.members.is_empty() {
            GroupState::Empty
        } else {
            GroupState::Stable
        };
    }
}

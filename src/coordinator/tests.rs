//! Deterministic tests of the group state machine and the coordinator: time is a number,
//! persistence an in-memory list, and no socket or sleep is involved.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::oneshot;

use super::records::{self, OffsetValue, RecordKey};
use super::*;

/// Records appended by the coordinator, kept in memory, the high watermark the test sets
/// (`None`: every record is replicated), and the error the test makes appends fail with.
#[derive(Clone, Default)]
struct MemLog(
    Arc<Mutex<Vec<Written>>>,
    Arc<Mutex<Option<i64>>>,
    Arc<Mutex<Option<GroupError>>>,
);

/// (partition, key, value)
type Written = (i32, Bytes, Option<Bytes>);

impl OffsetsLog for MemLog {
    fn append(
        &self,
        partition: i32,
        recs: &[(Bytes, Option<Bytes>)],
        _now: i64,
    ) -> Result<WriteMark, GroupError> {
        if let Some(e) = self.2.lock().unwrap().clone() {
            return Err(e);
        }
        let mut v = self.0.lock().unwrap();
        for (k, val) in recs {
            v.push((partition, k.clone(), val.clone()));
        }
        Ok(WriteMark {
            partition,
            last_offset: v.len() as i64 - 1,
            leader_epoch: 0,
            min_isr: 1,
        })
    }

    fn high_watermark(&self, _partition: i32) -> i64 {
        self.1.lock().unwrap().unwrap_or(i64::MAX)
    }
}

fn coordinator(delay: i64) -> (GroupCoordinator, MemLog) {
    let log = MemLog::default();
    let config = GroupConfig {
        initial_rebalance_delay_ms: delay,
        ..GroupConfig::default()
    };
    (GroupCoordinator::new(config, Box::new(log.clone())), log)
}

fn params(member_id: &str, instance: Option<&str>, protocols: &[&str]) -> JoinParams {
    JoinParams {
        member_id: member_id.to_string(),
        group_instance_id: instance.map(str::to_string),
        client_id: "client".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 30_000,
        protocol_type: "consumer".into(),
        protocols: protocols
            .iter()
            .map(|p| (p.to_string(), Bytes::from(format!("meta-{p}"))))
            .collect(),
        require_known_member_id: true,
        initial_delay_ms: 0,
    }
}

fn ready<T>(rx: &mut oneshot::Receiver<T>) -> Option<T> {
    rx.try_recv().ok()
}

/// Joins a new dynamic member through MEMBER_ID_REQUIRED; returns its member id and
/// the pending join receiver.
fn join_new(
    c: &GroupCoordinator,
    group: &str,
    now: i64,
) -> (String, oneshot::Receiver<JoinResult>) {
    let mut rx = c.join(group, params("", None, &["range"]), now);
    let first = ready(&mut rx).expect("answered at once");
    assert_eq!(first.error, Some(GroupError::MemberIdRequired));
    let id = first.member_id;
    let rx = c.join(group, params(&id, None, &["range"]), now);
    (id, rx)
}

fn sync(
    c: &GroupCoordinator,
    group: &str,
    member: &str,
    generation: i32,
    assignments: Vec<(String, Bytes)>,
    now: i64,
) -> oneshot::Receiver<SyncResult> {
    c.sync(
        group,
        SyncParams {
            member_id: member.to_string(),
            generation,
            assignments,
            ..Default::default()
        },
        now,
    )
}

#[test]
fn single_member_becomes_leader_and_gets_its_assignment() {
    let (c, log) = coordinator(0);
    let (id, mut rx) = join_new(&c, "g", 0);
    let joined = ready(&mut rx).expect("no delay: completes at once");
    assert_eq!(joined.error, None);
    assert_eq!(joined.generation_id, 1);
    assert_eq!(joined.leader, id);
    assert_eq!(joined.protocol_name.as_deref(), Some("range"));
    assert_eq!(joined.members.len(), 1);
    let mut s = sync(
        &c,
        "g",
        &id,
        1,
        vec![(id.clone(), Bytes::from_static(b"a0"))],
        1,
    );
    let synced = ready(&mut s).unwrap();
    assert_eq!(synced.error, None);
    assert_eq!(&synced.assignment[..], b"a0");
    assert_eq!(c.describe("g").unwrap().state, GroupState::Stable);
    // The stable group was persisted.
    let recs = log.0.lock().unwrap();
    let (p, key, value) = recs.last().unwrap();
    assert_eq!(*p, records::partition_for("g", 50));
    assert_eq!(
        records::decode_key(key.clone()).unwrap(),
        Some(RecordKey::Group { group: "g".into() })
    );
    let v = records::decode_group(value.clone().unwrap()).unwrap();
    assert_eq!(v.generation, 1);
    assert_eq!(v.members.len(), 1);
}

#[test]
fn second_member_triggers_rebalance_and_both_share_the_generation() {
    let (c, _) = coordinator(0);
    let (a, mut ra) = join_new(&c, "g", 0);
    ready(&mut ra).unwrap();
    let mut sa = sync(&c, "g", &a, 1, vec![(a.clone(), Bytes::new())], 0);
    ready(&mut sa).unwrap();

    let (b, mut rb) = join_new(&c, "g", 10);
    assert!(
        ready(&mut rb).is_none(),
        "waits for the existing member to rejoin"
    );
    // The old member learns of the rebalance through its heartbeat.
    assert_eq!(
        c.heartbeat("g", &a, None, 1, 20),
        Err(GroupError::RebalanceInProgress)
    );
    let mut ra = c.join("g", params(&a, None, &["range"]), 30);
    let ja = ready(&mut ra).unwrap();
    let jb = ready(&mut rb).unwrap();
    assert_eq!(ja.generation_id, 2);
    assert_eq!(jb.generation_id, 2);
    assert_eq!(ja.leader, a);
    assert_eq!(ja.members.len(), 2);
    assert!(
        jb.members.is_empty(),
        "only the leader gets the member list"
    );

    let mut sb = sync(&c, "g", &b, 2, vec![], 40);
    assert!(
        ready(&mut sb).is_none(),
        "followers wait for the leader's assignment"
    );
    let mut sa = sync(
        &c,
        "g",
        &a,
        2,
        vec![
            (a.clone(), Bytes::from_static(b"A")),
            (b.clone(), Bytes::from_static(b"B")),
        ],
        50,
    );
    assert_eq!(&ready(&mut sa).unwrap().assignment[..], b"A");
    assert_eq!(&ready(&mut sb).unwrap().assignment[..], b"B");
    assert_eq!(c.heartbeat("g", &b, None, 2, 60), Ok(()));
    assert_eq!(
        c.heartbeat("g", &b, None, 1, 60),
        Err(GroupError::IllegalGeneration)
    );
    assert_eq!(
        c.heartbeat("g", "nobody", None, 2, 60),
        Err(GroupError::UnknownMemberId)
    );
}

#[test]
fn expired_session_removes_the_member_and_rebalances() {
    let (c, _) = coordinator(0);
    let (a, mut ra) = join_new(&c, "g", 0);
    ready(&mut ra).unwrap();
    ready(&mut sync(&c, "g", &a, 1, vec![], 0)).unwrap();
    let (b, mut rb) = join_new(&c, "g", 0);
    let mut ra = c.join("g", params(&a, None, &["range"]), 0);
    ready(&mut ra).unwrap();
    ready(&mut rb).unwrap();
    ready(&mut sync(&c, "g", &a, 2, vec![], 0));
    // b never heartbeats; a does.
    for t in (1000..=9000).step_by(2000) {
        assert_eq!(c.heartbeat("g", &a, None, 2, t), Ok(()));
        c.tick(t);
    }
    c.tick(10_001);
    let d = c.describe("g").unwrap();
    assert_eq!(d.members.len(), 1, "b's session expired");
    assert_eq!(d.state, GroupState::PreparingRebalance);
    assert_eq!(
        c.heartbeat("g", &b, None, 2, 10_002),
        Err(GroupError::UnknownMemberId)
    );
}

#[test]
fn members_that_do_not_rejoin_within_the_rebalance_timeout_are_dropped() {
    let (c, _) = coordinator(0);
    let (a, mut ra) = join_new(&c, "g", 0);
    ready(&mut ra).unwrap();
    ready(&mut sync(&c, "g", &a, 1, vec![], 0)).unwrap();
    let (_b, mut rb) = join_new(&c, "g", 100);
    // a keeps heartbeating but never rejoins.
    let mut t = 100;
    while t < 30_100 {
        let _ = c.heartbeat("g", &a, None, 1, t);
        c.tick(t);
        t += 1000;
    }
    assert!(ready(&mut rb).is_none());
    c.tick(30_100);
    let jb = ready(&mut rb).expect("join completes at the rebalance timeout");
    assert_eq!(jb.generation_id, 2);
    assert_eq!(c.describe("g").unwrap().members.len(), 1);
}

#[test]
fn initial_delay_waits_for_more_members() {
    let (c, _) = coordinator(3000);
    let mut p = params("", None, &["range"]);
    p.require_known_member_id = false;
    p.initial_delay_ms = 3000;
    let mut r1 = c.join("g", p.clone(), 0);
    let mut r2 = c.join("g", p, 1000);
    c.tick(2000);
    assert!(ready(&mut r1).is_none());
    c.tick(3999);
    assert!(
        ready(&mut r1).is_none(),
        "the second member extended the delay"
    );
    c.tick(4000);
    assert_eq!(ready(&mut r1).unwrap().generation_id, 1);
    assert_eq!(ready(&mut r2).unwrap().generation_id, 1);
}

#[test]
fn leave_rebalances_and_last_leave_empties_the_group() {
    let (c, _) = coordinator(0);
    let (a, mut ra) = join_new(&c, "g", 0);
    ready(&mut ra).unwrap();
    ready(&mut sync(&c, "g", &a, 1, vec![], 0)).unwrap();
    let r = c
        .leave("g", &[(a.clone(), None), ("ghost".into(), None)], 5)
        .unwrap();
    assert_eq!(r[0], Ok(()));
    assert_eq!(r[1], Err(GroupError::UnknownMemberId));
    assert_eq!(c.describe("g").unwrap().state, GroupState::Empty);
    assert_eq!(
        c.leave("nope", &[(a, None)], 5),
        Err(GroupError::UnknownMemberId)
    );
}

#[test]
fn static_member_rejoining_with_a_new_id_fences_the_old_one_without_rebalance() {
    let (c, _) = coordinator(0);
    let mut ra = c.join("g", params("", Some("i1"), &["range"]), 0);
    let ja = ready(&mut ra).unwrap();
    assert_eq!(ja.error, None, "static members skip MEMBER_ID_REQUIRED");
    let a = ja.member_id.clone();
    let mut p2 = params("", Some("i2"), &["range"]);
    p2.require_known_member_id = true;
    let mut rb = c.join("g", p2, 1);
    let mut ra = c.join("g", params(&a, Some("i1"), &["range"]), 2);
    let ja = ready(&mut ra).unwrap();
    let jb = ready(&mut rb).unwrap();
    let b = jb.member_id.clone();
    let leader = ja.leader.clone();
    let follower = if leader == a { b.clone() } else { a.clone() };
    let follower_instance = if follower == a { "i1" } else { "i2" };
    ready(&mut sync(
        &c,
        "g",
        &leader,
        2,
        vec![(follower.clone(), Bytes::from_static(b"F"))],
        3,
    ));
    ready(&mut sync(&c, "g", &follower, 2, vec![], 3));
    // The follower restarts and joins with no member id but the same instance id.
    let mut rf = c.join("g", params("", Some(follower_instance), &["range"]), 10);
    let jf = ready(&mut rf).expect("answered without a rebalance");
    assert_eq!(jf.error, None);
    assert_eq!(jf.generation_id, 2);
    assert_ne!(jf.member_id, follower);
    assert_eq!(c.describe("g").unwrap().state, GroupState::Stable);
    assert_eq!(
        c.heartbeat("g", &follower, Some(follower_instance), 2, 11),
        Err(GroupError::FencedInstanceId)
    );
    let mut s = sync(&c, "g", &jf.member_id, 2, vec![], 12);
    assert_eq!(
        &ready(&mut s).unwrap().assignment[..],
        b"F",
        "keeps its assignment"
    );
}

#[test]
fn inconsistent_protocols_are_refused() {
    let (c, _) = coordinator(0);
    let mut p = params("", None, &["range"]);
    p.require_known_member_id = false;
    let mut r = c.join("g", p, 0);
    ready(&mut r).unwrap();
    let mut q = params("", None, &["roundrobin"]);
    q.require_known_member_id = false;
    let mut r = c.join("g", q, 1);
    assert_eq!(
        ready(&mut r).unwrap().error,
        Some(GroupError::InconsistentGroupProtocol)
    );
    let mut e = params("", None, &[]);
    e.require_known_member_id = false;
    let mut r = c.join("h", e, 1);
    assert_eq!(
        ready(&mut r).unwrap().error,
        Some(GroupError::InconsistentGroupProtocol)
    );
}

#[test]
fn session_timeout_bounds_are_enforced() {
    let (c, _) = coordinator(0);
    let mut p = params("", None, &["range"]);
    p.session_timeout_ms = 10;
    let mut r = c.join("g", p, 0);
    assert_eq!(
        ready(&mut r).unwrap().error,
        Some(GroupError::InvalidSessionTimeout)
    );
}

fn offset(o: i64) -> OffsetValue {
    OffsetValue {
        offset: o,
        leader_epoch: -1,
        metadata: String::new(),
        commit_timestamp: 0,
    }
}

#[test]
fn offsets_commit_validate_and_survive_replay() {
    let (c, log) = coordinator(0);
    // A standalone consumer commits without joining.
    let r = c
        .commit("solo", "", None, -1, vec![(("t".into(), 0), offset(42))], 0)
        .unwrap();
    assert_eq!(r.0, vec![Ok(())]);
    assert_eq!(
        r.1.map(|m| m.last_offset),
        Some(0),
        "the commit's write is marked"
    );
    let (a, mut ra) = join_new(&c, "g", 0);
    ready(&mut ra).unwrap();
    ready(&mut sync(&c, "g", &a, 1, vec![], 0)).unwrap();
    assert_eq!(
        c.commit("g", &a, None, 7, vec![(("t".into(), 0), offset(1))], 1),
        Err(GroupError::IllegalGeneration)
    );
    assert_eq!(
        c.commit("g", "x", None, 1, vec![(("t".into(), 0), offset(1))], 1),
        Err(GroupError::UnknownMemberId)
    );
    assert_eq!(
        c.commit("g", "", None, -1, vec![(("t".into(), 0), offset(1))], 1),
        Err(GroupError::UnknownMemberId),
        "standalone commits are refused while the group has members"
    );
    let mut big = offset(5);
    big.metadata = "x".repeat(5000);
    let r = c
        .commit(
            "g",
            &a,
            None,
            1,
            vec![(("t".into(), 0), offset(10)), (("t".into(), 1), big)],
            2,
        )
        .unwrap();
    assert_eq!(r.0, vec![Ok(()), Err(GroupError::OffsetMetadataTooLarge)]);

    // Rebuild a fresh coordinator from what was written.
    let (c2, _) = coordinator(0);
    for (_, k, v) in log.0.lock().unwrap().iter() {
        c2.replay(k.clone(), v.clone(), 100).unwrap();
    }
    let solo = c2.fetch_offsets("solo", None).unwrap();
    assert_eq!(solo, vec![("t".to_string(), 0, Some(offset(42)))]);
    let g = c2
        .fetch_offsets("g", Some(&[("t".into(), 0), ("t".into(), 1)]))
        .unwrap();
    assert_eq!(g[0].2.as_ref().map(|v| v.offset), Some(10));
    assert_eq!(g[1].2, None);
    let d = c2.describe("g").unwrap();
    assert_eq!(
        d.state,
        GroupState::Stable,
        "members come back after a restart"
    );
    assert_eq!(c2.heartbeat("g", &a, None, 1, 101), Ok(()));
}

#[test]
fn delete_group_requires_empty_and_writes_tombstones() {
    let (c, log) = coordinator(0);
    c.commit("g", "", None, -1, vec![(("t".into(), 0), offset(3))], 0)
        .unwrap();
    let (a, mut ra) = join_new(&c, "busy", 0);
    ready(&mut ra).unwrap();
    assert_eq!(c.delete_group("busy", 1), Err(GroupError::NonEmptyGroup));
    assert_eq!(
        c.delete_group("missing", 1),
        Err(GroupError::GroupIdNotFound)
    );
    c.delete_group("g", 1).unwrap();
    assert!(c.describe("g").is_none());
    let (c2, _) = coordinator(0);
    for (_, k, v) in log.0.lock().unwrap().iter() {
        c2.replay(k.clone(), v.clone(), 2).unwrap();
    }
    assert!(c2.describe("g").is_none());
    assert_eq!(c2.fetch_offsets("g", None).unwrap(), vec![]);
    let _ = a;
}

#[test]
fn offsets_of_empty_groups_expire() {
    let (c, _) = coordinator(0);
    c.commit("g", "", None, -1, vec![(("t".into(), 0), offset(3))], 0)
        .unwrap();
    let retention = c.config().offsets_retention_ms;
    c.expire_offsets(retention - 1);
    assert_eq!(c.fetch_offsets("g", None).unwrap().len(), 1);
    c.expire_offsets(retention + 1);
    assert_eq!(c.fetch_offsets("g", None).unwrap().len(), 0);
    assert!(
        c.describe("g").is_none(),
        "an empty group without offsets is removed"
    );
}

#[test]
fn static_leader_rejoining_keeps_the_generation() {
    let (c, _) = coordinator(0);
    let mut ra = c.join("g", params("", Some("lead"), &["range"]), 0);
    let ja = ready(&mut ra).unwrap();
    assert_eq!(ja.leader, ja.member_id);
    ready(&mut sync(
        &c,
        "g",
        &ja.member_id,
        1,
        vec![(ja.member_id.clone(), Bytes::from_static(b"L"))],
        1,
    ))
    .unwrap();
    // The leader restarts: same instance id, no member id, same protocols.
    let mut rl = c.join("g", params("", Some("lead"), &["range"]), 10);
    let jl = ready(&mut rl).expect("answered without a rebalance");
    assert_eq!(jl.error, None);
    assert_eq!(jl.generation_id, 1);
    assert_eq!(jl.leader, jl.member_id, "the new member id leads");
    assert_eq!(jl.members.len(), 1, "the leader gets the member list");
    assert_eq!(c.describe("g").unwrap().state, GroupState::Stable);
    let mut s = sync(&c, "g", &jl.member_id, 1, vec![], 11);
    assert_eq!(&ready(&mut s).unwrap().assignment[..], b"L");
}

/// An `OffsetsLog` that refuses every write, as a coordinator that lost its leadership.
struct DeposedLog;

impl OffsetsLog for DeposedLog {
    fn append(
        &self,
        _partition: i32,
        _recs: &[(Bytes, Option<Bytes>)],
        _now: i64,
    ) -> Result<WriteMark, GroupError> {
        Err(GroupError::NotCoordinator)
    }

    fn high_watermark(&self, _partition: i32) -> i64 {
        -1
    }
}

#[test]
fn a_failed_write_is_the_answer_and_changes_nothing() {
    let c = GroupCoordinator::new(GroupConfig::default(), Box::new(DeposedLog));
    assert_eq!(
        c.commit("solo", "", None, -1, vec![(("t".into(), 0), offset(42))], 0),
        Err(GroupError::NotCoordinator)
    );
    assert_eq!(
        c.fetch_offsets("solo", Some(&[("t".to_string(), 0)]))
            .unwrap(),
        vec![("t".to_string(), 0, None)],
        "an offset that was not written does not count"
    );
    assert_eq!(c.last_write("solo"), Some(Err(GroupError::NotCoordinator)));
}

#[test]
fn offsets_count_once_their_write_is_replicated() {
    let (c, log) = coordinator(0);
    let tp = || vec![("t".to_string(), 0)];
    *log.1.lock().unwrap() = Some(0);
    let (results, mark) = c
        .commit("solo", "", None, -1, vec![(("t".into(), 0), offset(42))], 0)
        .unwrap();
    assert_eq!(results, vec![Ok(())]);
    let mark = mark.expect("a write");
    assert_eq!(
        c.fetch_offsets("solo", Some(&tp())).unwrap(),
        vec![("t".to_string(), 0, None)],
        "an offset not yet replicated does not count"
    );
    // A second commit lands after the first: replicating only the first shows its value.
    c.commit("solo", "", None, -1, vec![(("t".into(), 0), offset(43))], 0)
        .unwrap();
    *log.1.lock().unwrap() = Some(mark.last_offset + 1);
    let fetched = c.fetch_offsets("solo", Some(&tp())).unwrap();
    assert_eq!(fetched[0].2.as_ref().map(|v| v.offset), Some(42));
    *log.1.lock().unwrap() = None;
    let fetched = c.fetch_offsets("solo", Some(&tp())).unwrap();
    assert_eq!(fetched[0].2.as_ref().map(|v| v.offset), Some(43));
}

#[test]
fn deleting_a_group_tombstones_its_pending_offsets() {
    let (c, log) = coordinator(0);
    *log.1.lock().unwrap() = Some(0);
    c.commit("solo", "", None, -1, vec![(("t".into(), 3), offset(7))], 0)
        .unwrap();
    c.delete_group("solo", 0).unwrap();
    let recs = log.0.lock().unwrap();
    let tombstoned = recs.iter().any(|(_, k, v)| {
        v.is_none()
            && matches!(
                records::decode_key(k.clone()),
                Ok(Some(RecordKey::Offset { partition: 3, .. }))
            )
    });
    assert!(tombstoned, "the pending offset would come back on replay");
}

#[test]
fn an_assignment_that_cannot_be_written_makes_the_group_rebalance() {
    let (c, log) = coordinator(0);
    let (a, mut ra) = join_new(&c, "g", 0);
    assert_eq!(ready(&mut ra).unwrap().generation_id, 1);
    *log.2.lock().unwrap() = Some(GroupError::CoordinatorNotAvailable);
    let mut s = sync(
        &c,
        "g",
        &a,
        1,
        vec![(a.clone(), Bytes::from_static(b"A"))],
        1,
    );
    ready(&mut s).unwrap();
    assert_eq!(
        c.last_write("g"),
        Some(Err(GroupError::CoordinatorNotAvailable)),
        "the SyncGroup handler answers with the write's error"
    );
    let d = c.describe("g").unwrap();
    assert_eq!(d.state, GroupState::PreparingRebalance);
    assert!(d.members.iter().all(|m| m.assignment.is_empty()));
    assert_eq!(
        c.heartbeat("g", &a, None, 1, 2),
        Err(GroupError::RebalanceInProgress),
        "members are told to rejoin"
    );
    // Once writes work again the member rejoins into a new generation.
    *log.2.lock().unwrap() = None;
    let mut rj = c.join("g", params(&a, None, &["range"]), 3);
    assert_eq!(ready(&mut rj).unwrap().generation_id, 2);
    let mut s = sync(
        &c,
        "g",
        &a,
        2,
        vec![(a.clone(), Bytes::from_static(b"A"))],
        4,
    );
    assert_eq!(&ready(&mut s).unwrap().assignment[..], b"A");
    assert!(matches!(c.last_write("g"), Some(Ok(_))));
}

#[test]
fn replaying_the_log_rebuilds_what_the_writes_left() {
    let (c, log) = coordinator(0);
    let at = |o: i64, now: i64| OffsetValue {
        commit_timestamp: now,
        ..offset(o)
    };
    let commit = |g: &str, tp: (&str, i32), o: i64, now: i64| {
        c.commit(
            g,
            "",
            None,
            -1,
            vec![((tp.0.into(), tp.1), at(o, now))],
            now,
        )
        .unwrap();
    };
    commit("a", ("t", 0), 1, 0);
    commit("a", ("t", 1), 2, 0);
    commit("a", ("u", 0), 3, 0);
    commit("b", ("t", 0), 4, 0);
    commit("c", ("t", 0), 5, 0);
    let retention = c.config().offsets_retention_ms;
    commit("a", ("t", 0), 6, retention);
    c.delete_offsets("a", &[("u".into(), 0)], retention)
        .unwrap();
    c.delete_group("b", retention).unwrap();
    // Expires a's (t, 1) and all of c (so c itself goes).
    c.expire_offsets(retention + 1);
    let live: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|g| c.fetch_offsets(g, None).unwrap())
        .collect();
    assert_eq!(live[0], vec![("t".to_string(), 0, Some(at(6, retention)))]);
    assert!(live[1].is_empty() && live[2].is_empty());
    let (c2, _) = coordinator(0);
    for (_, k, v) in log.0.lock().unwrap().iter() {
        c2.replay(k.clone(), v.clone(), retention + 2).unwrap();
    }
    for (g, want) in ["a", "b", "c"].iter().zip(&live) {
        assert_eq!(&c2.fetch_offsets(g, None).unwrap(), want, "group {g}");
        assert_eq!(
            c2.describe(g).is_some(),
            c.describe(g).is_some(),
            "group {g}"
        );
    }
}

#[tokio::test]
async fn ticking_does_not_wake_the_timer_task_itself() {
    let (c, _) = coordinator(0);
    let (_a, mut ra) = join_new(&c, "g", 0);
    ready(&mut ra).unwrap();
    // Consume the wake-up the join left.
    c.timers_changed.notified().await;
    for now in [1, 2, 3] {
        c.tick(now);
    }
    let woken = tokio::time::timeout(
        std::time::Duration::from_millis(50),
        c.timers_changed.notified(),
    )
    .await;
    assert!(
        woken.is_err(),
        "tick must not wake its own caller (it would spin)"
    );
}

//! Deterministic tests of the state machine and the controller decisions (no Raft, no I/O).

use std::collections::BTreeMap;

use uuid::Uuid;

use super::*;

fn register(state: &mut ClusterState, id: i32) {
    let cmd = MetadataCommand::RegisterBroker {
        id,
        host: "127.0.0.1".into(),
        port: 9090 + id as u16,
        rack: None,
        now_ms: 1_000,
    };
    assert!(state.apply(cmd).is_ok());
}

fn cluster(brokers: &[i32]) -> ClusterState {
    let mut state = ClusterState::default();
    for b in brokers {
        register(&mut state, *b);
    }
    state
}

fn create(
    state: &mut ClusterState,
    name: &str,
    partitions: Vec<Vec<i32>>,
    configs: &[(&str, &str)],
) {
    let cmd = MetadataCommand::CreateTopic {
        name: name.into(),
        id: Uuid::new_v4(),
        partitions,
        configs: configs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    assert_eq!(state.apply(cmd), Ok(CommandOutput::Applied));
}

fn apply_all(state: &mut ClusterState, cmds: Vec<MetadataCommand>) {
    for c in cmds {
        let r = state.apply(c.clone());
        assert!(r.is_ok(), "{c:?}: {r:?}");
    }
}

fn part<'a>(state: &'a ClusterState, topic: &str, p: usize) -> &'a PartitionInfo {
    &state.topics[topic].partitions[p]
}

fn fence(state: &mut ClusterState, id: i32) {
    let mut cmds = vec![MetadataCommand::FenceBroker { id }];
    cmds.extend(on_broker_fenced(state, id));
    apply_all(state, cmds);
}

#[test]
fn placement_spreads_leaders_and_replicas() {
    let state = cluster(&[1, 2, 3]);
    let assignment = place_replicas(&state, 6, 3).unwrap();
    assert_eq!(assignment.len(), 6);
    let mut leaders = BTreeMap::new();
    let mut replicas = BTreeMap::new();
    for r in &assignment {
        assert_eq!(r.len(), 3);
        let mut sorted = r.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 3, "replicas distinct: {r:?}");
        *leaders.entry(r[0]).or_insert(0) += 1;
        for b in r {
            *replicas.entry(*b).or_insert(0) += 1;
        }
    }
    assert_eq!(leaders, BTreeMap::from([(1, 2), (2, 2), (3, 2)]));
    assert_eq!(replicas, BTreeMap::from([(1, 6), (2, 6), (3, 6)]));
}

#[test]
fn placement_skips_fenced_brokers_and_refuses_too_few() {
    let mut state = cluster(&[1, 2, 3]);
    assert!(state.apply(MetadataCommand::FenceBroker { id: 2 }).is_ok());
    let a = place_replicas(&state, 4, 2).unwrap();
    assert!(a.iter().flatten().all(|b| *b != 2));
    assert_eq!(
        place_replicas(&state, 1, 3),
        Err(PlacementError::InsufficientBrokers { wanted: 3, live: 2 })
    );
    assert_eq!(
        place_replicas(&state, 0, 1),
        Err(PlacementError::InvalidPartitionCount)
    );
    assert_eq!(
        place_replicas(&state, 1, 0),
        Err(PlacementError::InvalidReplicationFactor)
    );
}

#[test]
fn placement_of_next_topic_continues_the_stripe() {
    let mut state = cluster(&[1, 2, 3]);
    let a = place_replicas(&state, 1, 1).unwrap();
    create(&mut state, "a", a.clone(), &[]);
    let b = place_replicas(&state, 1, 1).unwrap();
    assert_ne!(a[0][0], b[0][0]);
}

#[test]
fn create_topic_sets_leader_and_isr_from_live_replicas() {
    let mut state = cluster(&[1, 2, 3]);
    assert!(state.apply(MetadataCommand::FenceBroker { id: 1 }).is_ok());
    create(&mut state, "t", vec![vec![1, 2, 3], vec![1]], &[]);
    let p0 = part(&state, "t", 0);
    assert_eq!((p0.leader, p0.isr.clone()), (2, vec![2, 3]));
    let p1 = part(&state, "t", 1);
    assert_eq!((p1.leader, p1.isr.clone()), (-1, vec![1]));
}

#[test]
fn invalid_commands_are_refused_without_change() {
    let mut state = cluster(&[1, 2]);
    create(&mut state, "t", vec![vec![1, 2]], &[]);
    let before = state.clone();
    let bad = [
        MetadataCommand::FenceBroker { id: 9 },
        MetadataCommand::DeleteTopic { name: "x".into() },
        MetadataCommand::CreateTopic {
            name: "t".into(),
            id: Uuid::new_v4(),
            partitions: vec![vec![1]],
            configs: BTreeMap::new(),
        },
        MetadataCommand::CreateTopic {
            name: "u".into(),
            id: Uuid::new_v4(),
            partitions: vec![vec![1, 1]],
            configs: BTreeMap::new(),
        },
        MetadataCommand::CreateTopic {
            name: "u".into(),
            id: Uuid::new_v4(),
            partitions: vec![vec![7]],
            configs: BTreeMap::new(),
        },
        MetadataCommand::CreatePartitions {
            name: "t".into(),
            new_assignments: vec![vec![]],
        },
        MetadataCommand::ChangePartition {
            topic: "t".into(),
            partition: 5,
            leader: Some(1),
            isr: None,
            expected_partition_epoch: None,
        },
        MetadataCommand::ChangePartition {
            topic: "t".into(),
            partition: -1,
            leader: Some(1),
            isr: None,
            expected_partition_epoch: None,
        },
        MetadataCommand::ChangePartition {
            topic: "t".into(),
            partition: 0,
            leader: None,
            isr: Some(vec![]),
            expected_partition_epoch: None,
        },
        MetadataCommand::ChangePartition {
            topic: "t".into(),
            partition: 0,
            leader: Some(2),
            isr: Some(vec![1]),
            expected_partition_epoch: None,
        },
        MetadataCommand::ChangePartition {
            topic: "t".into(),
            partition: 0,
            leader: Some(2),
            isr: None,
            expected_partition_epoch: Some(7),
        },
        MetadataCommand::AllocateProducerIds { block_size: 0 },
    ];
    for cmd in bad {
        assert!(state.apply(cmd.clone()).is_err(), "{cmd:?} accepted");
        assert_eq!(state, before, "{cmd:?} changed the state");
    }
}

#[test]
fn change_partition_bumps_epochs() {
    let mut state = cluster(&[1, 2, 3]);
    create(&mut state, "t", vec![vec![1, 2, 3]], &[]);
    let change = |leader, isr| MetadataCommand::ChangePartition {
        topic: "t".into(),
        partition: 0,
        leader,
        isr,
        expected_partition_epoch: None,
    };
    assert!(state.apply(change(None, Some(vec![1, 2]))).is_ok());
    let p = part(&state, "t", 0);
    assert_eq!((p.leader_epoch, p.partition_epoch), (0, 1));
    assert!(state.apply(change(Some(2), None)).is_ok());
    let p = part(&state, "t", 0);
    assert_eq!((p.leader, p.leader_epoch, p.partition_epoch), (2, 1, 2));
    assert_eq!(
        state.apply(change(Some(2), None)),
        Ok(CommandOutput::Unchanged)
    );
    assert_eq!(part(&state, "t", 0).partition_epoch, 2);
}

#[test]
fn producer_ids_cluster_id_brokers_and_batches() {
    let mut state = cluster(&[1]);
    let alloc = MetadataCommand::AllocateProducerIds { block_size: 1000 };
    assert_eq!(
        state.apply(alloc.clone()),
        Ok(CommandOutput::ProducerIdBlock {
            start: 0,
            len: 1000
        })
    );
    let batch = MetadataCommand::Batch(vec![alloc, MetadataCommand::FenceBroker { id: 5 }]);
    let Ok(CommandOutput::Batch(results)) = state.apply(batch) else {
        panic!("batch");
    };
    assert_eq!(
        results[0],
        Ok(CommandOutput::ProducerIdBlock {
            start: 1000,
            len: 1000
        })
    );
    assert_eq!(results[1], Err(CommandError::UnknownBroker(5)));

    let init = |id: &str| MetadataCommand::InitCluster {
        cluster_id: id.into(),
    };
    assert_eq!(state.apply(init("abc")), Ok(CommandOutput::Applied));
    assert_eq!(state.apply(init("abc")), Ok(CommandOutput::Unchanged));
    assert!(state.apply(init("xyz")).is_err());

    assert!(state.apply(MetadataCommand::FenceBroker { id: 1 }).is_ok());
    let again = MetadataCommand::RegisterBroker {
        id: 1,
        host: "h".into(),
        port: 1,
        rack: Some("r1".into()),
        now_ms: 5,
    };
    assert_eq!(state.apply(again), Ok(CommandOutput::BrokerEpoch(1)));
    assert!(state.is_live(1));

    let json = serde_json::to_string(&state).unwrap();
    assert_eq!(serde_json::from_str::<ClusterState>(&json).unwrap(), state);
}

#[test]
fn fencing_elects_next_isr_member_and_shrinks_isr() {
    let mut state = cluster(&[1, 2, 3]);
    let assignment = place_replicas(&state, 6, 3).unwrap();
    create(&mut state, "t", assignment, &[]);
    fence(&mut state, 1);
    for (i, p) in state.topics["t"].partitions.iter().enumerate() {
        assert!(!p.isr.contains(&1), "p{i} isr {:?}", p.isr);
        assert_ne!(p.leader, 1);
        let expected = p.replicas.iter().copied().find(|r| *r != 1).unwrap();
        assert_eq!(
            p.leader, expected,
            "p{i}: first live ISR member in replica order"
        );
        let was_leader = p.replicas[0] == 1;
        assert_eq!(p.leader_epoch, i32::from(was_leader), "p{i}");
        assert_eq!(p.partition_epoch, 1, "p{i}");
    }
    // Nothing left to do for an already fenced broker.
    assert!(on_broker_fenced(&state, 1).is_empty());
}

#[test]
fn isr_is_never_emptied_and_leader_becomes_none() {
    let mut state = cluster(&[1, 2]);
    create(&mut state, "t", vec![vec![1, 2]], &[]);
    let shrink = MetadataCommand::ChangePartition {
        topic: "t".into(),
        partition: 0,
        leader: None,
        isr: Some(vec![1]),
        expected_partition_epoch: Some(0),
    };
    apply_all(&mut state, vec![shrink]);
    fence(&mut state, 1);
    let p = part(&state, "t", 0);
    assert_eq!((p.leader, p.isr.clone()), (-1, vec![1]));

    // The last ISR member comes back: it leads again.
    let mut cmds = vec![MetadataCommand::UnfenceBroker { id: 1 }];
    cmds.extend(on_broker_unfenced(&state, 1));
    apply_all(&mut state, cmds);
    let p = part(&state, "t", 0);
    assert_eq!((p.leader, p.isr.clone()), (1, vec![1]));
}

#[test]
fn unclean_election_picks_a_live_replica_outside_the_isr() {
    let mut state = cluster(&[1, 2]);
    create(
        &mut state,
        "t",
        vec![vec![1, 2]],
        &[(UNCLEAN_LEADER_ELECTION, "true")],
    );
    let shrink = MetadataCommand::ChangePartition {
        topic: "t".into(),
        partition: 0,
        leader: None,
        isr: Some(vec![1]),
        expected_partition_epoch: None,
    };
    apply_all(&mut state, vec![shrink]);
    fence(&mut state, 1);
    let p = part(&state, "t", 0);
    assert_eq!((p.leader, p.isr.clone()), (2, vec![2]));
}

#[test]
fn unclean_election_on_unfence_of_a_non_isr_replica() {
    let mut state = cluster(&[1, 2]);
    create(
        &mut state,
        "t",
        vec![vec![1, 2]],
        &[(UNCLEAN_LEADER_ELECTION, "true")],
    );
    create(&mut state, "clean", vec![vec![1, 2]], &[]);
    for t in ["t", "clean"] {
        let shrink = MetadataCommand::ChangePartition {
            topic: t.into(),
            partition: 0,
            leader: None,
            isr: Some(vec![1]),
            expected_partition_epoch: None,
        };
        apply_all(&mut state, vec![shrink]);
    }
    apply_all(&mut state, vec![MetadataCommand::FenceBroker { id: 2 }]);
    fence(&mut state, 1);
    // Both down; the non-ISR replica 2 returns.
    let cmds = on_broker_unfenced(&state, 2);
    assert_eq!(cmds.len(), 1, "only the unclean topic elects: {cmds:?}");
    apply_all(&mut state, cmds);
    assert_eq!(part(&state, "t", 0).leader, 2);
    assert_eq!(part(&state, "clean", 0).leader, -1);
}

#[test]
fn preferred_leader_election_restores_first_replica() {
    let mut state = cluster(&[1, 2, 3]);
    create(&mut state, "t", vec![vec![1, 2, 3], vec![2, 3, 1]], &[]);
    fence(&mut state, 1);
    assert_eq!(part(&state, "t", 0).leader, 2);
    // Broker 1 returns, but is not in the ISR yet: no preferred election.
    apply_all(&mut state, vec![MetadataCommand::UnfenceBroker { id: 1 }]);
    assert!(on_broker_unfenced(&state, 1).is_empty());
    assert!(preferred_leader_elections(&state).is_empty());
    // It catches up and rejoins the ISR.
    let expand = MetadataCommand::ChangePartition {
        topic: "t".into(),
        partition: 0,
        leader: None,
        isr: Some(vec![2, 3, 1]),
        expected_partition_epoch: Some(1),
    };
    apply_all(&mut state, vec![expand]);
    let cmds = preferred_leader_elections(&state);
    assert_eq!(cmds.len(), 1);
    apply_all(&mut state, cmds);
    let p = part(&state, "t", 0);
    assert_eq!((p.leader, p.leader_epoch), (1, 2));
    assert_eq!(part(&state, "t", 1).leader, 2);
    assert!(preferred_leader_elections(&state).is_empty());
}

#[test]
fn stale_decisions_are_refused() {
    let mut state = cluster(&[1, 2, 3]);
    create(&mut state, "t", vec![vec![1, 2, 3]], &[]);
    let stale = on_broker_fenced(&state, 1);
    // Something else changes the partition first.
    let other = MetadataCommand::ChangePartition {
        topic: "t".into(),
        partition: 0,
        leader: None,
        isr: Some(vec![1, 2]),
        expected_partition_epoch: None,
    };
    apply_all(&mut state, vec![other]);
    let r = state.apply(stale[0].clone());
    assert!(
        matches!(r, Err(CommandError::StalePartitionEpoch { .. })),
        "{r:?}"
    );
}

#[test]
fn offline_replicas_leave_the_isr_and_hand_over_what_they_led() {
    let mut state = cluster(&[1, 2, 3]);
    create(
        &mut state,
        "t",
        vec![vec![1, 2, 3], vec![2, 1, 3], vec![3, 2, 1]],
        &[],
    );
    create(&mut state, "solo", vec![vec![1]], &[]);
    // broker 1's logs of t-0, t-1 and solo-0 failed to load; t-2 is fine
    let offline = |t: &str, p: i32| t == "solo" || (t == "t" && p < 2);
    let cmds = on_replicas_offline(&state, 1, offline);
    apply_all(&mut state, cmds);
    let p0 = part(&state, "t", 0);
    assert_eq!((p0.leader, p0.isr.clone()), (2, vec![2, 3]));
    let p1 = part(&state, "t", 1);
    assert_eq!((p1.leader, p1.isr.clone()), (2, vec![2, 3]));
    let p2 = part(&state, "t", 2);
    assert_eq!((p2.leader, p2.isr.clone()), (3, vec![3, 2, 1]));
    // no other replica can lead solo-0: it stays (a leaderless partition would be
    // elected straight back to broker 1)
    let solo = part(&state, "solo", 0);
    assert_eq!((solo.leader, solo.isr.clone()), (1, vec![1]));
    assert!(on_replicas_offline(&state, 1, offline).is_empty());
    assert!(on_broker_unfenced(&state, 1).is_empty());
    assert!(preferred_leader_elections(&state).is_empty());
}

#[test]
fn broker_configs_are_set_removed_and_survive_a_snapshot() {
    let mut s = cluster(&[1, 2]);
    let alter =
        |broker: &str, changes: &[(&str, Option<&str>)]| MetadataCommand::AlterBrokerConfigs {
            broker: broker.to_string(),
            changes: changes
                .iter()
                .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
                .collect(),
        };
    apply_all(
        &mut s,
        vec![
            alter("", &[("log.retention.ms", Some("1000"))]),
            alter(
                "2",
                &[
                    ("log.segment.bytes", Some("2048")),
                    ("message.max.bytes", Some("9")),
                ],
            ),
            alter("2", &[("message.max.bytes", None)]),
        ],
    );
    assert_eq!(s.broker_configs[""]["log.retention.ms"], "1000");
    assert_eq!(s.broker_configs["2"].len(), 1);
    let json = serde_json::to_vec(&s).unwrap();
    assert_eq!(serde_json::from_slice::<ClusterState>(&json).unwrap(), s);
    apply_all(&mut s, vec![alter("", &[("log.retention.ms", None)])]);
    assert!(
        !s.broker_configs.contains_key(""),
        "an empty layer is dropped"
    );
    // A state written before broker configs existed still loads.
    let mut old: serde_json::Value = serde_json::from_slice(&json).unwrap();
    old.as_object_mut().unwrap().remove("broker_configs");
    let loaded: ClusterState = serde_json::from_value(old).unwrap();
    assert!(loaded.broker_configs.is_empty());
}

#[test]
fn elect_leaders_preferred_and_unclean() {
    let mut s = cluster(&[1, 2, 3]);
    create(&mut s, "t", vec![vec![1, 2, 3]], &[]);
    let elect = |s: &ClusterState, t: &str, e| elect_leader(s, t, 0, e);
    assert_eq!(
        elect(&s, "t", ElectionType::Preferred),
        Err(ElectionRefusal::NotNeeded)
    );
    assert_eq!(
        elect_leader(&s, "t", 1, ElectionType::Preferred),
        Err(ElectionRefusal::UnknownPartition)
    );
    fence(&mut s, 1);
    assert_eq!(part(&s, "t", 0).leader, 2);
    assert_eq!(
        elect(&s, "t", ElectionType::Preferred),
        Err(ElectionRefusal::PreferredNotAvailable),
        "the preferred replica is fenced"
    );
    assert_eq!(
        elect(&s, "t", ElectionType::Unclean),
        Err(ElectionRefusal::NotNeeded),
        "there is a leader"
    );
    apply_all(&mut s, vec![MetadataCommand::UnfenceBroker { id: 1 }]);
    let epoch = part(&s, "t", 0).partition_epoch;
    apply_all(
        &mut s,
        vec![MetadataCommand::ChangePartition {
            topic: "t".into(),
            partition: 0,
            leader: None,
            isr: Some(vec![1, 2, 3]),
            expected_partition_epoch: Some(epoch),
        }],
    );
    let cmd = elect(&s, "t", ElectionType::Preferred).unwrap();
    apply_all(&mut s, vec![cmd]);
    assert_eq!(
        part(&s, "t", 0).leader,
        1,
        "the preferred replica leads again"
    );

    // A partition whose ISR is gone: unclean picks a live replica outside it.
    create(&mut s, "u", vec![vec![2, 3]], &[]);
    fence(&mut s, 3);
    fence(&mut s, 2);
    assert_eq!(part(&s, "u", 0).leader, -1);
    assert_eq!(
        elect(&s, "u", ElectionType::Unclean),
        Err(ElectionRefusal::EligibleNotAvailable)
    );
    apply_all(&mut s, vec![MetadataCommand::UnfenceBroker { id: 3 }]);
    let isr_before = part(&s, "u", 0).isr.clone();
    assert!(!isr_before.contains(&3), "{isr_before:?}");
    let cmd = elect(&s, "u", ElectionType::Unclean).unwrap();
    apply_all(&mut s, vec![cmd]);
    assert_eq!(
        (part(&s, "u", 0).leader, part(&s, "u", 0).isr.clone()),
        (3, vec![3])
    );
}

#[test]
fn client_quotas_are_set_merged_and_removed_per_entity() {
    let mut state = ClusterState::default();
    let user = |n: Option<&str>| vec![("user".to_string(), n.map(str::to_string))];
    let alter =
        |entity: QuotaEntity, changes: &[(&str, Option<f64>)]| MetadataCommand::AlterClientQuotas {
            entity,
            changes: changes
                .iter()
                .map(|(k, v)| (k.to_string(), v.map(QuotaValue)))
                .collect(),
        };
    let set = alter(user(Some("alice")), &[("producer_byte_rate", Some(1024.0))]);
    assert_eq!(state.apply(set), Ok(CommandOutput::Applied));
    let more = alter(
        user(Some("alice")),
        &[
            ("consumer_byte_rate", Some(2048.0)),
            ("producer_byte_rate", None),
        ],
    );
    assert!(state.apply(more).is_ok());
    assert!(
        state
            .apply(alter(user(None), &[("request_percentage", Some(50.0))]))
            .is_ok()
    );
    // Sorted by entity: the default (None) before a name.
    let entities: Vec<_> = state
        .client_quotas
        .iter()
        .map(|q| q.entity.clone())
        .collect();
    assert_eq!(entities, vec![user(None), user(Some("alice"))]);
    assert_eq!(
        state.client_quotas[1].values.keys().collect::<Vec<_>>(),
        vec!["consumer_byte_rate"]
    );
    // Removing the last value removes the entity; removing from nothing changes nothing.
    let gone = alter(user(Some("alice")), &[("consumer_byte_rate", None)]);
    assert!(state.apply(gone.clone()).is_ok());
    assert_eq!(state.client_quotas.len(), 1);
    assert_eq!(state.apply(gone), Ok(CommandOutput::Unchanged));
    // Refused, state unchanged: an unsorted entity, a value that is not positive.
    let before = state.clone();
    let unsorted = vec![("user".to_string(), None), ("client-id".to_string(), None)];
    assert!(
        state
            .apply(alter(unsorted, &[("producer_byte_rate", Some(1.0))]))
            .is_err()
    );
    assert!(
        state
            .apply(alter(user(None), &[("producer_byte_rate", Some(0.0))]))
            .is_err()
    );
    assert_eq!(state, before);
}

//! Handlers driven through `dispatch` with requests encoded as a client sends them, on a
//! one-node broker in a temporary directory.

use bytes::{Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_request;
use kafka_protocol::messages::create_topics_request::{CreatableReplicaAssignment, CreatableTopic};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};

use super::{Outcome, dispatch};
use crate::broker::{Broker, open_for_test};
use crate::format::testutil;
use crate::protocol::parse_request;

/// Sends `body` as request `key` v`version` and decodes the answer.
async fn call<Req, Resp>(broker: &Broker, key: ApiKey, version: i16, body: &Req) -> Resp
where
    Req: Encodable + HeaderVersion,
    Resp: Decodable,
{
    call_as(broker, key, version, body, "handler-test").await
}

/// [`call`] from client id `client`.
async fn call_as<Req, Resp>(
    broker: &Broker,
    key: ApiKey,
    version: i16,
    body: &Req,
    client: &str,
) -> Resp
where
    Req: Encodable + HeaderVersion,
    Resp: Decodable,
{
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(7)
        .with_client_id(Some(StrBytes::from_string(client.to_string())));
    let mut buf = BytesMut::new();
    header
        .encode(&mut buf, Req::header_version(version))
        .unwrap();
    body.encode(&mut buf, version).unwrap();
    let request = parse_request(buf.freeze()).unwrap();
    let frame = match dispatch(broker, request).await {
        Outcome::Respond(frame) => frame,
        other => panic!("{key:?} v{version}: {other:?}"),
    };
    let mut bytes: Bytes = frame.to_bytes().unwrap();
    let header_version = key.response_header_version(version);
    let header = ResponseHeader::decode(&mut bytes, header_version).unwrap();
    assert_eq!(header.correlation_id, 7);
    Resp::decode(&mut bytes, version).unwrap()
}

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

async fn create(broker: &Broker, topic: CreatableTopic) -> CreateTopicsResponse {
    let req = CreateTopicsRequest::default()
        .with_topics(vec![topic])
        .with_timeout_ms(10_000);
    call(broker, ApiKey::CreateTopics, 7, &req).await
}

fn assignment(partition: i32, replicas: &[i32]) -> CreatableReplicaAssignment {
    CreatableReplicaAssignment::default()
        .with_partition_index(partition)
        .with_broker_ids(replicas.iter().map(|b| BrokerId(*b)).collect())
}

async fn metadata_for(broker: &Broker, topic: &str) -> MetadataResponse {
    let req = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(name(topic))),
        ]))
        .with_allow_auto_topic_creation(true);
    call(broker, ApiKey::Metadata, 12, &req).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessionless_full_fetch_is_served_and_incremental_fetch_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open_for_test(dir.path()).await;
    let topic = CreatableTopic::default()
        .with_name(name("fetched"))
        .with_num_partitions(1)
        .with_replication_factor(1);
    let created = create(&broker, topic).await;
    assert_eq!(created.topics[0].error_code, 0);
    assert_eq!(
        created.topics[0].error_message, None,
        "null on success, as Kafka sends it"
    );
    let produce = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(name("fetched"))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(Bytes::from(testutil::simple(3, 1_000)))),
                ]),
        ]);
    let produced: ProduceResponse = call(&broker, ApiKey::Produce, 9, &produce).await;
    assert_eq!(produced.responses[0].partition_responses[0].error_code, 0);

    let fetch = |session_id: i32, session_epoch: i32| {
        FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(0)
            .with_min_bytes(1)
            .with_max_bytes(1 << 20)
            .with_session_id(session_id)
            .with_session_epoch(session_epoch)
            .with_topics(vec![
                FetchTopic::default()
                    .with_topic(name("fetched"))
                    .with_partitions(vec![
                        FetchPartition::default()
                            .with_partition(0)
                            .with_partition_max_bytes(1 << 20),
                    ]),
            ])
    };
    // kafka-go's full fetch: session id -1, epoch -1 (FINAL_EPOCH, no session).
    for (id, epoch) in [(-1, -1), (0, -1), (0, 0), (12, 0)] {
        let resp: FetchResponse = call(&broker, ApiKey::Fetch, 11, &fetch(id, epoch)).await;
        assert_eq!(resp.error_code, 0, "session {id} epoch {epoch}");
        assert_eq!(resp.session_id, 0);
        let p = &resp.responses[0].partitions[0];
        assert_eq!((p.error_code, p.high_watermark), (0, 3));
        assert!(p.records.as_ref().is_some_and(|r| !r.is_empty()));
    }
    // Errors as Kafka 4.0 answers them (asked of the upstream broker): no offsets; an
    // unknown partition has an empty aborted-transaction list, a failed read null.
    let mut bad = fetch(0, -1);
    bad.topics[0].partitions[0].fetch_offset = 7;
    bad.topics[0].partitions.push(
        FetchPartition::default()
            .with_partition(5)
            .with_partition_max_bytes(1 << 20),
    );
    let resp: FetchResponse = call(&broker, ApiKey::Fetch, 11, &bad).await;
    let (oor, missing) = (
        &resp.responses[0].partitions[0],
        &resp.responses[0].partitions[1],
    );
    assert_eq!(oor.error_code, ResponseError::OffsetOutOfRange.code());
    assert_eq!(
        missing.error_code,
        ResponseError::UnknownTopicOrPartition.code()
    );
    for p in [oor, missing] {
        assert_eq!(
            (p.high_watermark, p.last_stable_offset, p.log_start_offset),
            (-1, -1, -1)
        );
    }
    assert_eq!(oor.aborted_transactions, None);
    assert_eq!(missing.aborted_transactions, Some(Vec::new()));

    for (id, epoch) in [(12, 1), (0, 3)] {
        let resp: FetchResponse = call(&broker, ApiKey::Fetch, 11, &fetch(id, epoch)).await;
        assert_eq!(
            resp.error_code,
            ResponseError::FetchSessionIdNotFound.code(),
            "session {id} epoch {epoch}"
        );
        assert!(resp.responses.is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_creation_answers_leader_not_available_then_the_topic() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open_for_test(dir.path()).await;
    let first = metadata_for(&broker, "auto-made").await;
    let t = &first.topics[0];
    assert_eq!(t.error_code, ResponseError::LeaderNotAvailable.code());
    assert_eq!(t.name, Some(name("auto-made")));
    assert!(t.partitions.is_empty());
    assert_eq!(first.controller_id, BrokerId(broker.node_id()));

    let second = metadata_for(&broker, "auto-made").await;
    let t = &second.topics[0];
    assert_eq!(t.error_code, 0);
    assert_eq!(t.partitions.len(), broker.config.num_partitions as usize);
    assert_eq!(t.partitions[0].leader_id, BrokerId(broker.node_id()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_assignments_are_taken_in_any_order() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open_for_test(dir.path()).await;
    let me = broker.node_id();
    let topic = |n: &str, parts: &[i32]| {
        CreatableTopic::default()
            .with_name(name(n))
            .with_num_partitions(-1)
            .with_replication_factor(-1)
            .with_assignments(parts.iter().map(|p| assignment(*p, &[me])).collect())
    };
    let resp = create(&broker, topic("unordered", &[2, 0, 1])).await;
    assert_eq!(resp.topics[0].error_code, 0, "{:?}", resp.topics[0]);
    let meta = metadata_for(&broker, "unordered").await;
    assert_eq!(meta.topics[0].partitions.len(), 3);

    for (n, parts) in [("gap", &[0, 2][..]), ("twice", &[0, 1, 1][..])] {
        let resp = create(&broker, topic(n, parts)).await;
        assert_eq!(
            resp.topics[0].error_code,
            ResponseError::InvalidReplicaAssignment.code(),
            "{n}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_configs_sends_documentation_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open_for_test(dir.path()).await;
    let topic = CreatableTopic::default()
        .with_name(name("documented"))
        .with_num_partitions(1)
        .with_replication_factor(1);
    assert_eq!(create(&broker, topic).await.topics[0].error_code, 0);
    let resources = vec![
        DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_static_str("documented"))
            // Null and an empty list both ask for every config.
            .with_configuration_keys(None),
        DescribeConfigsResource::default()
            .with_resource_type(4)
            .with_resource_name(StrBytes::from_string(broker.node_id().to_string()))
            .with_configuration_keys(Some(Vec::new())),
    ];
    for documentation in [true, false] {
        let req = DescribeConfigsRequest::default()
            .with_resources(resources.clone())
            .with_include_documentation(documentation);
        let resp: DescribeConfigsResponse = call(&broker, ApiKey::DescribeConfigs, 4, &req).await;
        assert_eq!(resp.results.len(), 2);
        for r in &resp.results {
            assert_eq!(r.error_code, 0);
            assert!(!r.configs.is_empty());
            for c in &r.configs {
                assert_eq!(
                    c.documentation.as_ref().is_some_and(|d| !d.is_empty()),
                    documentation,
                    "{}",
                    c.name.as_str()
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_counts_beyond_the_open_file_budget_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open_for_test(dir.path()).await;
    for (n, partitions) in [("huge", i32::MAX), ("large", 1 << 24)] {
        let topic = CreatableTopic::default()
            .with_name(name(n))
            .with_num_partitions(partitions)
            .with_replication_factor(1);
        let resp = create(&broker, topic).await;
        let t = &resp.topics[0];
        assert_eq!(t.error_code, ResponseError::InvalidPartitions.code(), "{n}");
        let message = t
            .error_message
            .as_ref()
            .map(|m| m.to_string())
            .unwrap_or_default();
        assert!(message.contains("open-file limit"), "{message}");
    }
    // Growing a topic past the budget is refused the same way.
    let topic = CreatableTopic::default()
        .with_name(name("grown"))
        .with_num_partitions(1)
        .with_replication_factor(1);
    assert_eq!(create(&broker, topic).await.topics[0].error_code, 0);
    let grow = CreatePartitionsRequest::default()
        .with_topics(vec![
            create_partitions_request::CreatePartitionsTopic::default()
                .with_name(name("grown"))
                .with_count(1 << 24),
        ])
        .with_timeout_ms(10_000);
    let resp: CreatePartitionsResponse = call(&broker, ApiKey::CreatePartitions, 3, &grow).await;
    assert_eq!(
        resp.results[0].error_code,
        ResponseError::InvalidPartitions.code()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_cluster_lists_fenced_brokers_only_when_asked() {
    use crate::controller::quorum::MetadataCommand;
    let dir = tempfile::tempdir().unwrap();
    let broker = open_for_test(dir.path()).await;
    for cmd in [
        MetadataCommand::RegisterBroker {
            id: 77,
            host: "127.0.0.1".into(),
            port: 1,
            rack: Some("r1".into()),
            now_ms: 0,
        },
        MetadataCommand::FenceBroker { id: 77 },
    ] {
        broker.metadata.propose(cmd).await.unwrap();
    }
    let ask = |fenced: bool| {
        DescribeClusterRequest::default()
            .with_endpoint_type(1)
            .with_include_fenced_brokers(fenced)
    };
    let plain: DescribeClusterResponse =
        call(&broker, ApiKey::DescribeCluster, 2, &ask(false)).await;
    assert!(
        plain
            .brokers
            .iter()
            .all(|b| b.broker_id.0 != 77 && !b.is_fenced)
    );
    let all: DescribeClusterResponse = call(&broker, ApiKey::DescribeCluster, 2, &ask(true)).await;
    let fenced = all.brokers.iter().find(|b| b.broker_id.0 == 77).unwrap();
    assert!(fenced.is_fenced);
    assert_eq!(fenced.rack.as_deref(), Some("r1"));
    assert_eq!(all.brokers.len(), plain.brokers.len() + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_still_loading_answers_load_in_progress() {
    use kafka_protocol::messages::offset_commit_request::{
        OffsetCommitRequestPartition, OffsetCommitRequestTopic,
    };
    let dir = tempfile::tempdir().unwrap();
    let broker = open_for_test(dir.path()).await;
    let topic = CreatableTopic::default()
        .with_name(name("committed"))
        .with_num_partitions(1)
        .with_replication_factor(1);
    assert_eq!(create(&broker, topic).await.topics[0].error_code, 0);
    broker.ensure_offsets_topic().await.unwrap();
    let commit = OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("loading")))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(name("committed"))
                .with_partitions(vec![
                    OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(1),
                ]),
        ]);
    let code = |r: &OffsetCommitResponse| r.topics[0].partitions[0].error_code;
    // Leading the group's partition without having loaded it: retry, not elsewhere.
    let p = broker.groups.partition_of("loading");
    broker.groups.unload_partition(p);
    let r: OffsetCommitResponse = call(&broker, ApiKey::OffsetCommit, 8, &commit).await;
    assert_eq!(code(&r), ResponseError::CoordinatorLoadInProgress.code());
    broker.groups.mark_loaded(p);
    let r: OffsetCommitResponse = call(&broker, ApiKey::OffsetCommit, 8, &commit).await;
    assert_eq!(code(&r), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_quorum_answers_for_the_metadata_log_only() {
    use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
    let dir = tempfile::tempdir().unwrap();
    let broker = open_for_test(dir.path()).await;
    let ask = |topic: &'static str, partitions: &[i32]| {
        DescribeQuorumRequest::default().with_topics(vec![
            TopicData::default()
                .with_topic_name(TopicName(StrBytes::from_static_str(topic)))
                .with_partitions(
                    partitions
                        .iter()
                        .map(|p| PartitionData::default().with_partition_index(*p))
                        .collect(),
                ),
        ])
    };
    let ok: DescribeQuorumResponse = call(
        &broker,
        ApiKey::DescribeQuorum,
        2,
        &ask("__cluster_metadata", &[0]),
    )
    .await;
    let p = &ok.topics[0].partitions[0];
    assert_eq!((ok.error_code, p.error_code), (0, 0));
    assert_eq!(p.leader_id.0, broker.node_id());
    assert_eq!(p.current_voters.len(), 1);
    let me = &p.current_voters[0];
    assert!(me.log_end_offset >= p.high_watermark && p.high_watermark > 0);
    assert!(me.last_caught_up_timestamp > 0);
    assert_eq!(ok.nodes.len(), 1);
    assert_eq!(ok.nodes[0].listeners[0].name.as_str(), "CONTROLLER");

    for (topic, partitions) in [("__cluster_metadata", &[1][..]), ("other", &[0, 1][..])] {
        let bad: DescribeQuorumResponse =
            call(&broker, ApiKey::DescribeQuorum, 2, &ask(topic, partitions)).await;
        let codes: Vec<i16> = bad.topics[0]
            .partitions
            .iter()
            .map(|p| p.error_code)
            .collect();
        let unknown = ResponseError::UnknownTopicOrPartition.code();
        assert_eq!(codes, vec![unknown; partitions.len()], "{topic}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_quotas_are_altered_described_and_throttle_a_producer() {
    use kafka_protocol::messages::alter_client_quotas_request::{EntityData, EntryData, OpData};
    use kafka_protocol::messages::describe_client_quotas_request::ComponentData;
    let dir = tempfile::tempdir().unwrap();
    let broker = open_for_test(dir.path()).await;
    let entry = |client: &str, ops: &[(&str, f64, bool)]| {
        EntryData::default()
            .with_entity(vec![
                EntityData::default()
                    .with_entity_type(StrBytes::from_static_str("client-id"))
                    .with_entity_name(Some(StrBytes::from_string(client.to_string()))),
            ])
            .with_ops(
                ops.iter()
                    .map(|(k, v, remove)| {
                        OpData::default()
                            .with_key(StrBytes::from_string(k.to_string()))
                            .with_value(*v)
                            .with_remove(*remove)
                    })
                    .collect(),
            )
    };
    let alter = |entries: Vec<EntryData>, validate_only: bool| {
        AlterClientQuotasRequest::default()
            .with_entries(entries)
            .with_validate_only(validate_only)
    };
    let describe = DescribeClientQuotasRequest::default().with_components(vec![
        ComponentData::default()
            .with_entity_type(StrBytes::from_static_str("client-id"))
            .with_match_type(2)
            .with_match(None),
    ]);
    let described = |r: DescribeClientQuotasResponse| -> Vec<(String, String, f64)> {
        r.entries
            .unwrap_or_default()
            .iter()
            .flat_map(|e| {
                let name = e.entity[0].entity_name.as_deref().unwrap_or("").to_string();
                e.values
                    .iter()
                    .map(move |v| (name.clone(), v.key.to_string(), v.value))
            })
            .collect()
    };
    // validate_only: checked, nothing written; a bad entry fails alone.
    let checked: AlterClientQuotasResponse = call(
        &broker,
        ApiKey::AlterClientQuotas,
        1,
        &alter(
            vec![
                entry("slow", &[("producer_byte_rate", 100.0, false)]),
                entry("bad", &[("producer_byte_rate", 1.5, false)]),
            ],
            true,
        ),
    )
    .await;
    let codes: Vec<i16> = checked.entries.iter().map(|e| e.error_code).collect();
    assert_eq!(codes, vec![0, ResponseError::InvalidRequest.code()]);
    assert_eq!(
        checked.entries[1].error_message.as_deref(),
        Some("producer_byte_rate cannot be a fractional value.")
    );
    let none: DescribeClientQuotasResponse =
        call(&broker, ApiKey::DescribeClientQuotas, 1, &describe).await;
    assert!(described(none).is_empty());
    // Written; the same entity twice is refused the second time.
    let done: AlterClientQuotasResponse = call(
        &broker,
        ApiKey::AlterClientQuotas,
        1,
        &alter(
            vec![
                entry("slow", &[("producer_byte_rate", 100.0, false)]),
                entry("slow", &[("consumer_byte_rate", 100.0, false)]),
            ],
            false,
        ),
    )
    .await;
    let codes: Vec<i16> = done.entries.iter().map(|e| e.error_code).collect();
    assert_eq!(codes, vec![0, ResponseError::InvalidRequest.code()]);
    let found: DescribeClientQuotasResponse =
        call(&broker, ApiKey::DescribeClientQuotas, 1, &describe).await;
    assert_eq!(
        described(found),
        vec![("slow".to_string(), "producer_byte_rate".to_string(), 100.0)]
    );
    // 100 B/s: a few produce requests of a few hundred bytes are over it.
    create(
        &broker,
        CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("q")))
            .with_num_partitions(1)
            .with_replication_factor(1),
    )
    .await;
    let mut throttled = 0;
    for _ in 0..5 {
        let batch = Bytes::from(testutil::simple(20, 0));
        let produce = ProduceRequest::default()
            .with_acks(1)
            .with_timeout_ms(5000)
            .with_topic_data(vec![
                TopicProduceData::default()
                    .with_name(TopicName(StrBytes::from_static_str("q")))
                    .with_partition_data(vec![
                        PartitionProduceData::default()
                            .with_index(0)
                            .with_records(Some(batch)),
                    ]),
            ]);
        let resp: ProduceResponse = call_as(&broker, ApiKey::Produce, 9, &produce, "slow").await;
        assert_eq!(resp.responses[0].partition_responses[0].error_code, 0);
        throttled = resp.throttle_time_ms;
    }
    assert!(throttled > 0);
}

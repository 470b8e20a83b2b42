//! DescribeQuorum (key 55, v0-v2): the controller quorum as its leader describes it
//! (`Quorum::describe`, asked of the leader wherever it runs, as a Kafka broker forwards
//! the request to its controller). The metadata log is Kafka's `__cluster_metadata-0`;
//! a request naming anything else gets UNKNOWN_TOPIC_OR_PARTITION for each partition it
//! names, as Kafka's Raft client answers. Every broker is a voter, so there are no observers.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_quorum_response::{
    Listener, Node, PartitionData, ReplicaState, TopicData,
};
use kafka_protocol::messages::{
    BrokerId, DescribeQuorumRequest, DescribeQuorumResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::controller::quorum::QuorumDescription;
use crate::protocol::Request;

/// The metadata log's topic, as Kafka names it.
const METADATA_TOPIC: &str = "__cluster_metadata";
/// The controller listener's name when `controller.listener.names` names none.
const DEFAULT_CONTROLLER_LISTENER: &str = "CONTROLLER";

pub async fn handle(
    broker: &Broker,
    req: &Request,
    msg: DescribeQuorumRequest,
) -> DescribeQuorumResponse {
    let names_the_log = matches!(&msg.topics[..], [t] if t.topic_name.as_str() == METADATA_TOPIC
        && matches!(&t.partitions[..], [p] if p.partition_index == 0));
    if !names_the_log {
        return partition_errors(&msg, ResponseError::UnknownTopicOrPartition);
    }
    match broker.metadata.quorum().describe().await {
        Ok(d) => {
            let listener = broker
                .config
                .controller_listener
                .as_ref()
                .map_or(DEFAULT_CONTROLLER_LISTENER, |l| l.name.as_str());
            described(&d, req.version, listener)
        }
        Err(e) => {
            log::info!("DescribeQuorum: no answer from the quorum leader: {e}");
            single_error(ResponseError::NotLeaderOrFollower)
        }
    }
}

fn described(d: &QuorumDescription, version: i16, listener: &str) -> DescribeQuorumResponse {
    let voters = d
        .voters
        .iter()
        .map(|v| {
            ReplicaState::default()
                .with_replica_id(BrokerId(v.replica_id))
                .with_log_end_offset(v.log_end_offset)
                .with_last_fetch_timestamp(v.last_fetch_ms)
                .with_last_caught_up_timestamp(v.last_caught_up_ms)
        })
        .collect();
    let partition = PartitionData::default()
        .with_partition_index(0)
        .with_error_message(None)
        .with_leader_id(BrokerId(d.leader_id))
        .with_leader_epoch(d.leader_epoch)
        .with_high_watermark(d.high_watermark)
        .with_current_voters(voters);
    let nodes = if version >= 2 {
        d.addresses
            .iter()
            .filter_map(|(id, addr)| {
                let (host, port) = addr.rsplit_once(':')?;
                let listener = Listener::default()
                    .with_name(StrBytes::from_string(listener.to_string()))
                    .with_host(StrBytes::from_string(host.to_string()))
                    .with_port(port.parse().ok()?);
                Some(
                    Node::default()
                        .with_node_id(BrokerId(*id))
                        .with_listeners(vec![listener]),
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    DescribeQuorumResponse::default()
        .with_error_message(None)
        .with_topics(vec![metadata_topic(vec![partition])])
        .with_nodes(nodes)
}

fn metadata_topic(partitions: Vec<PartitionData>) -> TopicData {
    TopicData::default()
        .with_topic_name(TopicName(StrBytes::from_static_str(METADATA_TOPIC)))
        .with_partitions(partitions)
}

/// `error` for the metadata log's one partition (Kafka's `singletonErrorResponse`).
fn single_error(error: ResponseError) -> DescribeQuorumResponse {
    let p = PartitionData::default()
        .with_error_code(error.code())
        .with_error_message(None)
        .with_leader_id(BrokerId(-1));
    DescribeQuorumResponse::default()
        .with_error_message(None)
        .with_topics(vec![metadata_topic(vec![p])])
}

/// `error` for every partition the request names.
fn partition_errors(msg: &DescribeQuorumRequest, error: ResponseError) -> DescribeQuorumResponse {
    let topics = msg
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    PartitionData::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(error.code())
                        .with_error_message(None)
                })
                .collect();
            TopicData::default()
                .with_topic_name(t.topic_name.clone())
                .with_partitions(partitions)
        })
        .collect();
    DescribeQuorumResponse::default()
        .with_error_message(None)
        .with_topics(topics)
}

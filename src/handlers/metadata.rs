//! Metadata (key 3): brokers, cluster id, controller, topics with partitions; auto-creation
//! (answered LEADER_NOT_AVAILABLE, as Kafka does, until the next request).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::errors;
use crate::broker::Broker;
use crate::controller::{TopicMeta, topic_name};
use crate::protocol::Request;

/// "Not requested" for authorized-operations fields.
pub(super) const OPS_NOT_REQUESTED: i32 = i32::MIN;
/// READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS: every topic
/// operation is allowed, as in Kafka without an authorizer.
pub(super) const TOPIC_OPS_ALL: i32 =
    (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 11);
/// Cluster operations allowed without an authorizer (CREATE, ALTER, DESCRIBE, CLUSTER_ACTION,
/// DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE).
pub(super) const CLUSTER_OPS_ALL: i32 =
    (1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12);

pub async fn handle(broker: &Broker, req: &Request, msg: MetadataRequest) -> MetadataResponse {
    let v = req.version;
    let topic_ops = if msg.include_topic_authorized_operations {
        TOPIC_OPS_ALL
    } else {
        OPS_NOT_REQUESTED
    };
    let topics = match msg.topics {
        // v0 uses an empty list for "all topics"; later versions use null.
        None => all_topics(broker, v),
        Some(t) if t.is_empty() && v == 0 => all_topics(broker, v),
        Some(requested) => {
            let auto_create =
                broker.config.auto_create_topics && (v < 4 || msg.allow_auto_topic_creation);
            let mut out = Vec::with_capacity(requested.len());
            for t in requested {
                out.push(match t.name {
                    Some(name) => by_name(broker, name.0.as_str(), auto_create, v).await,
                    None => by_id(broker, t.topic_id, v),
                });
            }
            out
        }
    };
    let cluster_id = (v >= 2).then(|| StrBytes::from_string(broker.metadata.cluster_id()));
    let controller_id = BrokerId(if v >= 1 {
        broker.reported_controller_id()
    } else {
        -1
    });
    let brokers = broker
        .live_brokers()
        .into_iter()
        .map(|b| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(b.id))
                .with_host(StrBytes::from_string(b.host))
                .with_port(b.port as i32)
        })
        .collect();
    MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(cluster_id)
        .with_controller_id(controller_id)
        .with_cluster_authorized_operations(if msg.include_cluster_authorized_operations {
            CLUSTER_OPS_ALL
        } else {
            OPS_NOT_REQUESTED
        })
        .with_topics(
            topics
                .into_iter()
                .map(|t| {
                    let t = t.with_topic_authorized_operations(topic_ops);
                    if v < 10 {
                        t.with_topic_id(Uuid::nil())
                    } else {
                        t
                    }
                })
                .collect(),
        )
}

fn all_topics(broker: &Broker, version: i16) -> Vec<MetadataResponseTopic> {
    broker
        .metadata
        .topics()
        .iter()
        .map(|t| describe(broker, t, version))
        .collect()
}

async fn by_name(
    broker: &Broker,
    name: &str,
    auto_create: bool,
    version: i16,
) -> MetadataResponseTopic {
    if let Some(meta) = broker.metadata.get(name) {
        return describe(broker, &meta, version);
    }
    let error = |code: ResponseError| {
        MetadataResponseTopic::default()
            .with_name(Some(TopicName(StrBytes::from_string(name.to_string()))))
            .with_error_code(code.code())
            .with_is_internal(topic_name::is_internal(name))
    };
    if topic_name::validate(name).is_err() {
        return error(ResponseError::InvalidTopicException);
    }
    if !auto_create {
        return error(ResponseError::UnknownTopicOrPartition);
    }
    // Kafka answers the request that creates a topic with LEADER_NOT_AVAILABLE and no
    // partitions; clients retry and see the topic in the next Metadata response.
    match broker.auto_create(name).await {
        Ok(_) => error(ResponseError::LeaderNotAvailable),
        Err(e) => {
            log::warn!("auto-creating topic {name} failed: {e}");
            error(errors::topic_error(&e))
        }
    }
}

fn by_id(broker: &Broker, id: Uuid, version: i16) -> MetadataResponseTopic {
    match broker.metadata.get_by_id(id) {
        Some(meta) if !id.is_nil() => describe(broker, &meta, version),
        _ => MetadataResponseTopic::default()
            .with_topic_id(id)
            .with_error_code(ResponseError::UnknownTopicId.code()),
    }
}

/// A topic as Metadata reports it: leaders, epochs, replicas, ISR and offline replicas.
/// Fields newer than the request's version are cleared by the caller.
pub(super) fn describe(broker: &Broker, meta: &TopicMeta, version: i16) -> MetadataResponseTopic {
    let state = broker.metadata.snapshot();
    let ids = |v: &[i32]| v.iter().map(|b| BrokerId(*b)).collect::<Vec<_>>();
    let partitions = meta
        .assignments
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let offline: Vec<i32> = p
                .replicas
                .iter()
                .copied()
                .filter(|r| !state.is_live(*r))
                .collect();
            let part = MetadataResponsePartition::default()
                .with_partition_index(i as i32)
                .with_leader_id(BrokerId(p.leader))
                .with_leader_epoch(if version >= 7 { p.leader_epoch } else { -1 })
                .with_replica_nodes(ids(&p.replicas))
                .with_isr_nodes(ids(&p.isr));
            let part = if version >= 5 {
                part.with_offline_replicas(ids(&offline))
            } else {
                part
            };
            if p.leader < 0 {
                part.with_error_code(ResponseError::LeaderNotAvailable.code())
            } else {
                part
            }
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(meta.name.clone()))))
        .with_topic_id(meta.id)
        .with_is_internal(topic_name::is_internal(&meta.name))
        .with_partitions(partitions)
}

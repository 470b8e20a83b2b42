//! FindCoordinator (key 10): a group's coordinator is the leader of its
//! `__consumer_offsets` partition (single keys up to v3, batched keys from v4). Creates
//! `__consumer_offsets` on first use, as Kafka does.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use super::groups::coordinator_loaded;
use crate::broker::Broker;
use crate::coordinator::OFFSETS_TOPIC;
use crate::protocol::Request;

const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;

/// (node id, host, port) of a coordinator, or Kafka's error with a message.
type Found = Result<(i32, String, u16), (ResponseError, String)>;

pub async fn handle(
    broker: &Broker,
    req: &Request,
    msg: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    if req.version >= 4 {
        let mut coordinators = Vec::with_capacity(msg.coordinator_keys.len());
        for key in &msg.coordinator_keys {
            let c = Coordinator::default().with_key(key.clone());
            coordinators.push(match find(broker, msg.key_type, key.as_str()).await {
                Ok((id, host, port)) => c
                    .with_node_id(BrokerId(id))
                    .with_host(StrBytes::from_string(host))
                    .with_port(port as i32)
                    .with_error_message(Some(StrBytes::from_static_str("NONE"))),
                Err((code, message)) => c
                    .with_node_id(BrokerId(-1))
                    .with_port(-1)
                    .with_error_code(code.code())
                    .with_error_message(Some(StrBytes::from_string(message))),
            });
        }
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    let resp = FindCoordinatorResponse::default();
    let with_message = |r: FindCoordinatorResponse, m: String| {
        if req.version >= 1 {
            r.with_error_message(Some(StrBytes::from_string(m)))
        } else {
            r
        }
    };
    match find(broker, msg.key_type, msg.key.as_str()).await {
        Ok((id, host, port)) => with_message(
            resp.with_node_id(BrokerId(id))
                .with_host(StrBytes::from_string(host))
                .with_port(port as i32),
            "NONE".into(),
        ),
        Err((code, message)) => with_message(
            resp.with_error_code(code.code())
                .with_node_id(BrokerId(-1))
                .with_port(-1),
            message,
        ),
    }
}

async fn find(broker: &Broker, key_type: i8, key: &str) -> Found {
    match key_type {
        KEY_TYPE_GROUP => {
            if key.is_empty() {
                return Err((
                    ResponseError::InvalidRequest,
                    "Group id must not be empty".into(),
                ));
            }
            broker.ensure_offsets_topic().await.map_err(|e| {
                log::error!("cannot create {OFFSETS_TOPIC}: {e}");
                (ResponseError::CoordinatorNotAvailable, e.to_string())
            })?;
            let partition = broker.groups.partition_of(key);
            let leader = broker
                .metadata
                .get(OFFSETS_TOPIC)
                .and_then(|t| t.assignments.get(partition as usize).map(|p| p.leader))
                .unwrap_or(-1);
            // This broker leads the group's partition but may still be loading it (the
            // topic was just created, or leadership just moved here): the answer waits,
            // bounded, for the load, so that the client's next group request is served
            // rather than refused with COORDINATOR_LOAD_IN_PROGRESS.
            if leader == broker.node_id() && coordinator_loaded(broker, key).await.is_err() {
                return Err((
                    ResponseError::CoordinatorNotAvailable,
                    "The coordinator is loading its offsets partition.".into(),
                ));
            }
            match broker.broker_endpoint(leader) {
                Some((host, port)) if leader >= 0 => Ok((leader, host, port)),
                _ => Err((
                    ResponseError::CoordinatorNotAvailable,
                    "The coordinator is not available.".into(),
                )),
            }
        }
        KEY_TYPE_TRANSACTION => Err((
            ResponseError::CoordinatorNotAvailable,
            "this broker runs no transaction coordinator".into(),
        )),
        other => Err((
            ResponseError::InvalidRequest,
            format!("Unknown coordinator key type {other}"),
        )),
    }
}

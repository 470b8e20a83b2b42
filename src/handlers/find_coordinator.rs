//! FindCoordinator (key 10): this broker coordinates every group (single keys up to v3,
//! batched keys from v4). Creates `__consumer_offsets` on first use, as Kafka does.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::protocol::Request;

const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;

pub async fn handle(
    broker: &Broker,
    req: &Request,
    msg: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    if req.version >= 4 {
        let coordinators = msg
            .coordinator_keys
            .iter()
            .map(|key| {
                let c = Coordinator::default().with_key(key.clone());
                match find(broker, msg.key_type, key.as_str()) {
                    Ok(()) => {
                        let e = broker.endpoint();
                        c.with_node_id(BrokerId(broker.node_id()))
                            .with_host(StrBytes::from_string(e.host.clone()))
                            .with_port(e.port as i32)
                            .with_error_message(Some(StrBytes::from_static_str("NONE")))
                    }
                    Err((code, message)) => c
                        .with_node_id(BrokerId(-1))
                        .with_port(-1)
                        .with_error_code(code.code())
                        .with_error_message(Some(StrBytes::from_string(message))),
                }
            })
            .collect();
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
    match find(broker, msg.key_type, msg.key.as_str()) {
        Ok(()) => {
            let e = broker.endpoint();
            let r = resp
                .with_node_id(BrokerId(broker.node_id()))
                .with_host(StrBytes::from_string(e.host.clone()))
                .with_port(e.port as i32);
            with_message(r, "NONE".into())
        }
        Err((code, message)) => with_message(
            resp.with_error_code(code.code())
                .with_node_id(BrokerId(-1))
                .with_port(-1),
            message,
        ),
    }
}

fn find(broker: &Broker, key_type: i8, key: &str) -> Result<(), (ResponseError, String)> {
    match key_type {
        KEY_TYPE_GROUP => {
            if key.is_empty() {
                return Err((
                    ResponseError::InvalidRequest,
                    "Group id must not be empty".into(),
                ));
            }
            broker.ensure_offsets_topic().map_err(|e| {
                log::error!("cannot create __consumer_offsets: {e}");
                (ResponseError::CoordinatorNotAvailable, e.to_string())
            })
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

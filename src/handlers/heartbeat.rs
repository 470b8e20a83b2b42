//! Heartbeat (key 12): keeps a member's session alive and tells it about rebalances.

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use super::errors;
use super::groups::{coordinator_loaded, now, opt_str};
use crate::broker::Broker;
use crate::protocol::Request;

pub async fn handle(broker: &Broker, _req: &Request, msg: HeartbeatRequest) -> HeartbeatResponse {
    let result = coordinator_loaded(broker, msg.group_id.0.as_str())
        .await
        .and_then(|()| {
            broker.groups.heartbeat(
                msg.group_id.0.as_str(),
                msg.member_id.as_str(),
                opt_str(&msg.group_instance_id).as_deref(),
                msg.generation_id,
                now(),
            )
        });
    HeartbeatResponse::default().with_error_code(errors::group_code(result.err().as_ref()))
}

//! SyncGroup (key 14): the leader hands out assignments; everyone receives theirs.

use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};
use kafka_protocol::protocol::StrBytes;

use super::errors;
use super::groups::{coordinator_loaded, now, opt_str};
use crate::broker::Broker;
use crate::coordinator::{GroupError, SyncParams, SyncResult};
use crate::protocol::Request;

pub async fn handle(broker: &Broker, req: &Request, msg: SyncGroupRequest) -> SyncGroupResponse {
    let result = match coordinator_loaded(broker, msg.group_id.0.as_str()).await {
        Err(e) => SyncResult {
            error: Some(e),
            ..Default::default()
        },
        Ok(()) => {
            let assignments = msg
                .assignments
                .iter()
                .map(|a| (a.member_id.as_str().to_string(), a.assignment.clone()))
                .collect();
            let params = SyncParams {
                member_id: msg.member_id.as_str().to_string(),
                group_instance_id: opt_str(&msg.group_instance_id),
                generation: msg.generation_id,
                protocol_type: opt_str(&msg.protocol_type),
                protocol_name: opt_str(&msg.protocol_name),
                assignments,
            };
            let rx = broker.groups.sync(msg.group_id.0.as_str(), params, now());
            let result = rx.await.unwrap_or_else(|_| SyncResult {
                error: Some(GroupError::CoordinatorNotAvailable),
                ..Default::default()
            });
            // Every member's assignment is answered once the group record holding it is
            // replicated (Kafka answers SyncGroup after that write, not before).
            match result.error {
                Some(_) => result,
                None => match broker.group_state_committed(msg.group_id.0.as_str()).await {
                    Ok(()) => result,
                    Err(e) => SyncResult {
                        error: Some(e),
                        ..Default::default()
                    },
                },
            }
        }
    };
    let resp = SyncGroupResponse::default()
        .with_error_code(errors::group_code(result.error.as_ref()))
        .with_assignment(result.assignment);
    if req.version >= 5 {
        resp.with_protocol_type(result.protocol_type.map(StrBytes::from_string))
            .with_protocol_name(result.protocol_name.map(StrBytes::from_string))
    } else {
        resp
    }
}

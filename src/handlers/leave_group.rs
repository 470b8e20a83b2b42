//! LeaveGroup (key 13): one member (v0–v2) or a batch of members (v3+).

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};
use kafka_protocol::protocol::StrBytes;

use super::errors;
use super::groups::{coordinator_loaded, now, opt_str};
use crate::broker::Broker;
use crate::protocol::Request;

pub async fn handle(broker: &Broker, req: &Request, msg: LeaveGroupRequest) -> LeaveGroupResponse {
    let members: Vec<(String, Option<String>)> = if req.version >= 3 {
        msg.members
            .iter()
            .map(|m| {
                (
                    m.member_id.as_str().to_string(),
                    opt_str(&m.group_instance_id),
                )
            })
            .collect()
    } else {
        vec![(msg.member_id.as_str().to_string(), None)]
    };
    let result = coordinator_loaded(broker, msg.group_id.0.as_str())
        .await
        .and_then(|()| {
            broker
                .groups
                .leave(msg.group_id.0.as_str(), &members, now())
        });
    let result = match result {
        Ok(r) => broker
            .group_state_committed(msg.group_id.0.as_str())
            .await
            .map(|()| r),
        Err(e) => Err(e),
    };
    let resp = LeaveGroupResponse::default();
    match result {
        Err(e) => resp.with_error_code(errors::group_error(&e).code()),
        Ok(results) if req.version < 3 => resp.with_error_code(errors::group_code(
            results.into_iter().next().and_then(|r| r.err()).as_ref(),
        )),
        Ok(results) => resp.with_members(
            members
                .into_iter()
                .zip(results)
                .map(|((id, instance), r)| {
                    MemberResponse::default()
                        .with_member_id(StrBytes::from_string(id))
                        .with_group_instance_id(instance.map(StrBytes::from_string))
                        .with_error_code(errors::group_code(r.err().as_ref()))
                })
                .collect(),
        ),
    }
}

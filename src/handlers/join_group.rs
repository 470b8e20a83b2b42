//! JoinGroup (key 11): waits for the rebalance, then answers with the generation.

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};
use kafka_protocol::protocol::StrBytes;

use super::errors;
use super::groups::{coordinator_loaded, now, opt_str};
use crate::broker::Broker;
use crate::coordinator::{GroupError, JoinParams, JoinResult};
use crate::protocol::Request;

pub async fn handle(broker: &Broker, req: &Request, msg: JoinGroupRequest) -> JoinGroupResponse {
    let v = req.version;
    if let Err(e) = coordinator_loaded(broker, msg.group_id.0.as_str()).await {
        return response(v, JoinResult::error(msg.member_id.as_str(), e));
    }
    let params = JoinParams {
        member_id: msg.member_id.as_str().to_string(),
        group_instance_id: opt_str(&msg.group_instance_id),
        client_id: req
            .header
            .client_id
            .as_ref()
            .map(|c| c.as_str().to_string())
            .unwrap_or_default(),
        client_host: req.client_host.clone(),
        session_timeout_ms: msg.session_timeout_ms,
        // v0 has no rebalance timeout: Kafka uses the session timeout.
        rebalance_timeout_ms: if v >= 1 {
            msg.rebalance_timeout_ms
        } else {
            msg.session_timeout_ms
        },
        protocol_type: msg.protocol_type.as_str().to_string(),
        protocols: msg
            .protocols
            .iter()
            .map(|p| (p.name.as_str().to_string(), p.metadata.clone()))
            .collect(),
        require_known_member_id: v >= 4,
        initial_delay_ms: broker.groups.config().initial_rebalance_delay_ms,
    };
    let rx = broker.groups.join(msg.group_id.0.as_str(), params, now());
    let mut result = rx.await.unwrap_or_else(|_| {
        JoinResult::error(msg.member_id.as_str(), GroupError::CoordinatorNotAvailable)
    });
    // The generation it hands out is answered once its group record is replicated.
    if result.error.is_none()
        && let Err(e) = broker.group_state_committed(msg.group_id.0.as_str()).await
    {
        result = JoinResult::error(&result.member_id, e);
    }
    response(v, result)
}

fn response(v: i16, r: JoinResult) -> JoinGroupResponse {
    let resp = JoinGroupResponse::default()
        .with_error_code(errors::group_code(r.error.as_ref()))
        .with_generation_id(r.generation_id)
        .with_leader(StrBytes::from_string(r.leader))
        .with_member_id(StrBytes::from_string(r.member_id))
        .with_members(
            r.members
                .into_iter()
                .map(|(id, instance, metadata)| {
                    let m = JoinGroupResponseMember::default()
                        .with_member_id(StrBytes::from_string(id))
                        .with_metadata(metadata);
                    if v >= 5 {
                        m.with_group_instance_id(instance.map(StrBytes::from_string))
                    } else {
                        m
                    }
                })
                .collect(),
        );
    // protocol_name is non-nullable before v7, and protocol_type exists from v7.
    if v >= 7 {
        resp.with_protocol_type(r.protocol_type.map(StrBytes::from_string))
            .with_protocol_name(r.protocol_name.map(StrBytes::from_string))
    } else {
        resp.with_protocol_name(Some(StrBytes::from_string(
            r.protocol_name.unwrap_or_default(),
        )))
    }
}

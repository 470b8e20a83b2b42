//! DescribeGroups (key 15): state, protocol and members with their assignments.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use super::errors;
use super::groups::coordinator_ready;
use super::metadata::OPS_NOT_REQUESTED;
use crate::broker::Broker;
use crate::protocol::Request;

/// READ, DELETE, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS: every group operation, as
/// Kafka 4.0 without an authorizer reports them (3400, seen from the live broker).
const GROUP_OPS_ALL: i32 = (1 << 3) | (1 << 6) | (1 << 8) | (1 << 10) | (1 << 11);

pub async fn handle(
    broker: &Broker,
    req: &Request,
    msg: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let v = req.version;
    let ops = if msg.include_authorized_operations {
        GROUP_OPS_ALL
    } else {
        OPS_NOT_REQUESTED
    };
    let groups = msg
        .groups
        .iter()
        .map(|id| {
            let base = DescribedGroup::default()
                .with_group_id(id.clone())
                .with_authorized_operations(if v >= 3 { ops } else { OPS_NOT_REQUESTED });
            if let Err(e) = coordinator_ready(broker, id.0.as_str()) {
                return base.with_error_code(errors::group_error(&e).code());
            }
            let Some(g) = broker.groups.describe(id.0.as_str()) else {
                let dead = base.with_group_state(StrBytes::from_static_str("Dead"));
                // Kafka 4.0 answers v6+ with GROUP_ID_NOT_FOUND, older versions with Dead.
                return if v >= 6 {
                    dead.with_error_code(ResponseError::GroupIdNotFound.code())
                        .with_error_message(Some(StrBytes::from_string(format!(
                            "Group {} not found.",
                            id.0.as_str()
                        ))))
                } else {
                    dead
                };
            };
            base.with_group_state(StrBytes::from_static_str(g.state.as_str()))
                .with_protocol_type(StrBytes::from_string(g.protocol_type))
                .with_protocol_data(StrBytes::from_string(g.protocol))
                .with_members(
                    g.members
                        .into_iter()
                        .map(|m| {
                            let member = DescribedGroupMember::default()
                                .with_member_id(StrBytes::from_string(m.member_id))
                                .with_client_id(StrBytes::from_string(m.client_id))
                                .with_client_host(StrBytes::from_string(m.client_host))
                                .with_member_metadata(m.metadata)
                                .with_member_assignment(m.assignment);
                            if v >= 4 {
                                member.with_group_instance_id(
                                    m.instance_id.map(StrBytes::from_string),
                                )
                            } else {
                                member
                            }
                        })
                        .collect(),
                )
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}

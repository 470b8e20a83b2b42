//! ListGroups (key 16): every group, filtered by state (v4+) and type (v5+).

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::protocol::Request;

/// vltava's groups all use the classic protocol.
const GROUP_TYPE: &str = "classic";

pub async fn handle(broker: &Broker, req: &Request, msg: ListGroupsRequest) -> ListGroupsResponse {
    let v = req.version;
    let states: Vec<String> = msg
        .states_filter
        .iter()
        .map(|s| s.as_str().to_lowercase())
        .collect();
    let types: Vec<String> = msg
        .types_filter
        .iter()
        .map(|s| s.as_str().to_lowercase())
        .collect();
    let groups = broker
        .groups
        .list()
        .into_iter()
        .filter(|(_, _, state)| {
            states.is_empty() || states.contains(&state.as_str().to_lowercase())
        })
        .filter(|_| types.is_empty() || types.iter().any(|t| t == GROUP_TYPE))
        .map(|(id, protocol_type, state)| {
            let g = ListedGroup::default()
                .with_group_id(GroupId(StrBytes::from_string(id)))
                .with_protocol_type(StrBytes::from_string(protocol_type));
            let g = if v >= 4 {
                g.with_group_state(StrBytes::from_static_str(state.as_str()))
            } else {
                g
            };
            if v >= 5 {
                g.with_group_type(StrBytes::from_static_str(GROUP_TYPE))
            } else {
                g
            }
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}

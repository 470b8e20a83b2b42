//! DeleteGroups (key 42): removes empty groups and their offsets.

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use super::errors;
use super::groups::{coordinator_ready, now};
use crate::broker::Broker;
use crate::protocol::Request;

pub async fn handle(
    broker: &Broker,
    _req: &Request,
    msg: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    // Every group's tombstones are written first; then one wait, one deadline.
    let marks = msg
        .groups_names
        .iter()
        .map(|g| {
            coordinator_ready(broker, g.0.as_str())
                .and_then(|()| broker.groups.delete_group(g.0.as_str(), now()))
        })
        .collect();
    let outcomes = broker.group_writes_committed(marks).await;
    let results = msg
        .groups_names
        .iter()
        .zip(outcomes)
        .map(|(g, r)| {
            DeletableGroupResult::default()
                .with_group_id(g.clone())
                .with_error_code(errors::group_code(r.err().as_ref()))
        })
        .collect();
    DeleteGroupsResponse::default().with_results(results)
}

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
    let mut results = Vec::with_capacity(msg.groups_names.len());
    for g in &msg.groups_names {
        let r = coordinator_ready(broker, g.0.as_str())
            .and_then(|()| broker.groups.delete_group(g.0.as_str(), now()));
        let r = match r {
            Ok(mark) => broker.group_write_committed(mark).await,
            Err(e) => Err(e),
        };
        results.push(
            DeletableGroupResult::default()
                .with_group_id(g.clone())
                .with_error_code(errors::group_code(r.err().as_ref())),
        );
    }
    DeleteGroupsResponse::default().with_results(results)
}

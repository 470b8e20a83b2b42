//! Helpers shared by the group handlers.

use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::coordinator::GroupError;

/// This broker coordinates `group` when it leads the group's `__consumer_offsets`
/// partition and has loaded it. While it leads the partition but has not loaded it yet
/// (just elected, or the topic just created) the answer is COORDINATOR_LOAD_IN_PROGRESS,
/// which clients retry, as Kafka answers during a load; otherwise the client must ask
/// FindCoordinator again.
pub(super) fn coordinator_ready(broker: &Broker, group: &str) -> Result<(), GroupError> {
    let Some(meta) = broker.metadata.get(crate::coordinator::OFFSETS_TOPIC) else {
        return Err(GroupError::CoordinatorNotAvailable);
    };
    if broker.groups.owns(group) {
        return Ok(());
    }
    let partition = broker.groups.partition_of(group);
    let leads = meta
        .assignments
        .get(partition as usize)
        .is_some_and(|p| p.leader == broker.node_id());
    Err(if leads {
        GroupError::CoordinatorLoadInProgress
    } else {
        GroupError::NotCoordinator
    })
}

pub(super) fn now() -> i64 {
    crate::broker::now_ms()
}

pub(super) fn opt_str(s: &Option<StrBytes>) -> Option<String> {
    s.as_ref().map(|s| s.as_str().to_string())
}

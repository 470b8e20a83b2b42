//! Helpers shared by the group handlers.

use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::coordinator::GroupError;

/// This broker coordinates `group` when it leads the group's `__consumer_offsets`
/// partition and has loaded it; otherwise the client must ask FindCoordinator again.
pub(super) fn coordinator_ready(broker: &Broker, group: &str) -> Result<(), GroupError> {
    if broker
        .metadata
        .get(crate::coordinator::OFFSETS_TOPIC)
        .is_none()
    {
        return Err(GroupError::CoordinatorNotAvailable);
    }
    if !broker.groups.owns(group) {
        return Err(GroupError::NotCoordinator);
    }
    Ok(())
}

pub(super) fn now() -> i64 {
    crate::broker::now_ms()
}

pub(super) fn opt_str(s: &Option<StrBytes>) -> Option<String> {
    s.as_ref().map(|s| s.as_str().to_string())
}

//! Helpers shared by the group handlers.

use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::coordinator::GroupError;

/// The coordinator needs `__consumer_offsets`; clients that skipped FindCoordinator get
/// it created here too.
pub(super) fn coordinator_ready(broker: &Broker) -> Result<(), GroupError> {
    broker.ensure_offsets_topic().map_err(|e| {
        log::error!("cannot create __consumer_offsets: {e}");
        GroupError::CoordinatorNotAvailable
    })
}

pub(super) fn now() -> i64 {
    crate::broker::now_ms()
}

pub(super) fn opt_str(s: &Option<StrBytes>) -> Option<String> {
    s.as_ref().map(|s| s.as_str().to_string())
}

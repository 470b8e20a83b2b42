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

/// How long a group request waits for this broker to finish loading the group's
/// partition before answering COORDINATOR_LOAD_IN_PROGRESS.
const LOAD_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// [`coordinator_ready`], but a load in progress is waited for, bounded: Kafka loads an
/// empty or small partition at once, and librdkafka does not retry a synchronous commit
/// refused with COORDINATOR_LOAD_IN_PROGRESS (a commit right after `__consumer_offsets`
/// was created would fail).
pub(super) async fn coordinator_loaded(broker: &Broker, group: &str) -> Result<(), GroupError> {
    let deadline = tokio::time::Instant::now() + LOAD_WAIT;
    loop {
        match coordinator_ready(broker, group) {
            Err(GroupError::CoordinatorLoadInProgress)
                if tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            other => return other,
        }
    }
}

pub(super) fn now() -> i64 {
    crate::broker::now_ms()
}

pub(super) fn opt_str(s: &Option<StrBytes>) -> Option<String> {
    s.as_ref().map(|s| s.as_str().to_string())
}

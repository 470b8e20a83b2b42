//! OffsetForLeaderEpoch (key 23): where a leader epoch ends in the leader's log, so a
//! follower (or a client validating its position) can truncate diverged history.

use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use crate::broker::Broker;
use crate::protocol::Request;

pub async fn handle(
    broker: &Broker,
    _req: &Request,
    msg: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let topics = msg
        .topics
        .into_iter()
        .map(|t| {
            let name = t.topic.0.as_str().to_string();
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    let r = EpochEndOffset::default().with_partition(p.partition);
                    let (log, epoch) = match broker.leader_log(&name, p.partition) {
                        Ok(l) => l,
                        Err(e) => {
                            return r
                                .with_error_code(super::replica_error(e).code())
                                .with_leader_epoch(-1)
                                .with_end_offset(-1);
                        }
                    };
                    if let Some(e) = super::check_leader_epoch(p.current_leader_epoch, epoch) {
                        return r
                            .with_error_code(e.code())
                            .with_leader_epoch(-1)
                            .with_end_offset(-1);
                    }
                    let (leader_epoch, end_offset) = log.end_offset_for_epoch(p.leader_epoch);
                    r.with_leader_epoch(leader_epoch)
                        .with_end_offset(end_offset)
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(t.topic)
                .with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}

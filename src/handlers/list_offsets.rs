//! ListOffsets (key 2): earliest, latest, by timestamp, max timestamp, earliest local,
//! latest tiered (there is no tiered storage, so it has no offset).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use super::errors;
use crate::broker::Broker;
use crate::protocol::Request;
use crate::storage::PartitionLog;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const LATEST_TIERED: i64 = -5;

pub async fn handle(
    broker: &Broker,
    req: &Request,
    msg: ListOffsetsRequest,
) -> ListOffsetsResponse {
    let topics = msg
        .topics
        .into_iter()
        .map(|t| {
            let name = t.name.0.as_str().to_string();
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    let resp = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index);
                    let (log, epoch) = match broker.leader_log(&name, p.partition_index) {
                        Ok(l) => l,
                        Err(e) => return fail(resp, super::replica_error(e)),
                    };
                    if let Some(e) = super::check_leader_epoch(p.current_leader_epoch, epoch) {
                        return fail(resp, e);
                    }
                    lookup(&log, epoch, p.timestamp, req.version, resp)
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

fn lookup(
    log: &PartitionLog,
    leader_epoch: i32,
    timestamp: i64,
    version: i16,
    resp: ListOffsetsPartitionResponse,
) -> ListOffsetsPartitionResponse {
    let found = |offset: i64, ts: i64| {
        let r = resp.clone().with_offset(offset).with_timestamp(ts);
        if version >= 4 && offset >= 0 {
            r.with_leader_epoch(leader_epoch)
        } else {
            r
        }
    };
    match timestamp {
        // Consumers see the log up to the high watermark.
        LATEST => found(log.high_watermark(), -1),
        EARLIEST => found(log.log_start_offset(), -1),
        EARLIEST_LOCAL if version >= 8 => found(log.log_start_offset(), -1),
        LATEST_TIERED if version >= 9 => found(-1, -1),
        MAX_TIMESTAMP if version >= 7 => match log.max_timestamp_offset() {
            Ok(Some((offset, ts))) => found(offset, ts),
            Ok(None) => found(-1, -1),
            Err(e) => fail(resp, errors::storage_error(&e)),
        },
        ts if ts >= 0 => match log.offset_for_timestamp(ts) {
            Ok(Some((offset, ts))) => found(offset, ts),
            Ok(None) => found(-1, -1),
            Err(e) => fail(resp, errors::storage_error(&e)),
        },
        _ => fail(resp, ResponseError::InvalidRequest),
    }
}

fn fail(resp: ListOffsetsPartitionResponse, code: ResponseError) -> ListOffsetsPartitionResponse {
    // The leader epoch stays at its default (-1), which every version can carry.
    resp.with_error_code(code.code())
        .with_offset(-1)
        .with_timestamp(-1)
}

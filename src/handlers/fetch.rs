//! Fetch (key 1): stored batches returned as they are (large ones sent from the segment
//! file, see `protocol::frame`), long polling on min_bytes / max_wait_ms, max_bytes and
//! partition_max_bytes, topic ids from v13.
//!
//! Fetch sessions: every full fetch (session epoch 0, or -1 for a sessionless fetch,
//! whatever session id it names, as in Kafka's `FetchManager`) is answered as a full
//! response with session id 0 (no session is created), which clients accept; an
//! incremental fetch gets FETCH_SESSION_ID_NOT_FOUND, as from a Kafka broker whose
//! session cache is empty.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::{
    FetchableTopicResponse, LeaderIdAndEpoch, NodeEndpoint, PartitionData,
};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use tokio::time::Instant;
use uuid::Uuid;

use super::errors;
use crate::broker::{Broker, now_ms};
use crate::protocol::frame::FileParts;
use crate::protocol::{Request, validate};
use crate::replication::purgatory;
use crate::storage::{PartitionLog, StorageError};

/// One partition a fetch reads from, resolved once.
struct Target {
    topic_index: usize,
    partition: i32,
    fetch_offset: i64,
    max_bytes: i32,
    log: Result<Arc<PartitionLog>, ResponseError>,
}

/// Stored batches of at least this many bytes are sent from the segment file
/// (`sendfile`); smaller ones are copied into the response, which costs less than the
/// extra system calls.
const SEND_FROM_FILE_MIN: usize = 32 * 1024;

/// The response, and the file slices its `records` placeholders stand for.
pub async fn handle(
    broker: &Broker,
    req: &Request,
    msg: FetchRequest,
) -> (FetchResponse, FileParts) {
    let v = req.version;
    let full_fetch = msg.session_epoch == 0 || msg.session_epoch == -1;
    if !full_fetch {
        let resp = FetchResponse::default()
            .with_error_code(ResponseError::FetchSessionIdNotFound.code())
            .with_session_id(0);
        return (resp, FileParts::default());
    }
    let replica_id = if v >= 15 {
        msg.replica_state.replica_id.0
    } else {
        msg.replica_id.0
    };
    // Topics in response order, each with the name/id the client used.
    let mut topics: Vec<(TopicName, Uuid)> = Vec::with_capacity(msg.topics.len());
    let mut targets = Vec::new();
    for t in &msg.topics {
        let meta = if v >= 13 {
            broker
                .metadata
                .get_by_id(t.topic_id)
                .filter(|_| !t.topic_id.is_nil())
        } else {
            broker.metadata.get(t.topic.0.as_str())
        };
        let unknown = if v >= 13 {
            ResponseError::UnknownTopicId
        } else {
            ResponseError::UnknownTopicOrPartition
        };
        let topic_index = topics.len();
        topics.push((t.topic.clone(), t.topic_id));
        for p in &t.partitions {
            let log = match &meta {
                None => Err(unknown),
                Some(m) => match broker.leader_log(&m.name, p.partition) {
                    Err(e) => Err(super::replica_error(e)),
                    Ok((log, epoch)) => {
                        match super::check_leader_epoch(p.current_leader_epoch, epoch) {
                            Some(e) => Err(e),
                            None if replica_id >= 0 => broker
                                .replicas
                                .on_follower_fetch(
                                    &m.name,
                                    p.partition,
                                    replica_id,
                                    p.fetch_offset,
                                    now_ms(),
                                )
                                .map(|()| log)
                                .map_err(super::replica_error),
                            None => Ok(log),
                        }
                    }
                },
            };
            targets.push(Target {
                topic_index,
                partition: p.partition,
                fetch_offset: p.fetch_offset,
                max_bytes: p.partition_max_bytes,
                log,
            });
        }
    }

    // Subscribe before the first read so no append between read and wait is missed.
    // Followers read up to the log end, consumers up to the high watermark.
    let follower = replica_id >= 0;
    let mut watches: Vec<_> = targets
        .iter()
        .filter_map(|t| {
            t.log.as_ref().ok().map(|l| {
                if follower {
                    l.subscribe()
                } else {
                    l.subscribe_high_watermark()
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_millis(msg.max_wait_ms.max(0) as u64);
    let min_bytes = msg.min_bytes.max(0) as usize;
    let max_bytes = if msg.max_bytes <= 0 {
        i32::MAX as usize
    } else {
        msg.max_bytes as usize
    };
    loop {
        let (partitions, files, total, any_error) =
            read_all(&targets, max_bytes, msg.isolation_level, v, follower);
        let done = total >= min_bytes
            || any_error
            || Instant::now() >= deadline
            || msg.max_wait_ms <= 0
            || !purgatory::wait_any(&mut watches, deadline).await;
        if done || Instant::now() >= deadline {
            // Only from v12 do answers name leaders: keep the topics' names and ids then.
            let named = (v >= 12).then(|| {
                let names: Vec<String> = topics
                    .iter()
                    .map(|(n, _)| n.0.as_str().to_string())
                    .collect();
                let ids: Vec<Uuid> = topics.iter().map(|(_, id)| *id).collect();
                (names, ids)
            });
            let mut resp = build(v, topics, partitions);
            if let Some((names, ids)) = named {
                name_current_leaders(broker, &mut resp, &names, &ids, v);
            }
            return (resp, files);
        }
    }
}

/// Reads every target once; returns the partition data, the file slices it refers to,
/// total bytes, and whether any partition has an error (Kafka answers at once then).
fn read_all(
    targets: &[Target],
    max_bytes: usize,
    isolation_level: i8,
    version: i16,
    follower: bool,
) -> (Vec<(usize, PartitionData)>, FileParts, usize, bool) {
    let mut files = FileParts::default();
    let mut total = 0usize;
    let mut any_error = false;
    let mut out = Vec::with_capacity(targets.len());
    for t in targets {
        // Kafka answers read_committed fetches with an empty aborted-transaction list and
        // read_uncommitted ones with null.
        let data = PartitionData::default()
            .with_partition_index(t.partition)
            .with_preferred_read_replica(BrokerId(-1))
            .with_aborted_transactions((isolation_level == 1).then(Vec::new));
        let data = match &t.log {
            Err(code) => {
                any_error = true;
                error(data, *code)
            }
            Ok(log) => {
                let hw = log.high_watermark();
                let upto = if follower { log.log_end_offset() } else { hw };
                let start = log.log_start_offset();
                let data = data
                    .with_high_watermark(hw)
                    .with_last_stable_offset(hw)
                    .with_log_start_offset(start);
                let budget = (t.max_bytes.max(0) as usize).min(max_bytes.saturating_sub(total));
                // The first partition with data may exceed the limits by one batch (KIP-74).
                let min_one = total == 0;
                match records(
                    log,
                    t.fetch_offset,
                    budget,
                    min_one,
                    upto,
                    version,
                    &mut files,
                ) {
                    // Fetch before v10 cannot carry zstd batches; Kafka 4.0 no longer
                    // down-converts, it answers UNSUPPORTED_COMPRESSION_TYPE.
                    Ok(bytes) if version < 10 && has_zstd(&bytes) => {
                        any_error = true;
                        error(data, ResponseError::UnsupportedCompressionType)
                    }
                    Ok(bytes) => {
                        total += bytes.len();
                        data.with_records(Some(bytes))
                    }
                    Err(e) => {
                        any_error = true;
                        error(data, errors::storage_error(&e))
                    }
                }
            }
        };
        // log_start_offset only exists from v5; -1 is its default.
        let data = if version < 5 {
            data.with_log_start_offset(-1)
        } else {
            data
        };
        out.push((t.topic_index, data));
    }
    (out, files, total, any_error)
}

/// The records to answer with: read into memory when small or when the version needs
/// the bytes checked (zstd before v10), otherwise a placeholder of a file slice.
fn records(
    log: &PartitionLog,
    offset: i64,
    max_bytes: usize,
    min_one: bool,
    max_offset: i64,
    version: i16,
    files: &mut FileParts,
) -> Result<Bytes, StorageError> {
    let Some(slice) = log.read_slice(offset, max_bytes, min_one, max_offset)? else {
        return Ok(Bytes::new());
    };
    if version < 10 || slice.len() < SEND_FROM_FILE_MIN {
        return Ok(slice.read()?);
    }
    files.add(slice).or_else(|slice| Ok(slice.read()?))
}

fn has_zstd(bytes: &[u8]) -> bool {
    crate::format::batch::walk_headers(bytes)
        .map(|hs| hs.iter().any(|(_, h)| h.compression_id() == validate::ZSTD))
        .unwrap_or(false)
}

/// A partition answered with an error, as Kafka 4.0 answers it: no offsets (-1), empty
/// records. A partition the cluster does not know is refused before any read, and Kafka
/// leaves its aborted-transaction list at the message default (empty); an error from the
/// read itself (offset out of range, not the leader, a storage error) carries null.
fn error(data: PartitionData, code: ResponseError) -> PartitionData {
    let unknown = matches!(
        code,
        ResponseError::UnknownTopicOrPartition | ResponseError::UnknownTopicId
    );
    data.with_error_code(code.code())
        .with_records(Some(Bytes::new()))
        .with_high_watermark(-1)
        .with_last_stable_offset(-1)
        .with_log_start_offset(-1)
        .with_aborted_transactions(if unknown { Some(Vec::new()) } else { None })
}

fn build(
    version: i16,
    topics: Vec<(TopicName, Uuid)>,
    partitions: Vec<(usize, PartitionData)>,
) -> FetchResponse {
    let mut responses: Vec<FetchableTopicResponse> = topics
        .into_iter()
        .map(|(name, id)| {
            let r = FetchableTopicResponse::default();
            if version >= 13 {
                r.with_topic_id(id)
            } else {
                r.with_topic(name)
            }
        })
        .collect();
    for (i, p) in partitions {
        responses[i].partitions.push(p);
    }
    FetchResponse::default()
        .with_session_id(0)
        .with_responses(responses)
}

/// From v12 a NOT_LEADER_OR_FOLLOWER partition names the current leader (KIP-951), and
/// from v16 the response carries that leader's endpoint.
fn name_current_leaders(
    broker: &Broker,
    resp: &mut FetchResponse,
    names: &[String],
    ids: &[Uuid],
    v: i16,
) {
    let state = broker.metadata.snapshot();
    let mut leaders = Vec::new();
    for (i, t) in resp.responses.iter_mut().enumerate() {
        let topic = if v >= 13 {
            state.topics.values().find(|x| Some(&x.id) == ids.get(i))
        } else {
            names.get(i).and_then(|n| state.topics.get(n))
        };
        let Some(topic) = topic else { continue };
        for p in t.partitions.iter_mut() {
            if p.error_code != ResponseError::NotLeaderOrFollower.code() {
                continue;
            }
            if let Some(info) = topic.partitions.get(p.partition_index as usize)
                && info.leader >= 0
            {
                p.current_leader = LeaderIdAndEpoch::default()
                    .with_leader_id(BrokerId(info.leader))
                    .with_leader_epoch(info.leader_epoch);
                leaders.push(info.leader);
            }
        }
    }
    if v >= 16 {
        leaders.sort_unstable();
        leaders.dedup();
        resp.node_endpoints = leaders
            .into_iter()
            .filter_map(|id| {
                state.brokers.get(&id).map(|b| {
                    NodeEndpoint::default()
                        .with_node_id(BrokerId(id))
                        .with_host(StrBytes::from_string(b.host.clone()))
                        .with_port(b.port as i32)
                })
            })
            .collect();
    }
}

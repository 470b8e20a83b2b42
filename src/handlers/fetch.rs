//! Fetch (key 1): decode, [`ReplicaManager::fetch_records`] (leadership, follower
//! bookkeeping, the long poll on min_bytes / max_wait_ms, max_bytes and
//! partition_max_bytes), encode: stored batches returned as they are (large ones sent
//! from the segment file, see `protocol::frame`), topic ids from v13.
//!
//! Fetch sessions: every full fetch (session epoch 0, or -1 for a sessionless fetch,
//! whatever session id it names, as in Kafka's `FetchManager`) is answered as a full
//! response with session id 0 (no session is created), which clients accept; an
//! incremental fetch gets FETCH_SESSION_ID_NOT_FOUND, as from a Kafka broker whose
//! session cache is empty.
//!
//! [`ReplicaManager::fetch_records`]: crate::replication::manager::ReplicaManager

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::{
    FetchableTopicResponse, LeaderIdAndEpoch, NodeEndpoint, PartitionData,
};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::errors;
use crate::broker::{Broker, QuotaKind, now_ms};
use crate::format::file_slice::FileSlice;
use crate::protocol::frame::FileParts;
use crate::protocol::{Request, validate};
use crate::replication::read::{FetchParams, FetchTarget, PartitionRead, ReadError};

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
    // Topics in response order, each with the name/id the client used; each partition
    // is a target of the read, or refused here when the cluster does not know its topic.
    let mut topics: Vec<(TopicName, Uuid)> = Vec::with_capacity(msg.topics.len());
    let mut slots: Vec<(usize, i32, Result<(), ResponseError>)> = Vec::new();
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
            let slot = match &meta {
                None => Err(unknown),
                Some(m) => {
                    targets.push(FetchTarget {
                        topic: m.name.clone(),
                        partition: p.partition,
                        fetch_offset: p.fetch_offset,
                        max_bytes: p.partition_max_bytes.max(0) as usize,
                        current_leader_epoch: p.current_leader_epoch,
                        log_start_offset: p.log_start_offset,
                    });
                    Ok(())
                }
            };
            slots.push((topic_index, p.partition, slot));
        }
    }
    // A refused partition answers the fetch at once, as any error does.
    let any_unknown = slots.iter().any(|(_, _, s)| s.is_err());
    // A consumer under a byte-rate quota fetches at most what its quota allows in one
    // window (Kafka's getMaxValueInQuotaWindow); followers are never limited.
    let quotas = broker.metadata.snapshot();
    let quotas = &quotas.client_quotas;
    let consumer = replica_id < 0;
    let cap = if consumer {
        broker.quotas.fetch_cap(quotas, super::client_id(req))
    } else {
        None
    };
    let params = FetchParams {
        follower: (replica_id >= 0).then_some(replica_id),
        min_bytes: msg.min_bytes.max(0) as usize,
        max_bytes: if msg.max_bytes <= 0 {
            i32::MAX as usize
        } else {
            msg.max_bytes as usize
        }
        .min(cap.unwrap_or(usize::MAX)),
        max_wait: if any_unknown {
            Duration::ZERO
        } else {
            Duration::from_millis(msg.max_wait_ms.max(0) as u64)
        },
    };
    let reads = broker
        .replicas
        .fetch_records(&targets, params, now_ms())
        .await;
    // Over its quota, a consumer gets nothing but the time to wait, and the bytes it was
    // not sent do not count (Kafka's throttled fetch response).
    if consumer && !quotas.is_empty() {
        let size: usize = reads
            .iter()
            .filter_map(|r| r.as_ref().ok()?.records.as_ref().map(|s| s.len()))
            .sum();
        let (client, now) = (super::client_id(req), now_ms());
        let throttle = broker
            .quotas
            .record(quotas, QuotaKind::Fetch, client, size as f64, now);
        if throttle > 0 {
            broker
                .quotas
                .unrecord(quotas, QuotaKind::Fetch, client, size as f64, now);
            let resp = FetchResponse::default()
                .with_throttle_time_ms(throttle.min(i32::MAX as u64) as i32)
                .with_session_id(0);
            return (resp, FileParts::default());
        }
    }

    let mut reads = reads.into_iter();
    let mut files = FileParts::default();
    let mut partitions = Vec::with_capacity(slots.len());
    for (topic_index, partition, slot) in slots {
        // Kafka answers read_committed fetches with an empty aborted-transaction list and
        // read_uncommitted ones with null.
        let data = PartitionData::default()
            .with_partition_index(partition)
            .with_preferred_read_replica(BrokerId(-1))
            .with_aborted_transactions((msg.isolation_level == 1).then(Vec::new));
        let data = match slot.map(|()| reads.next()) {
            Err(code) => error(data, code),
            Ok(Some(read)) => answer(data, read, v, &mut files),
            // One read per target, in order.
            Ok(None) => error(data, ResponseError::UnknownServerError),
        };
        // log_start_offset only exists from v5; -1 is its default.
        let data = if v < 5 {
            data.with_log_start_offset(-1)
        } else {
            data
        };
        partitions.push((topic_index, data));
    }
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
    (resp, files)
}

/// One partition's answer from its read.
fn answer(
    data: PartitionData,
    read: Result<PartitionRead, ReadError>,
    version: i16,
    files: &mut FileParts,
) -> PartitionData {
    let read = match read {
        Ok(read) => read,
        Err(ReadError::Replica(e)) => return error(data, super::replica_error(e)),
        Err(ReadError::Epoch(e)) => return error(data, super::epoch_error(e)),
        Err(ReadError::Storage(e)) => return error(data, errors::storage_error(&e)),
    };
    let data = data
        .with_high_watermark(read.high_watermark)
        .with_last_stable_offset(read.high_watermark)
        .with_log_start_offset(read.log_start_offset);
    match records(read.records, version, files) {
        // Fetch before v10 cannot carry zstd batches; Kafka 4.0 no longer
        // down-converts, it answers UNSUPPORTED_COMPRESSION_TYPE.
        Ok(bytes) if version < 10 && has_zstd(&bytes) => {
            error(data, ResponseError::UnsupportedCompressionType)
        }
        Ok(bytes) => data.with_records(Some(bytes)),
        Err(e) => error(data, errors::storage_error(&e.into())),
    }
}

/// The records to answer with: read into memory when small or when the version needs
/// the bytes checked (zstd before v10), otherwise a placeholder of the file slice.
fn records(
    slice: Option<FileSlice>,
    version: i16,
    files: &mut FileParts,
) -> std::io::Result<Bytes> {
    let Some(slice) = slice else {
        return Ok(Bytes::new());
    };
    if version < 10 || slice.len() < SEND_FROM_FILE_MIN {
        return slice.read();
    }
    files.add(slice).or_else(|slice| slice.read())
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

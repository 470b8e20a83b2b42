//! One file per Kafka API, and the registry below: the only table of supported versions.
//! ApiVersions is generated from it, and dispatch refuses anything outside it.
//!
//! A handler takes a decoded request and returns the response struct; it never sees
//! sockets or frames, and reaches storage only through `Broker`.

mod alter_client_quotas;
mod alter_configs;
mod api_versions;
mod create_partitions;
mod create_topics;
mod delete_groups;
mod delete_records;
mod delete_topics;
mod describe_client_quotas;
mod describe_cluster;
mod describe_configs;
mod describe_groups;
mod describe_log_dirs;
mod describe_quorum;
mod describe_topic_partitions;
mod describe_user_scram_credentials;
mod elect_leaders;
pub(crate) mod errors;
mod fetch;
mod find_coordinator;
mod groups;
mod heartbeat;
mod init_producer_id;
mod join_group;
mod leave_group;
mod list_groups;
mod list_offsets;
mod metadata;
mod offset_commit;
mod offset_delete;
mod offset_fetch;
mod offset_for_leader_epoch;
mod produce;
mod sync_group;
#[cfg(test)]
mod tests;
mod throttle;
mod update_features;

use kafka_protocol::messages::*;
use kafka_protocol::protocol::Encodable;

use crate::broker::Broker;
use crate::protocol::frame::{FileParts, Frame, encode_response_frame};
use crate::protocol::{self, Request};

/// What the connection does with a request once handled.
#[derive(Debug)]
pub enum Outcome {
    /// Send this frame (response header + body, without the size prefix).
    Respond(Frame),
    /// Send nothing (Produce with acks=0).
    NoResponse,
    /// Close the connection, logging the reason.
    Close(String),
}

/// An API served by vltava with its version range.
#[derive(Debug, Clone, Copy)]
pub struct Api {
    pub key: ApiKey,
    pub min: i16,
    pub max: i16,
}

const fn api(key: ApiKey, min: i16, max: i16) -> Api {
    Api { key, min, max }
}

/// Every API and version vltava serves: Apache Kafka 4.0's ranges for these APIs.
///
/// Produce advertises v0–v2 as Apache Kafka 4.0 does (KAFKA-18659: librdkafka before 2.x
/// derives feature flags from Produce v0–v2 being listed), although, as in Kafka 4.0,
/// those versions themselves are not served (the connection is closed).
pub const APIS: &[Api] = &[
    api(ApiKey::Produce, 0, 12),
    api(ApiKey::Fetch, 4, 17),
    api(ApiKey::ListOffsets, 1, 10),
    api(ApiKey::Metadata, 0, 13),
    api(ApiKey::ApiVersions, 0, 4),
    api(ApiKey::CreateTopics, 2, 7),
    api(ApiKey::DeleteTopics, 1, 6),
    api(ApiKey::DeleteRecords, 0, 2),
    api(ApiKey::InitProducerId, 0, 5),
    api(ApiKey::DescribeConfigs, 1, 4),
    api(ApiKey::AlterConfigs, 0, 2),
    api(ApiKey::IncrementalAlterConfigs, 0, 1),
    api(ApiKey::CreatePartitions, 0, 3),
    api(ApiKey::DescribeCluster, 0, 2),
    api(ApiKey::DescribeLogDirs, 1, 4),
    api(ApiKey::OffsetCommit, 2, 9),
    api(ApiKey::OffsetFetch, 1, 9),
    api(ApiKey::FindCoordinator, 0, 6),
    api(ApiKey::JoinGroup, 2, 9),
    api(ApiKey::Heartbeat, 0, 4),
    api(ApiKey::LeaveGroup, 0, 5),
    api(ApiKey::SyncGroup, 0, 5),
    api(ApiKey::DescribeGroups, 0, 6),
    api(ApiKey::ListGroups, 0, 5),
    api(ApiKey::DeleteGroups, 0, 2),
    api(ApiKey::OffsetDelete, 0, 0),
    api(ApiKey::OffsetForLeaderEpoch, 2, 4),
    api(ApiKey::DescribeTopicPartitions, 0, 0),
    api(ApiKey::ElectLeaders, 0, 2),
    api(ApiKey::UpdateFeatures, 0, 2),
    api(ApiKey::DescribeQuorum, 0, 2),
    api(ApiKey::DescribeClientQuotas, 0, 1),
    api(ApiKey::AlterClientQuotas, 0, 1),
    api(ApiKey::DescribeUserScramCredentials, 0, 0),
];

/// The lowest Produce version that is really served (see [`APIS`]).
const MIN_SERVED_PRODUCE: i16 = 3;

/// Kafka's fencing check of a client's `current_leader_epoch` (-1: not given) against the
/// partition's leader epoch.
pub(crate) fn check_leader_epoch(
    current: i32,
    leader_epoch: i32,
) -> Option<kafka_protocol::error::ResponseError> {
    crate::replication::read::check_leader_epoch(current, leader_epoch)
        .err()
        .map(epoch_error)
}

/// The Kafka error for a request's stale or future leader epoch.
pub(crate) fn epoch_error(
    e: crate::replication::read::EpochMismatch,
) -> kafka_protocol::error::ResponseError {
    use crate::replication::read::EpochMismatch;
    use kafka_protocol::error::ResponseError;
    match e {
        EpochMismatch::Newer => ResponseError::UnknownLeaderEpoch,
        EpochMismatch::Fenced => ResponseError::FencedLeaderEpoch,
    }
}

/// Names that appear more than once in a request (Kafka refuses those entries with
/// INVALID_REQUEST).
pub(crate) fn repeated_names<'a>(
    names: impl Iterator<Item = &'a str>,
) -> std::collections::HashSet<String> {
    let mut seen = std::collections::HashSet::new();
    names
        .filter(|n| !seen.insert(*n))
        .map(str::to_string)
        .collect()
}

/// The Kafka error for a partition this broker cannot serve.
pub(crate) fn replica_error(
    e: crate::replication::manager::ReplicaError,
) -> kafka_protocol::error::ResponseError {
    use crate::replication::manager::ReplicaError;
    use kafka_protocol::error::ResponseError;
    match e {
        ReplicaError::Unknown => ResponseError::UnknownTopicOrPartition,
        ReplicaError::Offline => ResponseError::KafkaStorageError,
        ReplicaError::NotLeader { leader: -1, .. } => ResponseError::LeaderNotAvailable,
        ReplicaError::NotLeader { .. } => ResponseError::NotLeaderOrFollower,
    }
}

/// The supported range of an API, if it is supported at all.
pub fn supported(key: ApiKey) -> Option<Api> {
    APIS.iter().copied().find(|a| a.key == key)
}

fn respond<T: Encodable>(req: &Request, body: &T) -> Outcome {
    respond_with(req, body, FileParts::default())
}

/// `respond` for a body whose bytes fields may be placeholders of `files`.
fn respond_with<T: Encodable>(req: &Request, body: &T, files: FileParts) -> Outcome {
    match encode_response_frame(req.api_key, req.version, req.correlation_id, body, files) {
        Ok(frame) => Outcome::Respond(frame),
        Err(e) => Outcome::Close(format!(
            "cannot encode {:?} v{} response: {e}",
            req.api_key, req.version
        )),
    }
}

/// Decodes the body as `$ty`, runs `$handler(broker, &req, body)` and encodes the result
/// (or turns it into an outcome with `$answer`). The time the handler spends running (not
/// waiting) counts against the client's request quota; the outcome comes with the
/// response's throttle time.
macro_rules! serve {
    ($broker:expr, $req:expr, $ty:ty, $handler:path) => {
        serve!($broker, $req, $ty, $handler, |resp| respond(&$req, &resp))
    };
    ($broker:expr, $req:expr, $ty:ty, $handler:path, $answer:expr) => {{
        let mut body = $req.body.clone();
        match protocol::decode_body::<$ty>(&mut body, $req.version) {
            Ok(msg) => {
                let exempt = exempt_from_request_quota(&msg);
                let (mut resp, busy) = busy_time($handler($broker, &$req, msg)).await;
                if !exempt {
                    let throttle = request_throttle($broker, &$req, busy);
                    throttle::Throttled::raise(&mut resp, throttle);
                }
                let throttle = throttle::Throttled::get(&resp);
                (($answer)(resp), throttle)
            }
            Err(e) => (
                Outcome::Close(format!(
                    "malformed {:?} v{} request: {e}",
                    $req.api_key, $req.version
                )),
                0,
            ),
        }
    }};
}

/// The client id of a request, "" when it has none.
pub(crate) fn client_id(req: &Request) -> &str {
    req.header.client_id.as_deref().unwrap_or("")
}

/// Follower fetches do not count against request quotas (Kafka exempts replication).
fn exempt_from_request_quota(msg: &dyn std::any::Any) -> bool {
    msg.downcast_ref::<FetchRequest>()
        .is_some_and(|f| f.replica_id.0 >= 0 || f.replica_state.replica_id.0 >= 0)
}

/// Runs `f`, also returning the time spent in its polls (the time a Kafka request handler
/// thread would be busy with it; waits for appends or the quorum do not count).
async fn busy_time<F: std::future::Future>(f: F) -> (F::Output, std::time::Duration) {
    let mut f = std::pin::pin!(f);
    let mut busy = std::time::Duration::ZERO;
    let out = std::future::poll_fn(|cx| {
        let started = std::time::Instant::now();
        let polled = f.as_mut().poll(cx);
        busy += started.elapsed();
        polled
    })
    .await;
    (out, busy)
}

/// `busy` recorded against the request quota of the request's client; the throttle time.
fn request_throttle(broker: &Broker, req: &Request, busy: std::time::Duration) -> i32 {
    let state = broker.metadata.snapshot();
    // Kafka records request time as a percentage of one second of one thread.
    let percent_seconds = busy.as_secs_f64() * 100.0;
    let throttle = broker.quotas.record(
        &state.client_quotas,
        crate::broker::QuotaKind::Request,
        client_id(req),
        percent_seconds,
        crate::broker::now_ms(),
    );
    throttle.min(i32::MAX as u64) as i32
}

/// Routes one request to its handler.
pub async fn dispatch(broker: &Broker, req: Request) -> Outcome {
    dispatch_throttled(broker, req).await.0
}

/// [`dispatch`], also returning the response's throttle time in ms: the client is over a
/// quota and the connection should read nothing more from it for that long.
pub async fn dispatch_throttled(broker: &Broker, req: Request) -> (Outcome, i32) {
    let Some(api) = supported(req.api_key) else {
        return (
            Outcome::Close(format!("unsupported API {:?}", req.api_key)),
            0,
        );
    };
    let in_range = req.version >= api.min && req.version <= api.max;
    if !in_range || (req.api_key == ApiKey::Produce && req.version < MIN_SERVED_PRODUCE) {
        if req.api_key == ApiKey::ApiVersions {
            let frame = api_versions::unsupported_version(req.correlation_id);
            return (Outcome::Respond(Frame::from(frame)), 0);
        }
        return (
            Outcome::Close(format!(
                "unsupported version {} of {:?}",
                req.version, req.api_key
            )),
            0,
        );
    }
    match req.api_key {
        ApiKey::ApiVersions => serve!(broker, req, ApiVersionsRequest, api_versions::handle),
        ApiKey::Metadata => serve!(broker, req, MetadataRequest, metadata::handle),
        ApiKey::CreateTopics => serve!(broker, req, CreateTopicsRequest, create_topics::handle),
        ApiKey::DeleteTopics => serve!(broker, req, DeleteTopicsRequest, delete_topics::handle),
        ApiKey::CreatePartitions => {
            serve!(
                broker,
                req,
                CreatePartitionsRequest,
                create_partitions::handle
            )
        }
        ApiKey::Fetch => serve!(broker, req, FetchRequest, fetch::handle, |(resp, files)| {
            respond_with(&req, &resp, files)
        }),
        ApiKey::ListOffsets => serve!(broker, req, ListOffsetsRequest, list_offsets::handle),
        ApiKey::InitProducerId => {
            serve!(broker, req, InitProducerIdRequest, init_producer_id::handle)
        }
        ApiKey::DescribeConfigs => {
            serve!(
                broker,
                req,
                DescribeConfigsRequest,
                describe_configs::handle
            )
        }
        ApiKey::DescribeCluster => {
            serve!(
                broker,
                req,
                DescribeClusterRequest,
                describe_cluster::handle
            )
        }
        ApiKey::FindCoordinator => {
            serve!(
                broker,
                req,
                FindCoordinatorRequest,
                find_coordinator::handle
            )
        }
        ApiKey::JoinGroup => serve!(broker, req, JoinGroupRequest, join_group::handle),
        ApiKey::SyncGroup => serve!(broker, req, SyncGroupRequest, sync_group::handle),
        ApiKey::Heartbeat => serve!(broker, req, HeartbeatRequest, heartbeat::handle),
        ApiKey::LeaveGroup => serve!(broker, req, LeaveGroupRequest, leave_group::handle),
        ApiKey::OffsetCommit => serve!(broker, req, OffsetCommitRequest, offset_commit::handle),
        ApiKey::OffsetFetch => serve!(broker, req, OffsetFetchRequest, offset_fetch::handle),
        ApiKey::DescribeGroups => {
            serve!(broker, req, DescribeGroupsRequest, describe_groups::handle)
        }
        ApiKey::ListGroups => serve!(broker, req, ListGroupsRequest, list_groups::handle),
        ApiKey::DeleteGroups => serve!(broker, req, DeleteGroupsRequest, delete_groups::handle),
        ApiKey::OffsetDelete => serve!(broker, req, OffsetDeleteRequest, offset_delete::handle),
        ApiKey::DeleteRecords => serve!(broker, req, DeleteRecordsRequest, delete_records::handle),
        ApiKey::ElectLeaders => serve!(broker, req, ElectLeadersRequest, elect_leaders::handle),
        ApiKey::UpdateFeatures => {
            serve!(broker, req, UpdateFeaturesRequest, update_features::handle)
        }
        ApiKey::DescribeClientQuotas => serve!(
            broker,
            req,
            DescribeClientQuotasRequest,
            describe_client_quotas::handle
        ),
        ApiKey::AlterClientQuotas => serve!(
            broker,
            req,
            AlterClientQuotasRequest,
            alter_client_quotas::handle
        ),
        ApiKey::DescribeUserScramCredentials => serve!(
            broker,
            req,
            DescribeUserScramCredentialsRequest,
            describe_user_scram_credentials::handle
        ),
        ApiKey::DescribeQuorum => {
            serve!(broker, req, DescribeQuorumRequest, describe_quorum::handle)
        }
        ApiKey::DescribeLogDirs => serve!(
            broker,
            req,
            DescribeLogDirsRequest,
            describe_log_dirs::handle
        ),
        ApiKey::AlterConfigs => serve!(broker, req, AlterConfigsRequest, alter_configs::legacy),
        ApiKey::IncrementalAlterConfigs => serve!(
            broker,
            req,
            IncrementalAlterConfigsRequest,
            alter_configs::incremental
        ),
        ApiKey::DescribeTopicPartitions => serve!(
            broker,
            req,
            DescribeTopicPartitionsRequest,
            describe_topic_partitions::handle
        ),
        ApiKey::OffsetForLeaderEpoch => {
            serve!(
                broker,
                req,
                OffsetForLeaderEpochRequest,
                offset_for_leader_epoch::handle
            )
        }
        ApiKey::Produce => serve!(
            broker,
            req,
            ProduceRequest,
            produce::handle,
            |resp| match resp {
                Some(resp) => respond(&req, &resp),
                None => Outcome::NoResponse,
            }
        ),
        other => (Outcome::Close(format!("unsupported API {other:?}")), 0),
    }
}

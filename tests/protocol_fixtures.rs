//! Golden protocol fixtures (DESIGN.md, style point 3).
//!
//! One data-driven test walks `protocol-fixtures/index.json`. Every request there was
//! captured from a real client talking to Apache Kafka 4.0, and every response is Kafka
//! 4.0's answer to it. Each frame must decode with the `kafka-protocol` crate (header
//! version from `ApiKey::{request,response}_header_version`), leave no byte unread, and
//! re-encode to exactly the captured bytes. The only tolerated differences are the client
//! quirks listed, per fixture, in [`EXCEPTIONS`], each still checked as tightly as it allows.
//! Run with `--nocapture` to see the per-API summary.
//!
//! A second test checks the invalid requests kept in `protocol-fixtures/bad-requests/`.
//!
//! This file uses only `kafka_protocol`, `bytes` and `serde_json`, not the vltava library.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::fs;
use std::path::{Path, PathBuf};

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable};
use serde_json::Value;

/// A client quirk that stops a fixture from round-tripping byte for byte.
#[derive(Clone, Copy, Debug)]
enum Quirk {
    /// The client writes these bytes after the end of the body. Kafka 4.0 ignores them (its
    /// parser does not check for leftover bytes), so vltava must tolerate them too. The frame
    /// without them must round-trip byte-exactly.
    TrailingBytes(&'static [u8]),
}

/// Fixtures that legitimately do not round-trip byte for byte: (file, quirk, why).
///
/// Each listed fixture is still checked as tightly as its quirk allows (see [`Quirk`]), and an
/// entry whose fixture round-trips exactly is reported as stale, so this list cannot silently
/// hide more than it says.
const EXCEPTIONS: &[(&str, Quirk, &str)] = &[(
    "requests/Metadata/v13-confluent-kafka-2.bin",
    Quirk::TrailingBytes(&[0x01, 0x00, 0x00]),
    "librdkafka (rd_kafka_MetadataRequest0) asks for all topics at v9+ by leaving the 4-byte \
     i32 placeholder of the topics array count unfinalized instead of writing the 1-byte \
     uvarint 0 (null). Kafka, like the crate, reads topics=null, allow_auto_topic_creation=false, \
     include_topic_authorized_operations=false, no tagged fields, and ignores the last 3 bytes \
     (the intended allow_auto_topic_creation=true, include_topic_authorized_operations=false, \
     empty tagged fields). Seen with confluent-kafka's list_topics(); Kafka answered with all topics.",
)];

/// Which half of an exchange a fixture file holds.
#[derive(Clone, Copy, Debug)]
enum Side {
    Request,
    Response,
}

/// The result of decoding one part (header or body) and encoding it again.
struct Part {
    /// Bytes the decoder consumed from the input.
    consumed: usize,
    /// What the crate writes for the decoded value.
    reencoded: Vec<u8>,
    /// Whether decoding `reencoded` again gives an equal value and consumes all of it.
    stable: bool,
}

/// Decodes a `T` at `version` from the start of `bytes`, re-encodes it and decodes that again.
fn roundtrip_part<T>(bytes: &[u8], version: i16) -> Result<Part, String>
where
    T: Decodable + Encodable + PartialEq + Debug,
{
    let mut buf = Bytes::copy_from_slice(bytes);
    let value = T::decode(&mut buf, version).map_err(|e| format!("decode failed: {e:#}"))?;
    let consumed = bytes.len() - buf.remaining();
    let mut out = BytesMut::new();
    value
        .encode(&mut out, version)
        .map_err(|e| format!("encode failed: {e:#}"))?;
    let size = value
        .compute_size(version)
        .map_err(|e| format!("compute_size failed: {e:#}"))?;
    if size != out.len() {
        return Err(format!(
            "compute_size {size} != encoded length {}",
            out.len()
        ));
    }
    let mut again = out.clone().freeze();
    let stable = match T::decode(&mut again, version) {
        Ok(value2) => value2 == value && !again.has_remaining(),
        Err(_) => false,
    };
    Ok(Part {
        consumed,
        reencoded: out.to_vec(),
        stable,
    })
}

/// Generates [`roundtrip_body`], dispatching on the API key to the crate's message types.
/// (The crate's `RequestKind`/`ResponseKind` need the `messages_enums` feature, which is off.)
macro_rules! body_dispatch {
    ($($key:ident => $req:ident, $resp:ident;)*) => {
        /// Round-trips a request or response body of API `key` at `version`.
        fn roundtrip_body(key: ApiKey, side: Side, bytes: &[u8], version: i16) -> Result<Part, String> {
            #[allow(unreachable_patterns)]
            match (key, side) {
                $(
                    (ApiKey::$key, Side::Request) => roundtrip_part::<$req>(bytes, version),
                    (ApiKey::$key, Side::Response) => roundtrip_part::<$resp>(bytes, version),
                )*
                _ => Err(format!("no message type wired up for {key:?}")),
            }
        }
    };
}

body_dispatch! {
    // Every ApiKey of kafka-protocol 0.18.
    Produce => ProduceRequest, ProduceResponse;
    Fetch => FetchRequest, FetchResponse;
    ListOffsets => ListOffsetsRequest, ListOffsetsResponse;
    Metadata => MetadataRequest, MetadataResponse;
    OffsetCommit => OffsetCommitRequest, OffsetCommitResponse;
    OffsetFetch => OffsetFetchRequest, OffsetFetchResponse;
    FindCoordinator => FindCoordinatorRequest, FindCoordinatorResponse;
    JoinGroup => JoinGroupRequest, JoinGroupResponse;
    Heartbeat => HeartbeatRequest, HeartbeatResponse;
    LeaveGroup => LeaveGroupRequest, LeaveGroupResponse;
    SyncGroup => SyncGroupRequest, SyncGroupResponse;
    DescribeGroups => DescribeGroupsRequest, DescribeGroupsResponse;
    ListGroups => ListGroupsRequest, ListGroupsResponse;
    SaslHandshake => SaslHandshakeRequest, SaslHandshakeResponse;
    ApiVersions => ApiVersionsRequest, ApiVersionsResponse;
    CreateTopics => CreateTopicsRequest, CreateTopicsResponse;
    DeleteTopics => DeleteTopicsRequest, DeleteTopicsResponse;
    DeleteRecords => DeleteRecordsRequest, DeleteRecordsResponse;
    InitProducerId => InitProducerIdRequest, InitProducerIdResponse;
    OffsetForLeaderEpoch => OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse;
    AddPartitionsToTxn => AddPartitionsToTxnRequest, AddPartitionsToTxnResponse;
    AddOffsetsToTxn => AddOffsetsToTxnRequest, AddOffsetsToTxnResponse;
    EndTxn => EndTxnRequest, EndTxnResponse;
    WriteTxnMarkers => WriteTxnMarkersRequest, WriteTxnMarkersResponse;
    TxnOffsetCommit => TxnOffsetCommitRequest, TxnOffsetCommitResponse;
    DescribeAcls => DescribeAclsRequest, DescribeAclsResponse;
    CreateAcls => CreateAclsRequest, CreateAclsResponse;
    DeleteAcls => DeleteAclsRequest, DeleteAclsResponse;
    DescribeConfigs => DescribeConfigsRequest, DescribeConfigsResponse;
    AlterConfigs => AlterConfigsRequest, AlterConfigsResponse;
    AlterReplicaLogDirs => AlterReplicaLogDirsRequest, AlterReplicaLogDirsResponse;
    DescribeLogDirs => DescribeLogDirsRequest, DescribeLogDirsResponse;
    SaslAuthenticate => SaslAuthenticateRequest, SaslAuthenticateResponse;
    CreatePartitions => CreatePartitionsRequest, CreatePartitionsResponse;
    CreateDelegationToken => CreateDelegationTokenRequest, CreateDelegationTokenResponse;
    RenewDelegationToken => RenewDelegationTokenRequest, RenewDelegationTokenResponse;
    ExpireDelegationToken => ExpireDelegationTokenRequest, ExpireDelegationTokenResponse;
    DescribeDelegationToken => DescribeDelegationTokenRequest, DescribeDelegationTokenResponse;
    DeleteGroups => DeleteGroupsRequest, DeleteGroupsResponse;
    ElectLeaders => ElectLeadersRequest, ElectLeadersResponse;
    IncrementalAlterConfigs => IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse;
    AlterPartitionReassignments => AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse;
    ListPartitionReassignments => ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse;
    OffsetDelete => OffsetDeleteRequest, OffsetDeleteResponse;
    DescribeClientQuotas => DescribeClientQuotasRequest, DescribeClientQuotasResponse;
    AlterClientQuotas => AlterClientQuotasRequest, AlterClientQuotasResponse;
    DescribeUserScramCredentials => DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse;
    AlterUserScramCredentials => AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse;
    Vote => VoteRequest, VoteResponse;
    BeginQuorumEpoch => BeginQuorumEpochRequest, BeginQuorumEpochResponse;
    EndQuorumEpoch => EndQuorumEpochRequest, EndQuorumEpochResponse;
    DescribeQuorum => DescribeQuorumRequest, DescribeQuorumResponse;
    AlterPartition => AlterPartitionRequest, AlterPartitionResponse;
    UpdateFeatures => UpdateFeaturesRequest, UpdateFeaturesResponse;
    Envelope => EnvelopeRequest, EnvelopeResponse;
    FetchSnapshot => FetchSnapshotRequest, FetchSnapshotResponse;
    DescribeCluster => DescribeClusterRequest, DescribeClusterResponse;
    DescribeProducers => DescribeProducersRequest, DescribeProducersResponse;
    BrokerRegistration => BrokerRegistrationRequest, BrokerRegistrationResponse;
    BrokerHeartbeat => BrokerHeartbeatRequest, BrokerHeartbeatResponse;
    UnregisterBroker => UnregisterBrokerRequest, UnregisterBrokerResponse;
    DescribeTransactions => DescribeTransactionsRequest, DescribeTransactionsResponse;
    ListTransactions => ListTransactionsRequest, ListTransactionsResponse;
    AllocateProducerIds => AllocateProducerIdsRequest, AllocateProducerIdsResponse;
    ConsumerGroupHeartbeat => ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse;
    ConsumerGroupDescribe => ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse;
    ControllerRegistration => ControllerRegistrationRequest, ControllerRegistrationResponse;
    GetTelemetrySubscriptions => GetTelemetrySubscriptionsRequest, GetTelemetrySubscriptionsResponse;
    PushTelemetry => PushTelemetryRequest, PushTelemetryResponse;
    AssignReplicasToDirs => AssignReplicasToDirsRequest, AssignReplicasToDirsResponse;
    ListConfigResources => ListConfigResourcesRequest, ListConfigResourcesResponse;
    DescribeTopicPartitions => DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse;
    ShareGroupHeartbeat => ShareGroupHeartbeatRequest, ShareGroupHeartbeatResponse;
    ShareGroupDescribe => ShareGroupDescribeRequest, ShareGroupDescribeResponse;
    ShareFetch => ShareFetchRequest, ShareFetchResponse;
    ShareAcknowledge => ShareAcknowledgeRequest, ShareAcknowledgeResponse;
    AddRaftVoter => AddRaftVoterRequest, AddRaftVoterResponse;
    RemoveRaftVoter => RemoveRaftVoterRequest, RemoveRaftVoterResponse;
    UpdateRaftVoter => UpdateRaftVoterRequest, UpdateRaftVoterResponse;
    InitializeShareGroupState => InitializeShareGroupStateRequest, InitializeShareGroupStateResponse;
    ReadShareGroupState => ReadShareGroupStateRequest, ReadShareGroupStateResponse;
    WriteShareGroupState => WriteShareGroupStateRequest, WriteShareGroupStateResponse;
    DeleteShareGroupState => DeleteShareGroupStateRequest, DeleteShareGroupStateResponse;
    ReadShareGroupStateSummary => ReadShareGroupStateSummaryRequest, ReadShareGroupStateSummaryResponse;
    DescribeShareGroupOffsets => DescribeShareGroupOffsetsRequest, DescribeShareGroupOffsetsResponse;
    AlterShareGroupOffsets => AlterShareGroupOffsetsRequest, AlterShareGroupOffsetsResponse;
    DeleteShareGroupOffsets => DeleteShareGroupOffsetsRequest, DeleteShareGroupOffsetsResponse;
}

/// One entry of `protocol-fixtures/index.json`.
struct Fixture {
    api: String,
    api_key: i16,
    version: i16,
    client: String,
    client_id: Option<String>,
    correlation_id: i32,
    request_file: String,
    response_file: Option<String>,
}

impl Fixture {
    fn from_json(v: &Value) -> Fixture {
        let s = |k: &str| {
            v[k].as_str()
                .unwrap_or_else(|| panic!("{k} missing in {v}"))
                .to_string()
        };
        let i = |k: &str| {
            v[k].as_i64()
                .unwrap_or_else(|| panic!("{k} missing in {v}"))
        };
        Fixture {
            api: s("api"),
            api_key: i("api_key") as i16,
            version: i("version") as i16,
            client: s("client"),
            client_id: v["client_id"].as_str().map(str::to_string),
            correlation_id: i("correlation_id") as i32,
            request_file: s("request_file"),
            response_file: v["response_file"].as_str().map(str::to_string),
        }
    }
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("protocol-fixtures")
}

/// Describes where two byte strings first differ.
fn describe_diff(original: &[u8], reencoded: &[u8]) -> String {
    let at = original
        .iter()
        .zip(reencoded)
        .position(|(a, b)| a != b)
        .unwrap_or(original.len().min(reencoded.len()));
    let window = |b: &[u8]| {
        let end = (at + 16).min(b.len());
        b[at.min(end)..end]
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    format!(
        "original {} bytes, re-encoded {} bytes, first difference at offset {at}: original [{}] re-encoded [{}]",
        original.len(),
        reencoded.len(),
        window(original),
        window(reencoded)
    )
}

/// How one frame fared.
enum Verdict {
    Exact,
    /// Listed in [`EXCEPTIONS`] and passed the checks its quirk allows.
    Excepted,
}

/// Round-trips one whole frame (header + body); `fx` gives the expected header fields.
fn check_frame(fx: &Fixture, side: Side, rel: &str) -> Result<Verdict, String> {
    let bytes = fs::read(fixtures_dir().join(rel)).map_err(|e| format!("cannot read: {e}"))?;
    let key =
        ApiKey::try_from(fx.api_key).map_err(|_| format!("unknown api key {}", fx.api_key))?;

    // Header.
    let (header_version, header) = match side {
        Side::Request => {
            let hv = key.request_header_version(fx.version);
            let mut buf = Bytes::copy_from_slice(&bytes);
            let h = RequestHeader::decode(&mut buf, hv)
                .map_err(|e| format!("request header v{hv} decode failed: {e:#}"))?;
            if h.request_api_key != fx.api_key || h.request_api_version != fx.version {
                return Err(format!(
                    "header says api {} v{}, index says {} v{}",
                    h.request_api_key, h.request_api_version, fx.api_key, fx.version
                ));
            }
            let client_id = h.client_id.as_ref().map(|c| c.to_string());
            if client_id != fx.client_id {
                return Err(format!(
                    "header client_id {client_id:?}, index {:?}",
                    fx.client_id
                ));
            }
            if h.correlation_id != fx.correlation_id {
                return Err(format!(
                    "header correlation_id {}, index {}",
                    h.correlation_id, fx.correlation_id
                ));
            }
            (hv, roundtrip_part::<RequestHeader>(&bytes, hv)?)
        }
        Side::Response => {
            let hv = key.response_header_version(fx.version);
            let mut buf = Bytes::copy_from_slice(&bytes);
            let h = ResponseHeader::decode(&mut buf, hv)
                .map_err(|e| format!("response header v{hv} decode failed: {e:#}"))?;
            if h.correlation_id != fx.correlation_id {
                return Err(format!(
                    "response correlation_id {}, request {}",
                    h.correlation_id, fx.correlation_id
                ));
            }
            (hv, roundtrip_part::<ResponseHeader>(&bytes, hv)?)
        }
    };

    // Body.
    let body_bytes = &bytes[header.consumed..];
    let body = roundtrip_body(key, side, body_bytes, fx.version).map_err(|e| {
        format!(
            "{side:?} body v{} (header v{header_version}): {e}",
            fx.version
        )
    })?;
    let leftover = &body_bytes[body.consumed..];
    let exception = EXCEPTIONS.iter().find(|(file, _, _)| *file == rel);

    let mut reencoded = header.reencoded;
    reencoded.extend_from_slice(&body.reencoded);
    match exception {
        None => {
            if !leftover.is_empty() {
                return Err(format!(
                    "{} of {} body bytes left over after decoding: {leftover:02x?}",
                    leftover.len(),
                    body_bytes.len()
                ));
            }
            if reencoded != bytes {
                return Err(format!(
                    "re-encoding differs: {}",
                    describe_diff(&bytes, &reencoded)
                ));
            }
            Ok(Verdict::Exact)
        }
        Some((_, Quirk::TrailingBytes(trailing), why)) => {
            if leftover.is_empty() && reencoded == bytes {
                return Err(
                    "listed in EXCEPTIONS but round-trips byte-exactly: remove the stale entry"
                        .into(),
                );
            }
            if leftover != *trailing {
                return Err(format!(
                    "expected trailing bytes {trailing:02x?} ({why}), found {leftover:02x?}"
                ));
            }
            let without = &bytes[..bytes.len() - trailing.len()];
            if reencoded != without || !header.stable || !body.stable {
                return Err(format!(
                    "frame without its trailing bytes does not round-trip: {}",
                    describe_diff(without, &reencoded)
                ));
            }
            Ok(Verdict::Excepted)
        }
    }
}

/// Files under `protocol-fixtures/<sub>/`, relative to `protocol-fixtures/`.
fn files_under(sub: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![fixtures_dir().join(sub)];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(fixtures_dir()).unwrap();
                out.insert(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out
}

#[test]
fn every_fixture_round_trips_byte_exactly() {
    let index_path = fixtures_dir().join("index.json");
    let index: Value = serde_json::from_slice(&fs::read(&index_path).expect("read index.json"))
        .expect("parse index.json");
    let entries = index.as_array().expect("index.json is an array");
    assert!(!entries.is_empty(), "index.json lists no fixtures");

    let mut failures = Vec::new();
    let mut listed = BTreeSet::new();
    // api -> (requests, responses, excepted)
    let mut per_api: BTreeMap<(i16, String), (usize, usize, usize)> = BTreeMap::new();
    let mut clients = BTreeSet::new();

    for entry in entries {
        let fx = Fixture::from_json(entry);
        clients.insert(fx.client.clone());
        let expected_prefix = format!("requests/{}/v{}-{}-", fx.api, fx.version, fx.client);
        if !fx.request_file.starts_with(&expected_prefix) {
            failures.push(format!(
                "{}: path does not match {expected_prefix}*",
                fx.request_file
            ));
        }
        let counts = per_api.entry((fx.api_key, fx.api.clone())).or_default();
        let mut files = vec![(Side::Request, fx.request_file.clone())];
        if let Some(resp) = &fx.response_file {
            files.push((Side::Response, resp.clone()));
        }
        for (side, rel) in files {
            listed.insert(rel.clone());
            match check_frame(&fx, side, &rel) {
                Ok(verdict) => {
                    match side {
                        Side::Request => counts.0 += 1,
                        Side::Response => counts.1 += 1,
                    }
                    if let Verdict::Excepted = verdict {
                        counts.2 += 1;
                    }
                }
                Err(e) => failures.push(format!(
                    "{rel} ({} v{} {}): {e}",
                    fx.api, fx.version, fx.client
                )),
            }
        }
    }

    // Every fixture file on disk must be listed, so none is skipped silently.
    for rel in files_under("requests")
        .into_iter()
        .chain(files_under("upstream-responses"))
    {
        if !listed.contains(&rel) {
            failures.push(format!("{rel}: on disk but not listed in index.json"));
        }
    }
    for (file, _, _) in EXCEPTIONS {
        if !listed.contains(*file) {
            failures.push(format!("{file}: in EXCEPTIONS but not in index.json"));
        }
    }

    let (reqs, resps, exc) = per_api
        .values()
        .fold((0, 0, 0), |acc, c| (acc.0 + c.0, acc.1 + c.1, acc.2 + c.2));
    println!(
        "protocol fixtures: {} entries, {reqs} requests + {resps} upstream responses round-tripped \
         ({exc} via documented exceptions), clients: {}",
        entries.len(),
        clients.into_iter().collect::<Vec<_>>().join(", ")
    );
    println!(
        "{:<28} {:>4} {:>9} {:>10} {:>9}",
        "api", "key", "requests", "responses", "excepted"
    );
    for ((key, api), (rq, rs, ex)) in &per_api {
        println!("{api:<28} {key:>4} {rq:>9} {rs:>10} {ex:>9}");
    }
    for (file, quirk, why) in EXCEPTIONS {
        println!("exception: {file}: {quirk:02x?}: {why}");
    }

    if !failures.is_empty() {
        panic!(
            "{} fixture failure(s):\n  {}",
            failures.len(),
            failures.join("\n  ")
        );
    }
}

/// The invalid requests in `bad-requests/` are what their names say, so tests of vltava's
/// bad-input handling can rely on them.
#[test]
fn bad_request_fixtures_are_what_they_claim() {
    let dir = fixtures_dir().join("bad-requests");
    let index: Value = serde_json::from_slice(
        &fs::read(dir.join("index.json")).expect("read bad-requests/index.json"),
    )
    .expect("parse bad-requests/index.json");
    let entries = index.as_array().expect("array");
    assert_eq!(entries.len(), 3, "expected the three bad requests");
    for e in entries {
        let scenario = e["scenario"].as_str().unwrap();
        let bytes = fs::read(dir.join(e["request_file"].as_str().unwrap())).unwrap();
        let mut peek = &bytes[..];
        let (key, version) = (peek.get_i16(), peek.get_i16());
        assert_eq!(i64::from(key), e["api_key"].as_i64().unwrap(), "{scenario}");
        assert_eq!(
            i64::from(version),
            e["version"].as_i64().unwrap(),
            "{scenario}"
        );
        match ApiKey::try_from(key) {
            Err(()) => assert_eq!(scenario, "unknown-apikey-9999"),
            Ok(api) => {
                // The header still decodes (Kafka needs its correlation id to answer), but the
                // crate refuses the body at an unsupported version.
                let hv = api.request_header_version(version);
                let mut buf = Bytes::from(bytes.clone());
                let header = RequestHeader::decode(&mut buf, hv).expect(scenario);
                assert_eq!(
                    i64::from(header.correlation_id),
                    e["correlation_id"].as_i64().unwrap()
                );
                assert!(
                    roundtrip_body(api, Side::Request, &buf, version).is_err(),
                    "{scenario} body decoded"
                );
            }
        }
        if let Some(resp) = e["upstream_response_file"].as_str() {
            // Kafka answers ApiVersions v99 with a v0 response (header v0) and UNSUPPORTED_VERSION.
            let bytes = fs::read(dir.join(resp)).unwrap();
            let mut buf = Bytes::from(bytes.clone());
            let header = ResponseHeader::decode(&mut buf, 0).unwrap();
            assert_eq!(
                i64::from(header.correlation_id),
                e["correlation_id"].as_i64().unwrap()
            );
            let body = ApiVersionsResponse::decode(&mut buf, 0).unwrap();
            assert!(!buf.has_remaining());
            assert_eq!(body.error_code, 35, "UNSUPPORTED_VERSION");
            let mut out = BytesMut::new();
            header.encode(&mut out, 0).unwrap();
            body.encode(&mut out, 0).unwrap();
            assert_eq!(&out[..], &bytes[..], "{resp} re-encodes byte-exactly");
        }
    }
}

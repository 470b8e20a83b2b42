//! Differential test: the same requests to vltava and to Apache Kafka, responses
//! compared field by field.
//!
//! `cargo run --example differential -- <vltava host:port> <kafka host:port> [fixtures dir]`
//!
//! Every request in `protocol-fixtures/index.json` (captured from real clients) is sent,
//! in index order, to both brokers over one connection each. Both answers are decoded
//! with the kafka-protocol crate and flattened to `path = value` leaves (from the
//! messages' Debug form), and the leaves are compared. Fields whose values are the
//! broker's own (ids, ports, timestamps, throttle times) are in [`MAY_DIFFER`]; the
//! differences vltava is known to have are in [`KNOWN`], each with its reason. Anything
//! else that differs is printed with both values and fails the run, and so does a
//! [`KNOWN`] entry that no longer differs (so the list cannot go stale).
//!
//! This is a test tool: it uses only kafka_protocol, bytes and serde_json.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use bytes::{Buf, Bytes};
use kafka_protocol::messages::{ApiKey, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::Decodable;
use serde_json::Value;

/// Leaf field names whose values belong to one broker run, never compared.
const MAY_DIFFER: &[&str] = &[
    "throttle_time_ms",
    "cluster_id",
    "node_id",
    "host",
    "port",
    "controller_id",
    "leader_id",
    "coordinator_key",
    "topic_id",
    "member_id",
    "session_id",
    "log_append_time_ms",
    "timestamp",
    "producer_id",
    "leader",
    "replica_nodes",
    "isr_nodes",
    "broker_id",
    "current_leader",
    "generation_id",
    "protocol_name",
    "assignment",
    "members",
    "error_message",
    "log_end_offset",
    "last_fetch_timestamp",
    "last_caught_up_timestamp",
];

/// Differences vltava is known to have: (API name or fixture file, path prefix, reason).
/// An empty prefix covers the whole answer, including a closed connection. An entry whose
/// reason starts with "sometimes:" depends on timing and is not reported when it does not differ.
const KNOWN: &[(&str, &str, &str)] = &[
    (
        "ApiVersions",
        "api_keys",
        "vltava serves 34 of the 61 APIs Kafka 4.0 advertises (issues 10, 11, 12)",
    ),
    (
        "ApiVersions",
        "finalized_features",
        "vltava finalizes metadata.version 4.0-IV3 only (group.version waits for KIP-848, issue 10; transaction.version for transactions, issue 11); its features epoch is 0, Kafka's the offset of its last feature record",
    ),
    (
        "ApiVersions",
        "supported_features",
        "vltava supports one level of each feature: metadata.version 4.0-IV3 (Kafka 3.3-IV3 to 4.0-IV3), the others 0",
    ),
    (
        "requests/DescribeConfigs/v1-confluent-kafka-2.bin",
        "results[0].configs",
        "vltava reports the broker configs it has, not all of Kafka's (issue 12)",
    ),
    (
        "requests/DescribeConfigs/v4-cli-configs-4.bin",
        "results[0].configs",
        "recorded scenario (kafka-configs.sh --describe --all of a broker): vltava reports the broker configs it has, not all of Kafka's (issue 12)",
    ),
    (
        "ConsumerGroupHeartbeat",
        "",
        "KIP-848 is not served: the connection closes (issue 10)",
    ),
    (
        "ConsumerGroupDescribe",
        "",
        "KIP-848 is not served (issue 10)",
    ),
    ("ListPartitionReassignments", "", "not served (issue 12)"),
    (
        "DescribeQuorum",
        "topics[0].partitions[0].high_watermark",
        "sometimes: the metadata log's length is each broker's own",
    ),
    (
        "ListGroups",
        "groups",
        "sometimes: Kafka lists the consumer-protocol group the captures made (issue 10)",
    ),
    (
        "requests/OffsetCommit/v9-confluent-kafka-1.bin",
        "topics",
        "sometimes: commits of a consumer-protocol member: Kafka STALE_MEMBER_EPOCH (issue 10)",
    ),
    (
        "requests/OffsetCommit/v9-confluent-kafka-2.bin",
        "topics",
        "sometimes: commits of a consumer-protocol member (issue 10)",
    ),
    (
        "requests/OffsetCommit/v9-java-cli-1.bin",
        "topics",
        "sometimes: commits of a consumer-protocol member (issue 10)",
    ),
    (
        "requests/OffsetCommit/v9-java-client-2.bin",
        "topics",
        "sometimes: commits of a consumer-protocol member (issue 10)",
    ),
    (
        "requests/OffsetCommit/v8-kafka-python-1.bin",
        "topics",
        "sometimes: when the group's state from the replay differs, Kafka answers ILLEGAL_GENERATION where vltava answers UNKNOWN_MEMBER_ID",
    ),
    (
        "requests/OffsetFetch/v9-java-client-2.bin",
        "groups",
        "sometimes: offsets committed by a consumer-protocol member (issue 10)",
    ),
    (
        "requests/JoinGroup/v9-java-client-2.bin",
        "",
        "sometimes: a classic join to a group Kafka holds as a consumer-protocol group (issue 10)",
    ),
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: differential <vltava host:port> <kafka host:port> [fixtures dir]");
        std::process::exit(2);
    }
    let dir = args
        .get(3)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("protocol-fixtures"));
    let index: Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).expect("index.json"))
            .expect("index.json is JSON");
    // Differing fields printed per exchange (DIFFERENTIAL_MAX_LINES, default 20).
    let max_lines: usize = std::env::var("DIFFERENTIAL_MAX_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let mut vltava = connect(&args[1]);
    let mut kafka = connect(&args[2]);
    let mut failures = 0usize;
    let mut compared = 0usize;
    let mut known_hit: BTreeSet<usize> = BTreeSet::new();
    // KNOWN entries naming an API or file of this fixture set (another set, such as the
    // requests the scenarios recorded, may not have them all).
    let mut applicable: BTreeSet<usize> = BTreeSet::new();
    // Pass 0 brings both brokers to the state the captures assume (topics auto-created,
    // the offsets topic and its coordinators loaded); pass 1 is compared.
    let entries = index.as_array().expect("index is a list");
    for (pass, entry) in (0..2).flat_map(|pass| entries.iter().map(move |e| (pass, e))) {
        let file = entry["request_file"].as_str().expect("request_file");
        let api = entry["api"].as_str().expect("api");
        // A request of an API this crate does not know cannot be decoded on either side.
        let Ok(key) = ApiKey::try_from(entry["api_key"].as_i64().expect("api_key") as i16) else {
            continue;
        };
        let version = entry["version"].as_i64().expect("version") as i16;
        let request = std::fs::read(dir.join(file)).expect("request file");
        let a = exchange(&mut vltava, &request, key, version);
        let b = exchange(&mut kafka, &request, key, version);
        if pass == 0 {
            for (i, (what, _, _)) in KNOWN.iter().enumerate() {
                if *what == api || *what == file {
                    applicable.insert(i);
                }
            }
            if a.is_err() {
                vltava = connect(&args[1]);
            }
            if b.is_err() {
                kafka = connect(&args[2]);
            }
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        // The KNOWN entry covering `path` of this exchange ("" only matches entries that
        // cover the whole answer).
        let known = |path: &str| {
            KNOWN.iter().position(|(what, prefix, _)| {
                (*what == api || *what == file) && path.starts_with(prefix)
            })
        };
        let (a, b) = match (a, b) {
            (Ok(a), Ok(b)) => (a, b),
            (a, b) => {
                if let (Some(i), true) = (known(""), a.is_err() != b.is_err()) {
                    known_hit.insert(i);
                } else if a.is_err() != b.is_err() {
                    println!(
                        "DIFF {file}: vltava {:?} / kafka {:?}",
                        a.as_ref().err(),
                        b.as_ref().err()
                    );
                    failures += 1;
                }
                if a.is_err() {
                    vltava = connect(&args[1]);
                }
                if b.is_err() {
                    kafka = connect(&args[2]);
                }
                continue;
            }
        };
        compared += 1;
        let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        let mut diffs = Vec::new();
        for path in keys {
            let (va, vb) = (a.get(path), b.get(path));
            if va == vb {
                continue;
            }
            if let Some(i) = known(path) {
                known_hit.insert(i);
                continue;
            }
            diffs.push(format!(
                "  {path}: vltava {} / kafka {}",
                va.map_or("(absent)", |s| s.as_str()),
                vb.map_or("(absent)", |s| s.as_str())
            ));
        }
        if !diffs.is_empty() {
            failures += 1;
            println!("DIFF {file} ({api} v{version}):");
            for d in diffs.iter().take(max_lines) {
                println!("{d}");
            }
            if diffs.len() > max_lines {
                println!("  ... {} more", diffs.len() - max_lines);
            }
        }
    }
    for (i, (api, prefix, why)) in KNOWN.iter().enumerate() {
        if applicable.contains(&i) && !known_hit.contains(&i) && !why.starts_with("sometimes:") {
            println!("STALE known difference {api} {prefix} ({why}): it no longer differs");
            failures += 1;
        }
    }
    println!("differential: {compared} exchanges compared, {failures} with differences");
    println!(
        "{} passed, {} failed",
        compared.saturating_sub(failures),
        failures
    );
    std::process::exit(if failures == 0 { 0 } else { 1 });
}

fn connect(addr: &str) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    s
}

/// Sends one request frame and decodes the answer into flattened leaves.
fn exchange(
    s: &mut TcpStream,
    request: &[u8],
    key: ApiKey,
    version: i16,
) -> Result<BTreeMap<String, String>, String> {
    let mut frame = (request.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(request);
    s.write_all(&frame).map_err(|e| format!("write: {e}"))?;
    let mut len = [0u8; 4];
    s.read_exact(&mut len).map_err(|e| format!("closed: {e}"))?;
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut body)
        .map_err(|e| format!("short read: {e}"))?;
    let mut buf = Bytes::from(body);
    let header_version = key.response_header_version(version);
    ResponseHeader::decode(&mut buf, header_version).map_err(|e| format!("header: {e}"))?;
    let resp = ResponseKind::decode(key, &mut buf, version).map_err(|e| format!("body: {e}"))?;
    if buf.has_remaining() {
        return Err(format!("{} bytes left after the body", buf.remaining()));
    }
    Ok(flatten(&format!("{resp:#?}")))
}

/// A decoded message as a tree parsed from its pretty Debug rendering.
enum Node {
    Leaf(String),
    Fields(Vec<(String, Node)>),
    Items(Vec<Node>),
}

/// Parses the lines of a pretty Debug rendering (struct names dropped).
fn parse(lines: &mut std::iter::Peekable<std::str::Lines>, opener: char) -> Node {
    let mut fields = Vec::new();
    let mut items = Vec::new();
    while let Some(raw) = lines.next() {
        let line = raw.trim().trim_end_matches(',');
        if line == "}" || line == "]" || line == ")" {
            break;
        }
        let (name, value) = match line.split_once(": ") {
            Some((n, v)) if !n.contains(' ') && !n.contains('"') => (Some(n.to_string()), v),
            _ => (None, line),
        };
        let node = match value.chars().last() {
            Some(c @ ('{' | '[' | '(')) => parse(lines, c),
            _ => Node::Leaf(value.to_string()),
        };
        match name {
            Some(n) if opener == '{' => fields.push((n, node)),
            _ => items.push(node),
        }
    }
    if opener == '{' {
        Node::Fields(fields)
    } else {
        Node::Items(items)
    }
}

/// Writes the leaves as `path -> value`. Broker-owned fields ([`MAY_DIFFER`]) are left
/// out, and array elements are numbered after sorting them by content: Kafka fills
/// several arrays from hash maps, so their order carries no meaning.
fn flatten_into(node: &Node, path: &str, out: &mut BTreeMap<String, String>) {
    match node {
        Node::Leaf(v) => {
            out.insert(path.to_string(), v.clone());
        }
        Node::Fields(fields) => {
            for (name, child) in fields {
                if MAY_DIFFER.contains(&name.as_str()) {
                    continue;
                }
                let p = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                flatten_into(child, &p, out);
            }
        }
        Node::Items(items) => {
            let mut rendered: Vec<BTreeMap<String, String>> = items
                .iter()
                .map(|item| {
                    let mut m = BTreeMap::new();
                    flatten_into(item, "", &mut m);
                    m
                })
                .collect();
            rendered.sort();
            if rendered.is_empty() {
                out.insert(path.to_string(), "[]".to_string());
            }
            for (i, m) in rendered.into_iter().enumerate() {
                for (k, v) in m {
                    let p = if k.is_empty() {
                        format!("{path}[{i}]")
                    } else {
                        format!("{path}[{i}].{k}")
                    };
                    out.insert(p, v);
                }
            }
        }
    }
}

fn flatten(debug: &str) -> BTreeMap<String, String> {
    let mut lines = debug.lines().peekable();
    // The first line opens the ResponseKind variant, e.g. `Produce(`; its one item is the body.
    lines.next();
    let root = match parse(&mut lines, '(') {
        Node::Items(mut items) if items.len() == 1 => items.pop().expect("one item"),
        other => other,
    };
    let mut out = BTreeMap::new();
    flatten_into(&root, "", &mut out);
    out
}

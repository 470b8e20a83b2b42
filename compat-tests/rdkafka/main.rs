//! rdkafka (librdkafka through the Rust crate) against the vltava binary.
//!
//! Each test starts its own broker as a child process on an ephemeral loopback
//! port with a fresh log directory, produces 10,000 keyed records with headers
//! and explicit timestamps, consumes them back with `assign()` (no consumer
//! group), restarts the broker (SIGTERM, then SIGKILL) on the same directory and
//! port, and reads everything again. Every wait is bounded; the child is killed
//! by its pid when the test's `Broker` is dropped.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::admin::{AdminClient, AdminOptions, NewPartitions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

const N_RECORDS: usize = 10_000;
const NUM_KEYS: usize = 997;
const PARTITIONS: i32 = 3;
const START_TIMEOUT: Duration = Duration::from_secs(20);
const STOP_TIMEOUT: Duration = Duration::from_secs(20);
const IO_TIMEOUT: Duration = Duration::from_secs(30);
const CONSUME_TIMEOUT: Duration = Duration::from_secs(90);
const LISTENING: &str = "listening on PLAINTEXT://127.0.0.1:";
const SIGTERM: i32 = 15;

unsafe extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}

// ------------------------------------------------------------------ broker

/// One broker child process with its own temporary log directory.
struct Broker {
    child: Option<Child>,
    dir: tempfile::TempDir,
    port: u16,
    stderr_path: PathBuf,
}

impl Broker {
    fn start() -> Broker {
        let dir = tempfile::Builder::new()
            .prefix("vltava-rdkafka-")
            .tempdir()
            .expect("create temp dir");
        let stderr_path = dir.path().join("broker.stderr.log");
        let mut b = Broker {
            child: None,
            dir,
            port: 0,
            stderr_path,
        };
        b.spawn(0).unwrap_or_else(|e| panic!("{e}"));
        b
    }

    fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self, port: u16) -> Result<(), String> {
        let bin = env!("CARGO_BIN_EXE_vltava");
        let data = self.dir.path().join("data");
        fs::create_dir_all(&data).map_err(|e| e.to_string())?;
        let offset = fs::metadata(&self.stderr_path)
            .map(|m| m.len())
            .unwrap_or(0) as usize;
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.stderr_path)
            .map_err(|e| e.to_string())?;
        let child = Command::new(bin)
            .arg("--override")
            .arg(format!("listeners=PLAINTEXT://127.0.0.1:{port}"))
            .arg("--override")
            .arg(format!("log.dirs={}", data.display()))
            .arg("--override")
            .arg("group.initial.rebalance.delay.ms=0")
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("spawn {bin}: {e}"))?;
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            let text = fs::read(&self.stderr_path).unwrap_or_default();
            let text = String::from_utf8_lossy(&text[offset.min(text.len())..]).into_owned();
            if let Some(port) = parse_port(&text) {
                self.port = port;
                return Ok(());
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(format!(
                    "broker exited with {status} before listening\n{}",
                    self.log_tail()
                ));
            }
            sleep(Duration::from_millis(50));
        }
        self.kill_now();
        Err(format!(
            "broker did not log '{LISTENING}<port>' within {START_TIMEOUT:?}\n{}",
            self.log_tail()
        ))
    }

    /// SIGTERM (or SIGKILL) and wait, bounded. Returns the exit code if any.
    fn stop(&mut self, hard: bool) -> Option<i32> {
        let mut child = self.child.take()?;
        if hard {
            let _ = child.kill();
            return child.wait().ok().and_then(|s| s.code());
        }
        let pid = i32::try_from(child.id()).expect("pid fits in i32");
        // SAFETY: plain kill(2) on the pid of a child we spawned and have not reaped.
        unsafe { kill(pid, SIGTERM) };
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "broker ignored SIGTERM for {STOP_TIMEOUT:?}\n{}",
            self.log_tail()
        );
    }

    fn kill_now(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Restart on the same log dir, reusing the port (a new one if it cannot be bound).
    fn restart(&mut self, hard: bool) {
        let code = self.stop(hard);
        if !hard {
            assert_eq!(
                code,
                Some(0),
                "clean shutdown exit code\n{}",
                self.log_tail()
            );
        }
        let old = self.port;
        let mut last_err = String::new();
        for _ in 0..20 {
            match self.spawn(old) {
                Ok(()) => return,
                Err(e) => last_err = e,
            }
            sleep(Duration::from_millis(250));
        }
        eprintln!("could not restart on port {old}, using a new one: {last_err}");
        self.spawn(0).unwrap_or_else(|e| panic!("{e}"));
    }

    fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.stderr_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(80)..].join("\n");
        format!("--- broker log tail ---\n{tail}\n--- end ---")
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.log_tail());
        }
        self.kill_now();
    }
}

fn parse_port(text: &str) -> Option<u16> {
    let start = text.find(LISTENING)? + LISTENING.len();
    let digits: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok().filter(|p| *p != 0)
}

// ----------------------------------------------------------------- records

#[derive(Clone, Debug, PartialEq)]
struct Rec {
    partition: i32,
    offset: i64,
    key: Vec<u8>,
    value: Vec<u8>,
    headers: Vec<(String, Option<Vec<u8>>)>,
    ts: i64,
}

fn now_ms() -> i64 {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock");
    i64::try_from(d.as_millis()).expect("ms fit in i64")
}

/// Records `first..first+n` with timestamps `base_ts + i - first`.
fn make_records(first: usize, n: usize, base_ts: i64, source: &str) -> Vec<Rec> {
    (first..first + n)
        .map(|i| Rec {
            partition: -1,
            offset: -1,
            key: format!("key-{:04}", i % NUM_KEYS).into_bytes(),
            value: format!("value-{i:06}-{}", "abcdefghij".repeat(i % 7)).into_bytes(),
            headers: vec![
                ("seq".to_string(), Some(i.to_string().into_bytes())),
                ("src".to_string(), Some(source.as_bytes().to_vec())),
                ("empty".to_string(), Some(Vec::new())),
            ],
            ts: base_ts + (i - first) as i64,
        })
        .collect()
}

fn seq_of(value: &[u8]) -> usize {
    let s = std::str::from_utf8(value).expect("utf8 value");
    s.split('-').nth(1).expect("seq").parse().expect("seq int")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn client_config(broker: &Broker) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", broker.bootstrap())
        .set("socket.timeout.ms", "10000");
    c
}

fn admin(broker: &Broker) -> AdminClient<DefaultClientContext> {
    client_config(broker).create().expect("admin client")
}

fn create_topic(broker: &Broker, name: &str, partitions: i32) {
    let opts = AdminOptions::new().operation_timeout(Some(IO_TIMEOUT));
    let res = runtime()
        .block_on(admin(broker).create_topics(
            &[NewTopic::new(name, partitions, TopicReplication::Fixed(1))],
            &opts,
        ))
        .expect("create_topics");
    assert!(
        res.iter().all(|r| r.is_ok()),
        "create_topics {name}: {res:?}"
    );
    wait_for_partitions(broker, name, partitions as usize);
}

fn wait_for_partitions(broker: &Broker, topic: &str, n: usize) {
    let c = consumer(broker);
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut last = String::new();
    while Instant::now() < deadline {
        match c.fetch_metadata(Some(topic), Duration::from_secs(10)) {
            Ok(md) => {
                if let Some(t) = md.topics().iter().find(|t| t.name() == topic) {
                    if t.error().is_none()
                        && t.partitions().len() == n
                        && t.partitions().iter().all(|p| p.leader() >= 0)
                    {
                        return;
                    }
                    last = format!("error {:?}, {} partitions", t.error(), t.partitions().len());
                }
            }
            Err(e) => last = e.to_string(),
        }
        sleep(Duration::from_millis(100));
    }
    panic!("topic {topic} not ready with {n} partitions: {last}");
}

/// Produces `records` (all of them must be acknowledged). Returns Err only
/// for a client configuration error (e.g. a codec librdkafka was built without).
fn produce(
    broker: &Broker,
    topic: &str,
    records: &[Rec],
    codec: &str,
    idempotence: bool,
) -> Result<(), KafkaError> {
    let producer: FutureProducer = client_config(broker)
        .set("compression.type", codec)
        .set("enable.idempotence", idempotence.to_string())
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "30000")
        .create()?;
    let rt = runtime();
    let mut futures = Vec::with_capacity(records.len());
    for r in records {
        let mut headers = OwnedHeaders::new();
        for (k, v) in &r.headers {
            headers = headers.insert(Header {
                key: k,
                value: v.as_ref(),
            });
        }
        let mut record = FutureRecord::to(topic)
            .key(&r.key)
            .payload(&r.value)
            .headers(headers)
            .timestamp(r.ts);
        let deadline = Instant::now() + IO_TIMEOUT;
        loop {
            match producer.send_result(record) {
                Ok(f) => {
                    futures.push(f);
                    break;
                }
                Err((e, rec)) => {
                    assert!(Instant::now() < deadline, "send_result kept failing: {e}");
                    record = rec;
                    sleep(Duration::from_millis(10));
                }
            }
        }
    }
    let mut errors = Vec::new();
    for f in futures {
        match rt.block_on(async { tokio::time::timeout(Duration::from_secs(60), f).await }) {
            Ok(Ok(Ok(_))) => {}
            Ok(Ok(Err((e, _)))) => errors.push(e.to_string()),
            Ok(Err(_)) => errors.push("delivery future cancelled".into()),
            Err(_) => errors.push("delivery timed out".into()),
        }
    }
    assert!(
        errors.is_empty(),
        "{} delivery errors, first: {}",
        errors.len(),
        errors[0]
    );
    Ok(())
}

fn consumer(broker: &Broker) -> BaseConsumer {
    client_config(broker)
        .set("group.id", "unused-assign-only")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer")
}

fn consume_all(broker: &Broker, topic: &str, partitions: i32, expected: usize) -> Vec<Rec> {
    let c = consumer(broker);
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .expect("tpl");
    }
    c.assign(&tpl).expect("assign");
    let mut got = Vec::new();
    let deadline = Instant::now() + CONSUME_TIMEOUT;
    let mut extra_until: Option<Instant> = None;
    while Instant::now() < deadline {
        if got.len() >= expected {
            // Linger briefly so duplicates beyond `expected` would show up.
            let until = *extra_until.get_or_insert(Instant::now() + Duration::from_millis(500));
            if Instant::now() >= until {
                break;
            }
        }
        match c.poll(Duration::from_millis(200)) {
            None => {}
            Some(Err(e)) => panic!("consume error: {e}"),
            Some(Ok(m)) => {
                let headers = m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| (h.key.to_string(), h.value.map(|v| v.to_vec())))
                            .collect()
                    })
                    .unwrap_or_default();
                got.push(Rec {
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key().map(|k| k.to_vec()).unwrap_or_default(),
                    value: m.payload().map(|v| v.to_vec()).unwrap_or_default(),
                    headers,
                    ts: m.timestamp().to_millis().unwrap_or(-1),
                });
            }
        }
    }
    for p in 0..partitions {
        let n = got.iter().filter(|r| r.partition == p).count() as i64;
        let wm = c
            .fetch_watermarks(topic, p, IO_TIMEOUT)
            .expect("fetch_watermarks");
        assert_eq!(wm, (0, n), "partition {p}: watermarks vs consumed");
    }
    got
}

/// Per partition: offsets 0..n, producer order, one partition per key; every
/// record's key, value, headers and timestamp as produced.
fn verify(expected: &[Rec], got: &[Rec], partitions: i32, label: &str) -> BTreeMap<i32, usize> {
    assert_eq!(
        got.len(),
        expected.len(),
        "{label}: number of consumed records"
    );
    let by_seq: HashMap<usize, &Rec> = expected.iter().map(|r| (seq_of(&r.value), r)).collect();
    let mut per_part: BTreeMap<i32, Vec<&Rec>> = BTreeMap::new();
    for g in got {
        assert!(
            (0..partitions).contains(&g.partition),
            "{label}: partition {}",
            g.partition
        );
        per_part.entry(g.partition).or_default().push(g);
    }
    let mut key_part: HashMap<&[u8], i32> = HashMap::new();
    let mut seen = std::collections::HashSet::new();
    for (p, recs) in &per_part {
        let mut last_seq: Option<usize> = None;
        for (i, g) in recs.iter().enumerate() {
            assert_eq!(
                g.offset, i as i64,
                "{label}: partition {p} offsets not 0..n"
            );
            let seq = seq_of(&g.value);
            assert!(seen.insert(seq), "{label}: duplicate seq {seq}");
            assert!(
                last_seq.is_none_or(|l| seq > l),
                "{label}: partition {p}: seq {seq} after {last_seq:?}"
            );
            last_seq = Some(seq);
            let r = by_seq
                .get(&seq)
                .unwrap_or_else(|| panic!("{label}: unexpected seq {seq}"));
            assert_eq!(g.key, r.key, "{label}: key of seq {seq}");
            assert_eq!(g.value, r.value, "{label}: value of seq {seq}");
            assert_eq!(g.headers, r.headers, "{label}: headers of seq {seq}");
            assert_eq!(g.ts, r.ts, "{label}: timestamp of seq {seq}");
            let kp = *key_part.entry(&g.key).or_insert(*p);
            assert_eq!(kp, *p, "{label}: key in two partitions");
        }
    }
    assert_eq!(seen.len(), expected.len(), "{label}: missing records");
    per_part.into_iter().map(|(p, v)| (p, v.len())).collect()
}

fn unique_topic(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

// ------------------------------------------------------------------- tests

fn roundtrip_codec(codec: &str, idempotence: bool) {
    let mut broker = Broker::start();
    let topic = unique_topic(&format!("rdkafka-{codec}"));
    create_topic(&broker, &topic, PARTITIONS);
    let records = make_records(
        0,
        N_RECORDS,
        now_ms() - 600_000,
        &format!("rdkafka-{codec}"),
    );
    match produce(&broker, &topic, &records, codec, idempotence) {
        Ok(()) => {}
        Err(KafkaError::ClientConfig(_, msg, _, _)) if codec == "zstd" => {
            eprintln!(
                "SKIPPED codec zstd: librdkafka in the rdkafka crate was built without zstd \
                 (enable the rdkafka `zstd` feature): {msg}"
            );
            return;
        }
        Err(e) => panic!("producer for codec {codec}: {e}"),
    }
    let counts = verify(
        &records,
        &consume_all(&broker, &topic, PARTITIONS, N_RECORDS),
        PARTITIONS,
        "before restart",
    );
    assert_eq!(
        counts.len(),
        PARTITIONS as usize,
        "keys spread over all partitions"
    );

    broker.restart(false);
    wait_for_partitions(&broker, &topic, PARTITIONS as usize);
    verify(
        &records,
        &consume_all(&broker, &topic, PARTITIONS, N_RECORDS),
        PARTITIONS,
        "after clean restart",
    );

    broker.restart(true);
    wait_for_partitions(&broker, &topic, PARTITIONS as usize);
    verify(
        &records,
        &consume_all(&broker, &topic, PARTITIONS, N_RECORDS),
        PARTITIONS,
        "after SIGKILL restart",
    );

    // The log keeps growing from the right offsets after the crash.
    let more = make_records(N_RECORDS, 100, records[N_RECORDS - 1].ts + 1, "after-crash");
    produce(&broker, &topic, &more, codec, idempotence).expect("producer");
    let all: Vec<Rec> = records.iter().chain(more.iter()).cloned().collect();
    verify(
        &all,
        &consume_all(&broker, &topic, PARTITIONS, all.len()),
        PARTITIONS,
        "append after SIGKILL restart",
    );
}

#[test]
fn codec_none_idempotent() {
    roundtrip_codec("none", true);
}

#[test]
fn codec_gzip() {
    roundtrip_codec("gzip", false);
}

#[test]
fn codec_snappy_idempotent() {
    roundtrip_codec("snappy", true);
}

#[test]
fn codec_lz4() {
    roundtrip_codec("lz4", false);
}

#[test]
fn codec_zstd_idempotent() {
    roundtrip_codec("zstd", true);
}

fn check_offsets_for_times(broker: &Broker, topic: &str, got: &[Rec], label: &str) {
    let mut expected = Vec::new();
    for p in 0..PARTITIONS {
        let part: Vec<&Rec> = got.iter().filter(|r| r.partition == p).collect();
        assert!(!part.is_empty(), "partition {p} empty");
        // One lookup per partition per request; several requests.
        for (i, ts) in [
            part[0].ts - 1000,
            part[0].ts,
            part[part.len() / 2].ts,
            part[part.len() - 1].ts,
            part[part.len() - 1].ts + 1,
        ]
        .into_iter()
        .enumerate()
        {
            let want = part
                .iter()
                .filter(|r| r.ts >= ts)
                .map(|r| r.offset)
                .min()
                .unwrap_or(-1);
            expected.push((i, p, ts, want));
        }
    }
    let c = consumer(broker);
    for round in 0..5 {
        let mut tpl = TopicPartitionList::new();
        let this: Vec<_> = expected.iter().filter(|e| e.0 == round).collect();
        for (_, p, ts, _) in &this {
            tpl.add_partition_offset(topic, *p, Offset::Offset(*ts))
                .expect("tpl");
        }
        let res = c
            .offsets_for_times(tpl, IO_TIMEOUT)
            .expect("offsets_for_times");
        for (_, p, ts, want) in this {
            let e = res.find_partition(topic, *p).expect("partition in result");
            e.error()
                .unwrap_or_else(|err| panic!("{label}: partition {p} ts {ts}: {err}"));
            let got = match e.offset() {
                Offset::Offset(o) => o,
                Offset::End => -1,
                other => panic!("{label}: partition {p} ts {ts}: unexpected {other:?}"),
            };
            assert_eq!(
                got, *want,
                "{label}: offsets_for_times partition {p} ts {ts}"
            );
        }
    }
}

#[test]
fn offsets_for_times_survive_restart() {
    let mut broker = Broker::start();
    let topic = unique_topic("rdkafka-oft");
    create_topic(&broker, &topic, PARTITIONS);
    let records = make_records(0, N_RECORDS, now_ms() - 600_000, "rdkafka-oft");
    produce(&broker, &topic, &records, "lz4", true).expect("producer");
    let got = consume_all(&broker, &topic, PARTITIONS, N_RECORDS);
    verify(&records, &got, PARTITIONS, "oft");
    check_offsets_for_times(&broker, &topic, &got, "before restart");
    broker.restart(true);
    wait_for_partitions(&broker, &topic, PARTITIONS as usize);
    check_offsets_for_times(&broker, &topic, &got, "after SIGKILL restart");
    broker.restart(false);
    wait_for_partitions(&broker, &topic, PARTITIONS as usize);
    check_offsets_for_times(&broker, &topic, &got, "after clean restart");
}

#[test]
fn admin_create_list_partitions_delete() {
    let mut broker = Broker::start();
    let a = admin(&broker);
    let rt = runtime();
    let opts = AdminOptions::new().operation_timeout(Some(IO_TIMEOUT));
    let names: Vec<String> = (0..3)
        .map(|i| unique_topic(&format!("rdkafka-admin{i}")))
        .collect();
    let new: Vec<NewTopic> = names
        .iter()
        .map(|n| NewTopic::new(n, 3, TopicReplication::Fixed(1)))
        .collect();
    let res = rt.block_on(a.create_topics(&new, &opts)).expect("create");
    assert!(res.iter().all(|r| r.is_ok()), "{res:?}");
    for n in &names {
        wait_for_partitions(&broker, n, 3);
    }

    let dup = rt
        .block_on(a.create_topics(&new[..1], &opts))
        .expect("create dup");
    assert!(
        matches!(&dup[0], Err((_, code)) if *code == rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists),
        "{dup:?}"
    );

    let res = rt
        .block_on(a.create_partitions(&[NewPartitions::new(&names[1], 5)], &opts))
        .expect("create_partitions");
    assert!(res.iter().all(|r| r.is_ok()), "{res:?}");
    wait_for_partitions(&broker, &names[1], 5);

    let res = rt
        .block_on(a.delete_topics(&[names[2].as_str()], &opts))
        .expect("delete");
    assert!(res.iter().all(|r| r.is_ok()), "{res:?}");
    let c = consumer(&broker);
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        let md = c.fetch_metadata(None, IO_TIMEOUT).expect("metadata");
        if !md.topics().iter().any(|t| t.name() == names[2]) {
            break;
        }
        assert!(Instant::now() < deadline, "deleted topic still listed");
        sleep(Duration::from_millis(100));
    }
    drop(c);
    drop(a);

    broker.restart(false);
    wait_for_partitions(&broker, &names[0], 3);
    wait_for_partitions(&broker, &names[1], 5);
    let md = consumer(&broker)
        .fetch_metadata(None, IO_TIMEOUT)
        .expect("metadata");
    assert!(
        !md.topics().iter().any(|t| t.name() == names[2]),
        "deleted topic came back after restart"
    );
}

// ------------------------------------------------------------------ groups

fn group_member(broker: &Broker, group: &str, topic: &str) -> BaseConsumer {
    let c: BaseConsumer = client_config(broker)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .create()
        .expect("group consumer");
    c.subscribe(&[topic]).expect("subscribe");
    c
}

fn assigned(c: &BaseConsumer) -> Vec<i32> {
    let mut v: Vec<i32> = c
        .assignment()
        .map(|l| l.elements().iter().map(|e| e.partition()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Polls every member (consuming and committing synchronously) until `done` holds.
fn poll_members(
    members: &[&BaseConsumer],
    seen: &mut Vec<(i32, i64)>,
    what: &str,
    done: impl Fn(&[Vec<i32>], usize) -> bool,
) {
    let deadline = Instant::now() + CONSUME_TIMEOUT;
    loop {
        for c in members {
            if let Some(Ok(m)) = c.poll(Duration::from_millis(50)) {
                c.commit_message(&m, rdkafka::consumer::CommitMode::Sync)
                    .expect("commit");
                seen.push((m.partition(), m.offset()));
            }
        }
        let assignments: Vec<Vec<i32>> = members.iter().map(|c| assigned(c)).collect();
        if done(&assignments, seen.len()) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: assignments {assignments:?}, {} records",
            seen.len()
        );
    }
}

fn disjoint_cover(assignments: &[Vec<i32>], sizes: &[usize]) -> bool {
    let mut all: Vec<i32> = assignments.iter().flatten().copied().collect();
    all.sort();
    let mut got: Vec<usize> = assignments.iter().map(Vec::len).collect();
    got.sort();
    let mut want = sizes.to_vec();
    want.sort();
    all == vec![0, 1, 2, 3] && got == want
}

#[test]
fn group_members_share_partitions_and_commits_survive_restart() {
    let mut broker = Broker::start();
    let topic = unique_topic("group");
    create_topic(&broker, &topic, 4);
    let records = make_records(0, 400, now_ms() - 60_000, "group");
    produce(&broker, &topic, &records, "lz4", true).expect("produce");

    let a = group_member(&broker, "rd-group", &topic);
    let b = group_member(&broker, "rd-group", &topic);
    let mut seen = Vec::new();
    poll_members(
        &[&a, &b],
        &mut seen,
        "two members with two partitions each and all records",
        |asg, n| disjoint_cover(asg, &[2, 2]) && n >= 400,
    );
    let c = group_member(&broker, "rd-group", &topic);
    poll_members(
        &[&a, &b, &c],
        &mut seen,
        "a third member to get a share",
        |asg, _| disjoint_cover(asg, &[2, 1, 1]),
    );
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "a record was consumed twice");
    assert_eq!(seen.len(), 400);
    drop((a, b, c));

    broker.restart(true);
    let d = group_member(&broker, "rd-group", &topic);
    let mut more = Vec::new();
    poll_members(
        &[&d],
        &mut more,
        "the restarted group to resume",
        |asg, _| asg[0].len() == 4,
    );
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if let Some(Ok(m)) = d.poll(Duration::from_millis(100)) {
            panic!("re-read committed record {}:{}", m.partition(), m.offset());
        }
    }
    let mut tpl = TopicPartitionList::new();
    for p in 0..4 {
        tpl.add_partition(&topic, p);
    }
    let committed = d.committed_offsets(tpl, IO_TIMEOUT).expect("committed");
    for e in committed.elements() {
        let (_, high) = d
            .fetch_watermarks(&topic, e.partition(), IO_TIMEOUT)
            .expect("watermarks");
        assert_eq!(
            e.offset(),
            Offset::Offset(high),
            "partition {}",
            e.partition()
        );
    }
}

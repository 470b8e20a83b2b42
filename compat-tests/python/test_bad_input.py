"""Malformed and invalid requests on raw sockets. Nothing a client sends may
crash the broker; bad frames close the connection, bad fields get Kafka's error
codes. Expected answers are Apache Kafka 4.0's (the captured requests and answers are in
protocol-fixtures/bad-requests, with what Kafka did in its index.json)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

import kafka_wire as w

BAD_REQUESTS = Path(__file__).resolve().parents[2] / "protocol-fixtures" / "bad-requests"

# Kafka error codes
CORRUPT_MESSAGE = 2
UNSUPPORTED_VERSION = 35
TOPIC_ALREADY_EXISTS = 36
INVALID_TOPIC_EXCEPTION = 17
INVALID_PARTITIONS = 37
INVALID_REPLICATION_FACTOR = 38
INVALID_RECORD = 87
UNSUPPORTED_COMPRESSION_TYPE = 76


def fixture_bytes(name: str) -> bytes:
    """A request captured for Kafka 4.0, from the repository (a missing one fails the test)."""
    return (BAD_REQUESTS / name).read_bytes()


def assert_healthy(broker) -> dict[int, tuple[int, int]]:
    broker.assert_alive()
    versions = w.api_versions(broker.port, correlation_id=4242)
    assert 18 in versions, versions
    return versions


def create_topic(broker, name: str, partitions: int = 1) -> None:
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    a.create_topics([NewTopic(name, partitions, 1)])[name].result(timeout=30)


def high_watermark(broker, topic: str, partition: int = 0) -> int:
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused", "enable.auto.commit": False})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)[1]
    finally:
        c.close()


def require_version(versions, api_key: int, version: int, name: str) -> None:
    lo, hi = versions.get(api_key, (None, None))
    assert lo is not None and lo <= version <= hi, (
        f"{name} v{version} not advertised (ApiVersions says {versions.get(api_key)}); "
        "Kafka 4.0 serves it and this test needs it"
    )


# ---------------------------------------------------------------- framing
def test_api_versions_v0_fixture(broker):
    """A raw ApiVersions v0 request gets a well-formed v0 answer."""
    req = w.header(18, 0, 1, "raw-fixtures")  # 22 bytes, as the fixture Kafka 4.0 answered
    r = w.roundtrip(broker.port, req)
    assert r.i32() == 1  # correlation id of the fixture
    assert r.i16() == 0
    keys = {}
    for _ in range(r.i32()):
        k, lo, hi = r.i16(), r.i16(), r.i16()
        assert lo <= hi, (k, lo, hi)
        keys[k] = (lo, hi)
    assert r.done(), "ApiVersions v0 response has trailing bytes (v0 has no throttle field)"
    for k in (0, 1, 2, 3, 18, 19, 20):
        assert k in keys, f"api key {k} not advertised: {sorted(keys)}"


def test_truncated_frame(broker):
    with w.connect(broker.port) as s:
        s.sendall(w.i32(100) + b"\x00\x12\x00\x00\x00\x00\x00\x01ab")  # 10 of 100 bytes
    with w.connect(broker.port) as s:
        s.sendall(b"\x00\x00")  # half a size prefix
    time.sleep(0.2)
    assert_healthy(broker)


def test_truncated_frame_then_wait(broker):
    """A client that stalls mid-frame does not block other connections."""
    with w.connect(broker.port) as stalled:
        stalled.sendall(w.i32(100) + b"\x00" * 10)
        assert_healthy(broker)
    assert_healthy(broker)


def test_oversized_frame_closes_connection(broker):
    # socket.request.max.bytes defaults to 104857600 (100 MiB).
    with w.connect(broker.port) as s:
        s.sendall(w.i32(104857600 + 1) + w.header(18, 0, 1))
        assert w.is_closed_by_peer(s), "broker kept a connection whose frame exceeds socket.request.max.bytes"
    assert_healthy(broker)


def test_negative_frame_size_closes_connection(broker):
    with w.connect(broker.port) as s:
        s.sendall(w.i32(-5) + b"\x00" * 8)
        assert w.is_closed_by_peer(s), "broker kept a connection with a negative frame size"
    assert_healthy(broker)


def test_configured_request_max_bytes(broker_factory):
    b = broker_factory({"socket.request.max.bytes": "1000"})
    with w.connect(b.port) as s:
        s.sendall(w.i32(2000) + w.header(18, 0, 1))
        assert w.is_closed_by_peer(s), "frame of 2000 bytes accepted with socket.request.max.bytes=1000"
    assert_healthy(b)


def test_garbage_frame(broker):
    with w.connect(broker.port) as s:
        w.send_frame(s, bytes(range(256)) * 2)
        assert w.is_closed_by_peer(s), "broker answered or kept open a garbage frame"
    with w.connect(broker.port) as s:
        w.send_frame(s, b"\x00")  # shorter than any request header
        assert w.is_closed_by_peer(s)
    assert_healthy(broker)


def _uvarint(v: int) -> bytes:
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


@pytest.mark.parametrize("version", [4, 9, 12])
def test_huge_array_count_closes_connection(broker, version):
    """Issue 14: a ~50-byte Metadata request declaring a billion topics once aborted the
    broker (the decoder reserved ~37 GB). Kafka closes such a connection; so must we."""
    if version < 9:
        body = w.header(3, version, 41) + w.i32(1_000_000_000) + b"\x00" * 8
    else:  # flexible: header v2 (tagged fields), compact array count as an unsigned varint
        body = w.header(3, version, 41) + b"\x00" + _uvarint(1_000_000_001) + b"\x00" * 8
    with w.connect(broker.port) as s:
        w.send_frame(s, body)
        assert w.is_closed_by_peer(s), "broker answered a request with an impossible array count"
    assert_healthy(broker)


def test_unknown_api_key_closes_connection(broker):
    with w.connect(broker.port) as s:
        w.send_frame(s, fixture_bytes("unknown-apikey-9999.request.bin"))
        assert w.is_closed_by_peer(s), "Kafka closes the connection on unknown API key 9999"
    with w.connect(broker.port) as s:
        w.send_frame(s, w.header(9999, 0, 5))
        assert w.is_closed_by_peer(s)
    assert_healthy(broker)


def test_unsupported_metadata_version_closes_connection(broker):
    with w.connect(broker.port) as s:
        w.send_frame(s, fixture_bytes("metadata-v99.request.bin"))
        assert w.is_closed_by_peer(s), "Kafka closes the connection on Metadata v99"
    assert_healthy(broker)


def test_api_versions_v99_answers_v0_with_error_35(broker):
    req = fixture_bytes("apiversions-v99.request.bin")
    versions = assert_healthy(broker)
    r = w.roundtrip(broker.port, req)
    assert r.i32() == 4, "correlation id"
    assert r.i16() == UNSUPPORTED_VERSION
    entries = [(r.i16(), r.i16(), r.i16()) for _ in range(r.i32())]
    assert r.done(), "ApiVersions error response must use the v0 layout (no throttle, no tagged fields)"
    # Kafka lists only ApiVersions itself: [(18, 0, 4)].
    assert entries == [(18, *versions[18])], entries


def test_pipelined_requests_answered_in_order(broker):
    versions = assert_healthy(broker)
    require_version(versions, 3, 4, "Metadata")
    with w.connect(broker.port) as s:
        reqs = []
        for i in range(60):
            reqs.append(w.header(18, 0, 1000 + i) if i % 2 else w.metadata_v4([], 1000 + i))
        s.sendall(b"".join(w.i32(len(r)) + r for r in reqs))
        got = [w.Reader(w.recv_frame(s)).i32() for _ in reqs]
    assert got == [1000 + i for i in range(60)], got


# ------------------------------------------------------------------ produce
def test_pipelined_produce_appends_in_request_order(broker, topic_name):
    """Kafka handles one request per connection at a time, so pipelined Produce
    requests to one partition are appended in the order they were sent (clients
    without idempotence rely on this for per-partition ordering)."""
    versions = assert_healthy(broker)
    require_version(versions, 0, 7, "Produce")
    topic = topic_name()
    create_topic(broker, topic)
    n = 200
    now = int(time.time() * 1000)
    with w.connect(broker.port) as s:
        frames = []
        for i in range(n):
            batch = w.record_batch_v2([(b"k", b"seq-%d" % i + b"x" * (i % 5) * 1000)], now + i)
            req = w.produce_v7(topic, 0, bytes(batch), correlation_id=5000 + i)
            frames.append(w.i32(len(req)) + req)
        s.sendall(b"".join(frames))
        offsets = []
        for i in range(n):
            resp = w.parse_produce_v7(w.Reader(w.recv_frame(s)), correlation_id=5000 + i)
            err, base = resp[(topic, 0)]
            assert err == 0, f"request {i}: error {err}"
            offsets.append(base)
    assert offsets == list(range(n)), (
        f"pipelined produce requests appended out of order: base offsets {offsets[:20]}..."
    )


def test_produce_corrupt_crc(broker, topic_name):
    versions = assert_healthy(broker)
    require_version(versions, 0, 7, "Produce")
    topic = topic_name()
    create_topic(broker, topic)
    batch = w.record_batch_v2([(b"k", b"value-1"), (b"k", b"value-2")], int(time.time() * 1000))
    batch[-3] ^= 0xFF  # flip a byte inside the last record: CRC no longer matches
    resp = w.parse_produce_v7(w.roundtrip(broker.port, w.produce_v7(topic, 0, bytes(batch))))
    assert resp[(topic, 0)][0] == CORRUPT_MESSAGE, f"expected CORRUPT_MESSAGE (2), got {resp}"
    assert high_watermark(broker, topic) == 0, "a corrupt batch must not be stored"

    good = w.record_batch_v2([(b"k", b"value-1"), (b"k", b"value-2")], int(time.time() * 1000))
    resp = w.parse_produce_v7(w.roundtrip(broker.port, w.produce_v7(topic, 0, bytes(good))))
    assert resp[(topic, 0)] == (0, 0), f"valid batch after corrupt one: {resp}"
    assert high_watermark(broker, topic) == 2
    assert_healthy(broker)


def test_produce_magic_1_rejected(broker, topic_name):
    """Kafka 4.0 (ProduceRequest.validateRecords): Produce v3+ must carry magic-2
    batches, else INVALID_RECORD (87) for that partition."""
    versions = assert_healthy(broker)
    require_version(versions, 0, 7, "Produce")
    topic = topic_name()
    create_topic(broker, topic)
    legacy = w.message_set_v1([(b"k", b"legacy-1"), (b"k", b"legacy-2")], int(time.time() * 1000))
    resp = w.parse_produce_v7(w.roundtrip(broker.port, w.produce_v7(topic, 0, legacy)))
    err = resp[(topic, 0)][0]
    assert err != 0, "a magic-1 message set was accepted"
    assert err == INVALID_RECORD, f"Kafka 4.0 answers INVALID_RECORD (87), got {err}"
    assert high_watermark(broker, topic) == 0, "a magic-1 message set must not be stored"
    assert_healthy(broker)


def test_produce_two_batches_rejected(broker, topic_name):
    """Kafka 4.0: Produce v3+ carries exactly one batch per partition, else INVALID_RECORD."""
    versions = assert_healthy(broker)
    require_version(versions, 0, 7, "Produce")
    topic = topic_name()
    create_topic(broker, topic)
    now = int(time.time() * 1000)
    two = bytes(w.record_batch_v2([(b"k", b"a")], now)) + bytes(w.record_batch_v2([(b"k", b"b")], now))
    resp = w.parse_produce_v7(w.roundtrip(broker.port, w.produce_v7(topic, 0, two)))
    assert resp[(topic, 0)][0] == INVALID_RECORD, f"expected INVALID_RECORD (87), got {resp}"
    assert high_watermark(broker, topic) == 0, "nothing may be stored"


def test_produce_zstd_needs_v7(broker, topic_name):
    """Kafka 4.0: a zstd batch in Produce < v7 gets UNSUPPORTED_COMPRESSION_TYPE (76);
    the same batch in v7 is accepted."""
    zstandard = pytest.importorskip("zstandard")
    versions = assert_healthy(broker)
    require_version(versions, 0, 5, "Produce")
    require_version(versions, 0, 7, "Produce")
    topic = topic_name()
    create_topic(broker, topic)
    batch = bytes(
        w.record_batch_v2(
            [(b"k", b"zstd-1"), (b"k", b"zstd-2")],
            int(time.time() * 1000),
            codec=4,
            compress=zstandard.ZstdCompressor().compress,
        )
    )
    resp = w.parse_produce_v7(w.roundtrip(broker.port, w.produce_v7(topic, 0, batch, version=5)), version=5)
    assert resp[(topic, 0)][0] == UNSUPPORTED_COMPRESSION_TYPE, f"Produce v5 with zstd: {resp}"
    assert high_watermark(broker, topic) == 0
    resp = w.parse_produce_v7(w.roundtrip(broker.port, w.produce_v7(topic, 0, batch)))
    assert resp[(topic, 0)] == (0, 0), f"Produce v7 with zstd: {resp}"
    assert high_watermark(broker, topic) == 2


def test_produce_unknown_partition(broker, topic_name):
    versions = assert_healthy(broker)
    require_version(versions, 0, 7, "Produce")
    topic = topic_name()
    create_topic(broker, topic, 1)
    batch = w.record_batch_v2([(None, b"v")], int(time.time() * 1000))
    resp = w.parse_produce_v7(w.roundtrip(broker.port, w.produce_v7(topic, 7, bytes(batch))))
    assert resp[(topic, 7)][0] == 3, f"UNKNOWN_TOPIC_OR_PARTITION (3) expected, got {resp}"
    assert_healthy(broker)


# ------------------------------------------------------------ create topics
def create_topics(broker, topics, validate_only=False):
    versions = assert_healthy(broker)
    require_version(versions, 19, 4, "CreateTopics")
    r = w.roundtrip(broker.port, w.create_topics_v4(topics, validate_only=validate_only))
    return w.parse_create_topics_v4(r)


@pytest.mark.parametrize("name", ["bad/name", "bad name", "bad!", ".", "..", "x" * 250, "ünïcode"])
def test_create_topic_illegal_name(broker, name):
    res = create_topics(broker, [(name, 1, 1)])
    assert res[name][0] == INVALID_TOPIC_EXCEPTION, f"{name!r}: {res}"
    assert_healthy(broker)


@pytest.mark.parametrize("partitions", [-5, 0])
def test_create_topic_invalid_partitions(broker, topic_name, partitions):
    name = topic_name()
    res = create_topics(broker, [(name, partitions, 1)])
    assert res[name][0] == INVALID_PARTITIONS, res


@pytest.mark.parametrize("rf", [0, -5, 2, 3])
def test_create_topic_invalid_replication_factor(broker, topic_name, rf):
    name = topic_name()
    res = create_topics(broker, [(name, 1, rf)])
    assert res[name][0] == INVALID_REPLICATION_FACTOR, res


def test_create_topics_mixed_and_duplicate(broker, topic_name):
    good, bad = topic_name("-good"), "bad/topic"
    res = create_topics(broker, [(good, 2, 1), (bad, 1, 1)])
    assert res[good][0] == 0 and res[bad][0] == INVALID_TOPIC_EXCEPTION, res
    res = create_topics(broker, [(good, 2, 1)])
    assert res[good][0] == TOPIC_ALREADY_EXISTS, res
    # Defaults (-1, -1) are allowed since CreateTopics v4.
    dflt = topic_name("-dflt")
    assert create_topics(broker, [(dflt, -1, -1)])[dflt][0] == 0
    # validate_only creates nothing.
    vo = topic_name("-vo")
    assert create_topics(broker, [(vo, 1, 1)], validate_only=True)[vo][0] == 0
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    listed = a.list_topics(timeout=10).topics
    assert good in listed and dflt in listed and vo not in listed and bad not in listed, sorted(listed)
    assert len(listed[dflt].partitions) == 1


def test_broker_survives_connection_storm(broker):
    socks = []
    try:
        for _ in range(200):
            s = socket.create_connection(("127.0.0.1", broker.port), timeout=5)
            s.sendall(w.i32(50) + b"\x01")
            socks.append(s)
    finally:
        for s in socks:
            s.close()
    assert_healthy(broker)

"""Compacted topics through real clients and the wire: what a consumer from the beginning
sees once the cleaner ran (also after a topic turns compacted at runtime), tombstones,
offsets, `__consumer_offsets` staying readable after cleaning, and the produce rules of
compacted topics (KIP-467: a keyless record is refused with INVALID_RECORD and its index,
as Kafka refuses it)."""

from __future__ import annotations

import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic

import kafka_wire as kw

FAST_CLEANER = {"log.cleaner.backoff.ms": "100"}
COMPACT = {"cleanup.policy": "compact", "segment.bytes": "1024", "min.cleanable.dirty.ratio": "0.01"}
INVALID_RECORD = 87
INVALID_TIMESTAMP = 32


def make_topic(bootstrap: str, name: str, configs: dict[str, str]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, 1, 1, config=configs)])[name].result(timeout=30)


def produce(bootstrap: str, topic: str, records: list[tuple[str, str | None]]) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "batch.num.messages": 1})
    for k, v in records:
        p.produce(topic, key=k.encode(), value=None if v is None else v.encode(), partition=0)
        p.poll(0)
    assert p.flush(30) == 0


def read_all(bootstrap: str, topic: str, end: int) -> list[tuple[int, str, str | None]]:
    """(offset, key, value) of every record from the beginning up to offset `end`."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader", "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, -2)])
    out = []
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            out.append((m.offset(), m.key().decode(), None if m.value() is None else m.value().decode()))
            if m.offset() >= end - 1:
                return out
        raise AssertionError(f"read only {out[-3:]} before the deadline")
    finally:
        c.close()


def cleaner_point(broker, topic: str) -> int | None:
    try:
        lines = (broker.log_dir / "cleaner-offset-checkpoint").read_text().splitlines()
    except OSError:
        return None
    for line in lines[2:]:
        parts = line.split()
        if parts[:2] == [topic, "0"]:
            return int(parts[2])
    return None


def active_base(broker, topic: str) -> int:
    return max(int(p.stem) for p in (broker.log_dir / f"{topic}-0").glob("*.log"))


def wait_cleaned(broker, topic: str, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        base = active_base(broker, topic)
        if base > 0 and cleaner_point(broker, topic) == base:
            return base
        time.sleep(0.2)
    raise AssertionError(f"never cleaned up to {active_base(broker, topic)}: {cleaner_point(broker, topic)}")


def expected_after_cleaning(writes: list[tuple[str, str | None]], cleaned_below: int):
    """Kafka's rule: below the cleaned point the latest record of each key there (the
    offset map covers only what was cleaned; tombstones are kept until
    delete.retention.ms); from it on, everything as written."""
    latest = {k: i for i, (k, _) in enumerate(writes[:cleaned_below])}
    return [(i, k, v) for i, (k, v) in enumerate(writes) if i >= cleaned_below or latest[k] == i]


def test_a_reader_sees_the_latest_value_of_every_key(broker_factory, topic_name):
    b = broker_factory(FAST_CLEANER)
    topic = topic_name()
    make_topic(b.bootstrap, topic, COMPACT)
    writes = [(f"k{i % 7}", None if i % 11 == 10 else f"v{i}") for i in range(120)]
    produce(b.bootstrap, topic, writes)
    cleaned = wait_cleaned(b, topic)
    seen = read_all(b.bootstrap, topic, len(writes))
    assert seen == expected_after_cleaning(writes, cleaned)
    assert len(seen) < len(writes)
    b.restart()
    assert read_all(b.bootstrap, topic, len(writes)) == seen


def test_a_topic_altered_to_compact_is_cleaned(broker_factory, topic_name):
    b = broker_factory(FAST_CLEANER)
    topic = topic_name()
    make_topic(b.bootstrap, topic, {"segment.bytes": "1024"})
    writes = [(f"k{i % 5}", f"v{i}") for i in range(80)]
    produce(b.bootstrap, topic, writes)
    time.sleep(1)
    assert cleaner_point(b, topic) is None, "a delete-policy topic is never cleaned"
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    r = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[
        ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("min.cleanable.dirty.ratio", "0.01", incremental_operation=AlterConfigOpType.SET),
    ])
    admin.incremental_alter_configs([r])[r].result(timeout=30)
    cleaned = wait_cleaned(b, topic)
    assert read_all(b.bootstrap, topic, len(writes)) == expected_after_cleaning(writes, cleaned)


def test_keyless_records_are_refused_with_their_index(broker, topic_name):
    topic = topic_name()
    make_topic(broker.bootstrap, topic, {"cleanup.policy": "compact"})
    batch = kw.record_batch_v2([(b"k", b"v"), (None, b"no key"), (b"k2", b"v"), (None, None)],
                               int(time.time() * 1000))
    r = kw.roundtrip(broker.port, kw.produce_v7(topic, 0, bytes(batch), version=8))
    got = kw.parse_produce_v8(r)[(topic, 0)]
    message = f"Compacted topic cannot accept message without key in topic partition {topic}-0"
    assert got["error"] == INVALID_RECORD
    assert got["record_errors"] == [(1, message), (3, message)]
    assert got["error_message"] == (
        "One or more records have been rejected due to 2 record errors in total, and only showing the "
        f"first three errors at most: [RecordError(batchIndex=1, message='{message}'), "
        f"RecordError(batchIndex=3, message='{message}')]"
    )
    keyed = kw.record_batch_v2([(b"k", b"v")], int(time.time() * 1000))
    r = kw.roundtrip(broker.port, kw.produce_v7(topic, 0, bytes(keyed), correlation_id=12, version=8))
    ok = kw.parse_produce_v8(r, correlation_id=12)[(topic, 0)]
    assert (ok["error"], ok["base_offset"], ok["record_errors"]) == (0, 0, [])


def test_out_of_range_timestamps_are_refused_per_record(broker, topic_name):
    topic = topic_name()
    make_topic(broker.bootstrap, topic, {"message.timestamp.after.max.ms": "60000"})
    now = int(time.time() * 1000)
    batch = kw.record_batch_v2([(b"a", b"1"), (b"b", b"2")], now, timestamps=[now, now + 3_600_000])
    r = kw.roundtrip(broker.port, kw.produce_v7(topic, 0, bytes(batch), version=8))
    got = kw.parse_produce_v8(r)[(topic, 0)]
    assert got["error"] == INVALID_TIMESTAMP
    assert got["error_message"] == "One or more records have been rejected due to invalid timestamp"
    ((index, message),) = got["record_errors"]
    assert index == 1
    assert message.startswith(f"Timestamp {now + 3_600_000} of message with offset 1 is out of range.")


def test_consumer_offsets_are_compacted_and_still_load(broker_factory, topic_name):
    b = broker_factory({**FAST_CLEANER, "offsets.topic.num.partitions": "1",
                        "offsets.topic.segment.bytes": "2048"})
    topic = topic_name()
    make_topic(b.bootstrap, topic, {})
    produce(b.bootstrap, topic, [("k", "v")] * 5)
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "committer", "enable.auto.commit": False})
    try:
        for i in range(200):
            c.commit(offsets=[TopicPartition(topic, 0, i % 5 + 1)], asynchronous=False)
    finally:
        c.close()
    wait_cleaned(b, "__consumer_offsets")
    size = sum(p.stat().st_size for p in (b.log_dir / "__consumer_offsets-0").glob("*.log"))
    assert size < 200 * 60, f"{size} bytes: the commits were not compacted"
    b.restart()
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "committer"})
    try:
        (tp,) = c.committed([TopicPartition(topic, 0)], timeout=30)
        assert tp.offset == 199 % 5 + 1
    finally:
        c.close()

"""Retention by size and by time, seen through a real client: old segments disappear,
the log start offset advances, consumers start at the new beginning, and the offsets of
the records kept do not change."""

from __future__ import annotations

import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

OVERRIDES = {"log.retention.check.interval.ms": "200"}


def make_topic(bootstrap: str, name: str, configs: dict[str, str]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, 1, 1, config=configs)])[name].result(timeout=30)


def produce(bootstrap: str, topic: str, count: int) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "batch.num.messages": 1})
    for i in range(count):
        p.produce(topic, value=b"x" * 200, key=str(i).encode(), partition=0)
        p.poll(0)
    assert p.flush(30) == 0


def watermarks(bootstrap: str, topic: str) -> tuple[int, int]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "wm", "enable.auto.commit": False})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    finally:
        c.close()


def wait_for_start(bootstrap: str, topic: str, pred, timeout: float = 20.0) -> tuple[int, int]:
    deadline = time.monotonic() + timeout
    lo, hi = watermarks(bootstrap, topic)
    while not pred(lo, hi) and time.monotonic() < deadline:
        time.sleep(0.2)
        lo, hi = watermarks(bootstrap, topic)
    return lo, hi


def first_offset_read(bootstrap: str, topic: str) -> int:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "first", "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, -2)])  # OFFSET_BEGINNING
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and not m.error():
                return m.offset()
        raise AssertionError("nothing to read")
    finally:
        c.close()


def test_size_retention_deletes_old_segments(broker_factory, topic_name):
    b = broker_factory(OVERRIDES)
    topic = topic_name()
    make_topic(b.bootstrap, topic, {"segment.bytes": "4096", "retention.bytes": "8192"})
    produce(b.bootstrap, topic, 200)
    lo, hi = wait_for_start(b.bootstrap, topic, lambda lo, hi: lo > 0)
    assert hi == 200
    assert lo > 0, "size retention never deleted a segment"
    # Kafka's rule: what remains is at least retention.bytes (whole segments only).
    kept_records = hi - lo
    assert kept_records * 200 >= 8192 * 0.5
    assert first_offset_read(b.bootstrap, topic) == lo
    segments = sorted(p.name for p in (b.log_dir / f"{topic}-0").glob("*.log"))
    assert segments[0] == f"{lo:020d}.log", segments


def test_time_retention_empties_the_log_but_keeps_offsets(broker_factory, topic_name):
    b = broker_factory(OVERRIDES)
    topic = topic_name()
    make_topic(b.bootstrap, topic, {"retention.ms": "1000"})
    produce(b.bootstrap, topic, 50)
    lo, hi = wait_for_start(b.bootstrap, topic, lambda lo, hi: lo == hi)
    assert (lo, hi) == (50, 50), "expired records were not deleted"
    produce(b.bootstrap, topic, 5)
    assert first_offset_read(b.bootstrap, topic) == 50
    b.restart()
    lo, hi = watermarks(b.bootstrap, topic)
    assert hi == 55 and lo >= 50

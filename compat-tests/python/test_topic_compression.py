"""A topic's `compression.type` (and `compression.<codec>.level`): batches produced in
another codec are stored recompressed to the topic's codec, batches already in it as
they were sent, `producer` keeps every producer's codec; consumers read the same records
back whatever was stored, as with Kafka."""

from __future__ import annotations

import struct
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

CODEC_IDS = {"none": 0, "uncompressed": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


def make_topic(bootstrap: str, name: str, configs: dict[str, str]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, 1, 1, config=configs)])[name].result(timeout=30)


def produce(bootstrap: str, topic: str, codec: str, n: int) -> list[tuple[bytes, bytes, list]]:
    p = Producer({"bootstrap.servers": bootstrap, "compression.type": codec, "linger.ms": 5})
    sent = []
    for i in range(n):
        key, value = f"k{i}".encode(), (f"value {i} " * 20).encode()
        headers = [("h", f"{i}".encode())]
        p.produce(topic, key=key, value=value, headers=headers, partition=0, timestamp=1_700_000_000_000 + i)
        sent.append((key, value, headers))
    assert p.flush(30) == 0
    return sent


def stored_codecs(log_dir, topic: str) -> set[int]:
    """The codec id of every batch in the partition's segment files."""
    codecs = set()
    for seg in sorted((log_dir / f"{topic}-0").glob("*.log")):
        data = seg.read_bytes()
        pos = 0
        while pos + 61 <= len(data):
            (length,) = struct.unpack(">i", data[pos + 8 : pos + 12])
            (attributes,) = struct.unpack(">h", data[pos + 21 : pos + 23])
            codecs.add(attributes & 7)
            pos += 12 + length
    return codecs


def consume(bootstrap: str, topic: str, n: int) -> list[tuple[bytes, bytes, list, int]]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader", "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, -2)])
    out = []
    try:
        deadline = time.monotonic() + 30
        while len(out) < n and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and not m.error():
                out.append((m.key(), m.value(), m.headers(), m.timestamp()[1]))
    finally:
        c.close()
    return out


@pytest.mark.parametrize("topic_codec,producer_codec", [
    ("zstd", "none"), ("gzip", "lz4"), ("snappy", "zstd"), ("lz4", "gzip"),
    ("uncompressed", "snappy"), ("zstd", "zstd"), ("producer", "lz4"),
])
def test_batches_are_stored_in_the_topics_codec(broker, topic_name, topic_codec, producer_codec):
    topic = topic_name()
    configs = {"compression.type": topic_codec}
    if topic_codec == "gzip":
        configs["compression.gzip.level"] = "1"
    make_topic(broker.bootstrap, topic, configs)
    sent = produce(broker.bootstrap, topic, producer_codec, 200)
    want = CODEC_IDS[producer_codec if topic_codec == "producer" else topic_codec]
    assert stored_codecs(broker.log_dir, topic) == {want}
    got = consume(broker.bootstrap, topic, len(sent))
    assert [(k, v, h) for k, v, h, _ in got] == sent
    assert [ts for *_, ts in got] == [1_700_000_000_000 + i for i in range(len(sent))]


def test_bad_codecs_and_levels_are_refused_as_kafka_refuses_them(broker, topic_name):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    cases = {
        ("compression.type", "bogus"): "String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer",
        ("compression.gzip.level", "10"): "Value must be between 1 and 9 or equal to -1",
        ("compression.lz4.level", "18"): "Value must be no more than 17",
        ("compression.zstd.level", "-131073"): "Value must be at least -131072",
    }
    for (key, value), why in cases.items():
        name = topic_name()
        with pytest.raises(Exception) as e:
            admin.create_topics([NewTopic(name, 1, 1, config={key: value})])[name].result(timeout=30)
        assert f"Invalid value {value} for configuration {key}: {why}" in str(e.value)

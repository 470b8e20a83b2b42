"""DeleteRecords (API 21) through confluent-kafka's AdminClient, as Kafka answers it: the
log start offset moves up (ListOffsets earliest follows, a fetch below it is
OFFSET_OUT_OF_RANGE), -1 means the high watermark, and the log start survives a restart.
Refusals: an offset past the high watermark (OFFSET_OUT_OF_RANGE), a compact-only topic
(POLICY_VIOLATION), an internal topic (INVALID_TOPIC_EXCEPTION). The replicated case is
in test_cluster.py."""

from __future__ import annotations

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

TIMEOUT_S = 30


def admin(broker) -> AdminClient:
    return AdminClient({"bootstrap.servers": broker.bootstrap})


def create(a: AdminClient, name: str, partitions: int = 1, config: dict | None = None) -> None:
    a.create_topics([NewTopic(name, partitions, 1, config=config or {})])[name].result(timeout=TIMEOUT_S)


def produce(broker, name: str, n: int, partition: int = 0) -> None:
    p = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(n):
        # keyed: a compacted topic refuses keyless records (INVALID_RECORD, as Kafka)
        p.produce(name, key=f"k{i}".encode(), value=f"v{i}".encode(), partition=partition)
    assert p.flush(TIMEOUT_S) == 0


def delete(a: AdminClient, tps: list[TopicPartition]) -> dict[tuple[str, int], object]:
    """{(topic, partition): low watermark or the KafkaError code}"""
    out = {}
    for tp, fut in a.delete_records(tps, request_timeout=TIMEOUT_S, operation_timeout=TIMEOUT_S).items():
        try:
            out[(tp.topic, tp.partition)] = fut.result(timeout=TIMEOUT_S).low_watermark
        except KafkaException as e:
            out[(tp.topic, tp.partition)] = e.args[0].code()
    return out


def watermarks(broker, name: str, partition: int = 0) -> tuple[int, int]:
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "wm"})
    try:
        return c.get_watermark_offsets(TopicPartition(name, partition), timeout=TIMEOUT_S)
    finally:
        c.close()


def first_offset_read_from(broker, name: str, offset: int) -> int:
    """The first offset a consumer that asks for `offset` gets (reset to earliest)."""
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "reader",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        c.assign([TopicPartition(name, 0, offset)])
        for _ in range(100):
            m = c.poll(0.5)
            if m is not None and not m.error():
                return m.offset()
        raise AssertionError(f"nothing read from {name} at {offset}")
    finally:
        c.close()


def test_delete_records_moves_the_log_start(broker, topic_name):
    a = admin(broker)
    name = topic_name()
    create(a, name, 2)
    produce(broker, name, 20, partition=0)
    produce(broker, name, 4, partition=1)
    assert delete(a, [TopicPartition(name, 0, 5)]) == {(name, 0): 5}
    assert watermarks(broker, name) == (5, 20)
    assert first_offset_read_from(broker, name, 2) == 5, "a fetch below the log start is out of range"
    # Deleting below the log start again changes nothing; -1 is the high watermark.
    assert delete(a, [TopicPartition(name, 0, 3), TopicPartition(name, 1, -1)]) == {(name, 0): 5, (name, 1): 4}
    assert watermarks(broker, name, 1) == (4, 4)
    broker.restart()
    assert watermarks(broker, name) == (5, 20), "the log start survives a restart"
    assert first_offset_read_from(broker, name, 0) == 5


def test_delete_records_refusals(broker, topic_name):
    a = admin(broker)
    name, compacted = topic_name(), topic_name("-compacted")
    create(a, name)
    create(a, compacted, config={"cleanup.policy": "compact"})
    produce(broker, name, 3)
    produce(broker, compacted, 3)
    # A group makes __consumer_offsets exist.
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "g", "enable.auto.commit": False})
    c.commit(offsets=[TopicPartition(name, 0, 1)], asynchronous=False)
    c.close()
    got = delete(a, [TopicPartition(name, 0, 4), TopicPartition(compacted, 0, 1),
                     TopicPartition("__consumer_offsets", 0, 0)])
    assert got == {
        (name, 0): KafkaError.OFFSET_OUT_OF_RANGE,
        (compacted, 0): KafkaError.POLICY_VIOLATION,
        ("__consumer_offsets", 0): KafkaError.TOPIC_EXCEPTION,
    }, got
    assert watermarks(broker, name) == (0, 3) and watermarks(broker, compacted) == (0, 3)

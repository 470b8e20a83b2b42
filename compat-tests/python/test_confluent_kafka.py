"""confluent-kafka (librdkafka) against vltava: admin, produce per codec, consume
with assign(), restart (clean and SIGKILL), offsets_for_times."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic

from vltava_helpers import CODECS, N_RECORDS, Got, expected_offset_for_time, make_records, verify

TIMEOUT_S = 30.0


def admin(broker) -> AdminClient:
    return AdminClient({"bootstrap.servers": broker.bootstrap, "socket.timeout.ms": 10000})


def wait_futures(futures: dict, timeout: float = TIMEOUT_S) -> dict:
    return {k: f.result(timeout=timeout) for k, f in futures.items()}


def create_topic(broker, name: str, partitions: int = 3) -> None:
    a = admin(broker)  # keep the client alive until its futures resolve
    wait_futures(a.create_topics([NewTopic(name, partitions, 1)], operation_timeout=10))
    wait_for_metadata(broker, name, partitions)


def wait_for_metadata(broker, name: str, partitions: int) -> None:
    a = admin(broker)
    deadline = time.monotonic() + TIMEOUT_S
    md = None
    while time.monotonic() < deadline:
        md = a.list_topics(topic=name, timeout=10)
        t = md.topics.get(name)
        if t is not None and t.error is None and len(t.partitions) == partitions and all(
            p.leader >= 0 for p in t.partitions.values()
        ):
            return
        time.sleep(0.1)
    raise AssertionError(f"topic {name} not ready with {partitions} partitions: {md.topics.get(name) if md else None}")


def produce(broker, topic: str, records, codec: str, idempotence: bool) -> None:
    p = Producer(
        {
            "bootstrap.servers": broker.bootstrap,
            "compression.type": codec,
            "enable.idempotence": idempotence,
            "acks": "all",
            "linger.ms": 5,
            "message.timeout.ms": 30000,
        }
    )
    errors = []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(err)

    for r in records:
        for _ in range(1000):
            try:
                p.produce(
                    topic,
                    key=r.key,
                    value=r.value,
                    headers=list(r.headers),
                    timestamp=r.ts,
                    on_delivery=on_delivery,
                )
                break
            except BufferError:
                p.poll(0.1)
        else:
            raise AssertionError("producer queue stayed full")
        p.poll(0)
    remaining = p.flush(60)
    assert remaining == 0, f"{remaining} messages not delivered after flush(60)"
    assert not errors, f"{len(errors)} delivery errors, first: {errors[0]}"


def consumer(broker, **extra) -> Consumer:
    conf = {
        "bootstrap.servers": broker.bootstrap,
        "group.id": "unused-assign-only",
        "enable.auto.commit": False,
        "enable.partition.eof": False,
        "auto.offset.reset": "earliest",
        "socket.timeout.ms": 10000,
    }
    conf.update(extra)
    return Consumer(conf)


def consume_all(broker, topic: str, partitions: int, expected: int, log_start: int = 0) -> list[Got]:
    c = consumer(broker)
    try:
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        got: list[Got] = []
        deadline = time.monotonic() + 60
        while len(got) < expected and time.monotonic() < deadline:
            for m in c.consume(num_messages=1000, timeout=0.5):
                if m.error():
                    raise KafkaException(m.error())
                got.append(
                    Got(
                        m.partition(),
                        m.offset(),
                        m.key(),
                        m.value(),
                        tuple(m.headers() or ()),
                        m.timestamp()[1],
                    )
                )
        # Anything beyond `expected` would be a duplicate: give it a moment to show up.
        for m in c.consume(num_messages=1000, timeout=0.5):
            if not m.error():
                got.append(Got(m.partition(), m.offset(), m.key(), m.value(), tuple(m.headers() or ()), m.timestamp()[1]))
        for p in range(partitions):
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            n = sum(1 for g in got if g.partition == p)
            assert (lo, hi) == (log_start, log_start + n), f"partition {p}: watermarks {(lo, hi)}, consumed {n}"
        return got
    finally:
        c.close()


@pytest.mark.parametrize("idempotence", [True, False], ids=["idempotent", "plain"])
@pytest.mark.parametrize("codec", CODECS)
def test_produce_consume_restart(broker, topic_name, codec, idempotence):
    topic = topic_name()
    create_topic(broker, topic, 3)
    records = make_records(N_RECORDS, source=f"confluent-{codec}")
    produce(broker, topic, records, codec, idempotence)

    got = verify(records, consume_all(broker, topic, 3, N_RECORDS), 3, "before restart")
    assert len(got) == 3, f"keyed records should spread over all 3 partitions, got {got}"

    broker.restart(kill=False)
    wait_for_metadata(broker, topic, 3)
    verify(records, consume_all(broker, topic, 3, N_RECORDS), 3, "after clean restart")

    broker.restart(kill=True)
    wait_for_metadata(broker, topic, 3)
    verify(records, consume_all(broker, topic, 3, N_RECORDS), 3, "after SIGKILL restart")


def test_kill_right_after_flush_then_append(broker, topic_name):
    """Acknowledged data survives SIGKILL; the log keeps growing from the right offset."""
    topic = topic_name()
    create_topic(broker, topic, 3)
    first = make_records(N_RECORDS, source="first")
    produce(broker, topic, first, "lz4", True)
    broker.restart(kill=True)
    wait_for_metadata(broker, topic, 3)
    second = make_records(N_RECORDS, base_ts=first[-1].ts + 1, source="second", first_seq=N_RECORDS)
    produce(broker, topic, second, "zstd", True)
    verify(first + second, consume_all(broker, topic, 3, 2 * N_RECORDS), 3, "after kill and append")


def offsets_for_times(broker, topic: str, queries: list[tuple[int, int]]) -> list[int]:
    c = consumer(broker)
    try:
        res = c.offsets_for_times([TopicPartition(topic, p, ts) for p, ts in queries], timeout=15)
        for tp in res:
            assert tp.error is None, f"offsets_for_times error for {tp}: {tp.error}"
        return [tp.offset for tp in res]
    finally:
        c.close()


def check_offsets_for_times(broker, topic: str, got: list[Got], label: str) -> None:
    """Several rounds, each with one lookup per partition (Kafka answers
    INVALID_REQUEST to a partition listed twice in one ListOffsets request)."""
    rounds: list[list[tuple[int, int, int]]] = []
    for p in range(3):
        part = [g for g in got if g.partition == p]
        assert part, f"partition {p} empty"
        mid = part[len(part) // 2].ts
        probes = [part[0].ts - 1000, part[0].ts, mid, mid - 1, part[-1].ts]
        for i, ts in enumerate(probes):
            if len(rounds) <= i:
                rounds.append([])
            rounds[i].append((p, ts, expected_offset_for_time(got, p, ts)))
        # Past the newest timestamp: Kafka answers offset -1 (librdkafka: OFFSET_END == -1).
        if len(rounds) <= len(probes):
            rounds.append([])
        rounds[len(probes)].append((p, part[-1].ts + 1, -1))
    for r in rounds:
        result = offsets_for_times(broker, topic, [(p, ts) for p, ts, _ in r])
        expected = [want for _, _, want in r]
        assert result == expected, f"{label}: offsets_for_times {[(p, ts) for p, ts, _ in r]} -> {result}, expected {expected}"


def test_offsets_for_times(broker, topic_name):
    topic = topic_name()
    create_topic(broker, topic, 3)
    records = make_records(N_RECORDS, source="oft")
    produce(broker, topic, records, "none", True)
    got = consume_all(broker, topic, 3, N_RECORDS)
    verify(records, got, 3, "oft")
    check_offsets_for_times(broker, topic, got, "before restart")
    broker.restart(kill=True)
    wait_for_metadata(broker, topic, 3)
    check_offsets_for_times(broker, topic, got, "after SIGKILL restart")
    broker.restart(kill=False)
    wait_for_metadata(broker, topic, 3)
    check_offsets_for_times(broker, topic, got, "after clean restart")


def test_admin_topics(broker, topic_name):
    a = admin(broker)
    names = [topic_name(f"-{i}") for i in range(3)]
    wait_futures(a.create_topics([NewTopic(n, 3, 1) for n in names], operation_timeout=10))
    for n in names:
        wait_for_metadata(broker, n, 3)

    listed = a.list_topics(timeout=10).topics
    for n in names:
        assert n in listed, f"{n} not in list_topics: {sorted(listed)}"
        assert sorted(listed[n].partitions) == [0, 1, 2]
        for p in listed[n].partitions.values():
            assert p.leader == p.replicas[0] and p.isrs == p.replicas, p

    # Creating it again is TOPIC_ALREADY_EXISTS.
    fut = a.create_topics([NewTopic(names[0], 3, 1)], operation_timeout=10)[names[0]]
    with pytest.raises(KafkaException) as ei:
        fut.result(timeout=TIMEOUT_S)
    assert ei.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS, ei.value

    # describe_topics (librdkafka: Metadata with topic ids / authorized operations).
    from confluent_kafka import TopicCollection

    desc = wait_futures(a.describe_topics(TopicCollection([names[0]]), request_timeout=10))
    d = desc[names[0]]
    assert d.name == names[0] and len(d.partitions) == 3, d

    # describe_configs on the topic returns Kafka's defaults.
    res = ConfigResource(ConfigResource.Type.TOPIC, names[0])
    cfg = wait_futures(a.describe_configs([res], request_timeout=10))[res]
    assert "cleanup.policy" in cfg and cfg["cleanup.policy"].value == "delete", sorted(cfg)
    assert "retention.ms" in cfg, sorted(cfg)

    # create_partitions 3 -> 5.
    wait_futures(a.create_partitions([NewPartitions(names[1], 5)], operation_timeout=10))
    wait_for_metadata(broker, names[1], 5)
    # Produce into a new partition and read it back.
    p = Producer({"bootstrap.servers": broker.bootstrap})
    p.produce(names[1], value=b"in-partition-4", partition=4)
    assert p.flush(30) == 0
    c = consumer(broker)
    try:
        c.assign([TopicPartition(names[1], 4, OFFSET_BEGINNING)])
        msgs = []
        deadline = time.monotonic() + TIMEOUT_S
        while not msgs and time.monotonic() < deadline:
            msgs = [m for m in c.consume(10, timeout=0.5) if not m.error()]
        assert [m.value() for m in msgs] == [b"in-partition-4"]
    finally:
        c.close()
    # Shrinking is INVALID_PARTITIONS.
    fut = a.create_partitions([NewPartitions(names[1], 2)], operation_timeout=10)[names[1]]
    with pytest.raises(KafkaException) as ei:
        fut.result(timeout=TIMEOUT_S)
    assert ei.value.args[0].code() == KafkaError.INVALID_PARTITIONS, ei.value

    # delete_topics.
    wait_futures(a.delete_topics([names[2]], operation_timeout=10))
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline and names[2] in a.list_topics(timeout=10).topics:
        time.sleep(0.1)
    assert names[2] not in a.list_topics(timeout=10).topics
    # Deleting an unknown topic is UNKNOWN_TOPIC_OR_PART.
    fut = a.delete_topics([names[2]], operation_timeout=10)[names[2]]
    with pytest.raises(KafkaException) as ei:
        fut.result(timeout=TIMEOUT_S)
    assert ei.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART, ei.value

    # Topics (and the new partition count) survive a restart; the deleted one stays deleted.
    broker.restart()
    a = admin(broker)
    wait_for_metadata(broker, names[0], 3)
    wait_for_metadata(broker, names[1], 5)
    assert names[2] not in a.list_topics(timeout=10).topics


def test_auto_create_on_produce(broker, topic_name):
    topic = topic_name()
    p = Producer({"bootstrap.servers": broker.bootstrap, "message.timeout.ms": 20000})
    errors = []
    for i in range(10):
        p.produce(topic, key=b"k%d" % i, value=b"v%d" % i, on_delivery=lambda e, m: e and errors.append(e))
    assert p.flush(30) == 0 and not errors, errors
    md = admin(broker).list_topics(topic=topic, timeout=10).topics[topic]
    assert len(md.partitions) == 1, "num.partitions defaults to 1"
    c = consumer(broker)
    try:
        c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        vals = []
        deadline = time.monotonic() + TIMEOUT_S
        while len(vals) < 10 and time.monotonic() < deadline:
            vals += [m.value() for m in c.consume(100, timeout=0.5) if not m.error()]
        assert vals == [b"v%d" % i for i in range(10)]
    finally:
        c.close()


def test_time_retention(broker_factory, topic_name):
    """retention.ms / segment.ms topic configs and log.retention.check.interval.ms:
    a rolled segment whose newest timestamp is older than retention.ms is deleted
    and the log start offset moves past it (Kafka's time-based retention)."""
    broker = broker_factory({"log.retention.check.interval.ms": "300"})
    topic = topic_name()
    a = admin(broker)
    wait_futures(
        a.create_topics(
            [NewTopic(topic, 1, 1, config={"retention.ms": "60000", "segment.ms": "100"})], operation_timeout=10
        )
    )
    wait_for_metadata(broker, topic, 1)
    old = make_records(100, base_ts=(int(time.time()) - 600) * 1000, source="old")
    produce(broker, topic, old, "none", True)
    time.sleep(0.5)
    # A fresh record: rolls the old segment (segment.ms elapsed) and stays.
    fresh = make_records(1, base_ts=int(time.time() * 1000), source="fresh", first_seq=100)
    produce(broker, topic, fresh, "none", True)

    c = consumer(broker)
    try:
        deadline = time.monotonic() + 30
        lo = hi = None
        while time.monotonic() < deadline:
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
            if lo == 100:
                break
            time.sleep(0.2)
        assert (lo, hi) == (100, 101), f"log start/end offsets {(lo, hi)}: expired segment not deleted within 30s"
    finally:
        c.close()
    got = consume_all(broker, topic, 1, 1, log_start=100)
    assert [(g.offset, g.value) for g in got] == [(100, fresh[0].value)], got

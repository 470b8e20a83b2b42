"""kafka-python (pure Python client) against vltava: admin, produce per codec,
consume with assign() + seek_to_beginning, restart, offsets_for_times,
beginning_offsets / end_offsets."""

from __future__ import annotations

import time

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError

from vltava_helpers import CODECS, N_RECORDS, Got, expected_offset_for_time, make_records, verify

TIMEOUT_S = 30.0
COMMON = {"request_timeout_ms": 30000, "reconnect_backoff_max_ms": 1000}


def admin(broker) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=broker.bootstrap, **COMMON)


def create_topic(broker, name: str, partitions: int = 3) -> None:
    a = admin(broker)
    try:
        a.create_topics({name: {"num_partitions": partitions, "replication_factor": 1}}, wait_for_metadata=True)
    finally:
        a.close()


def produce(broker, topic: str, records, codec: str, idempotence: bool = True) -> None:
    p = KafkaProducer(
        bootstrap_servers=broker.bootstrap,
        compression_type=None if codec == "none" else codec,
        enable_idempotence=idempotence,
        acks="all",
        linger_ms=5,
        **COMMON,
    )
    errors = []
    try:
        futures = [
            p.send(topic, key=r.key, value=r.value, headers=list(r.headers), timestamp_ms=r.ts) for r in records
        ]
        p.flush(timeout=60)
        for f in futures:
            assert f.is_done, "record not delivered after flush(60)"
            if f.exception is not None:
                errors.append(f.exception)
    finally:
        p.close(timeout=10)
    assert not errors, f"{len(errors)} delivery errors, first: {errors[0]!r}"


def consumer(broker) -> KafkaConsumer:
    return KafkaConsumer(
        bootstrap_servers=broker.bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **COMMON,
    )


def consume_all(broker, topic: str, partitions: int, expected: int) -> list[Got]:
    c = consumer(broker)
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        got: list[Got] = []
        deadline = time.monotonic() + 90
        while len(got) < expected and time.monotonic() < deadline:
            for tp, msgs in c.poll(timeout_ms=500, max_records=5000).items():
                for m in msgs:
                    got.append(Got(tp.partition, m.offset, m.key, m.value, tuple(m.headers), m.timestamp))
        for tp, msgs in c.poll(timeout_ms=500).items():
            got += [Got(tp.partition, m.offset, m.key, m.value, tuple(m.headers), m.timestamp) for m in msgs]
        begin = c.beginning_offsets(tps)
        end = c.end_offsets(tps)
        for tp in tps:
            n = sum(1 for g in got if g.partition == tp.partition)
            assert (begin[tp], end[tp]) == (0, n), f"{tp}: beginning/end {(begin[tp], end[tp])}, consumed {n}"
        return got
    finally:
        c.close()


@pytest.mark.parametrize("codec", CODECS)
def test_produce_consume_restart(broker, topic_name, codec):
    topic = topic_name()
    create_topic(broker, topic, 3)
    records = make_records(N_RECORDS, source=f"kafka-python-{codec}")
    produce(broker, topic, records, codec, idempotence=codec != "gzip")

    counts = verify(records, consume_all(broker, topic, 3, N_RECORDS), 3, "before restart")
    assert len(counts) == 3, counts

    broker.restart(kill=(codec in ("snappy", "zstd")))
    verify(records, consume_all(broker, topic, 3, N_RECORDS), 3, "after restart")


def test_offsets_for_times_and_restart(broker, topic_name):
    topic = topic_name()
    create_topic(broker, topic, 3)
    records = make_records(N_RECORDS, source="kp-oft")
    produce(broker, topic, records, "lz4")
    got = consume_all(broker, topic, 3, N_RECORDS)
    verify(records, got, 3, "oft")

    def check(label):
        c = consumer(broker)
        try:
            query = {}
            expected = {}
            for p in range(3):
                part = [g for g in got if g.partition == p]
                for i, ts in enumerate([part[0].ts - 5000, part[0].ts, part[len(part) // 3].ts, part[-1].ts]):
                    # one query per partition per call: dict keys are TopicPartitions
                    query.setdefault(i, {})[TopicPartition(topic, p)] = ts
                    expected.setdefault(i, {})[TopicPartition(topic, p)] = expected_offset_for_time(got, p, ts)
                query.setdefault("past", {})[TopicPartition(topic, p)] = part[-1].ts + 1
                expected.setdefault("past", {})[TopicPartition(topic, p)] = None
            for k, q in query.items():
                res = c.offsets_for_times(q, timeout_ms=15000)
                actual = {tp: (None if v is None else v.offset) for tp, v in res.items()}
                assert actual == expected[k], f"{label}: offsets_for_times({q}) = {res}, expected {expected[k]}"
                for tp, v in res.items():
                    if v is not None:
                        g = next(g for g in got if g.partition == tp.partition and g.offset == v.offset)
                        assert v.timestamp == g.ts, f"{label}: {tp} timestamp {v.timestamp} != {g.ts}"
        finally:
            c.close()

    check("before restart")
    broker.restart(kill=True)
    check("after SIGKILL restart")


def test_admin_topics(broker, topic_name):
    names = [topic_name(f"-{i}") for i in range(3)]
    a = admin(broker)
    try:
        res = a.create_topics(
            {n: {"num_partitions": 3, "replication_factor": 1} for n in names}, wait_for_metadata=True
        )
        assert sorted(t["name"] for t in res["topics"]) == sorted(names)
        assert all(t["error_code"] == 0 for t in res["topics"]), res

        listed = a.list_topics()
        for n in names:
            assert n in listed, f"{n} not in {listed}"

        desc = {t["name"]: t for t in a.describe_topics(names)}
        for n in names:
            assert desc[n]["error_code"] == 0, desc[n]
            assert sorted(p["partition_index"] for p in desc[n]["partitions"]) == [0, 1, 2], desc[n]

        with pytest.raises(TopicAlreadyExistsError):
            a.create_topics({names[0]: {"num_partitions": 1, "replication_factor": 1}})

        a.create_partitions({names[1]: 4})
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            parts = a.describe_topics([names[1]])[0]["partitions"]
            if len(parts) == 4:
                break
            time.sleep(0.1)
        assert len(a.describe_topics([names[1]])[0]["partitions"]) == 4

        a.delete_topics([names[2]])
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline and names[2] in a.list_topics():
            time.sleep(0.1)
        assert names[2] not in a.list_topics()
        with pytest.raises(UnknownTopicOrPartitionError):
            a.delete_topics([names[2]])
    finally:
        a.close()


"""DescribeLogDirs (API 35) through kafka-python's admin client, as Kafka answers it: the
broker's one log dir, each replica's size on disk and lag, only the partitions asked for,
and the filesystem's total and usable bytes."""

from __future__ import annotations

import os

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from kafka.admin import KafkaAdminClient

TIMEOUT_S = 30


def test_describe_log_dirs(broker, topic_name):
    name, other = topic_name(), topic_name("-other")
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    for t, n in ((name, 2), (other, 1)):
        a.create_topics([NewTopic(t, n, 1)])[t].result(timeout=TIMEOUT_S)
    p = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(50):
        p.produce(name, value=b"x" * 100, partition=0)
    assert p.flush(TIMEOUT_S) == 0
    kp = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=TIMEOUT_S * 1000)
    try:
        everything = kp.describe_log_dirs()
        asked = kp.describe_log_dirs(topic_partitions={name: [0]})
    finally:
        kp.close()
    ((one_broker,),) = [everything]
    assert one_broker["broker"] == 1
    (d,) = one_broker["log_dirs"]
    assert d["error_code"] == 0 and os.path.samefile(d["log_dir"], broker.workdir / "data"), d
    sizes = {(t["name"], p["partition_index"]): (p["partition_size"], p["offset_lag"])
             for t in d["topics"] for p in t["partitions"]}
    assert {(name, 0), (name, 1), (other, 0)} <= set(sizes), sizes
    assert sizes[(name, 0)][0] > 50 * 100 and sizes[(name, 1)] == (0, 0), sizes
    on_disk = sum(f.stat().st_size for f in (broker.workdir / "data" / f"{name}-0").glob("*.log"))
    assert sizes[(name, 0)][0] == on_disk
    assert d["total_bytes"] >= d["usable_bytes"] > 0, d
    (only,) = asked[0]["log_dirs"]
    assert [(t["name"], [p["partition_index"] for p in t["partitions"]]) for t in only["topics"]] == [(name, [0])]

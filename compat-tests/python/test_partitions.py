"""Network partitions: each broker of a three-broker cluster in its own network namespace
(`netns_cluster.py`). The leader is cut off from the other two while clients still reach
it. With min.insync.replicas=2 it must not acknowledge acks=all writes; the majority
elects a new leader and the producer carries on there; after the cut heals the old
leader truncates and follows, nothing acknowledged is lost and the three replicas hold
the same log. Root only (ip netns); reported as skipped elsewhere."""

from __future__ import annotations

import filecmp
import shutil
import socket
import tempfile
import time
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

import kafka_wire as kw
import netns_cluster
from test_cluster import ContinuousProducer, partitions
from vltava_helpers import wait_until
from soak import check


@pytest.fixture
def ns_cluster(request):
    why = netns_cluster.unavailable()
    if why:
        pytest.skip(why)
    c = netns_cluster.NetnsCluster(Path(tempfile.mkdtemp(prefix="vltava-netns-")),
                                   {"min.insync.replicas": "2"})
    try:
        c.setup_network()
        c.start()
        yield c
    finally:
        c.shutdown()
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            print(c.tails())
        c.teardown_network()
        shutil.rmtree(c.workdir, ignore_errors=True)


def raw_produce(c, node: int, topic: str, value: int, correlation_id: int, timeout_ms: int):
    """An acks=all produce sent straight to `node`: (error code, base offset)."""
    with socket.create_connection(c.client_address(node), timeout=10) as s:
        s.settimeout(timeout_ms / 1000 + 30)
        batch = bytes(kw.record_batch_v2([(b"raw", str(value).encode())], int(time.time() * 1000)))
        kw.send_frame(s, kw.produce_v7(topic, 0, batch, correlation_id=correlation_id, timeout_ms=timeout_ms))
        return kw.parse_produce_v7(kw.Reader(kw.recv_frame(s)), correlation_id=correlation_id)[(topic, 0)]


def test_a_leader_cut_off_acknowledges_nothing_and_loses_nothing(ns_cluster):
    c = ns_cluster
    topic = "cut"
    admin = AdminClient({"bootstrap.servers": c.bootstrap})
    admin.create_topics([NewTopic(topic, 1, 3)])[topic].result(timeout=30)
    everyone = [1, 2, 3]
    wait_until(lambda: partitions(c, topic, everyone)[0][1] == (1, 2, 3), 30, "a full ISR")
    producer = ContinuousProducer(c.bootstrap, topic)
    producer.thread.start()
    raw_answers = {}
    try:
        time.sleep(2)
        leader = partitions(c, topic, everyone)[0][0]
        others = [n for n in everyone if n != leader]
        acked_before = len(producer.acked)
        c.cut(leader)
        cut_at = time.monotonic()
        # the cut-off leader, still reachable by clients, must not acknowledge
        raw_answers["during"] = raw_produce(c, leader, topic, 10**9, 91, timeout_ms=5000)
        assert raw_answers["during"][0] != 0, f"the cut-off leader acknowledged {raw_answers}"
        wait_until(lambda: partitions(c, topic, others)[0][0] in others, 60,
                   "the majority to elect a leader", c.tails)
        print(f"new leader {partitions(c, topic, others)[0][0]} after {time.monotonic() - cut_at:.1f}s")
        wait_until(lambda: len(producer.acked) > acked_before + 100, 60,
                   "the producer to carry on with the new leader", c.tails)
        raw_answers["again"] = raw_produce(c, leader, topic, 10**9 + 1, 92, timeout_ms=3000)
        assert raw_answers["again"][0] != 0, f"the cut-off leader acknowledged {raw_answers}"
        c.heal()
        healed_at = time.monotonic()
        wait_until(lambda: partitions(c, topic, everyone)[0][1] == (1, 2, 3), 60,
                   f"broker {leader} back in the ISR after the cut healed", c.tails)
        print(f"ISR full {time.monotonic() - healed_at:.1f}s after healing")
        time.sleep(1)
    finally:
        c.heal()
        producer.stop()
    # Records the producer kept sending to the cut-off leader (whose metadata still names
    # itself) may time out: they were never acknowledged, and are not counted as lost.
    result = check(c.bootstrap, topic, 1, producer.acked)
    print("check", {k: v for k, v in result.items() if k != "examples"}, raw_answers,
          f"produced {producer.sent}, acknowledged {len(producer.acked)}, failed {producer.failed}")
    assert result["lost"] == result["misplaced"] == result["duplicated"] == result["reordered"] == 0, result
    # no replica diverges: once caught up, the three logs are the same bytes
    for n in everyone:
        c.stop(n)
    logs = [c.workdir / f"data-{n}" / f"{topic}-0" / "00000000000000000000.log" for n in everyone]
    assert all(filecmp.cmp(logs[0], other, shallow=False) for other in logs[1:]), \
        [p.stat().st_size for p in logs]

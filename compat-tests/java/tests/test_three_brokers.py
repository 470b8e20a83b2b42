"""Three brokers on one machine, driven by Kafka's own tools (the quickstart's
multi-broker section and the operations guide): a replication-factor-3 topic whose
leaders are spread evenly, `kill -9` of a broker while the console producer keeps
writing with acks=all, ISR shrinking and growing back, reassign-partitions moving
data to other brokers, preferred leader election, and Kafka Connect in distributed
mode with three workers. Each runs against three vltava processes and against three
real Apache Kafka nodes (KRaft, a quorum of three)."""

from __future__ import annotations

import json
import re
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

import kafka_java
from conftest import BROKER_KINDS
from kafka_java import free_ports, tool
from test_connect_streams import file_connectors, lines_of, rest, spawn_worker, tail, wait_for, write_props
from test_connect_streams import _try as try_io
from test_connect_streams import worker_config

sys.path.append(str(kafka_java.JAVA_DIR.parent / "python"))
from vltava_cluster import Cluster  # noqa: E402

WAIT_S = 60.0


@pytest.fixture(scope="module", params=BROKER_KINDS)
def cluster(request):
    """Three brokers of one kind for the module, stopped by pid at its end."""
    workdir = Path(tempfile.mkdtemp(prefix=f"javasuite-3-{request.param}-"))
    if request.param == "vltava":
        c = Cluster(workdir)
        c.kind = "vltava"
    else:
        c = kafka_java.UpstreamKafkaCluster(workdir, {"group.initial.rebalance.delay.ms": "0"})
    c.start()
    yield c
    c.shutdown()
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def brokers(cluster):
    """The module's cluster with all three brokers running after each test."""
    yield cluster
    for n in (1, 2, 3):
        if not cluster.alive(n):
            cluster.restart(n)


def bootstrap_of(c, nodes) -> str:
    return ",".join(f"127.0.0.1:{c.client_ports[n]}" for n in nodes)


def topics(bootstrap: str, *args, **kw):
    return tool("kafka-topics.sh", "--bootstrap-server", bootstrap, *args, **kw)


PARTITION_RE = re.compile(r"Partition: (\d+)\tLeader: (-?\d+)\tReplicas: ([\d,]+)\tIsr: ([\d,]*)")


def describe(bootstrap: str, topic: str) -> dict[int, tuple[int, list[int], list[int]]]:
    """{partition: (leader, replicas, isr)} as kafka-topics.sh --describe prints them."""
    out = topics(bootstrap, "--describe", "--topic", topic).stdout
    parts = {}
    for m in PARTITION_RE.finditer(out):
        ids = lambda s: [int(x) for x in s.split(",") if x]  # noqa: E731
        parts[int(m.group(1))] = (int(m.group(2)), ids(m.group(3)), ids(m.group(4)))
    assert parts, out
    return parts


def wait_describe(bootstrap, topic, cond, what, timeout=WAIT_S):
    last = {}

    def check():
        nonlocal last
        last = describe(bootstrap, topic)
        return cond(last)

    wait_for(check, what, timeout=timeout, detail=lambda: repr(last))
    return last


def produce(bootstrap: str, topic: str, values: list[str]) -> None:
    tool("kafka-console-producer.sh", "--bootstrap-server", bootstrap, "--topic", topic,
         "--producer-property", "acks=all", "--producer-property", "delivery.timeout.ms=60000",
         input="".join(v + "\n" for v in values))


def consume_all(bootstrap: str, topic: str, n: int) -> list[str]:
    out = tool("kafka-console-consumer.sh", "--bootstrap-server", bootstrap, "--topic", topic,
               "--from-beginning", "--max-messages", str(n), "--timeout-ms", "30000")
    return out.stdout.splitlines()


def test_rf3_leaders_spread_kill_leader_isr_shrinks_and_grows(brokers, topic_name):
    c = brokers
    topic = topic_name()
    topics(c.bootstrap, "--create", "--topic", topic, "--partitions", "6", "--replication-factor", "3",
           "--config", "min.insync.replicas=2")
    parts = wait_describe(c.bootstrap, topic, lambda p: all(len(isr) == 3 for _, _, isr in p.values()),
                          "a full ISR on every partition")
    leaders = sorted(leader for leader, _, _ in parts.values())
    assert leaders == [1, 1, 2, 2, 3, 3], f"leaders not spread evenly: {parts}"

    produce(c.bootstrap, topic, [f"before-{i}" for i in range(300)])
    victim = parts[0][0]
    c.kill(victim)
    alive = [n for n in (1, 2, 3) if n != victim]
    survivors = bootstrap_of(c, alive)
    parts = wait_describe(
        survivors, topic,
        lambda p: all(leader in alive and victim not in isr for leader, _, isr in p.values()),
        f"leaders and ISRs without the killed broker {victim}")
    assert all(len(isr) == 2 for _, _, isr in parts.values()), parts
    produce(survivors, topic, [f"after-{i}" for i in range(300)])

    c.restart(victim)
    wait_describe(c.bootstrap, topic, lambda p: all(len(isr) == 3 for _, _, isr in p.values()),
                  f"broker {victim} back in every ISR", timeout=90)
    got = consume_all(c.bootstrap, topic, 600)
    want = [f"before-{i}" for i in range(300)] + [f"after-{i}" for i in range(300)]
    assert sorted(got) == sorted(want), f"{len(set(want) - set(got))} acknowledged records missing"


def test_reassign_partitions_moves_data(brokers, topic_name, tmp_path, expect):
    c = brokers
    expect("reassign-partitions", c.kind)
    topic = topic_name()
    topics(c.bootstrap, "--create", "--topic", topic, "--replica-assignment", "1:2,2:3")
    wait_describe(c.bootstrap, topic, lambda p: all(len(isr) == 2 for _, _, isr in p.values()), "full ISRs")
    values = [f"r{i}" for i in range(200)]
    produce(c.bootstrap, topic, values)

    plan = tmp_path / "reassign.json"
    plan.write_text(json.dumps({"version": 1, "partitions": [
        {"topic": topic, "partition": 0, "replicas": [3, 1], "log_dirs": ["any", "any"]},
        {"topic": topic, "partition": 1, "replicas": [1, 3], "log_dirs": ["any", "any"]},
    ]}))
    out = tool("kafka-reassign-partitions.sh", "--bootstrap-server", c.bootstrap,
               "--reassignment-json-file", str(plan), "--execute").stdout
    assert "Successfully started partition reassignments" in out, out

    def done():
        v = tool("kafka-reassign-partitions.sh", "--bootstrap-server", c.bootstrap,
                 "--reassignment-json-file", str(plan), "--verify", check=False)
        return v.returncode == 0 and "is completed" in v.stdout and "in progress" not in v.stdout

    wait_for(done, "the reassignment to complete")
    parts = wait_describe(c.bootstrap, topic,
                          lambda p: p[0][1] == [3, 1] and p[1][1] == [1, 3] and
                          all(len(isr) == 2 for _, _, isr in p.values()),
                          "the new replica sets in sync")
    assert 2 not in parts[0][1] + parts[1][1]
    # Broker 2 no longer holds either partition: the records now live on 1 and 3 only.
    c.stop(2)
    try:
        assert sorted(consume_all(bootstrap_of(c, [1, 3]), topic, 200)) == sorted(values)
    finally:
        c.restart(2)


def test_preferred_leader_election(brokers, topic_name, expect):
    c = brokers
    expect("leader-election-three-brokers", c.kind)
    topic = topic_name()
    topics(c.bootstrap, "--create", "--topic", topic, "--replica-assignment", "1:2:3,1:3:2")
    wait_describe(c.bootstrap, topic, lambda p: all(len(isr) == 3 for _, _, isr in p.values()), "full ISRs")
    c.stop(1)
    wait_describe(bootstrap_of(c, [2, 3]), topic, lambda p: all(leader != 1 for leader, _, _ in p.values()),
                  "leaders moved off broker 1")
    c.restart(1)
    wait_describe(c.bootstrap, topic, lambda p: all(1 in isr for _, _, isr in p.values()),
                  "broker 1 back in the ISRs", timeout=90)
    out = tool("kafka-leader-election.sh", "--bootstrap-server", c.bootstrap, "--election-type", "PREFERRED",
               "--topic", topic, "--partition", "0").stdout
    assert f"Successfully completed leader election (PREFERRED) for partitions {topic}-0" in out, out
    wait_describe(c.bootstrap, topic, lambda p: p[0][0] == 1, "broker 1 leading partition 0 again")


QUORUM_ROW_RE = re.compile(r"^(\d+)\s+\S+\s+(-?\d+)\s+(\d+)\s+(-?\d+)\s+(-?\d+)\s+(Leader|Follower|Observer)\s*$", re.M)


def quorum_replication(bootstrap: str) -> dict[int, tuple[int, int, int, str]]:
    """{node: (log end offset, lag, last caught-up timestamp, status)} as
    kafka-metadata-quorum.sh describe --replication prints them."""
    out = tool("kafka-metadata-quorum.sh", "--bootstrap-server", bootstrap, "describe", "--replication").stdout
    return {int(m.group(1)): (int(m.group(2)), int(m.group(3)), int(m.group(5)), m.group(6))
            for m in QUORUM_ROW_RE.finditer(out)}


def test_metadata_quorum_three_voters(brokers):
    """kafka-metadata-quorum.sh: three voters, one leader, the followers caught up; with the
    leader stopped, the other two elect a new one and describe the quorum without it."""
    c = brokers
    rows = {}

    def settled(bootstrap):
        nonlocal rows
        rows = quorum_replication(bootstrap)
        return (sorted(rows) == [1, 2, 3] and [r[3] for r in rows.values()].count("Leader") == 1
                and all(r[2] > 0 for r in rows.values()))

    wait_for(lambda: settled(c.bootstrap), "three voters caught up", detail=lambda: repr(rows))
    status = tool("kafka-metadata-quorum.sh", "--bootstrap-server", c.bootstrap, "describe", "--status").stdout
    leader = int(re.search(r"LeaderId:\s+(\d+)", status).group(1))
    assert rows[leader][3] == "Leader", (rows, status)
    assert re.search(r"CurrentVoters:\s+\[.*\"id\": 1.*\"id\": 2.*\"id\": 3", status), status
    assert re.search(r"HighWatermark:\s+\d+", status), status
    c.stop(leader)
    try:
        rest = bootstrap_of(c, [n for n in (1, 2, 3) if n != leader])

        def new_leader():
            nonlocal rows
            rows = quorum_replication(rest)
            leaders = [n for n, r in rows.items() if r[3] == "Leader"]
            return leaders != [] and leaders[0] != leader

        wait_for(new_leader, "a new quorum leader", detail=lambda: repr(rows))
        assert sorted(rows) == [1, 2, 3], rows
    finally:
        c.restart(leader)


def test_connect_distributed_three_workers(brokers, topic_name, tmp_path):
    c = brokers
    topic = topic_name()
    source, sink = tmp_path / "source.txt", tmp_path / "sink.txt"
    source.write_text("".join(f"d{i}\n" for i in range(50)))
    rest_ports = free_ports(3)
    storage = {"group.id": topic_name("-connect"), "scheduled.rebalance.max.delay.ms": "2000"}
    for kind, suffix in (("config", "-configs"), ("offset", "-offsets"), ("status", "-status")):
        storage[f"{kind}.storage.topic"] = topic_name(suffix)
        storage[f"{kind}.storage.replication.factor"] = "3"
    workers = {}
    logs = {}
    for i, port in enumerate(rest_ports):
        props = write_props(tmp_path / f"worker-{i}.properties", {**worker_config(c, port), **storage})
        logs[port] = tmp_path / f"connect-{i}.log"
        workers[port] = spawn_worker("connect-distributed.sh", str(props), log=logs[port])

    def all_tails():
        return "\n".join(f"--- worker {p} ---\n{tail(log, 30)}" for p, log in logs.items())

    try:
        for port in rest_ports:
            wait_for(lambda: try_io(lambda: rest(port, "GET", "/connectors")[0] == 200),
                     f"the REST API of worker {port}", detail=all_tails)
        src_cfg, snk_cfg = file_connectors(source, sink, topic)
        for port, (name, cfg) in zip(rest_ports, (("src", src_cfg), ("snk", snk_cfg))):
            # Any worker takes the request (a follower forwards it to the leader).
            status, _ = wait_for(lambda: try_io(lambda: rest(port, "POST", "/connectors",
                                                             {"name": name, "config": cfg})),
                                 f"creating {name} through worker {port}", detail=all_tails)
            assert status == 201
        wait_for(lambda: len(lines_of(sink)) >= 50, "50 lines in the sink", detail=all_tails)

        def sink_worker():
            """The worker running the sink's task, as any running worker reports it."""
            port = next(iter(workers))
            st = try_io(lambda: rest(port, "GET", "/connectors/snk/status")[1])
            tasks = (st or {}).get("tasks") or []
            return tasks[0]["worker_id"] if tasks and tasks[0]["state"] == "RUNNING" else None

        running_on = wait_for(sink_worker, "the sink task running")
        port = int(running_on.rsplit(":", 1)[1])
        assert port in workers, running_on
        kafka_java.stop_process(workers.pop(port), timeout=60)
        with source.open("a") as f:
            f.write("".join(f"d{i}\n" for i in range(50, 80)))
        # The sink task moves to a surviving worker and goes on from the committed offsets.
        wait_for(lambda: len(lines_of(sink)) >= 80, "lines after the sink's worker stopped", detail=all_tails)
        moved = wait_for(lambda: (w := sink_worker()) and w != running_on and w, "the sink task on another worker")
        other = int(moved.rsplit(":", 1)[1])
        assert rest(other, "PUT", "/connectors/snk/pause")[0] == 202
        wait_for(lambda: try_io(lambda: rest(other, "GET", "/connectors/snk/status")[1]["connector"]["state"])
                 == "PAUSED", "the sink to pause")
        assert rest(other, "PUT", "/connectors/snk/resume")[0] == 202
        assert rest(other, "DELETE", "/connectors/src")[0] == 204
        wait_for(lambda: try_io(lambda: rest(other, "GET", "/connectors")[1]) == ["snk"], "src deleted")
        got = lines_of(sink)
        assert sorted(set(got)) == sorted(f"d{i}" for i in range(80)), got
    finally:
        for proc in workers.values():
            kafka_java.stop_process(proc, timeout=60)

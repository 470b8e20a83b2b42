"""Consumer groups with real clients: load balancing and rebalances under churn,
broadcast across groups, committed offsets across broker restarts and crashes, admin
views, and wire-level bad input to the group APIs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

import kafka_wire as kw
from vltava_helpers import wait_until

HERE = Path(__file__).resolve().parent
WORKER = HERE / "group_worker.py"
GROUP_OVERRIDES = {"group.initial.rebalance.delay.ms": "0"}


@pytest.fixture
def gbroker(broker_factory):
    return broker_factory(GROUP_OVERRIDES)


def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(timeout=30)


def produce(bootstrap: str, topic: str, first: int, count: int, partitions: int) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i in range(first, first + count):
        p.produce(topic, key=str(i).encode(), value=f"v-{i}".encode(), partition=i % partitions)
    assert p.flush(30) == 0


class Worker:
    """One group_worker.py process and its report file."""

    def __init__(self, tmp: Path, name: str, bootstrap: str, group: str, topic: str, strategy: str = "range"):
        self.name = name
        self.path = tmp / f"{name}.out"
        self.path.touch()
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER), bootstrap, group, topic, str(self.path), strategy],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(tmp / f"{name}.err", "wb"),
        )

    def lines(self) -> list[str]:
        return self.path.read_text().splitlines()

    def assignment(self) -> tuple[int, ...] | None:
        last = None
        for line in self.lines():
            if line.startswith("A "):
                rest = line[2:].strip()
                last = tuple(int(p) for p in rest.split(",")) if rest else ()
        return last

    def records(self) -> list[tuple[int, int, str]]:
        out = []
        for line in self.lines():
            if line.startswith("R "):
                _, p, o, v = line.split(" ", 3)
                out.append((int(p), int(o), v))
        return out

    def stop(self, kill: bool = False) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)


def partitioned(workers: list[Worker], sizes: list[int]) -> bool:
    """True when the workers' assignments are disjoint, cover 0..3, with these sizes."""
    assigned = [w.assignment() for w in workers]
    if any(a is None for a in assigned):
        return False
    flat = [p for a in assigned for p in a]
    return sorted(flat) == [0, 1, 2, 3] and sorted(len(a) for a in assigned) == sorted(sizes)


@pytest.mark.parametrize("strategy", ["range", "cooperative-sticky"])
def test_load_balancing_and_rebalancing_under_churn(gbroker, topic_name, tmp_path, strategy):
    b = gbroker.bootstrap
    topic = topic_name()
    create_topic(b, topic, 4)
    produce(b, topic, 0, 400, 4)
    show = lambda ws: lambda: {w.name: w.assignment() for w in ws}  # noqa: E731

    a = Worker(tmp_path, "a", b, "lb", topic, strategy)
    w_b = Worker(tmp_path, "b", b, "lb", topic, strategy)
    try:
        wait_until(lambda: partitioned([a, w_b], [2, 2]), 60, "two members with two partitions each", show([a, w_b]))

        c = Worker(tmp_path, "c", b, "lb", topic, strategy)
        wait_until(lambda: partitioned([a, w_b, c], [2, 1, 1]), 60, "a third member to get a share", show([a, w_b, c]))
        produce(b, topic, 400, 400, 4)

        a.stop()  # clean close: LeaveGroup
        assert "CLOSED" in a.lines()
        wait_until(lambda: partitioned([w_b, c], [2, 2]), 60, "partitions of the closed member to move", show([w_b, c]))
        produce(b, topic, 800, 400, 4)

        w_b.stop(kill=True)  # dies: only its session timeout tells the group
        wait_until(lambda: partitioned([c], [4]), 60, "the dead member's partitions to move", show([c]))
        produce(b, topic, 1200, 400, 4)

        everyone = lambda: [r for w in (a, w_b, c) for r in w.records()]  # noqa: E731
        # A killed member may have committed a record it could not report any more.
        missing = lambda: sorted(  # noqa: E731
            {f"v-{i}" for i in range(1600)} - {r[2] for r in everyone()}, key=lambda v: int(v[2:]))
        wait_until(lambda: len({r[2] for r in everyone()}) >= 1598, 60, "all records to be consumed",
                 lambda: f"{len(everyone())} reported; missing {missing()}; "
                         f"errors {[(w.name, line) for w in (a, w_b, c) for line in w.lines() if line.startswith('E ')]}")
        c.stop()
    finally:
        for w in (a, w_b):
            w.stop(kill=True)
    records = everyone()
    values = [v for _, _, v in records]
    dupes = {v for v in values if values.count(v) > 1}
    assert not dupes, f"records consumed twice despite synchronous commits: {sorted(dupes)[:10]}"
    missing = {f"v-{i}" for i in range(1600)} - set(values)
    assert len(missing) <= 2, f"records never consumed: {sorted(missing)[:10]}"
    for p in range(4):
        offsets = sorted(o for part, o, _ in records if part == p)
        assert offsets == sorted(set(offsets)), f"partition {p} offsets repeated"


def test_each_group_receives_every_record(gbroker, topic_name, tmp_path):
    b = gbroker.bootstrap
    topic = topic_name()
    create_topic(b, topic, 4)
    produce(b, topic, 0, 500, 4)
    g1 = Worker(tmp_path, "g1", b, "broadcast-1", topic)
    g2 = Worker(tmp_path, "g2", b, "broadcast-2", topic, "cooperative-sticky")
    try:
        for w in (g1, g2):
            wait_until(lambda w=w: len(w.records()) >= 500, 60, f"{w.name} to read everything",
                     lambda w=w: len(w.records()))
    finally:
        g1.stop()
        g2.stop()
    for w in (g1, g2):
        assert sorted(v for _, _, v in w.records()) == sorted(f"v-{i}" for i in range(500))


def consume_some(bootstrap: str, group: str, topic: str, count: int, strategy: str = "range") -> list:
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "partition.assignment.strategy": strategy,
    })
    c.subscribe([topic])
    got = []
    deadline = time.monotonic() + 60
    while len(got) < count and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is None or m.error():
            continue
        got.append(m)
        c.commit(message=m, asynchronous=False)
    c.close()
    return got


@pytest.mark.parametrize("kill", [False, True], ids=["clean-restart", "kill-9"])
def test_committed_offsets_survive_broker_restart(gbroker, topic_name, kill):
    b = gbroker.bootstrap
    topic = topic_name()
    create_topic(b, topic, 2)
    produce(b, topic, 0, 1000, 2)
    first = consume_some(b, "resume", topic, 400)
    assert len(first) == 400
    committed_before = {}
    for m in first:
        committed_before[m.partition()] = m.offset() + 1

    gbroker.restart(kill=kill)
    b = gbroker.bootstrap
    admin = AdminClient({"bootstrap.servers": b})
    res = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions("resume")])["resume"].result(timeout=30)
    committed_after = {tp.partition: tp.offset for tp in res.topic_partitions if tp.offset >= 0}
    assert committed_after == committed_before

    rest = consume_some(b, "resume", topic, 600)
    seen = {(m.partition(), m.offset()) for m in first}
    again = {(m.partition(), m.offset()) for m in rest}
    assert not (seen & again), "resumed consumer re-read committed records"
    assert len(seen | again) == 1000


@pytest.mark.parametrize("kill", [False, True], ids=["clean-restart", "kill-9"])
def test_commits_just_before_close_while_another_member_leaves_survive_restart(gbroker, topic_name, kill):
    """Two members commit every record synchronously; at the same moment one commits its
    last record and closes while the other leaves. After a broker restart the group's
    offsets are each partition's last acknowledged commit, exactly (none of them older)."""
    b = gbroker.bootstrap
    topic = topic_name()
    create_topic(b, topic, 4)
    produce(b, topic, 0, 2000, 4)
    last_commit: dict[int, int] = {}
    lock = threading.Lock()
    both_done = threading.Barrier(2, timeout=90)
    errors: list[str] = []

    def commit(name: str, c, m) -> None:
        try:
            done = c.commit(message=m, asynchronous=False)
        except KafkaException as e:
            errors.append(f"{name}: {e}")  # refused in a rebalance: not acknowledged
            return
        with lock:
            for tp in done:
                last_commit[tp.partition] = tp.offset

    def member(name: str, count: int, hold_last: bool) -> None:
        c = Consumer({"bootstrap.servers": b, "group.id": "closing", "auto.offset.reset": "earliest",
                      "enable.auto.commit": False, "session.timeout.ms": 10000,
                      "heartbeat.interval.ms": 500})
        c.subscribe([topic])
        n, held = 0, None
        deadline = time.monotonic() + 60
        try:
            while n < count and time.monotonic() < deadline:
                m = c.poll(0.2)
                if m is None or m.error():
                    continue
                n += 1
                if hold_last and n == count:
                    held = m
                else:
                    commit(name, c, m)
            both_done.wait()
            if held is not None:
                commit(name, c, held)  # while the other member is leaving
        finally:
            c.close()

    threads = [threading.Thread(target=member, args=("a", 300, True)),
               threading.Thread(target=member, args=("b", 300, False))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert last_commit, f"nothing committed: {errors}"
    gbroker.restart(kill=kill)
    admin = AdminClient({"bootstrap.servers": gbroker.bootstrap})
    res = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions("closing")])["closing"].result(timeout=30)
    after = {tp.partition: tp.offset for tp in res.topic_partitions if tp.offset >= 0}
    assert after == last_commit, f"acknowledged {last_commit}, after the restart {after}; refused: {errors[:5]}"


def test_admin_views_of_groups(gbroker, topic_name):
    b = gbroker.bootstrap
    topic = topic_name()
    create_topic(b, topic, 3)
    produce(b, topic, 0, 300, 3)
    c = Consumer({"bootstrap.servers": b, "group.id": "viewed", "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    c.subscribe([topic])
    got = 0
    deadline = time.monotonic() + 60
    while got < 100 and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            got += 1
    c.commit(asynchronous=False)
    admin = AdminClient({"bootstrap.servers": b})
    listed = {g.group_id: g for g in admin.list_consumer_groups().result(timeout=30).valid}
    assert "viewed" in listed
    desc = admin.describe_consumer_groups(["viewed"])["viewed"].result(timeout=30)
    assert str(desc.state).endswith("STABLE")
    assert len(desc.members) == 1
    parts = sorted(tp.partition for tp in desc.members[0].assignment.topic_partitions)
    assert parts == [0, 1, 2]
    with pytest.raises(KafkaException):
        admin.delete_consumer_groups(["viewed"])["viewed"].result(timeout=30)  # not empty
    c.close()
    offsets = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions("viewed")])["viewed"].result(timeout=30)
    assert sum(tp.offset for tp in offsets.topic_partitions) == got
    # Reset offsets the way kafka-consumer-groups.sh --reset-offsets does.
    reset = [TopicPartition(topic, p, 0) for p in range(3)]
    admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions("viewed", reset)])["viewed"].result(timeout=30)
    offsets = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions("viewed")])["viewed"].result(timeout=30)
    assert all(tp.offset == 0 for tp in offsets.topic_partitions)
    admin.delete_consumer_groups(["viewed"])["viewed"].result(timeout=30)
    listed = {g.group_id for g in admin.list_consumer_groups().result(timeout=30).valid}
    assert "viewed" not in listed


def test_kafka_python_group_split_and_resume(gbroker, topic_name):
    """Two kafka-python members split the partitions, commit every record, and a new
    member of the group resumes from those commits with nothing left. The assignments
    are compared while both are members (a member that closes first hands its
    partitions to the other, as it should)."""
    from kafka import KafkaConsumer

    b = gbroker.bootstrap
    topic = topic_name()
    create_topic(b, topic, 4)
    produce(b, topic, 0, 800, 4)
    results: dict[str, list] = {}
    assignments: dict[str, set[int]] = {}
    seen: set[tuple[int, int]] = set()
    lock = threading.Lock()
    all_read = threading.Event()
    split = threading.Event()
    both_members = threading.Barrier(2, timeout=90)

    def run(name: str) -> None:
        c = KafkaConsumer(topic, bootstrap_servers=b, group_id="kp-group", auto_offset_reset="earliest",
                          enable_auto_commit=False, consumer_timeout_ms=500, session_timeout_ms=10000,
                          heartbeat_interval_ms=500)
        got = []
        deadline = time.monotonic() + 60
        try:
            while not all_read.is_set() and time.monotonic() < deadline:
                for m in c:
                    got.append((m.partition, m.offset))
                    c.commit()
                    with lock:
                        seen.add((m.partition, m.offset))
                        if len(seen) >= 800:
                            all_read.set()
            results[name] = got
            both_members.wait()
            # both are members now (one may have joined only now): poll until the
            # rebalance settles on a split
            settle_by = time.monotonic() + 30
            while not split.is_set() and time.monotonic() < settle_by:
                c.poll(timeout_ms=200)
                with lock:
                    assignments[name] = {tp.partition for tp in c.assignment()}
                    ax, ay = assignments.get("x"), assignments.get("y")
                    if ax and ay and not (ax & ay) and ax | ay == {0, 1, 2, 3}:
                        split.set()
            both_members.wait()
        finally:
            c.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in ("x", "y")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert split.is_set(), f"the two members never split the partitions: {assignments}"
    assert len(set(results["x"]) | set(results["y"])) == 800
    # A new member of the same group starts from the committed offsets: nothing left.
    c = KafkaConsumer(topic, bootstrap_servers=b, group_id="kp-group", auto_offset_reset="earliest",
                      consumer_timeout_ms=4000)
    assert list(c) == []
    c.close()


def test_kcat_balanced_consumer_cooperative_sticky(gbroker, topic_name):
    b = gbroker.bootstrap
    topic = topic_name()
    create_topic(b, topic, 4)
    produce(b, topic, 0, 400, 4)
    args = ["kcat", "-b", b, "-G", "kcat-group", topic, "-X", "partition.assignment.strategy=cooperative-sticky",
            "-X", "auto.offset.reset=earliest", "-X", "enable.auto.commit=true", "-X", "auto.commit.interval.ms=100",
            "-e", "-f", "%p %o %s\n", "-q"]
    out = subprocess.run(args, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    lines = out.stdout.decode().split()
    values = [v for v in out.stdout.decode().splitlines()]
    assert len(values) == 400, out.stderr.decode()[-2000:]
    admin = AdminClient({"bootstrap.servers": b})
    res = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions("kcat-group")])["kcat-group"].result(timeout=30)
    assert sorted(tp.offset for tp in res.topic_partitions) == [100, 100, 100, 100]
    # Running again resumes from the committed offsets: nothing new.
    out = subprocess.run(args, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    assert out.stdout.decode().strip() == "", out.stdout.decode()[:500]
    assert lines


# ------------------------------------------------------------- wire-level bad input
def group_request(api_key: int, version: int, body: bytes, correlation_id: int = 77) -> bytes:
    return kw.header(api_key, version, correlation_id) + body


def call(port: int, api_key: int, version: int, body: bytes) -> kw.Reader:
    r = kw.roundtrip(port, group_request(api_key, version, body))
    assert r.i32() == 77
    return r


def test_group_apis_reject_bad_input_with_kafka_codes(gbroker):
    port = gbroker.port
    # FindCoordinator v1 for a group: this broker.
    r = call(port, 10, 1, kw.string("bad-input") + kw.i8(0))
    r.i32()  # throttle
    assert r.i16() == 0
    # Heartbeat v1 for a group that does not exist: UNKNOWN_MEMBER_ID (25).
    r = call(port, 12, 1, kw.string("no-such-group") + kw.i32(1) + kw.string("m"))
    r.i32()
    assert r.i16() == 25
    # JoinGroup v2 with a session timeout below group.min.session.timeout.ms: 26.
    join = (kw.string("bad-input") + kw.i32(10) + kw.i32(1000) + kw.string("") + kw.string("consumer")
            + kw.array([kw.string("range") + kw.nbytes(b"\x00")]))
    r = call(port, 11, 2, join)
    r.i32()
    assert r.i16() == 26
    # SyncGroup v1 with an unknown member: UNKNOWN_MEMBER_ID.
    r = call(port, 14, 1, kw.string("no-such-group") + kw.i32(1) + kw.string("m") + kw.array([]))
    r.i32()
    assert r.i16() == 25
    # OffsetCommit v2 (standalone) to an unknown topic: UNKNOWN_TOPIC_OR_PARTITION (3) for it.
    commit = (kw.string("bad-input") + kw.i32(-1) + kw.string("") + kw.i64(-1)
              + kw.array([kw.string("no-such-topic") + kw.array([kw.i32(0) + kw.i64(5) + kw.string("")])]))
    r = call(port, 8, 2, commit)
    assert r.i32() == 1  # topics
    assert r.string() == "no-such-topic"
    assert r.i32() == 1
    assert r.i32() == 0 and r.i16() == 3
    # OffsetCommit v2 from a member with a stale generation of a live group: handled in
    # the state-machine tests; here the group does not exist, so Kafka says ILLEGAL_GENERATION.
    create = kw.create_topics_v4([("grp-bad", 1, 1)])
    kw.roundtrip(port, create)
    commit = (kw.string("bad-input-2") + kw.i32(3) + kw.string("ghost") + kw.i64(-1)
              + kw.array([kw.string("grp-bad") + kw.array([kw.i32(0) + kw.i64(5) + kw.string("")])]))
    r = call(port, 8, 2, commit)
    assert r.i32() == 1 and r.string() == "grp-bad" and r.i32() == 1
    assert r.i32() == 0 and r.i16() == 22
    # Oversized commit metadata: OFFSET_METADATA_TOO_LARGE (12), and nothing is stored.
    commit = (kw.string("bad-input-3") + kw.i32(-1) + kw.string("") + kw.i64(-1)
              + kw.array([kw.string("grp-bad") + kw.array([kw.i32(0) + kw.i64(5) + kw.string("x" * 5000)])]))
    r = call(port, 8, 2, commit)
    assert r.i32() == 1 and r.string() == "grp-bad" and r.i32() == 1
    assert r.i32() == 0 and r.i16() == 12
    # DeleteGroups v0 of a missing group: GROUP_ID_NOT_FOUND (69).
    r = call(port, 42, 0, kw.array([kw.string("never-was")]))
    r.i32()
    assert r.i32() == 1 and r.string() == "never-was" and r.i16() == 69
    assert gbroker.alive()

"""Three brokers as separate processes on loopback (Kafka's quickstart section 5):
replication factor 3, leaders spread evenly, `kill -9` of leaders and of the active
controller while an idempotent acks=all producer keeps going, nothing acknowledged lost,
killed brokers truncate, catch up and rejoin the ISR, and min.insync.replicas refusals."""

from __future__ import annotations

import collections
import shutil
import tempfile
import threading
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

import kafka_wire as kw
from vltava_cluster import Cluster
from vltava_helpers import wait_until


def started_cluster(request, overrides: dict[str, str] | None = None):
    c = Cluster(Path(tempfile.mkdtemp(prefix="vltava-cluster-")), overrides)
    c.start()
    yield c
    c.shutdown()
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        print(c.tails())
    shutil.rmtree(c.workdir, ignore_errors=True)


@pytest.fixture
def cluster(request):
    yield from started_cluster(request)


@pytest.fixture
def patient_cluster(request):
    """A cluster whose leaders keep a silent follower in the ISR for 60 s, so a paused
    follower holds acks=all answers until the request's own timeout, however loaded the
    machine is."""
    yield from started_cluster(request, {"replica.lag.time.max.ms": "60000"})


def admin(c: Cluster) -> AdminClient:
    return AdminClient({"bootstrap.servers": c.bootstrap})


def partitions(c: Cluster, topic: str, alive: list[int]) -> dict[int, tuple[int, tuple[int, ...]]]:
    """{partition: (leader, isr)} as one of the live brokers reports it."""
    a = AdminClient({"bootstrap.servers": c.bootstrap_of(alive)})
    md = a.list_topics(topic, timeout=10).topics[topic]
    return {p.id: (p.leader, tuple(sorted(p.isrs))) for p in md.partitions.values()}


def controller_id(c: Cluster, alive: list[int]) -> int:
    r = kw.roundtrip(c.client_ports[alive[0]], kw.metadata_v4([], correlation_id=31))
    assert r.i32() == 31
    r.i32()  # throttle
    for _ in range(r.i32()):
        r.i32(), r.string(), r.i32(), r.string()
    r.string()  # cluster id
    return r.i32()


def create_topic(c: Cluster, name: str, partitions_: int, configs: dict | None = None) -> None:
    a = admin(c)  # keep the client alive until the result arrives
    a.create_topics([NewTopic(name, partitions_, 3, config=configs or {})])[name].result(timeout=30)


def test_leaders_are_spread_evenly(cluster):
    create_topic(cluster, "spread", 6)
    parts = wait_until(lambda: partitions(cluster, "spread", [1, 2, 3]), 20, "metadata")
    leaders = collections.Counter(leader for leader, _ in parts.values())
    assert leaders == {1: 2, 2: 2, 3: 2}, parts
    assert all(isr == (1, 2, 3) for _, isr in parts.values()), parts
    # The same through DescribeTopicPartitions (what kafka-topics.sh --describe uses).
    from kafka import KafkaAdminClient

    kp = KafkaAdminClient(bootstrap_servers=cluster.bootstrap)
    described = kp.describe_topics(["spread"])[0]
    kp.close()
    assert described["error_code"] == 0
    by_partition = {p["partition_index"]: p for p in described["partitions"]}
    for p, (leader, isr) in parts.items():
        assert by_partition[p]["leader_id"] == leader
        assert tuple(sorted(by_partition[p]["isr_nodes"])) == isr
        assert sorted(by_partition[p]["replica_nodes"]) == [1, 2, 3]


class ContinuousProducer:
    """An idempotent acks=all producer writing unique values until stopped."""

    def __init__(self, bootstrap: str, topic: str):
        self.topic = topic
        self.producer = Producer({
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 5,
            "message.timeout.ms": 60000,
        })
        self.sent = 0
        self.acked: dict[int, tuple[int, int]] = {}
        self.failed = 0
        self.stop_flag = False
        self.thread = threading.Thread(target=self.run, daemon=True)

    def on_delivery(self, err, msg):
        if err is None:
            self.acked[int(msg.value())] = (msg.partition(), msg.offset())
        else:
            self.failed += 1

    def run(self):
        i = 0
        while not self.stop_flag:
            self.producer.produce(self.topic, key=str(i % 100).encode(), value=str(i).encode(),
                                  on_delivery=self.on_delivery)
            self.sent += 1
            i += 1
            self.producer.poll(0)
            time.sleep(0.001)

    def stop(self):
        self.stop_flag = True
        self.thread.join(timeout=30)
        assert self.producer.flush(90) == 0


class ContinuousConsumer:
    """A group consumer reading while brokers die (its coordinator may die too)."""

    def __init__(self, bootstrap: str, topic: str):
        self.consumer = Consumer({
            "bootstrap.servers": bootstrap,
            "group.id": "live-reader",
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
        })
        self.consumer.subscribe([topic])
        self.count = 0
        self.stop_flag = False
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop_flag:
            for m in self.consumer.consume(500, 0.2):
                if not m.error():
                    self.count += 1

    def stop(self):
        self.stop_flag = True
        self.thread.join(timeout=30)
        self.consumer.close()


def consume_all(bootstrap: str, topic: str, n_partitions: int, expected: int) -> dict[int, list[int]]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "verify", "enable.auto.commit": False})
    c.assign([TopicPartition(topic, p, 0) for p in range(n_partitions)])
    out: dict[int, list[int]] = collections.defaultdict(list)
    total = 0
    deadline = time.monotonic() + 90
    while total < expected and time.monotonic() < deadline:
        for m in c.consume(1000, 1):
            if m.error():
                continue
            out[m.partition()].append(int(m.value()))
            total += 1
    c.close()
    return out


def test_kill_leaders_and_controller_nothing_acknowledged_is_lost(cluster):
    topic = "failover"
    create_topic(cluster, topic, 6)
    wait_until(lambda: all(isr == (1, 2, 3) for _, isr in partitions(cluster, topic, [1, 2, 3]).values()),
               20, "full ISRs")
    producer = ContinuousProducer(cluster.bootstrap, topic)
    producer.thread.start()
    reader = ContinuousConsumer(cluster.bootstrap, topic)
    reader.thread.start()
    report = []
    alive = [1, 2, 3]
    try:
        time.sleep(2)
        victims = []
        # Cycle 1: the leader of partition 0; cycle 2: another broker; cycle 3: the
        # active controller.
        for cycle in range(3):
            parts = partitions(cluster, topic, alive)
            if cycle == 0:
                victim = parts[0][0]
            elif cycle == 1:
                victim = next(n for n in (1, 2, 3) if n not in victims)
            else:
                victim = controller_id(cluster, alive)
            victims.append(victim)
            sent_before, acked_before = producer.sent, len(producer.acked)
            read_before = reader.count
            cluster.kill(victim)
            killed_at = time.monotonic()
            alive = [n for n in (1, 2, 3) if n != victim]
            wait_until(
                lambda: all(leader in alive for leader, _ in partitions(cluster, topic, alive).values()),
                60, f"new leaders after killing broker {victim}", cluster.tails)
            to_leader = time.monotonic() - killed_at
            wait_until(
                lambda: all(victim not in isr for _, isr in partitions(cluster, topic, alive).values()),
                30, "the ISR to shrink")
            time.sleep(1)
            cluster.restart(victim)
            restarted_at = time.monotonic()
            alive = [1, 2, 3]
            wait_until(
                lambda: all(isr == (1, 2, 3) for _, isr in partitions(cluster, topic, alive).values()),
                60, f"broker {victim} to rejoin every ISR", cluster.tails)
            report.append({
                "cycle": cycle + 1,
                "killed": victim,
                "time_to_new_leader_s": round(to_leader, 2),
                "time_to_rejoin_isr_s": round(time.monotonic() - restarted_at, 2),
                "produced": producer.sent - sent_before,
                "acknowledged": len(producer.acked) - acked_before,
            })
            wait_until(lambda: reader.count > read_before, 30, "the group consumer to keep reading")
            report[-1]["consumed_by_live_group_consumer"] = reader.count - read_before
            time.sleep(1)
    finally:
        producer.stop()
        reader.stop()
    got = consume_all(cluster.bootstrap, topic, 6, len(producer.acked))
    consumed = [v for vs in got.values() for v in vs]
    lost = set(producer.acked) - set(consumed)
    dupes = len(consumed) - len(set(consumed))
    for r in report:
        print("kill cycle", r)
    print(f"total: produced {producer.sent}, acknowledged {len(producer.acked)}, "
          f"consumed {len(consumed)}, lost {len(lost)}, duplicates {dupes}")
    assert not lost, f"{len(lost)} acknowledged records lost, e.g. {sorted(lost)[:10]}"
    assert dupes == 0, "records duplicated despite the idempotent producer"
    for p, values in got.items():
        assert values == sorted(values), f"partition {p} out of order"
    assert producer.failed == 0
    assert len(report) == 3


def test_min_insync_replicas_refuses_acks_all(cluster):
    topic = "min-isr"
    create_topic(cluster, topic, 1, {"min.insync.replicas": "2"})
    parts = wait_until(lambda: partitions(cluster, topic, [1, 2, 3]), 20, "metadata")
    leader = parts[0][0]
    others = [n for n in (1, 2, 3) if n != leader]
    batch = bytes(kw.record_batch_v2([(b"k", b"v")], int(time.time() * 1000)))
    r = kw.roundtrip(cluster.client_ports[leader], kw.produce_v7(topic, 0, batch))
    assert kw.parse_produce_v7(r)[(topic, 0)][0] == 0, "acks=all with a full ISR works"
    # One follower dies; the other shuts down cleanly (leaving the ISR while the
    # controller quorum still has a majority). Two of three brokers are down.
    cluster.kill(others[0])
    wait_until(lambda: others[0] not in partitions(cluster, topic, [leader])[0][1], 30, "ISR shrink")
    cluster.stop(others[1])
    wait_until(lambda: partitions(cluster, topic, [leader])[0][1] == (leader,), 30, "ISR of one")
    r = kw.roundtrip(cluster.client_ports[leader], kw.produce_v7(topic, 0, batch, correlation_id=12))
    err, _ = kw.parse_produce_v7(r, correlation_id=12)[(topic, 0)]
    assert err == 19, f"expected NOT_ENOUGH_REPLICAS (19), got {err}"
    c = Consumer({"bootstrap.servers": cluster.bootstrap_of([leader]), "group.id": "mi",
                  "enable.auto.commit": False})
    low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    c.close()
    assert high == 1, "the refused batch was not written"


def test_acks_all_to_many_partitions_waits_once(patient_cluster):
    """One produce request to every partition a broker leads, with a follower that stops
    fetching: every partition times out, all within one timeout_ms (not one per partition),
    and once the follower is back the same request succeeds."""
    cluster = patient_cluster
    topic = "wide"
    create_topic(cluster, topic, 30)
    parts = wait_until(lambda: partitions(cluster, topic, [1, 2, 3]), 30, "metadata")
    leader = parts[0][0]
    led = sorted(p for p, (l, _) in parts.items() if l == leader)
    follower = next(n for n in (1, 2, 3) if n != leader)
    batch = bytes(kw.record_batch_v2([(b"k", b"v")], int(time.time() * 1000)))
    timeout_ms = 2000

    def succeeds():
        r = kw.roundtrip(cluster.client_ports[leader], kw.produce_v7(topic, led, batch, correlation_id=42))
        return all(err == 0 for err, _ in kw.parse_produce_v7(r, correlation_id=42).values())

    # A new topic's ISR is all its replicas at once: wait until the leader hosts every
    # partition and the followers really fetch.
    wait_until(succeeds, 30, "acks=all to succeed on every partition the leader leads")
    cluster.pause(follower)
    try:
        started = time.monotonic()
        r = kw.roundtrip(cluster.client_ports[leader],
                         kw.produce_v7(topic, led, batch, correlation_id=41, timeout_ms=timeout_ms))
        took = time.monotonic() - started
        answers = kw.parse_produce_v7(r, correlation_id=41)
    finally:
        cluster.resume(follower)
    errors = {p: answers[(topic, p)][0] for p in led}
    assert set(errors.values()) == {7}, f"expected REQUEST_TIMED_OUT (7) everywhere: {errors}"
    # Sequential waits would take len(led) x timeout; one deadline takes one.
    assert took < 3 * timeout_ms / 1000, f"{len(led)} partitions answered after {took:.1f}s"
    wait_until(succeeds, 30, "acks=all to succeed with the follower back")


def coordinator_of(c: Cluster, group: str, alive: list[int]) -> int:
    a = AdminClient({"bootstrap.servers": c.bootstrap_of(alive)})
    return a.describe_consumer_groups([group])[group].result(timeout=30).coordinator.id


def test_committed_offsets_survive_killing_the_coordinator(cluster):
    """Offsets are acknowledged only once __consumer_offsets has them on every in-sync
    replica: kill -9 of the coordinator right after the last acknowledged commit loses
    none of them."""
    topic = "commits"
    create_topic(cluster, topic, 1)
    alive = [1, 2, 3]
    for round_ in range(2):
        group = f"survivor-{round_}"
        committer = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": group,
                              "enable.auto.commit": False})
        committer.commit(offsets=[TopicPartition(topic, 0, 1)], asynchronous=False)
        coordinator = coordinator_of(cluster, group, alive)
        wait_until(lambda: partitions(cluster, "__consumer_offsets", alive)
                   and all(isr == (1, 2, 3) for _, isr in partitions(cluster, "__consumer_offsets", alive).values()),
                   30, "__consumer_offsets in sync")
        last = 0
        for n in range(2, 40):
            committer.commit(offsets=[TopicPartition(topic, 0, n)], asynchronous=False)
            last = n
        cluster.kill(coordinator)  # right after the last acknowledgement
        committer.close()
        survivors = [n for n in (1, 2, 3) if n != coordinator]
        reader = Consumer({"bootstrap.servers": cluster.bootstrap_of(survivors),
                           "group.id": group, "enable.auto.commit": False})
        try:
            got = wait_until(lambda: reader.committed([TopicPartition(topic, 0)], timeout=10)[0].offset,
                             60, f"the offsets of {group} from a new coordinator", cluster.tails)
        finally:
            reader.close()
        assert got == last, f"acknowledged offset {last}, the new coordinator has {got}"
        cluster.restart(coordinator)
        wait_until(lambda: all(isr == (1, 2, 3) for _, isr in partitions(cluster, "__consumer_offsets", alive).values()),
                   60, f"broker {coordinator} back in every ISR", cluster.tails)


def test_delete_records_waits_for_every_replica(cluster):
    """DeleteRecords answers once every live replica has moved its log start (the low
    watermark): after a kill -9 of the leader, the new leader starts there too."""
    topic = "purged"
    create_topic(cluster, topic, 1)
    p = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all"})
    for i in range(100):
        p.produce(topic, value=b"%d" % i, partition=0)
    assert p.flush(30) == 0
    a = admin(cluster)
    tp = TopicPartition(topic, 0, 40)
    low = a.delete_records([tp], request_timeout=30, operation_timeout=30)[tp].result(timeout=60)
    assert low.low_watermark == 40
    alive = [1, 2, 3]
    leader = partitions(cluster, topic, alive)[0][0]
    cluster.kill(leader)
    survivors = [n for n in alive if n != leader]
    wait_until(lambda: partitions(cluster, topic, survivors)[0][0] in survivors, 60,
               "a new leader", cluster.tails)
    c = Consumer({"bootstrap.servers": cluster.bootstrap_of(survivors), "group.id": "wm"})
    try:
        assert c.get_watermark_offsets(TopicPartition(topic, 0), timeout=30) == (40, 100)
    finally:
        c.close()


def test_config_changes_reach_every_broker(cluster):
    """A topic config altered through one broker and a cluster-default broker config set
    through another are what a third broker reports: they live in the quorum's metadata."""
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource

    topic = "configured"
    create_topic(cluster, topic, 1)
    through = AdminClient({"bootstrap.servers": cluster.bootstrap_of([2])})
    r = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[
        ConfigEntry("retention.ms", "60000", incremental_operation=AlterConfigOpType.SET)])
    through.incremental_alter_configs([r])[r].result(timeout=30)
    reply = kw.roundtrip(cluster.client_ports[1], kw.incremental_alter_configs_v0(
        [(4, "", [("log.retention.bytes", 0, "123456789")])]))
    assert kw.parse_incremental_alter_configs_v0(reply) == [(0, None, 4, "")]
    reader = AdminClient({"bootstrap.servers": cluster.bootstrap_of([3])})

    def described():
        d = ConfigResource(ConfigResource.Type.TOPIC, topic)
        got = reader.describe_configs([d])[d].result(timeout=30)
        return got["retention.ms"].value, got["retention.bytes"].value

    wait_until(lambda: described() == ("60000", "123456789"), 30, "broker 3 reports both changes",
               cluster.tails)


@pytest.fixture
def manual_cluster(request):
    """A cluster that does not move leaderships back to preferred replicas by itself."""
    yield from started_cluster(request, {"auto.leader.rebalance.enable": "false"})


def test_elect_leaders_moves_leadership_back_to_the_preferred_replica(manual_cluster):
    """ElectLeaders (preferred): after a kill -9 moved a leadership away and the broker came
    back into the ISR, the election hands it back; asked again, ELECTION_NOT_NEEDED, and
    an unclean election of a partition that has a leader is not needed either."""
    from confluent_kafka import ElectionType, KafkaError

    topic = "elected"
    create_topic(manual_cluster, topic, 3)
    alive = [1, 2, 3]
    preferred = {p: replicas[0] for p, replicas in replica_lists(manual_cluster, topic).items()}
    victim = preferred[0]
    manual_cluster.kill(victim)
    survivors = [n for n in alive if n != victim]
    wait_until(lambda: partitions(manual_cluster, topic, survivors)[0][0] in survivors, 60,
               "a new leader of partition 0", manual_cluster.tails)
    manual_cluster.restart(victim)
    wait_until(lambda: all(isr == (1, 2, 3) for _, isr in partitions(manual_cluster, topic, alive).values()),
               60, f"broker {victim} back in every ISR", manual_cluster.tails)
    a = admin(manual_cluster)
    tp = TopicPartition(topic, 0)
    assert partitions(manual_cluster, topic, alive)[0][0] != victim, "nothing moved it back yet"
    assert a.elect_leaders(ElectionType.PREFERRED, [tp]).result(timeout=30) == {tp: None}
    wait_until(lambda: {p: leader for p, (leader, _) in partitions(manual_cluster, topic, alive).items()}
               .get(0) == victim, 30, "the preferred replica leads partition 0", manual_cluster.tails)
    for election in (ElectionType.PREFERRED, ElectionType.UNCLEAN):
        got = a.elect_leaders(election, [tp]).result(timeout=30)
        assert isinstance(got[tp], KafkaError) and got[tp].code() == KafkaError.ELECTION_NOT_NEEDED, got
    # Every partition: only those that needed an election are answered.
    assert a.elect_leaders(ElectionType.PREFERRED, None).result(timeout=30) == {}
    unknown = TopicPartition(topic, 9)
    got = a.elect_leaders(ElectionType.PREFERRED, [unknown]).result(timeout=30)
    assert got[unknown].code() == KafkaError.UNKNOWN_TOPIC_OR_PART, got


def replica_lists(c: Cluster, topic: str) -> dict[int, list[int]]:
    md = admin(c).list_topics(topic, timeout=10).topics[topic]
    return {p.id: list(p.replicas) for p in md.partitions.values()}


@pytest.fixture
def unfenced_cluster(request):
    """A cluster that fences no broker within a test: a broker killed and restarted keeps
    its leaderships, so what moves them is the broker's own doing."""
    yield from started_cluster(request, {"broker.session.timeout.ms": "600000"})


def test_a_replica_that_fails_to_load_is_handed_over(unfenced_cluster):
    """A broker whose log of one partition cannot be read still starts (Kafka takes the
    failed log offline instead): it hands that partition over (leaves its ISR, another
    replica leads it), nothing is created over the unreadable directory, and the
    partition keeps every acknowledged record and takes new ones."""
    cluster = unfenced_cluster
    topic = "unreadable"
    create_topic(cluster, topic, 3)
    alive = [1, 2, 3]
    wait_until(lambda: all(isr == (1, 2, 3) for _, isr in partitions(cluster, topic, alive).values()),
               30, "every ISR full")
    p = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all", "linger.ms": 0})
    for i in range(30):
        p.produce(topic, value=f"before-{i}".encode(), partition=0)
    assert p.flush(30) == 0
    node = partitions(cluster, topic, alive)[0][0]
    cluster.kill(node)  # no controlled shutdown: it still leads partition 0
    segment = cluster.workdir / f"data-{node}" / f"{topic}-0" / "00000000000000000000.log"
    segment.unlink()
    segment.mkdir()  # reading it fails (EISDIR)
    cluster.restart(node)
    log = cluster.log_path(node).read_text(errors="replace")
    assert f"partition {topic}-0 is offline" in log
    wait_until(lambda: node not in partitions(cluster, topic, alive)[0][1]
               and partitions(cluster, topic, alive)[0][0] != node
               and all(node in partitions(cluster, topic, alive)[i][1] for i in (1, 2)),
               60, f"broker {node} out of partition 0's ISR and back in the others'", cluster.tails)
    # the automatic preferred-leader election does not hand it back either
    time.sleep(2)
    leader, isr = partitions(cluster, topic, alive)[0]
    assert leader != node and node not in isr, (leader, isr)
    assert segment.is_dir(), "the unreadable segment was replaced"
    assert "handing over 1 offline partition(s)" in cluster.log_path(node).read_text(errors="replace")
    for i in range(10):
        p.produce(topic, value=f"after-{i}".encode(), partition=0)
    assert p.flush(30) == 0
    c = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": "unreadable-reader",
                  "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, 0)])
    got = []
    deadline = time.monotonic() + 30
    while len(got) < 40 and time.monotonic() < deadline:
        got += [m.value().decode() for m in c.consume(100, 1.0) if m.error() is None]
    c.close()
    assert got == [f"before-{i}" for i in range(30)] + [f"after-{i}" for i in range(10)]


def test_a_paused_leader_steps_down_when_it_resumes(cluster):
    """SIGSTOP of the leader for longer than the session timeout (a long GC pause): the
    others fence it and elect a leader; resumed, it steps down instead of serving as
    leader, answers the acks=all produce that waited in its socket with an error or with
    a record the final log holds, and nothing acknowledged is lost."""
    topic = "paused"
    create_topic(cluster, topic, 1)
    alive = [1, 2, 3]
    wait_until(lambda: partitions(cluster, topic, alive)[0][1] == (1, 2, 3), 30, "a full ISR")
    producer = ContinuousProducer(cluster.bootstrap, topic)
    producer.thread.start()
    queued_value = 10**9
    try:
        time.sleep(1)
        leader = partitions(cluster, topic, alive)[0][0]
        others = [n for n in alive if n != leader]
        sock = kw.connect(cluster.client_ports[leader])
        sock.settimeout(90)
        cluster.pause(leader)
        paused_at = time.monotonic()
        batch = bytes(kw.record_batch_v2([(b"q", str(queued_value).encode())], int(time.time() * 1000)))
        kw.send_frame(sock, kw.produce_v7(topic, 0, batch, correlation_id=77, timeout_ms=30000))
        try:
            wait_until(lambda: partitions(cluster, topic, others)[0][0] in others, 30,
                       f"a new leader while broker {leader} is paused", cluster.tails)
            time.sleep(1)
        finally:
            cluster.resume(leader)
        print(f"broker {leader} paused for {time.monotonic() - paused_at:.1f}s")
        answer = kw.parse_produce_v7(kw.Reader(kw.recv_frame(sock)), correlation_id=77)[(topic, 0)]
        sock.close()
        # it learns that it lost the partition: its own metadata, and its answer to produce
        wait_until(lambda: partitions(cluster, topic, [leader])[0][0] in others, 30,
                   f"broker {leader} to report the new leader", cluster.tails)
        probe = bytes(kw.record_batch_v2([(b"p", b"-1")], int(time.time() * 1000)))
        r = kw.roundtrip(cluster.client_ports[leader], kw.produce_v7(topic, 0, probe, correlation_id=78))
        assert kw.parse_produce_v7(r, correlation_id=78)[(topic, 0)][0] == 6, "NOT_LEADER_OR_FOLLOWER"
        wait_until(lambda: leader in partitions(cluster, topic, alive)[0][1], 60,
                   f"broker {leader} back in the ISR as a follower", cluster.tails)
        time.sleep(1)
    finally:
        producer.stop()
    assert producer.failed == 0
    expected = set(producer.acked)
    if answer[0] == 0:
        expected.add(queued_value)
    got = consume_all(cluster.bootstrap, topic, 1, len(expected))[0]
    lost = expected - set(got)
    assert not lost, f"acknowledged and lost: {sorted(lost)[:10]} (queued produce answered {answer})"
    assert len(got) == len(set(got)), "duplicates"
    print(f"queued produce answered {answer}; {len(producer.acked)} acknowledged, {len(got)} read")


def test_soak_every_kill_pattern_once(cluster):
    """The short version of `soak.py`: one kill -9 cycle of each pattern (leader,
    follower, active controller, two brokers at once, all three at once) under an
    idempotent acks=all producer and a group consumer; every acknowledged record is at
    its acknowledged offset, once, in order."""
    import soak

    result = soak.run_soak(cluster, cycles=len(soak.PATTERNS))
    assert soak.ok(result), {k: v for k, v in result.items() if k != "cycles"}


def test_sigterm_while_waiting_for_a_quorum_stops_the_broker(tmp_path):
    """A broker whose voters are not up waits for a quorum at startup; SIGTERM then
    stops it at once, cleanly, instead of being ignored or killing it mid-write."""
    import os
    import signal

    c = Cluster(tmp_path)
    c.spawn(1)  # alone: no majority of the three voters
    try:
        deadline = time.monotonic() + 30
        while b"waiting for the controller quorum" not in c.log_path(1).read_bytes():
            assert time.monotonic() < deadline, c.tail(1)
            assert c.procs[1].poll() is None, c.tail(1)
            time.sleep(0.2)
        os.kill(c.procs[1].pid, signal.SIGTERM)
        assert c.procs[1].wait(timeout=10) == 0, c.tail(1)
        assert "stopped before startup finished" in c.log_path(1).read_text()
    finally:
        c.shutdown()

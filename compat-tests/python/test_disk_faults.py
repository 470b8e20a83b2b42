"""Disk faults seen through a real client. The log directory is a small tmpfs that a
producer fills until appends fail, or a FUSE file system (faultfs.py) that starts
failing writes with EROFS or EIO. The failing requests must get KAFKA_STORAGE_ERROR (never
success), the broker must stay up and answer metadata, and after the disk is given more
room and the broker restarted, every acknowledged record must be readable, once and in
order. Mounting needs root (and FUSE, libfuse2 and fusepy for faultfs.py); elsewhere
the tests are reported as skipped."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import Broker
from vltava_cluster import Cluster

VALUE = b"v" * 8000


def mount_tmpfs(path: Path, size: str) -> None:
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)


def need_mount() -> None:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a tmpfs log directory")


@pytest.fixture
def small_disk():
    need_mount()
    work = Path(tempfile.mkdtemp(prefix="vltava-disk-"))
    broker = Broker(work)
    try:
        mount_tmpfs(broker.log_dir, "12m")
    except subprocess.CalledProcessError as e:
        shutil.rmtree(work, ignore_errors=True)
        pytest.skip(f"cannot mount a tmpfs here: {e}")
    try:
        yield broker
    finally:
        try:
            broker.stop(kill=True)
        finally:
            subprocess.run(["umount", "-l", str(broker.log_dir)], check=False)
            shutil.rmtree(work, ignore_errors=True)


def produce_until_failure(bootstrap: str, topic: str, limit: int = 4000):
    """Produces numbered records one at a time (acks=all, no retries) until one fails.
    Returns (acknowledged numbers, error names of the failures)."""
    p = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "retries": 0,
            "enable.idempotence": False,
            "linger.ms": 0,
            "message.timeout.ms": 10000,
        }
    )
    acked: list[int] = []
    errors: list[str] = []

    def on_delivery(err, msg):
        if err is None:
            acked.append(int(msg.key()))
        else:
            errors.append(err.name())

    for i in range(limit):
        p.produce(topic, key=str(i).encode(), value=VALUE, partition=0, on_delivery=on_delivery)
        p.flush(15)
        if errors:
            break
    assert p.flush(15) == 0
    return acked, errors


def read_all(bootstrap: str, topic: str, expected: int, timeout: float = 30.0) -> list[int]:
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "disk-faults-reader",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        got: list[int] = []
        deadline = time.monotonic() + timeout
        while len(got) < expected and time.monotonic() < deadline:
            for m in c.consume(500, 1.0):
                if m.error() is None:
                    got.append(int(m.key()))
                elif m.error().code() != KafkaError._PARTITION_EOF:
                    raise AssertionError(f"consume error: {m.error()}")
        return got
    finally:
        c.close()


def test_a_full_disk_fails_appends_and_loses_nothing_acknowledged(small_disk):
    broker = small_disk
    broker.start()
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    topic = "full-disk"
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=30)

    acked, errors = produce_until_failure(broker.bootstrap, topic)
    assert errors, f"the 12 MiB disk never filled ({len(acked)} records acknowledged)"
    assert errors[0] == "KAFKA_STORAGE_ERROR", errors
    assert len(acked) > 100, "the disk filled before the test could write to it"
    assert acked == list(range(len(acked))), "acknowledgements out of order"
    broker.assert_alive()
    # the broker still answers; its log directory stays offline until a restart
    assert topic in admin.list_topics(timeout=10).topics
    again, errors = produce_until_failure(broker.bootstrap, topic, limit=1)
    assert not again and errors == ["KAFKA_STORAGE_ERROR"], errors
    assert "is offline" in broker.stderr_path.read_text(errors="replace")
    broker.assert_alive()

    broker.stop()
    subprocess.run(["mount", "-o", "remount,size=64m", str(broker.log_dir)], check=True)
    broker.start()
    got = read_all(broker.bootstrap, topic, len(acked))
    assert got[: len(acked)] == acked, (
        f"{len(acked)} acknowledged, {len(got)} read back; first difference at "
        f"{next((i for i, (a, b) in enumerate(zip(acked, got)) if a != b), min(len(acked), len(got)))}"
    )
    assert len(got) == len(acked), f"records that failed were read back: {got[len(acked):][:10]}"
    # and the log takes appends again
    more, errors = produce_until_failure(broker.bootstrap, topic, limit=3)
    assert not errors and len(more) == 3, errors


def test_a_partition_that_fails_to_load_is_offline_alone(broker_factory):
    """One partition's log cannot be read at startup: the broker starts anyway (Kafka
    takes the failed log offline), that partition answers KAFKA_STORAGE_ERROR while the
    others work, nothing is written over it, and deleting its topic removes it so the
    name can be used again. Needs no root."""
    broker = broker_factory()
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    for t in ("unreadable", "fine"):
        admin.create_topics([NewTopic(t, 1, 1)])[t].result(timeout=30)
    acked, errors = produce_until_failure(broker.bootstrap, "unreadable", limit=5)
    assert len(acked) == 5 and not errors, errors
    broker.stop()
    segment = broker.log_dir / "unreadable-0" / "00000000000000000000.log"
    segment.unlink()
    segment.mkdir()  # reading it fails (EISDIR)
    broker.start()
    assert "partition unreadable-0 is offline" in broker.stderr_path.read_text(errors="replace")
    more, errors = produce_until_failure(broker.bootstrap, "unreadable", limit=1)
    assert not more and errors == ["KAFKA_STORAGE_ERROR"], (more, errors)
    fine, errors = produce_until_failure(broker.bootstrap, "fine", limit=3)
    assert len(fine) == 3 and not errors, errors
    assert segment.is_dir()
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.delete_topics(["unreadable"])["unreadable"].result(timeout=30)
    deadline = time.monotonic() + 10
    while (broker.log_dir / "unreadable-0").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not (broker.log_dir / "unreadable-0").exists()
    admin.create_topics([NewTopic("unreadable", 1, 1)])["unreadable"].result(timeout=30)
    again, errors = produce_until_failure(broker.bootstrap, "unreadable", limit=2)
    assert len(again) == 2 and not errors, errors


@pytest.fixture
def failing_disk():
    """A broker whose log directory is faultfs.py (FUSE): writing the name of an errno to
    the returned fault file makes every write, create, rename, fsync... fail with it."""
    need_mount()
    if not os.path.exists("/dev/fuse"):
        pytest.skip("needs /dev/fuse")
    try:
        import fuse  # noqa: F401  (fusepy, with libfuse2)
    except (ImportError, OSError) as e:
        pytest.skip(f"needs fusepy and libfuse2: {e}")
    work = Path(tempfile.mkdtemp(prefix="vltava-faultfs-"))
    broker = Broker(work)
    backing, fault = work / "backing", work / "fault"
    backing.mkdir()
    fs = subprocess.Popen([sys.executable, str(Path(__file__).with_name("faultfs.py")), str(backing),
                           str(broker.log_dir), "0", str(fault)], stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not os.path.ismount(broker.log_dir):
            if fs.poll() is not None or time.monotonic() > deadline:
                pytest.skip("faultfs.py could not mount (FUSE not permitted here?)")
            time.sleep(0.05)
        yield broker, fault
    finally:
        try:
            broker.stop(kill=True)
        finally:
            subprocess.run(["umount", "-l", str(broker.log_dir)], check=False)
            try:
                fs.wait(timeout=10)
            except subprocess.TimeoutExpired:
                fs.kill()
            shutil.rmtree(work, ignore_errors=True)


@pytest.mark.parametrize("errno_name", ["EROFS", "EIO"])
def test_a_failing_disk_fails_appends_and_loses_nothing(failing_disk, errno_name):
    """The log directory turns read-only (EROFS) or its disk returns I/O errors (EIO)
    under a running broker: appends fail with KAFKA_STORAGE_ERROR, the broker stays up,
    and once the disk works again and the broker is restarted every acknowledged record
    is there and appends work."""
    broker, fault = failing_disk
    broker.start()
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    topic = "failing-disk"
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=30)
    acked, errors = produce_until_failure(broker.bootstrap, topic, limit=50)
    assert len(acked) == 50 and not errors, errors
    fault.write_text(errno_name)
    more, errors = produce_until_failure(broker.bootstrap, topic, limit=5)
    assert not more and errors == ["KAFKA_STORAGE_ERROR"], (more, errors)
    broker.assert_alive()
    assert "is offline" in broker.stderr_path.read_text(errors="replace")
    broker.stop()
    fault.unlink()
    broker.start()
    assert read_all(broker.bootstrap, topic, 50) == acked
    more, errors = produce_until_failure(broker.bootstrap, topic, limit=3)
    assert not errors and len(more) == 3, errors


@pytest.fixture
def cluster_with_a_small_disk(request):
    """Three brokers; broker 2's log directory (and with it its controller's log) is a
    12 MiB tmpfs."""
    need_mount()
    c = Cluster(Path(tempfile.mkdtemp(prefix="vltava-disk-cluster-")))
    small = c.workdir / "data-2"
    small.mkdir()
    try:
        mount_tmpfs(small, "12m")
    except subprocess.CalledProcessError as e:
        shutil.rmtree(c.workdir, ignore_errors=True)
        pytest.skip(f"cannot mount a tmpfs here: {e}")
    try:
        c.start()
        yield c, small
    finally:
        c.shutdown()
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            print(c.tails())
        subprocess.run(["umount", "-l", str(small)], check=False)
        shutil.rmtree(c.workdir, ignore_errors=True)


def test_a_full_disk_on_the_leader_moves_the_partition_and_loses_nothing(cluster_with_a_small_disk):
    """Broker 2 leads the partition and its disk fills: it stops serving (its partitions
    answer KAFKA_STORAGE_ERROR and it leaves the cluster, or it stops when its controller
    log cannot be written), the producer carries on with the new leader, every
    acknowledged record is read back once and in order, and broker 2, restarted with
    room, catches up."""
    cluster, small = cluster_with_a_small_disk
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    topic = "full-leader"
    admin.create_topics([NewTopic(topic, num_partitions=1, replica_assignment=[[2, 1, 3]])])[topic].result(timeout=30)
    p = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all",
                  "enable.idempotence": True, "linger.ms": 5, "message.timeout.ms": 60000})
    acked: list[int] = []
    failed: list[str] = []

    def on_delivery(err, msg):
        if err is None:
            acked.append(int(msg.key()))
        else:
            failed.append(err.name())

    total = 3000  # 24 MB: twice what broker 2 can hold
    for i in range(total):
        p.produce(topic, key=str(i).encode(), value=VALUE, partition=0, on_delivery=on_delivery)
        p.poll(0)
        if i % 100 == 99:
            p.flush(60)
    assert p.flush(90) == 0
    assert not failed, failed[:5]
    assert acked == list(range(total)), "acknowledgements lost or out of order"
    log2 = cluster.log_path(2).read_text(errors="replace")
    assert "is offline" in log2 or "the controller stopped" in log2, cluster.tail(2)
    survivors = cluster.bootstrap_of([1, 3])
    md = AdminClient({"bootstrap.servers": survivors}).list_topics(topic, timeout=10)
    part = md.topics[topic].partitions[0]
    assert part.leader in (1, 3) and 2 not in part.isrs, (part.leader, part.isrs)
    got = read_all(survivors, topic, total, timeout=60)
    assert got == acked, f"{len(got)} read back of {len(acked)} acknowledged"

    if cluster.alive(2):
        cluster.kill(2)
    else:
        cluster.procs.pop(2)
    subprocess.run(["mount", "-o", "remount,size=128m", str(small)], check=True)
    cluster.restart(2)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        md = AdminClient({"bootstrap.servers": cluster.bootstrap}).list_topics(topic, timeout=10)
        if 2 in md.topics[topic].partitions[0].isrs:
            break
        time.sleep(0.5)
    else:
        raise AssertionError("broker 2 did not rejoin the ISR\n" + cluster.tail(2))


def fill(path: Path) -> Path:
    """Writes a file into `path` until its filesystem is full; returns the file."""
    filler = path / "filler"
    with open(filler, "wb", buffering=0) as f:
        for chunk in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    f.write(b"\0" * chunk)
            except OSError:
                pass
    return filler


def test_a_controller_that_cannot_write_its_log_stops_the_broker(small_disk):
    """The metadata log cannot be written (the disk is full; the broker's heartbeats are
    metadata log entries, 20 a second here): the broker does not go on serving a frozen
    view of the cluster; it stops with an error naming the cause, as Kafka halts, and
    starts again once there is room, with what was committed before."""
    broker = small_disk
    broker.overrides["broker.heartbeat.interval.ms"] = "50"
    broker.start()
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("before", 1, 1)])["before"].result(timeout=30)
    filler = fill(broker.log_dir)
    deadline = time.monotonic() + 60
    while broker.alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not broker.alive(), "the broker kept running with a stopped controller\n" + broker.log_tail()
    code = broker.stop()
    assert code not in (None, 0), code
    assert "the controller stopped" in broker.stderr_path.read_text(errors="replace")

    filler.unlink()
    broker.start()
    topics = AdminClient({"bootstrap.servers": broker.bootstrap}).list_topics(timeout=10).topics
    assert "before" in topics
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("after", 1, 1)])["after"].result(timeout=30)

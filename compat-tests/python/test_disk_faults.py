"""Disk faults seen through a real client. The log directory is a small tmpfs: a producer
fills it until appends fail. The failing requests must get KAFKA_STORAGE_ERROR (never
success), the broker must stay up and answer metadata, and after the disk is given more
room and the broker restarted, every acknowledged record must be readable, once and in
order. Mounting needs root; elsewhere the test is reported as skipped."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import Broker

VALUE = b"v" * 8000


def mount_tmpfs(path: Path, size: str) -> None:
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)


@pytest.fixture
def small_disk():
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a tmpfs log directory")
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

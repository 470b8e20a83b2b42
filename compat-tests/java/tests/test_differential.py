"""The differential test: every captured request in protocol-fixtures/ sent to vltava
and to upstream Kafka, both fresh, answers compared field by field by
compat-tests/differential/main.rs (its MAY_DIFFER and KNOWN lists say what may differ)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

import kafka_java
from conftest import vltava_broker

REPO = Path(__file__).resolve().parents[3]


def differential_bin() -> Path:
    path = Path(os.environ.get("VLTAVA_DIFFERENTIAL_BIN", REPO / "target" / "debug" / "examples" / "differential"))
    if not path.exists():
        subprocess.run(["cargo", "build", "--example", "differential"], cwd=REPO, check=True, timeout=1200)
    return path


@pytest.fixture
def both():
    work = Path(tempfile.mkdtemp(prefix="differential-"))
    settings = {"num.partitions": "1", "group.initial.rebalance.delay.ms": "0"}
    vltava = vltava_broker.Broker(work / "vltava", settings)
    kafka = kafka_java.UpstreamKafka(work / "kafka", settings)
    try:
        vltava.start()
        kafka.start()
        yield vltava, kafka
    finally:
        vltava.stop()
        kafka.stop()
        shutil.rmtree(work, ignore_errors=True)


def test_fixture_requests_answered_as_kafka_answers(both):
    vltava, kafka = both
    proc = subprocess.run([str(differential_bin()), vltava.bootstrap, kafka.bootstrap],
                          capture_output=True, text=True, timeout=600)
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout[-20000:] + proc.stderr[-4000:]
    assert vltava.alive(), vltava.log_tail()

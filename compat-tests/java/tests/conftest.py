"""Fixtures for the Java compatibility suite (Kafka's CLI, Java client, Connect, Streams).

Every scenario runs against vltava and against the real Apache Kafka broker
(`UpstreamKafka`), both started per test on ephemeral loopback ports and stopped by
pid. A scenario that needs an API vltava does not serve yet is listed in
`expected_failures.py` and runs as a strict expected failure on vltava only.

Environment: VLTAVA_BIN (as for compat-tests/python), KAFKA_SUITE_BROKERS
("vltava,kafka" by default; "vltava" alone skips nothing but the upstream runs).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import kafka_java  # noqa: E402
from expected_failures import VLTAVA_EXPECTED_FAILURES  # noqa: E402

# The vltava Broker helper lives with the Python suites; load it under its own name.
_spec = importlib.util.spec_from_file_location("vltava_broker", HERE.parents[1] / "python" / "conftest.py")
vltava_broker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(vltava_broker)

BROKER_KINDS = [k for k in os.environ.get("KAFKA_SUITE_BROKERS", "vltava,kafka").split(",") if k]


def pytest_sessionstart(session):
    missing = [v for v in (kafka_java.DEFAULT_VERSION, kafka_java.NEWEST_VERSION) if not kafka_java.installed(v)]
    if missing:
        raise pytest.UsageError(
            f"Kafka jars for {missing} are not installed: run compat-tests/java/install.sh first"
        )


@contextlib.contextmanager
def vltava_and_kafka(prefix: str, settings: dict[str, str]):
    """A fresh vltava and a fresh upstream Kafka with the same settings, on ephemeral
    loopback ports; both stopped by pid and their directories removed afterwards."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
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


class Target:
    """The broker a scenario runs against: vltava or upstream Kafka."""

    def __init__(self, kind: str, workdir: Path, overrides: dict[str, str] | None = None):
        self.kind = kind
        if kind == "vltava":
            # As UpstreamKafka sets it: the first rebalance of a group does not wait.
            settings = {"group.initial.rebalance.delay.ms": "0", **(overrides or {})}
            self.broker = vltava_broker.Broker(workdir, settings)
        else:
            self.broker = kafka_java.UpstreamKafka(workdir, overrides)
        self.broker.start()

    @property
    def bootstrap(self) -> str:
        return self.broker.bootstrap

    @property
    def log_dir(self) -> Path:
        return self.broker.log_dir

    def restart(self, kill: bool = False) -> None:
        self.broker.restart(kill=kill)

    def log_tail(self, lines: int = 80) -> str:
        return self.broker.log_tail(lines)


@pytest.fixture(scope="module", params=BROKER_KINDS)
def shared_target(request):
    """One broker of each kind per test module (tests use their own topic and group
    names), started on first use and stopped by pid at the end of the module."""
    workdir = Path(tempfile.mkdtemp(prefix=f"javasuite-{request.param}-"))
    t = Target(request.param, workdir)
    yield t
    t.broker.stop()
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def target(shared_target) -> Target:
    """The module's broker; a test after which it is not running fails (and the broker
    is started again for the next test)."""
    yield shared_target
    if not shared_target.broker.alive():
        tail = shared_target.log_tail()
        shared_target.broker.stop()
        shared_target.broker.start()
        pytest.fail(f"{shared_target.kind} broker died during the test\n{tail}")


@pytest.fixture
def expect(request):
    """expect(scenario): marks this test a strict expected failure on vltava when the
    scenario is listed in expected_failures.py (naming the API vltava lacks); the
    failure must show that entry's evidence, else the test fails."""

    def mark(scenario: str, kind: str) -> None:
        if kind == "vltava" and scenario in VLTAVA_EXPECTED_FAILURES:
            api, evidence = VLTAVA_EXPECTED_FAILURES[scenario]
            request.node.vltava_evidence = evidence
            request.applymarker(pytest.mark.xfail(strict=True, reason=f"needs {api}"))

    return mark


@pytest.fixture
def topic_name(request):
    base = re.sub(r"[^a-zA-Z0-9]+", "-", request.node.name)[:50].strip("-")
    return lambda suffix="": f"{base}{suffix}-{uuid.uuid4().hex[:8]}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test's report carries the tail of its broker's log; an expected failure
    without its evidence (expected_failures.py) is turned into a failure."""
    outcome = yield
    rep = outcome.get_result()
    evidence = getattr(item, "vltava_evidence", None)
    if rep.when == "call" and evidence and getattr(rep, "wasxfail", None) is not None and call.excinfo:
        text = str(call.excinfo.getrepr(style="long"))
        if not re.search(evidence, text):
            rep.outcome = "failed"
            del rep.wasxfail
            rep.sections.append(("expected failure", f"the failure does not show {evidence!r}: "
                                 "it failed for another reason than the missing API"))
    t = item.funcargs.get("target") if hasattr(item, "funcargs") else None
    if rep.when == "call" and rep.failed and isinstance(t, Target):
        rep.sections.append((f"{t.kind} broker log", t.log_tail(120)))

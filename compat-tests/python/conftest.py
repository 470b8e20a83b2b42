"""Shared fixtures for the Python compatibility suites.

`Broker` starts the vltava binary as a child process on an ephemeral loopback
port with a fresh log directory, and can restart it (cleanly or with SIGKILL)
on the same directory and, when possible, the same port. Every wait is bounded.

Environment:
  VLTAVA_BIN            broker binary (default <repo>/target/debug/vltava)
  VLTAVA_START_TIMEOUT  seconds to wait for the "listening on" line (default 20)
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from vltava_helpers import LISTENING_RE, broker_bin

START_TIMEOUT_S = float(os.environ.get("VLTAVA_START_TIMEOUT", "20"))
STOP_TIMEOUT_S = 20.0

# kafka-python logs every refused reconnect during restarts; keep reports readable.
logging.getLogger("kafka").setLevel(logging.CRITICAL)


class BrokerStartError(RuntimeError):
    pass


class Broker:
    """One vltava child process plus its log directory and stderr log."""

    def __init__(self, workdir: Path, overrides: dict[str, str] | None = None):
        self.workdir = Path(workdir)
        self.log_dir = self.workdir / "data"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.stderr_path = self.workdir / "broker.stderr.log"
        self.overrides = dict(overrides or {})
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.starts = 0

    # ------------------------------------------------------------------ start
    @property
    def bootstrap(self) -> str:
        assert self.port is not None, "broker not started"
        return f"127.0.0.1:{self.port}"

    def start(self, port: int = 0) -> None:
        """Start the broker and wait (bounded) for its listening line."""
        binary = broker_bin()
        if not binary.exists():
            raise BrokerStartError(
                f"broker binary {binary} not found; run `cargo build` or set VLTAVA_BIN"
            )
        args = [
            str(binary),
            "--override",
            f"listeners=PLAINTEXT://127.0.0.1:{port}",
            "--override",
            f"log.dirs={self.log_dir}",
        ]
        for key, value in self.overrides.items():
            args += ["--override", f"{key}={value}"]
        with open(self.stderr_path, "ab") as log:
            log.write(f"\n===== start #{self.starts + 1}: {' '.join(args)}\n".encode())
            offset = log.tell()
            self.proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=self.workdir,
                env={**os.environ, "RUST_BACKTRACE": "1"},
            )
        self.starts += 1
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            with open(self.stderr_path, "rb") as log:
                log.seek(offset)
                match = LISTENING_RE.search(log.read())
            if match:
                self.port = int(match.group(1))
                return
            if self.proc.poll() is not None:
                raise BrokerStartError(
                    f"broker exited with {self.proc.returncode} before listening\n"
                    + self.log_tail()
                )
            time.sleep(0.05)
        self._kill()
        raise BrokerStartError(
            f"broker did not log 'listening on' within {START_TIMEOUT_S}s\n" + self.log_tail()
        )

    # ------------------------------------------------------------------- stop
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, kill: bool = False) -> int | None:
        """SIGTERM (or SIGKILL) the process we started; wait bounded. Returns exit code."""
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=STOP_TIMEOUT_S)
                raise AssertionError(
                    f"broker ignored SIGTERM for {STOP_TIMEOUT_S}s (killed)\n" + self.log_tail()
                )
        return proc.returncode

    def _kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=STOP_TIMEOUT_S)
        self.proc = None

    def restart(self, kill: bool = False) -> None:
        """Stop (SIGTERM, or SIGKILL if kill) and start again on the same log dir.

        Reuses the previous port so clients can reconnect; falls back to a new
        ephemeral port if that one cannot be bound."""
        old_port = self.port
        code = self.stop(kill=kill)
        if not kill:
            assert code == 0, f"clean shutdown exited with {code}\n" + self.log_tail()
        for attempt in range(20):
            try:
                self.start(port=old_port or 0)
                return
            except BrokerStartError:
                if attempt >= 19 or not _port_busy(old_port):
                    # Not a bind problem (or we gave up): try a fresh port once.
                    break
                time.sleep(0.25)
        self.start(port=0)

    # ---------------------------------------------------------------- helpers
    def log_tail(self, lines: int = 80) -> str:
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError:
            return "(no broker log)"
        tail = "\n".join(text.splitlines()[-lines:])
        return f"--- broker log tail ({self.stderr_path}) ---\n{tail}\n--- end ---"

    def assert_alive(self) -> None:
        assert self.alive(), "broker process died\n" + self.log_tail()


def _port_busy(port: int | None) -> bool:
    if not port:
        return False
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def unique_name(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def broker_factory(request):
    """make(overrides) -> a started Broker with extra --override keys; all are
    stopped and their directories removed after the test (logs printed on failure)."""
    made: list[Broker] = []

    def make(overrides: dict[str, str] | None = None) -> Broker:
        b = Broker(Path(tempfile.mkdtemp(prefix="vltava-pytest-")), overrides)
        made.append(b)
        b.start()
        return b

    yield make
    problems = []
    for b in made:
        try:
            died = b.proc is not None and b.proc.poll() is not None
            code = b.stop()
            if died:
                problems.append(f"broker exited on its own during the test (exit code {code})\n{b.log_tail()}")
            elif code not in (None, 0):
                problems.append(f"broker exited with {code} on SIGTERM (expected 0)\n{b.log_tail()}")
        except AssertionError as e:
            problems.append(str(e))
        finally:
            rep = getattr(request.node, "rep_call", None)
            if rep is not None and rep.failed:
                print(b.log_tail(200))
            shutil.rmtree(b.workdir, ignore_errors=True)
    if problems:
        pytest.fail("\n".join(problems))


@pytest.fixture
def broker(broker_factory):
    """A fresh broker per test. Its log is printed if the test fails."""
    return broker_factory()


@pytest.fixture
def topic_name(request):
    base = re.sub(r"[^a-zA-Z0-9]+", "-", request.node.name)[:60].strip("-")
    return lambda suffix="": unique_name(f"{base}{suffix}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)

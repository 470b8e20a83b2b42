"""Apache Kafka's own programs for the Java compatibility suite.

`tool()` runs one of the launchers in compat-tests/java/bin (the real main classes
from the jars that install.sh resolved from Maven Central), bounded in time.
`UpstreamKafka` runs the real Apache Kafka broker from the same jars: KRaft in
combined mode (broker + controller), one node, on ephemeral loopback ports, stopped
by its pid. It is the reference the same scenarios run against.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

JAVA_DIR = Path(__file__).resolve().parents[1]
# Shared helpers of the Python suites (appended: this directory's conftest stays first).
sys.path.append(str(JAVA_DIR.parent / "python"))
from vltava_helpers import free_ports  # noqa: E402
BIN = JAVA_DIR / "bin"
DEFAULT_VERSION = "4.0.2"
NEWEST_VERSION = "4.4.0"
TOOL_TIMEOUT_S = 120.0
START_TIMEOUT_S = 90.0


def lib_dir(version: str = DEFAULT_VERSION) -> Path:
    return JAVA_DIR / "target" / f"lib-{version}"


def installed(version: str = DEFAULT_VERSION) -> bool:
    return (lib_dir(version) / ".complete").exists()


def tool(
    name: str,
    *args: str,
    input: str | None = None,
    timeout: float = TOOL_TIMEOUT_S,
    check: bool = True,
    version: str = DEFAULT_VERSION,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run bin/<name> with args; returns the completed process (text mode).

    check=True raises AssertionError with both streams when the exit code is not 0."""
    cmd = [str(BIN / name), *args]
    proc = subprocess.run(
        cmd,
        input=input if input is not None else "",
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "KAFKA_VERSION": version, **(env or {})},
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {proc.returncode}\n--- stdout ---\n{proc.stdout[-4000:]}"
            f"\n--- stderr ---\n{proc.stderr[-4000:]}"
        )
    return proc


def spawn(name: str, *args: str, log: Path, version: str = DEFAULT_VERSION, env=None) -> subprocess.Popen:
    """Start bin/<name> in the background, its output appended to log."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            [str(BIN / name), *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            env={**os.environ, "KAFKA_VERSION": version, **(env or {})},
        )


def stop_process(proc: subprocess.Popen | None, timeout: float = 30.0) -> int | None:
    """SIGTERM, then SIGKILL after timeout; returns the exit code."""
    if proc is None:
        return None
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=timeout)
    return proc.returncode


def wait_port(port: int, deadline: float) -> bool:
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.2)
    return False


class UpstreamKafka:
    """The real Apache Kafka broker (KRaft combined mode, one node) from the Maven jars."""

    kind = "kafka"

    def __init__(
        self,
        workdir: Path,
        overrides: dict[str, str] | None = None,
        version: str = DEFAULT_VERSION,
        node_id: int = 1,
        ports: tuple[int, int] | None = None,
        voters: str | None = None,
    ):
        """One node; `ports` (client, controller) and `voters` (the quorum, as
        controller.quorum.voters) are given for a node of an `UpstreamKafkaCluster`."""
        self.workdir = Path(workdir)
        self.log_dir = self.workdir / "data"
        self.version = version
        self.node_id = node_id
        self.port, self.controller_port = ports or free_ports(2)
        self.voters = voters or f"{node_id}@127.0.0.1:{self.controller_port}"
        self.stderr_path = self.workdir / "kafka.log"
        self.overrides = dict(overrides or {})
        self.proc: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def properties(self) -> dict[str, str]:
        props = {
            "process.roles": "broker,controller",
            "node.id": str(self.node_id),
            "controller.quorum.voters": self.voters,
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.log_dir),
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
        }
        props.update(self.overrides)
        return props

    def start(self) -> None:
        self.launch()
        self.wait_ready(time.monotonic() + START_TIMEOUT_S)

    def launch(self) -> None:
        """Formats the log directory on first use and starts the process."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "server.properties"
        config.write_text("".join(f"{k}={v}\n" for k, v in self.properties().items()))
        if not (self.log_dir / "meta.properties").exists():
            tool("kafka-storage.sh", "format", "-t", "AAAAAAAAAAAAAAAAAAAAAA", "-c", str(config), version=self.version)
        self.proc = spawn(
            "kafka-server-start.sh",
            str(config),
            log=self.stderr_path,
            version=self.version,
            env={"KAFKA_HEAP_OPTS": "-Xmx1g", "KAFKA_JVM_PERFORMANCE_OPTS": "-XX:+UseSerialGC"},
        )

    def wait_ready(self, deadline: float) -> None:
        """Waits until the node listens and a client sees it (for a cluster node: once
        the quorum has formed)."""
        if not wait_port(self.port, deadline):
            self.stop()
            raise AssertionError("upstream Kafka did not listen\n" + self.log_tail())
        # Listening precedes being ready: wait until a client sees the broker.
        while time.monotonic() < deadline:
            if tool("kafka-broker-api-versions.sh", "--bootstrap-server", self.bootstrap,
                    check=False, timeout=30, version=self.version).returncode == 0:
                return
            time.sleep(0.5)
        self.stop()
        raise AssertionError("upstream Kafka never answered\n" + self.log_tail())

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, kill: bool = False) -> int | None:
        proc, self.proc = self.proc, None
        if proc is not None and kill and proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        return stop_process(proc, timeout=60)

    def restart(self, kill: bool = False) -> None:
        self.stop(kill=kill)
        self.start()

    def log_tail(self, lines: int = 80) -> str:
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError:
            return "(no kafka log)"
        return f"--- upstream kafka node {self.node_id} log tail ---\n" + "\n".join(text.splitlines()[-lines:])


class UpstreamKafkaCluster:
    """Three real Apache Kafka nodes (KRaft combined mode, a quorum of three) on loopback,
    with the interface of compat-tests/python/vltava_cluster.Cluster: nodes 1-3, each
    stopped (SIGTERM), killed (SIGKILL) and restarted on its own ports and data."""

    kind = "kafka"

    def __init__(self, workdir: Path, overrides: dict[str, str] | None = None, version: str = DEFAULT_VERSION):
        self.workdir = Path(workdir)
        ports = free_ports(6)
        self.client_ports = {n: ports[n - 1] for n in (1, 2, 3)}
        controller_ports = {n: ports[n + 2] for n in (1, 2, 3)}
        voters = ",".join(f"{n}@127.0.0.1:{p}" for n, p in controller_ports.items())
        settings = {
            "default.replication.factor": "3",
            "offsets.topic.replication.factor": "3",
            "transaction.state.log.replication.factor": "3",
            "transaction.state.log.min.isr": "2",
            "share.coordinator.state.topic.replication.factor": "3",
            "share.coordinator.state.topic.min.isr": "2",
            **(overrides or {}),
        }
        self.nodes = {
            n: UpstreamKafka(self.workdir / f"node-{n}", settings, version, node_id=n,
                             ports=(self.client_ports[n], controller_ports[n]), voters=voters)
            for n in (1, 2, 3)
        }

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{p}" for p in self.client_ports.values())

    def start(self) -> None:
        for node in self.nodes.values():
            node.launch()
        deadline = time.monotonic() + 2 * START_TIMEOUT_S
        for node in self.nodes.values():
            node.wait_ready(deadline)

    def alive(self, n: int) -> bool:
        return self.nodes[n].alive()

    def kill(self, n: int) -> None:
        self.nodes[n].stop(kill=True)

    def stop(self, n: int) -> None:
        self.nodes[n].stop()

    def restart(self, n: int) -> None:
        self.nodes[n].start()

    def shutdown(self) -> None:
        for node in self.nodes.values():
            node.stop(kill=True)

    def tails(self) -> str:
        return "\n".join(node.log_tail(40) for node in self.nodes.values())

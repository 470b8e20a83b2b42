"""Three vltava brokers as separate processes on loopback, each with its own client and
controller port and data directory; any one can be killed (SIGKILL), stopped (SIGTERM)
and restarted. Shared by the Python cluster tests and the Java suite's three-broker
scenarios."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

from vltava_helpers import broker_bin, free_ports

START_TIMEOUT_S = 60.0


class Cluster:
    """Three vltava processes forming one cluster; each can be killed and restarted."""

    def __init__(self, workdir: Path, overrides: dict[str, str] | None = None):
        self.workdir = workdir
        ports = free_ports(6)
        self.client_ports = {i + 1: ports[i] for i in range(3)}
        self.controller_ports = {i + 1: ports[3 + i] for i in range(3)}
        self.procs: dict[int, subprocess.Popen] = {}
        self.offsets: dict[int, int] = {}
        self.extra = dict(overrides or {})

    @property
    def bootstrap(self) -> str:
        return self.bootstrap_of([1, 2, 3])

    def bootstrap_of(self, nodes: list[int]) -> str:
        """bootstrap.servers naming only `nodes`."""
        return ",".join("{}:{}".format(*self.client_address(n)) for n in nodes)

    def log_path(self, node: int) -> Path:
        return self.workdir / f"broker-{node}.log"

    def client_address(self, node: int) -> tuple[str, int]:
        return "127.0.0.1", self.client_ports[node]

    def controller_address(self, node: int) -> tuple[str, int]:
        return "127.0.0.1", self.controller_ports[node]

    def launcher(self, node: int) -> list[str]:
        """What runs the broker binary (a subclass may wrap it, e.g. in a namespace)."""
        return []

    def args(self, node: int) -> list[str]:
        voters = ",".join("{}@{}:{}".format(n, *self.controller_address(n)) for n in (1, 2, 3))
        client = "{}:{}".format(*self.client_address(node))
        controller = "{}:{}".format(*self.controller_address(node))
        overrides = {
            "node.id": str(node),
            "listeners": f"PLAINTEXT://{client},CONTROLLER://{controller}",
            "advertised.listeners": f"PLAINTEXT://{client}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "controller.quorum.voters": voters,
            "log.dirs": str(self.workdir / f"data-{node}"),
            "broker.heartbeat.interval.ms": "500",
            "broker.session.timeout.ms": "3000",
            "replica.lag.time.max.ms": "5000",
            "group.initial.rebalance.delay.ms": "0",
            "default.replication.factor": "3",
            "offsets.topic.replication.factor": "3",
            **self.extra,
        }
        out = self.launcher(node) + [str(broker_bin())]
        for k, v in overrides.items():
            out += ["--override", f"{k}={v}"]
        return out

    def spawn(self, node: int) -> None:
        with open(self.log_path(node), "ab") as log:
            self.offsets[node] = log.tell()
            self.procs[node] = subprocess.Popen(
                self.args(node), stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )

    def wait_listening(self, node: int) -> None:
        host = self.client_address(node)[0].encode()
        listening = re.compile(rb"listening on PLAINTEXT://" + re.escape(host) + rb":\d+")
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            with open(self.log_path(node), "rb") as log:
                log.seek(self.offsets[node])
                if listening.search(log.read()):
                    return
            assert self.procs[node].poll() is None, f"broker {node} exited\n{self.tail(node)}"
            time.sleep(0.1)
        raise AssertionError(f"broker {node} did not start\n{self.tail(node)}")

    def start(self) -> None:
        for node in (1, 2, 3):
            self.spawn(node)
        for node in (1, 2, 3):
            self.wait_listening(node)

    def kill(self, node: int) -> None:
        proc = self.procs.pop(node)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def stop(self, node: int) -> None:
        proc = self.procs.pop(node)
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)

    def pause(self, node: int) -> None:
        """SIGSTOP: the broker is alive to the kernel (its sockets stay open) but does nothing."""
        os.kill(self.procs[node].pid, signal.SIGSTOP)

    def resume(self, node: int) -> None:
        os.kill(self.procs[node].pid, signal.SIGCONT)

    def alive(self, node: int) -> bool:
        proc = self.procs.get(node)
        return proc is not None and proc.poll() is None

    def restart(self, node: int) -> None:
        self.spawn(node)
        self.wait_listening(node)

    def shutdown(self) -> None:
        for node in list(self.procs):
            proc = self.procs.pop(node)
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)

    def tail(self, node: int, lines: int = 40) -> str:
        text = self.log_path(node).read_text(errors="replace").splitlines()
        return f"--- broker {node} ---\n" + "\n".join(text[-lines:])

    def tails(self) -> str:
        return "\n".join(self.tail(n) for n in (1, 2, 3))

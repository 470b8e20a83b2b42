"""Three vltava brokers, each in its own network namespace, joined by a bridge, so that
the network between them can be cut while clients (in the test's own namespace, on the
bridge) still reach every broker. Linux only, root only (`ip netns`).

Addresses: broker N is 10.201.S.N inside namespace `vltava-S-N` (S from the process id,
so concurrent runs do not collide), the test is 10.201.S.254 on the bridge; nothing else
is reachable from the namespaces. A cut drops every packet between one broker and the
others with blackhole routes in their namespaces (routing is in every kernel; `tc` and
netfilter modules often are not); the test's packets pass."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from vltava_cluster import Cluster

CLIENT_PORT = 9092
CONTROLLER_PORT = 9093


def run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def unavailable() -> str | None:
    """Why namespaces cannot be used here, or None."""
    if os.geteuid() != 0:
        return "needs root for ip netns"
    for tool in ("ip",):
        if shutil.which(tool) is None:
            return f"needs `{tool}`"
    probe = f"vltava-probe-{os.getpid()}"
    try:
        run("ip", "netns", "add", probe)
        run("ip", "netns", "del", probe)
    except subprocess.CalledProcessError as e:
        return f"ip netns is not permitted here: {e.stderr.decode(errors='replace').strip()}"
    return None


class NetnsCluster(Cluster):
    def __init__(self, workdir: Path, overrides: dict[str, str] | None = None):
        super().__init__(workdir, overrides)
        self.subnet = os.getpid() % 200 + 20
        tag = f"{os.getpid() % 100000}"
        self.bridge = f"vlb{tag}"
        self.ns = {n: f"vltava-{self.subnet}-{n}" for n in (1, 2, 3)}
        self.host_if = {n: f"vl{tag}h{n}" for n in (1, 2, 3)}
        self.ip = {n: f"10.201.{self.subnet}.{n}" for n in (1, 2, 3)}
        self.client_ip = f"10.201.{self.subnet}.254"
        self.cut_nodes: set[int] = set()
        self.network_up = False

    # ---------------------------------------------------------------- network
    def setup_network(self) -> None:
        self.network_up = True
        run("ip", "link", "add", self.bridge, "type", "bridge")
        run("ip", "addr", "add", f"{self.client_ip}/24", "dev", self.bridge)
        run("ip", "link", "set", self.bridge, "up")
        for n in (1, 2, 3):
            ns, host_if = self.ns[n], self.host_if[n]
            run("ip", "netns", "add", ns)
            run("ip", "link", "add", host_if, "type", "veth", "peer", "name", "eth0", "netns", ns)
            run("ip", "link", "set", host_if, "master", self.bridge)
            run("ip", "link", "set", host_if, "up")
            run("ip", "netns", "exec", ns, "ip", "addr", "add", f"{self.ip[n]}/24", "dev", "eth0")
            run("ip", "netns", "exec", ns, "ip", "link", "set", "eth0", "up")
            run("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")

    def teardown_network(self) -> None:
        if not self.network_up:
            return
        for n in (1, 2, 3):
            subprocess.run(["ip", "link", "del", self.host_if[n]], stderr=subprocess.DEVNULL)
            subprocess.run(["ip", "netns", "del", self.ns[n]], stderr=subprocess.DEVNULL)
        subprocess.run(["ip", "link", "del", self.bridge], stderr=subprocess.DEVNULL)
        self.network_up = False

    def cut(self, node: int) -> None:
        """Drops every packet between `node` and the other brokers (both ways)."""
        for n in (1, 2, 3):
            if n != node:
                self._route(node, "add", self.ip[n])
                self._route(n, "add", self.ip[node])
        self.cut_nodes.add(node)

    def heal(self) -> None:
        for node in list(self.cut_nodes):
            for n in (1, 2, 3):
                if n != node:
                    self._route(node, "del", self.ip[n], check=False)
                    self._route(n, "del", self.ip[node], check=False)
        self.cut_nodes.clear()

    def _route(self, node: int, op: str, dst: str, check: bool = True) -> None:
        cmd = ["ip", "netns", "exec", self.ns[node], "ip", "route", op, "blackhole", f"{dst}/32"]
        subprocess.run(cmd, check=check, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    # ---------------------------------------------------------------- brokers
    @property
    def bootstrap(self) -> str:
        return ",".join(self.address(n) for n in (1, 2, 3))

    def address(self, node: int) -> str:
        return f"{self.ip[node]}:{CLIENT_PORT}"

    def args(self, node: int) -> list[str]:
        voters = ",".join(f"{n}@{self.ip[n]}:{CONTROLLER_PORT}" for n in (1, 2, 3))
        overrides = {
            "node.id": str(node),
            "listeners": f"PLAINTEXT://{self.ip[node]}:{CLIENT_PORT},CONTROLLER://{self.ip[node]}:{CONTROLLER_PORT}",
            "advertised.listeners": f"PLAINTEXT://{self.ip[node]}:{CLIENT_PORT}",
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
        out = ["ip", "netns", "exec", self.ns[node], str(self.binary())]
        for k, v in overrides.items():
            out += ["--override", f"{k}={v}"]
        return out

    @staticmethod
    def binary() -> Path:
        from vltava_helpers import broker_bin

        return broker_bin()

    def wait_listening(self, node: int) -> None:
        pattern = re.compile(rb"listening on PLAINTEXT://" + re.escape(self.ip[node].encode()))
        import time

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with open(self.log_path(node), "rb") as log:
                log.seek(self.offsets[node])
                if pattern.search(log.read()):
                    return
            assert self.procs[node].poll() is None, f"broker {node} exited\n{self.tail(node)}"
            time.sleep(0.1)
        raise AssertionError(f"broker {node} did not start\n{self.tail(node)}")

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
    if shutil.which("ip") is None:
        return "needs `ip` (iproute2)"
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
    def client_address(self, node: int) -> tuple[str, int]:
        return self.ip[node], CLIENT_PORT

    def controller_address(self, node: int) -> tuple[str, int]:
        return self.ip[node], CONTROLLER_PORT

    def launcher(self, node: int) -> list[str]:
        return ["ip", "netns", "exec", self.ns[node]]

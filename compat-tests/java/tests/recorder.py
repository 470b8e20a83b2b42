"""A recording proxy: a loopback TCP proxy in front of a broker that keeps every request
frame the clients send, for the differential test to replay against vltava and Kafka.

The broker advertises the proxy's port (advertised.listeners), so clients send all
their traffic, not only the bootstrap, through it. Requests are written in the layout
of protocol-fixtures/ (`requests/<Api>/v<version>-<scenario>-<k>.bin`, frame without
its size prefix, and an index.json), at most `per_version` of each API version per
scenario so that a console consumer's hundreds of Fetch requests do not swamp the set.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
from pathlib import Path

# Kafka's API names by key, for the file layout and the differential's report.
API_NAMES = {
    0: "Produce", 1: "Fetch", 2: "ListOffsets", 3: "Metadata", 8: "OffsetCommit", 9: "OffsetFetch",
    10: "FindCoordinator", 11: "JoinGroup", 12: "Heartbeat", 13: "LeaveGroup", 14: "SyncGroup",
    15: "DescribeGroups", 16: "ListGroups", 17: "SaslHandshake", 18: "ApiVersions", 19: "CreateTopics",
    20: "DeleteTopics", 21: "DeleteRecords", 22: "InitProducerId", 23: "OffsetForLeaderEpoch",
    24: "AddPartitionsToTxn", 25: "AddOffsetsToTxn", 26: "EndTxn", 27: "WriteTxnMarkers",
    28: "TxnOffsetCommit", 29: "DescribeAcls", 30: "CreateAcls", 31: "DeleteAcls", 32: "DescribeConfigs",
    33: "AlterConfigs", 34: "AlterReplicaLogDirs", 35: "DescribeLogDirs", 36: "SaslAuthenticate",
    37: "CreatePartitions", 38: "CreateDelegationToken", 39: "RenewDelegationToken",
    40: "ExpireDelegationToken", 41: "DescribeDelegationToken", 42: "DeleteGroups", 43: "ElectLeaders",
    44: "IncrementalAlterConfigs", 45: "AlterPartitionReassignments", 46: "ListPartitionReassignments",
    47: "OffsetDelete", 48: "DescribeClientQuotas", 49: "AlterClientQuotas",
    50: "DescribeUserScramCredentials", 51: "AlterUserScramCredentials", 55: "DescribeQuorum",
    60: "DescribeCluster", 61: "DescribeProducers", 64: "UnregisterBroker", 65: "DescribeTransactions",
    66: "ListTransactions", 68: "ConsumerGroupHeartbeat", 69: "ConsumerGroupDescribe",
    71: "GetTelemetrySubscriptions", 72: "PushTelemetry", 74: "ListConfigResources",
    75: "DescribeTopicPartitions",
}


def _read_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


class Recorder:
    """Listens on `port` (127.0.0.1) and forwards each connection to `upstream_port`."""

    def __init__(self, port: int, upstream_port: int, per_version: int = 4):
        self.port = port
        self.upstream_port = upstream_port
        self.per_version = per_version
        self.scenario = "start"
        self.requests: list[tuple[str, int, int, bytes]] = []  # (scenario, key, version, frame)
        self._counts: dict[tuple[str, int, int], int] = {}
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", port))
        self._server.settimeout(0.5)
        self._stopped = threading.Event()
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._server.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                broker = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=10)
            except OSError:
                client.close()
                continue
            broker.settimeout(None)
            with self._lock:
                self._conns += [client, broker]
            threading.Thread(target=self._requests, args=(client, broker), daemon=True).start()
            threading.Thread(target=self._copy, args=(broker, client), daemon=True).start()

    def _requests(self, client: socket.socket, broker: socket.socket) -> None:
        """Client to broker, frame by frame, keeping each request."""
        try:
            while True:
                size = _read_exact(client, 4)
                if size is None:
                    break
                (n,) = struct.unpack(">i", size)
                frame = _read_exact(client, n) if n > 0 else b""
                if frame is None:
                    break
                self._keep(frame)
                broker.sendall(size + frame)
        except OSError:
            pass
        finally:
            self._close(client, broker)

    def _copy(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            self._close(src, dst)

    @staticmethod
    def _close(*socks: socket.socket) -> None:
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _keep(self, frame: bytes) -> None:
        if len(frame) < 4:
            return
        key, version = struct.unpack(">hh", frame[:4])
        if key not in API_NAMES:
            return
        with self._lock:
            slot = (self.scenario, key, version)
            if self._counts.get(slot, 0) >= self.per_version:
                return
            self._counts[slot] = self._counts.get(slot, 0) + 1
            self.requests.append((self.scenario, key, version, frame))

    def close(self) -> None:
        self._stopped.set()
        self._server.close()
        self._thread.join(timeout=5)
        with self._lock:
            conns, self._conns = self._conns, []
        self._close(*conns)

    def write(self, out: Path) -> int:
        """Writes requests/ and index.json under `out`; returns the number of requests."""
        index = []
        numbers: dict[tuple[str, int, str], int] = {}
        with self._lock:
            requests = list(self.requests)
        for scenario, key, version, frame in requests:
            api = API_NAMES[key]
            k = numbers[(api, version, scenario)] = numbers.get((api, version, scenario), 0) + 1
            rel = f"requests/{api}/v{version}-{scenario}-{k}.bin"
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            (out / rel).write_bytes(frame)
            index.append({"api": api, "api_key": key, "version": version, "scenario": scenario,
                          "request_file": rel})
        (out / "index.json").write_text(json.dumps(index, indent=1))
        return len(index)

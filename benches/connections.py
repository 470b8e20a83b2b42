#!/usr/bin/env python3
"""Many idle connections and slow-loris clients against one broker, next to a normal
client: prints the normal client's ApiVersions round-trip latency (p50/p99/max) alone and
under the load, the broker's RSS before and after, and whether the loris connections
were closed by connections.max.idle.ms.

    benches/connections.py [--idle 10000] [--loris 50] [--idle-ms 5000] [--bin target/release/vltava]

Raises this process's open-file limit (the broker inherits it) to fit the connections.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import socket
import statistics
import struct
import subprocess
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def api_versions_frame(correlation_id: int) -> bytes:
    client = b"bench"
    body = struct.pack(">hhih", 18, 0, correlation_id, len(client)) + client
    return struct.pack(">i", len(body)) + body


def recv_exact(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def latencies(port: int, n: int) -> list[float]:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        s.sendall(api_versions_frame(i))
        (size,) = struct.unpack(">i", recv_exact(s, 4))
        recv_exact(s, size)
        out.append((time.perf_counter() - t0) * 1e6)
    s.close()
    return out


def summary(xs: list[float]) -> str:
    xs = sorted(xs)
    p99 = xs[int(len(xs) * 0.99) - 1]
    return f"p50 {statistics.median(xs):7.0f} us  p99 {p99:7.0f} us  max {xs[-1]:7.0f} us"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--idle", type=int, default=10_000)
    ap.add_argument("--loris", type=int, default=50)
    ap.add_argument("--idle-ms", type=int, default=5000, help="connections.max.idle.ms")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--bin", default=os.environ.get("VLTAVA_BIN", str(REPO / "target" / "release" / "vltava")))
    args = ap.parse_args()

    want = args.idle + args.loris + 256
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2 * want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 2 * want), hard))

    work = Path(tempfile.mkdtemp(prefix="vltava-conn-bench-"))
    log = open(work / "broker.log", "wb")
    proc = subprocess.Popen([args.bin, "--override", "listeners=PLAINTEXT://127.0.0.1:0",
                             "--override", f"log.dirs={work / 'data'}",
                             "--override", f"connections.max.idle.ms={args.idle_ms}"],
                            stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    try:
        port = None
        deadline = time.monotonic() + 30
        while port is None and time.monotonic() < deadline:
            m = re.search(rb"listening on PLAINTEXT://127\.0\.0\.1:(\d+)", (work / "broker.log").read_bytes())
            port = int(m.group(1)) if m else None
            time.sleep(0.05)
        assert port, "broker did not start"
        latencies(port, 200)  # warm-up
        print(f"broker RSS at start: {rss_mb(proc.pid):.1f} MB")
        print(f"normal client alone:         {summary(latencies(port, args.requests))}")

        idle = []
        for _ in range(args.idle):
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=10))
        stop = threading.Event()
        closed = [0]

        def loris() -> None:
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            frame = api_versions_frame(1)
            try:
                for i in range(len(frame) - 1):
                    if stop.is_set():
                        return
                    s.sendall(frame[i:i + 1])
                    time.sleep(1.0)
                s.settimeout(args.idle_ms / 1000 + 5)
                s.recv(1)  # the broker closes it: b"" or a reset
                closed[0] += 1
            except OSError:
                closed[0] += 1
            finally:
                s.close()

        threads = [threading.Thread(target=loris, daemon=True) for _ in range(args.loris)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        print(f"{args.idle} idle + {args.loris} slow-loris connections open; broker RSS {rss_mb(proc.pid):.1f} MB")
        print(f"normal client under load:    {summary(latencies(port, args.requests))}")
        for t in threads:
            t.join(timeout=args.idle_ms / 1000 + 30)
        stop.set()
        print(f"slow-loris connections closed by the broker: {closed[0]} of {args.loris} "
              f"(connections.max.idle.ms={args.idle_ms})")
        alive = 0
        for s in idle:
            s.setblocking(False)
            try:
                alive += s.recv(1) != b""
            except BlockingIOError:
                alive += 1
            except OSError:
                pass
            s.close()
        print(f"idle connections still open after {args.idle_ms} ms: {alive} of {args.idle} "
              f"(closed when idle longer than connections.max.idle.ms)")
        print(f"broker RSS at the end: {rss_mb(proc.pid):.1f} MB")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()

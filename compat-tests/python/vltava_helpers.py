"""Record generation and verification shared by the client suites."""

from __future__ import annotations

import os
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path

N_RECORDS = 10_000
CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
NUM_KEYS = 997

REPO = Path(__file__).resolve().parents[2]
LISTENING_RE = re.compile(rb"listening on PLAINTEXT://127\.0\.0\.1:(\d+)")


def broker_bin() -> Path:
    """The vltava binary the suites start: VLTAVA_BIN, else <repo>/target/debug/vltava."""
    path = Path(os.environ.get("VLTAVA_BIN", REPO / "target" / "debug" / "vltava"))
    if not path.is_absolute():
        path = REPO / path
    return path


def free_ports(n: int) -> list[int]:
    """n distinct free loopback ports (bound together, then released)."""
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


@dataclass(frozen=True)
class Rec:
    seq: int
    key: bytes
    value: bytes
    headers: tuple  # ((name: str, value: bytes | None), ...)
    ts: int  # CreateTime in ms


def base_timestamp() -> int:
    """A CreateTime base safely in the past (Kafka rejects > 1h in the future)."""
    return (int(time.time()) - 600) * 1000


def make_records(
    n: int = N_RECORDS, base_ts: int | None = None, source: str = "py", first_seq: int = 0
) -> list[Rec]:
    base_ts = base_timestamp() if base_ts is None else base_ts
    out = []
    for i in range(first_seq, first_seq + n):
        key = f"key-{i % NUM_KEYS:04d}".encode()
        value = (f"value-{i:06d}-" + "abcdefghij" * (i % 7)).encode()
        headers = (("seq", str(i).encode()), ("src", source.encode()), ("empty", b""))
        out.append(Rec(i, key, value, headers, base_ts + i - first_seq))
    return out


def seq_of_value(value: bytes) -> int:
    return int(value.split(b"-")[1])


@dataclass
class Got:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple
    ts: int


def verify(expected: list[Rec], got: list[Got], num_partitions: int, label: str = "") -> dict[int, int]:
    """Check that `got` holds exactly the `expected` records.

    Per partition: offsets contiguous from 0, sequence numbers increasing (the
    producer's order), and every key in exactly one partition. Every record's key,
    value, headers and timestamp match. Returns {partition: count}."""
    by_seq = {r.seq: r for r in expected}
    assert len(got) == len(expected), f"{label}: consumed {len(got)} records, expected {len(expected)}"
    per_part: dict[int, list[Got]] = {}
    for g in got:
        per_part.setdefault(g.partition, []).append(g)
    assert set(per_part) <= set(range(num_partitions)), f"{label}: partitions {sorted(per_part)}"
    key_part: dict[bytes, int] = {}
    seen = set()
    for p, recs in per_part.items():
        offsets = [g.offset for g in recs]
        assert offsets == list(range(len(recs))), (
            f"{label}: partition {p} offsets not contiguous from 0: first {offsets[:5]} ... last {offsets[-5:]}"
        )
        last_seq = -1
        for g in recs:
            seq = seq_of_value(g.value)
            assert seq not in seen, f"{label}: duplicate record seq={seq}"
            seen.add(seq)
            assert seq > last_seq, f"{label}: partition {p} out of order: seq {seq} after {last_seq}"
            last_seq = seq
            r = by_seq[seq]
            assert g.key == r.key, f"{label}: seq {seq} key {g.key!r} != {r.key!r}"
            assert g.value == r.value, f"{label}: seq {seq} value mismatch"
            assert tuple(g.headers) == r.headers, f"{label}: seq {seq} headers {g.headers!r} != {r.headers!r}"
            assert g.ts == r.ts, f"{label}: seq {seq} timestamp {g.ts} != {r.ts}"
            prev = key_part.setdefault(g.key, p)
            assert prev == p, f"{label}: key {g.key!r} in partitions {prev} and {p}"
    assert seen == set(by_seq), f"{label}: missing seqs {sorted(set(by_seq) - seen)[:10]}"
    return {p: len(v) for p, v in per_part.items()}


def expected_offset_for_time(got: list[Got], partition: int, ts: int) -> int | None:
    """Earliest offset in `partition` whose timestamp >= ts (None if none)."""
    candidates = [g.offset for g in got if g.partition == partition and g.ts >= ts]
    return min(candidates) if candidates else None


def wait_until(cond, timeout: float, what: str, describe=lambda: ""):
    """Polls `cond` every 0.2 s until it returns something true (returned), for at most
    `timeout` s; an exception counts as not yet (a broker that is just going away).
    On timeout, fails naming `what`, the last value or exception and `describe()`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = cond()
            if last:
                return last
        except Exception as e:  # metadata from a broker that is just going away
            last = e
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}: {last} {describe()}")

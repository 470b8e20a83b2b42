#!/usr/bin/env python3
"""Helpers for benches/e2e.sh (stdlib + confluent_kafka only).

  create-topics BOOTSTRAP NAME:PARTITIONS...   create topics (AdminClient), wait for them
  startup PORT CMD...                          ms from spawn to the first answered ApiVersions
  percentiles FILE                             p50 p99 p99.9 (and count) of one number per line
  report RESULTS.tsv JSON_OUT META...          print the table, write JSON
"""
import json
import os
import socket
import statistics
import subprocess
import sys
import time

# ApiVersions v0: size 10, api_key 18, version 0, correlation id 1, null client id.
API_VERSIONS_V0 = bytes.fromhex("0000000a" "0012" "0000" "00000001" "ffff")


def create_topics(bootstrap, specs):
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 10000})
    topics = []
    for s in specs:
        name, parts = s.rsplit(":", 1)
        topics.append(NewTopic(name, num_partitions=int(parts), replication_factor=1))
    for name, fut in admin.create_topics(topics, request_timeout=15).items():
        try:
            fut.result(timeout=20)
        except Exception as e:  # already exists is fine for reruns
            if "TOPIC_ALREADY_EXISTS" not in str(e):
                sys.exit(f"create {name}: {e}")


def api_versions_ok(port, deadline):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=max(0.05, deadline - time.monotonic())) as s:
            s.sendall(API_VERSIONS_V0)
            hdr = b""
            while len(hdr) < 4:
                chunk = s.recv(4 - len(hdr))
                if not chunk:
                    return False
                hdr += chunk
            size = int.from_bytes(hdr, "big")
            body = b""
            while len(body) < size:
                chunk = s.recv(size - len(body))
                if not chunk:
                    return False
                body += chunk
            # correlation id 1, then error code 0
            return body[:4] == b"\x00\x00\x00\x01" and body[4:6] == b"\x00\x00"
    except OSError:
        return False


def startup(port, cmd):
    port = int(port)
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = t0 + 10
    try:
        while time.monotonic() < deadline:
            if api_versions_ok(port, deadline):
                print(f"{(time.monotonic() - t0) * 1000:.1f}")
                return
            if proc.poll() is not None:
                sys.exit(f"broker exited with {proc.returncode} before answering")
            time.sleep(0.0005)
        sys.exit("no ApiVersions answer within 10 s")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def percentiles(path):
    vals = sorted(float(l) for l in open(path) if l.strip())
    if not vals:
        sys.exit("no samples")

    def pct(p):  # nearest-rank
        k = max(0, min(len(vals) - 1, int(-(-p * len(vals) // 100)) - 1))
        return vals[k]

    print(f"{pct(50):.0f} {pct(99):.0f} {pct(99.9):.0f} {len(vals)}")


def write_speed(directory, total):
    """MB/s of writing `total` bytes into a new file in `directory` with 1 MiB writes and
    no fsync: how fast this machine fills fresh page-cache pages, the ceiling of a
    durable-by-write-back broker. The file is deleted afterwards."""
    chunk = b"\x5a" * (1 << 20)
    path = os.path.join(directory, "vltava-bench-write-speed")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        start = time.monotonic()
        written = 0
        while written < total:
            written += os.write(fd, chunk)
        elapsed = time.monotonic() - start
    finally:
        os.close(fd)
        os.unlink(path)
    print(f"{written / elapsed / 1e6:.0f}")


# Targets from the issue: metric key -> (op, value, unit)
TARGETS = {
    "produce_1024B_acks1_p1": (">=", 900_000, "rec/s"),
    "produce_100B_acks1_p1": (">=", 3_000_000, "rec/s"),
    "produce_1024B_acks1_p1_tuned": (">=", 900_000, "rec/s"),
    "produce_100B_acks1_p1_tuned": (">=", 3_000_000, "rec/s"),
    "consume_100B_p1": (">=", 3_500_000, "rec/s"),
    "latency_p99_us": ("<", 600, "us"),
    "startup_ms": ("<", 50, "ms"),
    "rss_idle_mb": ("<", 20, "MB"),
    "rss_produce_1024B_mb": ("<", 200, "MB"),
}


def report(tsv, json_out, meta):
    # rows: broker \t metric \t run \t value
    data = {}
    order = []
    for line in open(tsv):
        parts = line.rstrip("\n").split("\t")
        if len(parts) != 4:
            continue
        broker, metric, run, value = parts
        if metric not in order:
            order.append(metric)
        try:
            v = float(value)
        except ValueError:
            v = None
        data.setdefault(broker, {}).setdefault(metric, []).append(v)
    med = {
        b: {m: (statistics.median([x for x in vs if x is not None]) if any(x is not None for x in vs) else None)
            for m, vs in ms.items()}
        for b, ms in data.items()
    }
    brokers = [b for b in ("vltava", "mock", "tansu") if b in med]
    # Figures of the machine itself (page-cache write speed) go in the vltava column.
    for m, v in med.pop("machine", {}).items():
        med.setdefault("vltava", {})[m] = v

    def fmt(v):
        if v is None:
            return "-"
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:.3g}" if abs(v) < 10 else f"{v:.1f}"

    cols = ["metric"] + brokers + [f"vltava/{b}" for b in brokers[1:]] + ["target", "met"]
    rows = []
    for m in order:
        v = med.get("vltava", {}).get(m)
        row = [m] + [fmt(med.get(b, {}).get(m)) for b in brokers]
        for b in brokers[1:]:
            p = med.get(b, {}).get(m)
            row.append(f"{v / p:.2f}" if v is not None and p not in (None, 0) else "-")
        t = TARGETS.get(m)
        if t:
            op, tv, unit = t
            met = None if v is None else (v >= tv if op == ">=" else v < tv)
            row += [f"{op} {tv:,} {unit}", "-" if met is None else ("met" if met else "NOT met")]
        else:
            row += ["", ""]
        rows.append(row)
    widths = [max(len(str(r[i])) for r in rows + [cols]) for i in range(len(cols))]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"
    print(line(cols))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))
    out = {
        "meta": dict(kv.split("=", 1) for kv in meta),
        "median": med,
        "runs": data,
        "targets": {m: {"op": t[0], "value": t[1], "unit": t[2]} for m, t in TARGETS.items()},
    }
    os.makedirs(os.path.dirname(os.path.abspath(json_out)), exist_ok=True)
    with open(json_out, "w") as f:
        json.dump(out, f, indent=2, sort_keys=True)
    print(f"\nJSON written to {json_out}")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "create-topics":
        create_topics(args[0], args[1:])
    elif cmd == "startup":
        startup(args[0], args[1:])
    elif cmd == "write-speed":
        write_speed(args[0], int(args[1]))
    elif cmd == "percentiles":
        percentiles(args[0])
    elif cmd == "report":
        report(args[0], args[1], args[2:])
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()

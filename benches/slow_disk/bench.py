#!/usr/bin/env python3
"""Does a slow disk stall connections that never touch it? (issue 13: measure before
moving blocking file I/O off the runtime threads.)

Mounts compat-tests/python/faultfs.py (a FUSE passthrough whose writes, fsyncs, creates, renames and unlinks
each sleep --delay-ms) as the broker's log dir, then measures round trips on one probe
connection that asks only for ApiVersions and Metadata (no disk I/O): with the broker
idle, while --producers connections produce to their own partitions as fast as the disk
lets them, and while one connection creates topics of 8 partitions one after another. Prints p50/p99/max per phase and the producers' throughput.

    benches/slow_disk/bench.py [--delay-ms 20] [--producers 4] [--seconds 10]
                               [--binary target/release/vltava]

Needs root (or fusermount), /dev/fuse, libfuse2 and `pip install fusepy`. Everything is
on 127.0.0.1; the broker and the mount are stopped by pid / unmounted on exit.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / "compat-tests" / "python"))
import kafka_wire as w  # noqa: E402
from conftest import Broker  # noqa: E402


def wait_for(pred, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    sys.exit(f"timed out waiting for {what}")


def percentiles(samples_ms: list[float]) -> str:
    s = sorted(samples_ms)
    if not s:
        return "no samples"
    p = lambda q: s[min(len(s) - 1, int(q * len(s)))]  # noqa: E731
    return f"n={len(s):5d}  p50={p(0.50):7.2f} ms  p99={p(0.99):7.2f} ms  max={s[-1]:7.2f} ms"


def probe(port: int, seconds: float) -> list[float]:
    """Alternating ApiVersions v0 and Metadata v4 round trips on one connection."""
    out = []
    cid = 1000
    with w.connect(port) as s:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            cid += 1
            body = w.header(18, 0, cid) if cid % 2 else w.metadata_v4(["quiet"], correlation_id=cid)
            t0 = time.perf_counter()
            w.send_frame(s, body)
            w.recv_frame(s)
            out.append((time.perf_counter() - t0) * 1000)
            time.sleep(0.005)
    return out


def producer(port: int, partition: int, stop: threading.Event, counts: list[int]) -> None:
    batch = bytes(w.record_batch_v2([(b"k", b"v" * 1000)] * 16, int(time.time() * 1000)))
    with w.connect(port) as s:
        cid = 0
        while not stop.is_set():
            cid += 1
            w.send_frame(s, w.produce_v7("busy", partition, batch, correlation_id=cid))
            res = w.parse_produce_v7(w.Reader(w.recv_frame(s)), correlation_id=cid)
            if all(err == 0 for err, _ in res.values()):
                counts[partition] += 16


def creator(port: int, stop: threading.Event, counts: list[int]) -> None:
    """Creates topics of 8 partitions, one request at a time (log creation on the disk)."""
    n = 0
    with w.connect(port) as s:
        while not stop.is_set():
            n += 1
            w.send_frame(s, w.create_topics_v4([(f"created-{n}", 8, 1)], correlation_id=n))
            res = w.parse_create_topics_v4(w.Reader(w.recv_frame(s)), correlation_id=n)
            counts[0] += sum(1 for err, _ in res.values() if err == 0)


def under_load(port: int, seconds: float, workers: list) -> list[float]:
    """Probes while `workers` (functions of a stop event) run; stops and joins them."""
    stop = threading.Event()
    threads = [threading.Thread(target=f, args=(stop,), daemon=True) for f in workers]
    for t in threads:
        t.start()
    samples = probe(port, seconds)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    return samples


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--delay-ms", type=float, default=20)
    ap.add_argument("--producers", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--binary", default=str(REPO / "target" / "release" / "vltava"))
    args = ap.parse_args()

    os.environ["VLTAVA_BIN"] = args.binary
    work = Path(tempfile.mkdtemp(prefix="vltava-slow-disk-"))
    # The python suites' broker runner, with its log dir (work/data) on the slow disk.
    broker = Broker(work)
    root, mount = work / "root", broker.log_dir
    root.mkdir()
    faultfs = REPO / "compat-tests" / "python" / "faultfs.py"
    fs = subprocess.Popen([sys.executable, str(faultfs), str(root), str(mount), str(args.delay_ms)])
    try:
        wait_for(lambda: os.path.ismount(mount), 10, "the FUSE mount")
        broker.start()
        p = broker.port
        created = w.parse_create_topics_v4(
            w.roundtrip(p, w.create_topics_v4([("busy", args.producers, 1), ("quiet", 1, 1)])))
        assert all(err == 0 for err, _ in created.values()), created

        print(f"slow disk: {args.delay_ms:g} ms per write/fsync/create/rename/unlink; "
              f"{args.producers} producers, {args.seconds:g} s per phase; {os.cpu_count()} cores")
        idle = probe(p, args.seconds)
        print(f"probe, broker idle:        {percentiles(idle)}")

        counts = [0] * args.producers
        loaded = under_load(p, args.seconds, [
            lambda stop, i=i: producer(p, i, stop, counts) for i in range(args.producers)])
        print(f"probe, producers writing:  {percentiles(loaded)}")
        print(f"  producers: {sum(counts) / args.seconds:.0f} records/s of 1 KB in total")

        created = [0]
        creating = under_load(p, args.seconds, [lambda stop: creator(p, stop, created)])
        print(f"probe, topics being made:  {percentiles(creating)}")
        print(f"  creator: {created[0] / args.seconds:.1f} topics/s of 8 partitions")
    finally:
        broker.stop()
        unmount = ["fusermount", "-u"] if shutil.which("fusermount") else ["umount"]
        subprocess.run([*unmount, str(mount)], check=False)
        try:
            fs.wait(timeout=10)
        except subprocess.TimeoutExpired:
            fs.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

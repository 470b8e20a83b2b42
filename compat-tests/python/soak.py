#!/usr/bin/env python3
"""kill -9 soak of a three-broker cluster, with a Jepsen-style check of the result.

An idempotent acks=all producer and a group consumer run while brokers are killed and
restarted, cycling through five patterns: the leader of partition 0, a follower, the
active controller, two brokers at once, all three at once. Each cycle prints the time
until every partition has a live leader again and what was produced, acknowledged and
consumed meanwhile. At the end every partition is read from the start and checked: each
acknowledged record must be at the offset its acknowledgement gave, exactly once, and in
the order it was sent per partition; it prints lost, duplicated, misplaced and reordered
counts (all must be 0) and exits non-zero otherwise.

    python3 soak.py --cycles 20          # the long run (about 20 s per cycle)

`test_cluster.py::test_soak_every_kill_pattern_once` runs it for five cycles. Needs the
broker binary (`cargo build`, or VLTAVA_BIN) and confluent-kafka."""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from vltava_cluster import Cluster

PATTERNS = ["leader", "follower", "controller", "two", "all"]


def run_soak(cluster: Cluster, cycles: int, n_partitions: int = 6, out=print) -> dict:
    # the helpers of the cluster tests (kept in one place)
    from test_cluster import ContinuousConsumer, ContinuousProducer, controller_id, create_topic, partitions
    from vltava_helpers import wait_until

    topic = "soak"
    create_topic(cluster, topic, n_partitions)
    everyone = [1, 2, 3]
    full = lambda: all(isr == (1, 2, 3) for _, isr in partitions(cluster, topic, everyone).values())
    wait_until(full, 30, "full ISRs")
    producer = ContinuousProducer(cluster.bootstrap, topic)
    producer.thread.start()
    reader = ContinuousConsumer(cluster.bootstrap, topic)
    reader.thread.start()
    report = []
    try:
        time.sleep(2)
        for cycle in range(cycles):
            pattern = PATTERNS[cycle % len(PATTERNS)]
            parts = partitions(cluster, topic, everyone)
            leader0 = parts[0][0]
            active = controller_id(cluster, everyone)
            if pattern == "leader":
                victims = [leader0]
            elif pattern == "follower":
                victims = [next(n for n in everyone if n not in (leader0, active))]
            elif pattern == "controller":
                victims = [active]
            elif pattern == "two":
                victims = [n for n in everyone if n != (cycle // len(PATTERNS)) % 3 + 1]
            else:
                victims = list(everyone)
            before = (producer.sent, len(producer.acked), reader.count)
            for v in victims:
                cluster.kill(v)
            killed_at = time.monotonic()
            alive = [n for n in everyone if n not in victims]
            if len(victims) == 1:
                # a majority is left: the controller moves the leaderships
                wait_until(lambda: all(l in alive for l, _ in partitions(cluster, topic, alive).values()),
                           60, f"new leaders after killing {victims}", cluster.tails)
                to_leaders = time.monotonic() - killed_at
                time.sleep(1)
                for v in victims:
                    cluster.restart(v)
            else:
                # no majority: nothing can move until they are back
                time.sleep(2)
                for v in victims:
                    cluster.spawn(v)
                for v in victims:
                    cluster.wait_listening(v)
                wait_until(lambda: all(l in everyone for l, _ in partitions(cluster, topic, everyone).values()),
                           90, f"leaders after restarting {victims}", cluster.tails)
                to_leaders = time.monotonic() - killed_at
            wait_until(full, 90, f"{victims} back in every ISR", cluster.tails)
            wait_until(lambda: reader.count > before[2], 60, "the group consumer to read again", cluster.tails)
            row = {
                "cycle": cycle + 1,
                "pattern": pattern,
                "killed": victims,
                "time_to_leaders_s": round(to_leaders, 2),
                "produced": producer.sent - before[0],
                "acknowledged": len(producer.acked) - before[1],
                "consumed_by_group": reader.count - before[2],
            }
            report.append(row)
            out("cycle " + json.dumps(row))
    finally:
        producer.stop()
        reader.stop()
    result = check(cluster.bootstrap, topic, n_partitions, producer.acked)
    result.update(produced=producer.sent, acknowledged=len(producer.acked),
                  failed=producer.failed, consumed_by_group=reader.count, cycles=report)
    out("total " + json.dumps({k: v for k, v in result.items() if k != "cycles"}))
    return result


def check(bootstrap: str, topic: str, n_partitions: int, acked: dict[int, tuple[int, int]]) -> dict:
    """Reads every partition from the start and compares with the acknowledgements."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "soak-check", "enable.auto.commit": False,
                  "enable.partition.eof": True})
    c.assign([TopicPartition(topic, p, 0) for p in range(n_partitions)])
    log: dict[int, list[tuple[int, int]]] = collections.defaultdict(list)  # partition -> [(offset, value)]
    eof: set[int] = set()
    deadline = time.monotonic() + 120
    while len(eof) < n_partitions and time.monotonic() < deadline:
        for m in c.consume(1000, 1.0):
            if m.error():
                if m.error().code() == -191:  # _PARTITION_EOF
                    eof.add(m.partition())
                continue
            eof.discard(m.partition())
            log[m.partition()].append((m.offset(), int(m.value())))
    c.close()
    at = {(p, off): v for p, entries in log.items() for off, v in entries}
    seen = collections.Counter(v for entries in log.values() for _, v in entries)
    lost = [v for v in acked if v not in seen]
    misplaced = [v for v, (p, off) in acked.items() if v in seen and at.get((p, off)) != v]
    duplicated = [v for v, n in seen.items() if n > 1]
    reordered = 0
    for entries in log.values():
        values = [v for _, v in entries if v in acked]
        reordered += sum(1 for a, b in zip(values, values[1:]) if b < a)
    return {"read": sum(seen.values()), "lost": len(lost), "duplicated": len(duplicated),
            "misplaced": len(misplaced), "reordered": reordered, "all_partitions_read": len(eof) == n_partitions,
            "examples": {"lost": sorted(lost)[:10], "misplaced": sorted(misplaced)[:10],
                         "duplicated": sorted(duplicated)[:10]}}


def ok(result: dict) -> bool:
    return (result["lost"] == result["duplicated"] == result["misplaced"] == result["reordered"] == 0
            and result["failed"] == 0 and result["all_partitions_read"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cycles", type=int, default=20)
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument("--keep", action="store_true", help="keep the cluster's directory")
    args = ap.parse_args()
    cluster = Cluster(Path(tempfile.mkdtemp(prefix="vltava-soak-")))
    cluster.start()
    try:
        result = run_soak(cluster, args.cycles, args.partitions)
    finally:
        cluster.shutdown()
        if not args.keep:
            shutil.rmtree(cluster.workdir, ignore_errors=True)
    if not ok(result):
        print("FAILED: " + json.dumps(result["examples"]))
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())

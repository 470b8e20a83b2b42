"""Log compaction against the real Kafka broker: the same keyed writes, updates and
tombstones go to a compacted topic on vltava and on upstream Kafka; once each broker's
cleaner has cleaned everything below the active segment (its `cleaner-offset-checkpoint`
reaches the active segment's base offset), a reader from the beginning must see the same
offsets, keys and values on both, and on vltava the same again after a restart.

The producer sends one record per batch (batch.size=1), so both logs roll at the same
offsets: segment.bytes is small and every batch has the same size on both brokers."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from conftest import vltava_and_kafka
from kafka_java import tool

TOPIC = "compacted"
SETTINGS = {"num.partitions": "1", "log.cleaner.backoff.ms": "200"}
TOPIC_CONFIGS = {
    "cleanup.policy": "compact",
    "segment.bytes": "2000",
    "min.cleanable.dirty.ratio": "0.01",
    "delete.retention.ms": "86400000",
}
WAIT_S = 120.0


def writes() -> list[tuple[str, str | None]]:
    """300 writes over 20 keys: each key updated 15 times, every 17th write a tombstone."""
    return [(f"key{i % 20}", None if i % 17 == 16 else f"value{i}") for i in range(300)]


@pytest.fixture
def both():
    with vltava_and_kafka("compaction-", SETTINGS) as pair:
        yield pair


def create_and_produce(bootstrap: str) -> None:
    configs = [arg for k, v in TOPIC_CONFIGS.items() for arg in ("--config", f"{k}={v}")]
    tool("kafka-topics.sh", "--bootstrap-server", bootstrap, "--create", "--topic", TOPIC,
         "--partitions", "1", "--replication-factor", "1", *configs)
    lines = "".join(f"{k}:{'NULL' if v is None else v}\n" for k, v in writes())
    tool("kafka-console-producer.sh", "--bootstrap-server", bootstrap, "--topic", TOPIC,
         "--property", "parse.key=true", "--property", "key.separator=:",
         "--property", "null.marker=NULL",
         "--producer-property", "batch.size=1", "--producer-property", "linger.ms=0",
         input=lines)


def active_base(log_dir: Path) -> int:
    return max(int(p.stem) for p in (log_dir / f"{TOPIC}-0").glob("*.log"))


def cleaner_point(log_dir: Path) -> int | None:
    try:
        lines = (log_dir / "cleaner-offset-checkpoint").read_text().splitlines()
    except OSError:
        return None
    for line in lines[2:]:
        parts = line.split()
        if parts[:2] == [TOPIC, "0"]:
            return int(parts[2])
    return None


def wait_cleaned(name: str, broker) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        base = active_base(broker.log_dir)
        if base > 0 and cleaner_point(broker.log_dir) == base:
            return
        time.sleep(0.5)
    raise AssertionError(
        f"{name}: not cleaned up to the active segment {active_base(broker.log_dir)} "
        f"(cleaner checkpoint {cleaner_point(broker.log_dir)})\n" + broker.log_tail()
    )


def read_all(bootstrap: str) -> list[str]:
    out = tool("kafka-console-consumer.sh", "--bootstrap-server", bootstrap, "--topic", TOPIC,
               "--from-beginning", "--timeout-ms", "8000",
               "--property", "print.offset=true", "--property", "print.key=true",
               check=False)
    return [line for line in out.stdout.splitlines() if line.startswith("Offset:")]


def test_a_compacted_topic_reads_as_on_kafka(both):
    vltava, kafka = both
    for broker in both:
        create_and_produce(broker.bootstrap)
    for name, broker in zip(("vltava", "kafka"), both):
        wait_cleaned(name, broker)
    assert active_base(vltava.log_dir) == active_base(kafka.log_dir), "both logs rolled alike"
    on_kafka = read_all(kafka.bootstrap)
    on_vltava = read_all(vltava.bootstrap)
    assert on_vltava == on_kafka
    assert len(on_kafka) < len(writes()), "the cleaner removed superseded records"
    # What survives is the latest write of every key (tombstones included, for a day).
    latest = dict(writes())
    for key, value in latest.items():
        last = [line for line in on_vltava if line.split("\t")[1] == key][-1]
        assert last.split("\t")[2] == ("null" if value is None else value), last
    vltava.restart()
    assert read_all(vltava.bootstrap) == on_kafka

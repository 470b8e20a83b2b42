"""The Java client (kafka-clients), driven through Kafka's own verifiable and perf
tools, in the 4.0 line (what vltava advertises) and the newest release."""

from __future__ import annotations

import json
import subprocess

import pytest

import kafka_java
from kafka_java import DEFAULT_VERSION, NEWEST_VERSION, tool

VERSIONS = [DEFAULT_VERSION, NEWEST_VERSION]


def create(target, topic, partitions, *configs: str):
    tool("kafka-topics.sh", "--bootstrap-server", target.bootstrap, "--create", "--topic", topic,
         "--partitions", str(partitions), *[a for c in configs for a in ("--config", c)])


def events(out: str) -> list[dict]:
    result = []
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("{"):
            result.append(json.loads(line))
    return result


def verifiable_produce(target, topic, n, version, acks="-1", **props) -> dict[int, list[int]]:
    """Produce n records; returns partition -> acknowledged offsets."""
    cfg = target.log_dir.parent / f"producer-{topic}.properties"
    cfg.write_text("".join(f"{k.replace('_', '.')}={v}\n" for k, v in props.items()))
    out = tool("kafka-verifiable-producer.sh", "--bootstrap-server", target.bootstrap, "--topic", topic,
               "--max-messages", str(n), "--acks", acks, "--producer.config", str(cfg),
               "--value-prefix", "7", version=version).stdout
    acked: dict[int, list[int]] = {}
    errors = []
    for e in events(out):
        if e["name"] == "producer_send_success":
            acked.setdefault(e["partition"], []).append(e["offset"])
        elif e["name"] == "producer_send_error":
            errors.append(e)
    assert not errors, errors[:5]
    assert sum(len(v) for v in acked.values()) == n, out[-2000:]
    return acked


def verifiable_consume(target, topic, group, n, version, protocol="classic", timeout=120) -> dict[int, int]:
    """Consume n records in a group; returns partition -> records consumed."""
    proc = tool("kafka-verifiable-consumer.sh", "--bootstrap-server", target.bootstrap, "--topic", topic,
                "--group-id", group, "--max-messages", str(n), "--reset-policy", "earliest",
                "--group-protocol", protocol, version=version, timeout=timeout)
    out = proc.stdout
    counts: dict[int, int] = {}
    for e in events(out):
        if e["name"] == "records_consumed":
            for p in e["partitions"]:
                counts[p["partition"]] = counts.get(p["partition"], 0) + p["count"]
    assert sum(counts.values()) == n, out[-2000:] + "\n--- stderr ---\n" + proc.stderr[-3000:]
    return counts


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_idempotent_producer_every_codec_then_group_consumer(target, topic_name, version, codec):
    topic = topic_name()
    create(target, topic, 3)
    # The Java producer is idempotent by default (acks=all, enable.idempotence=true).
    acked = verifiable_produce(target, topic, 3000, version, compression_type=codec, linger_ms=5)
    for offsets in acked.values():
        assert sorted(offsets) == list(range(len(offsets))), "offsets dense and unique per partition"
    counts = verifiable_consume(target, topic, topic + "-g", 3000, version)
    assert counts == {p: len(v) for p, v in acked.items()}


@pytest.mark.parametrize("topic_codec,producer_codec", [("lz4", "none"), ("snappy", "gzip"), ("gzip", "zstd"),
                                                       ("zstd", "lz4"), ("uncompressed", "snappy")])
def test_topic_compression_type_recompresses(target, topic_name, topic_codec, producer_codec):
    """A topic codec other than the producer's: the broker recompresses, and the Java
    consumer reads every record back."""
    topic = topic_name()
    create(target, topic, 2, f"compression.type={topic_codec}")
    acked = verifiable_produce(target, topic, 2000, DEFAULT_VERSION, compression_type=producer_codec, linger_ms=5)
    counts = verifiable_consume(target, topic, topic + "-g", 2000, DEFAULT_VERSION)
    assert counts == {p: len(v) for p, v in acked.items()}


@pytest.mark.parametrize("acks", ["0", "1", "-1"])
def test_producer_acks(target, topic_name, acks):
    topic = topic_name()
    create(target, topic, 2)
    props = {} if acks == "-1" else {"enable_idempotence": "false"}
    if acks == "0":
        # acks=0 gets no offsets back; count what a consumer reads instead.
        tool("kafka-producer-perf-test.sh", "--topic", topic, "--num-records", "2000", "--record-size", "100",
             "--throughput", "-1", "--producer-props", f"bootstrap.servers={target.bootstrap}", "acks=0",
             "enable.idempotence=false")
        out = tool("kafka-get-offsets.sh", "--bootstrap-server", target.bootstrap, "--topic", topic).stdout
        assert sum(int(line.split(":")[2]) for line in out.split()) == 2000, out
        return
    verifiable_produce(target, topic, 2000, DEFAULT_VERSION, acks=acks, **props)


def test_large_records(target, topic_name):
    topic = topic_name()
    create(target, topic, 1)
    out = tool("kafka-producer-perf-test.sh", "--topic", topic, "--num-records", "40", "--record-size", "900000",
               "--throughput", "-1", "--producer-props", f"bootstrap.servers={target.bootstrap}",
               "max.request.size=1048576", "compression.type=none").stdout
    assert "40 records sent" in out, out
    too_big = tool("kafka-producer-perf-test.sh", "--topic", topic, "--num-records", "1", "--record-size", "1100000",
                   "--throughput", "-1", "--producer-props", f"bootstrap.servers={target.bootstrap}",
                   "max.request.size=2000000", "compression.type=none", "delivery.timeout.ms=10000",
                   "request.timeout.ms=5000", "linger.ms=0", check=False)
    assert "RecordTooLargeException" in too_big.stdout + too_big.stderr or "MESSAGE_TOO_LARGE" in too_big.stdout + too_big.stderr, too_big.stdout + too_big.stderr
    out = tool("kafka-consumer-perf-test.sh", "--bootstrap-server", target.bootstrap, "--topic", topic,
               "--messages", "40", "--timeout", "30000", "--consumer.config", "/dev/null").stdout
    # CSV: start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, ...
    row = [line for line in out.splitlines() if line and line[0].isdigit()][-1].split(", ")
    assert int(row[4]) == 40, out


@pytest.mark.parametrize("version", VERSIONS)
def test_consumer_group_protocol_consumer(target, topic_name, version, expect):
    expect("consumer-groups-new-protocol", target.kind)
    topic = topic_name()
    create(target, topic, 2)
    verifiable_produce(target, topic, 500, version)
    counts = verifiable_consume(target, topic, topic + "-g", 500, version, protocol="consumer", timeout=60)
    assert sum(counts.values()) == 500


def client_scenario(target, scenario, version):
    lib = kafka_java.lib_dir(version)
    out = subprocess.run(
        ["java", "-cp", f"{lib}/*", f"-Dlog4j2.configurationFile={kafka_java.JAVA_DIR}/config/log4j2.properties",
         str(kafka_java.JAVA_DIR / "src" / "ClientScenarios.java"), target.bootstrap, scenario],
        capture_output=True, text=True, timeout=180,
    )
    assert out.returncode == 0 and f"OK {scenario}" in out.stdout, out.stdout[-3000:] + out.stderr[-3000:]


@pytest.mark.parametrize("version", VERSIONS)
def test_consumer_assign_seek_pause_offsets_by_time(target, version):
    client_scenario(target, "consumer-assign-seek-pause", version)


@pytest.mark.parametrize("version", VERSIONS)
def test_admin_client(target, version):
    client_scenario(target, "admin", version)

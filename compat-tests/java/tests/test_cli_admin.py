"""Kafka's operations tools: configs, get-offsets, delete-records, leader election,
reassignments, log dirs, metadata quorum, cluster id, features, broker API versions,
transactions and the dump-log tool over the broker's own segments."""

from __future__ import annotations

import re
import time

from kafka_java import tool


def create(target, topic, partitions=1, *configs):
    args = []
    for c in configs:
        args += ["--config", c]
    tool("kafka-topics.sh", "--bootstrap-server", target.bootstrap, "--create", "--topic", topic,
         "--partitions", str(partitions), *args)


def produce(target, topic, n, keyed=False):
    args = ["--property", "parse.key=true", "--property", "key.separator=:"] if keyed else []
    tool("kafka-console-producer.sh", "--bootstrap-server", target.bootstrap, "--topic", topic, *args,
         input="".join((f"k{i}:" if keyed else "") + f"r{i}\n" for i in range(n)))


def configs(target, *args, **kw):
    return tool("kafka-configs.sh", "--bootstrap-server", target.bootstrap, *args, **kw)


def test_configs_describe_topic_and_broker(target, topic_name):
    name = topic_name()
    create(target, name, 1, "retention.ms=123456")
    out = configs(target, "--describe", "--entity-type", "topics", "--entity-name", name).stdout
    assert "retention.ms=123456" in out, out
    out = configs(target, "--describe", "--all", "--entity-type", "topics", "--entity-name", name).stdout
    for key in ("cleanup.policy=delete", "segment.bytes=1073741824", "min.insync.replicas=1",
                "retention.ms=123456", "compression.type=producer"):
        assert key in out, (key, out)
    out = configs(target, "--describe", "--all", "--entity-type", "brokers", "--entity-name", "1").stdout
    assert "log.retention.hours=168" in out, out


def test_configs_alter_topic(target, topic_name, expect):
    expect("configs-alter-topic", target.kind)
    name = topic_name()
    create(target, name)
    configs(target, "--alter", "--entity-type", "topics", "--entity-name", name,
            "--add-config", "retention.ms=60000,max.message.bytes=2000000")
    out = configs(target, "--describe", "--entity-type", "topics", "--entity-name", name).stdout
    assert "retention.ms=60000" in out and "max.message.bytes=2000000" in out, out
    configs(target, "--alter", "--entity-type", "topics", "--entity-name", name, "--delete-config", "retention.ms")
    out = configs(target, "--describe", "--entity-type", "topics", "--entity-name", name).stdout
    assert "retention.ms" not in out, out


def test_configs_alter_broker(target, expect):
    expect("configs-alter-broker", target.kind)
    configs(target, "--alter", "--entity-type", "brokers", "--entity-name", "1",
            "--add-config", "log.cleaner.threads=2")
    out = configs(target, "--describe", "--entity-type", "brokers", "--entity-name", "1").stdout
    assert "log.cleaner.threads=2" in out, out


def test_configs_alter_broker_default(target, expect):
    expect("configs-alter-broker-default", target.kind)
    configs(target, "--alter", "--entity-type", "brokers", "--entity-default",
            "--add-config", "log.retention.ms=86400000")
    out = configs(target, "--describe", "--entity-type", "brokers", "--entity-default").stdout
    assert "log.retention.ms=86400000" in out, out


def test_get_offsets(target, topic_name):
    name = topic_name()
    create(target, name, 2)
    before = int(time.time() * 1000)
    produce(target, name, 30, keyed=True)

    def offsets(*args):
        out = tool("kafka-get-offsets.sh", "--bootstrap-server", target.bootstrap, "--topic", name, *args).stdout
        return {int(p): int(o) for _, p, o in (line.split(":") for line in out.split())}
    latest = offsets("--time", "-1")
    assert sum(latest.values()) == 30 and set(latest) == {0, 1} and min(latest.values()) > 0, latest
    assert offsets("--time", "-2") == {0: 0, 1: 0}
    assert offsets("--time", str(before - 1000)) == {0: 0, 1: 0}
    assert offsets("--partitions", "0", "--time", "-1") == {0: latest[0]}


def test_delete_records(target, topic_name, expect, tmp_path):
    expect("delete-records", target.kind)
    name = topic_name()
    create(target, name)
    produce(target, name, 20)
    spec = tmp_path / "delete.json"
    spec.write_text('{"partitions":[{"topic":"%s","partition":0,"offset":5}],"version":1}' % name)
    out = tool("kafka-delete-records.sh", "--bootstrap-server", target.bootstrap,
               "--offset-json-file", str(spec)).stdout
    assert "low_watermark: 5" in out, out
    earliest = tool("kafka-get-offsets.sh", "--bootstrap-server", target.bootstrap, "--topic", name,
                    "--time", "-2").stdout.strip()
    assert earliest == f"{name}:0:5"


def test_leader_election(target, topic_name, expect):
    expect("leader-election", target.kind)
    name = topic_name()
    create(target, name)
    out = tool("kafka-leader-election.sh", "--bootstrap-server", target.bootstrap,
               "--election-type", "preferred", "--all-topic-partitions").stdout
    assert "Valid replica already elected" in out or "Successfully completed" in out or out.strip() == "", out


def test_reassign_partitions_list(target, expect):
    expect("reassign-partitions-list", target.kind)
    out = tool("kafka-reassign-partitions.sh", "--bootstrap-server", target.bootstrap, "--list").stdout
    assert "No partition reassignments found." in out, out


def test_log_dirs(target, topic_name, expect):
    expect("log-dirs", target.kind)
    name = topic_name()
    create(target, name)
    out = tool("kafka-log-dirs.sh", "--bootstrap-server", target.bootstrap, "--describe",
               "--topic-list", name).stdout
    assert f'"partition":"{name}-0"' in out, out


def test_metadata_quorum(target):
    out = tool("kafka-metadata-quorum.sh", "--bootstrap-server", target.bootstrap, "describe", "--status").stdout
    assert re.search(r"LeaderId:\s+1", out), out
    assert re.search(r"HighWatermark:\s+[1-9]\d*", out), out
    assert re.search(r'CurrentVoters:\s+\[\{"id": 1, "directoryId": null, "endpoints": \["CONTROLLER://127\.0\.0\.1:\d+"\]\}\]',
                     out), out
    out = tool("kafka-metadata-quorum.sh", "--bootstrap-server", target.bootstrap, "describe", "--replication").stdout
    assert re.search(r"^1\s+AAAAAAAAAAAAAAAAAAAAAA\s+[1-9]\d*\s+0\s+\d{13}\s+\d{13}\s+Leader\s*$", out, re.M), out


def test_cluster_id(target):
    out = tool("kafka-cluster.sh", "cluster-id", "--bootstrap-server", target.bootstrap).stdout
    assert re.fullmatch(r"Cluster ID: [A-Za-z0-9_-]{22}\n", out), out


def test_features(target, expect):
    expect("features-describe", target.kind)
    out = tool("kafka-features.sh", "--bootstrap-server", target.bootstrap, "describe").stdout
    assert re.search(r"Feature: metadata.version\s+SupportedMinVersion: \S+\s+SupportedMaxVersion: \S+\s+FinalizedVersionLevel: \S+",
                     out), f"kafka-features.sh describe printed no metadata.version: {out!r}"


def test_features_update(target):
    """UpdateFeatures: the level in force is accepted, an unknown feature refused (as
    Kafka's controller refuses it), and the finalized levels stay as they were."""
    def features(*args):
        return tool("kafka-features.sh", "--bootstrap-server", target.bootstrap, *args, check=False)
    ok = features("upgrade", "--feature", "metadata.version=25")
    assert ok.returncode == 0 and "metadata.version was upgraded to 25" in ok.stdout, ok.stdout + ok.stderr
    bad = features("upgrade", "--feature", "bogus.version=1")
    assert bad.returncode != 0, bad.stdout
    assert ("Invalid update version 1 for feature bogus.version. Local controller 1 does not support this feature."
            in bad.stdout + bad.stderr), bad.stdout + bad.stderr
    dry = features("upgrade", "--feature", "metadata.version=26", "--dry-run")
    assert dry.returncode != 0 and "only supports versions" in dry.stdout + dry.stderr, dry.stdout + dry.stderr
    out = features("describe").stdout
    assert re.search(r"Feature: metadata.version\s+SupportedMinVersion: \S+\s+SupportedMaxVersion: 4.0-IV3\s+"
                     r"FinalizedVersionLevel: 4.0-IV3", out), out


def test_broker_api_versions(target):
    out = tool("kafka-broker-api-versions.sh", "--bootstrap-server", target.bootstrap).stdout
    assert re.search(r"127\.0\.0\.1:\d+ \(id: 1 rack: null", out), out
    assert re.search(r"Produce\(0\): 0 to 12 \[usable: 12\]", out), out
    assert re.search(r"Fetch\(1\): 4 to 17 \[usable: 17\]", out), out


def test_transactions_list(target, expect):
    expect("transactions-list", target.kind)
    out = tool("kafka-transactions.sh", "--bootstrap-server", target.bootstrap, "list").stdout
    assert "TransactionalId" in out, out


def test_dump_log_over_own_segments(target, topic_name):
    name = topic_name()
    create(target, name)
    produce(target, name, 50)
    group = topic_name("-g")
    tool("kafka-console-consumer.sh", "--bootstrap-server", target.bootstrap, "--topic", name,
         "--group", group, "--from-beginning", "--max-messages", "50", "--timeout-ms", "20000")
    seg = target.log_dir / f"{name}-0" / "00000000000000000000"
    for _ in range(50):  # the log is flushed to the page cache on append; files exist at once
        if seg.with_suffix(".log").exists():
            break
        time.sleep(0.1)
    out = tool("kafka-dump-log.sh", "--files", str(seg.with_suffix(".log")), "--print-data-log").stdout
    payloads = re.findall(r"payload: (r\d+)", out)
    assert payloads == [f"r{i}" for i in range(50)], out[-2000:]
    assert "isvalid: true" in out and "isvalid: false" not in out
    for suffix in (".index", ".timeindex"):
        out = tool("kafka-dump-log.sh", "--files", str(seg.with_suffix(suffix)), "--verify-index-only")
        assert "Mismatches" not in out.stdout, out.stdout
    # The group's commit, decoded by Kafka's own __consumer_offsets decoder.
    offsets_dirs = sorted(target.log_dir.glob("__consumer_offsets-*"))
    assert offsets_dirs
    found = False
    for d in offsets_dirs:
        for log in d.glob("*.log"):
            if log.stat().st_size == 0:
                continue
            out = tool("kafka-dump-log.sh", "--files", str(log), "--offsets-decoder").stdout
            if group in out:
                assert re.search(r'"offset":\s*50', out.replace(" ", "")), out
                found = True
    assert found, f"no __consumer_offsets record of {group}"


def quota_lines(target, *entity) -> list[str]:
    out = configs(target, "--describe", *entity).stdout
    return sorted(line for line in out.splitlines() if line.strip())


def test_client_quotas_alter_describe_and_refusals(target, topic_name):
    """kafka-configs.sh on client quotas: users, client ids, their pairs and defaults, ips;
    describe filters; the controller's refusals; delete."""
    user, client = topic_name("user"), topic_name("client")
    U = ["--entity-type", "users", "--entity-name", user]
    C = ["--entity-type", "clients", "--entity-name", client]
    DC = ["--entity-type", "clients", "--entity-default"]
    try:
        configs(target, "--alter", "--add-config", "producer_byte_rate=1024,consumer_byte_rate=2048", *U)
        configs(target, "--alter", "--add-config", "request_percentage=50", *DC)
        configs(target, "--alter", "--add-config", "producer_byte_rate=4096", *U, *C)
        configs(target, "--alter", "--add-config", "connection_creation_rate=10",
                "--entity-type", "ips", "--entity-name", "127.0.0.1")
        assert quota_lines(target, *U) == [
            f"Quota configs for user-principal '{user}' are consumer_byte_rate=2048.0, producer_byte_rate=1024.0"]
        assert quota_lines(target, *U, "--entity-type", "clients") == [
            f"Quota configs for user-principal '{user}', client-id '{client}' are producer_byte_rate=4096.0"]
        assert quota_lines(target, *DC) == ["Quota configs for the default client-id are request_percentage=50.0"]
        assert "Quota configs for ip '127.0.0.1' are connection_creation_rate=10.0" in quota_lines(
            target, "--entity-type", "ips")
        for bad, message in [
            ("producer_byte_rate=1.5", "producer_byte_rate cannot be a fractional value."),
            ("producer_byte_rate=0", "Quota producer_byte_rate must be greater than 0"),
            ("consumer_byte_rate=-1", "Quota consumer_byte_rate must be greater than 0"),
        ]:
            r = configs(target, "--alter", "--add-config", bad, *U, check=False)
            assert r.returncode != 0 and f"InvalidRequestException: {message}" in r.stdout + r.stderr, r.stderr
        configs(target, "--alter", "--delete-config", "consumer_byte_rate", *U)
        assert quota_lines(target, *U) == [
            f"Quota configs for user-principal '{user}' are producer_byte_rate=1024.0"]
    finally:
        configs(target, "--alter", "--delete-config", "producer_byte_rate", *U, check=False)
        configs(target, "--alter", "--delete-config", "producer_byte_rate", *U, *C, check=False)
        configs(target, "--alter", "--delete-config", "request_percentage", *DC, check=False)
        configs(target, "--alter", "--delete-config", "connection_creation_rate",
                "--entity-type", "ips", "--entity-name", "127.0.0.1", check=False)
    assert quota_lines(target, *DC) == []
    assert quota_lines(target, *U) == []


def throttle_max(out: str, metric: str) -> float:
    m = re.search(rf"^{metric}:\{{client-id=[^}}]*\}}\s+: ([\d.]+)$", out, re.M)
    assert m, out[-3000:]
    return float(m.group(1))


def test_client_quotas_throttle_producer_and_consumer(target, topic_name, tmp_path):
    """A client id over its byte-rate quota is throttled (the clients report the broker's
    throttle times); another client id is not."""
    name, slow, fast = topic_name(), topic_name("slow"), topic_name("fast")
    create(target, name)
    S = ["--entity-type", "clients", "--entity-name", slow]
    configs(target, "--alter", "--add-config", "producer_byte_rate=10000,consumer_byte_rate=10000", *S)
    try:
        def perf(client):
            return tool("kafka-producer-perf-test.sh", "--topic", name, "--num-records", "150",
                        "--record-size", "1000", "--throughput", "-1", "--print-metrics",
                        "--producer-props", f"bootstrap.servers={target.bootstrap}", f"client.id={client}",
                        "batch.size=16384", "linger.ms=0", timeout=180).stdout
        assert throttle_max(perf(fast), "producer-metrics:produce-throttle-time-max") == 0
        assert throttle_max(perf(slow), "producer-metrics:produce-throttle-time-max") > 0

        props = tmp_path / "slow-consumer.properties"
        props.write_text(f"client.id={slow}\n")
        out = tool("kafka-consumer-perf-test.sh", "--bootstrap-server", target.bootstrap, "--topic", name,
                   "--messages", "150", "--print-metrics", "--timeout", "120000", "--group", topic_name("g"),
                   "--consumer.config", str(props), timeout=240).stdout
        assert throttle_max(out, "consumer-fetch-manager-metrics:fetch-throttle-time-max") > 0
    finally:
        configs(target, "--alter", "--delete-config", "producer_byte_rate,consumer_byte_rate", *S, check=False)

"""kafka-topics.sh, kafka-console-producer.sh and kafka-console-consumer.sh as in
Kafka's quickstart and operations guide, against vltava and upstream Kafka."""

from __future__ import annotations

import re

from kafka_java import tool


def topics(target, *args, **kw):
    return tool("kafka-topics.sh", "--bootstrap-server", target.bootstrap, *args, **kw)


def consume(target, topic, *args, n: int, timeout_ms: int = 20000):
    out = tool(
        "kafka-console-consumer.sh", "--bootstrap-server", target.bootstrap, "--topic", topic,
        "--max-messages", str(n), "--timeout-ms", str(timeout_ms), *args,
    )
    return out.stdout.splitlines()


def test_topics_create_list_describe_alter_delete(target, topic_name):
    name = topic_name()
    out = topics(target, "--create", "--topic", name, "--partitions", "3", "--replication-factor", "1",
                 "--config", "retention.ms=3600000", "--config", "segment.bytes=1048576")
    assert f"Created topic {name}." in out.stdout
    dup = topics(target, "--create", "--topic", name, "--partitions", "1", check=False)
    assert dup.returncode != 0 and "already exists" in dup.stdout + dup.stderr
    topics(target, "--create", "--if-not-exists", "--topic", name, "--partitions", "1")
    assert name in topics(target, "--list").stdout.split()

    desc = topics(target, "--describe", "--topic", name).stdout
    assert re.search(rf"Topic: {name}\tTopicId: \S+\tPartitionCount: 3\tReplicationFactor: 1", desc), desc
    assert "retention.ms=3600000" in desc and "segment.bytes=1048576" in desc, desc
    for p in range(3):
        assert re.search(rf"Partition: {p}\tLeader: \d+\tReplicas: \d+\tIsr: \d+", desc), desc

    topics(target, "--alter", "--topic", name, "--partitions", "5")
    assert "PartitionCount: 5" in topics(target, "--describe", "--topic", name).stdout
    shrink = topics(target, "--alter", "--topic", name, "--partitions", "2", check=False)
    assert shrink.returncode != 0 and "partitions" in (shrink.stdout + shrink.stderr).lower()

    topics(target, "--delete", "--topic", name)
    listed = set()
    for _ in range(20):
        listed = set(topics(target, "--list").stdout.split())
        if name not in listed:
            break
    assert name not in listed
    missing = topics(target, "--describe", "--topic", name, check=False)
    assert missing.returncode != 0 and "does not exist" in missing.stdout + missing.stderr


def test_topics_bad_input(target, topic_name):
    bad = topics(target, "--create", "--topic", "bad/name", "--partitions", "1", check=False)
    assert bad.returncode != 0 and "invalid" in (bad.stdout + bad.stderr).lower()
    rf = topics(target, "--create", "--topic", topic_name(), "--partitions", "1",
                "--replication-factor", "3", check=False)
    assert rf.returncode != 0 and "replication factor" in (rf.stdout + rf.stderr).lower()
    cfg = topics(target, "--create", "--topic", topic_name(), "--partitions", "1",
                 "--config", "retention.ms=notanumber", check=False)
    assert cfg.returncode != 0


def test_console_producer_consumer_keys_headers_partitions(target, topic_name):
    name = topic_name()
    topics(target, "--create", "--topic", name, "--partitions", "2")
    lines = "".join(f"h1:v{i},h2:w{i}\tkey{i}\tvalue-{i}\n" for i in range(20))
    tool("kafka-console-producer.sh", "--bootstrap-server", target.bootstrap, "--topic", name,
         "--property", "parse.key=true", "--property", "key.separator=\t",
         "--property", "parse.headers=true", "--property", "headers.delimiter=\t",
         "--property", "headers.separator=,", "--property", "headers.key.separator=:",
         input=lines)
    got = consume(target, name, "--from-beginning", "--property", "print.key=true",
                  "--property", "print.headers=true", "--property", "print.partition=true",
                  "--property", "print.offset=true", "--property", "print.timestamp=true", n=20)
    seen = {}
    for line in got:
        m = re.fullmatch(r"CreateTime:(\d+)\tPartition:(\d)\tOffset:(\d+)\th1:v(\d+),h2:w(\d+)\tkey(\d+)\tvalue-(\d+)", line)
        assert m, line
        i = int(m.group(4))
        assert int(m.group(5)) == int(m.group(6)) == int(m.group(7)) == i
        seen[i] = (int(m.group(2)), int(m.group(3)))
    assert sorted(seen) == list(range(20))
    # The same key always lands in the same partition, and offsets are dense per partition.
    per_partition: dict[int, list[int]] = {}
    for _, (p, off) in seen.items():
        per_partition.setdefault(p, []).append(off)
    for offs in per_partition.values():
        assert sorted(offs) == list(range(len(offs)))

    # One partition from an offset.
    p0 = sorted(off for p, off in seen.values() if p == 0)
    if len(p0) > 2:
        rest = consume(target, name, "--partition", "0", "--offset", "2", n=len(p0) - 2)
        assert len(rest) == len(p0) - 2


def test_console_consumer_groups_share_and_broadcast(target, topic_name):
    name = topic_name()
    topics(target, "--create", "--topic", name, "--partitions", "3")
    tool("kafka-console-producer.sh", "--bootstrap-server", target.bootstrap, "--topic", name,
         input="".join(f"m{i}\n" for i in range(30)))
    # Two groups each see every record (broadcast); a group resumes from its commit.
    for group in ("app-a", "app-b"):
        got = consume(target, name, "--group", group, "--from-beginning", n=30)
        assert sorted(got) == sorted(f"m{i}" for i in range(30))
    tool("kafka-console-producer.sh", "--bootstrap-server", target.bootstrap, "--topic", name,
         input="late\n")
    got = consume(target, name, "--group", "app-a", n=1)
    assert got == ["late"]


def test_console_codecs(target, topic_name):
    for codec in ("none", "gzip", "snappy", "lz4", "zstd"):
        name = topic_name(codec)
        topics(target, "--create", "--topic", name, "--partitions", "1")
        tool("kafka-console-producer.sh", "--bootstrap-server", target.bootstrap, "--topic", name,
             "--compression-codec", codec, input="".join(f"{codec}-{i}\n" for i in range(100)))
        got = consume(target, name, "--from-beginning", n=100)
        assert got == [f"{codec}-{i}" for i in range(100)], codec

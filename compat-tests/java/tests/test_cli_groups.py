"""kafka-consumer-groups.sh: list, describe, every reset mode, delete-offsets, delete."""

from __future__ import annotations

import re
import time

import pytest

from kafka_java import tool


def groups(target, *args, **kw):
    return tool("kafka-consumer-groups.sh", "--bootstrap-server", target.bootstrap, *args, **kw)


def produce(target, topic, n, prefix="m"):
    """n keyed records (keys spread them over the partitions)."""
    tool("kafka-console-producer.sh", "--bootstrap-server", target.bootstrap, "--topic", topic,
         "--property", "parse.key=true", "--property", "key.separator=:",
         input="".join(f"key{i}:{prefix}{i}\n" for i in range(n)))


def consume_group(target, topic, group, n, *extra):
    return tool("kafka-console-consumer.sh", "--bootstrap-server", target.bootstrap, "--topic", topic,
                "--group", group, "--max-messages", str(n), "--timeout-ms", "20000", *extra).stdout.splitlines()


def committed(target, group, topic) -> dict[int, int]:
    """partition -> CURRENT-OFFSET from --describe --offsets."""
    out = groups(target, "--describe", "--group", group, "--offsets").stdout
    result = {}
    for line in out.splitlines():
        cols = line.split()
        if len(cols) >= 4 and cols[1] == topic and cols[2].isdigit():
            result[int(cols[2])] = int(cols[3]) if cols[3].isdigit() else -1
    return result


def reset(target, group, topic, *mode) -> dict[int, int]:
    out = groups(target, "--reset-offsets", "--group", group, "--topic", topic, *mode, "--execute").stdout
    result = {}
    for line in out.splitlines():
        cols = line.split()
        if len(cols) == 4 and cols[1] == topic and cols[2].isdigit():
            result[int(cols[2])] = int(cols[3])
    assert result, out
    return result


@pytest.fixture
def topic_with_group(target, topic_name):
    topic, group = topic_name(), topic_name("-g")
    tool("kafka-topics.sh", "--bootstrap-server", target.bootstrap, "--create", "--topic", topic,
         "--partitions", "2")
    produce(target, topic, 40)
    got = consume_group(target, topic, group, 40, "--from-beginning")
    assert len(got) == 40
    return topic, group


def test_list_and_describe(target, topic_with_group):
    topic, group = topic_with_group
    assert group in groups(target, "--list").stdout.split()
    state = groups(target, "--list", "--state").stdout
    assert re.search(rf"{re.escape(group)}\s+Empty", state), state
    offsets = committed(target, group, topic)
    assert sum(offsets.values()) == 40, offsets
    members = groups(target, "--describe", "--group", group, "--members").stdout
    rows = [line for line in members.splitlines() if line.startswith(group)]
    assert rows == [], members
    st = groups(target, "--describe", "--group", group, "--state").stdout
    assert re.search(rf"{re.escape(group)}\s+127\.0\.0\.1:\d+\s+\(1\)\s+-\s+Empty\s+0", st), st
    missing = groups(target, "--describe", "--group", "no-such-group", check=False)
    assert "not found" in missing.stdout + missing.stderr or "does not exist" in missing.stdout + missing.stderr


def test_reset_every_mode(target, topic_with_group, tmp_path):
    topic, group = topic_with_group
    ends = committed(target, group, topic)
    assert min(ends.values()) >= 8, ends  # the modes below need a few records per partition
    assert reset(target, group, topic, "--to-earliest") == {p: 0 for p in ends}
    assert reset(target, group, topic, "--to-latest") == ends
    assert reset(target, group, topic, "--to-offset", "3") == {p: 3 for p in ends}
    assert reset(target, group, topic, "--shift-by", "2") == {p: 5 for p in ends}
    assert reset(target, group, topic, "--shift-by", "-100") == {p: 0 for p in ends}
    assert reset(target, group, topic, "--to-current") == {p: 0 for p in ends}
    # Time based: everything was written in the last hour, nothing in the future.
    assert reset(target, group, topic, "--by-duration", "PT1H") == {p: 0 for p in ends}
    future = time.strftime("%Y-%m-%dT%H:%M:%S.000", time.gmtime(time.time() + 3600))
    assert reset(target, group, topic, "--to-datetime", future) == ends
    past = time.strftime("%Y-%m-%dT%H:%M:%S.000", time.gmtime(time.time() - 3600))
    assert reset(target, group, topic, "--to-datetime", past) == {p: 0 for p in ends}
    # --from-file takes a CSV of topic,partition,offset.
    csv = tmp_path / "reset.csv"
    csv.write_text("".join(f"{topic},{p},{p + 7}\n" for p in ends))
    assert reset(target, group, topic, "--from-file", str(csv)) == {p: p + 7 for p in ends}
    assert committed(target, group, topic) == {p: p + 7 for p in ends}
    # Dry run changes nothing.
    groups(target, "--reset-offsets", "--group", group, "--topic", topic, "--to-earliest", "--dry-run")
    assert committed(target, group, topic) == {p: p + 7 for p in ends}
    # The group resumes from the reset offsets.
    got = consume_group(target, topic, group, sum(ends[p] - (p + 7) for p in ends))
    assert len(got) == sum(ends[p] - (p + 7) for p in ends)


def test_delete_offsets_and_delete(target, topic_with_group):
    topic, group = topic_with_group
    out = groups(target, "--delete-offsets", "--group", group, "--topic", topic).stdout
    assert re.search(rf"{re.escape(topic)}\s+0\s+Successful", out), out
    assert committed(target, group, topic) in ({}, {0: -1, 1: -1})
    out = groups(target, "--delete", "--group", group).stdout
    assert "successful" in out.lower(), out
    assert group not in groups(target, "--list").stdout.split()


def test_offsets_survive_restart(target, topic_with_group):
    topic, group = topic_with_group
    before = committed(target, group, topic)
    target.restart()
    assert committed(target, group, topic) == before

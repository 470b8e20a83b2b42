"""kcat (librdkafka CLI) against vltava: produce 10,000 keyed records with
headers per codec, consume with -C -e, -L metadata, -Q offsets by timestamp,
restart and re-read."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from vltava_helpers import CODECS, N_RECORDS

KCAT = shutil.which("kcat") or shutil.which("kafkacat")
pytestmark = pytest.mark.skipif(KCAT is None, reason="kcat not installed (run-all.sh installs it)")
TIMEOUT_S = 90


def kcat(broker, *args, stdin=None) -> str:
    cmd = [KCAT, "-b", broker.bootstrap, "-X", "socket.timeout.ms=10000", *args]
    try:
        proc = subprocess.run(cmd, stdin=stdin, capture_output=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"{cmd} timed out after {TIMEOUT_S}s; stderr: {e.stderr!r}") from None
    assert proc.returncode == 0, f"{cmd} exited {proc.returncode}: {proc.stderr.decode(errors='replace')}"
    return proc.stdout.decode()


def create_topic(broker, name: str, partitions: int) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    a = AdminClient({"bootstrap.servers": broker.bootstrap})  # alive until the future resolves
    a.create_topics([NewTopic(name, partitions, 1)])[name].result(timeout=30)


def lines_file(tmp_path, n: int = N_RECORDS):
    path = tmp_path / "input.txt"
    lines = [f"key-{i % 997:04d}:value-{i:06d}-{'x' * (i % 13)}" for i in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return path, lines


def consume(broker, topic: str) -> list[tuple[str, str, str, int, int, int]]:
    out = kcat(broker, "-C", "-t", topic, "-e", "-o", "beginning", "-f", "%k %s %h %T %p %o\\n")
    rows = []
    for line in out.splitlines():
        k, s, h, ts, p, o = line.split(" ")
        rows.append((k, s, h, int(ts), int(p), int(o)))
    return rows


def check_rows(rows, lines, headers: str, partitions: int, label: str) -> None:
    assert len(rows) == len(lines), f"{label}: consumed {len(rows)} records, expected {len(lines)}"
    expected = {}
    for line in lines:
        k, v = line.split(":", 1)
        expected[int(v.split("-")[1])] = (k, v)
    per_part: dict[int, list] = {}
    for r in rows:
        per_part.setdefault(r[4], []).append(r)
    assert set(per_part) <= set(range(partitions)), f"{label}: partitions {sorted(per_part)}"
    seen = set()
    key_part = {}
    for p, recs in per_part.items():
        assert [r[5] for r in recs] == list(range(len(recs))), f"{label}: partition {p} offsets not 0..n-1"
        last = -1
        for k, s, h, ts, _, _ in recs:
            seq = int(s.split("-")[1])
            assert seq > last, f"{label}: partition {p}: seq {seq} after {last}"
            last = seq
            assert (k, s) == expected[seq], f"{label}: {(k, s)} != {expected[seq]}"
            assert h == headers, f"{label}: headers {h!r} != {headers!r}"
            assert ts > 0, f"{label}: timestamp {ts}"
            assert key_part.setdefault(k, p) == p, f"{label}: key {k} in two partitions"
            seen.add(seq)
    assert seen == set(expected), f"{label}: missing {sorted(set(expected) - seen)[:10]}"


@pytest.mark.parametrize("codec", CODECS)
def test_produce_consume_restart(broker, topic_name, tmp_path, codec):
    topic = topic_name()
    create_topic(broker, topic, 3)
    path, lines = lines_file(tmp_path)
    extra = ["-X", "enable.idempotence=true"] if codec in ("none", "zstd") else []
    with open(path, "rb") as f:
        kcat(broker, "-P", "-t", topic, "-K:", "-H", "src=kcat", "-H", f"codec={codec}", "-z", codec, *extra, stdin=f)
    headers = f"src=kcat,codec={codec}"
    check_rows(consume(broker, topic), lines, headers, 3, "before restart")
    broker.restart(kill=(codec != "none"))
    check_rows(consume(broker, topic), lines, headers, 3, "after restart")


def test_metadata_listing(broker, topic_name):
    topics = {topic_name("-a"): 1, topic_name("-b"): 3}
    for t, n in topics.items():
        create_topic(broker, t, n)
    md = json.loads(kcat(broker, "-L", "-J"))
    assert len(md["brokers"]) == 1, md["brokers"]
    b = md["brokers"][0]
    assert b["name"] == broker.bootstrap, f"advertised {b['name']} != {broker.bootstrap}"
    by_name = {t["topic"]: t for t in md["topics"]}
    for t, n in topics.items():
        assert t in by_name, f"{t} missing from kcat -L: {sorted(by_name)}"
        parts = by_name[t]["partitions"]
        assert sorted(p["partition"] for p in parts) == list(range(n))
        for p in parts:
            assert p["leader"] == b["id"], p
            assert [r["id"] for r in p["replicas"]] == [b["id"]], p
            assert [r["id"] for r in p["isrs"]] == [b["id"]], p
    # Plain text listing of one topic also works.
    text = kcat(broker, "-L", "-t", list(topics)[1])
    assert re.search(r'topic "%s" with 3 partitions' % re.escape(list(topics)[1]), text), text


def query_offset(broker, topic: str, partition: int, ts: int) -> int:
    out = kcat(broker, "-Q", "-t", f"{topic}:{partition}:{ts}")
    m = re.search(r"\[%d\]\s+offset\s+(-?\d+)" % partition, out)
    assert m, f"unexpected kcat -Q output: {out!r}"
    return int(m.group(1))


def test_query_offsets_by_timestamp(broker, topic_name, tmp_path):
    topic = topic_name()
    create_topic(broker, topic, 1)
    path, lines = lines_file(tmp_path)
    with open(path, "rb") as f:
        kcat(broker, "-P", "-t", topic, "-K:", "-H", "src=kcat", "-z", "gzip", stdin=f)
    rows = consume(broker, topic)
    check_rows(rows, lines, "src=kcat", 1, "query")

    def expected(ts):
        return min((r[5] for r in rows if r[3] >= ts), default=-1)

    probes = [rows[0][3] - 1000, rows[0][3], rows[len(rows) // 2][3], rows[-1][3], rows[-1][3] + 1]
    for label in ("before restart", "after restart"):
        for ts in probes:
            got = query_offset(broker, topic, 0, ts)
            assert got == expected(ts), f"{label}: kcat -Q {topic}:0:{ts} -> {got}, expected {expected(ts)}"
        if label == "before restart":
            broker.restart(kill=True)


def test_auto_create_by_producer(broker, topic_name):
    topic = topic_name()
    data = "\n".join(f"k{i}:v{i}" for i in range(100)).encode() + b"\n"
    proc = subprocess.run(
        [KCAT, "-b", broker.bootstrap, "-P", "-t", topic, "-K:"], input=data, capture_output=True, timeout=TIMEOUT_S
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    out = kcat(broker, "-C", "-t", topic, "-e", "-o", "beginning", "-f", "%k=%s@%p/%o\\n")
    assert out.splitlines() == [f"k{i}=v{i}@0/{i}" for i in range(100)]

"""Kafka Connect (standalone and distributed) with the file connectors, and the
Kafka Streams WordCount demo, against vltava and upstream Kafka."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest

from kafka_java import free_ports, spawn, stop_process, tool

WAIT_S = 90.0


def wait_for(cond, what: str, timeout: float = WAIT_S, detail=lambda: ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{detail()}")


def lines_of(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except FileNotFoundError:
        return []


def tail(path: Path, n: int = 60) -> str:
    return "\n".join(lines_of(path)[-n:])


def write_props(path: Path, props: dict[str, str]) -> Path:
    path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    return path


def rest(port: int, method: str, path: str, body: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        text = resp.read().decode()
        return resp.status, (json.loads(text) if text else None)


def worker_config(target, rest_port: int, **mode) -> dict[str, str]:
    """A Connect worker's settings: the common ones plus the mode's (standalone or distributed)."""
    return {
        "bootstrap.servers": target.bootstrap,
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.storage.StringConverter",
        "offset.flush.interval.ms": "1000",
        "listeners": f"http://127.0.0.1:{rest_port}",
        **{k.replace("_", "."): v for k, v in mode.items()},
    }


def file_connectors(source: Path, sink: Path, topic: str) -> tuple[dict[str, str], dict[str, str]]:
    """FileStreamSource (source file -> topic) and FileStreamSink (topic -> sink file) configs."""
    common = {"tasks.max": "1"}
    return (
        {**common, "connector.class": "FileStreamSource", "file": str(source), "topic": topic},
        {**common, "connector.class": "FileStreamSink", "file": str(sink), "topics": topic},
    )


def spawn_worker(script: str, *args: str, log: Path):
    return spawn(script, *args, log=log, env={"KAFKA_JVM_PERFORMANCE_OPTS": "-XX:+UseSerialGC"})


def test_connect_standalone_file_pipeline_across_restart(target, topic_name, tmp_path):
    work = tmp_path
    topic = topic_name()
    source, sink = work / "source.txt", work / "sink.txt"
    source.write_text("".join(f"line {i}\n" for i in range(100)))
    (rest_port,) = free_ports(1)
    worker = write_props(work / "worker.properties", worker_config(
        target, rest_port, offset_storage_file_filename=str(work / "connect.offsets")))
    source_cfg, sink_cfg = file_connectors(source, sink, topic)
    src = write_props(work / "source.properties", {"name": "local-file-source", **source_cfg})
    snk = write_props(work / "sink.properties", {"name": "local-file-sink", **sink_cfg})
    log = work / "connect.log"
    proc = spawn_worker("connect-standalone.sh", str(worker), str(src), str(snk), log=log)
    try:
        wait_for(lambda: len(lines_of(sink)) >= 100, "100 lines in the sink", detail=lambda: tail(log))
        with source.open("a") as f:
            f.write("".join(f"line {i}\n" for i in range(100, 150)))
        wait_for(lambda: len(lines_of(sink)) >= 150, "appended lines in the sink", detail=lambda: tail(log))
        time.sleep(2)  # let the source's offsets flush (offset.flush.interval.ms)
        stop_process(proc, timeout=60)
        with source.open("a") as f:  # written while the worker is down
            f.write("".join(f"line {i}\n" for i in range(150, 200)))
        proc = spawn_worker("connect-standalone.sh", str(worker), str(src), str(snk), log=log)
        wait_for(lambda: len(lines_of(sink)) >= 200, "lines written during the restart", detail=lambda: tail(log))
        time.sleep(2)
        got = lines_of(sink)
        assert sorted(set(got), key=lambda s: int(s.split()[1])) == [f"line {i}" for i in range(200)]
        assert len(got) == 200, f"{len(got) - 200} duplicated lines after the restart"
    finally:
        stop_process(proc, timeout=60)


def test_connect_distributed_rest_lifecycle(target, topic_name, tmp_path):
    work = tmp_path
    topic = topic_name()
    source, sink = work / "source.txt", work / "sink.txt"
    source.write_text("".join(f"a{i}\n" for i in range(20)))
    (rest_port,) = free_ports(1)
    storage = {}
    for kind, suffix in (("config", "-configs"), ("offset", "-offsets"), ("status", "-status")):
        storage[f"{kind}.storage.topic"] = topic_name(suffix)
        storage[f"{kind}.storage.replication.factor"] = "1"
    worker = write_props(work / "distributed.properties", {
        **worker_config(target, rest_port, group_id=topic_name("-connect")), **storage})
    log = work / "connect.log"
    proc = spawn_worker("connect-distributed.sh", str(worker), log=log)

    def up():
        return _try(lambda: rest(rest_port, "GET", "/connectors")[0] == 200)

    try:
        wait_for(up, "the Connect REST API", detail=lambda: tail(log))
        for name, cfg in zip(("src", "snk"), file_connectors(source, sink, topic)):
            status, _ = wait_for(lambda: _try(lambda: rest(rest_port, "POST", "/connectors", {"name": name, "config": cfg})),
                                 f"creating {name}", detail=lambda: tail(log))
            assert status == 201
        wait_for(lambda: len(lines_of(sink)) >= 20, "20 lines in the sink", detail=lambda: tail(log))

        def state(name):
            return _try(lambda: rest(rest_port, "GET", f"/connectors/{name}/status")[1]["connector"]["state"])

        assert rest(rest_port, "PUT", "/connectors/snk/pause")[0] == 202
        wait_for(lambda: state("snk") == "PAUSED", "the sink to pause", detail=lambda: tail(log))
        with source.open("a") as f:
            f.write("".join(f"a{i}\n" for i in range(20, 30)))
        time.sleep(3)
        assert len(lines_of(sink)) == 20, "a paused sink wrote lines"
        assert rest(rest_port, "PUT", "/connectors/snk/resume")[0] == 202
        wait_for(lambda: len(lines_of(sink)) >= 30, "lines after resume", detail=lambda: tail(log))
        assert sorted(rest(rest_port, "GET", "/connectors")[1]) == ["snk", "src"]
        assert rest(rest_port, "DELETE", "/connectors/src")[0] == 204
        wait_for(lambda: rest(rest_port, "GET", "/connectors")[1] == ["snk"], "src deleted")
    finally:
        stop_process(proc, timeout=60)


def _try(fn):
    try:
        return fn()
    except OSError:
        return None


def read_counts(target, topic: str, n: int) -> dict[str, int]:
    """The latest count per word from the WordCount output (Long values)."""
    out = tool("kafka-console-consumer.sh", "--bootstrap-server", target.bootstrap, "--topic", topic,
               "--from-beginning", "--max-messages", str(n), "--timeout-ms", "10000",
               "--property", "print.key=true",
               "--property", "value.deserializer=org.apache.kafka.common.serialization.LongDeserializer",
               check=False).stdout
    counts: dict[str, int] = {}
    for line in out.splitlines():
        word, _, count = line.partition("\t")
        if count.isdigit():
            counts[word] = int(count)
    return counts


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once_v2"])
def test_streams_wordcount_across_restart(target, topic_name, tmp_path, guarantee, expect):
    if guarantee == "exactly_once_v2":
        expect("streams-exactly-once", target.kind)
    work = tmp_path
    # WordCountDemo's topic names are fixed: start each run from empty ones.
    demo_topics = ("streams-plaintext-input", "streams-wordcount-output")
    for topic in demo_topics:
        tool("kafka-topics.sh", "--bootstrap-server", target.bootstrap, "--delete", "--if-exists", "--topic", topic)
    wait_for(lambda: not set(demo_topics) & set(tool("kafka-topics.sh", "--bootstrap-server", target.bootstrap,
                                                     "--list").stdout.split()),
             "the demo's topics deleted")
    for topic, extra in (("streams-plaintext-input", []),
                         ("streams-wordcount-output", ["--config", "cleanup.policy=compact"])):
        wait_for(lambda: tool("kafka-topics.sh", "--bootstrap-server", target.bootstrap, "--create",
                              "--topic", topic, "--partitions", "1", *extra, check=False).returncode == 0,
                 f"{topic} created again")
    props = write_props(work / "wordcount.properties", {
        "bootstrap.servers": target.bootstrap,
        "application.id": topic_name("-wordcount"),
        "state.dir": str(work / "streams-state"),
        "commit.interval.ms": "500",
        "processing.guarantee": guarantee,
    })
    log = work / "streams.log"

    def start():
        return spawn("kafka-run-class.sh", "org.apache.kafka.streams.examples.wordcount.WordCountDemo",
                     str(props), log=log, env={"KAFKA_JVM_PERFORMANCE_OPTS": "-XX:+UseSerialGC"})

    def produce(lines):
        tool("kafka-console-producer.sh", "--bootstrap-server", target.bootstrap,
             "--topic", "streams-plaintext-input", input="".join(line + "\n" for line in lines))

    app = start()
    try:
        produce(["all streams lead to kafka", "hello kafka streams", "join kafka summit"])
        want = {"all": 1, "streams": 2, "lead": 1, "to": 1, "kafka": 3, "hello": 1, "join": 1, "summit": 1}
        wait_for(lambda: read_counts(target, "streams-wordcount-output", 100) == want or None,
                 "the first counts", detail=lambda: f"{read_counts(target, 'streams-wordcount-output', 100)}\n{tail(log)}")
        stop_process(app, timeout=60)
        produce(["kafka streams again"])
        app = start()
        want.update({"kafka": 4, "streams": 3, "again": 1})
        wait_for(lambda: read_counts(target, "streams-wordcount-output", 100) == want or None,
                 "counts resumed from the changelog after a restart",
                 detail=lambda: f"{read_counts(target, 'streams-wordcount-output', 100)}\n{tail(log)}")
    finally:
        stop_process(app, timeout=60)

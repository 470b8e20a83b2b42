"""The differential test: requests sent to vltava and to upstream Kafka, both fresh,
answers compared field by field by compat-tests/differential/main.rs (its MAY_DIFFER
and KNOWN lists say what may differ). Two request sets: every captured request in
protocol-fixtures/, and the requests the suite's scenarios make (Kafka's CLI tools,
the verifiable producer and consumer, the AdminClient), recorded by a proxy in front of
vltava while they run."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import kafka_java
import test_cli_admin
import test_cli_groups
import test_cli_topics
import test_java_client
from conftest import vltava_and_kafka, vltava_broker
from kafka_java import free_ports, tool
from recorder import Recorder

REPO = Path(__file__).resolve().parents[3]


def differential_bin() -> Path:
    path = Path(os.environ.get("VLTAVA_DIFFERENTIAL_BIN", REPO / "target" / "debug" / "examples" / "differential"))
    if not path.exists():
        subprocess.run(["cargo", "build", "--example", "differential"], cwd=REPO, check=True, timeout=1200)
    return path


SETTINGS = {"num.partitions": "1", "group.initial.rebalance.delay.ms": "0"}


@pytest.fixture
def both():
    with vltava_and_kafka("differential-", SETTINGS) as pair:
        yield pair


def differential(vltava, kafka, *fixtures_dir: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(differential_bin()), vltava.bootstrap, kafka.bootstrap, *fixtures_dir],
                          capture_output=True, text=True, timeout=900)


def test_fixture_requests_answered_as_kafka_answers(both):
    vltava, kafka = both
    proc = differential(vltava, kafka)
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout[-20000:] + proc.stderr[-4000:]
    assert vltava.alive(), vltava.log_tail()


class Via:
    """A scenario target whose clients reach the broker through the recorder."""

    kind = "vltava"

    def __init__(self, port: int, log_dir: Path):
        self.bootstrap = f"127.0.0.1:{port}"
        self.log_dir = log_dir


def run_scenarios(rec: Recorder, via: Via) -> None:
    """The suite's scenarios, each tagged in the recording."""
    def tag(name):
        rec.scenario = name

    tag("cli-topics")
    test_cli_topics.topics(via, "--create", "--topic", "rec-a", "--partitions", "3")
    test_cli_topics.topics(via, "--create", "--topic", "rec-b", "--partitions", "1",
                           "--config", "cleanup.policy=compact")
    test_cli_topics.topics(via, "--describe", "--topic", "rec-a")
    test_cli_topics.topics(via, "--list")
    test_cli_topics.topics(via, "--alter", "--topic", "rec-b", "--partitions", "2")
    tag("cli-produce")
    tool("kafka-console-producer.sh", "--bootstrap-server", via.bootstrap, "--topic", "rec-a",
         "--property", "parse.key=true", "--property", "parse.headers=true", "--compression-codec", "gzip",
         input="".join(f"h{i}:v{i}\tk{i}\tvalue {i}\n" for i in range(30)))
    tag("cli-consume")
    test_cli_topics.consume(via, "rec-a", "--from-beginning", "--group", "rec-g", n=30)
    tag("cli-groups")
    test_cli_groups.groups(via, "--describe", "--group", "rec-g")
    test_cli_groups.groups(via, "--list")
    test_cli_groups.groups(via, "--reset-offsets", "--group", "rec-g", "--topic", "rec-a",
                           "--to-earliest", "--execute")
    tag("cli-configs")
    test_cli_admin.configs(via, "--alter", "--entity-type", "topics", "--entity-name", "rec-b",
                           "--add-config", "retention.ms=60000,max.message.bytes=2000000")
    test_cli_admin.configs(via, "--alter", "--entity-type", "topics", "--entity-name", "rec-b",
                           "--delete-config", "max.message.bytes")
    test_cli_admin.configs(via, "--describe", "--entity-type", "topics", "--entity-name", "rec-b")
    test_cli_admin.configs(via, "--describe", "--entity-type", "brokers", "--entity-name", "1", "--all")
    tag("cli-quotas")
    user = ["--entity-type", "users", "--entity-name", "rec-user"]
    test_cli_admin.configs(via, "--alter", "--add-config", "producer_byte_rate=1024,request_percentage=50", *user)
    test_cli_admin.configs(via, "--alter", "--add-config", "consumer_byte_rate=2048", *user,
                           "--entity-type", "clients", "--entity-name", "rec-client")
    test_cli_admin.configs(via, "--alter", "--add-config", "producer_byte_rate=1.5", *user, check=False)
    test_cli_admin.configs(via, "--describe", *user)
    test_cli_admin.configs(via, "--describe", "--entity-type", "clients")
    test_cli_admin.configs(via, "--describe", *user, "--entity-type", "clients")
    test_cli_admin.configs(via, "--alter", "--delete-config", "request_percentage", *user)
    tag("cli-quorum")
    tool("kafka-metadata-quorum.sh", "--bootstrap-server", via.bootstrap, "describe", "--status")
    tool("kafka-metadata-quorum.sh", "--bootstrap-server", via.bootstrap, "describe", "--replication")
    tag("cli-offsets")
    tool("kafka-get-offsets.sh", "--bootstrap-server", via.bootstrap, "--topic", "rec-a", "--time", "-1")
    tag("java-producer")
    test_java_client.verifiable_produce(via, "rec-c", 200, kafka_java.DEFAULT_VERSION,
                                        compression_type="lz4")
    tag("java-consumer")
    test_java_client.verifiable_consume(via, "rec-c", "rec-cg", 200, kafka_java.DEFAULT_VERSION)
    tag("java-admin")
    test_java_client.client_scenario(via, "admin", kafka_java.DEFAULT_VERSION)


def test_scenario_requests_answered_as_kafka_answers(both, tmp_path):
    """The scenarios run against a vltava behind the recorder; their requests are then
    replayed to the fresh pair and the answers compared."""
    broker_port, proxy_port = free_ports(2)
    recorded = vltava_broker.Broker(tmp_path / "recorded", {
        **SETTINGS, "advertised.listeners": f"PLAINTEXT://127.0.0.1:{proxy_port}"})
    recorded.start(port=broker_port)
    rec = Recorder(proxy_port, broker_port)
    try:
        run_scenarios(rec, Via(proxy_port, recorded.log_dir))
    finally:
        rec.close()
        recorded.stop()
    n = rec.write(tmp_path / "fixtures")
    assert n > 100, f"only {n} requests recorded"
    vltava, kafka = both
    proc = differential(vltava, kafka, str(tmp_path / "fixtures"))
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout[-20000:] + proc.stderr[-4000:]
    assert vltava.alive(), vltava.log_tail()

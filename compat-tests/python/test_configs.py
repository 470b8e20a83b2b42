"""Config changes through confluent-kafka's AdminClient (IncrementalAlterConfigs and
AlterConfigs), as Kafka serves them: topic overrides SET/DELETE/APPEND/SUBTRACT with
Kafka's validation and error codes, validate_only, the legacy API replacing every
override, dynamic broker configs for the whole cluster and for one broker (the broker
defaults of topic configs), all applied at once to running logs and kept across a
restart."""

from __future__ import annotations

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewTopic,
)

import kafka_wire as kw
from vltava_helpers import wait_until

TIMEOUT_S = 30
TOPIC, BROKER = ConfigResource.Type.TOPIC, ConfigResource.Type.BROKER
SET, DELETE = AlterConfigOpType.SET, AlterConfigOpType.DELETE
APPEND, SUBTRACT = AlterConfigOpType.APPEND, AlterConfigOpType.SUBTRACT


def op(key: str, value: str | None, kind) -> ConfigEntry:
    return ConfigEntry(key, value, incremental_operation=kind)


def alter_default(broker, key: str, value: str | None, operation: int = 0) -> tuple[int, str | None]:
    """IncrementalAlterConfigs of the cluster-default broker resource (name "", which
    librdkafka will not send): (error code, error message)."""
    r = kw.roundtrip(broker.port, kw.incremental_alter_configs_v0([(4, "", [(key, operation, value)])]))
    ((code, message, rtype, name),) = kw.parse_incremental_alter_configs_v0(r)
    assert (rtype, name) == (4, "")
    return code, message


def alter(a: AdminClient, rtype, name: str, entries: list[ConfigEntry], validate_only: bool = False):
    """None on success, else the KafkaError code."""
    r = ConfigResource(rtype, name, incremental_configs=entries)
    try:
        a.incremental_alter_configs([r], validate_only=validate_only)[r].result(timeout=TIMEOUT_S)
        return None
    except KafkaException as e:
        return e.args[0].code()


def describe(a: AdminClient, rtype, name: str) -> dict:
    r = ConfigResource(rtype, name)
    return a.describe_configs([r])[r].result(timeout=TIMEOUT_S)


def overrides(a: AdminClient, name: str) -> dict[str, str]:
    return {k: e.value for k, e in describe(a, TOPIC, name).items()
            if e.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value}


def produce(broker, name: str, n: int) -> None:
    p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0})
    for i in range(n):
        p.produce(name, value=b"x" * 200, key=b"%d" % i)
        p.flush(TIMEOUT_S)  # one batch per record: many small segments


def earliest(broker, name: str) -> int:
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "wm"})
    try:
        return c.get_watermark_offsets(TopicPartition(name, 0), timeout=TIMEOUT_S)[0]
    finally:
        c.close()


def test_topic_configs_incremental(broker, topic_name):
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    name = topic_name()
    a.create_topics([NewTopic(name, 1, 1, config={"segment.ms": "600000"})])[name].result(timeout=TIMEOUT_S)
    assert alter(a, TOPIC, name, [op("retention.ms", "60000", SET), op("cleanup.policy", "compact", APPEND),
                                  op("segment.ms", None, DELETE)]) is None
    assert overrides(a, name) == {"retention.ms": "60000", "cleanup.policy": "delete,compact"}
    assert alter(a, TOPIC, name, [op("cleanup.policy", "delete", SUBTRACT)]) is None
    assert overrides(a, name)["cleanup.policy"] == "compact"
    # validate_only checks and changes nothing.
    assert alter(a, TOPIC, name, [op("max.message.bytes", "2000000", SET)], validate_only=True) is None
    assert "max.message.bytes" not in overrides(a, name)
    # Refusals, each leaving the overrides as they were.
    assert alter(a, TOPIC, name, [op("retention.ms", "soon", SET)]) == KafkaError.INVALID_CONFIG
    assert alter(a, TOPIC, name, [op("no.such.config", "1", SET)]) == KafkaError.INVALID_CONFIG
    assert alter(a, TOPIC, name, [op("retention.ms", "1", APPEND)]) == KafkaError.INVALID_CONFIG
    assert alter(a, TOPIC, "no-such-topic", [op("retention.ms", "1", SET)]) == KafkaError.UNKNOWN_TOPIC_OR_PART
    assert overrides(a, name) == {"retention.ms": "60000", "cleanup.policy": "compact"}
    broker.restart()
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    assert overrides(a, name) == {"retention.ms": "60000", "cleanup.policy": "compact"}, "kept across a restart"
    # The legacy AlterConfigs replaces every override.
    r = ConfigResource(TOPIC, name, set_config={"segment.ms": "5000"})
    a.alter_configs([r])[r].result(timeout=TIMEOUT_S)
    assert overrides(a, name) == {"segment.ms": "5000"}


def test_altered_topic_configs_reach_the_running_log(broker_factory, topic_name):
    broker = broker_factory({"log.retention.check.interval.ms": "200"})
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    name = topic_name()
    a.create_topics([NewTopic(name, 1, 1)])[name].result(timeout=TIMEOUT_S)
    assert alter(a, TOPIC, name, [op("segment.bytes", "1024", SET)]) is None
    produce(broker, name, 30)
    assert earliest(broker, name) == 0
    assert alter(a, TOPIC, name, [op("retention.bytes", "2048", SET)]) is None
    wait_until(lambda: earliest(broker, name) > 0, 20, "retention.bytes applied without a restart",
               broker.log_tail)


def test_dynamic_broker_configs(broker_factory, topic_name):
    broker = broker_factory({"log.retention.check.interval.ms": "200", "log.segment.bytes": "1024"})
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    name = topic_name()
    a.create_topics([NewTopic(name, 1, 1)])[name].result(timeout=TIMEOUT_S)
    produce(broker, name, 30)
    # The cluster default: a topic without an override follows it at once.
    assert alter_default(broker, "log.retention.bytes", "2048") == (0, None)
    wait_until(lambda: earliest(broker, name) > 0, 20, "the cluster default applied", broker.log_tail)
    entry = describe(a, TOPIC, name)["retention.bytes"]
    assert (entry.value, entry.source) == ("2048", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value)
    # This broker's own layer beats the default; the static config stays below both.
    assert alter(a, BROKER, "1", [op("log.retention.bytes", "4096", SET)]) is None
    entry = describe(a, BROKER, "1")["log.retention.bytes"]
    assert (entry.value, entry.source, entry.is_read_only) == (
        "4096", ConfigSource.DYNAMIC_BROKER_CONFIG.value, False)
    # (librdkafka keys synonyms by name, so only the last of the chain shows here.)
    # Static broker configs cannot change at runtime; values must parse.
    assert alter(a, BROKER, "1", [op("num.partitions", "3", SET)]) == KafkaError.INVALID_REQUEST
    code, message = alter_default(broker, "log.retention.ms", "soon")
    assert code == KafkaError.INVALID_REQUEST and "log.retention.ms" in message, message
    broker.restart()
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    assert describe(a, BROKER, "1")["log.retention.bytes"].value == "4096", "kept across a restart"
    assert alter(a, BROKER, "1", [op("log.retention.bytes", None, DELETE)]) is None
    assert describe(a, BROKER, "1")["log.retention.bytes"].value == "2048"

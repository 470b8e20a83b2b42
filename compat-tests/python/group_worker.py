"""A confluent-kafka group consumer run as its own process, so tests can close it
cleanly (SIGTERM) or kill it (SIGKILL) like a real application.

usage: group_worker.py BOOTSTRAP GROUP TOPIC OUT_FILE [assignment strategy]

Each consumed record is committed synchronously before it is reported, then written to
OUT_FILE as `R <partition> <offset> <value>`; each assignment change as
`A <partition,partition,...>`. The worker exits after 120 s at most."""

from __future__ import annotations

import signal
import sys
import time

from confluent_kafka import Consumer, KafkaException, TopicPartition

bootstrap, group, topic, out_path = sys.argv[1:5]
strategy = sys.argv[5] if len(sys.argv) > 5 else "range"

stop = False


def on_term(_sig, _frame):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)

out = open(out_path, "a", buffering=1)
consumer = Consumer(
    {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
        "partition.assignment.strategy": strategy,
    }
)


# The assignment is reported from the poll loop, where it is current (inside the
# rebalance callbacks it is not updated yet).
consumer.subscribe([topic])
deadline = time.monotonic() + 120
last_reported = None
try:
    while not stop and time.monotonic() < deadline:
        msg = consumer.poll(0.2)
        current = sorted(tp.partition for tp in consumer.assignment())
        if current != last_reported:
            out.write("A " + ",".join(str(p) for p in current) + "\n")
            last_reported = current
        if msg is None or msg.error():
            continue
        try:
            consumer.commit(message=msg, asynchronous=False)
        except KafkaException as e:
            # A commit refused because of a rebalance: the record is not reported as
            # consumed here. Seeking back to it redelivers it, here if this member keeps
            # the partition (cooperative rebalancing often does) or else to the
            # partition's next owner, which starts from the last committed offset.
            out.write(f"E {e}\n")
            try:
                consumer.seek(TopicPartition(msg.topic(), msg.partition(), msg.offset()))
            except KafkaException:
                pass  # no longer assigned here
            continue
        out.write(f"R {msg.partition()} {msg.offset()} {msg.value().decode()}\n")
finally:
    consumer.close()
    out.write("CLOSED\n")
    out.close()

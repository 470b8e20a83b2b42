"""Connection limits with Kafka's keys: max.connections.per.ip (and its overrides),
max.connections, connections.max.idle.ms (which also bounds a request trickled in byte
by byte), queued.max.request.bytes — and a broker that keeps serving a normal client
while they apply. Bad values are startup errors naming the key."""

from __future__ import annotations

import socket
import subprocess
import time

import pytest

import kafka_wire as w
from vltava_helpers import broker_bin


def ask(sock: socket.socket, correlation_id: int = 7) -> int:
    """ApiVersions v0 on an open connection; returns the correlation id answered."""
    w.send_frame(sock, w.header(18, 0, correlation_id))
    return w.Reader(w.recv_frame(sock)).i32()


def test_connections_per_ip_over_the_limit_are_closed(broker_factory):
    b = broker_factory({"max.connections.per.ip": "3"})
    held = [w.connect(b.port) for _ in range(3)]
    try:
        for i, s in enumerate(held):
            assert ask(s, i) == i
        extra = w.connect(b.port)
        assert w.is_closed_by_peer(extra, timeout=5), "a fourth connection from 127.0.0.1 was kept"
        extra.close()
        held.pop().close()
        deadline = time.monotonic() + 10
        while True:  # the freed place is taken back once the broker sees the close
            s = w.connect(b.port)
            try:
                assert ask(s, 99) == 99
                break
            except (EOFError, ConnectionResetError):
                s.close()
                assert time.monotonic() < deadline, "no connection admitted after one closed"
                time.sleep(0.1)
        held.append(s)
    finally:
        for s in held:
            s.close()
    assert "max.connections.per.ip" in b.log_tail(200)


def test_per_ip_override(broker_factory):
    b = broker_factory({"max.connections.per.ip": "0", "max.connections.per.ip.overrides": "127.0.0.1:2"})
    held = [w.connect(b.port) for _ in range(2)]
    try:
        assert [ask(s, i) for i, s in enumerate(held)] == [0, 1]
        extra = w.connect(b.port)
        assert w.is_closed_by_peer(extra, timeout=5)
        extra.close()
    finally:
        for s in held:
            s.close()


def test_max_connections_makes_new_connections_wait(broker_factory):
    b = broker_factory({"max.connections": "2"})
    held = [w.connect(b.port) for _ in range(2)]
    for i, s in enumerate(held):
        assert ask(s, i) == i
    waiting = w.connect(b.port)  # accepted by the kernel's backlog, not by the broker
    w.send_frame(waiting, w.header(18, 0, 42))
    waiting.settimeout(1.0)
    with pytest.raises(socket.timeout):
        waiting.recv(4)
    held.pop().close()
    waiting.settimeout(10)
    assert w.Reader(w.recv_frame(waiting)).i32() == 42
    waiting.close()
    for s in held:
        s.close()


def test_idle_and_trickling_connections_are_closed(broker_factory):
    b = broker_factory({"connections.max.idle.ms": "1000"})
    idle = w.connect(b.port)
    assert ask(idle) == 7
    # Slow loris: a request sent one byte every 200 ms never completes in time.
    loris = w.connect(b.port)
    frame = w.i32(len(w.header(18, 0, 1))) + w.header(18, 0, 1)
    t0 = time.monotonic()
    closed = False
    for byte in frame[:-1]:
        try:
            loris.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            closed = True
            break
        time.sleep(0.2)
    assert closed or w.is_closed_by_peer(loris, timeout=5), "a trickled request held its connection"
    assert time.monotonic() - t0 < 8
    # Meanwhile a busy client keeps its connection: each request restarts the clock.
    busy = w.connect(b.port)
    for i in range(8):
        assert ask(busy, i) == i
        time.sleep(0.3)
    assert w.is_closed_by_peer(idle, timeout=5), "an idle connection outlived connections.max.idle.ms"
    for s in (idle, loris, busy):
        s.close()
    assert "connections.max.idle.ms" in b.log_tail(200)


def test_queued_request_bytes_bound_still_serves(broker_factory, topic_name):
    b = broker_factory({"queued.max.request.bytes": "2048"})
    topic = topic_name()
    r = w.roundtrip(b.port, w.create_topics_v4([(topic, 1, 1)]))
    assert w.parse_create_topics_v4(r)[topic][0] == 0
    # A frame larger than the whole budget is served (it holds all of it), and so are
    # several at once on separate connections.
    value = b"x" * 6000
    socks = [w.connect(b.port) for _ in range(4)]
    for i, s in enumerate(socks):
        batch = w.record_batch_v2([(b"k", value)], int(time.time() * 1000))
        w.send_frame(s, w.produce_v7(topic, 0, bytes(batch), correlation_id=100 + i))
    for i, s in enumerate(socks):
        got = w.parse_produce_v7(w.Reader(w.recv_frame(s)), correlation_id=100 + i)
        assert got[(topic, 0)][0] == 0
        s.close()


@pytest.mark.parametrize("setting,key", [
    ("max.connections=-1", "max.connections"),
    ("max.connections.per.ip=0", "max.connections.per.ip"),
    ("max.connections.per.ip.overrides=localhost", "max.connections.per.ip.overrides"),
    ("connections.max.idle.ms=0", "connections.max.idle.ms"),
    ("queued.max.request.bytes=0", "queued.max.request.bytes"),
])
def test_bad_limit_is_a_startup_error(tmp_path, setting, key):
    proc = subprocess.run(
        [str(broker_bin()), "--override", "listeners=PLAINTEXT://127.0.0.1:0",
         "--override", f"log.dirs={tmp_path}", "--override", setting],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30,
    )
    assert proc.returncode != 0
    assert f"`{key}`" in proc.stderr, proc.stderr

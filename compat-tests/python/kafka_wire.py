"""Minimal hand-rolled Kafka wire encoding for the bad-input tests.

Only non-flexible (classic) request versions are built here: header v1
(api_key, api_version, correlation_id, client_id) and plain int16/int32-sized
strings and arrays. Everything is bounded by socket timeouts."""

from __future__ import annotations

import socket
import struct
import zlib

from kafka.record.util import calc_crc32c

CLIENT_ID = "vltava-bad-input"
IO_TIMEOUT_S = 10.0


# ------------------------------------------------------------------ primitives
def i8(v: int) -> bytes:
    return struct.pack(">b", v)


def i16(v: int) -> bytes:
    return struct.pack(">h", v)


def i32(v: int) -> bytes:
    return struct.pack(">i", v)


def i64(v: int) -> bytes:
    return struct.pack(">q", v)


def string(s: str | None) -> bytes:
    if s is None:
        return i16(-1)
    b = s.encode()
    return i16(len(b)) + b


def nbytes(b: bytes | None) -> bytes:
    if b is None:
        return i32(-1)
    return i32(len(b)) + b


def array(items: list[bytes]) -> bytes:
    return i32(len(items)) + b"".join(items)


def varint(v: int) -> bytes:
    """Zig-zag varint as used inside v2 records."""
    z = (v << 1) ^ (v >> 63)
    out = bytearray()
    while True:
        byte = z & 0x7F
        z >>= 7
        if z:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


class Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        assert self.pos + n <= len(self.data), f"response truncated at {self.pos}+{n} of {len(self.data)}"
        b = self.data[self.pos : self.pos + n]
        self.pos += n
        return b

    def i8(self) -> int:
        return struct.unpack(">b", self.take(1))[0]

    def i16(self) -> int:
        return struct.unpack(">h", self.take(2))[0]

    def i32(self) -> int:
        return struct.unpack(">i", self.take(4))[0]

    def i64(self) -> int:
        return struct.unpack(">q", self.take(8))[0]

    def string(self) -> str | None:
        n = self.i16()
        return None if n < 0 else self.take(n).decode()

    def done(self) -> bool:
        return self.pos == len(self.data)


# ------------------------------------------------------------------- framing
def connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT_S)
    s.settimeout(IO_TIMEOUT_S)
    return s


def header(api_key: int, version: int, correlation_id: int, client_id: str | None = CLIENT_ID) -> bytes:
    return i16(api_key) + i16(version) + i32(correlation_id) + string(client_id)


def send_frame(sock: socket.socket, body: bytes) -> None:
    sock.sendall(i32(len(body)) + body)


def recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError(f"connection closed after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def recv_frame(sock: socket.socket) -> bytes:
    (size,) = struct.unpack(">i", recv_exact(sock, 4))
    assert 0 <= size < 64 * 1024 * 1024, f"bad response size {size}"
    return recv_exact(sock, size)


def roundtrip(port: int, body: bytes) -> Reader:
    with connect(port) as s:
        send_frame(s, body)
        return Reader(recv_frame(s))


def is_closed_by_peer(sock: socket.socket, timeout: float = IO_TIMEOUT_S) -> bool:
    """True if the peer closes (EOF or reset) within `timeout` without sending a frame."""
    sock.settimeout(timeout)
    try:
        data = sock.recv(65536)
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    return data == b""


# ------------------------------------------------------------- ApiVersions
def api_versions(port: int, correlation_id: int = 1) -> dict[int, tuple[int, int]]:
    r = roundtrip(port, header(18, 0, correlation_id))
    assert r.i32() == correlation_id
    err = r.i16()
    assert err == 0, f"ApiVersions v0 error {err}"
    out = {}
    for _ in range(r.i32()):
        key, lo, hi = r.i16(), r.i16(), r.i16()
        out[key] = (lo, hi)
    assert r.done(), "trailing bytes in ApiVersions v0 response"
    return out


# ------------------------------------------------------------ record batches
def record_batch_v2(
    records: list[tuple[bytes | None, bytes | None]], base_ts: int, codec: int = 0, compress=None,
    timestamps: list[int] | None = None,
) -> bytearray:
    """A magic-2 batch with a correct CRC-32C, offsets 0..n-1. `codec` is the
    attributes' compression id; `compress` turns the record bytes into its payload.
    Record i's timestamp is `base_ts + i`, or `timestamps[i]` when given."""
    timestamps = timestamps or [base_ts + i for i in range(len(records))]
    base_ts = timestamps[0] if timestamps else base_ts
    body = bytearray()
    for i, (key, value) in enumerate(records):
        rec = bytearray()
        rec += i8(0)  # attributes
        rec += varint(timestamps[i] - base_ts)  # timestamp delta
        rec += varint(i)  # offset delta
        rec += varint(-1) if key is None else varint(len(key)) + key
        rec += varint(-1) if value is None else varint(len(value)) + value
        rec += varint(0)  # headers
        body += varint(len(rec)) + rec
    n = len(records)
    if compress is not None:
        body = bytearray(compress(bytes(body)))
    after_crc = (
        i16(codec)  # attributes
        + i32(n - 1)  # last offset delta
        + i64(base_ts)
        + i64(max(timestamps, default=base_ts + n - 1))
        + i64(-1)  # producer id
        + i16(-1)  # producer epoch
        + i32(-1)  # base sequence
        + i32(n)
        + bytes(body)
    )
    crc = calc_crc32c(memoryview(after_crc))
    batch_length = 4 + 1 + 4 + len(after_crc)  # leader epoch + magic + crc + rest
    return bytearray(i64(0) + i32(batch_length) + i32(-1) + i8(2) + struct.pack(">I", crc) + after_crc)


def message_set_v1(records: list[tuple[bytes | None, bytes | None]], ts: int) -> bytes:
    """A legacy magic-1 message set (each message with a correct CRC-32)."""
    out = bytearray()
    for i, (key, value) in enumerate(records):
        msg = i8(1) + i8(0) + i64(ts + i) + nbytes(key) + nbytes(value)
        crc = zlib.crc32(msg) & 0xFFFFFFFF
        full = struct.pack(">I", crc) + msg
        out += i64(i) + i32(len(full)) + full
    return bytes(out)


# --------------------------------------------------------------- requests
def produce_v7(topic: str, partition: int | list[int], records: bytes, correlation_id: int = 11,
               version: int = 7, timeout_ms: int = 10000) -> bytes:
    """Produce v3..v8 share this request layout; acks=all, the same batch to every
    partition named."""
    assert 3 <= version <= 8
    parts = partition if isinstance(partition, list) else [partition]
    return (
        header(0, version, correlation_id)
        + string(None)  # transactional id
        + i16(-1)  # acks=all
        + i32(timeout_ms)
        + array([string(topic) + array([i32(p) + nbytes(records) for p in parts])])
    )


def parse_produce_v7(r: Reader, correlation_id: int = 11, version: int = 7) -> dict[tuple[str, int], tuple[int, int]]:
    """{(topic, partition): (error_code, base_offset)} for Produce v3..v7."""
    assert 3 <= version <= 7
    assert r.i32() == correlation_id
    out = {}
    for _ in range(r.i32()):
        name = r.string()
        for _ in range(r.i32()):
            idx, err, base = r.i32(), r.i16(), r.i64()
            r.i64()  # log append time
            if version >= 5:
                r.i64()  # log start offset
            out[(name, idx)] = (err, base)
    r.i32()  # throttle
    assert r.done(), f"trailing bytes in Produce v{version} response"
    return out


def parse_produce_v8(r: Reader, correlation_id: int = 11) -> dict[tuple[str, int], dict]:
    """{(topic, partition): {error, base_offset, record_errors: [(index, message)],
    error_message}} for Produce v8 (KIP-467's per-record errors)."""
    assert r.i32() == correlation_id
    out = {}
    for _ in range(r.i32()):
        name = r.string()
        for _ in range(r.i32()):
            idx, err, base = r.i32(), r.i16(), r.i64()
            r.i64()  # log append time
            r.i64()  # log start offset
            record_errors = [(r.i32(), r.string()) for _ in range(r.i32())]
            out[(name, idx)] = {"error": err, "base_offset": base, "record_errors": record_errors,
                                "error_message": r.string()}
    r.i32()  # throttle
    assert r.done(), "trailing bytes in Produce v8 response"
    return out


def create_topics_v4(topics: list[tuple[str, int, int]], correlation_id: int = 21, validate_only: bool = False) -> bytes:
    items = [string(name) + i32(parts) + i16(rf) + array([]) + array([]) for name, parts, rf in topics]
    return header(19, 4, correlation_id) + array(items) + i32(10000) + i8(1 if validate_only else 0)


def parse_create_topics_v4(r: Reader, correlation_id: int = 21) -> dict[str, tuple[int, str | None]]:
    """{name: (error_code, error_message)}"""
    assert r.i32() == correlation_id
    r.i32()  # throttle
    out = {}
    for _ in range(r.i32()):
        name = r.string()
        out[name] = (r.i16(), r.string())
    assert r.done(), "trailing bytes in CreateTopics v4 response"
    return out


def incremental_alter_configs_v0(resources: list[tuple[int, str, list[tuple[str, int, str | None]]]],
                                 correlation_id: int = 41, validate_only: bool = False) -> bytes:
    """resources: (resource type, name, [(key, operation 0-3, value)])"""
    items = [i8(t) + string(name) + array([string(k) + i8(o) + string(v) for k, o, v in configs])
             for t, name, configs in resources]
    return header(44, 0, correlation_id) + array(items) + i8(1 if validate_only else 0)


def parse_incremental_alter_configs_v0(r: Reader, correlation_id: int = 41) -> list[tuple[int, str | None, int, str]]:
    """[(error_code, error_message, resource type, resource name)]"""
    assert r.i32() == correlation_id
    r.i32()  # throttle
    out = [(r.i16(), r.string(), r.i8(), r.string()) for _ in range(r.i32())]
    assert r.done(), "trailing bytes in IncrementalAlterConfigs v0 response"
    return out


def metadata_v4(topics: list[str] | None, correlation_id: int = 31) -> bytes:
    t = i32(-1) if topics is None else array([string(x) for x in topics])
    return header(3, 4, correlation_id) + t + i8(0)  # allow_auto_topic_creation=false

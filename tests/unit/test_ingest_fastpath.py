"""The collector's fast paths give exactly what the plain paths give.

One-pass JSON validation against decode_json + parse_payload, the buffered MQTT socket
against the bytes sent, the caching partitioner against kafka-python's default one.
"""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka.partitioner.default import DefaultPartitioner

from greenmon.bus.kafka import CachedKeyPartitioner
from greenmon.bus.mqtt import BufferedSocket
from greenmon.domain.wire import (
    ReadingPayload,
    decode_json,
    parse_payload,
    parse_reading_json,
)
from greenmon.errors import InvalidReading


def _slow(raw: bytes) -> ReadingPayload | str:
    try:
        return parse_payload(decode_json(raw))
    except InvalidReading as exc:
        return f"refused: {exc}"


def _fast(raw: bytes) -> ReadingPayload | str:
    try:
        return parse_reading_json(raw)
    except InvalidReading as exc:
        return f"refused: {exc}"


FIELD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 100_000),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.sampled_from(
        [
            *("kWh", "m3", "kwh", "counter", "interval", "gauge", "900", "12.5", "", "é"),
            *("2025-01-01T00:15:00+08:00", "2025-01-01T00:15:00Z", "2025-01-01T00:15:00"),
        ]
    ),
    st.lists(st.integers(0, 3), max_size=2),
)
KEYS = st.sampled_from(["ts", "value", "unit", "kind", "duration_s", "extra", "meter"])


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(KEYS, FIELD_VALUES, max_size=6))
def test_one_pass_validation_agrees_with_the_two_steps(doc: dict[str, Any]) -> None:
    raw = json.dumps(doc).encode()
    assert _fast(raw) == _slow(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"ts":"2025-01-01T00:15:00+08:00","value":1.5,"unit":"kWh","kind":"counter"}',
        b'{"ts":"2025-01-01T00:15:00Z","value":0,"unit":"m3","kind":"interval","duration_s":60}',
        b'{"ts":"2025-01-01T00:15:00Z","value":1,"unit":"m3","kind":"interval","ts":"x"}',
        b'{"ts":"2025-01-01T00:15:00Z","value":NaN,"unit":"kWh","kind":"counter"}',
        b'{"ts":"2025-01-01T00:15:00Z","value":1e400,"unit":"kWh","kind":"counter"}',
        b'{"ts":"2025-01-01T00:15:00Z","value":1.5,"unit":"kWh","kind":"counter"} x',
        b"\xff\xfe{}",
        b"[1, 2]",
        b"",
        b'{"ts": "\xc3"}',
        b" " * 70_000,
    ],
)
def test_one_pass_validation_agrees_on_edge_payloads(raw: bytes) -> None:
    assert _fast(raw) == _slow(raw)


def test_buffered_socket_hands_out_exactly_the_bytes_sent_in_any_slices() -> None:
    left, right = socket.socketpair()
    try:
        sent = bytes(range(256)) * 40  # 10,240 bytes
        left.sendall(sent)
        left.shutdown(socket.SHUT_WR)
        buffered = BufferedSocket(right)
        got = bytearray()
        sizes = [1, 1, 3, 700, 1, 5000]
        first = buffered.recv(1)
        got += first
        assert buffered.pending() == len(sent) - 1  # one read took all there was
        i = 0
        while chunk := buffered.recv(sizes[i % len(sizes)]):
            assert len(chunk) <= sizes[i % len(sizes)]
            got += chunk
            i += 1
        assert bytes(got) == sent
        assert buffered.pending() == 0
        assert buffered.fileno() == right.fileno()  # everything else is the socket's
    finally:
        left.close()
        right.close()


class _Cluster:
    def __init__(self, partitions: set[int]) -> None:
        self.partitions = partitions

    def topics(self) -> set[str]:
        return {"t"}

    def partitions_for_topic(self, _topic: str) -> set[int]:
        return self.partitions

    def available_partitions_for_topic(self, _topic: str) -> set[int]:
        return self.partitions


@pytest.mark.parametrize("count", [1, 4, 7])
def test_cached_partitioner_picks_the_default_partition_for_every_key(count: int) -> None:
    cluster = _Cluster(set(range(count)))
    cached, default = CachedKeyPartitioner(), DefaultPartitioner()
    keys = [f"E{e:04d}-M{m:02d}".encode() for e in range(50) for m in range(8)]
    for _ in range(2):  # the second round is answered from the cache
        for key in keys:
            expected = default.partition("t", key, key, None, None, cluster)
            assert cached.partition("t", key, key, None, None, cluster) == expected
    assert len({cached.partition("t", k, k, None, None, cluster) for k in keys}) == count

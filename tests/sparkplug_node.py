"""A Sparkplug B edge node for tests, with its own protobuf encoding written by hand.

The payloads are built byte by byte from the specification's field numbers and wire
types (not with greenmon's decoder schema), so a test that decodes them checks
greenmon against the wire format, not against itself.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

DOUBLE, INT64, UINT64, BOOLEAN, INT32, FLOAT = 10, 4, 8, 11, 3, 9


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


def _len(field: int, data: bytes) -> bytes:
    return _key(field, 2) + _varint(len(data)) + data


@dataclass(frozen=True)
class M:
    """A metric to encode: name and/or alias, timestamp (ms), datatype, value."""

    name: str | None = None
    alias: int | None = None
    ts: int | None = None
    datatype: int | None = None
    value: Any = None
    historical: bool = False


def metric_bytes(m: M) -> bytes:
    out = b""
    if m.name is not None:
        out += _len(1, m.name.encode())
    if m.alias is not None:
        out += _key(2, 0) + _varint(m.alias)
    if m.ts is not None:
        out += _key(3, 0) + _varint(m.ts)
    if m.datatype is not None:
        out += _key(4, 0) + _varint(m.datatype)
    if m.historical:
        out += _key(5, 0) + _varint(1)
    if m.value is None:
        out += _key(7, 0) + _varint(1)  # is_null
    elif m.datatype == DOUBLE:
        out += _key(13, 1) + struct.pack("<d", m.value)
    elif m.datatype == FLOAT:
        out += _key(12, 5) + struct.pack("<f", m.value)
    elif m.datatype == BOOLEAN:
        out += _key(14, 0) + _varint(int(m.value))
    elif m.datatype == INT32:
        out += _key(10, 0) + _varint(m.value & 0xFFFFFFFF)
    else:  # Int64 / UInt64
        out += _key(11, 0) + _varint(m.value & 0xFFFFFFFFFFFFFFFF)
    return out


def payload_bytes(ts: int | None, seq: int | None, metrics: list[M]) -> bytes:
    out = b"" if ts is None else _key(1, 0) + _varint(ts)
    for m in metrics:
        out += _len(2, metric_bytes(m))
    if seq is not None:
        out += _key(3, 0) + _varint(seq)
    return out


def _read_varint(data: bytes, i: int) -> tuple[int, int]:
    shift = n = 0
    while True:
        b = data[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) pairs of a protobuf message (varint, 64-bit, bytes, 32-bit)."""
    out: list[tuple[int, int | bytes]] = []
    i = 0
    while i < len(data):
        key, i = _read_varint(data, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _read_varint(data, i)
            out.append((field, value))
        elif wire == 2:
            size, i = _read_varint(data, i)
            out.append((field, data[i : i + size]))
            i += size
        else:
            width = 8 if wire == 1 else 4
            out.append((field, data[i : i + width]))
            i += width
    return out


def command_metrics(payload: bytes) -> dict[str, Any]:
    """name -> boolean value of the metrics of an NCMD payload."""
    out: dict[str, Any] = {}
    for field, value in _fields(payload):
        if field == 2 and isinstance(value, bytes):
            parts = dict(_fields(value))
            name = parts.get(1)
            if isinstance(name, bytes):
                out[name.decode()] = bool(parts.get(14)) if 14 in parts else None
    return out

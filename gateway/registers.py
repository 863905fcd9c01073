"""Modbus register words to a meter value, and the clock-aligned poll schedule (pure)."""

from __future__ import annotations

import math
import struct
from datetime import UTC, datetime, timedelta
from typing import Final

#: 16-bit registers each type occupies
WORDS: Final = {"uint16": 1, "uint32": 2, "int32": 2, "float32": 2, "uint64": 4}
_FORMATS: Final = {"uint16": "H", "uint32": "I", "int32": "i", "float32": "f", "uint64": "Q"}


class RegisterError(ValueError):
    """The registers read do not make a usable value (wrong count, not finite)."""


def decode_registers(
    words: list[int], rtype: str, *, word_order: str = "big", byte_order: str = "big"
) -> float:
    """The value of ``words`` as ``rtype``.

    ``word_order`` big: the first register holds the most significant word (Modbus
    convention); little: the least significant. ``byte_order`` big: each register's high
    byte first (Modbus convention); little: swapped bytes within each register.
    """
    n = WORDS[rtype]
    if len(words) != n or any(not 0 <= w <= 0xFFFF for w in words):
        raise RegisterError(f"{rtype} needs {n} register(s) of 0..65535, got {words}")
    ordered = words if word_order == "big" else list(reversed(words))
    raw = b"".join(
        w.to_bytes(2, "big") if byte_order == "big" else w.to_bytes(2, "little") for w in ordered
    )
    value = float(struct.unpack(">" + _FORMATS[rtype], raw)[0])
    if not math.isfinite(value):
        raise RegisterError(f"{rtype} registers {words} are not a finite number")
    return value


def next_tick(now: datetime, interval_s: int) -> datetime:
    """The first multiple of ``interval_s`` since the epoch (UTC) strictly after ``now``."""
    epoch = now.timestamp()
    tick = (math.floor(epoch / interval_s) + 1) * interval_s
    return datetime.fromtimestamp(tick, tz=UTC)


def interval_start(tick: datetime, interval_s: int) -> datetime:
    """An interval meter's reading polled at ``tick`` covers the interval that ends there."""
    return tick - timedelta(seconds=interval_s)

"""What the streaming benchmark measures: CPU per process, rows stored, latency.

CPU comes from ``/proc/PID/stat`` (user + system time, plus that of waited-for
children); PostgreSQL is the postmaster plus every live backend, so a backend
that exits during a phase is still counted (through the postmaster's children
time). Latency is publish -> row visible to another connection: a probe thread
reads the generator's sample lines and polls the table for those rows.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from benchmarks.stream_load import reading_ts

_TICK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(pid: int, *, children: bool = False) -> float:
    """CPU time of ``pid`` so far (0 when gone); with ``children``, its live descendants too."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    # fields[11:15] = utime stime cutime cstime (stat fields 14-17)
    total = sum(int(x) for x in fields[11:15]) / _TICK
    if children:
        total += sum(cpu_seconds(c) for c in _children(pid))
    return total


def _children(pid: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None and fields[1] == str(pid):
                kids.append(int(entry))
    return kids


class CpuMeter:
    """CPU seconds of named processes between ``start()`` and ``stop()``."""

    def __init__(self, pids: dict[str, int], tree: frozenset[str] = frozenset()) -> None:
        self.pids = pids
        self.tree = tree
        self._start: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        return {n: cpu_seconds(p, children=n in self.tree) for n, p in self.pids.items()}

    def start(self) -> None:
        self._start = self._now()

    def stop(self) -> dict[str, float]:
        end = self._now()
        return {n: round(end[n] - self._start.get(n, 0.0), 3) for n in end}


def count_rows(conn: psycopg.Connection[Any], table: str, lo: int, hi: int) -> int:
    """Rows of ``table`` stamped in [lo, hi) (epoch seconds)."""
    row = conn.execute(
        f"SELECT count(*) FROM {table} WHERE ts >= to_timestamp(%s) AND ts < to_timestamp(%s)",
        (lo, hi),
    ).fetchone()
    return int(row[0]) if row else 0


class LatencyProbe(threading.Thread):
    """Polls ``table`` for the generator's sampled readings; latencies in seconds."""

    def __init__(self, dsn: str, table: str, samples: Path, base_epoch: int) -> None:
        super().__init__(daemon=True, name="latency-probe")
        self.dsn, self.table, self.samples, self.base = dsn, table, samples, base_epoch
        self.latencies: list[float] = []
        self.pending: dict[tuple[str, datetime], float] = {}
        self._halt = threading.Event()

    def run(self) -> None:
        offset = 0
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self._halt.is_set():
                offset = self._read_samples(offset)
                if self.pending:
                    self._poll(conn)
                self._halt.wait(0.02)

    def _read_samples(self, offset: int) -> int:
        if not self.samples.exists():
            return offset
        with self.samples.open("rb") as f:
            f.seek(offset)
            data = f.read()
        end = data.rfind(b"\n") + 1
        for line in data[:end].decode().splitlines():
            meter, k, at = line.split()
            self.pending[(meter, reading_ts(self.base, int(k)))] = float(at)
        return offset + end

    def _poll(self, conn: psycopg.Connection[tuple[object, ...]]) -> None:
        keys = list(self.pending)[:400]
        rows = conn.execute(
            f"SELECT meter_id, ts FROM {self.table} WHERE (meter_id, ts) IN "
            "(SELECT * FROM unnest(%s::text[], %s::timestamptz[]))",
            ([k[0] for k in keys], [k[1] for k in keys]),
        ).fetchall()
        now = time.time()
        for meter, ts in rows:
            assert isinstance(meter, str) and isinstance(ts, datetime)
            at = self.pending.pop((meter, ts.astimezone(UTC)), None)
            if at is not None:
                self.latencies.append(now - at)

    def finish(self, settle: float = 5.0) -> None:
        deadline = time.monotonic() + settle
        while self.pending and time.monotonic() < deadline:
            time.sleep(0.05)
        self._halt.set()
        self.join(10)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q) - 1]


def wait_stored(
    count: Callable[[], int], target: int, timeout: float, *, poll: float = 0.1
) -> tuple[int, float | None, float | None]:
    """Poll ``count`` until ``target`` rows or ``timeout``: (stored, first row at, all at)."""
    deadline = time.monotonic() + timeout
    first: float | None = None
    stored = 0
    last_growth = time.monotonic()
    while time.monotonic() < deadline:
        n = count()
        now = time.time()
        if n > stored:
            last_growth = time.monotonic()
        stored = n
        if first is None and stored > 0:
            first = now
        if stored >= target:
            return stored, first, now
        if time.monotonic() - last_growth > max(30.0, timeout / 3):
            break
        time.sleep(poll)
    return stored, first, None

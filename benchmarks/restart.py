"""Benchmark: how soon a processor restarted after kill -9 stores readings again.

    .venv/bin/python -m benchmarks.restart [--rounds 3]

On throwaway Mosquitto, tansu and PostgreSQL (+TimescaleDB) under /tmp: half of a
small fleet's readings are put on the readings topic, a processor stores them and is
killed with SIGKILL (its group membership stays behind in the broker), the other half
is queued, and a new processor is started. Measured: seconds from starting the new
process to its first stored row, for each consumer setting compared:

* ``dynamic 10 s``: a new member id each start, session timeout 10 s (the old default);
* ``dynamic 3 s``: the same with a 3 s session timeout, heartbeats every 0.75 s (the
  default now);
* ``static 10 s``: static membership (``processor_instance_id``, KIP-345): the restarted
  processor takes its predecessor's place in the group without waiting for its session.

Every round ends with every reading stored exactly once (exit 1 otherwise).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import date
from typing import Any

from benchmarks.local import local_services, log_tails
from benchmarks.processor_memory import count, enqueue
from greenmon.feeds.fleet import build_registry
from greenmon.feeds.simulator import generate
from greenmon.jobs.runner import start_service
from greenmon.settings import Settings
from greenmon.storage import db
from greenmon.storage.registry_store import upsert_registry

START = date(2025, 5, 1)
VARIANTS: dict[str, dict[str, Any]] = {
    "dynamic 10 s": {"kafka_session_timeout_ms": 10_000},
    "dynamic 3 s": {"kafka_session_timeout_ms": 3_000},
    "static 10 s": {"kafka_session_timeout_ms": 10_000, "processor_instance_id": "bench-p1"},
}


def _wait(conn: db.Conn, n: int, what: str, timeout: float = 180) -> float:
    started = time.monotonic()
    while count(conn) < n:
        if time.monotonic() - started > timeout:
            raise SystemExit(f"timed out waiting for {what} ({count(conn)}/{n})")
        time.sleep(0.05)
    return time.monotonic() - started


def one_round(settings: Settings, seed: int) -> float:
    registry = build_registry(10, 5, seed)
    with db.connect(settings) as conn:
        upsert_registry(conn, registry)
    readings = list(generate(registry, START, 2, 900, seed))
    half = len(readings) // 2
    logs = settings.state_dir / "logs"
    with db.connect(settings, autocommit=True) as conn:
        conn.execute("TRUNCATE readings, consumption_15m, meter_state, meter_watermarks")
        base = count(conn)
        enqueue(settings, readings[:half])
        first = start_service("processor", settings, logs, name=f"processor-{seed}-a")
        try:
            _wait(conn, base + half, "the first half")
        except SystemExit:
            print(log_tails([first]))
            raise
        first.kill()
        enqueue(settings, readings[half:])
        second = start_service("processor", settings, logs, name=f"processor-{seed}-b")
        started = time.monotonic()
        try:
            while count(conn) <= base + half:
                if time.monotonic() - started > 120:
                    raise SystemExit(f"no row after 120 s\n{log_tails([second])}")
                time.sleep(0.05)
            resumed = time.monotonic() - started
            _wait(conn, base + len(readings), "the second half")
        finally:
            second.stop(15)
        stored = count(conn)
    if stored != base + len(readings):
        raise SystemExit(f"{stored - base} stored, {len(readings)} sent")
    return resumed


def run(rounds: int) -> int:
    results: dict[str, list[float]] = {}
    for name, overrides in VARIANTS.items():
        with local_services(**overrides) as settings:
            results[name] = [one_round(settings, seed) for seed in range(1, rounds + 1)]
        times = results[name]
        print(f"{name:<14} restart -> first stored row: median {statistics.median(times):.1f} s "
              f"({', '.join(f'{t:.1f}' for t in times)})")  # fmt: skip
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    return run(args.rounds)


if __name__ == "__main__":
    sys.exit(main())

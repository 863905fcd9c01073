"""Benchmark: the processor at city size, its memory, its steadiness and the bytes it stores.

    .venv/bin/python -m benchmarks.processor_memory [--enterprises 2000] [--meters 50]
        [--interval-h 6] [--days 1]

100,000 meters (2,000 enterprises x 50) and a simulated day at a 6-hour reading interval
(each interval reading spreads over 24 fifteen-minute slots) are put on the readings
topic as the collector writes them (keyed by meter, the collector's record format), on
throwaway Mosquitto, tansu and PostgreSQL (+TimescaleDB) under /tmp; then one processor
process drains them while the roll-up refresher works on its own schedule. Sampled
twice a second: the processor's resident memory (VmRSS) and the stored readings.
Reports peak RSS (bar: 500 MB), the drain rate, the longest time stored readings did not
grow while readings still waited (a stall), the enterprises' stored totals against the
simulator's truth, and the bytes stored per reading and per 15-minute row (tables with
their indexes). Exits 1 if the totals differ, RSS passes 500 MB or a stall passes 5 s.
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

from benchmarks.local import local_services, log_tails, services
from greenmon.bus import kafka as bus_kafka
from greenmon.domain.wire import ReadingRecord
from greenmon.feeds.fleet import build_registry
from greenmon.feeds.simulator import SimReading, generate
from greenmon.feeds.truth import enterprise_totals, truth_rows
from greenmon.jobs.verify import compare_totals, stored_enterprise_totals
from greenmon.settings import Settings
from greenmon.storage import db
from greenmon.storage.registry_store import upsert_registry
from greenmon.storage.sizes import stored_bytes

START = date(2025, 5, 1)
SEED = 42
RSS_LIMIT_MB = 500.0
STALL_LIMIT_S = 5.0


def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` in MB (10^6 bytes); 0 when the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        pass
    return 0.0


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) ``pid`` used so far; 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def enqueue(settings: Settings, readings: list[SimReading]) -> None:
    """Put the readings on the readings topic exactly as the collector would."""
    bus_kafka.ensure_topics(settings, [settings.topic_readings])
    producer = bus_kafka.producer(settings, client_id="bench-enqueue")
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    try:
        for r in readings:
            record = ReadingRecord(r.enterprise_id, r.meter_id, round(r.ts.timestamp() * 1000),
                                   r.value, r.unit, r.kind, r.duration_s, now_ms)  # fmt: skip
            producer.send(settings.topic_readings, key=r.meter_id.encode(), value=record.encode())
        producer.flush(timeout=300)
    finally:
        producer.close(timeout=10)


def count(conn: db.Conn) -> int:
    row = conn.execute("SELECT count(*) FROM readings").fetchone()
    return int(row[0]) if row else 0


def profile(pid: int, out: str | None) -> subprocess.Popen[bytes] | None:
    """``py-spy record`` of the processor while it drains (raw, for flame graphs)."""
    if out is None:
        return None
    spy = Path(sys.executable).with_name("py-spy")
    return subprocess.Popen(
        [str(spy), "record", "--pid", str(pid), "-f", "raw", "-o", out, "--nonblocking"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _print_drain(
    first_row: float, stored: int, drained: float, cpu: float, stall: float, peak: float
) -> None:
    print(f"  first row stored {first_row:.1f} s after the processor started")
    print(
        f"  {stored:,} stored in {drained:.1f} s: {stored / drained:,.0f} readings/s; "
        f"processor CPU {cpu:.1f} s, {cpu / max(stored, 1) * 1e6:,.0f} CPU-us per reading"
    )
    print(f"  longest time without a new stored row while readings waited: {stall:.1f} s")
    print(f"  peak processor RSS {peak:.0f} MB (bar {RSS_LIMIT_MB:.0f} MB)")


def run(
    enterprises: int, meters: int, interval_h: float, days: int, out: str | None, limit_s: float
) -> int:
    interval_s = int(interval_h * 3600)
    registry = build_registry(enterprises, meters, SEED)
    readings = list(generate(registry, START, days, interval_s, SEED))
    n = len(readings)
    print(f"{n:,} readings of {len(registry.meters):,} meters, {days} day(s) every {interval_h} h")
    with local_services() as settings:
        with db.connect(settings) as conn:
            upsert_registry(conn, registry)
        started = time.monotonic()
        enqueue(settings, readings)
        print(f"  queued on Kafka in {time.monotonic() - started:.1f} s")
        del readings
        with (
            services(settings, "processor") as procs,
            db.connect(settings, autocommit=True) as conn,
        ):
            pid = procs[0].pid
            assert pid is not None
            spy = profile(pid, out)
            started = time.monotonic()
            peak, stored, last_growth, stall, first_row = 0.0, 0, started, 0.0, None
            while stored < n:
                if not procs[0].alive():
                    raise SystemExit(f"{stored}/{n} stored\n{log_tails(procs)}")
                if time.monotonic() - started > limit_s:
                    print(f"  STOPPED after {limit_s:.0f} s: {stored:,} of {n:,} stored")
                    break
                time.sleep(0.5)
                peak = max(peak, rss_mb(pid))
                now, latest = time.monotonic(), count(conn)
                if latest > stored:
                    if first_row is None:
                        first_row = now - started
                    elif stored:
                        stall = max(stall, now - last_growth)
                    stored, last_growth = latest, now
            drained = time.monotonic() - started
            cpu = cpu_s(pid)
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(60)
            time.sleep(2)  # a last roll-up refresh may run: memory is sampled through it
            peak = max(peak, rss_mb(pid))
            totals = stored_enterprise_totals(conn)
            sizes = stored_bytes(conn)
    truth = enterprise_totals(
        truth_rows(registry, START, days, interval_s, SEED, settings.tz), registry
    )
    mismatches = compare_totals(truth, totals, io.StringIO()) if stored == n else ["partial"]
    _print_drain(first_row or 0.0, stored, drained, cpu, stall, peak)
    print(f"  totals equal the truth: {'yes' if not mismatches else f'NO ({len(mismatches)})'}")
    for line in sizes.describe():
        print(f"  {line}")
    return 1 if mismatches or peak > RSS_LIMIT_MB or stall > STALL_LIMIT_S else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enterprises", type=int, default=2000)
    parser.add_argument("--meters", type=int, default=50, help="meters per enterprise")
    parser.add_argument("--interval-h", type=float, default=6.0, help="hours between readings")
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--profile", metavar="FILE", help="py-spy raw profile of the processor")
    parser.add_argument("--max-seconds", type=float, default=1800, help="stop draining after")
    args = parser.parse_args(argv)
    return run(
        args.enterprises, args.meters, args.interval_h, args.days, args.profile, args.max_seconds
    )


if __name__ == "__main__":
    sys.exit(main())

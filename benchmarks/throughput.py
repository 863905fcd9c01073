"""Benchmark: readings per second through the whole pipeline, checked against the truth.

    .venv/bin/python -m benchmarks.throughput [--enterprises 100] [--meters 5] [--days 1]

Starts throwaway Mosquitto, tansu and PostgreSQL (+TimescaleDB) under /tmp, a
collector and a processor as processes, and publishes a simulated fleet's readings
(QoS 1, as fast as the broker acknowledges) from one client. Reports the publish
rate, the end-to-end rate (first publish to the last reading stored, 15-minute rows
booked and converted) and the processor's catch-up after the publisher finished;
then compares every enterprise's stored totals with the simulator's ground truth
and exits 1 on any difference (or ``--min-rate`` readings/s end to end not reached).
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from datetime import date

from benchmarks.local import local_services, log_tails, services
from greenmon.feeds.fleet import build_registry
from greenmon.feeds.publisher import publish
from greenmon.feeds.simulator import generate
from greenmon.feeds.truth import enterprise_totals, truth_rows
from greenmon.jobs.verify import compare_totals, stored_enterprise_totals
from greenmon.storage import db
from greenmon.storage.registry_store import upsert_registry

START = date(2025, 5, 1)
SEED = 42


def run(enterprises: int, meters: int, days: int, min_rate: float) -> int:
    registry = build_registry(enterprises, meters, SEED)
    readings = list(generate(registry, START, days, 900, SEED))
    n = len(readings)
    with local_services() as settings:
        with db.connect(settings) as conn:
            upsert_registry(conn, registry)
        with services(settings, "collector", "processor") as procs:
            start = time.monotonic()
            publish(readings, settings, client_id="bench-throughput")
            published = time.monotonic()
            with db.connect(settings, autocommit=True) as conn:
                stored = 0
                while stored < n:
                    if time.monotonic() - published > 300 or not all(p.alive() for p in procs):
                        raise SystemExit(f"{stored}/{n} stored\n{log_tails(procs)}")
                    time.sleep(0.05)
                    row = conn.execute("SELECT count(*) FROM readings").fetchone()
                    stored = int(row[0]) if row else 0
            done = time.monotonic()
            with db.connect(settings) as conn:
                totals = stored_enterprise_totals(conn)
    truth = enterprise_totals(truth_rows(registry, START, days, 900, SEED, settings.tz), registry)
    mismatches = compare_totals(truth, totals, io.StringIO())
    rate = n / (done - start)
    print(f"{n} readings of {len(registry.meters)} meters over {days} day(s)")
    print(f"  published in {published - start:.1f} s: {n / (published - start):,.0f}/s")
    print(f"  all stored {done - start:.1f} s after the first publish: {rate:,.0f} readings/s "
          f"end to end; {done - published:.1f} s after the last")  # fmt: skip
    print(f"  totals equal the truth: {'yes' if not mismatches else f'NO ({len(mismatches)})'}")
    return 1 if mismatches or rate < min_rate else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enterprises", type=int, default=100)
    parser.add_argument("--meters", type=int, default=5, help="meters per enterprise")
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--min-rate", type=float, default=0.0, help="readings/s end to end")
    args = parser.parse_args(argv)
    return run(args.enterprises, args.meters, args.days, args.min_rate)


if __name__ == "__main__":
    sys.exit(main())

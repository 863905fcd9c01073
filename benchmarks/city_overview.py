"""Benchmark: every city-overview query over a year of data for 500 enterprises.

    .venv/bin/python -m benchmarks.city_overview [--dsn URL] [--runs N]

Without ``--dsn`` a throwaway PostgreSQL (+TimescaleDB) is started under /tmp and
removed afterwards. The database is migrated and filled directly with SQL (not through
MQTT): 500 enterprises in the ten districts, twelve months of ``enterprise_month`` and
roll-ups (month, ytd, r12 for every entity) and a year of daily data quality for five
meters each. Prints p50/p95 per query; exits 1 if any p95 is above 200 ms.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from dashboards.build import catalog
from dashboards.macros import expand
from greenmon.local.ports import free_port
from greenmon.local.postgres import (
    create_database,
    init_cluster,
    local_dsn,
    start_postgres,
    stop_postgres,
)
from greenmon.settings import Settings
from greenmon.storage.migrate import migrate

LIMIT_MS = 200.0
TZ = ZoneInfo("Asia/Shanghai")

FILL = """
INSERT INTO enterprises (enterprise_id, name, district, industry)
SELECT format('E%s', lpad(i::text, 4, '0')), format('Enterprise %s', i),
       (ARRAY['shinan','shibei','licang','laoshan','xihaian','chengyang','jimo','jiaozhou',
              'pingdu','laixi'])[1 + i % 10],
       (ARRAY['marine','new_it','smart_appliances','rail_transit','nev','equipment',
              'chemicals','food_beverage','textiles_apparel','biomedicine','new_materials',
              'aerospace'])[1 + i % 12]
FROM generate_series(1, 500) i;
INSERT INTO meters (meter_id, enterprise_id, carrier, unit, kind, max_rate_per_hour)
SELECT e.enterprise_id || '-M' || k, e.enterprise_id, 'electricity', 'kWh', 'interval', 1e6
FROM enterprises e, generate_series(1, 5) k;
INSERT INTO enterprise_month (enterprise_id, month, energy_tce, co2_t, water_m3)
SELECT enterprise_id, make_date(2025, m, 1), 100 + random() * 50, 300 + random() * 100,
       1000 + random() * 500
FROM enterprises, generate_series(1, 12) m;
INSERT INTO meter_quality_daily (meter_id, day, enterprise_id, expected, present, estimated,
    completeness, estimated_share, resets, rollovers, quarantined)
SELECT m.meter_id, d::date, m.enterprise_id, 96, 90 + (random() * 6)::int, 0, 0.95, 0, 0, 0, 0
FROM meters m, generate_series('2025-01-01'::date, '2025-12-31'::date, '1 day') d;
INSERT INTO enterprise_quality_daily (enterprise_id, day, meters, expected, present, estimated)
SELECT enterprise_id, day, count(*), sum(expected), sum(present), sum(estimated)
FROM meter_quality_daily GROUP BY 1, 2;
WITH ids AS (
    SELECT 'enterprise' AS entity, enterprise_id AS entity_id FROM enterprises
    UNION ALL SELECT DISTINCT 'district', district FROM enterprises
    UNION ALL SELECT DISTINCT 'industry', industry FROM enterprises
    UNION ALL SELECT 'city', 'city')
INSERT INTO rollups (entity, entity_id, kind, month, energy_tce, excluded_tce, co2_t, water_m3,
    value_added, energy_intensity, co2_intensity, water_intensity, energy_reduction,
    co2_reduction, water_reduction, energy_trajectory, co2_trajectory, water_trajectory,
    energy_status, co2_status, water_status, status, reason)
SELECT entity, entity_id, kind, make_date(2025, m, 1), 100, 0, 300, 1000, 2000,
       0.05 + random() * 0.01, 0.15 + random() * 0.03, 0.5 + random() * 0.1,
       0.1 + random() * 0.05, 0.15, 0.12, 0.055, 0.16, 0.55, 'on_track', 'on_track',
       'on_track', CASE WHEN random() < 0.3 THEN 'behind' ELSE 'on_track' END, ''
FROM ids, generate_series(1, 12) m, unnest(ARRAY['month', 'ytd', 'r12']) kind;
ANALYZE;
"""


def run(dsn: str, runs: int) -> int:
    values: dict[str, Any] = {"database_url": dsn}
    settings = Settings(**values)
    migrate(settings)
    with psycopg.connect(settings.database_dsn(), autocommit=True) as conn:
        if not conn.execute("SELECT count(*) FROM enterprises").fetchone()[0]:  # type: ignore[index]
            started = time.perf_counter()
            conn.execute(FILL)
            print(f"filled in {time.perf_counter() - started:.1f} s")
        entries = [e for e in catalog() if e.dashboard == "greenmon-city"]
        worst = 0.0
        print(f"{'query':<70} {'p50 ms':>8} {'p95 ms':>8} rows")
        for entry in entries:
            sql = expand(
                entry.sql,
                time_from=datetime(2025, 1, 1, tzinfo=TZ),
                time_to=datetime(2026, 1, 1, tzinfo=TZ),
                interval="1d",
            )
            times, rows = [], 0
            for _ in range(runs):
                started = time.perf_counter()
                rows = len(conn.execute(sql).fetchall())
                times.append((time.perf_counter() - started) * 1000)
            times.sort()
            p50 = statistics.median(times)
            p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
            worst = max(worst, p95)
            print(f"{entry.title[:70]:<70} {p50:>8.1f} {p95:>8.1f} {rows}")
    print(f"worst p95 {worst:.1f} ms (limit {LIMIT_MS:.0f} ms)")
    return 1 if worst > LIMIT_MS else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dsn", default=None, help="an existing (throwaway!) database")
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    if args.dsn:
        return run(args.dsn, args.runs)
    folder = Path(tempfile.mkdtemp(prefix="greenmon-bench-", dir="/tmp"))
    port = free_port()
    data_dir = folder / "pg"
    try:
        init_cluster(data_dir, port, fast=True)
        start_postgres(data_dir, port)
        create_database(local_dsn(port), "bench")
        return run(local_dsn(port, "bench"), args.runs)
    finally:
        stop_postgres(data_dir)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

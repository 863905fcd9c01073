"""Benchmark: every inspector dashboard query over a year of data for a city.

    .venv/bin/python -m benchmarks.city_overview [--enterprises 4000] [--dsn URL] [--runs N]

Without ``--dsn`` a throwaway PostgreSQL (+TimescaleDB) is started under /tmp and
removed afterwards. The database is migrated and filled directly with SQL (not through
MQTT): ``--enterprises`` enterprises (default 4,000) in the ten districts and twelve
industries, five meters each, twelve months of ``enterprise_month`` and roll-ups (month,
ytd, r12 for every entity), a year of daily data quality for every meter, and for the
inspected enterprise a year of readings, 15-minute rows, meter events, quarantine and
alerts. Runs every query of the city, district, industry, enterprise and meter
dashboards (template variables set to one district, industry, enterprise and meter)
over the year; prints p50/p95 per query and exits 1 if any p95 is above 200 ms.
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
FROM generate_series(1, %(enterprises)s) i;
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
INSERT INTO readings (meter_id, ts, value, kind, duration_s, received_at)
SELECT m.meter_id, t, 10 + random(), 'interval', 900, t + interval '20 seconds'
FROM meters m, generate_series('2025-01-01'::timestamptz, '2025-12-31 23:45'::timestamptz,
    '15 minutes') t WHERE m.enterprise_id = 'E0001';
INSERT INTO consumption_15m (meter_id, interval_start, enterprise_id, carrier, quantity, unit,
    energy_tce, co2_t, water_m3, estimated)
SELECT meter_id, ts, 'E0001', 'electricity', value, 'kWh', value * 0.0001229, value * 0.0006,
    NULL, false FROM readings;
INSERT INTO meter_events (meter_id, ts, event)
SELECT 'E0001-M1', t, 'reset' FROM generate_series('2025-01-05'::timestamptz,
    '2025-12-20'::timestamptz, '9 days') t;
INSERT INTO quarantine (meter_id, ts, value, delta, reason)
SELECT 'E0001-M2', t, 1e9, 1e9, 'delta above the meter maximum'
FROM generate_series('2025-01-03'::timestamptz, '2025-12-20'::timestamptz, '11 days') t;
INSERT INTO alerts (ts, fingerprint, transition, rule_id, scope, entity_id, enterprise_id,
    severity, value, threshold, message)
SELECT t, 'kw/meter/E0001-M1', 'firing', 'kw', 'meter', 'E0001-M1', 'E0001', 'warning', 900,
    800, 'demand above 800 kW'
FROM generate_series('2025-01-02'::timestamptz, '2025-12-30'::timestamptz, '3 days') t;
ANALYZE;
"""
#: the template variables of the district, industry, enterprise and meter dashboards
#: (E0001 is in district 'shibei' and industry 'smart_appliances': 1 + 1 % 10, 1 + 1 % 12)
VARIABLES = {"district": "shibei", "industry": "smart_appliances", "enterprise": "E0001",
             "meter": "E0001-M1"}  # fmt: skip
DASHBOARDS = ("greenmon-city", "greenmon-district", "greenmon-industry", "greenmon-enterprise",
              "greenmon-meter")  # fmt: skip


def _timed(conn: psycopg.Connection[Any], sql: str, runs: int) -> tuple[float, float, int]:
    times, rows = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        rows = len(conn.execute(sql).fetchall())
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return (
        statistics.median(times),
        times[min(len(times) - 1, round(0.95 * (len(times) - 1)))],
        rows,
    )


def run(dsn: str, runs: int, enterprises: int) -> int:
    values: dict[str, Any] = {"database_url": dsn}
    settings = Settings(**values)
    migrate(settings)
    with psycopg.connect(settings.database_dsn(), autocommit=True) as conn:
        present = conn.execute("SELECT count(*) FROM enterprises").fetchone()
        if not present or not present[0]:
            started = time.perf_counter()
            conn.execute(FILL.replace("%(enterprises)s", str(int(enterprises))))
            print(f"filled in {time.perf_counter() - started:.1f} s")
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM enterprises), (SELECT count(*) FROM meters), "
            "(SELECT count(*) FROM rollups), (SELECT count(*) FROM meter_quality_daily), "
            "(SELECT count(*) FROM consumption_15m)"
        ).fetchone()
        e, m, r, q, c = counts or (0, 0, 0, 0, 0)
        print(f"enterprises {e}, meters {m}, roll-up rows {r}, meter-days {q}, 15-minute rows {c}")
        entries = [e for e in catalog() if e.dashboard in DASHBOARDS]
        worst = 0.0
        print(f"{'dashboard: query':<80} {'p50 ms':>8} {'p95 ms':>8} rows")
        for entry in entries:
            sql = expand(
                entry.sql,
                time_from=datetime(2025, 1, 1, tzinfo=TZ),
                time_to=datetime(2026, 1, 1, tzinfo=TZ),
                interval="1d",
                variables=VARIABLES,
            )
            p50, p95, rows = _timed(conn, sql, runs)
            worst = max(worst, p95)
            title = f"{entry.dashboard[9:]}: {entry.title}"[:80]
            print(f"{title:<80} {p50:>8.1f} {p95:>8.1f} {rows}")
    print(f"worst p95 {worst:.1f} ms (limit {LIMIT_MS:.0f} ms)")
    return 1 if worst > LIMIT_MS else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dsn", default=None, help="an existing (throwaway!) database")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--enterprises", type=int, default=4000)
    args = parser.parse_args()
    if args.dsn:
        return run(args.dsn, args.runs, args.enterprises)
    folder = Path(tempfile.mkdtemp(prefix="greenmon-bench-", dir="/tmp"))
    port = free_port()
    data_dir = folder / "pg"
    try:
        init_cluster(data_dir, port, fast=True)
        start_postgres(data_dir, port)
        create_database(local_dsn(port), "bench")
        return run(local_dsn(port, "bench"), args.runs, args.enterprises)
    finally:
        stop_postgres(data_dir)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

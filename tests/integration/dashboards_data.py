"""A database filled through the real pipeline, shared by a test module's dashboard tests.

A small simulated fleet (MQTT -> collector -> Kafka -> processor -> TimescaleDB) over two
January days, a counter reset and an impossible delta (quarantined) on one meter,
value-added, baselines, a plan with an energy cap through the CLI, ``rollups refresh``,
and one alert transition as the alerts service records it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from greenmon.domain.reference import MeterKind
from greenmon.domain.registry import Registry
from greenmon.feeds.fleet import build_registry
from greenmon.feeds.publisher import publish
from greenmon.feeds.simulator import SimReading, generate
from greenmon.settings import Settings
from greenmon.storage import db
from tests.integration.conftest import Pipeline, fresh_settings, run_cli
from tests.integration.evaluation_data import fill_evaluation
from tests.plugins.services import LocalServices

START = date(2025, 1, 14)
DAYS = 2
MONTH = date(2025, 1, 1)


@dataclass
class Filled:
    settings: Settings
    registry: Registry
    enterprise: str  # has a counter meter with a reset and a quarantined delta, an alert
    other: str  # another enterprise, in another district where the fleet allows
    meter: str
    district: str
    industry: str


def _settings(local_services: LocalServices) -> Settings:
    return fresh_settings(local_services, prefix="d")


def _faults(registry: Registry, readings: list[SimReading]) -> tuple[str, list[SimReading]]:
    """After the feed: a counter meter resets to 0, then jumps beyond its physical maximum."""
    meter = next(m for m in registry.meters if m.kind is MeterKind.COUNTER)
    last = max((r for r in readings if r.meter_id == meter.meter_id), key=lambda r: r.ts)
    t1, t2 = last.ts + timedelta(minutes=15), last.ts + timedelta(minutes=30)
    jump = meter.max_rate_per_hour * 10
    return meter.meter_id, [
        SimReading(meter.enterprise_id, meter.meter_id, t1, 0.0, meter.unit, meter.kind, 900),
        SimReading(meter.enterprise_id, meter.meter_id, t2, jump, meter.unit, meter.kind, 900),
    ]


def fill(local_services: LocalServices, tmp: Path) -> Iterator[Filled]:
    settings = _settings(local_services)
    registry = build_registry(6, 3, seed=5)
    pipeline = Pipeline(settings, tmp / "logs")
    try:
        pipeline.load_registry(registry)
        readings = list(generate(registry, START, DAYS, seed=5, tz=settings.tz))
        meter, extra = _faults(registry, readings)
        enterprise = extra[0].enterprise_id
        first = (
            registry.enterprises[0]
            if registry.enterprises[0].enterprise_id != enterprise
            else registry.enterprises[1]
        )
        ent = next(e for e in registry.enterprises if e.enterprise_id == enterprise)
        other = next(
            (e for e in registry.enterprises if e.district != ent.district), first
        ).enterprise_id
        va = ["enterprise_id,month,value_added,price_basis"]
        base = ["enterprise_id,energy_tce,co2_t,water_m3,value_added"]
        for i, e in enumerate(registry.enterprises):
            va.append(f"{e.enterprise_id},2025-01,{500 + 50 * i},constant_2020")
            # base-year totals for a 2-day month scale: some on track, some behind
            scale = 0.4 if i % 2 else 4.0
            base.append(f"{e.enterprise_id},{scale},{scale * 3},{scale * 10},{6000 + 600 * i}")
        (tmp / "va.csv").write_text("\n".join(va) + "\n")
        (tmp / "base.csv").write_text("\n".join(base) + "\n")
        (tmp / "plan.toml").write_text(
            '[[period]]\nname = "14th-FYP"\nbase_year = 2020\nend_year = 2025\n'
            'energy = 0.135\nco2 = 0.18\nwater = 0.16\nsource = "test plan"\n\n'
            f'[[cap]]\nenterprise = "{enterprise}"\nyear = 2025\nenergy_tce = 50\n'
        )
        run_cli(settings, "plan", "load", str(tmp / "plan.toml"))
        run_cli(settings, "value-added", "import", str(tmp / "va.csv"))
        run_cli(settings, "baseline", "import", str(tmp / "base.csv"))
        pipeline.start("processor")
        pipeline.start("collector")
        publish(readings, settings, client_id=f"dash-{uuid.uuid4().hex[:6]}")
        publish(extra, settings, client_id=f"dash-x-{uuid.uuid4().hex[:6]}")
        total = len(readings) + len(extra)
        assert pipeline.wait_stored(total) == total, pipeline.logs()
        pipeline.wait_idle()
        run_cli(settings, "rollups", "refresh", "--year", "2025")
        fill_evaluation(settings, registry, enterprise, tmp)
        with db.connect(settings, autocommit=True) as conn:
            _wait_quality(conn)
            conn.execute(
                "INSERT INTO alerts (ts, fingerprint, transition, rule_id, scope, entity_id, "
                "enterprise_id, severity, value, threshold, message) VALUES "
                "(%s, %s, 'firing', 'silent-meter', 'meter', %s, %s, 'warning', 120, 60, "
                "%s)",
                (
                    datetime(2025, 1, 15, 9, tzinfo=settings.tz),
                    f"fp-{meter}",
                    meter,
                    enterprise,
                    f"meter {meter} silent for 120 min",
                ),
            )
        yield Filled(settings, registry, enterprise, other, meter, ent.district, ent.industry)
    finally:
        pipeline.stop_all()


def _wait_quality(conn: db.Conn, timeout: float = 30.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = conn.execute("SELECT count(*) FROM meter_quality_daily").fetchone()
        if row and row[0]:
            return
        time.sleep(0.3)
    pytest.fail("the processor computed no data-quality rows")

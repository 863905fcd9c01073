"""Accounting end to end: readings and value-added in, intensities and status out.

Every expected number is worked out by hand below from the readings sent and the
published factors (GB/T 2589-2020 electricity 0.1229 kgce/kWh, natural gas 1.2143
kgce/m3; Shandong grid 2022 0.6410 kg CO2/kWh, natural gas 2.162 kg CO2/m3).
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from kafka import KafkaProducer

from greenmon.domain.reference import Carrier, MeterKind
from greenmon.domain.registry import Enterprise, Meter, Registry
from greenmon.feeds.publisher import publish
from greenmon.feeds.simulator import SimReading
from greenmon.storage import db
from tests.integration.conftest import Pipeline, read_topic, run_cli

pytestmark = pytest.mark.integration

TZ = ZoneInfo("Asia/Shanghai")
DAY = datetime(2023, 1, 10, tzinfo=TZ)

REGISTRY = Registry(
    enterprises=(
        Enterprise("A", "Alpha Chemicals", "xihaian", "chemicals"),
        Enterprise("B", "Beta Machines", "xihaian", "equipment"),
        Enterprise("C", "Gamma Chemicals", "jimo", "chemicals"),
    ),
    meters=(
        Meter("A-E", "A", Carrier.ELECTRICITY, "kWh", MeterKind.INTERVAL, 10_000.0),
        Meter("A-G", "A", Carrier.NATURAL_GAS, "m3", MeterKind.INTERVAL, 10_000.0),
        Meter("B-E", "B", Carrier.ELECTRICITY, "kWh", MeterKind.INTERVAL, 10_000.0),
        Meter(
            "B-F",
            "B",
            Carrier.NATURAL_GAS,
            "m3",
            MeterKind.INTERVAL,
            10_000.0,
            flags=frozenset({"feedstock"}),
        ),
        Meter("B-W", "B", Carrier.WATER, "m3", MeterKind.INTERVAL, 10_000.0),
        Meter("C-E", "C", Carrier.ELECTRICITY, "kWh", MeterKind.INTERVAL, 10_000.0),
    ),
)
# meter -> values of consecutive 15-minute intervals from 00:00 on DAY
SENT = {
    "A-E": [250.0] * 4,  # 1000 kWh
    "A-G": [50.0] * 2,  # 100 m3
    "B-E": [500.0] * 4,  # 2000 kWh
    "B-F": [300.0],  # 300 m3, feedstock
    "B-W": [40.0] * 2,  # 80 m3
    "C-E": [100.0] * 2,  # 200 kWh
}
PLAN = """
[[period]]
name = "14th-FYP"
base_year = 2020
end_year = 2025
energy = 0.135
co2 = 0.18
water = 0.16
source = "test plan"

[[price_index]]
year = 2023
industry = "*"
index = 1.08
"""
VALUE_ADDED = """enterprise_id,month,value_added,price_basis
A,2023-01,5,constant_2020
B,2023-01,8,constant_2020
C,2023-01,2.16,current
"""
BASELINES = """enterprise_id,energy_tce,co2_t,water_m3,value_added
A,0.3,1.0,1,5
B,0.6,2.5,100,8
C,0.02,0.2,1,2
"""


def _readings(meter_id: str, values: list[float], start: datetime) -> list[SimReading]:
    meter = REGISTRY.meter_map()[meter_id]
    return [
        SimReading(meter.enterprise_id, meter_id, start + timedelta(minutes=15 * i), v,
                   meter.unit, meter.kind, 900)
        for i, v in enumerate(values)
    ]  # fmt: skip


def _cli(pipeline: Pipeline, *args: str) -> str:
    return run_cli(pipeline.settings, *args).stdout


def _export(pipeline: Pipeline, entity: str, period: str = "month") -> dict[str, dict[str, str]]:
    out = _cli(pipeline, "export", "--entity", entity, "--period", period,
               "--from", "2023-01-01", "--to", "2023-01-31")  # fmt: skip
    return {row["id"]: row for row in csv.DictReader(io.StringIO(out))}


def _f(row: dict[str, str], column: str) -> float:
    return float(row[column])


def _month_totals(pipeline: Pipeline) -> dict[str, tuple[float, float, float, float]]:
    with db.connect(pipeline.settings) as conn:
        rows = conn.execute(
            "SELECT enterprise_id, energy_tce, excluded_tce, co2_t, water_m3 "
            "FROM enterprise_month ORDER BY 1"
        ).fetchall()
    return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}


def _wait_for(condition: Callable[[], bool], pipeline: Pipeline, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"condition not met in time\n{pipeline.logs()}")


def test_accounting_end_to_end(pipeline: Pipeline, tmp_path: Path) -> None:
    pipeline.load_registry(REGISTRY)
    (tmp_path / "plan.toml").write_text(PLAN)
    (tmp_path / "va.csv").write_text(VALUE_ADDED)
    (tmp_path / "baselines.csv").write_text(BASELINES)
    _cli(pipeline, "plan", "load", str(tmp_path / "plan.toml"))
    _cli(pipeline, "value-added", "import", str(tmp_path / "va.csv"))
    _cli(pipeline, "baseline", "import", str(tmp_path / "baselines.csv"))
    pipeline.start("processor")
    pipeline.start("collector")
    readings = [r for m, values in SENT.items() for r in _readings(m, values, DAY)]
    publish(readings, pipeline.settings, client_id="acct")
    assert pipeline.wait_stored(len(readings)) == len(readings), pipeline.logs()
    pipeline.wait_idle()

    # --- one month, per enterprise -------------------------------------------------------
    rows = _export(pipeline, "enterprise")
    a, b, c = rows["A"], rows["B"], rows["C"]
    # A: 1000 kWh x 0.1229/1000 + 100 m3 x 1.2143/1000 = 0.1229 + 0.12143 tce
    assert _f(a, "energy_tce") == pytest.approx(0.24433, rel=1e-12)
    # CO2: 1000 x 0.6410/1000 + 100 x 2.162/1000 = 0.641 + 0.2162 t
    assert _f(a, "co2_t") == pytest.approx(0.8572, rel=1e-12)
    assert _f(a, "value_added") == pytest.approx(5.0)
    assert _f(a, "energy_intensity") == pytest.approx(0.24433 / 5, rel=1e-12)
    # baseline intensity 0.3 / 5 = 0.06: reduction 1 - 0.048866 / 0.06
    assert _f(a, "energy_reduction") == pytest.approx(1 - 0.048866 / 0.06, rel=1e-9)
    # B: the feedstock gas is reported beside the total, not in it (NDRC 2022-803)
    assert _f(b, "energy_tce") == pytest.approx(2000 * 0.1229 / 1000, rel=1e-12)
    assert _f(b, "excluded_tce") == pytest.approx(300 * 1.2143 / 1000, rel=1e-12)
    assert _f(b, "co2_t") == pytest.approx(2000 * 0.6410 / 1000 + 300 * 2.162 / 1000)
    assert _f(b, "water_m3") == pytest.approx(80.0)
    # C filed 2.16 at current prices; the 2023 price index 1.08 deflates it to 2.0
    assert _f(c, "value_added") == pytest.approx(2.0, rel=1e-12)
    assert _f(c, "energy_intensity") == pytest.approx(200 * 0.1229 / 1000 / 2.0, rel=1e-12)
    # A is on track: its 2023 energy trajectory 0.06 x (1 - 0.135)^(3/5) = 0.05500 is above
    # 0.048866; CO2 0.8572/5 = 0.17144 < 0.2 x 0.82^0.6 = 0.17754; water 0 < 0.2 x 0.84^0.6
    assert abs(0.06 * (1 - 0.135) ** 0.6 - 0.05500) < 5e-6
    assert a["status"] == "on_track"
    # C is behind: 0.02458 / 2 = 0.01229 > 0.02/2 x 0.865^0.6 = 0.00917
    assert c["status"] == "behind"
    # --- groups are total over total ------------------------------------------------------
    district = _export(pipeline, "district")["xihaian"]
    assert _f(district, "energy_tce") == pytest.approx(0.24433 + 0.2458, rel=1e-12)
    assert _f(district, "value_added") == pytest.approx(13.0)
    assert _f(district, "energy_intensity") == pytest.approx((0.24433 + 0.2458) / 13, rel=1e-12)
    city = _export(pipeline, "city")["city"]
    assert _f(city, "energy_tce") == pytest.approx(0.24433 + 0.2458 + 0.02458, rel=1e-12)
    assert _f(city, "value_added") == pytest.approx(15.0)
    chemicals = _export(pipeline, "industry")["chemicals"]
    assert _f(chemicals, "energy_intensity") == pytest.approx(
        (0.24433 + 0.02458) / (5 + 2), rel=1e-12
    )

    # --- a value-added revision changes exactly the roll-ups it touches ---------------------
    before_c = _export(pipeline, "enterprise")["C"]
    (tmp_path / "va2.csv").write_text(
        "enterprise_id,month,value_added,price_basis\nA,2023-01,10,constant_2020\n"
    )
    _cli(pipeline, "value-added", "import", str(tmp_path / "va2.csv"))
    after = _export(pipeline, "enterprise")
    assert _f(after["A"], "energy_intensity") == pytest.approx(0.24433 / 10, rel=1e-12)
    assert after["C"] == before_c
    assert _f(_export(pipeline, "district")["xihaian"], "value_added") == pytest.approx(18.0)
    with db.connect(pipeline.settings) as conn:
        row = conn.execute("SELECT revision FROM value_added WHERE enterprise_id = 'A'").fetchone()
    assert row is not None and row[0] == 2

    # --- a late reading corrects its month and nothing else ---------------------------------
    months_before = _month_totals(pipeline)
    late = _readings("A-E", [200.0], DAY + timedelta(hours=2))
    publish(late, pipeline.settings, client_id="acct-late")
    pipeline.wait_stored(len(readings) + 1)
    pipeline.wait_idle()
    months_after = _month_totals(pipeline)
    assert months_after["A"][0] == pytest.approx(months_before["A"][0] + 200 * 0.1229 / 1000)
    assert months_after["B"] == months_before["B"] and months_after["C"] == months_before["C"]

    # --- recompute is idempotent and agrees with what the processor booked -----------------
    _cli(pipeline, "recompute", "--from", "2023-01-01", "--to", "2023-01-31")
    once = _month_totals(pipeline)
    for e, values in months_after.items():
        assert once[e] == pytest.approx(values, rel=1e-12)
    _cli(pipeline, "recompute", "--from", "2023-01-01", "--to", "2023-01-31")
    assert _month_totals(pipeline) == once

    # --- a factor change: jimo counts electricity by its coal-for-generation value ---------
    (tmp_path / "plan2.toml").write_text(
        PLAN
        + """
[electricity]
method = "equivalent"

[[electricity.override]]
scope = "district"
id = "jimo"
method = "generation"

[[electricity.generation_factor]]
year = 2023
kgce_per_kwh = 0.3
source = "test: provincial coal consumption of thermal power 2023"
"""
    )
    _cli(pipeline, "plan", "load", str(tmp_path / "plan2.toml"))
    _cli(pipeline, "recompute", "--from", "2023-01-01", "--to", "2023-01-31")
    changed = _month_totals(pipeline)
    assert changed["C"][0] == pytest.approx(200 * 0.3 / 1000, rel=1e-12)
    assert changed["A"] == pytest.approx(once["A"], rel=1e-12)

    # --- value-added over Kafka, and a bad message to the dead-letter topic ----------------
    producer = KafkaProducer(bootstrap_servers=pipeline.settings.kafka_bootstrap)
    good = {
        "enterprise_id": "C",
        "month": "2023-02",
        "value_added": 3,
        "price_basis": "constant_2020",
    }
    producer.send(pipeline.settings.topic_value_added, json.dumps(good).encode())
    producer.send(
        pipeline.settings.topic_value_added, b'{"enterprise_id": "C", "month": "2023-13"}'
    )
    producer.flush()
    producer.close()

    def stored() -> bool:
        with db.connect(pipeline.settings) as conn:
            r = conn.execute(
                "SELECT value_added FROM value_added WHERE enterprise_id = 'C' "
                "AND month = '2023-02-01'"
            ).fetchone()
        return r is not None and r[0] == 3.0

    _wait_for(stored, pipeline)
    dead = read_topic(pipeline.settings, pipeline.settings.topic_dlq, expected=1)
    assert any(
        d["source"] == "value_added" and "value_added is missing" in d["reason"] for d in dead
    )

    # --- the stored roll-ups (what dashboards read) agree with the export -------------------
    _cli(pipeline, "rollups", "refresh", "--year", "2023")
    exported = _export(pipeline, "district")
    with db.connect(pipeline.settings) as conn:
        stored_rows = conn.execute(
            "SELECT entity_id, energy_tce, value_added, energy_intensity, status FROM rollups "
            "WHERE entity = 'district' AND kind = 'month' AND month = '2023-01-01'"
        ).fetchall()
    assert {r[0] for r in stored_rows} == set(exported)
    for entity_id, energy, va, intensity, status in stored_rows:
        want = exported[entity_id]
        assert energy == pytest.approx(_f(want, "energy_tce"), rel=1e-12)
        assert va == pytest.approx(_f(want, "value_added"), rel=1e-12)
        assert intensity == pytest.approx(_f(want, "energy_intensity"), rel=1e-12)
        assert status == want["status"]

    # --- the status table for a person ------------------------------------------------------
    out = _cli(pipeline, "status", "--entity", "district", "--id", "xihaian", "--year", "2023")
    assert "district xihaian" in out and "14th-FYP" in out
    assert "energy" in out and "co2" in out and "water" in out

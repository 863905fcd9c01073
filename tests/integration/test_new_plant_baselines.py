"""Baselines of a plant new since the base year, and of an indicator not reported, stored
and rolled up in a real database (migration 0014)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from greenmon.domain.reference import Carrier, MeterKind
from greenmon.domain.registry import Enterprise, Meter, Registry
from greenmon.settings import Settings
from greenmon.storage import db
from greenmon.storage.registry_store import upsert_registry
from tests.integration.conftest import run_cli

pytestmark = pytest.mark.integration


def test_new_plant_adds_nothing_to_the_base_year_and_an_empty_cell_is_no_data(
    pipeline_settings: Settings, tmp_path: Path
) -> None:
    s = pipeline_settings
    registry = Registry(
        (Enterprise("OLD", "老厂", "jimo", "chemicals"),
         Enterprise("NEW", "新厂", "jimo", "chemicals"),
         Enterprise("GAP", "缺水", "laixi", "chemicals")),
        tuple(Meter(f"{e}-M", e, Carrier.ELECTRICITY, "kWh", MeterKind.INTERVAL, 1e6)
              for e in ("OLD", "NEW", "GAP")),
    )  # fmt: skip
    month = date(2025, 1, 1)
    with db.connect(s) as conn:
        upsert_registry(conn, registry)
        with conn.transaction():
            for e, tce in (("OLD", 9.0), ("NEW", 3.0), ("GAP", 1.0)):
                conn.execute(
                    "INSERT INTO enterprise_month (enterprise_id, month, energy_tce, co2_t, "
                    "water_m3) VALUES (%s, %s, %s, %s, %s)",
                    (e, month, tce, 2 * tce, 10 * tce),
                )
    (tmp_path / "va.csv").write_text(
        "enterprise_id,month,value_added,price_basis\n"
        "OLD,2025-01,90,constant_2020\nNEW,2025-01,60,constant_2020\n"
        "GAP,2025-01,10,constant_2020\n"
    )
    (tmp_path / "base.csv").write_text(
        "enterprise_id,energy_tce,co2_t,water_m3,value_added\n"
        "OLD,120,240,1000,1000\nNEW,0,0,0,0\nGAP,2,4,,10\n"
    )
    run_cli(s, "value-added", "import", str(tmp_path / "va.csv"))
    run_cli(s, "baseline", "import", str(tmp_path / "base.csv"))
    run_cli(s, "rollups", "refresh", "--year", "2025")
    with db.connect(s) as conn:
        rows = {
            (str(r[0]), str(r[1])): r[2:]
            for r in conn.execute(
                "SELECT entity, entity_id, energy_intensity, energy_reduction, energy_status, "
                "water_status FROM rollups WHERE kind = 'ytd' AND month = '2025-01-01'"
            ).fetchall()
        }
    # by hand: jimo = OLD + NEW: (9 + 3) / (90 + 60) = 0.08 against 120 / 1000 = 0.12
    intensity, reduction, energy, _water = rows[("district", "jimo")]
    assert intensity == pytest.approx(0.08) and reduction == pytest.approx(1 - 0.08 / 0.12)
    assert energy == "on_track"
    assert rows[("enterprise", "NEW")][2:] == ("no_data", "no_data")  # no intensity of its own
    assert rows[("enterprise", "GAP")][2:] == ("on_track", "no_data")  # water not reported
    assert rows[("district", "laixi")][3] == "no_data"
    status = run_cli(s, "status", "--entity", "enterprise", "--id", "NEW", "--year", "2025")
    assert "did not operate in the base year" in status.stdout

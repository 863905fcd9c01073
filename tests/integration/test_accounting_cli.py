"""Factor and baseline commands against a real database."""

from __future__ import annotations

import subprocess
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

HEADER = "factor_id,quantity,carrier,variant,value,unit,valid_from,valid_to,source\n"


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(settings, *args, check=False)


def _shandong_line(out: str) -> str:
    lines = [ln for ln in out.splitlines() if ln.startswith("co2") and " shandong " in ln]
    assert len(lines) == 1, out
    return lines[0]


def test_factors_in_force_on_each_side_of_a_boundary(
    pipeline_settings: Settings, tmp_path: Path
) -> None:
    s = pipeline_settings
    assert " 0.6838 " in _shandong_line(_cli(s, "factors", "list", "--date", "2021-12-31").stdout)
    assert " 0.641 " in _shandong_line(_cli(s, "factors", "list", "--date", "2022-01-01").stdout)
    # a later year overlapping the open-ended 2022 row is refused, and nothing is stored
    overlap = tmp_path / "overlap.csv"
    overlap.write_text(
        HEADER + 'co2-elec-shandong-2023,co2,electricity,shandong,0.6,kgCO2/kWh,2023-01-01,,"x"\n'
    )
    refused = _cli(s, "factors", "load", str(overlap))
    assert refused.returncode == 1 and "overlap" in refused.stderr
    assert " 0.641 " in _shandong_line(_cli(s, "factors", "list", "--date", "2023-06-01").stdout)
    # closing 2022 and adding 2023 in one file is accepted
    update = tmp_path / "update.csv"
    update.write_text(
        HEADER + "co2-elec-shandong-2022,co2,electricity,shandong,0.6410,kgCO2/kWh,2022-01-01,"
        '2023-01-01,"MEE/NBS 2022"\n'
        + "co2-elec-shandong-2023,co2,electricity,shandong,0.6,kgCO2/kWh,2023-01-01,,"
        '"test: a later publication"\n'
    )
    assert _cli(s, "factors", "load", str(update)).returncode == 0
    assert " 0.6 " in _shandong_line(_cli(s, "factors", "list", "--date", "2023-06-01").stdout)
    assert " 0.641 " in _shandong_line(_cli(s, "factors", "list", "--date", "2022-12-31").stdout)


def test_baseline_computed_from_stored_base_year(pipeline_settings: Settings) -> None:
    s = pipeline_settings
    registry = Registry(
        (Enterprise("E1", "One", "jimo", "textiles_apparel"),
         Enterprise("E2", "Two", "jimo", "textiles_apparel")),
        (Meter("E1-M", "E1", Carrier.ELECTRICITY, "kWh", MeterKind.INTERVAL, 1e6),
         Meter("E2-M", "E2", Carrier.ELECTRICITY, "kWh", MeterKind.INTERVAL, 1e6)),
    )  # fmt: skip
    with db.connect(s) as conn:
        upsert_registry(conn, registry)
        with conn.transaction():
            for m in range(1, 13):
                month = date(2020, m, 1)
                for e in ("E1", "E2"):
                    conn.execute(
                        "INSERT INTO enterprise_month (enterprise_id, month, energy_tce, co2_t, "
                        "water_m3) VALUES (%s, %s, %s, %s, %s)",
                        (e, month, 1.5 * m, 2.0 * m, 10.0),
                    )
                # E2 misses December's value-added: it gets no computed baseline
                for e in ("E1", "E2") if m < 12 else ("E1",):
                    conn.execute(
                        "INSERT INTO value_added (enterprise_id, month, value_added, "
                        "submitted, price_basis, deflator, source) "
                        "VALUES (%s, %s, 100, 100, 'constant_2020', 1, 'test')",
                        (e, month),
                    )
    done = _cli(s, "baseline", "compute")
    assert done.returncode == 0, done.stderr
    with db.connect(s) as conn:
        rows = conn.execute(
            "SELECT enterprise_id, period, energy_tce, co2_t, water_m3, value_added, source "
            "FROM baselines"
        ).fetchall()
    # 1.5 x (1 + ... + 12) = 1.5 x 78 = 117 tce; 2 x 78 = 156 t; 12 x 10 m3; 12 x 100
    assert rows == [("E1", "14th-FYP", 117.0, 156.0, 120.0, 1200.0, "computed")]


def test_a_plan_change_marks_every_year_with_data_for_refresh(
    pipeline_settings: Settings, tmp_path: Path
) -> None:
    from greenmon.storage.rollup_store import changed_years

    s = pipeline_settings
    registry = Registry(
        (Enterprise("E1", "One", "jimo", "textiles_apparel"),),
        (Meter("E1-M", "E1", Carrier.ELECTRICITY, "kWh", MeterKind.INTERVAL, 1e6),),
    )
    with db.connect(s) as conn:
        upsert_registry(conn, registry)
        with conn.transaction():
            for month in (date(2022, 5, 1), date(2024, 7, 1)):
                conn.execute(
                    "INSERT INTO enterprise_month (enterprise_id, month, energy_tce) "
                    "VALUES ('E1', %s, 1)",
                    (month,),
                )
        row = conn.execute("SELECT now()").fetchone()
        assert row is not None
        before = row[0]
        conn.commit()
        # nothing changed since: nothing to refresh
        assert changed_years(conn, before) == []
    plan = tmp_path / "plan.toml"
    plan.write_text(
        '[[period]]\nname = "14th-FYP"\nbase_year = 2020\nend_year = 2025\nenergy = 0.2\n'
        'co2 = 0.18\nwater = 0.16\nsource = "test"\n'
    )
    assert _cli(s, "plan", "load", str(plan)).returncode == 0
    with db.connect(s) as conn:
        # the r12 window reaches into the following year, hence 2023 and 2025
        assert changed_years(conn, before) == [2022, 2023, 2024, 2025]

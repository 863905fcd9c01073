"""The real steel-plant recording through the whole pipeline, driven by the CLI."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pandas as pd
import pytest

from tests.integration.conftest import Pipeline, run_cli
from tests.prerequisites import SHARED_DATA, require_file

pytestmark = pytest.mark.integration

STEEL = SHARED_DATA / "steel_industry_2018.csv"


def _daily_kwh_direct() -> dict[date, float]:
    """kWh per local day straight from the file: the stamp is an interval's END, and the
    midnight row carries the previous day's date, so the interval belongs to that date."""
    df = pd.read_csv(STEEL, encoding="utf-8-sig")
    stamp = pd.to_datetime(df["date"], format="%d/%m/%Y %H:%M")
    # end-of-interval 00:00 rows are dated the day they close, i.e. their start's day
    start_day = (stamp - pd.Timedelta(minutes=15)).dt.date
    midnight = (stamp.dt.hour == 0) & (stamp.dt.minute == 0)
    start_day = start_day.where(~midnight, stamp.dt.date)
    sums = df.groupby(start_day)["Usage_kWh"].sum()
    return {d: float(v) for d, v in zip(sums.index, sums.to_numpy(), strict=True)}


def _greenmon(pipeline: Pipeline, *args: str) -> str:
    return run_cli(pipeline.settings, *args).stdout


def test_steel_replay_gives_every_day_of_2018(pipeline: Pipeline) -> None:
    require_file(STEEL, "the steel-plant recording (../shared/data)")
    expected = _daily_kwh_direct()
    assert len(expected) == 365
    assert sum(expected.values()) == pytest.approx(959_636.71, abs=1e-6)
    pipeline.start("processor")
    pipeline.start("collector")
    _greenmon(pipeline, "replay", str(STEEL), "--enterprise", "STEEL", "--meter", "STEEL-E1")
    assert pipeline.wait_stored(35_040, timeout=300) == 35_040, pipeline.logs()
    pipeline.wait_idle()
    out = _greenmon(
        pipeline,
        "export", "--entity", "meter", "--period", "day",
        "--from", "2018-01-01", "--to", "2018-12-31", "--id", "STEEL-E1",
    )  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == ["id", "period_start", "quantity", "unit", "energy_tce", "co2_t",
                             "water_m3"]  # fmt: skip
    got = {date.fromisoformat(r["period_start"][:10]): float(r["quantity"]) for r in rows}
    assert set(got) == set(expected)
    for day, kwh in expected.items():
        assert got[day] == pytest.approx(kwh, rel=1e-9, abs=1e-9), day
    first = rows[0]
    assert first["period_start"] == "2018-01-01T00:00:00+08:00"
    assert first["unit"] == "kWh"
    # tce uses GB/T 2589-2008's 0.1229 kgce/kWh in 2018; no grid CO2 factor is published
    # for 2018, so CO2 is left empty rather than understated
    assert float(first["energy_tce"]) == pytest.approx(expected[date(2018, 1, 1)] * 0.1229 / 1000)
    assert first["co2_t"] == ""
    assert date(2018, 1, 1) + timedelta(days=364) in got

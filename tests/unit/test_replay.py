"""Replay of the steel plant's 2018 recording: parsing, totals, local days."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from greenmon.domain.reference import Carrier, MeterKind
from greenmon.domain.registry import parse_registry_csv, registry_csv
from greenmon.domain.wire import decode_json, parse_payload
from greenmon.errors import InvalidInput
from greenmon.feeds.replay import (
    STEEL_DAYS,
    STEEL_TOTAL_KWH,
    expected_daily_kwh,
    monthly_kwh,
    read_steel_csv,
    replay_readings,
    replay_registry,
)
from greenmon.feeds.simulator import SimReading
from tests.prerequisites import SHARED_DATA, require_file

STEEL = SHARED_DATA / "steel_industry_2018.csv"
TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def steel() -> Path:
    """The steel-plant recording in ../shared/data: missing, the test fails (not skips)."""
    return require_file(STEEL, "the steel-plant recording (../shared/data)")


needs_steel = pytest.mark.usefixtures("steel")


@pytest.fixture(scope="module")
def frame(steel: Path) -> pd.DataFrame:
    return read_steel_csv(steel, TZ)


@pytest.fixture(scope="module")
def readings(steel: Path) -> list[SimReading]:
    return list(replay_readings(steel, "E9001", "E9001-M01", TZ))


def exact_sum(values: list[float]) -> Decimal:
    return sum((Decimal(repr(v)) for v in values), Decimal(0))


@needs_steel
def test_frame_has_365_days_of_96_intervals(frame: pd.DataFrame) -> None:
    assert len(frame) == 35040
    per_day = Counter(frame["day"])
    assert len(per_day) == STEEL_DAYS
    assert set(per_day.values()) == {96}
    assert min(per_day) == date(2018, 1, 1)
    assert max(per_day) == date(2018, 12, 31)


@needs_steel
def test_midnight_row_belongs_to_the_previous_day(frame: pd.DataFrame) -> None:
    midnight = frame[frame["date"] == "01/01/2018 00:00"].iloc[0]
    assert midnight["end"] == pd.Timestamp("2018-01-02 00:00", tz=TZ)
    assert midnight["start"] == pd.Timestamp("2018-01-01 23:45", tz=TZ)
    assert midnight["day"] == date(2018, 1, 1)
    first = frame.iloc[0]
    assert first["date"] == "01/01/2018 00:15"
    assert first["start"] == pd.Timestamp("2018-01-01 00:00", tz=TZ)
    last = frame.iloc[-1]
    assert last["date"] == "31/12/2018 00:00"
    assert last["end"] == pd.Timestamp("2019-01-01 00:00", tz=TZ)


@needs_steel
def test_total_matches_the_dataset_readme(frame: pd.DataFrame) -> None:
    assert float(frame["Usage_kWh"].sum()) == pytest.approx(959636.71, abs=1e-6)
    assert exact_sum(frame["Usage_kWh"].tolist()) == STEEL_TOTAL_KWH


@needs_steel
def test_replay_readings(readings: list[SimReading]) -> None:
    assert len(readings) == 35040
    assert exact_sum([r.value for r in readings]) == STEEL_TOTAL_KWH
    first = readings[0]
    assert first.payload() == (
        b'{"ts":"2018-01-01T00:00:00+08:00","value":3.17,"unit":"kWh",'
        b'"kind":"interval","duration_s":900}'
    )
    assert first.topic("greenmon/v1") == "greenmon/v1/E9001/E9001-M01/reading"
    assert readings[95].ts == datetime(2018, 1, 1, 23, 45, tzinfo=TZ)  # the midnight row
    assert readings[95].value == 3.42
    assert readings[-1].ts.isoformat() == "2018-12-31T23:45:00+08:00"
    steps = {b.ts - a.ts for a, b in itertools.pairwise(readings)}
    assert steps == {timedelta(minutes=15)}
    for r in readings[:: 35040 // 50]:
        payload = parse_payload(decode_json(r.payload()))
        assert (payload.value, payload.unit, payload.kind) == (r.value, "kWh", MeterKind.INTERVAL)
        assert payload.duration_s == 900


@needs_steel
def test_replay_summed_by_local_day_equals_the_direct_calculation(
    readings: list[SimReading],
) -> None:
    expected = expected_daily_kwh(STEEL, TZ)
    assert len(expected) == STEEL_DAYS
    by_day: dict[date, Decimal] = defaultdict(Decimal)
    for r in readings:
        by_day[r.ts.date()] += Decimal(repr(r.value))
    assert set(by_day) == set(expected)
    for day, total in expected.items():
        assert float(by_day[day]) == pytest.approx(total, abs=1e-6), day
    assert sum(expected.values()) == pytest.approx(959636.71, abs=1e-6)
    assert expected[date(2018, 1, 1)] == pytest.approx(351.86, abs=1e-9)


@needs_steel
def test_monthly_totals() -> None:
    monthly = monthly_kwh(expected_daily_kwh(STEEL, TZ))
    assert sorted(monthly) == [(2018, m) for m in range(1, 13)]
    assert sum(monthly.values()) == pytest.approx(959636.71, abs=1e-6)


@needs_steel
def test_replay_as_counter() -> None:
    start = Decimal("1000.5")
    counter = list(
        replay_readings(
            STEEL, "E9001", "E9001-M01", TZ, kind=MeterKind.COUNTER, initial_register_kwh=start
        )
    )
    assert len(counter) == 35041
    assert Decimal(repr(counter[0].value)) == start
    assert Decimal(repr(counter[-1].value)) == start + STEEL_TOTAL_KWH
    assert counter[-1].ts.isoformat() == "2019-01-01T00:00:00+08:00"
    assert b"duration_s" not in counter[1].payload()


@needs_steel
def test_the_naive_clock_is_local_time_of_the_given_zone() -> None:
    seoul = ZoneInfo("Asia/Seoul")
    first = next(replay_readings(STEEL, "E9001", "E9001-M01", seoul))
    assert first.ts.isoformat() == "2018-01-01T00:00:00+09:00"
    assert expected_daily_kwh(STEEL, seoul) == expected_daily_kwh(STEEL, TZ)


def test_replay_registry_is_a_valid_registry() -> None:
    registry = replay_registry("E9001", "E9001-M01")
    (enterprise,) = registry.enterprises
    (meter,) = registry.meters
    assert (enterprise.district, enterprise.industry) == ("xihaian", "new_materials")
    assert (meter.carrier, meter.unit, meter.kind) == (Carrier.ELECTRICITY, "kWh", "interval")
    assert meter.max_rate_per_hour >= 4 * 157.18
    assert parse_registry_csv(registry_csv(registry.enterprises, registry.meters)) == registry
    counter = replay_registry("E9001", "E9001-M01", district="胶州市", kind=MeterKind.COUNTER)
    assert counter.enterprises[0].district == "jiaozhou"
    assert counter.meters[0].register_max is not None
    with pytest.raises(InvalidInput):
        replay_registry("E9001", "E9001-M01", industry="steel")


def test_gaps_in_a_recording_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "gap.csv"
    path.write_text(
        "date,Usage_kWh,NSM\n01/01/2018 00:15,1.5,900\n01/01/2018 00:45,2,2700\n", "utf-8"
    )
    with pytest.raises(InvalidInput, match="15 minutes"):
        read_steel_csv(path, TZ)
    (tmp_path / "other.csv").write_text("a,b\n1,2\n", "utf-8")
    with pytest.raises(InvalidInput, match="not the steel recording"):
        read_steel_csv(tmp_path / "other.csv", TZ)

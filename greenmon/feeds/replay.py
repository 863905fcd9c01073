"""Replay of the real steel-plant recording (``shared/data/steel_industry_2018.csv``).

The file has one row per 15 minutes of 2018; ``date`` (``dd/mm/yyyy HH:MM``) is the
END of the interval, and the midnight row of each day carries the previous day's date
(``01/01/2018 00:00`` is the interval 23:45-24:00 of 1 January). The naive clock times
are taken as local time in the zone passed in (by default the reference city's,
Asia/Shanghai, so the replayed plant's local days are the pipeline's local days).

:func:`replay_readings` turns it into readings of one electricity meter in kWh, as
``interval`` readings (ts = interval start, 900 s) or as a cumulative ``counter``.
:func:`expected_daily_kwh` computes the daily totals independently, straight from the
file with pandas, for checking what comes out of the pipeline.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

import pandas as pd

from greenmon.domain.reference import Carrier, MeterKind, district_id, industry_id
from greenmon.domain.registry import Enterprise, Meter, Registry
from greenmon.errors import InvalidInput
from greenmon.feeds.simulator import DEFAULT_TZ, SimReading

#: Total ``Usage_kWh`` of the 2018 file, as its README states.
STEEL_TOTAL_KWH: Final = Decimal("959636.71")
STEEL_DAYS: Final = 365
INTERVAL_S: Final = 900
_STEP: Final = pd.Timedelta(seconds=INTERVAL_S)
_DATE_FORMAT: Final = "%d/%m/%Y %H:%M"


def _read_raw(path: Path | str) -> pd.DataFrame:
    df = pd.read_csv(path, encoding="utf-8-sig", dtype={"date": str, "Usage_kWh": str})
    missing = {"date", "Usage_kWh", "NSM"} - set(df.columns)
    if missing:
        raise InvalidInput(f"{path}: not the steel recording, no column(s) {sorted(missing)}")
    # Python's float() is correctly rounded, so repr() gives back the file's digits.
    df["Usage_kWh"] = df["Usage_kWh"].map(float)
    if df["Usage_kWh"].isna().any() or (df["Usage_kWh"] < 0).any():
        raise InvalidInput(f"{path}: Usage_kWh has missing or negative values")
    return df


def read_steel_csv(path: Path | str, tz: ZoneInfo = DEFAULT_TZ) -> pd.DataFrame:
    """The recording with aware ``start`` and ``end`` of each interval, and its local ``day``.

    ``end`` is ``date`` corrected for the midnight rows (+1 day), ``start = end - 15 min``,
    both localised in ``tz``; ``day`` is the local date of ``start``. Raises InvalidInput
    unless the intervals are contiguous, strictly increasing 15-minute steps.
    """
    df = _read_raw(path)
    naive_end = pd.to_datetime(df["date"], format=_DATE_FORMAT)
    midnight = (naive_end.dt.hour == 0) & (naive_end.dt.minute == 0)
    naive_end = naive_end.where(~midnight, naive_end + pd.Timedelta(days=1))
    try:
        end = naive_end.dt.tz_localize(tz, ambiguous="raise", nonexistent="raise")
    except (ValueError, TypeError) as exc:  # pytz-style errors derive from ValueError
        raise InvalidInput(f"{path}: local times do not exist or repeat in {tz}: {exc}") from None
    df["end"] = end
    df["start"] = end - _STEP
    df["day"] = df["start"].dt.date
    steps = df["start"].diff().dropna()
    if not (steps == _STEP).all():
        bad = int((steps != _STEP).to_numpy().argmax()) + 1
        raise InvalidInput(
            f"{path}: row {bad + 2} ({df['date'].iloc[bad]}) does not follow the previous "
            "row by 15 minutes"
        )
    return df


def replay_readings(
    path: Path | str,
    enterprise_id: str,
    meter_id: str,
    tz: ZoneInfo = DEFAULT_TZ,
    *,
    kind: MeterKind = MeterKind.INTERVAL,
    initial_register_kwh: Decimal = Decimal(0),
) -> Iterator[SimReading]:
    """The recording as readings of one electricity meter in kWh, in time order.

    ``interval``: one reading per row, ``ts`` = interval start, 900 s. ``counter``: the
    register (``initial_register_kwh`` plus everything consumed so far, summed exactly
    in milli-kWh) at every interval boundary from the first start to the last end,
    one reading more than there are rows.
    """
    df = read_steel_csv(path, tz)
    starts: list[datetime] = [ts.to_pydatetime() for ts in df["start"]]
    values: list[float] = df["Usage_kWh"].tolist()
    if kind is MeterKind.INTERVAL:
        for ts, value in zip(starts, values, strict=True):
            yield SimReading(enterprise_id, meter_id, ts, value, "kWh", kind, INTERVAL_S)
        return
    register = _to_milli(initial_register_kwh)
    for ts, value in zip(starts, values, strict=True):
        yield SimReading(enterprise_id, meter_id, ts, register / 1000, "kWh", kind, INTERVAL_S)
        register += _to_milli(Decimal(repr(value)))
    end = df["end"].iloc[-1].to_pydatetime()
    yield SimReading(enterprise_id, meter_id, end, register / 1000, "kWh", kind, INTERVAL_S)


def _to_milli(kwh: Decimal) -> int:
    milli = kwh.scaleb(3)
    if milli != milli.to_integral_value() or milli < 0:
        raise InvalidInput(f"{kwh} kWh is negative or finer than the meter's 0.001 kWh")
    return int(milli)


def expected_daily_kwh(path: Path | str, tz: ZoneInfo = DEFAULT_TZ) -> dict[date, float]:
    """Usage_kWh summed by the local date of each interval's start, straight from the file.

    Deliberately independent of :func:`read_steel_csv`'s midnight correction: the start
    of an interval is the row's calendar date plus ``NSM - 900`` seconds (``NSM`` counts
    seconds since midnight of the interval end; the midnight row has ``NSM == 0``, so
    its start is 23:45 of the date it carries). Sums are rounded to 6 decimals to drop
    binary floating-point noise (the file has two).
    """
    df = _read_raw(path)
    day0 = pd.to_datetime(df["date"].str.slice(0, 10), format="%d/%m/%Y")
    offset = pd.to_timedelta((df["NSM"] - INTERVAL_S) % 86400, unit="s")
    start = (day0 + offset).dt.tz_localize(tz, ambiguous="raise", nonexistent="raise")
    sums = df["Usage_kWh"].groupby(start.dt.date).sum()
    return {_as_date(day): round(float(total), 6) for day, total in sums.items()}


def _as_date(value: object) -> date:
    if not isinstance(value, date):
        raise TypeError(f"expected a date, got {value!r}")
    return value


def monthly_kwh(daily: dict[date, float]) -> dict[tuple[int, int], float]:
    """Sum daily totals per (year, month), rounded to 6 decimals."""
    out: dict[tuple[int, int], float] = {}
    for day, total in sorted(daily.items()):
        key = (day.year, day.month)
        out[key] = out.get(key, 0.0) + total
    return {key: round(total, 6) for key, total in out.items()}


def replay_registry(
    enterprise_id: str,
    meter_id: str,
    *,
    name: str = "青岛钢铁回放样本工厂",
    district: str = "xihaian",
    industry: str = "new_materials",
    kind: MeterKind = MeterKind.INTERVAL,
    max_rate_per_hour: float = 1000.0,
) -> Registry:
    """One enterprise with the one electricity meter the replay publishes to.

    The recording peaks at 157.18 kWh per 15 min (629 kW); 1000 kWh/h is the default
    physical maximum. A counter gets ``register_max`` 1e9 kWh (never reached).
    """
    district_key, industry_key = district_id(district), industry_id(industry)
    if district_key is None or industry_key is None:
        raise InvalidInput(f"unknown district {district!r} or industry {industry!r}")
    enterprise = Enterprise(enterprise_id, name, district_key, industry_key)
    meter = Meter(
        meter_id=meter_id,
        enterprise_id=enterprise_id,
        carrier=Carrier.ELECTRICITY,
        unit="kWh",
        kind=kind,
        max_rate_per_hour=max_rate_per_hour,
        register_max=1e9 if kind is MeterKind.COUNTER else None,
    )
    return Registry((enterprise,), (meter,))

"""Monthly heating and cooling degree-days from daily mean temperatures. Pure.

HDD = sum over the month's days of max(0, base_h - T), CDD = sum of max(0, T - base_c),
T the day's mean temperature (°C); bases 18 °C and 26 °C by default (plan file
``[enpi]``). A month with a day missing has no degree-days: it is listed, never
guessed.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True, slots=True)
class MonthDegreeDays:
    month: date
    hdd: float
    cdd: float
    days: int
    complete: bool


def monthly(
    daily: Mapping[date, float], hdd_base_c: float, cdd_base_c: float
) -> dict[date, MonthDegreeDays]:
    """Degree-days of every month that has at least one day, keyed by its first day."""
    sums: dict[date, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for day, t in daily.items():
        acc = sums[day.replace(day=1)]
        acc[0] += max(0.0, hdd_base_c - t)
        acc[1] += max(0.0, t - cdd_base_c)
        acc[2] += 1
    out = {}
    for month, (hdd, cdd, n) in sorted(sums.items()):
        length = calendar.monthrange(month.year, month.month)[1]
        out[month] = MonthDegreeDays(month, hdd, cdd, int(n), int(n) == length)
    return out

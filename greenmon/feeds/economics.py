"""Simulated economics of a simulated fleet: monthly value-added and 2020 baselines.

Deterministic from the seed (and, for the baselines, from the simulated consumption,
which is itself deterministic from the seed). Pure: no I/O.

* **Value-added** (10^4 CNY, constant 2020 prices) per enterprise and month: the plant's
  energy scale (its meters' rated rates in tce per year at a typical load) over a
  plant-specific energy intensity drawn around its industry's, shaped by a season
  (Spring Festival in February, the year-end push in December).
* **Story** per enterprise, dealt from a seed-shuffled deck: ``on_track`` (every
  indicator's cumulative reduction since 2020 beats the plan by 3-12 points),
  ``behind`` (energy short of the plan by 3-15 points, CO2 and water often too) or
  ``new`` (the plant did not operate in 2020: its baseline is all zeros, so it has no
  base-year intensity of its own and adds nothing to its district's and the city's).
  From 3 enterprises on, each story occurs at least once.
* **Baselines** (2020 totals and value-added): the plant's intensity over the simulated
  span divided by ``1 - achieved reduction``, times its 2020 value-added (2025's over a
  drawn growth of 15-45 %).

A partial month is handled by pro-rating: :func:`covered_value_added` books each month's
value-added times the share of its days the simulation covers, so a two-day simulation
is compared with two days' worth of value-added, not a whole month's.
"""

from __future__ import annotations

import calendar
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final, Literal

from greenmon.domain.registry import Registry
from greenmon.feeds.intensity_truth import KGCE, SCALE, BaseYear, Plan
from greenmon.feeds.loadshape import derive_seed

Story = Literal["on_track", "behind", "new"]
#: one lap of the deck (shuffled per seed; the first three cover every story)
DECK: Final[tuple[Story, ...]] = ("behind", "on_track", "new", "on_track", "behind",
                                  "on_track", "on_track", "behind", "on_track", "new")  # fmt: skip
#: typical energy intensity by industry, tce per 10^4 CNY of value-added
INDUSTRY_INTENSITY: Final = {
    "marine": 0.35, "new_it": 0.08, "smart_appliances": 0.12, "rail_transit": 0.15,
    "nev": 0.18, "equipment": 0.20, "chemicals": 1.10, "food_beverage": 0.40,
    "textiles_apparel": 0.45, "biomedicine": 0.25, "new_materials": 0.90, "aerospace": 0.12,
}  # fmt: skip
#: value-added by month relative to an average month
SEASON: Final = (0.95, 0.80, 1.02, 1.00, 1.01, 1.03, 0.98, 0.97, 1.02, 1.03, 1.04, 1.15)
LOAD_FACTOR: Final = 0.35  # mean load over a year / a meter's rated maximum
Figures = Mapping[str, float]  # energy_tce, co2_t, water_m3 of one enterprise


@dataclass(frozen=True, slots=True)
class EnterpriseEconomics:
    enterprise_id: str
    story: Story
    monthly_value_added: Mapping[date, float]  # whole months of the year
    achieved: Mapping[str, float]  # indicator -> cumulative reduction since 2020 (none: new)
    baseline: BaseYear


def stories(registry: Registry, seed: int) -> dict[str, Story]:
    ids = sorted(e.enterprise_id for e in registry.enterprises)
    rng = random.Random(derive_seed(seed, "economics", "stories"))
    order = ids[:]
    rng.shuffle(order)
    return {e: DECK[i % len(DECK)] for i, e in enumerate(order)}


def monthly_value_added(registry: Registry, seed: int, year: int) -> dict[tuple[str, date], float]:
    """Each enterprise's value-added for every month of ``year`` (10^4 CNY, 2020 prices)."""
    scale: dict[str, float] = {}
    for m in registry.meters:
        kgce = KGCE.get(m.carrier.value, 0.0) * SCALE.get(m.unit, 1.0)
        scale[m.enterprise_id] = scale.get(m.enterprise_id, 0.0) + m.max_rate_per_hour * kgce
    out: dict[tuple[str, date], float] = {}
    for e in registry.enterprises:
        key = ("economics", "value_added", e.enterprise_id, str(year))
        rng = random.Random(derive_seed(seed, *key))
        intensity = INDUSTRY_INTENSITY[e.industry] * math.exp(rng.gauss(0.0, 0.25))
        tce_year = scale.get(e.enterprise_id, 0.0) * LOAD_FACTOR * 8760 / 1000
        average = max(tce_year / intensity / 12, 1.0)
        for month in range(1, 13):
            noise = 1.0 + rng.uniform(-0.03, 0.03)
            out[(e.enterprise_id, date(year, month, 1))] = round(
                average * SEASON[month - 1] * noise, 2
            )
    return out


def covered_days(start: date, days: int) -> dict[date, int]:
    """Days of each month the span ``start .. start + days`` covers."""
    out: dict[date, int] = {}
    for i in range(days):
        day = start + timedelta(days=i)
        out[day.replace(day=1)] = out.get(day.replace(day=1), 0) + 1
    return out


def covered_value_added(
    monthly: Mapping[tuple[str, date], float], start: date, days: int
) -> dict[tuple[str, date], float]:
    """Value-added pro-rated over the covered days of each month the span touches."""
    out = {}
    for month, n in covered_days(start, days).items():
        share = n / calendar.monthrange(month.year, month.month)[1]
        for (e, m), value in monthly.items():
            if m == month:
                out[(e, m)] = round(value * share, 4)
    return out


def economics(
    registry: Registry,
    seed: int,
    span_quantities: Mapping[str, Figures],
    span_value_added: Mapping[str, float],
    monthly: Mapping[tuple[str, date], float],
    plan: Plan,
) -> dict[str, EnterpriseEconomics]:
    """Stories, achieved reductions and 2020 baselines for every enterprise.

    ``span_quantities`` / ``span_value_added``: each enterprise's totals and booked
    value-added over the simulated span (from the truth, not from greenmon).
    """
    dealt = stories(registry, seed)
    out = {}
    for e in registry.enterprises:
        eid = e.enterprise_id
        rng = random.Random(derive_seed(seed, "economics", "baseline", eid))
        months = {m: v for (x, m), v in monthly.items() if x == eid}
        story = dealt[eid]
        if story == "new":
            out[eid] = EnterpriseEconomics(eid, story, months, {}, BaseYear(0.0, 0.0, 0.0, 0.0))
            continue
        achieved = _achieved(rng, story, plan)
        va_2020 = round(sum(months.values()) / rng.uniform(1.15, 1.45), 2)
        baseline = _baseline(
            span_quantities.get(eid, {}), span_value_added.get(eid, 0.0), achieved, va_2020
        )
        out[eid] = EnterpriseEconomics(eid, story, months, achieved, baseline)
    return out


def _baseline(
    figures: Figures, va: float, achieved: Mapping[str, float], va_2020: float
) -> BaseYear:
    """Base-year totals: the span's intensity / (1 - achieved reduction) x 2020 value-added."""

    def total(column: str, indicator: str) -> float:
        current = figures.get(column, 0.0) / va if va > 0 else 0.0
        return round(current / (1.0 - achieved[indicator]) * va_2020, 3)

    return BaseYear(
        total("energy_tce", "energy"), total("co2_t", "co2"), total("water_m3", "water"), va_2020
    )


def _achieved(rng: random.Random, story: Story, plan: Plan) -> dict[str, float]:
    out = {}
    for indicator, r in plan.reductions.items():
        ahead = rng.uniform(0.03, 0.12)
        behind = indicator == "energy" or (story == "behind" and rng.random() < 0.6)
        out[indicator] = r - rng.uniform(0.03, 0.15) if story == "behind" and behind else r + ahead
    return out

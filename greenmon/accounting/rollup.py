"""Roll-ups: totals, intensities and status per entity and period. Pure, no I/O.

Entities are enterprises, districts, industries and the city; periods are a month,
the year to date through a month, and the rolling twelve months ending with a
month (``ytd`` and ``r12`` rows are labelled by their last month). A group's
intensity is its total quantity over its total value-added, never an average of
ratios. Where a figure is incomplete (a member without value-added for a month of
the window, a missing factor, a missing baseline) the intensity is not computed
and the status says ``no_data``, rather than showing a number that is wrong.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Final, Literal

from greenmon.accounting.baseline import Baseline
from greenmon.accounting.indicators import IndicatorStatus, indicator_status
from greenmon.accounting.plan import Indicator, PlanPeriod, TargetOverride, period_for_year
from greenmon.accounting.plan import reduction_for as _reduction_for

EntityKind = Literal["enterprise", "district", "industry", "city"]
PeriodKind = Literal["month", "ytd", "r12"]
INDICATORS: Final[tuple[Indicator, ...]] = ("energy", "co2", "water")


@dataclass(frozen=True, slots=True)
class EnterpriseInfo:
    enterprise_id: str
    district: str
    industry: str


@dataclass(frozen=True, slots=True)
class MonthFigures:
    """One enterprise's stored totals for one month, and its value-added (None: none filed)."""

    energy_tce: float = 0.0
    excluded_tce: float = 0.0
    co2_t: float = 0.0
    water_m3: float = 0.0
    energy_gaps: int = 0
    co2_gaps: int = 0
    value_added: float | None = None


@dataclass(frozen=True, slots=True)
class RollupRow:
    entity: EntityKind
    entity_id: str
    kind: PeriodKind
    month: date
    energy_tce: float | None
    excluded_tce: float
    co2_t: float | None
    water_m3: float
    value_added: float | None
    indicators: Mapping[Indicator, IndicatorStatus]
    status: str
    reason: str


def add_months(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def window(kind: PeriodKind, month: date) -> list[date]:
    """The months a period covers, oldest first."""
    if kind == "month":
        return [month]
    if kind == "ytd":
        return [date(month.year, m, 1) for m in range(1, month.month + 1)]
    return [add_months(month, -i) for i in range(11, -1, -1)]


def months_between(first: date, last: date) -> list[date]:
    out, m = [], first.replace(day=1)
    while m <= last:
        out.append(m)
        m = add_months(m, 1)
    return out


@dataclass(slots=True)
class _Sums:
    energy: float = 0.0
    excluded: float = 0.0
    co2: float = 0.0
    water: float = 0.0
    gaps_energy: int = 0
    gaps_co2: int = 0
    value_added: float = 0.0
    va_missing: int = 0


def _sum(
    members: Iterable[str], months: list[date], data: Mapping[tuple[str, date], MonthFigures]
) -> _Sums:
    s = _Sums()
    empty = MonthFigures()
    for e in members:
        for m in months:
            f = data.get((e, m), empty)
            s.energy += f.energy_tce
            s.excluded += f.excluded_tce
            s.co2 += f.co2_t
            s.water += f.water_m3
            s.gaps_energy += f.energy_gaps
            s.gaps_co2 += f.co2_gaps
            if f.value_added is None:
                s.va_missing += 1
            else:
                s.value_added += f.value_added
    return s


def _overall(statuses: Iterable[str]) -> str:
    values = list(statuses)
    if "behind" in values:
        return "behind"
    if all(v == "on_track" for v in values):
        return "on_track"
    if all(v == "no_target" for v in values):
        return "no_target"
    return "no_data"


def _groups(
    enterprises: Iterable[EnterpriseInfo],
) -> dict[tuple[EntityKind, str], list[EnterpriseInfo]]:
    groups: dict[tuple[EntityKind, str], list[EnterpriseInfo]] = {}
    for e in enterprises:
        for key in (("enterprise", e.enterprise_id), ("district", e.district),
                    ("industry", e.industry), ("city", "city")):  # fmt: skip
            groups.setdefault(key, []).append(e)
    return groups


def rollups(
    enterprises: Iterable[EnterpriseInfo],
    data: Mapping[tuple[str, date], MonthFigures],
    baselines: Mapping[tuple[str, str], Baseline],
    periods: Iterable[PlanPeriod],
    overrides: Iterable[TargetOverride],
    *,
    months: Iterable[date],
    kinds: Iterable[PeriodKind] = ("month", "ytd", "r12"),
    entities: Iterable[EntityKind] = ("enterprise", "district", "industry", "city"),
) -> Iterator[RollupRow]:
    """Every requested entity, period kind and month, sorted by entity, id, kind, month."""
    periods = tuple(periods)
    overrides = tuple(overrides)
    wanted = set(entities)
    groups = _groups(enterprises)
    for (entity, entity_id), members in sorted(groups.items()):
        if entity not in wanted:
            continue
        for kind in kinds:
            for month in months:
                yield _row(entity, entity_id, members, kind, month, data, baselines, periods,
                           overrides)  # fmt: skip


def _row(
    entity: EntityKind,
    entity_id: str,
    members: list[EnterpriseInfo],
    kind: PeriodKind,
    month: date,
    data: Mapping[tuple[str, date], MonthFigures],
    baselines: Mapping[tuple[str, str], Baseline],
    periods: tuple[PlanPeriod, ...],
    overrides: tuple[TargetOverride, ...],
) -> RollupRow:
    ids = [m.enterprise_id for m in members]
    s = _sum(ids, window(kind, month), data)
    value_added = s.value_added if s.va_missing == 0 else None
    energy = s.energy if s.gaps_energy == 0 else None
    co2 = s.co2 if s.gaps_co2 == 0 else None
    period = period_for_year(periods, month.year)
    base = [baselines.get((e, period.name)) for e in ids] if period else []
    complete = period is not None and all(b is not None for b in base)
    b_sum = {ind: _baseline_sum(base, ind) if complete else None for ind in INDICATORS}
    b_va = sum(b.value_added for b in base if b) if complete else None
    quantities = {"energy": energy, "co2": co2, "water": s.water}
    scope = _scope(entity, entity_id, members)
    statuses = {
        ind: indicator_status(
            ind, month.year, quantities[ind], value_added, b_sum[ind], b_va, period,
            _reduction_for(period, overrides, ind, **scope) if period else None,
        )
        for ind in INDICATORS
    }  # fmt: skip
    reasons = []
    if s.va_missing:
        reasons.append(f"value-added missing for {s.va_missing} enterprise-month(s)")
    if s.gaps_energy or s.gaps_co2:
        reasons.append("a factor is missing for part of the period")
    if period is not None and not complete:
        missing = sum(1 for b in base if b is None)
        reasons.append(f"{missing} enterprise(s) lack a {period.name} baseline")
    if not reasons:
        reasons = [f"{i}: {st.reason}" for i, st in statuses.items() if st.reason]
    return RollupRow(
        entity, entity_id, kind, month, energy, s.excluded, co2, s.water, value_added,
        statuses, _overall(st.status for st in statuses.values()), "; ".join(reasons),
    )  # fmt: skip


def _baseline_sum(base: list[Baseline | None], indicator: Indicator) -> float | None:
    """Members' base-year total of one indicator; None if any member did not report it."""
    total = 0.0
    for b in base:
        value = b.quantity(indicator) if b is not None else None
        if value is None:
            return None
        total += value
    return total


def _scope(entity: EntityKind, entity_id: str, members: list[EnterpriseInfo]) -> dict[str, str]:
    if entity == "enterprise":
        e = members[0]
        return {"enterprise_id": e.enterprise_id, "district": e.district, "industry": e.industry}
    if entity == "district":
        return {"district": entity_id}
    if entity == "industry":
        return {"industry": entity_id}
    return {}

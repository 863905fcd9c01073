"""Plan periods, reduction targets and the target trajectory.

A plan period (e.g. the 14th Five-Year Plan, 2020 -> 2025) sets a cumulative
reduction ``r`` per indicator, from the intensity of its base year ``I0`` to its
end year. Within the period the trajectory for year ``y`` is::

    I0 * (1 - r) ** ((y - base_year) / (end_year - base_year))

Which year belongs to which period
    A period *covers* the years ``base_year < y <= end_year``. The base year is the
    year the period measures from, not a year it sets a target for: it belongs to the
    period that ends there (2025 is the 14th FYP's end year and the 15th FYP's base
    year, so 2025 is judged against the 14th FYP). A base year that no period ends in
    (2020, when the 14th FYP is the earliest period configured) belongs to no period:
    its status is ``no_target``. A year in a gap between periods, or before the first
    or after the last, likewise has no target; it is never compared with another plan.

Which reduction applies
    The period's reductions are the city's. Overrides per district, industry or
    enterprise replace them for one indicator at a time; the most specific override
    that sets the indicator wins (enterprise > industry > district > city), and an
    override that leaves it unset (None) inherits from the next less specific level.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

from greenmon.errors import InvalidInput

Indicator = Literal["energy", "co2", "water"]
INDICATORS: Final[tuple[Indicator, ...]] = ("energy", "co2", "water")

Scope = Literal["district", "industry", "enterprise"]
SCOPES: Final[tuple[Scope, ...]] = ("district", "industry", "enterprise")


def check_reduction(what: str, r: float) -> None:
    """Refuse a reduction outside ``[0, 1)`` (1 would mean a target intensity of zero)."""
    if isinstance(r, bool) or not isinstance(r, int | float) or not 0.0 <= r < 1.0:
        raise InvalidInput(f"{what}: reduction {r!r} must be a number in [0, 1)")


@dataclass(frozen=True, slots=True)
class Reductions:
    """Cumulative reduction per indicator over a plan period (0.135 = -13.5 %)."""

    energy: float
    co2: float
    water: float

    def __post_init__(self) -> None:
        for indicator in INDICATORS:
            check_reduction(indicator, self.of(indicator))

    def of(self, indicator: Indicator) -> float:
        value: float = getattr(self, indicator)
        return value


@dataclass(frozen=True, slots=True)
class PlanPeriod:
    """A plan period: its name, base and end year, reductions and where they come from."""

    name: str
    base_year: int
    end_year: int
    reductions: Reductions
    source: str

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise InvalidInput("plan period: name is empty")
        if not self.base_year < self.end_year:
            raise InvalidInput(
                f"plan period {self.name!r}: base year {self.base_year} "
                f"is not before end year {self.end_year}"
            )

    def covers(self, year: int) -> bool:
        """True for ``base_year < year <= end_year`` (see the module docstring)."""
        return self.base_year < year <= self.end_year


@dataclass(frozen=True, slots=True)
class TargetOverride:
    """Reductions for one district, industry or enterprise in one period; None inherits."""

    period: str
    scope: Scope
    scope_id: str
    energy: float | None = None
    co2: float | None = None
    water: float | None = None

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise InvalidInput(f"target override: scope {self.scope!r} is not one of {SCOPES}")
        for indicator in INDICATORS:
            value = self.of(indicator)
            if value is not None:
                check_reduction(f"target override {self.scope} {self.scope_id!r}", value)

    def of(self, indicator: Indicator) -> float | None:
        value: float | None = getattr(self, indicator)
        return value


def period_for_year(periods: Iterable[PlanPeriod], year: int) -> PlanPeriod | None:
    """The period covering ``year`` (``base_year < year <= end_year``), or None.

    Raises InvalidInput if two periods cover the year: configuration refuses
    overlapping periods, so this only guards against hand-built period lists.
    """
    found = [p for p in periods if p.covers(year)]
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise InvalidInput(f"plan periods overlap: {year} is covered by {names}")
    return found[0] if found else None


def reduction_for(
    period: PlanPeriod,
    overrides: Iterable[TargetOverride],
    indicator: Indicator,
    *,
    enterprise_id: str | None = None,
    district: str | None = None,
    industry: str | None = None,
) -> float:
    """The reduction target ``r`` of one indicator for an entity in ``period``.

    Pass what describes the entity: an enterprise gives its id, district and industry;
    a district group gives only ``district`` (district overrides, then the city); an
    industry group gives only ``industry``; the city gives nothing (the period's own
    value). Overrides of other periods are ignored.
    """
    by_scope: dict[tuple[str, str], float] = {}
    for o in overrides:
        value = o.of(indicator)
        if o.period == period.name and value is not None:
            by_scope.setdefault((o.scope, o.scope_id), value)
    for scope, scope_id in (
        ("enterprise", enterprise_id),
        ("industry", industry),
        ("district", district),
    ):
        if scope_id is not None and (scope, scope_id) in by_scope:
            return by_scope[(scope, scope_id)]
    return period.reductions.of(indicator)


def trajectory(i0: float, r: float, base_year: int, end_year: int, year: int) -> float:
    """Target intensity for ``year``: ``i0 * (1 - r) ** ((year - base) / (end - base))``.

    Defined for ``base_year <= year <= end_year`` (``i0`` at the base year, ``i0 * (1 - r)``
    at the end year); any other year raises InvalidInput rather than extrapolating a plan.
    """
    check_reduction("trajectory", r)
    if not base_year < end_year:
        raise InvalidInput(f"trajectory: base year {base_year} is not before end year {end_year}")
    if not base_year <= year <= end_year:
        raise InvalidInput(f"trajectory: {year} is outside the plan years {base_year}-{end_year}")
    if not (math.isfinite(i0) and i0 >= 0):
        raise InvalidInput(f"trajectory: baseline intensity {i0!r} is not a finite number >= 0")
    return i0 * math.pow(1.0 - r, (year - base_year) / (end_year - base_year))

"""Intensity per unit of value-added, the status of one indicator, and group totals.

Intensity is quantity (tce, t CO2 or m3) over value-added (10^4 CNY, constant 2020
prices). The intensity of a group (district, industry, city) is the group's total
quantity over its total value-added, never an average of its members' ratios: use
:func:`group_totals` first, then :func:`intensity` of the totals.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from greenmon.accounting.plan import Indicator, PlanPeriod, trajectory
from greenmon.errors import InvalidInput

Status = Literal["on_track", "behind", "no_data", "no_target"]


def intensity(quantity: float | None, value_added: float | None) -> float | None:
    """``quantity / value_added``; None when either is missing or value-added is not > 0."""
    if quantity is None or value_added is None or not value_added > 0:
        return None
    if not (math.isfinite(quantity) and math.isfinite(value_added)):
        return None
    return quantity / value_added


@dataclass(frozen=True, slots=True)
class IndicatorStatus:
    """Where one indicator of one entity stands in one year.

    ``reduction`` is the cumulative reduction ``1 - I / I0``; ``margin`` is relative to the
    trajectory, ``(trajectory - intensity) / trajectory``: positive is ahead, negative
    behind. ``reason`` explains ``no_data`` and ``no_target`` (empty otherwise).
    """

    indicator: Indicator
    year: int
    period: str | None
    quantity: float | None
    value_added: float | None
    intensity: float | None
    baseline_intensity: float | None
    reduction: float | None
    target_reduction: float | None
    trajectory: float | None
    margin: float | None
    status: Status
    reason: str = ""


def indicator_status(
    indicator: Indicator,
    year: int,
    quantity: float | None,
    value_added: float | None,
    baseline_quantity: float | None,
    baseline_value_added: float | None,
    period: PlanPeriod | None,
    r: float | None,
) -> IndicatorStatus:
    """Status of one indicator in ``year`` against ``period``'s trajectory.

    ``quantity`` and ``value_added`` cover the same span (year-to-date, say); the baseline
    is the period's base-year totals. ``period`` None means no configured period covers
    the year (``no_target``); a period that does not cover ``year`` raises InvalidInput,
    so a year is never compared with the wrong plan. The current intensity is reported
    whenever it can be computed, even without a target or baseline.
    """
    current = intensity(quantity, value_added)

    def result(status: Status, reason: str, **figures: float | None) -> IndicatorStatus:
        return IndicatorStatus(
            indicator=indicator,
            year=year,
            period=period.name if period is not None else None,
            quantity=quantity,
            value_added=value_added,
            intensity=current,
            baseline_intensity=figures.get("baseline_intensity"),
            reduction=figures.get("reduction"),
            target_reduction=r if period is not None else None,
            trajectory=figures.get("trajectory"),
            margin=figures.get("margin"),
            status=status,
            reason=reason,
        )

    if period is None:
        return result("no_target", f"no configured plan period covers {year}")
    _require_covers(period, year)
    if r is None:
        return result("no_target", f"plan period {period.name!r} sets no {indicator} target")
    base = intensity(baseline_quantity, baseline_value_added)
    missing = _missing_data(quantity, value_added, baseline_quantity, baseline_value_added)
    if base is not None and base <= 0 and not missing:
        missing = f"the {period.base_year} baseline {indicator} intensity is zero"
    if current is None or base is None or missing:
        reason = missing or "quantity or value-added is not a finite number"
        return result("no_data", reason, baseline_intensity=base)
    target = trajectory(base, r, period.base_year, period.end_year, year)
    return result(
        "behind" if current > target else "on_track",
        "",
        baseline_intensity=base,
        reduction=1.0 - current / base,
        trajectory=target,
        margin=(target - current) / target,
    )


def _require_covers(period: PlanPeriod, year: int) -> None:
    """Never compare a year with the wrong plan."""
    if not period.covers(year):
        raise InvalidInput(
            f"{year} is not in plan period {period.name!r} "
            f"({period.base_year} < year <= {period.end_year})"
        )


def _missing_data(
    quantity: float | None,
    value_added: float | None,
    baseline_quantity: float | None,
    baseline_value_added: float | None,
) -> str:
    reasons = []
    if value_added is None:
        reasons.append("value-added is missing")
    elif not value_added > 0:
        reasons.append(f"value-added is {value_added:g}, not positive")
    if quantity is None:
        reasons.append("quantity is missing")
    if baseline_quantity is None and baseline_value_added is None:
        reasons.append("no baseline")
    elif baseline_quantity is None:
        reasons.append("baseline quantity is missing")
    elif baseline_value_added is None:
        reasons.append("baseline value-added is missing")
    elif baseline_value_added == 0 and baseline_quantity == 0:
        reasons.append("no base-year intensity: it did not operate in the base year")
    elif not baseline_value_added > 0:
        reasons.append(f"baseline value-added is {baseline_value_added:g}, not positive")
    return "; ".join(reasons)


@dataclass(frozen=True, slots=True)
class Member:
    """One member's totals over a span (an enterprise in a district, say); None = missing."""

    entity_id: str
    quantity: float | None
    value_added: float | None


@dataclass(frozen=True, slots=True)
class GroupTotals:
    """Sums over a group's members.

    ``quantity`` and ``value_added`` sum what is known. A member without value-added (or
    without quantity) makes the group incomplete: ``complete`` is False, the member is
    named in ``missing_value_added`` / ``missing_quantity``, and :meth:`intensity` is
    None, because a ratio of sums over different members would be biased. The sums over
    members with both figures are ``covered_quantity`` / ``covered_value_added``, for an
    explicitly partial figure.
    """

    members: int
    quantity: float
    value_added: float
    missing_quantity: tuple[str, ...]
    missing_value_added: tuple[str, ...]
    covered_quantity: float
    covered_value_added: float

    @property
    def complete(self) -> bool:
        return not self.missing_quantity and not self.missing_value_added

    def intensity(self) -> float | None:
        """Total over total; None when the group is incomplete or has no value-added."""
        return intensity(self.quantity, self.value_added) if self.complete else None

    def covered_intensity(self) -> float | None:
        """Total over total among the members that have both figures."""
        return intensity(self.covered_quantity, self.covered_value_added)


def group_totals(rows: Iterable[Member]) -> GroupTotals:
    """Sum quantity and value-added over members (exact sums, order-independent)."""
    members = list(rows)
    q = [m.quantity for m in members if m.quantity is not None]
    va = [m.value_added for m in members if m.value_added is not None]
    both = [m for m in members if m.quantity is not None and m.value_added is not None]
    return GroupTotals(
        members=len(members),
        quantity=math.fsum(q),
        value_added=math.fsum(va),
        missing_quantity=tuple(m.entity_id for m in members if m.quantity is None),
        missing_value_added=tuple(m.entity_id for m in members if m.value_added is None),
        covered_quantity=math.fsum(m.quantity for m in both if m.quantity is not None),
        covered_value_added=math.fsum(m.value_added for m in both if m.value_added is not None),
    )

"""Year-end projection from the year-to-date pace, and the burn rate of an energy cap.

The pace is linear in days: a year-to-date quantity over ``days_elapsed`` days of a
``days_in_year``-day year projects to ``ytd * days_in_year / days_elapsed``. Days are
calendar days of the accounting year, counted up to and including ``as_of`` (pass the
last day whose data is complete).

Worked example: 120 tce by day 73 of 365 projects to 120 * 365 / 73 = 600 tce; against a
cap of 500 tce that is 24 % of the cap used in 20 % of the year, a burn rate of 1.2 and a
projected overrun of 100 tce.
"""

from __future__ import annotations

import calendar
import math
from dataclasses import dataclass
from datetime import date

from greenmon.errors import InvalidInput


def days_in_year(year: int) -> int:
    """365, or 366 in a leap year."""
    return 366 if calendar.isleap(year) else 365


def days_elapsed(as_of: date, year: int) -> int:
    """Days of ``year`` up to and including ``as_of``: 1 on 1 January, 73 on 14 March 2023.

    Clamped: 0 if ``as_of`` is before the year, ``days_in_year(year)`` if after it.
    """
    if as_of.year < year:
        return 0
    if as_of.year > year:
        return days_in_year(year)
    return as_of.timetuple().tm_yday


def _check_days(elapsed: int, in_year: int) -> None:
    if not 0 < elapsed <= in_year:
        raise InvalidInput(
            f"days elapsed {elapsed} must be between 1 and the {in_year} days of the year"
        )


def _check_quantity(what: str, value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise InvalidInput(f"{what} {value!r} is not a finite number >= 0")


def project_year_end(ytd_quantity: float, days_elapsed: int, days_in_year: int) -> float:
    """Year-end total at the year-to-date pace: ``ytd * days_in_year / days_elapsed``.

    Raises InvalidInput when no day has elapsed (there is no pace yet) or the inputs are
    out of range.
    """
    _check_days(days_elapsed, days_in_year)
    _check_quantity("year-to-date quantity", ytd_quantity)
    return ytd_quantity * days_in_year / days_elapsed


@dataclass(frozen=True, slots=True)
class CapBurn:
    """How fast an enterprise uses its yearly energy cap (all quantities in tce).

    ``burn_rate`` is the share of the cap used over the share of the year elapsed: above
    1 the cap runs out before the year ends. ``projected_overrun`` is
    ``max(projection - cap, 0)``; ``will_exceed`` is ``projection > cap``; ``exceeded``
    says the cap is already passed.
    """

    cap: float
    ytd: float
    share_of_cap_used: float
    share_of_year_elapsed: float
    burn_rate: float
    projection: float
    projected_overrun: float
    will_exceed: bool
    exceeded: bool


def cap_burn(ytd_tce: float, cap_tce: float, days_elapsed: int, days_in_year: int) -> CapBurn:
    """Burn rate of a yearly cap and the overrun projected at the year-to-date pace."""
    if not (math.isfinite(cap_tce) and cap_tce > 0):
        raise InvalidInput(f"energy cap {cap_tce!r} tce is not a finite number > 0")
    projection = project_year_end(ytd_tce, days_elapsed, days_in_year)
    used = ytd_tce / cap_tce
    elapsed = days_elapsed / days_in_year
    return CapBurn(
        cap=cap_tce,
        ytd=ytd_tce,
        share_of_cap_used=used,
        share_of_year_elapsed=elapsed,
        burn_rate=used / elapsed,
        projection=projection,
        projected_overrun=max(projection - cap_tce, 0.0),
        will_exceed=projection > cap_tce,
        exceeded=ytd_tce > cap_tce,
    )

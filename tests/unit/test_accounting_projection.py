"""Year-end projection at the year-to-date pace, and the burn rate of an energy cap."""

from __future__ import annotations

import math
from datetime import date

import pytest

from greenmon.accounting.projection import cap_burn, days_elapsed, days_in_year, project_year_end
from greenmon.errors import InvalidInput


def test_days_of_the_year() -> None:
    assert (days_in_year(2023), days_in_year(2024), days_in_year(1900), days_in_year(2000)) == (
        365,
        366,
        365,
        366,
    )
    assert days_elapsed(date(2023, 1, 1), 2023) == 1
    assert days_elapsed(date(2023, 3, 14), 2023) == 73  # 31 + 28 + 14
    assert days_elapsed(date(2024, 3, 14), 2024) == 74  # 31 + 29 + 14
    assert days_elapsed(date(2023, 12, 31), 2023) == 365
    assert days_elapsed(date(2022, 12, 31), 2023) == 0  # before the year
    assert days_elapsed(date(2024, 2, 1), 2023) == 365  # after it


def test_projection_and_cap_burn_over_the_cap() -> None:
    # 120 tce by day 73 of 365: 120 x 365 / 73 = 120 x 5 = 600 tce.
    assert project_year_end(120.0, 73, 365) == 600.0
    burn = cap_burn(120.0, 500.0, 73, 365)
    assert burn.projection == 600.0
    assert burn.projected_overrun == 100.0  # 600 - 500
    assert math.isclose(burn.share_of_cap_used, 0.24)  # 120 / 500
    assert math.isclose(burn.share_of_year_elapsed, 0.2)  # 73 / 365
    assert math.isclose(burn.burn_rate, 1.2)  # 0.24 / 0.2
    assert burn.will_exceed and not burn.exceeded
    assert (burn.cap, burn.ytd) == (500.0, 120.0)


def test_cap_burn_under_the_cap_in_a_leap_year() -> None:
    # 100 tce by 1 July 2024 (day 183 of 366): projection 100 x 366 / 183 = 200;
    # cap 250: used 0.4 of the cap in 0.5 of the year, burn rate 0.8, no overrun.
    elapsed = days_elapsed(date(2024, 7, 1), 2024)
    assert elapsed == 183
    burn = cap_burn(100.0, 250.0, elapsed, days_in_year(2024))
    assert burn.projection == 200.0
    assert math.isclose(burn.burn_rate, 0.8)
    assert burn.projected_overrun == 0.0
    assert not burn.will_exceed and not burn.exceeded


def test_a_cap_already_passed() -> None:
    burn = cap_burn(510.0, 500.0, 300, 365)
    assert burn.exceeded and burn.will_exceed
    # 510 x 365 / 300 = 620.5; overrun 120.5
    assert math.isclose(burn.projection, 620.5)
    assert math.isclose(burn.projected_overrun, 120.5)


def test_full_year_projects_to_itself() -> None:
    assert project_year_end(4321.0, 365, 365) == 4321.0


@pytest.mark.parametrize(
    ("ytd", "elapsed", "in_year", "match"),
    [
        (120.0, 0, 365, "days elapsed 0"),
        (120.0, 366, 365, "days elapsed 366"),
        (-1.0, 10, 365, "year-to-date quantity -1.0"),
        (math.nan, 10, 365, "year-to-date quantity nan"),
    ],
)
def test_projection_refuses_inputs_without_a_pace(
    ytd: float, elapsed: int, in_year: int, match: str
) -> None:
    with pytest.raises(InvalidInput, match=match):
        project_year_end(ytd, elapsed, in_year)


@pytest.mark.parametrize("cap", [0.0, -5.0, math.inf])
def test_cap_must_be_positive(cap: float) -> None:
    with pytest.raises(InvalidInput, match="energy cap"):
        cap_burn(10.0, cap, 10, 365)

"""Plan periods, which year belongs to which, overrides (most specific wins), the trajectory."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from greenmon.accounting.plan import (
    Indicator,
    PlanPeriod,
    Reductions,
    TargetOverride,
    period_for_year,
    reduction_for,
    trajectory,
)
from greenmon.errors import InvalidInput

FYP14 = PlanPeriod("14th-FYP", 2020, 2025, Reductions(0.135, 0.18, 0.16), "test")
FYP15 = PlanPeriod("15th-FYP", 2025, 2030, Reductions(0.10, 0.12, 0.08), "test")


# --- which period a year belongs to --------------------------------------------------------


def test_years_of_the_14th_and_15th_plans() -> None:
    periods = [FYP15, FYP14]  # order of configuration does not matter
    assert period_for_year(periods, 2019) is None
    # 2020 is the 14th FYP's base year and no configured period ends there: no target.
    assert period_for_year(periods, 2020) is None
    assert period_for_year(periods, 2021) is FYP14
    assert period_for_year(periods, 2024) is FYP14
    # 2025 ends the 14th FYP and is the 15th's base year: it is judged against the 14th.
    assert period_for_year(periods, 2025) is FYP14
    assert period_for_year(periods, 2026) is FYP15
    assert period_for_year(periods, 2030) is FYP15
    assert period_for_year(periods, 2031) is None


def test_a_year_after_the_only_period_has_none() -> None:
    assert period_for_year([FYP14], 2026) is None
    assert period_for_year([], 2023) is None


def test_overlapping_hand_built_periods_are_refused() -> None:
    other = PlanPeriod("other", 2022, 2027, Reductions(0.1, 0.1, 0.1), "test")
    assert period_for_year([FYP14, other], 2021) is FYP14  # only one covers 2021
    with pytest.raises(InvalidInput, match="2024 is covered by 14th-FYP, other"):
        period_for_year([FYP14, other], 2024)


@pytest.mark.parametrize("bad", [1.0, -0.01, 1.5, math.nan])
def test_reductions_outside_0_1_are_refused(bad: float) -> None:
    with pytest.raises(InvalidInput, match=r"\[0, 1\)"):
        Reductions(0.1, bad, 0.1)
    with pytest.raises(InvalidInput, match=r"\[0, 1\)"):
        TargetOverride("14th-FYP", "district", "xihaian", water=bad)


def test_a_period_must_end_after_its_base_year() -> None:
    with pytest.raises(InvalidInput, match="base year 2025 is not before end year 2025"):
        PlanPeriod("p", 2025, 2025, Reductions(0.1, 0.1, 0.1), "test")


# --- trajectory ----------------------------------------------------------------------------


def test_trajectory_at_base_and_end_year() -> None:
    assert trajectory(0.06, 0.135, 2020, 2025, 2020) == 0.06
    assert math.isclose(trajectory(0.06, 0.135, 2020, 2025, 2025), 0.06 * 0.865, rel_tol=1e-12)
    assert math.isclose(trajectory(2.0, 0.18, 2025, 2030, 2030), 1.64, rel_tol=1e-12)


def test_trajectory_in_2023() -> None:
    # 0.06 * (1 - 0.135) ** ((2023 - 2020) / (2025 - 2020)) = 0.06 * 0.865 ** 0.6.
    # By hand: ln 0.865 = -0.1450258, x 0.6 = -0.0870155, exp(...) = 0.9166629,
    # x 0.06 = 0.0549998.
    value = trajectory(0.06, 0.135, 2020, 2025, 2023)
    assert math.isclose(value, 0.06 * (1 - 0.135) ** ((2023 - 2020) / (2025 - 2020)))
    assert math.isclose(value, 0.0549998, rel_tol=1e-6)


@pytest.mark.parametrize("year", [2019, 2026])
def test_trajectory_does_not_extrapolate_outside_its_plan(year: int) -> None:
    with pytest.raises(InvalidInput, match=f"{year} is outside the plan years 2020-2025"):
        trajectory(0.06, 0.135, 2020, 2025, year)


@given(
    i0=st.floats(min_value=0, max_value=1e6, allow_nan=False),
    r=st.floats(min_value=0, max_value=1, exclude_max=True),
    base=st.integers(min_value=1990, max_value=2090),
    length=st.integers(min_value=1, max_value=10),
    data=st.data(),
)
def test_trajectory_is_monotone_non_increasing(
    i0: float, r: float, base: int, length: int, data: st.DataObject
) -> None:
    end = base + length
    y1 = data.draw(st.integers(min_value=base, max_value=end))
    y2 = data.draw(st.integers(min_value=y1, max_value=end))
    t1 = trajectory(i0, r, base, end, y1)
    t2 = trajectory(i0, r, base, end, y2)
    assert t2 <= t1
    assert 0 <= t2 <= i0


# --- which reduction applies -----------------------------------------------------------------


def test_most_specific_override_wins() -> None:
    overrides = [
        TargetOverride("14th-FYP", "district", "xihaian", energy=0.15, co2=0.20),
        TargetOverride("14th-FYP", "industry", "chemicals", energy=0.16),
        TargetOverride("14th-FYP", "enterprise", "E1", energy=0.20, water=0.25),
        TargetOverride("15th-FYP", "enterprise", "E1", energy=0.50),  # another period
    ]

    def r(indicator: Indicator, **entity: str) -> float:
        return reduction_for(FYP14, overrides, indicator, **entity)

    e1 = {"enterprise_id": "E1", "district": "xihaian", "industry": "chemicals"}
    assert r("energy", **e1) == 0.20  # enterprise
    assert r("water", **e1) == 0.25  # enterprise
    # E1's own co2 is None: its industry sets none either, so the district's 0.20 applies.
    assert r("co2", **e1) == 0.20
    e2 = {"enterprise_id": "E2", "district": "xihaian", "industry": "chemicals"}
    assert r("energy", **e2) == 0.16  # industry beats district
    assert r("water", **e2) == 0.16  # nobody sets water for E2: the city's 0.16
    e3 = {"enterprise_id": "E3", "district": "xihaian", "industry": "food_beverage"}
    assert r("energy", **e3) == 0.15  # district
    e4 = {"enterprise_id": "E4", "district": "laixi", "industry": "food_beverage"}
    assert r("energy", **e4) == 0.135  # city
    # Groups: a district uses district overrides then the city; an industry likewise.
    assert r("energy", district="xihaian") == 0.15
    assert r("water", district="xihaian") == 0.16
    assert r("energy", industry="chemicals") == 0.16
    assert r("energy") == 0.135
    assert reduction_for(FYP15, overrides, "energy", enterprise_id="E1") == 0.50


@pytest.mark.parametrize("present", list(itertools.product([False, True], repeat=3)), ids=str)
def test_every_combination_of_levels(present: tuple[bool, bool, bool]) -> None:
    has_enterprise, has_industry, has_district = present
    overrides = []
    if has_enterprise:
        overrides.append(TargetOverride("14th-FYP", "enterprise", "E1", co2=0.31))
    if has_industry:
        overrides.append(TargetOverride("14th-FYP", "industry", "nev", co2=0.32))
    if has_district:
        overrides.append(TargetOverride("14th-FYP", "district", "jimo", co2=0.33))
    # Every level also has an override that sets only energy: it must not shadow co2.
    overrides += [
        TargetOverride("14th-FYP", "enterprise", "E1", energy=0.01),
        TargetOverride("14th-FYP", "industry", "nev", energy=0.02),
        TargetOverride("14th-FYP", "district", "jimo", energy=0.03),
    ]
    expected = 0.31 if has_enterprise else 0.32 if has_industry else 0.33 if has_district else 0.18
    got = reduction_for(
        FYP14, overrides, "co2", enterprise_id="E1", district="jimo", industry="nev"
    )
    assert got == expected

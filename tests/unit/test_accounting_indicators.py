"""Intensity, the status of an indicator against its trajectory, and group totals."""

from __future__ import annotations

import math
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from greenmon.accounting.indicators import Member, group_totals, indicator_status, intensity
from greenmon.accounting.plan import PlanPeriod, Reductions
from greenmon.domain.factors import convert, default_factors
from greenmon.domain.reference import Carrier
from greenmon.errors import InvalidInput

FYP14 = PlanPeriod("14th-FYP", 2020, 2025, Reductions(0.135, 0.18, 0.16), "test")
POSITIVE = st.floats(min_value=1e-3, max_value=1e9, allow_nan=False, allow_infinity=False)
QUANTITY = st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False)


def test_worked_example_two_meter_enterprise() -> None:
    # One month of a two-meter enterprise: 1 000 000 kWh of electricity, 100 000 m3 of gas.
    table = default_factors()
    day = date(2023, 5, 1)
    elec = convert(table, Carrier.ELECTRICITY, 1_000_000, day, grid_region="shandong")
    gas = convert(table, Carrier.NATURAL_GAS, 100_000, day, grid_region="shandong")
    assert elec.energy_tce is not None and gas.energy_tce is not None
    assert elec.co2_t is not None and gas.co2_t is not None
    # tce = 1e6 x 0.1229 / 1000 + 1e5 x 1.2143 / 1000 = 122.9 + 121.43 = 244.33
    tce = elec.energy_tce + gas.energy_tce
    assert math.isclose(tce, 244.33, rel_tol=1e-12)
    # CO2 (Shandong 2022: 0.6410 kg/kWh; gas 2.162 kg/m3) = 641.0 + 216.2 = 857.2 t
    co2 = elec.co2_t + gas.co2_t
    assert math.isclose(co2, 857.2, rel_tol=1e-12)

    # Value-added 5 000 x 10^4 CNY; the 2020 baseline: 300 tce over 5 000 -> 0.06 tce/10^4 CNY.
    s = indicator_status("energy", 2023, tce, 5000.0, 300.0, 5000.0, FYP14, 0.135)
    assert s.intensity is not None and math.isclose(s.intensity, 0.048866, rel_tol=1e-12)
    assert s.baseline_intensity is not None and math.isclose(s.baseline_intensity, 0.06)
    # cumulative reduction = 1 - 0.048866 / 0.06 = 1 - 0.8144333... = 0.1855666...
    assert s.reduction is not None and math.isclose(s.reduction, 0.1855667, rel_tol=1e-6)
    # trajectory 2023 = 0.06 x (1 - 0.135)^((2023 - 2020) / (2025 - 2020)) = 0.06 x 0.865^0.6;
    # by hand: ln 0.865 = -0.1450258; x 0.6 = -0.0870155; exp = 0.9166629; x 0.06 = 0.0549998
    assert s.trajectory is not None
    assert math.isclose(s.trajectory, 0.06 * (1 - 0.135) ** ((2023 - 2020) / (2025 - 2020)))
    assert math.isclose(s.trajectory, 0.0549998, rel_tol=1e-6)
    # margin = (0.0549998 - 0.048866) / 0.0549998 = 0.111524
    assert s.margin is not None and math.isclose(s.margin, 0.111524, rel_tol=1e-5)
    assert s.status == "on_track" and s.reason == ""
    assert (s.period, s.target_reduction, s.indicator, s.year) == (
        "14th-FYP",
        0.135,
        "energy",
        2023,
    )

    # CO2 with a 2020 baseline of 1 000 t over 5 000 (0.2 t/10^4 CNY): 857.2 / 5000 = 0.17144,
    # reduction 1 - 0.17144 / 0.2 = 0.1428; trajectory 0.2 x 0.82^0.6 = 0.177549 (by hand:
    # ln 0.82 = -0.1984509; x 0.6 = -0.1190706; exp = 0.8877452); 0.17144 < 0.177549.
    c = indicator_status("co2", 2023, co2, 5000.0, 1000.0, 5000.0, FYP14, 0.18)
    assert c.intensity is not None and math.isclose(c.intensity, 0.17144, rel_tol=1e-12)
    assert c.reduction is not None and math.isclose(c.reduction, 0.1428, rel_tol=1e-9)
    assert c.trajectory is not None and math.isclose(c.trajectory, 0.177549, rel_tol=1e-6)
    assert c.status == "on_track"


def test_behind_when_intensity_is_above_the_trajectory() -> None:
    # 2025 (end year): trajectory = 0.06 x 0.865 = 0.0519; intensity 275 / 5000 = 0.055 > 0.0519.
    s = indicator_status("energy", 2025, 275.0, 5000.0, 300.0, 5000.0, FYP14, 0.135)
    assert s.trajectory is not None and math.isclose(s.trajectory, 0.0519)
    assert s.status == "behind"
    # margin = (0.0519 - 0.055) / 0.0519 = -0.0031 / 0.0519 = -0.0597303
    assert s.margin is not None and math.isclose(s.margin, -0.0597303, rel_tol=1e-5)
    assert s.reduction is not None and math.isclose(s.reduction, 1 - 0.055 / 0.06)


def test_exactly_on_the_trajectory_is_on_track() -> None:
    s = indicator_status("water", 2023, 600.0, 100.0, 600.0, 100.0, FYP14, 0.0)
    assert (s.status, s.trajectory, s.margin, s.reduction) == ("on_track", 6.0, 0.0, 0.0)


def test_year_in_no_period_has_no_target_and_says_so() -> None:
    s = indicator_status("energy", 2027, 244.33, 5000.0, 300.0, 5000.0, None, None)
    assert s.status == "no_target"
    assert "2027" in s.reason and "no configured plan period" in s.reason
    assert s.intensity is not None and math.isclose(s.intensity, 0.048866)
    assert s.trajectory is None and s.reduction is None and s.margin is None
    assert s.period is None and s.target_reduction is None


def test_a_period_that_does_not_cover_the_year_is_refused() -> None:
    with pytest.raises(InvalidInput, match="2026 is not in plan period '14th-FYP'"):
        indicator_status("energy", 2026, 1.0, 1.0, 1.0, 1.0, FYP14, 0.135)
    with pytest.raises(InvalidInput, match="2020 is not in plan period"):
        indicator_status("energy", 2020, 1.0, 1.0, 1.0, 1.0, FYP14, 0.135)


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ((10.0, None, 300.0, 5000.0), "value-added is missing"),
        ((10.0, 0.0, 300.0, 5000.0), "value-added is 0, not positive"),
        ((None, 100.0, 300.0, 5000.0), "quantity is missing"),
        ((10.0, 100.0, None, None), "no baseline"),
        ((10.0, 100.0, None, 5000.0), "baseline quantity is missing"),
        ((10.0, 100.0, 300.0, None), "baseline value-added is missing"),
        ((10.0, 100.0, 300.0, 0.0), "baseline value-added is 0, not positive"),
        ((10.0, 100.0, 0.0, 5000.0), "the 2020 baseline energy intensity is zero"),
        ((10.0, None, None, None), "value-added is missing; no baseline"),
    ],
)
def test_no_data_says_which_figure_is_missing(
    args: tuple[float | None, float | None, float | None, float | None], reason: str
) -> None:
    s = indicator_status("energy", 2023, *args, FYP14, 0.135)
    assert s.status == "no_data"
    assert s.reason == reason
    assert s.trajectory is None and s.margin is None and s.reduction is None


def test_intensity_is_none_without_positive_value_added() -> None:
    assert intensity(10.0, 4.0) == 2.5
    assert intensity(0.0, 4.0) == 0.0
    assert intensity(None, 4.0) is None
    assert intensity(10.0, None) is None
    assert intensity(10.0, 0.0) is None
    assert intensity(10.0, -5.0) is None


@given(q=QUANTITY, va=POSITIVE, k=st.floats(min_value=1e-3, max_value=1e3))
def test_scaling_value_added_by_k_scales_intensity_by_one_over_k(
    q: float, va: float, k: float
) -> None:
    base, scaled = intensity(q, va), intensity(q, va * k)
    assert base is not None and scaled is not None
    assert math.isclose(scaled, base / k, rel_tol=1e-9, abs_tol=1e-300)


# --- groups ----------------------------------------------------------------------------------


def test_group_intensity_is_total_over_total_not_mean_of_ratios() -> None:
    # A: 1 tce over 10 -> 0.1; B: 100 tce over 100 -> 1.0. Mean of ratios = 0.55;
    # the group's intensity is (1 + 100) / (10 + 100) = 101 / 110 = 0.918181...
    g = group_totals([Member("A", 1.0, 10.0), Member("B", 100.0, 100.0)])
    assert (g.quantity, g.value_added, g.members, g.complete) == (101.0, 110.0, 2, True)
    got = g.intensity()
    assert got is not None and math.isclose(got, 0.9181818, rel_tol=1e-6)
    mean_of_ratios = (1.0 / 10.0 + 100.0 / 100.0) / 2
    assert math.isclose(mean_of_ratios, 0.55)
    assert not math.isclose(got, mean_of_ratios)


def test_member_without_value_added_makes_the_group_incomplete() -> None:
    g = group_totals([Member("A", 1.0, 10.0), Member("B", 100.0, None), Member("C", None, 30.0)])
    assert not g.complete
    assert g.missing_value_added == ("B",) and g.missing_quantity == ("C",)
    assert (g.quantity, g.value_added) == (101.0, 40.0)
    assert g.intensity() is None
    assert (g.covered_quantity, g.covered_value_added, g.covered_intensity()) == (1.0, 10.0, 0.1)


MEMBERS = st.lists(st.tuples(QUANTITY, POSITIVE), min_size=1, max_size=20)


@given(rows=MEMBERS)
def test_group_intensity_is_total_over_total(rows: list[tuple[float, float]]) -> None:
    g = group_totals(Member(f"E{i}", q, va) for i, (q, va) in enumerate(rows))
    total_q, total_va = sum(q for q, _ in rows), sum(va for _, va in rows)
    got = g.intensity()
    assert got is not None
    assert math.isclose(got, total_q / total_va, rel_tol=1e-9, abs_tol=1e-300)
    ratios = [q / va for q, va in rows]
    # A ratio of sums lies between the smallest and the largest member ratio.
    assert min(ratios) * (1 - 1e-9) <= got <= max(ratios) * (1 + 1e-9)


@given(
    rows=st.lists(
        st.tuples(st.sampled_from(["shinan", "jimo", "laixi"]), QUANTITY, POSITIVE),
        min_size=1,
        max_size=30,
    )
)
def test_district_totals_are_the_sum_of_their_enterprises(
    rows: list[tuple[str, float, float]],
) -> None:
    members = [(d, Member(f"E{i}", q, va)) for i, (d, q, va) in enumerate(rows)]
    city = group_totals(m for _, m in members)
    districts = {d: group_totals(m for dd, m in members if dd == d) for d, _ in members}
    for d, g in districts.items():
        assert math.isclose(g.quantity, sum(q for dd, q, _ in rows if dd == d), rel_tol=1e-9)
        assert math.isclose(g.value_added, sum(va for dd, _, va in rows if dd == d), rel_tol=1e-9)
        assert g.members == sum(1 for dd, _, _ in rows if dd == d)
    assert math.isclose(city.quantity, sum(g.quantity for g in districts.values()), rel_tol=1e-9)
    assert math.isclose(
        city.value_added, sum(g.value_added for g in districts.values()), rel_tol=1e-9
    )


def test_a_plant_new_since_the_base_year_has_no_baseline_intensity() -> None:
    period = PlanPeriod("14th-FYP", 2020, 2025, Reductions(0.135, 0.18, 0.16), "test")
    s = indicator_status("energy", 2025, 10.0, 100.0, 0.0, 0.0, period, 0.135)
    assert s.status == "no_data" and s.intensity == 0.1 and s.baseline_intensity is None
    assert s.reason == "no base-year intensity: it did not operate in the base year"

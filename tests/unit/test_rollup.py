"""Roll-up properties: groups add up, and their intensity is total over total."""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from greenmon.accounting.baseline import Baseline
from greenmon.accounting.plan import PlanPeriod, Reductions
from greenmon.accounting.rollup import (
    EnterpriseInfo,
    MonthFigures,
    add_months,
    months_between,
    rollups,
    window,
)

PERIOD = PlanPeriod("14th-FYP", 2020, 2025, Reductions(0.135, 0.18, 0.16), "test")
MONTH = date(2023, 3, 1)
DISTRICTS = ("xihaian", "jimo")
INDUSTRIES = ("chemicals", "equipment")

Member = tuple[str, str, float, float, float, float]

amount = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)
positive = st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False)
enterprise = st.tuples(
    st.sampled_from(DISTRICTS), st.sampled_from(INDUSTRIES), amount, amount, amount, positive
)


def _build(
    members: list[Member], va_scale: float = 1.0
) -> tuple[list[EnterpriseInfo], dict[tuple[str, date], MonthFigures]]:
    infos, data = [], {}
    for i, (d, ind, e, c, w, va) in enumerate(members):
        eid = f"E{i}"
        infos.append(EnterpriseInfo(eid, d, ind))
        data[(eid, MONTH)] = MonthFigures(e, 0.0, c, w, 0, 0, va * va_scale)
    return infos, data


@settings(max_examples=60, deadline=None)
@given(st.lists(enterprise, min_size=1, max_size=8))
def test_groups_add_up_and_intensity_is_total_over_total(members: list[Member]) -> None:
    infos, data = _build(members)
    rows = {
        (r.entity, r.entity_id): r
        for r in rollups(infos, data, {}, [PERIOD], [], months=[MONTH], kinds=("month",))
    }
    for district in DISTRICTS:
        mine = [m for m in members if m[0] == district]
        if not mine:
            assert ("district", district) not in rows
            continue
        row = rows[("district", district)]
        energy = sum(m[2] for m in mine)
        va = sum(m[5] for m in mine)
        assert row.energy_tce is not None and row.value_added is not None
        assert abs(row.energy_tce - energy) <= 1e-9 * max(energy, 1)
        assert abs(row.value_added - va) <= 1e-9 * va
        got = row.indicators["energy"].intensity
        assert got is not None and abs(got - energy / va) <= 1e-9 * max(energy / va, 1e-12)
        # no baselines were given: the status says so rather than inventing one
        assert row.status == "no_data"
    city = rows[("city", "city")]
    assert city.value_added is not None
    assert abs(city.value_added - sum(m[5] for m in members)) <= 1e-9 * city.value_added


@settings(max_examples=40, deadline=None)
@given(st.lists(enterprise, min_size=1, max_size=5), st.floats(min_value=0.01, max_value=100))
def test_scaling_value_added_by_k_scales_intensity_by_one_over_k(
    members: list[Member], k: float
) -> None:
    infos, data = _build(members)
    infos_k, data_k = _build(members, va_scale=k)
    base = list(rollups(infos, data, {}, [PERIOD], [], months=[MONTH], kinds=("month",)))
    scaled = list(rollups(infos_k, data_k, {}, [PERIOD], [], months=[MONTH], kinds=("month",)))
    for r0, rk in zip(base, scaled, strict=True):
        i0, ik = r0.indicators["energy"].intensity, rk.indicators["energy"].intensity
        assert i0 is not None and ik is not None
        assert abs(ik - i0 / k) <= 1e-9 * max(abs(i0 / k), 1e-12)


def test_missing_value_added_month_makes_the_group_incomplete() -> None:
    infos = [
        EnterpriseInfo("A", "xihaian", "chemicals"),
        EnterpriseInfo("B", "xihaian", "chemicals"),
    ]
    data = {
        ("A", MONTH): MonthFigures(1.0, 0, 1.0, 1.0, 0, 0, 10.0),
        ("B", MONTH): MonthFigures(1.0, 0, 1.0, 1.0, 0, 0, None),
    }
    baselines = {(e, "14th-FYP"): Baseline(e, "14th-FYP", 1.0, 1.0, 1.0, 10.0) for e in "AB"}
    rows = {
        (r.entity, r.entity_id): r
        for r in rollups(infos, data, baselines, [PERIOD], [], months=[MONTH], kinds=("month",))
    }
    district = rows[("district", "xihaian")]
    assert district.value_added is None
    assert district.indicators["energy"].intensity is None
    assert district.status == "no_data"
    assert "value-added missing for 1 enterprise-month" in district.reason
    # A alone is complete: intensity 1/10 = 0.1 equals its baseline 1/10, but the 2023
    # trajectory is 0.1 x 0.865^(3/5) = 0.0917, so it is behind
    assert rows[("enterprise", "A")].indicators["energy"].status == "behind"
    assert rows[("enterprise", "A")].status == "behind"


def test_a_year_without_a_plan_period_has_no_target() -> None:
    infos, data = _build([("xihaian", "chemicals", 1.0, 1.0, 1.0, 10.0)])
    later = date(2027, 3, 1)
    data = {("E0", later): data[("E0", MONTH)]}
    row = next(iter(rollups(infos, data, {}, [PERIOD], [], months=[later], kinds=("month",))))
    assert row.status == "no_target"
    assert all(s.trajectory is None for s in row.indicators.values())


def test_windows() -> None:
    assert window("month", MONTH) == [MONTH]
    assert window("ytd", MONTH) == [date(2023, 1, 1), date(2023, 2, 1), MONTH]
    r12 = window("r12", MONTH)
    assert len(r12) == 12 and r12[0] == date(2022, 4, 1) and r12[-1] == MONTH
    assert add_months(date(2023, 12, 1), 1) == date(2024, 1, 1)
    assert add_months(date(2023, 1, 1), -1) == date(2022, 12, 1)
    assert months_between(date(2022, 11, 15), date(2023, 2, 1)) == [
        date(2022, 11, 1),
        date(2022, 12, 1),
        date(2023, 1, 1),
        date(2023, 2, 1),
    ]

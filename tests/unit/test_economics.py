"""Simulated economics and the independent intensity truth (pure, no services)."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import pytest

from greenmon.domain.reference import Carrier, MeterKind
from greenmon.domain.registry import Enterprise, Meter, Registry
from greenmon.feeds import economics as econ
from greenmon.feeds.fleet import build_registry
from greenmon.feeds.intensity_truth import BaseYear, Plan, monthly_quantities, ytd_truth
from greenmon.feeds.truth import TruthRow, truth_rows

PLAN = Plan(2020, 2025, {"energy": 0.135, "co2": 0.18, "water": 0.16})
TZ = ZoneInfo("Asia/Shanghai")


def test_value_added_is_pro_rated_over_the_covered_days() -> None:
    monthly = {("E1", date(2025, 1, 1)): 310.0, ("E1", date(2025, 2, 1)): 280.0,
               ("E1", date(2025, 3, 1)): 999.0}  # fmt: skip
    # 2025-01-30 .. 2025-02-02: 2 of 31 January days, 2 of 28 February days
    assert econ.covered_days(date(2025, 1, 30), 4) == {date(2025, 1, 1): 2, date(2025, 2, 1): 2}
    assert econ.covered_value_added(monthly, date(2025, 1, 30), 4) == {
        ("E1", date(2025, 1, 1)): 20.0,
        ("E1", date(2025, 2, 1)): 20.0,
    }


def test_economics_are_deterministic_and_spread() -> None:
    registry = build_registry(12, 3, seed=7)
    a = econ.monthly_value_added(registry, 7, 2025)
    assert a == econ.monthly_value_added(registry, 7, 2025)
    assert a != econ.monthly_value_added(registry, 8, 2025)
    assert len(a) == 12 * 12 and all(v > 0 for v in a.values())
    stories = econ.stories(registry, 7)
    assert {s: list(stories.values()).count(s) for s in ("on_track", "behind", "new")} == {
        "on_track": 6, "behind": 4, "new": 2}  # fmt: skip
    small = build_registry(3, 1, seed=7)
    assert set(econ.stories(small, 7).values()) == {"on_track", "behind", "new"}


def test_baselines_give_each_story_its_status_in_the_truth() -> None:
    registry = build_registry(10, 4, seed=3)
    rows = truth_rows(registry, date(2025, 1, 1), 1, 900, 3, TZ)
    quantities = monthly_quantities(rows, registry, "shandong")
    monthly = econ.monthly_value_added(registry, 3, 2025)
    filed = econ.covered_value_added(monthly, date(2025, 1, 1), 1)
    span = {
        str(r["enterprise_id"]): {c: float(r[c]) for c in ("energy_tce", "co2_t", "water_m3")}
        for r in quantities.to_dict("records")
    }
    drawn = econ.economics(registry, 3, span, {e: v for (e, _m), v in filed.items()}, monthly,
                           PLAN)  # fmt: skip
    truth = ytd_truth(quantities, filed, {e: x.baseline for e, x in drawn.items()}, registry,
                      PLAN, date(2025, 1, 1))  # fmt: skip
    energy = truth[(truth["entity"] == "enterprise") & (truth["indicator"] == "energy")]
    status = dict(zip(energy["entity_id"], energy["status"], strict=True))
    for e, x in drawn.items():
        want = {"on_track": "on_track", "behind": "behind", "new": "no_data"}[x.story]
        assert status[e] == want, (e, x)
    city = truth[truth["entity"] == "city"]
    assert set(city["status"]) <= {"on_track", "behind"}


def test_truth_by_hand() -> None:
    """Two plants, one carrier each: the arithmetic done here by hand."""
    registry = Registry(
        (Enterprise("A", "甲", "shinan", "chemicals"), Enterprise("B", "乙", "shinan", "nev")),
        (Meter("A-1", "A", Carrier.ELECTRICITY, "MWh", MeterKind.INTERVAL, 100.0),
         Meter("B-1", "B", Carrier.WATER, "m3", MeterKind.INTERVAL, 100.0)),
    )  # fmt: skip
    rows = [TruthRow("A-1", date(2025, 1, 1), 10_000, "MWh"),  # 10 MWh = 10 000 kWh
            TruthRow("B-1", date(2025, 1, 2), 500_000, "m3")]  # fmt: skip
    q = monthly_quantities(rows, registry, "shandong")
    a = q[q["enterprise_id"] == "A"].iloc[0]
    assert a["energy_tce"] == pytest.approx(10_000 * 0.1229 / 1000)
    assert a["co2_t"] == pytest.approx(10_000 * 0.6410 / 1000)
    va = {("A", date(2025, 1, 1)): 10.0, ("B", date(2025, 1, 1)): 5.0}
    base = {"A": BaseYear(2.0, 10.0, 0.0, 10.0), "B": BaseYear(0.0, 0.0, 0.0, 0.0)}
    t = ytd_truth(q, va, base, registry, PLAN, date(2025, 1, 1))
    city = t[(t["entity"] == "city") & (t["indicator"] == "energy")].iloc[0]
    assert city["intensity"] == pytest.approx(1.229 / 15)
    assert city["baseline"] == pytest.approx(2.0 / 10)
    assert city["reduction"] == pytest.approx(1 - (1.229 / 15) / 0.2)
    assert city["trajectory"] == pytest.approx(0.2 * (1 - 0.135))
    assert city["status"] == "on_track"
    b = t[(t["entity_id"] == "B") & (t["indicator"] == "water")].iloc[0]
    assert b["intensity"] == pytest.approx(100.0) and b["status"] == "no_data"

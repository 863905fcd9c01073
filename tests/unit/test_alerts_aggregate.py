"""Threshold rules on summed live measures (enterprise, district, industry, city)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts import aggregate
from alerts.engine import AlertState, evaluate
from alerts.rules import parse_rules
from alerts.store import MeterInfo
from greenmon.errors import InvalidInput

T0 = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
SLOT = timedelta(minutes=15)
METERS = {
    "A1": MeterInfo("A1", "A", "electricity", "kWh", "d1", "steel"),
    "A2": MeterInfo("A2", "A", "electricity", "MWh", "d1", "steel"),
    "AW": MeterInfo("AW", "A", "water", "m3", "d1", "steel"),
    "B1": MeterInfo("B1", "B", "electricity", "kWh", "d2", "steel"),
    "BW": MeterInfo("BW", "B", "water", "m3", "d2", "steel"),
}
RULES = parse_rules("""
rules:
  - {id: ent-kw, scope: enterprise, threshold: {measure: demand_kw, above: 1500,
                                                recover_below: 800}}
  - {id: ind-kw, scope: industry, threshold: {measure: demand_kw, above: 2500}}
  - {id: city-water, scope: city, match: {carrier: water},
     threshold: {measure: flow, below: 10, recover_above: 20}}
""").rules
ENT, IND, WATER = RULES


def run(
    rule_ids: set[str], stored: dict[tuple[str, datetime], float],
    newest: dict[str, datetime | None], touched: list[tuple[str, datetime]],
) -> dict[tuple[str, str, datetime], tuple[str, float]]:  # fmt: skip
    rules = [r for r in RULES if r.id in rule_ids]
    reqs = aggregate.requests(rules, touched, METERS)
    got = aggregate.candidates(reqs, stored, newest)
    return {
        (c.fingerprint, c.unit, c.obs.start or T0): (c.obs.level, c.obs.value or 0.0) for c in got
    }


def test_members_are_summed_in_the_canonical_unit_per_entity() -> None:
    # A: 200 kWh + 0.2 MWh = 400 kWh in 15 min = 1600 kW; B: 100 kWh = 400 kW
    stored = {("A1", T0): 200.0, ("A2", T0): 0.2, ("B1", T0): 100.0}
    newest: dict[str, datetime | None] = {"A1": T0, "A2": T0, "B1": T0}
    got = run({"ent-kw", "ind-kw"}, stored, newest, [("A1", T0), ("A2", T0), ("B1", T0)])
    assert {k: (level, round(v, 9)) for k, (level, v) in got.items()} == {
        ("ent-kw/enterprise/A", "kW", T0): ("fire", 1600.0),
        ("ent-kw/enterprise/B", "kW", T0): ("clear", 400.0),
        ("ind-kw/industry/steel", "kW", T0): ("clear", 2000.0),
    }


def test_a_partial_sum_fires_an_above_rule_but_never_clears_it() -> None:
    # A2 reported the previous slot only: it is due for T0, so A's sum is a lower bound
    newest: dict[str, datetime | None] = {"A1": T0, "A2": T0 - SLOT}
    high = run({"ent-kw"}, {("A1", T0): 400.0}, newest, [("A1", T0)])
    assert high == {("ent-kw/enterprise/A", "kW", T0): ("fire", 1600.0)}
    low = run({"ent-kw"}, {("A1", T0): 100.0}, newest, [("A1", T0)])
    assert low == {}  # 400 kW so far proves neither hold nor clear
    # once A2 is settled (it reported a later slot without this one), the sum stands
    settled = dict(newest, A2=T0 + SLOT)
    assert run({"ent-kw"}, {("A1", T0): 100.0}, settled, [("A1", T0)]) == {
        ("ent-kw/enterprise/A", "kW", T0): ("clear", 400.0)
    }


def test_a_silent_member_is_left_out_so_the_alert_can_still_resolve() -> None:
    newest: dict[str, datetime | None] = {"A1": T0, "A2": T0 - aggregate.GRACE - SLOT}
    assert run({"ent-kw"}, {("A1", T0): 100.0}, newest, [("A1", T0)]) == {
        ("ent-kw/enterprise/A", "kW", T0): ("clear", 400.0)
    }
    never: dict[str, datetime | None] = {"A1": T0, "A2": None}
    assert run({"ent-kw"}, {("A1", T0): 100.0}, never, [("A1", T0)]) == {
        ("ent-kw/enterprise/A", "kW", T0): ("clear", 400.0)
    }


def test_a_below_rule_clears_on_a_partial_sum_but_fires_only_on_a_full_one() -> None:
    # city water flow: AW 6 m3 in 15 min = 24 m3/h, BW due
    newest: dict[str, datetime | None] = {"AW": T0, "BW": T0 - SLOT}
    assert run({"city-water"}, {("AW", T0): 6.0}, newest, [("AW", T0)]) == {
        ("city-water/city/city", "m3/h", T0): ("clear", 24.0)
    }
    assert run({"city-water"}, {("AW", T0): 1.0}, newest, [("AW", T0)]) == {}
    both = {("AW", T0): 1.0, ("BW", T0): 0.5}
    full: dict[str, datetime | None] = {"AW": T0, "BW": T0}
    assert run({"city-water"}, both, full, [("BW", T0)]) == {
        ("city-water/city/city", "m3/h", T0): ("fire", 6.0)
    }


def test_only_members_count_and_each_touched_slot_is_observed_in_order() -> None:
    # water meters never count towards demand; a batch touching two slots gives two
    stored = {("A1", T0): 300.0, ("A2", T0): 0.1, ("AW", T0): 999.0,
              ("A1", T0 + SLOT): 50.0, ("A2", T0 + SLOT): 0.05}  # fmt: skip
    newest: dict[str, datetime | None] = {"A1": T0 + SLOT, "A2": T0 + SLOT, "AW": T0}
    reqs = aggregate.requests([ENT], [("A1", T0 + SLOT), ("AW", T0), ("A1", T0)], METERS)
    assert [(r.entity_id, sorted(r.members), r.slots) for r in reqs] == [
        ("A", ["A1", "A2"], (T0, T0 + SLOT))
    ]
    out = aggregate.candidates(reqs, stored, newest)
    assert [(c.obs.start, c.obs.level, round(c.obs.value or 0, 9)) for c in out] == [
        (T0, "fire", 1600.0), (T0 + SLOT, "clear", 400.0)
    ]  # fmt: skip
    # through the lifecycle: one firing, one resolve, on the enterprise's fingerprint
    state = AlertState("ent-kw/enterprise/A", "ent-kw", "enterprise", "A", "A")
    kinds = []
    for c in out:
        state, transitions = evaluate(state, c.obs, T0)
        kinds += [t.kind for t in transitions]
    assert kinds == ["pending", "firing", "resolved"]
    assert out[0].enterprise_id == "A" and out[0].meter_id is None


def test_an_entity_flow_rule_must_name_one_carrier() -> None:
    with pytest.raises(InvalidInput, match=r"rule city-flow.*exactly one in match\.carrier"):
        parse_rules("rules:\n  - {id: city-flow, scope: city, "
                    "threshold: {measure: flow, above: 1}}\n")  # fmt: skip


def test_only_members_without_a_row_need_their_newest_slot() -> None:
    stored = {("A1", T0): 100.0, ("A1", T0 + SLOT): 100.0, ("A2", T0): 0.1}
    reqs = aggregate.requests([ENT], [("A1", T0), ("A1", T0 + SLOT)], METERS)
    assert aggregate.missing(reqs, stored) == (["A2"], T0)  # A2 lacks T0 + 15 min
    full = {**stored, ("A2", T0 + SLOT): 0.1}
    assert aggregate.missing(reqs, full) == ([], T0)

"""The savings-negative alert: N consecutive months of negative savings against an EnPI
baseline fire it; a gap, a positive month or a short run does not."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from alerts.checks import savings_candidates
from alerts.rules import Rule, parse_rules
from greenmon.errors import InvalidInput

NOW = datetime(2025, 7, 3, tzinfo=UTC)


def _rule(extra: str = "") -> Rule:
    text = f"rules:\n  - id: losing\n    scope: enterprise\n    savings_negative: {{{extra}}}\n"
    return parse_rules(text).rules[0]


def test_default_is_two_months_and_scope_is_enterprise() -> None:
    rule = _rule()
    assert rule.kind == "savings_negative"
    assert rule.savings_negative is not None and rule.savings_negative.months == 2
    with pytest.raises(InvalidInput, match="savings_negative rules have scope enterprise"):
        parse_rules("rules:\n  - id: x\n    scope: meter\n    savings_negative: {}\n")
    with pytest.raises(InvalidInput, match="months"):
        parse_rules("rules:\n  - id: x\n    scope: enterprise\n    savings_negative: {months: 0}\n")


def test_streaks_by_enterprise() -> None:
    m = [date(2025, k, 1) for k in range(1, 7)]
    savings = [
        ("A", m[3], 5.0), ("A", m[4], -1.0), ("A", m[5], -2.0),  # two newest negative: fire
        ("B", m[4], -1.0), ("B", m[5], 3.0),  # newest positive: clear
        ("C", m[3], -1.0), ("C", m[5], -2.0),  # May missing: a streak of one
        ("D", date(2024, 12, 1), -1.0), ("D", date(2025, 1, 1), -1.0),  # across a year
    ]  # fmt: skip
    found = savings_candidates(_rule(), savings, NOW)
    got = {c.entity_id: (c.obs.level, c.obs.value) for c in found}
    assert got == {"A": ("fire", 2.0), "B": ("clear", 0.0), "C": ("clear", 1.0),
                   "D": ("fire", 2.0)}  # fmt: skip
    three = {c.entity_id: c.obs.level for c in savings_candidates(_rule("months: 3"), savings, NOW)}
    assert three["A"] == "clear"

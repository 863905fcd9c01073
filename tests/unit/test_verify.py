"""verify.compare_totals and relative_error: stored totals against the simulator's truth."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest

from greenmon.domain.reference import Carrier
from greenmon.feeds.truth import EnterpriseTotal
from greenmon.jobs.verify import Mismatch, compare_totals, relative_error


def total(enterprise: str, carrier: Carrier, unit: str, quantity: str) -> EnterpriseTotal:
    return EnterpriseTotal(enterprise, carrier, unit, None, Decimal(quantity))


TRUTH = [
    total("E1", Carrier.ELECTRICITY, "kWh", "1000.000"),
    total("E1", Carrier.WATER, "m3", "12.500"),
]


def test_relative_error() -> None:
    assert relative_error(100.0, 100.5) == pytest.approx(0.005)  # 0.5 / 100
    assert relative_error(-200.0, -190.0) == pytest.approx(0.05)  # 10 / 200
    assert relative_error(0.0, 0.0) == 0.0
    # a zero expectation divides by 1e-12, so any visible difference is large
    assert relative_error(0.0, 1e-9) == pytest.approx(1000.0)


def test_matching_totals_pass() -> None:
    out = io.StringIO()
    stored = {("E1", "electricity"): 1000.0, ("E1", "water"): 12.5}
    assert compare_totals(TRUTH, stored, out) == []
    text = out.getvalue()
    assert text.rstrip().endswith("all totals match (relative tolerance 1e-09)")
    assert " NO" not in text


def test_difference_below_tolerance_passes() -> None:
    # 1000 x 5e-10 = 5e-7 kWh off: relative 5e-10 < 1e-9
    stored = {("E1", "electricity"): 1000.0 + 5e-7, ("E1", "water"): 12.5}
    assert compare_totals(TRUTH, stored, io.StringIO()) == []


def test_difference_above_tolerance_is_flagged() -> None:
    # 1000 x 2e-9 = 2e-6 kWh off: relative 2e-9 > 1e-9
    out = io.StringIO()
    stored = {("E1", "electricity"): 1000.0 + 2e-6, ("E1", "water"): 12.5}
    mismatches = compare_totals(TRUTH, stored, out)
    assert mismatches == [Mismatch("E1", "electricity", 1000.0, 1000.0 + 2e-6)]
    assert "1 totals differ" in out.getvalue()


def test_missing_key_is_flagged() -> None:
    out = io.StringIO()
    mismatches = compare_totals(TRUTH, {("E1", "electricity"): 1000.0}, out)
    assert mismatches == [Mismatch("E1", "water", 12.5, None)]
    water_line = next(line for line in out.getvalue().splitlines() if "water" in line)
    assert "missing" in water_line
    assert water_line.endswith("NO")


def test_extra_key_is_flagged() -> None:
    out = io.StringIO()
    stored = {("E1", "electricity"): 1000.0, ("E1", "water"): 12.5, ("E9", "natural_gas"): 3.0}
    mismatches = compare_totals(TRUTH, stored, out)
    assert mismatches == [Mismatch("E9", "natural_gas", 0.0, 3.0)]
    extra_line = next(line for line in out.getvalue().splitlines() if "E9" in line)
    assert "(none)" in extra_line
    assert extra_line.endswith("NO")
    assert "1 totals differ" in out.getvalue()


def test_every_difference_is_reported() -> None:
    stored = {("E1", "electricity"): 999.0, ("E2", "water"): 1.0}
    mismatches = compare_totals(TRUTH, stored, io.StringIO())
    assert {(m.enterprise_id, m.carrier) for m in mismatches} == {
        ("E1", "electricity"),
        ("E1", "water"),
        ("E2", "water"),
    }

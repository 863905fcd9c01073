"""Evaluation parameters in the plan file: defaults, per-year entries, every problem named."""

from __future__ import annotations

import pytest

from greenmon.accounting.config import packaged_plan_text, parse_config
from greenmon.accounting.evaluation_params import DEFAULT_WEIGHTS, EnpiParams, parse, to_doc
from greenmon.errors import InvalidInput

PLAN = packaged_plan_text()


def test_defaults_without_evaluation_tables() -> None:
    params = parse_config(PLAN).evaluation
    assert params.enpi == EnpiParams()
    g = params.group("above", 2025)
    assert dict(g.weights) == dict(DEFAULT_WEIGHTS["above"]) and g.cap == 2.0
    assert g.shares == (0.25, 0.70, 0.95)


def test_a_year_entry_wins_over_the_every_year_entry() -> None:
    text = (
        PLAN
        + """
[[evaluation]]
scale = "below"
weights = { tax_per_mu = 60, tax_per_kwh = 40 }
cap = 3

[[evaluation]]
scale = "below"
year = 2026
weights = { tax_per_mu = 70, tax_per_kwh = 30 }
benchmarks = { tax_per_mu = 12.5 }
class_shares = { A = 0.2, B = 0.6, C = 0.9 }

[enpi]
hdd_base_c = 15.5
max_cv_rmse = 0.2
min_baseline_months = 24
"""
    )
    params = parse_config(text).evaluation
    assert params.group("below", 2025).weights["tax_per_mu"] == 60.0
    assert params.group("below", 2025).cap == 3.0
    y2026 = params.group("below", 2026)
    assert (y2026.weights["tax_per_mu"], y2026.benchmarks["tax_per_mu"]) == (70.0, 12.5)
    assert y2026.shares == (0.2, 0.6, 0.9)
    assert params.enpi == EnpiParams(hdd_base_c=15.5, max_cv_rmse=0.2, min_baseline_months=24)
    errors: list[str] = []
    assert parse(to_doc(params), errors) == params and errors == []


def test_every_problem_is_named() -> None:
    text = (
        PLAN
        + """
[[evaluation]]
scale = "medium"
weights = { tax_per_acre = 10 }
cap = -1
class_shares = { A = 0.5, B = 0.4, C = 0.9 }

[enpi]
min_r2 = 1.5
min_baseline_months = 2
wind_base = 3
"""
    )
    with pytest.raises(InvalidInput) as exc:
        parse_config(text)
    message = str(exc.value)
    for part in ("scale = 'medium'", "weights.tax_per_acre is not an indicator", "cap = -1",
                 "class_shares must satisfy", "min_r2 = 1.5 is above 1",
                 "min_baseline_months = 2", "unknown key 'wind_base'"):  # fmt: skip
        assert part in message, part

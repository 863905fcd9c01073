"""亩产效益 scoring on a hand-worked example: ties, a missing indicator, an exempt
enterprise, the cap, and the class boundaries.

Expected numbers were worked out by hand (see the comments), not by the code under test.
"""

from __future__ import annotations

import pytest

from greenmon.accounting.evaluation_params import EvaluationParams, GroupParams
from greenmon.evaluation.scoring import (
    EnterpriseInput,
    YearFigures,
    class_of,
    competition_ranks,
    evaluate,
    to_csv,
)


def _inp(eid: str, tax: float, rd: float, scale: str = "above", exempt: str | None = None,
         land: float = 10.0, employees: float = 20.0) -> EnterpriseInput:  # fmt: skip
    return EnterpriseInput(eid, 2025, land, tax, 100.0, rd, employees, scale, exempt)  # type: ignore[arg-type]


# Above-scale group, land 10 mu and revenue 100 each, default weights, cap 2.
#        tax  va   tce  co2  staff rd  -> tax/mu va/mu va/tce va/tco2 va/staff rd/rev
# E1     300  400  100  100  40    6      30     40    4      4       10       0.06 (exempt)
# E2     100  200  100  100  20    3      10     20    2      2       10       0.03
# E3     = E2 (a tie)
# E4       0  200  100  100  20    0       0     20    2      2       10       0
# E5      50  200  100  --   20    3       5     20    2      --      10       0.03
# Benchmarks (means of those that have it): 11, 24, 2.4, 2.5 (4 values), 10, 0.03
INPUTS = [
    _inp("E1", 300, 6, exempt="construction period", employees=40),
    _inp("E2", 100, 3),
    _inp("E3", 100, 3),
    _inp("E4", 0, 0),
    _inp("E5", 50, 3),
]
FIGURES = {
    "E1": YearFigures(400, 100, 100, 1e6),
    "E2": YearFigures(200, 100, 100, 1e6),
    "E3": YearFigures(200, 100, 100, 1e6),
    "E4": YearFigures(200, 100, 100, 1e6),
    "E5": YearFigures(200, 100, None, 1e6),
}
# E1: 30*min(30/11, 2)=60 (capped) + 20*40/24 + 20*4/2.4 + 10*4/2.5 + 10*1 + 10*min(2, 2)
#     = 60 + 33.3333 + 33.3333 + 16 + 10 + 20 = 172.6667
# E2 = E3: 30*10/11 + 20*20/24 + 20*2/2.4 + 10*2/2.5 + 10 + 10*1
#     = 27.2727 + 16.6667 + 16.6667 + 8 + 10 + 10 = 88.6061
# E4: 0 + 16.6667 + 16.6667 + 8 + 10 + 0 = 51.3333
# E5: 30*5/11 + 16.6667 + 16.6667 + mean(16, 8, 8, 8) = 10 + 10 + 10 = 76.9697
# ranks 1, 2, 2, 5, 4; n = 5: A <= ceil(1.25) = 2, B <= ceil(3.5) = 4, C <= ceil(4.75) = 5
EXPECTED = {
    "E1": (172.6667, 1, "B"),  # would be A, exempt
    "E2": (88.6061, 2, "A"),
    "E3": (88.6061, 2, "A"),  # position 3, tied with E2: shares the better class
    "E5": (76.9697, 4, "B"),
    "E4": (51.3333, 5, "C"),
}


def test_hand_worked_above_scale_group() -> None:
    rows = {r.enterprise_id: r for r in evaluate(INPUTS, FIGURES, EvaluationParams(), 2025)}
    for eid, (total, rank, klass) in EXPECTED.items():
        assert rows[eid].total == pytest.approx(total, abs=1e-4), eid
        assert (rows[eid].rank, rows[eid].klass) == (rank, klass), eid
    assert rows["E1"].scores["tax_per_mu"] == pytest.approx(60.0)  # the cap of 2
    assert rows["E5"].indicators["va_per_tco2"] is None
    assert rows["E5"].scores["va_per_tco2"] == pytest.approx(10.0)
    assert "va_per_tco2: no data, scored at the group mean 10" in rows["E5"].note
    assert "exempt (construction period)" in rows["E1"].note and "would be A" in rows["E1"].note
    assert rows["E2"].note == ""
    assert rows["E2"].scores["tax_per_kwh"] is None  # not weighted for above-scale


def test_hand_worked_below_scale_group() -> None:
    # tax/mu 10, 20, 30 (land 1); tax/kWh 0.01, 0.02, none. Benchmarks 20 and 0.015.
    # B1 25 + 33.333 = 58.333; B2 50 + 66.667 = 116.667; B3 75 + mean(33.333, 66.667) = 125
    inputs = [_inp("B1", 10, 0, "below", land=1), _inp("B2", 20, 0, "below", land=1),
              _inp("B3", 30, 0, "below", land=1)]  # fmt: skip
    figures = {"B1": YearFigures(electricity_kwh=1000), "B2": YearFigures(electricity_kwh=1000)}
    rows = {r.enterprise_id: r for r in evaluate(inputs, figures, EvaluationParams(), 2025)}
    assert [round(rows[e].total, 3) for e in ("B1", "B2", "B3")] == [58.333, 116.667, 125.0]
    # n = 3: A <= 1, B <= ceil(2.1) = 3
    assert [(rows[e].rank, rows[e].klass) for e in ("B3", "B2", "B1")] == [
        (1, "A"), (2, "B"), (3, "B")]  # fmt: skip
    assert "tax_per_kwh: no data" in rows["B3"].note


def test_configured_benchmark_and_weights_replace_the_defaults() -> None:
    params = EvaluationParams(
        (GroupParams("below", {"tax_per_mu": 100.0}, {"tax_per_mu": 40.0}, cap=1.5, year=2025),)
    )
    inputs = [_inp("B1", 10, 0, "below", land=1), _inp("B2", 80, 0, "below", land=1)]
    rows = {r.enterprise_id: r for r in evaluate(inputs, {}, params, 2025)}
    assert rows["B1"].total == pytest.approx(25.0)  # 100 * 10/40
    assert rows["B2"].total == pytest.approx(150.0)  # 100 * min(2, 1.5)


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (1, "A"),
        (4, "ABBC"),  # ceil(1) = 1, ceil(2.8) = 3, ceil(3.8) = 4
        (10, "AAABBBBCCC"),  # ceil(2.5) = 3, ceil(7.0) = 7 (not 8), ceil(9.5) = 10
        (20, "AAAAABBBBBBBBBCCCCCD"),  # 5, 14, 19
    ],
)
def test_class_boundaries(n: int, expected: str) -> None:
    assert "".join(class_of(r, n, (0.25, 0.70, 0.95)) for r in range(1, n + 1)) == expected


def test_equal_totals_share_the_better_rank() -> None:
    assert competition_ranks([5.0, 9.0, 5.0, 1.0, 9.0]) == [3, 1, 3, 5, 1]
    assert competition_ranks([0.1 + 0.2, 0.3]) == [1, 1]  # equal to 9 decimals


def test_output_csv_has_every_indicator_and_score() -> None:
    text = to_csv(evaluate(INPUTS, FIGURES, EvaluationParams(), 2025))
    header, first = text.splitlines()[:2]
    assert header.startswith("enterprise_id,year,scale,tax_per_mu,")
    assert header.endswith(",score_tax_per_kwh,total,rank,class,note")
    assert first.startswith("E1,2025,above,30,40,4,4,10,0.06,0.0003,60,")
    assert first.endswith(',172.6667,1,B,"exempt (construction period): classed B, would be A"')


def test_report_fragment_escapes_and_lists_the_d_class() -> None:
    from greenmon.report.evaluation import EvaluationSection, GroupCount, to_html

    counts = {"A": 1, "B": 0, "C": 0, "D": 1}
    s = EvaluationSection(2025, None, (GroupCount("jimo", counts),),
                          (GroupCount("textiles_apparel", counts),),
                          (("E9", "<Plant & Co>", "above", 12.5, 2, ""),),
                          (("E9", False, 0.4, 0.3),))  # fmt: skip
    text = to_html(s)
    assert "&lt;Plant &amp; Co&gt;" in text and "<td>12.50</td>" in text
    assert "1 not acceptable" in text and ": E9." in text

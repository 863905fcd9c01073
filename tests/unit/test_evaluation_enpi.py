"""EnPI baselines: OLS against independent computations, the acceptance thresholds,
degree-days, savings and CUSUM by hand."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest
from scipy import stats as sps

from greenmon.accounting.evaluation_params import EnpiParams
from greenmon.accounting.rollup import months_between
from greenmon.errors import InvalidInput
from greenmon.evaluation import degree_days
from greenmon.evaluation.enpi import (
    MonthData,
    fit_model,
    judge,
    negative_streak,
    parse_variables,
    report,
    report_csv,
)
from greenmon.evaluation.regression import Fit, ols

MONTHS = months_between(date(2023, 1, 1), date(2025, 12, 1))  # 36 months


def _synthetic(seed: int = 7, noise: float = 20.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.uniform(100, 1000, len(MONTHS))
    return p, 500 + 2 * p + rng.normal(0, noise, len(MONTHS))


def test_known_model_comes_back_within_its_standard_errors() -> None:
    p, e = _synthetic()
    fit = ols(list(e), {"output": list(p)})
    b0, b1 = fit.coefficients
    assert abs(b0.value - 500) < 2 * b0.std_error and abs(b1.value - 2) < 2 * b1.std_error
    # independent: numpy's least squares and scipy's simple linear regression
    x = np.column_stack([np.ones(len(p)), p])
    beta, *_ = np.linalg.lstsq(x, e, rcond=None)
    lr = sps.linregress(p, e)
    assert (b0.value, b1.value) == pytest.approx(tuple(beta), rel=1e-9)
    assert b1.std_error == pytest.approx(lr.stderr, rel=1e-9)
    assert b0.std_error == pytest.approx(lr.intercept_stderr, rel=1e-9)
    assert b1.p_value == pytest.approx(lr.pvalue, rel=1e-6, abs=1e-300)
    assert fit.r2 == pytest.approx(lr.rvalue**2, rel=1e-9)


def test_statistics_by_their_closed_forms() -> None:
    p, e = _synthetic(seed=3, noise=60.0)
    fit = ols(list(e), {"output": list(p)})
    n, k = len(e), 2
    sxx = float(((p - p.mean()) ** 2).sum())
    b1 = float(((p - p.mean()) * (e - e.mean())).sum()) / sxx
    b0 = float(e.mean() - b1 * p.mean())
    resid = e - (b0 + b1 * p)
    sse = float((resid**2).sum())
    s = math.sqrt(sse / (n - k))
    se0 = s * math.sqrt(1 / n + p.mean() ** 2 / sxx)
    t0 = b0 / se0
    r2 = 1 - sse / float(((e - e.mean()) ** 2).sum())
    assert (fit.n, fit.p) == (36, 2)
    assert fit.coefficients[0].std_error == pytest.approx(se0, rel=1e-9)
    assert fit.coefficients[0].p_value == pytest.approx(2 * sps.t.sf(abs(t0), n - k), rel=1e-6)
    assert fit.adj_r2 == pytest.approx(1 - (1 - r2) * (n - 1) / (n - k), rel=1e-9)
    assert fit.cv_rmse == pytest.approx(s / e.mean(), rel=1e-9)
    assert fit.nmbe == pytest.approx(resid.sum() / ((n - k) * e.mean()), abs=1e-12)


def test_three_variables_match_numpy_lstsq() -> None:
    rng = np.random.default_rng(11)
    p, hdd, cdd = (rng.uniform(0, 500, 24) for _ in range(3))
    e = 100 + 1.5 * p + 0.4 * hdd + 0.9 * cdd + rng.normal(0, 5, 24)
    fit = ols(list(e), {"output": list(p), "hdd": list(hdd), "cdd": list(cdd)})
    x = np.column_stack([np.ones(24), p, hdd, cdd])
    beta, *_ = np.linalg.lstsq(x, e, rcond=None)
    resid = e - x @ beta
    cov = (resid @ resid) / (24 - 4) * np.linalg.inv(x.T @ x)
    assert [c.value for c in fit.coefficients] == pytest.approx(list(beta), rel=1e-8)
    assert [c.std_error for c in fit.coefficients] == pytest.approx(
        list(np.sqrt(np.diag(cov))), rel=1e-8)  # fmt: skip


def test_collinear_or_too_short_data_is_refused() -> None:
    with pytest.raises(InvalidInput, match="constant or collinear"):
        ols([1.0, 2.0, 3.0, 4.0], {"output": [5.0, 5.0, 5.0, 5.0]})
    with pytest.raises(InvalidInput, match="cannot fit 2"):
        ols([1.0, 2.0], {"output": [1.0, 2.0]})


def _months(energy: np.ndarray, output: np.ndarray) -> list[MonthData]:
    return [MonthData(m, float(a), float(b)) for m, a, b in zip(MONTHS, energy, output,
                                                                   strict=False)]  # fmt: skip


PARAMS = EnpiParams()


def test_a_good_model_is_acceptable() -> None:
    p, e = _synthetic()
    model = fit_model("E1", _months(e, p), ("output",), PARAMS)
    assert model.acceptable and model.failures == ()
    assert model.ranges["output"] == (p.min(), p.max())


def test_r2_threshold_fails_alone() -> None:
    rng = np.random.default_rng(5)
    p = rng.uniform(100, 1000, 36)
    e = 5000 + 0.05 * p + rng.normal(0, 40, 36)  # weak slope: low R2, small scatter
    model = fit_model("E1", _months(e, p), ("output",), PARAMS)
    assert np.corrcoef(p, e)[0, 1] ** 2 < 0.75 and model.fit.cv_rmse < 0.15
    assert len(model.failures) == 1 and model.failures[0].startswith("R2 ")


def test_cv_rmse_threshold_fails_alone() -> None:
    rng = np.random.default_rng(9)
    p = rng.uniform(0, 1000, 36)
    e = 2 * p + rng.normal(0, 250, 36)  # strong trend, large scatter on a mean of ~1000
    model = fit_model("E1", _months(e, p), ("output",), PARAMS)
    assert np.corrcoef(p, e)[0, 1] ** 2 >= 0.75 and model.fit.cv_rmse > 0.15
    assert len(model.failures) == 1 and model.failures[0].startswith("CV(RMSE) ")


def test_nmbe_threshold_fails_alone() -> None:
    # With an intercept the fitted residuals sum to zero: judge a fit checked elsewhere.
    fit = Fit(36, 2, (), 1.0, r2=0.9, adj_r2=0.9, cv_rmse=0.05, nmbe=-0.06, mean_y=1000)
    assert judge(fit, PARAMS) == ("|NMBE| 6.00% > 5%",)
    assert judge(fit, EnpiParams(max_abs_nmbe=0.07)) == ()


def test_thresholds_are_configurable() -> None:
    p, e = _synthetic()
    strict = EnpiParams(min_r2=0.9999, max_cv_rmse=0.001)
    failures = fit_model("E1", _months(e, p), ("output",), strict).failures
    assert [f.split(" ")[0] for f in failures] == ["R2", "CV(RMSE)"]


def test_baseline_needs_twelve_complete_months() -> None:
    p, e = _synthetic()
    with pytest.raises(InvalidInput, match="has 11 months; at least 12"):
        fit_model("E1", _months(e, p)[:11], ("output",), PARAMS)
    data = _months(e, p)[:12]
    data[3] = MonthData(data[3].month, None, 10.0)
    data[5] = MonthData(data[5].month, 900.0, None)
    with pytest.raises(InvalidInput, match=r"lack data: 2023-04 \(energy\); 2023-06 \(output\)$"):
        fit_model("E1", data, ("output",), PARAMS)


def test_variables_option() -> None:
    assert parse_variables("cdd,output") == ("output", "cdd")
    for bad in ("hdd", "output,wind", "output,output"):
        with pytest.raises(InvalidInput):
            parse_variables(bad)


def test_degree_days_by_hand() -> None:
    days = {date(2025, 2, d): 10.0 for d in range(1, 29)}  # 28 days at 10 °C
    days |= {date(2025, 7, d): 30.0 for d in range(1, 32)}  # 31 days at 30 °C
    days |= {date(2025, 4, 1): 20.0}  # one day of April only
    dd = degree_days.monthly(days, 18.0, 26.0)
    assert (dd[date(2025, 2, 1)].hdd, dd[date(2025, 2, 1)].cdd) == (8 * 28, 0)
    assert (dd[date(2025, 7, 1)].hdd, dd[date(2025, 7, 1)].cdd) == (0, 4 * 31)
    assert dd[date(2025, 2, 1)].complete and not dd[date(2025, 4, 1)].complete


def test_savings_cusum_and_flags_by_hand() -> None:
    # baseline exactly E = 500 + 2 P over outputs 100..1200 (plus 1 tce of scatter)
    p = np.linspace(100, 1200, 12)
    e = 500 + 2 * p + np.tile([1.0, -1.0], 6)
    model = fit_model("E1", _months(e, p), ("output",), PARAMS)
    assert model.fit.coefficient("output") == pytest.approx(2, abs=0.01)
    months = [
        MonthData(date(2026, 1, 1), 650.0, 100.0),  # expected ~700, saves ~50
        MonthData(date(2026, 2, 1), 1550.0, 500.0),  # expected ~1500, loses ~50
        MonthData(date(2026, 3, 1), None, 500.0),  # no energy: CUSUM stays
        MonthData(date(2026, 4, 1), 3600.0, 1500.0),
    ]  # beyond the baseline's range
    rows = report(model, months)
    b0, b1 = model.fit.coefficient("intercept"), model.fit.coefficient("output")
    expected = [b0 + b1 * 100, b0 + b1 * 500, None, b0 + b1 * 1500]
    assert [r.expected_tce for r in rows] == pytest.approx(expected)
    s1, s2, s4 = expected[0] - 650, expected[1] - 1550, expected[3] - 3600  # type: ignore[operator]
    assert [r.cusum_tce for r in rows] == pytest.approx([s1, s1 + s2, s1 + s2, s1 + s2 + s4])
    assert rows[0].enpi_ratio == pytest.approx(650 / expected[0])  # type: ignore[operator]
    assert [r.flags for r in rows] == [(), (), ("no_energy",), ("output_outside_baseline",)]
    assert negative_streak(rows) == 1  # April loses; March (no data) ends the streak
    assert negative_streak(rows[:2]) == 1 and negative_streak(rows[:1]) == 0
    text = report_csv(rows)
    assert text.splitlines()[0] == (
        "month,actual_tce,expected_tce,savings_tce,cusum_tce,enpi_ratio,flag"
    )
    assert text.splitlines()[3].startswith("2026-03,,,,")

"""Energy performance baselines (ISO 50006) and CUSUM of savings. Pure.

Per enterprise: monthly energy (tce, excluding feedstock) = b0 + b1*output
(+ b2*HDD + b3*CDD when asked for), fitted by OLS over a baseline of at least
``min_baseline_months`` months with every figure present. The model is acceptable when
R^2 >= 0.75, CV(RMSE) <= 15 % and |NMBE| <= 5 % (ASHRAE Guideline 14, monthly data);
an unacceptable model is kept and shown as such, never used without saying so.

Reporting: expected E^_t from the model, savings S_t = E^_t - E_t, CUSUM = running sum
of S_t, EnPI ratio E_t / E^_t; a month whose variables lie outside the baseline's range
is flagged (the model extrapolates there).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Final

from greenmon.accounting.evaluation_params import EnpiParams
from greenmon.errors import InvalidInput
from greenmon.evaluation.regression import Fit, ols

VARIABLES: Final = ("output", "hdd", "cdd")
REPORT_HEADER: Final = "month,actual_tce,expected_tce,savings_tce,cusum_tce,enpi_ratio,flag"


@dataclass(frozen=True, slots=True)
class MonthData:
    """One month of an enterprise: energy (tce), output, degree-days; None = missing."""

    month: date
    energy_tce: float | None
    output: float | None
    hdd: float | None = None
    cdd: float | None = None

    def value(self, name: str) -> float | None:
        return {"output": self.output, "hdd": self.hdd, "cdd": self.cdd}[name]


@dataclass(frozen=True, slots=True)
class Model:
    enterprise_id: str
    variables: tuple[str, ...]
    baseline_from: date
    baseline_to: date
    fit: Fit
    ranges: Mapping[str, tuple[float, float]]
    failures: tuple[str, ...] = field(default=())

    @property
    def acceptable(self) -> bool:
        return not self.failures


def parse_variables(text: str) -> tuple[str, ...]:
    names = tuple(v.strip() for v in text.split(",") if v.strip())
    unknown = [v for v in names if v not in VARIABLES]
    if unknown or "output" not in names or len(set(names)) != len(names):
        raise InvalidInput(f"--variables {text!r}: give output and optionally hdd, cdd, each once")
    return tuple(v for v in VARIABLES if v in names)


def judge(fit: Fit, params: EnpiParams) -> tuple[str, ...]:
    """Why the model is not acceptable (empty when it is), threshold by threshold."""
    out = []
    if fit.r2 < params.min_r2:
        out.append(f"R2 {fit.r2:.3f} < {params.min_r2:g}")
    if fit.cv_rmse > params.max_cv_rmse:
        out.append(f"CV(RMSE) {fit.cv_rmse:.1%} > {params.max_cv_rmse:.0%}")
    if abs(fit.nmbe) > params.max_abs_nmbe:
        out.append(f"|NMBE| {abs(fit.nmbe):.2%} > {params.max_abs_nmbe:.0%}")
    return tuple(out)


def _lacking(m: MonthData, variables: Sequence[str]) -> list[str]:
    out = [] if m.energy_tce is not None else ["energy"]
    return out + [v for v in variables if m.value(v) is None]


def fit_model(
    enterprise_id: str,
    months: Sequence[MonthData],
    variables: Sequence[str],
    params: EnpiParams,
) -> Model:
    """Fit the baseline over ``months`` (consecutive, every figure present)."""
    if len(months) < params.min_baseline_months:
        raise InvalidInput(
            f"the baseline has {len(months)} months; at least "
            f"{params.min_baseline_months} are needed"
        )
    gaps = [f"{m.month:%Y-%m} ({', '.join(_lacking(m, variables))})"
            for m in months if _lacking(m, variables)]  # fmt: skip
    if gaps:
        raise InvalidInput(f"{enterprise_id}: baseline months lack data: {'; '.join(gaps)}")
    y = [float(m.energy_tce) for m in months]  # type: ignore[arg-type]
    cols = {v: [float(m.value(v)) for m in months] for v in variables}  # type: ignore[arg-type]
    fit = ols(y, cols)
    ranges = {v: (min(c), max(c)) for v, c in cols.items()}
    return Model(enterprise_id, tuple(variables), months[0].month, months[-1].month, fit,
                 ranges, judge(fit, params))  # fmt: skip


@dataclass(frozen=True, slots=True)
class ReportRow:
    month: date
    actual_tce: float | None
    expected_tce: float | None
    savings_tce: float | None
    cusum_tce: float
    enpi_ratio: float | None
    flags: tuple[str, ...]


def _flags(model: Model, m: MonthData) -> list[str]:
    flags = [f"no_{v}" for v in _lacking(m, model.variables)]
    for v in model.variables:
        x = m.value(v)
        lo, hi = model.ranges[v]
        if x is not None and not lo <= x <= hi:
            flags.append(f"{v}_outside_baseline")
    if not model.acceptable:
        flags.append("model_unacceptable")
    return flags


def report(model: Model, months: Sequence[MonthData]) -> list[ReportRow]:
    """Expected energy, savings, CUSUM and EnPI ratio per month; missing data is flagged
    and leaves the CUSUM where it was."""
    cusum = 0.0
    out = []
    for m in months:
        flags = _flags(model, m)
        expected = actual = savings = ratio = None
        if not _lacking(m, model.variables):
            x = {v: float(m.value(v)) for v in model.variables}  # type: ignore[arg-type]
            expected = model.fit.predict(x)
            actual = m.energy_tce
            assert actual is not None
            savings = expected - actual
            cusum += savings
            ratio = actual / expected if expected > 0 else None
        elif m.energy_tce is not None:
            actual = m.energy_tce
        out.append(ReportRow(m.month, actual, expected, savings, cusum, ratio, tuple(flags)))
    return out


def negative_streak(rows: Sequence[ReportRow]) -> int:
    """How many of the newest months in a row have negative savings (a gap ends it)."""
    n = 0
    for r in reversed(rows):
        if r.savings_tce is None or r.savings_tce >= 0:
            break
        n += 1
    return n


def _num(v: float | None, fmt: str = ".4f") -> str:
    return "" if v is None else format(v, fmt)


def report_csv(rows: Sequence[ReportRow]) -> str:
    lines = [REPORT_HEADER]
    for r in rows:
        lines.append(
            f"{r.month:%Y-%m},{_num(r.actual_tce)},{_num(r.expected_tce)},"
            f"{_num(r.savings_tce)},{r.cusum_tce:.4f},{_num(r.enpi_ratio)},{';'.join(r.flags)}"
        )
    return "\n".join(lines) + "\n"


def describe(model: Model) -> str:
    """The model and its statistics, as the fit command prints them."""
    f = model.fit
    state = "acceptable" if model.acceptable else "NOT acceptable: " + "; ".join(model.failures)
    lines = [
        f"enterprise {model.enterprise_id}: baseline {model.baseline_from:%Y-%m} .. "
        f"{model.baseline_to:%Y-%m}, energy_tce = b0 + "
        + " + ".join(f"b{i}*{v}" for i, v in enumerate(model.variables, 1)),
        f"n = {f.n}, p = {f.p}",
        f"{'term':<10} {'coef':>14} {'std_err':>12} {'t':>9} {'p_value':>10}",
    ]
    for c in f.coefficients:
        lines.append(f"{c.name:<10} {c.value:>14.6g} {c.std_error:>12.4g} {c.t:>9.3f} "
                     f"{c.p_value:>10.3g}")  # fmt: skip
    lines.append(f"R2 = {f.r2:.4f}, adjusted R2 = {f.adj_r2:.4f}, CV(RMSE) = {f.cv_rmse:.2%}, "
                 f"NMBE = {f.nmbe:.3%}")  # fmt: skip
    lines.append(f"model {state}")
    return "\n".join(lines)

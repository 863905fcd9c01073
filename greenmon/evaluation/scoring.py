"""亩产效益 comprehensive evaluation: indicators, scores, ranks and classes A-D. Pure.

Per enterprise and year, from its declared inputs (land, tax, revenue, R&D, staff) and
greenmon's own yearly figures (value-added at constant 2020 prices, energy in tce
excluding feedstock, CO2 in t, electricity in kWh). Within each scale group:

* benchmark B_k: configured, else the mean of indicator k over the group's evaluated
  enterprises that have it (exempt ones included: they are evaluated too);
* score_k = w_k * min(x_k / B_k, cap); an enterprise without indicator k gets the group's
  mean score_k, and its note says so; total = sum of score_k;
* rank by total, 1 = best, equal totals share the better rank; with n enterprises the
  rank r is class A if r <= ceil(a*n), B if r <= ceil(b*n), C if r <= ceil(c*n), else D
  (a, b, c = 0.25, 0.70, 0.95 by default);
* an exempt enterprise is scored and ranked but classed B, its reason in the note.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from greenmon.accounting.evaluation_params import (
    INDICATOR_KEYS,
    EvaluationParams,
    GroupParams,
    Scale,
)

CLASSES: Final = ("A", "B", "C", "D")
_TIE_DIGITS: Final = 9  # totals equal to 9 decimals are a tie


@dataclass(frozen=True, slots=True)
class EnterpriseInput:
    """One row of the evaluation import (money in 10^4 CNY, land in mu)."""

    enterprise_id: str
    year: int
    land_mu: float
    tax: float
    revenue: float
    rd_spend: float
    employees: float
    scale: Scale
    exempt: str | None = None


@dataclass(frozen=True, slots=True)
class YearFigures:
    """greenmon's own yearly figures of an enterprise; None where it has none."""

    value_added: float | None = None
    energy_tce: float | None = None
    co2_t: float | None = None
    electricity_kwh: float | None = None


@dataclass(frozen=True, slots=True)
class Scored:
    enterprise_id: str
    year: int
    scale: Scale
    indicators: Mapping[str, float | None]
    scores: Mapping[str, float | None]
    total: float
    rank: int
    klass: str
    note: str


def _ratio(num: float | None, den: float | None) -> float | None:
    if num is None or den is None or den <= 0:
        return None
    return num / den


def indicators(inp: EnterpriseInput, fig: YearFigures) -> dict[str, float | None]:
    """The seven indicators; None where a figure is missing or a denominator is 0."""
    va = fig.value_added
    return {
        "tax_per_mu": _ratio(inp.tax, inp.land_mu),
        "va_per_mu": _ratio(va, inp.land_mu),
        "va_per_tce": _ratio(va, fig.energy_tce),
        "va_per_tco2": _ratio(va, fig.co2_t),
        "labour_productivity": _ratio(va, inp.employees),
        "rd_intensity": _ratio(inp.rd_spend, inp.revenue),
        "tax_per_kwh": _ratio(inp.tax, fig.electricity_kwh),
    }


def class_of(rank: int, n: int, shares: Sequence[float]) -> str:
    """Class of rank ``rank`` (1 = best) among ``n``: A/B/C up to ceil(share * n), else D."""
    for klass, share in zip(CLASSES, shares, strict=False):
        # round first: 0.7 * 10 is 7.000000000000001 in floating point, not above 7
        if rank <= math.ceil(round(share * n, 9)):
            return klass
    return CLASSES[-1]


def competition_ranks(totals: Sequence[float]) -> list[int]:
    """Rank of each total, 1 = highest; equal totals share the better rank (1, 2, 2, 4)."""
    keyed = [round(t, _TIE_DIGITS) for t in totals]
    order = sorted(range(len(totals)), key=lambda i: -keyed[i])
    ranks = [0] * len(totals)
    for pos, i in enumerate(order):
        before = order[pos - 1] if pos else None
        tied = before is not None and keyed[before] == keyed[i]
        ranks[i] = ranks[before] if tied and before is not None else pos + 1
    return ranks


def benchmarks(
    values: Sequence[Mapping[str, float | None]], params: GroupParams
) -> dict[str, float | None]:
    """B_k per weighted indicator: configured, else the mean over those that have it."""
    out: dict[str, float | None] = {}
    for k in params.weights:
        have = [v[k] for v in values if v[k] is not None]
        configured = params.benchmarks.get(k)
        out[k] = configured if configured is not None else (
            sum(have) / len(have) if have else None)  # type: ignore[arg-type]  # fmt: skip
    return out


def _scores(
    values: Sequence[Mapping[str, float | None]], params: GroupParams
) -> tuple[list[dict[str, float | None]], list[list[str]]]:
    bench = benchmarks(values, params)
    scores: list[dict[str, float | None]] = [dict.fromkeys(INDICATOR_KEYS) for _ in values]
    notes: list[list[str]] = [[] for _ in values]
    for k, w in params.weights.items():
        b = bench[k]
        own: list[float] = []
        for i, v in enumerate(values):
            x = v[k]
            if x is not None and b is not None:
                s = w * min(x / b, params.cap) if b > 0 else 0.0
                scores[i][k] = s
                own.append(s)
        mean = sum(own) / len(own) if own else 0.0
        for i, v in enumerate(values):
            if scores[i][k] is None:
                scores[i][k] = mean
                why = "no data" if v[k] is None else "no benchmark"
                notes[i].append(f"{k}: {why}, scored at the group mean {mean:.4g}")
    return scores, notes


def score_group(
    rows: Sequence[tuple[EnterpriseInput, Mapping[str, float | None]]], params: GroupParams
) -> list[Scored]:
    """Score, rank and class one scale group (rows: input and its indicators)."""
    values = [ind for _inp, ind in rows]
    scores, notes = _scores(values, params)
    totals = [sum(s for s in sc.values() if s is not None) for sc in scores]
    ranks = competition_ranks(totals)
    out = []
    for (inp, ind), sc, why, total, rank in zip(rows, scores, notes, totals, ranks, strict=True):
        klass = class_of(rank, len(rows), params.shares)
        note = list(why)
        if inp.exempt:
            note.append(f"exempt ({inp.exempt}): classed B, would be {klass}")
            klass = "B"
        shown = {k: (sc[k] if k in params.weights else None) for k in INDICATOR_KEYS}
        out.append(Scored(inp.enterprise_id, inp.year, inp.scale, dict(ind), shown, total,
                          rank, klass, "; ".join(note)))  # fmt: skip
    return out


def evaluate(
    inputs: Iterable[EnterpriseInput],
    figures: Mapping[str, YearFigures],
    params: EvaluationParams,
    year: int,
) -> list[Scored]:
    """Every enterprise of ``year``, group by group (above, then below), best first."""
    out: list[Scored] = []
    chosen = [i for i in inputs if i.year == year]
    for scale in ("above", "below"):
        group = [(i, indicators(i, figures.get(i.enterprise_id, YearFigures())))
                 for i in chosen if i.scale == scale]  # fmt: skip
        if group:
            scored = score_group(group, params.group(scale, year))
            out += sorted(scored, key=lambda s: (s.rank, s.enterprise_id))
    return out


OUTPUT_HEADER: Final = (
    "enterprise_id,year,scale,"
    + ",".join(INDICATOR_KEYS)
    + ","
    + ",".join(f"score_{k}" for k in INDICATOR_KEYS)
    + ",total,rank,class,note"
)


def _cell(v: float | None) -> str:
    return "" if v is None else f"{v:.6g}"


def to_csv(rows: Iterable[Scored]) -> str:
    """The result file: header, then one line per enterprise (the note quoted)."""
    lines = [OUTPUT_HEADER]
    for r in rows:
        cells = [r.enterprise_id, str(r.year), r.scale]
        cells += [_cell(r.indicators[k]) for k in INDICATOR_KEYS]
        cells += [_cell(r.scores[k]) for k in INDICATOR_KEYS]
        note = '"' + r.note.replace('"', '""') + '"' if r.note else ""
        cells += [f"{r.total:.4f}", str(r.rank), r.klass, note]
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"

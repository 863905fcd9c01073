"""Evaluation parameters per jurisdiction and year: the ``[[evaluation]]`` and ``[enpi]``
tables of the plan file (greenmon.accounting.config reads them through :func:`parse`).

::

    [[evaluation]]             # 亩产效益; one per scale group (and year, optional)
    scale = "above"            # above | below (规上 / 规下)
    year = 2025                # optional: without it, every year without its own entry
    weights = { tax_per_mu = 30, va_per_mu = 20, rd_intensity = 10, ... }  # one line
    benchmarks = { tax_per_mu = 25.0 }   # optional; default: the group's mean
    cap = 2.0                  # score_k = w_k * min(x_k / B_k, cap)
    class_shares = { A = 0.25, B = 0.70, C = 0.95 }

    [enpi]                     # ISO 50006 baselines; ASHRAE Guideline 14 monthly criteria
    hdd_base_c = 18.0
    cdd_base_c = 26.0
    min_r2 = 0.75
    max_cv_rmse = 0.15
    max_abs_nmbe = 0.05
    min_baseline_months = 12
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Literal

Scale = Literal["above", "below"]
SCALES: Final[tuple[Scale, ...]] = ("above", "below")
INDICATOR_KEYS: Final = (
    "tax_per_mu",
    "va_per_mu",
    "va_per_tce",
    "va_per_tco2",
    "labour_productivity",
    "rd_intensity",
    "tax_per_kwh",
)
DEFAULT_WEIGHTS: Final[Mapping[Scale, Mapping[str, float]]] = MappingProxyType(
    {
        "above": MappingProxyType(
            {
                "tax_per_mu": 30.0,
                "va_per_mu": 20.0,
                "va_per_tce": 20.0,
                "va_per_tco2": 10.0,
                "labour_productivity": 10.0,
                "rd_intensity": 10.0,
            }
        ),
        "below": MappingProxyType({"tax_per_mu": 50.0, "tax_per_kwh": 50.0}),
    }
)
DEFAULT_SHARES: Final = (0.25, 0.70, 0.95)
EVALUATION_KEYS: Final = ("scale", "year", "weights", "benchmarks", "cap", "class_shares")
ENPI_KEYS: Final = (
    "hdd_base_c",
    "cdd_base_c",
    "min_r2",
    "max_cv_rmse",
    "max_abs_nmbe",
    "min_baseline_months",
)


@dataclass(frozen=True, slots=True)
class GroupParams:
    """Scoring parameters of one scale group in one year (or every year: ``year`` None)."""

    scale: Scale
    weights: Mapping[str, float]
    benchmarks: Mapping[str, float] = field(default_factory=dict)
    cap: float = 2.0
    shares: tuple[float, float, float] = DEFAULT_SHARES
    year: int | None = None

    def __post_init__(self) -> None:
        for name in ("weights", "benchmarks"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))


@dataclass(frozen=True, slots=True)
class EnpiParams:
    """Degree-day bases (°C) and the model acceptance criteria (shares, not percent)."""

    hdd_base_c: float = 18.0
    cdd_base_c: float = 26.0
    min_r2: float = 0.75
    max_cv_rmse: float = 0.15
    max_abs_nmbe: float = 0.05
    min_baseline_months: int = 12


@dataclass(frozen=True, slots=True)
class EvaluationParams:
    groups: tuple[GroupParams, ...] = ()
    enpi: EnpiParams = field(default_factory=EnpiParams)

    def group(self, scale: Scale, year: int) -> GroupParams:
        """The year's own entry, else the every-year entry, else the defaults."""
        for wanted in (year, None):
            for g in self.groups:
                if g.scale == scale and g.year == wanted:
                    return g
        return GroupParams(scale, DEFAULT_WEIGHTS[scale])


def _number(v: Any) -> bool:
    return type(v) in (int, float) and math.isfinite(v)


def _indicator_table(
    where: str, key: str, value: Any, errors: list[str], *, allow_zero: bool
) -> dict[str, float]:
    if not isinstance(value, dict):
        errors.append(f"{where}: {key} must be a table of indicator = number")
        return {}
    out: dict[str, float] = {}
    for k, v in value.items():
        if k not in INDICATOR_KEYS:
            errors.append(f"{where}: {key}.{k} is not an indicator ({', '.join(INDICATOR_KEYS)})")
        elif not _number(v) or v < 0 or (v == 0 and not allow_zero):
            errors.append(f"{where}: {key}.{k} = {v!r} is not a finite number > 0")
        else:
            out[k] = float(v)
    return out


def _shares(where: str, value: Any, errors: list[str]) -> tuple[float, float, float]:
    keys = ("A", "B", "C")
    if not isinstance(value, dict) or set(value) != set(keys):
        errors.append(f"{where}: class_shares must set exactly A, B and C")
        return DEFAULT_SHARES
    a, b, c = (value[k] for k in keys)
    if not all(_number(v) for v in (a, b, c)) or not 0 < a <= b <= c <= 1:
        errors.append(f"{where}: class_shares must satisfy 0 < A <= B <= C <= 1")
        return DEFAULT_SHARES
    return float(a), float(b), float(c)


def _group(where: str, t: dict[str, Any], errors: list[str]) -> GroupParams | None:
    before = len(errors)
    errors.extend(f"{where}: unknown key {k!r}" for k in t if k not in EVALUATION_KEYS)
    scale = t.get("scale")
    if scale not in SCALES:
        errors.append(f"{where}: scale = {scale!r} is not one of above, below")
    year = t.get("year")
    if year is not None and not (type(year) is int and 1990 <= year <= 2100):
        errors.append(f"{where}: year = {year!r} is not a year in 1990-2100")
    weights = DEFAULT_WEIGHTS.get(scale, {}) if scale in SCALES else {}
    if "weights" in t:
        weights = _indicator_table(where, "weights", t["weights"], errors, allow_zero=True)
        if not weights or sum(weights.values()) <= 0:
            errors.append(f"{where}: weights must give at least one indicator a weight > 0")
    benchmarks = _indicator_table(where, "benchmarks", t.get("benchmarks", {}), errors,
                                  allow_zero=False)  # fmt: skip
    cap = t.get("cap", 2.0)
    if not _number(cap) or cap <= 0:
        errors.append(f"{where}: cap = {cap!r} is not a finite number > 0")
    shares = _shares(where, t["class_shares"], errors) if "class_shares" in t else DEFAULT_SHARES
    if len(errors) > before or scale not in SCALES:
        return None
    chosen: Scale = "above" if scale == "above" else "below"
    return GroupParams(chosen, weights, benchmarks, float(cap), shares, year)


def _enpi(value: Any, errors: list[str]) -> EnpiParams:
    if not isinstance(value, dict):
        errors.append("[enpi] must be a table")
        return EnpiParams()
    before = len(errors)
    errors.extend(f"[enpi]: unknown key {k!r}" for k in value if k not in ENPI_KEYS)
    good = {k: v for k, v in value.items() if k in ENPI_KEYS}
    for k, v in good.items():
        if k == "min_baseline_months":
            if type(v) is not int or v < 3:
                errors.append(f"[enpi]: {k} = {v!r} is not a whole number >= 3")
        elif not _number(v) or (not k.endswith("_base_c") and v <= 0):
            errors.append(f"[enpi]: {k} = {v!r} is not a finite number" + (
                "" if k.endswith("_base_c") else " > 0"))  # fmt: skip
    if "min_r2" in good and _number(good["min_r2"]) and good["min_r2"] > 1:
        errors.append(f"[enpi]: min_r2 = {good['min_r2']!r} is above 1")
    d = EnpiParams()
    if len(errors) > before:
        return d

    def num(k: str) -> float:
        return float(good.get(k, getattr(d, k)))

    return EnpiParams(
        num("hdd_base_c"), num("cdd_base_c"), num("min_r2"), num("max_cv_rmse"),
        num("max_abs_nmbe"), int(good.get("min_baseline_months", d.min_baseline_months)),
    )  # fmt: skip


def parse(doc: Mapping[str, Any], errors: list[str]) -> EvaluationParams:
    """The evaluation tables of a parsed plan file; problems are appended to ``errors``."""
    groups: list[GroupParams] = []
    raw = doc.get("evaluation", [])
    if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
        errors.append("[[evaluation]] must be an array of tables")
        raw = []
    for i, t in enumerate(raw, 1):
        g = _group(f"[[evaluation]] #{i}", t, errors)
        if g is None:
            continue
        if any(o.scale == g.scale and o.year == g.year for o in groups):
            errors.append(f"[[evaluation]] #{i}: repeats scale {g.scale!r} year {g.year}")
        groups.append(g)
    enpi = _enpi(doc["enpi"], errors) if "enpi" in doc else EnpiParams()
    return EvaluationParams(tuple(groups), enpi)


def to_doc(params: EvaluationParams) -> dict[str, Any]:
    """The plan-file tables that :func:`parse` reads back to the same parameters."""
    groups = []
    for g in params.groups:
        t: dict[str, Any] = {
            "scale": g.scale,
            "weights": dict(g.weights),
            "cap": g.cap,
            "class_shares": dict(zip(("A", "B", "C"), g.shares, strict=True)),
        }
        if g.benchmarks:
            t["benchmarks"] = dict(g.benchmarks)
        if g.year is not None:
            t["year"] = g.year
        groups.append(t)
    e = params.enpi
    enpi = {k: getattr(e, k) for k in ENPI_KEYS}
    return {"evaluation": groups, "enpi": enpi}

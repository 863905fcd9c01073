"""The accounting configuration: plan periods, target overrides, price index, caps, electricity.

TOML, one array of tables per kind (the packaged ``data/plan.toml`` documents each)::

    [[period]]       name, base_year, end_year, energy, co2, water, source
    [[target]]       period, scope (district|industry|enterprise), id, energy?, co2?, water?
    [[price_index]]  year, industry ("*" or an industry id; default "*"), index (2020 = 1.0)
    [[cap]]          enterprise, year, energy_tce
    [electricity]    method ("equivalent" | "generation"; default "equivalent")
    [[electricity.override]]           scope (district|enterprise), id, method
    [[electricity.generation_factor]]  year, kgce_per_kwh, source
    [[evaluation]] / [enpi]            evaluation parameters (greenmon.accounting.evaluation_params)

District and industry ids may be given by id or Chinese name and are stored as ids.
Every problem is reported at once, naming the table and entry (``[[target]] #2: ...``);
unknown keys are refused so that a misspelt key cannot silently fall back to a default.
"""

from __future__ import annotations

import functools
import itertools
import math
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from types import MappingProxyType
from typing import Any, Final, Literal, NamedTuple

from greenmon.accounting import evaluation_params
from greenmon.accounting.plan import (
    INDICATORS,
    SCOPES,
    Indicator,
    PlanPeriod,
    Reductions,
    TargetOverride,
    period_for_year,
    reduction_for,
)
from greenmon.accounting.value_added import ANY_INDUSTRY, PRICE_BASE_YEAR, PriceIndex
from greenmon.domain.factors import Factor
from greenmon.domain.reference import Carrier, district_id, industry_id
from greenmon.domain.wire import check_id
from greenmon.errors import InvalidInput

ElectricityMethod = Literal["equivalent", "generation"]
ELECTRICITY_METHODS: Final[tuple[ElectricityMethod, ...]] = ("equivalent", "generation")
ElectricityScope = Literal["district", "enterprise"]
EVALUATION_TABLES: Final = ("evaluation", "enpi")  # greenmon.accounting.evaluation_params
YEARS: Final = range(1990, 2101)
TOP_KEYS: Final = ("period", "target", "price_index", "cap", "electricity", *EVALUATION_TABLES)


class GenerationFactor(NamedTuple):
    """Coal-for-generation value of electricity (等价值) for one year, with its source."""

    kgce_per_kwh: float
    source: str


@dataclass(frozen=True, slots=True)
class AccountingConfig:
    periods: tuple[PlanPeriod, ...]
    overrides: tuple[TargetOverride, ...] = ()
    price_index: PriceIndex = field(default_factory=PriceIndex)
    caps: Mapping[tuple[str, int], float] = field(default_factory=dict)
    electricity_method: ElectricityMethod = "equivalent"
    electricity_overrides: Mapping[tuple[ElectricityScope, str], ElectricityMethod] = field(
        default_factory=dict
    )
    generation_factors: Mapping[int, GenerationFactor] = field(default_factory=dict)
    evaluation: evaluation_params.EvaluationParams = field(
        default_factory=evaluation_params.EvaluationParams
    )

    def __post_init__(self) -> None:
        for name in ("caps", "electricity_overrides", "generation_factors"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))

    def period_for_year(self, year: int) -> PlanPeriod | None:
        return period_for_year(self.periods, year)


# Rules for values: a predicate and what it expects, for the error message.
_YEAR: Final = (lambda v: type(v) is int and v in YEARS, f"a year in {YEARS[0]}-{YEARS[-1]}")
_POSITIVE: Final = (
    lambda v: type(v) in (int, float) and math.isfinite(v) and v > 0,
    "a finite number > 0",
)
_REDUCTION: Final = (lambda v: type(v) in (int, float) and 0 <= v < 1, "a reduction in [0, 1)")
_TEXT: Final = (lambda v: isinstance(v, str) and bool(v.strip()), "a non-empty string")


class _Entry:
    """One table of the file; ``get`` records a problem and returns None instead of raising."""

    def __init__(self, where: str, table: Any, errors: list[str], allowed: tuple[str, ...]):
        self.where, self.table, self.errors, self.ok = where, table, errors, True
        for key in table:
            if key not in allowed:
                self.fail(f"unknown key {key!r} (allowed: {', '.join(allowed)})")

    def fail(self, message: str) -> None:
        self.errors.append(f"{self.where}: {message}")
        self.ok = False

    def get(
        self, key: str, rule: tuple[Any, str], *, default: Any = None, opt: bool = False
    ) -> Any:
        if key not in self.table:
            if default is None and not opt:
                self.fail(f"{key} is missing")
            return default
        value = self.table[key]
        if not rule[0](value):
            self.fail(f"{key} = {value!r} is not {rule[1]}")
            return None
        return value.strip() if isinstance(value, str) else value

    def choice(self, key: str, options: tuple[str, ...], default: str | None = None) -> Any:
        return self.get(
            key, (options.__contains__, f"one of {', '.join(options)}"), default=default
        )

    def scope_id(self, scope: str | None, key: str = "id") -> Any:
        raw = self.get(key, _TEXT)
        if raw is None or scope is None:
            return None
        lookup = {"district": district_id, "industry": industry_id}.get(scope, _as_id)
        found = lookup(raw)
        if found is None:
            self.fail(f"{key} = {raw!r} is not a known {scope}")
        return found


def _as_id(value: str) -> str | None:
    try:
        check_id("id", value)
    except InvalidInput:
        return None
    return value


def _entries(
    doc: Any, key: str, errors: list[str], allowed: tuple[str, ...], label: str = ""
) -> Iterator[_Entry]:
    """Each table of the array ``key``, in order (checked one after the other)."""
    label = label or key
    value = doc.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        errors.append(f"[[{label}]] must be an array of tables")
        return
    for i, t in enumerate(value, 1):
        yield _Entry(f"[[{label}]] #{i}", t, errors, allowed)


def _periods(doc: dict[str, Any], errors: list[str]) -> list[PlanPeriod]:
    periods: list[PlanPeriod] = []
    before = len(errors)
    for e in _entries(
        doc, "period", errors, ("name", "base_year", "end_year", *INDICATORS, "source")
    ):
        name, base, end = e.get("name", _TEXT), e.get("base_year", _YEAR), e.get("end_year", _YEAR)
        reductions = [e.get(k, _REDUCTION) for k in INDICATORS]
        source = e.get("source", _TEXT)
        if base is not None and end is not None and not base < end:
            e.fail(f"base_year {base} is not before end_year {end}")
        if any(p.name == name for p in periods):
            e.fail(f"name {name!r} repeats an earlier period")
        if e.ok:
            periods.append(PlanPeriod(name, base, end, Reductions(*reductions), source))
    ordered = sorted(periods, key=lambda p: p.base_year)
    for a, b in itertools.pairwise(ordered):
        if a.end_year > b.base_year:
            errors.append(
                f"[[period]] {a.name!r} ({a.base_year}-{a.end_year}) and {b.name!r} "
                f"({b.base_year}-{b.end_year}) overlap"
            )
    if not periods and len(errors) == before:
        errors.append("[[period]]: no plan period is configured")
    return ordered


def _targets(
    doc: dict[str, Any], periods: list[PlanPeriod], errors: list[str]
) -> list[TargetOverride]:
    names = tuple(p.name for p in periods)
    out: dict[tuple[Any, ...], TargetOverride] = {}
    for e in _entries(doc, "target", errors, ("period", "scope", "id", *INDICATORS)):
        period = e.get("period", (names.__contains__, "a configured [[period]] name"))
        scope = e.choice("scope", SCOPES)
        scope_id = e.scope_id(scope)
        r = [e.get(k, _REDUCTION, opt=True) for k in INDICATORS]
        if all(k not in e.table for k in INDICATORS):
            e.fail("sets none of energy, co2, water")
        key = (period, scope, scope_id)
        if key in out:
            e.fail(f"repeats the target of {scope} {scope_id!r} in {period!r}")
        if e.ok:
            out[key] = TargetOverride(period, scope, scope_id, *r)
    return list(out.values())


def _price_index(doc: dict[str, Any], errors: list[str]) -> PriceIndex:
    entries: dict[tuple[int, str], float] = {}
    for e in _entries(doc, "price_index", errors, ("year", "industry", "index")):
        year, index = e.get("year", _YEAR), e.get("index", _POSITIVE)
        industry = e.get("industry", _TEXT, default=ANY_INDUSTRY)
        if industry not in (None, ANY_INDUSTRY):
            industry = e.scope_id("industry", "industry")
        if year == PRICE_BASE_YEAR and index not in (None, 1.0):
            e.fail(f"index {index!r} for 2020, but 2020 is 1.0 by definition")
        if (year, industry) in entries:
            e.fail(f"repeats the index of {year} for industry {industry!r}")
        if e.ok:
            entries[(year, industry)] = float(index)
    return PriceIndex(entries)


def _caps(doc: dict[str, Any], errors: list[str]) -> dict[tuple[str, int], float]:
    caps: dict[tuple[str, int], float] = {}
    for e in _entries(doc, "cap", errors, ("enterprise", "year", "energy_tce")):
        enterprise = e.scope_id("enterprise", "enterprise")
        year, cap = e.get("year", _YEAR), e.get("energy_tce", _POSITIVE)
        if (enterprise, year) in caps:
            e.fail(f"repeats the cap of {enterprise!r} in {year}")
        if e.ok:
            caps[(enterprise, year)] = float(cap)
    return caps


class _Electricity(NamedTuple):
    method: ElectricityMethod
    overrides: dict[tuple[ElectricityScope, str], ElectricityMethod]
    factors: dict[int, GenerationFactor]


def _electricity(doc: dict[str, Any], errors: list[str]) -> _Electricity:
    table = doc.get("electricity", {})
    if not isinstance(table, dict):
        errors.append("[electricity] must be a table")
        table = {}
    e = _Entry("[electricity]", table, errors, ("method", "override", "generation_factor"))
    method = e.choice("method", ELECTRICITY_METHODS, "equivalent")
    overrides: dict[tuple[ElectricityScope, str], ElectricityMethod] = {}
    label = "electricity.override"
    for o in _entries(table, "override", errors, ("scope", "id", "method"), label):
        scope = o.choice("scope", ("district", "enterprise"))
        key: Any = (scope, o.scope_id(scope))
        chosen = o.choice("method", ELECTRICITY_METHODS)
        if key in overrides:
            o.fail(f"repeats the method of {scope} {key[1]!r}")
        if o.ok:
            overrides[key] = chosen
    factors: dict[int, GenerationFactor] = {}
    label = "electricity.generation_factor"
    gen = _entries(table, "generation_factor", errors, ("year", "kgce_per_kwh", "source"), label)
    for g in gen:
        year, value = g.get("year", _YEAR), g.get("kgce_per_kwh", _POSITIVE)
        source = g.get("source", _TEXT)
        if value is not None and value >= 1.0:
            g.fail(f"kgce_per_kwh = {value!r} is implausible (about 0.3 is usual); check the unit")
        if year in factors:
            g.fail(f"repeats the factor of {year}")
        if g.ok:
            factors[year] = GenerationFactor(float(value), source)
    if "generation" in (method, *overrides.values()) and not table.get("generation_factor"):
        errors.append(
            "[electricity]: method 'generation' is selected but no "
            "[[electricity.generation_factor]] is configured"
        )
    return _Electricity(method, overrides, factors)


def parse_config(text: str) -> AccountingConfig:
    """Parse and validate an accounting configuration; one InvalidInput lists every problem."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"accounting config is not valid TOML: {exc}") from None
    errors = [f"unknown top-level key {k!r}" for k in doc if k not in TOP_KEYS]
    periods = _periods(doc, errors)
    overrides = _targets(doc, periods, errors)
    price_index = _price_index(doc, errors)
    caps = _caps(doc, errors)
    electricity = _electricity(doc, errors)
    evaluation = evaluation_params.parse(doc, errors)
    if errors:
        raise InvalidInput("accounting config refused:\n" + "\n".join(f"  {e}" for e in errors))
    return AccountingConfig(
        periods=tuple(periods),
        overrides=tuple(overrides),
        price_index=price_index,
        caps=caps,
        electricity_method=electricity.method,
        electricity_overrides=electricity.overrides,
        generation_factors=electricity.factors,
        evaluation=evaluation,
    )


def packaged_plan_text() -> str:
    """The packaged plan file (TOML), a starting point for a city's own."""
    return resources.files("greenmon.accounting").joinpath("data/plan.toml").read_text("utf-8")


@functools.cache
def default_config() -> AccountingConfig:
    """The packaged configuration: the 14th Five-Year Plan with the national targets."""
    return parse_config(packaged_plan_text())


def electricity_method_for(
    config: AccountingConfig, enterprise_id: str, district: str | None
) -> ElectricityMethod:
    """The enterprise's override, else its district's, else the configured default."""
    found = config.electricity_overrides.get(("enterprise", enterprise_id))
    if found is None and district is not None:
        found = config.electricity_overrides.get(("district", district))
    return found if found is not None else config.electricity_method


def target_for(
    config: AccountingConfig,
    indicator: Indicator,
    year: int,
    *,
    enterprise_id: str | None = None,
    district: str | None = None,
    industry: str | None = None,
) -> tuple[PlanPeriod | None, float | None]:
    """The period covering ``year`` and the entity's reduction in it; (None, None) if none."""
    period = config.period_for_year(year)
    if period is None:
        return None, None
    entity = {"enterprise_id": enterprise_id, "district": district, "industry": industry}
    return period, reduction_for(period, config.overrides, indicator, **entity)


def generation_factor_rows(config: AccountingConfig) -> tuple[Factor, ...]:
    """The configured coal-for-generation values as factor rows (variant ``generation``).

    Each is valid for its calendar year. Add them to the factor table so that
    ``convert(..., electricity_method="generation")`` finds them; a year without one
    stays missing (FactorMissing), never a silent zero.
    """
    elec = Carrier.ELECTRICITY
    return tuple(
        Factor(
            f"tce-elec-generation-{y}",
            "tce",
            elec,
            "generation",
            g.kgce_per_kwh,
            "kgce/kWh",
            date(y, 1, 1),
            date(y + 1, 1, 1),
            g.source,
        )
        for y, g in sorted(config.generation_factors.items())
    )

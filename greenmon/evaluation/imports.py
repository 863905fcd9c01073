"""The evaluation's input files, each all rows or none (ImportRefused lists every bad row).

* evaluation inputs: ``enterprise_id,year,land_mu,tax,revenue,rd_spend,employees,scale``
  and an optional ``exempt`` (a reason: utility, start-up, construction period ...);
  money in 10^4 CNY, land in mu, scale ``above`` or ``below`` (规上 / 规下);
* monthly production: ``enterprise_id,month,output,unit`` (one unit per enterprise);
* daily weather of the city: ``date,mean_temp_c``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final

from greenmon.accounting.evaluation_params import SCALES, Scale
from greenmon.accounting.value_added import (
    ImportRefused,
    _parse_month,
    parse_csv_file,
    parse_number,
)
from greenmon.evaluation.scoring import EnterpriseInput

EVALUATION_FIELDS: Final = (
    "enterprise_id", "year", "land_mu", "tax", "revenue", "rd_spend", "employees", "scale",
)  # fmt: skip
PRODUCTION_FIELDS: Final = ("enterprise_id", "month", "output", "unit")
WEATHER_FIELDS: Final = ("date", "mean_temp_c")
TEMP_RANGE_C: Final = (-60.0, 60.0)
_YEAR = re.compile(r"\d{4}")
_UNIT = re.compile(r"[^\s,;]{1,32}")


@dataclass(frozen=True, slots=True)
class ProductionRow:
    enterprise_id: str
    month: date
    output: float
    unit: str


def _enterprise(text: str, known: Collection[str], problems: list[str]) -> str:
    if text not in known:
        problems.append(f"enterprise_id {text[:64]!r} is not a registered enterprise")
    return text


def _number(column: str, text: str, problems: list[str], *, positive: bool = False) -> float:
    try:
        value = parse_number(column, text)
    except ValueError as exc:
        problems.append(str(exc))
        return math.nan
    assert value is not None
    if positive and value <= 0:
        problems.append(f"{column} {text!r} must be above 0")
    return value


def _evaluation_row(row: Mapping[str, str], known: Collection[str]) -> EnterpriseInput:
    problems: list[str] = []
    eid = _enterprise(row["enterprise_id"], known, problems)
    year = int(row["year"]) if _YEAR.fullmatch(row["year"]) else 0
    if not 1990 <= year <= 2100:
        problems.append(f"year {row['year'][:20]!r} is not a year in 1990-2100")
    land = _number("land_mu", row["land_mu"], problems, positive=True)
    tax, revenue, rd_spend, employees = (
        _number(c, row[c], problems) for c in ("tax", "revenue", "rd_spend", "employees")
    )
    scale = row["scale"]
    if scale not in SCALES:
        problems.append(f"scale {scale[:20]!r} is not above or below (规上/规下)")
    exempt = row.get("exempt", "") or None
    if exempt is not None and len(exempt) > 200:
        problems.append("exempt reason is longer than 200 characters")
    if problems:
        raise ValueError("; ".join(problems))
    chosen: Scale = "above" if scale == "above" else "below"
    return EnterpriseInput(eid, year, land, tax, revenue, rd_spend, employees, chosen, exempt)


def parse_evaluation_csv(text: str, known: Collection[str]) -> list[EnterpriseInput]:
    return parse_csv_file(
        text, "evaluation file", EVALUATION_FIELDS, ("exempt",),
        lambda row: _evaluation_row(row, known),
        key=lambda r: f"{r.enterprise_id} {r.year}",
    )  # fmt: skip


def _production_row(row: Mapping[str, str], known: Collection[str]) -> ProductionRow:
    problems: list[str] = []
    eid = _enterprise(row["enterprise_id"], known, problems)
    month = date.min
    try:
        month = _parse_month(row["month"])
    except ValueError as exc:
        problems.append(str(exc))
    output = _number("output", row["output"], problems)
    if not _UNIT.fullmatch(row["unit"]):
        problems.append(f"unit {row['unit'][:40]!r} is not a unit name (1-32 characters)")
    if problems:
        raise ValueError("; ".join(problems))
    return ProductionRow(eid, month, output, row["unit"])


def parse_production_csv(
    text: str, known: Collection[str], stored_units: Mapping[str, str]
) -> list[ProductionRow]:
    """Production rows; an enterprise keeps one unit (within the file and with stored rows)."""
    rows = parse_csv_file(
        text, "production file", PRODUCTION_FIELDS, (),
        lambda row: _production_row(row, known),
        key=lambda r: f"{r.enterprise_id} {r.month:%Y-%m}",
    )  # fmt: skip
    units = dict(stored_units)
    errors = []
    for line, r in enumerate(rows, 2):
        unit = units.setdefault(r.enterprise_id, r.unit)
        if unit != r.unit:
            errors.append(f"line {line}: {r.enterprise_id} unit {r.unit!r}, but its output "
                          f"is counted in {unit!r}")  # fmt: skip
    if errors:
        raise ImportRefused("production file", errors)
    return rows


def _weather_row(row: Mapping[str, str]) -> tuple[date, float]:
    problems: list[str] = []
    day = date.min
    try:
        day = date.fromisoformat(row["date"])
    except ValueError:
        problems.append(f"date {row['date'][:40]!r} is not YYYY-MM-DD")
    text = row["mean_temp_c"].strip()
    t = float(text) if re.fullmatch(r"[+-]?\d+(\.\d*)?", text) else math.nan
    lo, hi = TEMP_RANGE_C
    if not lo <= t <= hi:
        problems.append(f"mean_temp_c {text[:20]!r} is not a temperature in {lo:g}..{hi:g} °C")
    if problems:
        raise ValueError("; ".join(problems))
    return day, t


def parse_weather_csv(text: str) -> Sequence[tuple[date, float]]:
    return parse_csv_file(
        text, "weather file", WEATHER_FIELDS, (), _weather_row, key=lambda r: r[0].isoformat()
    )

"""Monthly value-added per enterprise at constant 2020 prices: price index, deflation, import.

Value-added is booked in 10^4 CNY at constant 2020 prices. A submission in current
prices is divided by the price index of its year (industry-specific where configured,
else the all-industry ``"*"`` index; 2020 is 1.0 by definition).

Import file ``enterprise_id,month,value_added,price_basis`` (month ``YYYY-MM``,
price_basis ``constant_2020`` or ``current``). The whole file is checked before anything
is accepted: every invalid row is reported with its line number and reason in one
:class:`ImportRefused`, and a file with any invalid row yields nothing. The same four
fields arrive one month at a time as JSON on the Kafka topic ``greenmon.value_added``
(greenmon.messages.value_added, which checks their rows with :func:`build_row`).
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import Any, Final, Literal, TypeVar

from greenmon.errors import InvalidInput

PriceBasis = Literal["constant_2020", "current"]
PRICE_BASES: Final[tuple[PriceBasis, ...]] = ("constant_2020", "current")
PRICE_BASE_YEAR: Final = 2020
ANY_INDUSTRY: Final = "*"
FIELDS: Final = ("enterprise_id", "month", "value_added", "price_basis")
MAX_ERRORS_SHOWN: Final = 20
MONTH_YEARS: Final = range(1990, 2101)

_MONTH = re.compile(r"(\d{4})-(\d{2})")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PriceIndex:
    """Price index per (year, industry id or ``"*"``), relative to 2020 = 1.0.

    An industry-specific index wins over ``"*"``. The 2020 index is 1.0 by definition
    (a configured 2020 entry must say so).
    """

    entries: Mapping[tuple[int, str], float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for (year, industry), value in self.entries.items():
            if not (math.isfinite(value) and value > 0):
                raise InvalidInput(f"price index {year}/{industry}: {value!r} is not > 0")
            if year == PRICE_BASE_YEAR and value != 1.0:
                raise InvalidInput(
                    f"price index {year}/{industry}: {value!r}, but 2020 is 1.0 by definition"
                )
        object.__setattr__(self, "entries", MappingProxyType(dict(self.entries)))

    def lookup(self, year: int, industry: str | None = None) -> float | None:
        if industry is not None and (year, industry) in self.entries:
            return self.entries[(year, industry)]
        if (year, ANY_INDUSTRY) in self.entries:
            return self.entries[(year, ANY_INDUSTRY)]
        return 1.0 if year == PRICE_BASE_YEAR else None


def deflate(
    value: float, basis: PriceBasis, year: int, industry: str | None, index: PriceIndex
) -> float:
    """Value-added at constant 2020 prices; raises InvalidInput when no index applies."""
    return value / deflator(basis, year, industry, index)


def deflator(basis: PriceBasis, year: int, industry: str | None, index: PriceIndex) -> float:
    """The divisor :func:`deflate` applies: 1.0 for constant prices, else the price index."""
    if basis == "constant_2020":
        return 1.0
    if basis != "current":
        raise InvalidInput(f"price_basis {basis!r} is not one of {', '.join(PRICE_BASES)}")
    found = index.lookup(year, industry)
    if found is None:
        raise InvalidInput(
            f"no price index for {year} (industry {industry or '-'} or '*') "
            "to deflate current prices to constant 2020 prices"
        )
    return found


@dataclass(frozen=True, slots=True)
class ValueAddedRow:
    """One enterprise-month: as submitted, and at constant 2020 prices (10^4 CNY)."""

    enterprise_id: str
    month: date
    value_added_const: float
    submitted: float
    price_basis: PriceBasis
    deflator: float


class ImportRefused(InvalidInput):
    """A file was refused as a whole; ``errors`` holds one ``line N: reason`` per problem."""

    def __init__(self, what: str, errors: Sequence[str]) -> None:
        self.errors = tuple(errors)
        shown = "\n".join(f"  {e}" for e in self.errors[:MAX_ERRORS_SHOWN])
        more = len(self.errors) - MAX_ERRORS_SHOWN
        tail = f"\n  ... and {more} more" if more > 0 else ""
        super().__init__(
            f"{what} refused, nothing imported: {len(self.errors)} error(s)\n{shown}{tail}"
        )


def parse_csv_file(
    text: str,
    what: str,
    required: Sequence[str],
    optional: Sequence[str],
    parse_row: Callable[[dict[str, str]], T],
    key: Callable[[T], str],
) -> list[T]:
    """Parse every row with ``parse_row`` (ValueError = row error); all rows or ImportRefused.

    ``key`` names what a row is about (``E1 2023-01``): a second row with the same key is
    an error. Header problems refuse the file at once; row problems are collected.
    """
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = [h.strip() for h in reader.fieldnames or []]
    except csv.Error as exc:
        raise ImportRefused(what, [f"line 1: not valid CSV ({exc})"]) from None
    if not header:
        raise ImportRefused(what, ["the file is empty"])
    lacking = [c for c in required if c not in header]
    unknown = [c for c in header if c not in (*required, *optional)]
    doubled = sorted({c for c in header if header.count(c) > 1})
    problems = [f"line 1: header lacks column {c}" for c in lacking]
    problems += [f"line 1: header has unknown column {c!r}" for c in unknown]
    problems += [f"line 1: header repeats column {c}" for c in doubled]
    if problems:
        raise ImportRefused(what, problems)
    reader.fieldnames = header
    out: list[T] = []
    seen: dict[str, int] = {}
    errors: list[str] = []
    try:
        for raw in reader:
            line = reader.line_num
            if None in raw:
                errors.append(f"line {line}: more values than the header has columns")
            elif any(v is None for v in raw.values()):
                errors.append(f"line {line}: fewer values than the header has columns")
            else:
                try:
                    row = parse_row({k: v.strip() for k, v in raw.items()})
                except ValueError as exc:
                    errors.append(f"line {line}: {exc}")
                    continue
                if key(row) in seen:
                    errors.append(f"line {line}: {key(row)} repeats line {seen[key(row)]}")
                seen.setdefault(key(row), line)
                out.append(row)
    except csv.Error as exc:
        errors.append(f"line {reader.line_num}: not valid CSV ({exc})")
    if not out and not errors:
        errors.append("the file has no data rows")
    if errors:
        raise ImportRefused(what, errors)
    return out


def parse_number(column: str, text: str, *, allow_empty: bool = False) -> float | None:
    """A finite number >= 0 written plainly (``1200.5``, ``1.2e3``); ValueError otherwise."""
    if not text:
        if allow_empty:
            return None
        raise ValueError(f"{column} is empty")
    if not _NUMBER.fullmatch(text):
        raise ValueError(f"{column} {text[:40]!r} is not a number")
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{column} {text[:40]!r} is not finite")
    if value < 0:
        raise ValueError(f"{column} {text[:40]!r} is negative")
    return value


def _parse_month(text: str) -> date:
    m = _MONTH.fullmatch(text)
    if not m:
        raise ValueError(f"month {text[:40]!r} is not YYYY-MM")
    year, month = int(m.group(1)), int(m.group(2))
    if not 1 <= month <= 12:
        raise ValueError(f"month {text!r} has no month {month}")
    if year not in MONTH_YEARS:
        raise ValueError(f"month {text!r} is outside {MONTH_YEARS[0]}-{MONTH_YEARS[-1]}")
    return date(year, month, 1)


def build_row(
    fields: Mapping[str, Any], index: PriceIndex, industries: Mapping[str, str]
) -> ValueAddedRow:
    """One row from the four fields; ValueError naming every problem found."""
    problems: list[str] = []

    def check(fn: Callable[[], T]) -> T | None:
        try:
            return fn()
        except ValueError as exc:
            problems.append(str(exc))
            return None

    enterprise_id = str(fields["enterprise_id"])
    if enterprise_id not in industries:
        problems.append(f"enterprise_id {enterprise_id[:64]!r} is not a registered enterprise")
    month = check(lambda: _parse_month(str(fields["month"])))
    raw_value = fields["value_added"]
    value = check(lambda: _value(raw_value))
    basis = str(fields["price_basis"])
    if basis not in PRICE_BASES:
        problems.append(f"price_basis {basis[:40]!r} is not one of {', '.join(PRICE_BASES)}")
    if problems or month is None or value is None:
        raise ValueError("; ".join(problems))
    price_basis: PriceBasis = "current" if basis == "current" else "constant_2020"
    try:
        divisor = deflator(price_basis, month.year, industries[enterprise_id], index)
    except InvalidInput as exc:
        raise ValueError(str(exc)) from None
    return ValueAddedRow(
        enterprise_id=enterprise_id,
        month=month,
        value_added_const=value / divisor,
        submitted=value,
        price_basis=price_basis,
        deflator=divisor,
    )


def _value(raw: object) -> float:
    if isinstance(raw, str):
        value = parse_number("value_added", raw)
        assert value is not None
        return value
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ValueError(f"value_added {str(raw)[:40]!r} is not a number")
    try:
        number = float(raw)
    except OverflowError:
        raise ValueError("value_added is too large") from None
    if not math.isfinite(number):
        raise ValueError(f"value_added {number!r} is not finite")
    if number < 0:
        raise ValueError(f"value_added {number!r} is negative")
    return number


def parse_value_added_csv(
    text: str, index: PriceIndex, industries: Mapping[str, str]
) -> list[ValueAddedRow]:
    """Parse a value-added file; all rows, or ImportRefused listing every bad row.

    ``industries`` maps each registered enterprise id to its industry id (for the
    industry-specific price index); an enterprise not in it is a row error. A second row
    for the same enterprise and month is refused, naming the first.
    """
    return parse_csv_file(
        text,
        "value-added file",
        FIELDS,
        (),
        lambda row: build_row(row, index, industries),
        key=lambda row: f"{row.enterprise_id} {row.month:%Y-%m}",
    )

"""Conversion (tce) and emission (CO2) factors as versioned data, and their lookup.

Every row of ``data/factors.csv`` has a source, a unit and a validity period
``[valid_from, valid_to)`` (``valid_to`` empty: in force until superseded). A
reading uses the factor valid at its timestamp (dates are local dates of the
configured zone); where none is valid, :class:`~greenmon.errors.FactorMissing`
is raised, never a silent zero.
"""

from __future__ import annotations

import bisect
import csv
import io
import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from importlib import resources
from typing import Final, Literal

from greenmon.domain.reference import CANONICAL_UNIT, Carrier
from greenmon.errors import FactorMissing, InvalidInput

Quantity = Literal["tce", "co2"]

#: Expected factor unit per carrier and quantity (per canonical unit of the carrier).
_UNITS: Final[dict[tuple[str, Carrier], str]] = {}
for _carrier, _unit in CANONICAL_UNIT.items():
    if _carrier is not Carrier.WATER:
        _UNITS[("tce", _carrier)] = f"kgce/{_unit}"
        _UNITS[("co2", _carrier)] = f"kgCO2/{_unit}"


@dataclass(frozen=True, slots=True)
class Factor:
    factor_id: str
    quantity: Quantity
    carrier: Carrier
    variant: str
    value: float
    unit: str
    valid_from: date
    valid_to: date | None
    source: str

    def valid_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day < self.valid_to)


class FactorTable:
    """Factors indexed by (quantity, carrier, variant), each list sorted by validity."""

    def __init__(self, factors: Iterable[Factor]) -> None:
        index: dict[tuple[str, Carrier, str], list[Factor]] = {}
        for f in factors:
            index.setdefault((f.quantity, f.carrier, f.variant), []).append(f)
        for key, rows in index.items():
            rows.sort(key=lambda f: f.valid_from)
            for prev, nxt in itertools.pairwise(rows):
                if prev.valid_to is None or prev.valid_to > nxt.valid_from:
                    raise InvalidInput(
                        f"factors {prev.factor_id} and {nxt.factor_id} overlap for {key}"
                    )
        self._index = index
        self._starts = {k: [f.valid_from for f in v] for k, v in index.items()}

    def all(self) -> list[Factor]:
        return [f for rows in self._index.values() for f in rows]

    def lookup(self, quantity: Quantity, carrier: Carrier, variant: str, day: date) -> Factor:
        """The factor valid on ``day``; raises FactorMissing if there is none."""
        key = (quantity, carrier, variant)
        rows = self._index.get(key)
        if rows:
            i = bisect.bisect_right(self._starts[key], day) - 1
            if i >= 0 and rows[i].valid_on(day):
                return rows[i]
        raise FactorMissing(
            f"no {quantity} factor for {carrier.value} ({variant}) valid on {day.isoformat()}"
        )

    def in_force(self, day: date) -> list[Factor]:
        return [f for f in self.all() if f.valid_on(day)]


def parse_factors_csv(text: str) -> list[Factor]:
    """Parse a factor file; every row must name a known carrier, its unit and a source."""
    out = []
    for line, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        try:
            carrier = Carrier(row["carrier"])
            quantity = row["quantity"]
            if quantity not in ("tce", "co2"):
                raise ValueError(f"quantity {quantity!r} is not tce or co2")
            expected = _UNITS.get((quantity, carrier))
            if row["unit"] != expected:
                raise ValueError(f"unit {row['unit']!r} should be {expected!r}")
            if not row["source"].strip():
                raise ValueError("source is empty")
            value = float(row["value"])
            if not value > 0:
                raise ValueError(f"value {value} is not positive")
            factor = Factor(
                factor_id=row["factor_id"],
                quantity="tce" if quantity == "tce" else "co2",
                carrier=carrier,
                variant=row["variant"],
                value=value,
                unit=row["unit"],
                valid_from=date.fromisoformat(row["valid_from"]),
                valid_to=date.fromisoformat(row["valid_to"]) if row["valid_to"] else None,
                source=row["source"],
            )
        except (KeyError, ValueError) as exc:
            raise InvalidInput(f"factor file row {line}: {exc}") from None
        out.append(factor)
    return out


def default_factors() -> FactorTable:
    """The factor set shipped in the package (sources in DESIGN.md)."""
    text = resources.files("greenmon.domain").joinpath("data/factors.csv").read_text("utf-8")
    return FactorTable(parse_factors_csv(text))


@dataclass(frozen=True, slots=True)
class Converted:
    """One quantity converted: tce, t CO2 and m3 of water (None: not applicable or missing).

    ``missing`` holds the reason for each factor that was needed but not valid.
    """

    energy_tce: float | None
    co2_t: float | None
    water_m3: float | None
    missing: tuple[str, ...] = ()


def factors_on(
    table: FactorTable,
    carrier: Carrier,
    day: date,
    *,
    grid_region: str,
    electricity_method: str = "equivalent",
) -> tuple[float | None, float | None, tuple[str, ...]]:
    """The (tce, CO2) factor values of a (non-water) carrier valid on ``day`` (None:
    missing) and the reasons for those missing; the same for every amount of that day."""
    electric = carrier is Carrier.ELECTRICITY
    values: list[float | None] = []
    missing: list[str] = []
    for quantity, variant in (
        ("tce", electricity_method if electric else "default"),
        ("co2", grid_region if electric else "default"),
    ):
        try:
            factor = table.lookup(quantity, carrier, variant, day)  # type: ignore[arg-type]
        except FactorMissing as exc:
            missing.append(str(exc))
            values.append(None)
        else:
            values.append(factor.value)
    return values[0], values[1], tuple(missing)


def convert(
    table: FactorTable,
    carrier: Carrier,
    canonical_amount: float,
    day: date,
    *,
    grid_region: str,
    electricity_method: str = "equivalent",
) -> Converted:
    """Convert an amount in the carrier's canonical unit to tce, t CO2 and m3 of water.

    A factor not valid on ``day`` leaves its result None and is named in ``missing``.
    """
    if carrier is Carrier.WATER:
        return Converted(None, None, canonical_amount)
    tce, co2, missing = factors_on(
        table, carrier, day, grid_region=grid_region, electricity_method=electricity_method
    )
    return Converted(
        None if tce is None else canonical_amount * tce / 1000.0,
        None if co2 is None else canonical_amount * co2 / 1000.0,
        None,
        missing,
    )

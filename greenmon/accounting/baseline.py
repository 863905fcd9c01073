"""Base-year totals per enterprise: the ``I0`` each plan period measures from.

Import file ``enterprise_id,energy_tce,co2_t,water_m3,value_added`` with an optional
``period`` column (empty or absent: the default period, the 14th FYP). Each row holds
one enterprise's totals over its period's base year: energy in tce, CO2 in t, water in
m3 and value-added in 10^4 CNY at constant 2020 prices (which must be > 0, unless all
four are 0: the enterprise did not operate in the base year, so it has no base-year
intensity of its own and adds nothing to its district's and the city's). An empty
energy, CO2 or water cell means the enterprise did not report it for that year: that
indicator has no baseline, and its status is ``no_data`` rather than a reduction
measured from zero. Like the value-added file, the file is accepted whole or refused
with every bad row listed.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Final

from greenmon.accounting.plan import Indicator
from greenmon.accounting.value_added import parse_csv_file, parse_number

REQUIRED: Final = ("enterprise_id", "energy_tce", "co2_t", "water_m3", "value_added")
OPTIONAL: Final = ("period",)
WHAT: Final = "baseline file"


@dataclass(frozen=True, slots=True)
class Baseline:
    """An enterprise's base-year totals for one plan period (None: not reported)."""

    enterprise_id: str
    period: str
    energy_tce: float | None
    co2_t: float | None
    water_m3: float | None
    value_added: float

    def quantity(self, indicator: Indicator) -> float | None:
        """The base-year total of ``indicator`` (tce, t CO2 or m3)."""
        if indicator == "energy":
            return self.energy_tce
        if indicator == "co2":
            return self.co2_t
        return self.water_m3


def parse_baseline_csv(
    text: str,
    known_enterprises: Collection[str],
    default_period: str,
    *,
    known_periods: Collection[str] | None = None,
) -> list[Baseline]:
    """Parse a baseline file; all rows, or ImportRefused listing every bad row.

    Refused rows: unknown enterprise, a period not in ``known_periods`` (when given),
    a quantity that is not a finite number >= 0, value-added not > 0, and a second row
    for the same enterprise and period.
    """

    def parse_row(row: dict[str, str]) -> Baseline:
        problems: list[str] = []
        enterprise_id = row["enterprise_id"]
        if enterprise_id not in known_enterprises:
            problems.append(f"enterprise_id {enterprise_id[:64]!r} is not a registered enterprise")
        period = row.get("period") or default_period
        if known_periods is not None and period not in known_periods:
            problems.append(f"period {period[:40]!r} is not a configured plan period")
        figures: dict[str, float | None] = {}
        for column in ("energy_tce", "co2_t", "water_m3", "value_added"):
            try:
                figures[column] = parse_number(
                    column, row[column], allow_empty=column != "value_added"
                )
            except ValueError as exc:
                problems.append(str(exc))
        value_added = figures.get("value_added")
        quantities = [figures.get(c) for c in ("energy_tce", "co2_t", "water_m3")]
        if value_added == 0 and quantities != [0.0, 0.0, 0.0]:
            problems.append(
                "value_added is 0; a baseline needs value-added > 0 (or all four figures 0: "
                "the enterprise did not operate in the base year)"
            )
        if problems or value_added is None:
            raise ValueError("; ".join(problems))
        return Baseline(
            enterprise_id=enterprise_id,
            period=period,
            energy_tce=figures["energy_tce"],
            co2_t=figures["co2_t"],
            water_m3=figures["water_m3"],
            value_added=value_added,
        )

    return parse_csv_file(
        text, WHAT, REQUIRED, OPTIONAL, parse_row, key=lambda b: f"{b.enterprise_id} in {b.period}"
    )

"""The exact truth of a simulation: consumption per meter per local day.

Computed from the same integer milli-units the simulator draws
(:func:`~greenmon.feeds.simulator.consumption_slots`), so a quantity here is exactly
the sum of the interval values (or the difference of the counter registers) the
simulator publishes for that meter and day. A slot belongs to the local day of its
start. CSV: ``meter_id,day,quantity,unit`` (``day`` YYYY-MM-DD, ``quantity`` with three
decimals), sorted by meter id then day; every meter has a row for every day.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

from greenmon.domain.reference import CANONICAL_UNIT, UNIT_SCALE, Carrier
from greenmon.domain.registry import Registry
from greenmon.errors import InvalidInput
from greenmon.feeds.simulator import DEFAULT_TZ, consumption_slots

TRUTH_COLUMNS: Final = ("meter_id", "day", "quantity", "unit")
_MILLI: Final = Decimal("0.001")


@dataclass(frozen=True, slots=True, order=True)
class TruthRow:
    """Consumption of one meter on one local day, in the meter's unit (milli-units)."""

    meter_id: str
    day: date
    quantity_milli: int
    unit: str

    @property
    def quantity(self) -> Decimal:
        return Decimal(self.quantity_milli).scaleb(-3)


@dataclass(frozen=True, slots=True, order=True)
class EnterpriseTotal:
    """Consumption of one carrier by one enterprise, over a day or (``day=None``) all days."""

    enterprise_id: str
    carrier: Carrier
    unit: str
    day: date | None
    quantity: Decimal


def truth_rows(
    registry: Registry,
    start: date,
    days: int,
    interval_s: int = 900,
    seed: int = 0,
    tz: ZoneInfo = DEFAULT_TZ,
) -> list[TruthRow]:
    """Exact daily consumption of every meter for the same arguments as ``generate``."""
    meters = registry.meters
    totals: list[dict[date, int]] = [defaultdict(int) for _ in meters]
    for local, amounts in consumption_slots(registry, start, days, interval_s, seed, tz):
        day = local.date()
        for per_day, amount in zip(totals, amounts, strict=True):
            per_day[day] += amount
    rows = [
        TruthRow(meter.meter_id, day, quantity, meter.unit)
        for meter, per_day in zip(meters, totals, strict=True)
        for day, quantity in per_day.items()
    ]
    rows.sort()
    return rows


def format_milli(milli: int) -> str:
    """``1234567`` -> ``"1234.567"`` (exact; the sign is kept)."""
    sign = "-" if milli < 0 else ""
    whole, frac = divmod(abs(milli), 1000)
    return f"{sign}{whole}.{frac:03d}"


def truth_csv(rows: Iterable[TruthRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(TRUTH_COLUMNS)
    for row in rows:
        writer.writerow(
            (row.meter_id, row.day.isoformat(), format_milli(row.quantity_milli), row.unit)
        )
    return out.getvalue()


def write_truth(path: Path | str, rows: Iterable[TruthRow]) -> None:
    """Write the truth CSV (UTF-8, ``\\n`` line ends)."""
    Path(path).write_text(truth_csv(rows), encoding="utf-8")


def parse_truth_csv(text: str) -> list[TruthRow]:
    """Parse a truth CSV written by :func:`write_truth`; raises InvalidInput naming the row."""
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != TRUTH_COLUMNS:
        raise InvalidInput(f"truth CSV header must be {','.join(TRUTH_COLUMNS)}")
    rows = []
    for line, raw in enumerate(reader, start=2):
        try:
            quantity = Decimal(raw["quantity"])
            milli = quantity.scaleb(3)
            if milli != milli.to_integral_value():
                raise ValueError("more than three decimals")
            rows.append(
                TruthRow(raw["meter_id"], date.fromisoformat(raw["day"]), int(milli), raw["unit"])
            )
        except (ArithmeticError, ValueError, TypeError) as exc:
            raise InvalidInput(f"truth CSV row {line}: {exc}") from None
    return rows


def read_truth(path: Path | str) -> list[TruthRow]:
    return parse_truth_csv(Path(path).read_text(encoding="utf-8"))


def enterprise_totals(
    rows: Iterable[TruthRow],
    registry: Registry,
    *,
    canonical: bool = True,
    per_day: bool = False,
) -> list[EnterpriseTotal]:
    """Sum the truth per enterprise and carrier (and per day if ``per_day``).

    With ``canonical`` every quantity is converted to the carrier's canonical unit
    (kWh, m3, kg, MJ; the scales are powers of ten, so this stays exact); otherwise
    meters of one carrier in different units are summed separately. Sorted.
    """
    meters = registry.meter_map()
    sums: dict[tuple[str, Carrier, str, date | None], Decimal] = defaultdict(Decimal)
    for row in rows:
        meter = meters.get(row.meter_id)
        if meter is None:
            raise InvalidInput(f"truth row for meter {row.meter_id!r} not in the registry")
        quantity = row.quantity
        unit = row.unit
        if canonical:
            unit = CANONICAL_UNIT[meter.carrier]
            quantity *= Decimal(repr(UNIT_SCALE[meter.carrier][row.unit]))
        key = (meter.enterprise_id, meter.carrier, unit, row.day if per_day else None)
        sums[key] += quantity
    return sorted(
        EnterpriseTotal(e, c, u, d, q.quantize(_MILLI)) for (e, c, u, d), q in sums.items()
    )

"""``greenmon export``: consumption per meter or enterprise per period, as CSV.

Periods are local (the configured zone): ``15m``, ``hour``, ``day``, ``month``.
``--from`` and ``--to`` are local dates, both included. Enterprise, district,
industry and city roll-ups by ``month``, ``ytd`` and ``r12`` add value-added,
intensities, reductions and status (:func:`rollup_csv`). Sums of tce or CO2 are
left empty where any interval in the group lacks a valid factor, never
understated; water is empty for groups without water meters.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Final, Literal
from zoneinfo import ZoneInfo

from greenmon.accounting.rollup import RollupRow
from greenmon.storage.db import Conn

Entity = Literal["meter", "enterprise"]
Period = Literal["15m", "hour", "day", "month"]

HEADER: Final = ("id", "period_start", "quantity", "unit", "energy_tce", "co2_t", "water_m3")

_SUMS: Final = """
    CASE WHEN bool_or(energy_tce IS NULL AND carrier <> 'water') THEN NULL
         ELSE sum(energy_tce) END,
    CASE WHEN bool_or(co2_t IS NULL AND carrier <> 'water') THEN NULL ELSE sum(co2_t) END,
    sum(water_m3)
"""


@dataclass(frozen=True, slots=True)
class ExportRow:
    id: str
    period_start: datetime
    quantity: float | None
    unit: str | None
    energy_tce: float | None
    co2_t: float | None
    water_m3: float | None


def local_bounds(first: date, last: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[local midnight of ``first``, local midnight after ``last``)."""
    return (
        datetime.combine(first, time(), tzinfo=tz),
        datetime.combine(last + timedelta(days=1), time(), tzinfo=tz),
    )


def query(
    conn: Conn,
    *,
    entity: Entity,
    period: Period,
    first: date,
    last: date,
    tz: ZoneInfo,
    entity_id: str | None = None,
) -> Iterator[ExportRow]:
    start, end = local_bounds(first, last, tz)
    bucket = "interval_start" if period == "15m" else "date_trunc(%(unit)s, interval_start, %(tz)s)"
    key = "meter_id" if entity == "meter" else "enterprise_id"
    # a meter has one unit, so its quantity adds up; an enterprise's carriers do not
    amounts = "sum(quantity), min(unit)," if entity == "meter" else "NULL::float8, NULL::text,"
    where = "interval_start >= %(start)s AND interval_start < %(end)s"
    if entity_id is not None:
        where += f" AND {key} = %(id)s"
    sql = (
        f"SELECT {key}, {bucket} AS period, {amounts} {_SUMS} FROM consumption_15m "
        f"WHERE {where} GROUP BY 1, 2 ORDER BY 1, 2"
    )
    params = {"unit": period, "tz": tz.key, "start": start, "end": end, "id": entity_id}
    with conn.cursor() as cur:
        cur.execute(sql, params)
        for row in cur:
            yield ExportRow(
                id=row[0],
                period_start=row[1].astimezone(tz),
                quantity=row[2],
                unit=row[3],
                energy_tce=row[4],
                co2_t=row[5],
                water_m3=row[6],
            )


def _num(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def to_csv(rows: Iterator[ExportRow], out: io.TextIOBase | None = None) -> str:
    """Render rows as the export CSV (header first); returns the text if ``out`` is None."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    for r in rows:
        writer.writerow(
            (
                r.id,
                r.period_start.isoformat(),
                _num(r.quantity),
                r.unit or "",
                _num(r.energy_tce),
                _num(r.co2_t),
                _num(r.water_m3),
            )
        )
    text = buffer.getvalue()
    if out is not None:
        out.write(text)
    return text


#: an entity's intensities, reductions against the baseline and status, as exported
#: and as the dashboards' entity tables show them
INTENSITY_COLUMNS: Final = (
    "energy_intensity",
    "co2_intensity",
    "water_intensity",
    "energy_reduction",
    "co2_reduction",
    "water_reduction",
    "status",
)

ROLLUP_HEADER: Final = (*HEADER, "excluded_tce", "value_added", *INTENSITY_COLUMNS)


def rollup_csv(rows: Iterable[RollupRow], tz: ZoneInfo) -> str:
    """Roll-up rows as CSV: the export columns, then value-added, intensities, reductions.

    ``energy_tce`` is the accounting total (feedstock and new-renewable meters excluded,
    shown in ``excluded_tce``); ``ytd`` and ``r12`` rows are labelled by their last month.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(ROLLUP_HEADER)
    for r in rows:
        ind = r.indicators
        writer.writerow(
            (
                r.entity_id,
                datetime.combine(r.month, time(), tzinfo=tz).isoformat(),
                "",
                "",
                _num(r.energy_tce),
                _num(r.co2_t),
                _num(r.water_m3),
                _num(r.excluded_tce),
                _num(r.value_added),
                _num(ind["energy"].intensity),
                _num(ind["co2"].intensity),
                _num(ind["water"].intensity),
                _num(ind["energy"].reduction),
                _num(ind["co2"].reduction),
                _num(ind["water"].reduction),
                r.status,
            )
        )
    return buffer.getvalue()

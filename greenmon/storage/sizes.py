"""Bytes the database holds for readings and 15-minute rows, and a year's projection.

Sizes are tables with their indexes and TOAST (``hypertable_size`` for hypertables,
whose parent table is empty, ``pg_total_relation_size`` for plain tables), taken after
``VACUUM ANALYZE`` so the row counts are exact and dead rows of upserts are reclaimed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from greenmon.storage.db import Conn

#: readings of one meter in a year at a 15-minute cadence (365 days)
READINGS_PER_METER_YEAR: Final = 365 * 96


@dataclass(frozen=True, slots=True)
class TableSize:
    table: str
    rows: int
    bytes: int

    @property
    def per_row(self) -> float:
        return self.bytes / self.rows if self.rows else 0.0


@dataclass(frozen=True, slots=True)
class StoredBytes:
    readings: TableSize
    slots: TableSize  # consumption_15m

    def year_bytes(self, meters: int) -> float:
        """A year of ``meters`` at a 15-minute cadence: one reading and one 15-minute row
        per meter and slot, at the bytes per row measured here."""
        per_slot = self.readings.per_row + self.slots.per_row
        return meters * READINGS_PER_METER_YEAR * per_slot

    def describe(self) -> list[str]:
        return [
            f"{t.table}: {t.rows:,} rows, {t.bytes / 1e6:,.1f} MB, {t.per_row:,.0f} bytes/row"
            for t in (self.readings, self.slots)
        ] + [
            f"a year of 300,000 meters at 15 minutes: {self.year_bytes(300_000) / 1e12:,.2f} TB "
            "(readings + 15-minute rows, uncompressed)"
        ]


def table_size(conn: Conn, table: str) -> TableSize:
    hyper = conn.execute(
        "SELECT to_regclass('timescaledb_information.hypertables') IS NOT NULL "
        "AND EXISTS (SELECT 1 FROM timescaledb_information.hypertables "
        "WHERE hypertable_name = %s)",
        (table,),
    ).fetchone()
    if hyper and hyper[0]:
        size = conn.execute("SELECT hypertable_size(%s::regclass)", (table,)).fetchone()
    else:
        size = conn.execute("SELECT pg_total_relation_size(%s::regclass)", (table,)).fetchone()
    rows = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    return TableSize(table, int(rows[0]) if rows else 0, int(size[0] or 0) if size else 0)


def stored_bytes(conn: Conn) -> StoredBytes:
    """Measure (needs an autocommit connection: VACUUM cannot run in a transaction)."""
    conn.execute("VACUUM ANALYZE readings")
    conn.execute("VACUUM ANALYZE consumption_15m")
    return StoredBytes(table_size(conn, "readings"), table_size(conn, "consumption_15m"))

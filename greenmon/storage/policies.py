"""Compression and retention of the time-series tables, where the database offers them.

With the full (community, "timescale" license) TimescaleDB edition, ``migrate`` sets:

* native compression of ``readings`` and ``consumption_15m`` chunks older than
  ``compress_after_days`` (segmented by meter, ordered by time: a meter's day of
  15-minute values compresses to a few bytes a value). Compressed chunks still take the
  processor's upserts (TimescaleDB >= 2.11 decompresses the touched segments), so late
  data and ``recompute --late`` keep working, only slower for such old chunks;
* a retention policy on raw ``readings`` when ``readings_retention_days`` is set: the
  15-minute rows, months and roll-ups stay, the raw registers older than that go.

The Apache-2 edition has neither compression nor policies (both are under the
Timescale license): tables stay uncompressed, and old raw readings can be removed with
``drop_chunks('readings', older_than => ...)``, which the Apache edition does have, run
from cron or a scheduler. Plain PostgreSQL keeps ordinary tables.
"""

from __future__ import annotations

import logging

from greenmon.settings import Settings
from greenmon.storage.db import Conn, Edition

log = logging.getLogger(__name__)

#: (table, time column) of the hypertables that grow with the number of meters
COMPRESSED = (("readings", "ts"), ("consumption_15m", "interval_start"))


def policy_statements(
    edition: Edition, *, compress_after_days: int, readings_retention_days: int | None
) -> list[str]:
    """The SQL that sets the policies on ``edition`` (empty where it has none)."""
    if not edition.has_continuous_aggregates:  # the full edition: compression, policies
        return []
    out = []
    for table, column in COMPRESSED:
        out.append(
            f"ALTER TABLE {table} SET (timescaledb.compress, timescaledb.compress_segmentby "
            f"= 'meter_id', timescaledb.compress_orderby = '{column}')"
        )
        out.append(
            f"SELECT add_compression_policy('{table}', INTERVAL '{int(compress_after_days)} "
            "days', if_not_exists => true)"
        )
    if readings_retention_days:
        out.append(
            f"SELECT add_retention_policy('readings', INTERVAL '{int(readings_retention_days)} "
            "days', if_not_exists => true)"
        )
    return out


def describe(edition: Edition, settings: Settings) -> str:
    if edition.has_continuous_aggregates:
        keep = (
            f"raw readings kept {settings.readings_retention_days} days"
            if settings.readings_retention_days
            else "raw readings kept"
        )
        return f"chunks compressed after {settings.compress_after_days} days; {keep}"
    if edition.has_hypertables:
        return "Apache edition: no compression or retention policies (drop_chunks by hand)"
    return "plain PostgreSQL: no compression or retention policies"


def apply_policies(conn: Conn, edition: Edition, settings: Settings) -> str:
    """Set compression and retention (idempotent); returns what the database does now."""
    statements = policy_statements(
        edition,
        compress_after_days=settings.compress_after_days,
        readings_retention_days=settings.readings_retention_days,
    )
    for sql in statements:
        if sql.startswith("ALTER TABLE") and _compressed(conn, sql.split()[2]):
            continue  # already set: altering it again fails once chunks are compressed
        with conn.transaction():
            conn.execute(sql)
    text = describe(edition, settings)
    log.info("storage policies: %s", text)
    return text


def _compressed(conn: Conn, table: str) -> bool:
    row = conn.execute(
        "SELECT compression_enabled FROM timescaledb_information.hypertables "
        "WHERE hypertable_name = %s",
        (table,),
    ).fetchone()
    return bool(row and row[0])

"""Meters gone stale (Sparkplug B NDEATH/DDEATH), as ``meter_events`` rows."""

from __future__ import annotations

from datetime import datetime

from greenmon.storage.db import Conn


def mark_stale(conn: Conn, meter_ids: list[str], at: datetime) -> int:
    """Record that ``meter_ids`` went stale at ``at`` (idempotent); returns rows written."""
    if not meter_ids:
        return 0
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO meter_events (meter_id, ts, event) VALUES (%s, %s, 'stale') "
            "ON CONFLICT DO NOTHING",
            [(m, at) for m in meter_ids],
        )
        return cur.rowcount


def stale_meters(conn: Conn) -> dict[str, datetime]:
    """Meters whose newest 'stale' event is newer than their newest stored reading."""
    rows = conn.execute(
        "SELECT e.meter_id, max(e.ts) FROM meter_events e WHERE e.event = 'stale' "
        "GROUP BY 1 HAVING max(e.ts) > COALESCE((SELECT max(r.stored_at) FROM readings r "
        "WHERE r.meter_id = e.meter_id), '-infinity')"
    ).fetchall()
    return {str(r[0]): r[1] for r in rows}

"""The processor's database side: one transaction per polled batch.

Within the transaction, in this order: lock the batch's partitions' stored
positions (``stream_offsets``, which fences off a stale or zombie processor),
drop records already applied, COPY the readings into a staging table and insert
the new ones (``ON CONFLICT DO NOTHING`` makes redelivered readings count once),
read the counter states, book, COPY and upsert the 15-minute rows, store the
new states and the next offsets. Kafka offsets are committed after this commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from greenmon.domain.consumption import CounterState
from greenmon.domain.wire import ReadingRecord
from greenmon.storage.db import Conn, Cursor
from processor.booking import Booking

_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS stage_readings_ms (
    meter_id text, ts_ms int8, value float8, kind text, duration_s int4, received_ms int8
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_consumption_ms (
    meter_id text, slot_ms int8, enterprise_id text, carrier text,
    quantity float8, unit text, energy_tce float8, co2_t float8, water_m3 float8,
    estimated bool, replace_estimated bool
) ON COMMIT DELETE ROWS;
"""
#: epoch milliseconds to timestamptz in SQL, exactly (integer arithmetic): the staging
#: tables take the batch's times as integers, so no datetime is made per row in Python
_MS = "(timestamptz 'epoch' + {} * interval '1 millisecond')"


def _ts(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def prepare(conn: Conn) -> None:
    """Create this session's staging tables (once per connection)."""
    conn.execute(_STAGING)


def insert_readings(conn: Conn, readings: list[ReadingRecord]) -> set[tuple[str, int]]:
    """Store readings once each; returns the (meter_id, ts_ms) that were new."""
    if not readings:
        return set()
    with conn.cursor() as cur:
        with cur.copy(
            "COPY stage_readings_ms (meter_id, ts_ms, value, kind, duration_s, received_ms) "
            "FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["text", "int8", "float8", "text", "int4", "int8"])
            write = copy.write_row
            for r in readings:  # kind is a StrEnum: written as its text
                write((r.meter_id, r.ts_ms, r.value, r.kind, r.duration_s, r.received_ms))
        cur.execute(
            "INSERT INTO readings (meter_id, ts, value, kind, duration_s, received_at) "
            f"SELECT DISTINCT ON (meter_id, ts_ms) meter_id, {_MS.format('ts_ms')}, value, kind, "
            f"duration_s, {_MS.format('received_ms')} FROM stage_readings_ms "
            "ORDER BY meter_id, ts_ms "
            "ON CONFLICT (meter_id, ts) DO NOTHING "
            "RETURNING meter_id, (extract(epoch FROM ts) * 1000)::bigint"
        )
        return {(str(m), int(t)) for m, t in cur.fetchall()}


def load_watermarks(conn: Conn, meter_ids: Iterable[str]) -> dict[str, int]:
    rows = conn.execute(
        "SELECT meter_id, (extract(epoch FROM max_ts) * 1000)::bigint FROM meter_watermarks "
        "WHERE meter_id = ANY(%s)",
        (sorted(set(meter_ids)),),
    ).fetchall()
    return {str(m): int(t) for m, t in rows}


def save_watermarks(conn: Conn, marks: Mapping[str, int]) -> None:
    if not marks:
        return
    ids = sorted(marks)
    conn.execute(
        "INSERT INTO meter_watermarks (meter_id, max_ts) SELECT m, to_timestamp(t / 1000.0) "
        "FROM unnest(%s::text[], %s::bigint[]) AS u(m, t) ON CONFLICT (meter_id) DO UPDATE "
        "SET max_ts = greatest(meter_watermarks.max_ts, EXCLUDED.max_ts)",
        (ids, [marks[i] for i in ids]),
    )


def load_states(conn: Conn, meter_ids: list[str]) -> dict[str, CounterState]:
    if not meter_ids:
        return {}
    rows = conn.execute(
        "SELECT meter_id, (extract(epoch FROM last_ts) * 1000)::bigint, last_value "
        "FROM meter_state WHERE meter_id = ANY(%s)",
        (meter_ids,),
    ).fetchall()
    return {str(r[0]): CounterState(int(r[1]), float(r[2])) for r in rows}


def load_history(
    conn: Conn, spans: Mapping[str, tuple[int, int]]
) -> dict[str, list[tuple[int, float]]]:
    """Each meter's stored registers from the last one before ``lo`` to the first after ``hi``.

    Those are the readings whose chain changes when readings between lo and hi are
    placed (see processor.booking.late_spans).
    """
    out: dict[str, list[tuple[int, float]]] = {}
    for meter_id, (lo, hi) in spans.items():
        rows = conn.execute(
            "SELECT (extract(epoch FROM ts) * 1000)::bigint, value FROM readings "
            "WHERE meter_id = %(m)s AND ts >= COALESCE((SELECT max(ts) FROM readings "
            "WHERE meter_id = %(m)s AND ts < %(lo)s), %(lo)s) "
            "AND ts <= (SELECT min(ts) FROM readings WHERE meter_id = %(m)s AND ts > %(hi)s) "
            "ORDER BY ts",
            {"m": meter_id, "lo": _ts(lo), "hi": _ts(hi)},
        ).fetchall()
        out[meter_id] = [(int(t), float(v)) for t, v in rows]
    return out


def write_booking(conn: Conn, booking: Booking) -> None:
    """Upsert slot rows (adding to what is there), states, quarantine and factor gaps."""
    with conn.cursor() as cur:
        if booking.rows:
            _write_slots(cur, booking)
        if booking.states:
            _write_states(cur, booking)
        if booking.months:
            _write_months(cur, booking)
        if booking.meter_events:
            _write_meter_events(cur, booking)
        if booking.unquarantined:
            _write_unquarantined(cur, booking)
        if booking.quarantined:
            _write_quarantined(cur, booking)
        if booking.factor_gaps:
            _write_factor_gaps(cur, booking)


def _write_slots(cur: Cursor, booking: Booking) -> None:
    with cur.copy(
        "COPY stage_consumption_ms (meter_id, slot_ms, enterprise_id, carrier, "
        "quantity, unit, energy_tce, co2_t, water_m3, estimated, replace_estimated) "
        "FROM STDIN (FORMAT BINARY)"
    ) as copy:
        copy.set_types(
            [
                "text",
                "int8",
                "text",
                "text",
                "float8",
                "text",
                "float8",
                "float8",
                "float8",
                "bool",
                "bool",
            ]
        )
        write = copy.write_row
        for row in booking.rows.values():
            write(
                (
                    row.meter_id,
                    row.slot_ms,
                    row.enterprise_id,
                    row.carrier,
                    row.quantity,
                    row.unit,
                    row.energy_tce,
                    row.co2_t,
                    row.water_m3,
                    row.estimated,
                    row.replace_estimated,
                )
            )
    cur.execute(
        "INSERT INTO consumption_15m AS c (meter_id, interval_start, enterprise_id, "
        "carrier, quantity, unit, energy_tce, co2_t, water_m3, estimated) "
        f"SELECT meter_id, {_MS.format('slot_ms')}, enterprise_id, carrier, quantity, "
        "unit, energy_tce, co2_t, water_m3, estimated FROM stage_consumption_ms "
        "ON CONFLICT (meter_id, interval_start) DO UPDATE SET "
        "quantity = c.quantity + EXCLUDED.quantity, "
        "energy_tce = c.energy_tce + EXCLUDED.energy_tce, "
        "co2_t = c.co2_t + EXCLUDED.co2_t, "
        "water_m3 = c.water_m3 + EXCLUDED.water_m3, "
        "estimated = c.estimated OR EXCLUDED.estimated, updated_at = now()"
    )
    if any(row.replace_estimated for row in booking.rows.values()):
        cur.execute(
            "UPDATE consumption_15m c SET estimated = s.estimated "
            "FROM stage_consumption_ms s WHERE s.replace_estimated "
            f"AND c.meter_id = s.meter_id AND c.interval_start = {_MS.format('s.slot_ms')}"
        )


def _write_states(cur: Cursor, booking: Booking) -> None:
    ids = list(booking.states)
    cur.execute(
        "INSERT INTO meter_state (meter_id, last_ts, last_value) "
        "SELECT m, to_timestamp(t / 1000.0), v "
        "FROM unnest(%s::text[], %s::bigint[], %s::float8[]) AS s(m, t, v) "
        "ON CONFLICT (meter_id) DO UPDATE SET last_ts = EXCLUDED.last_ts, "
        "last_value = EXCLUDED.last_value, updated_at = now()",
        (
            ids,
            [booking.states[i].ts_ms for i in ids],
            [booking.states[i].value for i in ids],
        ),
    )


def _write_months(cur: Cursor, booking: Booking) -> None:
    keys = sorted(booking.months)
    sums = [booking.months[k] for k in keys]
    cur.execute(
        "INSERT INTO enterprise_month AS m (enterprise_id, month, energy_tce, "
        "excluded_tce, co2_t, water_m3, energy_gaps, co2_gaps) "
        "SELECT * FROM unnest(%s::text[], %s::date[], %s::float8[], %s::float8[], "
        "%s::float8[], %s::float8[], %s::int[], %s::int[]) "
        "ON CONFLICT (enterprise_id, month) DO UPDATE SET "
        "energy_tce = m.energy_tce + EXCLUDED.energy_tce, "
        "excluded_tce = m.excluded_tce + EXCLUDED.excluded_tce, "
        "co2_t = m.co2_t + EXCLUDED.co2_t, water_m3 = m.water_m3 + EXCLUDED.water_m3, "
        "energy_gaps = m.energy_gaps + EXCLUDED.energy_gaps, "
        "co2_gaps = m.co2_gaps + EXCLUDED.co2_gaps, updated_at = now()",
        (
            [k[0] for k in keys],
            [k[1] for k in keys],
            [x.energy_tce for x in sums],
            [x.excluded_tce for x in sums],
            [x.co2_t for x in sums],
            [x.water_m3 for x in sums],
            [x.energy_gaps for x in sums],
            [x.co2_gaps for x in sums],
        ),
    )


def _write_meter_events(cur: Cursor, booking: Booking) -> None:
    ev = booking.meter_events
    cur.execute(
        "INSERT INTO meter_events (meter_id, ts, event) "
        "SELECT m, to_timestamp(t / 1000.0), e "
        "FROM unnest(%s::text[], %s::bigint[], %s::text[]) AS u(m, t, e) "
        "ON CONFLICT DO NOTHING",
        ([x[0] for x in ev], [x[1] for x in ev], [x[2] for x in ev]),
    )


def _write_unquarantined(cur: Cursor, booking: Booking) -> None:
    cur.execute(
        "DELETE FROM quarantine q USING unnest(%s::text[], %s::bigint[]) AS u(m, t) "
        "WHERE q.meter_id = u.m AND q.ts = to_timestamp(u.t / 1000.0)",
        ([u[0] for u in booking.unquarantined], [u[1] for u in booking.unquarantined]),
    )


def _write_quarantined(cur: Cursor, booking: Booking) -> None:
    q = booking.quarantined
    cur.execute(
        "INSERT INTO quarantine (meter_id, ts, value, delta, reason) "
        "SELECT m, to_timestamp(t / 1000.0), v, d, r FROM unnest(%s::text[], "
        "%s::bigint[], %s::float8[], %s::float8[], %s::text[]) AS s(m, t, v, d, r) "
        "ON CONFLICT (meter_id, ts) DO NOTHING",
        (
            [x.meter_id for x in q],
            [x.ts_ms for x in q],
            [x.value for x in q],
            [x.delta for x in q],
            [x.reason for x in q],
        ),
    )


def _write_factor_gaps(cur: Cursor, booking: Booking) -> None:
    gaps = sorted(booking.factor_gaps)
    cur.execute(
        "INSERT INTO factor_gaps (meter_id, interval_start, reason) "
        "SELECT m, to_timestamp(t / 1000.0), r FROM unnest(%s::text[], %s::bigint[], "
        "%s::text[]) AS s(m, t, r) ON CONFLICT DO NOTHING",
        ([g[0] for g in gaps], [g[1] for g in gaps], [g[2] for g in gaps]),
    )

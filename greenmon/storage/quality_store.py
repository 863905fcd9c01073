"""Data quality per meter per local day (online monitoring practice), in SQL.

* completeness: share of the day's expected 15-minute intervals with booked,
  non-estimated consumption; estimated share: intervals booked from a gap;
* arrival delay: p50 and maximum of received time minus the end of the reading's
  interval (its instant, for counters), in seconds;
* resets and rollovers of counters, and quarantined deltas;
* stale: how often the meter's Sparkplug B node or device died (NDEATH/DDEATH).

Days start at the meter's first reading; a silent meter shows completeness 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from greenmon.storage.db import Conn

_REFRESH = """
WITH first_day AS (
    SELECT meter_id, (min(ts) AT TIME ZONE %(tz)s)::date AS d FROM readings GROUP BY 1
),
days AS (
    SELECT m.meter_id, m.enterprise_id, g.day::date AS day,
           (g.day::date::timestamp AT TIME ZONE %(tz)s) AS t0,
           ((g.day::date + 1)::timestamp AT TIME ZONE %(tz)s) AS t1
    FROM meters m JOIN first_day f USING (meter_id)
    CROSS JOIN generate_series(%(d0)s::date, %(d1)s::date, interval '1 day') AS g(day)
    WHERE g.day::date >= f.d
),
cons AS (
    SELECT d.meter_id, d.day,
           count(c.meter_id) FILTER (WHERE NOT c.estimated) AS present,
           count(c.meter_id) FILTER (WHERE c.estimated) AS est
    FROM days d LEFT JOIN consumption_15m c ON c.meter_id = d.meter_id
         AND c.interval_start >= d.t0 AND c.interval_start < d.t1
    GROUP BY 1, 2
),
delay AS (
    SELECT d.meter_id, d.day,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY x.s) AS p50, max(x.s) AS mx
    FROM days d JOIN readings r ON r.meter_id = d.meter_id AND r.ts >= d.t0 AND r.ts < d.t1
    CROSS JOIN LATERAL (SELECT greatest(extract(epoch FROM r.received_at - r.ts)
        - CASE WHEN r.kind = 'interval' THEN r.duration_s ELSE 0 END, 0) AS s) x
    GROUP BY 1, 2
),
ev AS (
    SELECT d.meter_id, d.day, count(*) FILTER (WHERE e.event = 'reset') AS resets,
           count(*) FILTER (WHERE e.event = 'rollover') AS rollovers,
           count(*) FILTER (WHERE e.event = 'stale') AS stale
    FROM days d JOIN meter_events e ON e.meter_id = d.meter_id AND e.ts >= d.t0 AND e.ts < d.t1
    GROUP BY 1, 2
),
q AS (
    SELECT d.meter_id, d.day, count(*) AS n
    FROM days d JOIN quarantine q ON q.meter_id = d.meter_id AND q.ts >= d.t0 AND q.ts < d.t1
    GROUP BY 1, 2
)
INSERT INTO meter_quality_daily AS mq (meter_id, day, enterprise_id, expected, present,
    estimated, completeness, estimated_share, delay_p50_s, delay_max_s, resets, rollovers,
    quarantined, stale)
SELECT d.meter_id, d.day, d.enterprise_id, x.expected, c.present, c.est,
       least(c.present::float8 / x.expected, 1.0), least(c.est::float8 / x.expected, 1.0),
       delay.p50, delay.mx, COALESCE(ev.resets, 0), COALESCE(ev.rollovers, 0), COALESCE(q.n, 0),
       COALESCE(ev.stale, 0)
FROM days d
JOIN cons c USING (meter_id, day)
CROSS JOIN LATERAL (SELECT (extract(epoch FROM d.t1 - d.t0) / 900)::int AS expected) x
LEFT JOIN delay USING (meter_id, day)
LEFT JOIN ev USING (meter_id, day)
LEFT JOIN q USING (meter_id, day)
ON CONFLICT (meter_id, day) DO UPDATE SET enterprise_id = EXCLUDED.enterprise_id,
    expected = EXCLUDED.expected, present = EXCLUDED.present, estimated = EXCLUDED.estimated,
    completeness = EXCLUDED.completeness, estimated_share = EXCLUDED.estimated_share,
    delay_p50_s = EXCLUDED.delay_p50_s, delay_max_s = EXCLUDED.delay_max_s,
    resets = EXCLUDED.resets, rollovers = EXCLUDED.rollovers,
    quarantined = EXCLUDED.quarantined, stale = EXCLUDED.stale, computed_at = now()
"""


_SUMMARISE = (
    "DELETE FROM enterprise_quality_daily WHERE day BETWEEN %(d0)s AND %(d1)s",
    "INSERT INTO enterprise_quality_daily (enterprise_id, day, meters, expected, present, "
    "estimated) SELECT enterprise_id, day, count(*), sum(expected), sum(present), "
    "sum(estimated) FROM meter_quality_daily WHERE day BETWEEN %(d0)s AND %(d1)s GROUP BY 1, 2",
)


def refresh_quality(conn: Conn, first: date, last: date, *, tz: str) -> int:
    """Recompute and store the quality of every meter for local days first..last, and
    the enterprises' sums of those days (``enterprise_quality_daily``)."""
    with conn.cursor() as cur:
        cur.execute(_REFRESH, {"tz": tz, "d0": first, "d1": last})
        written = cur.rowcount
        for sql in _SUMMARISE:
            cur.execute(sql, {"d0": first, "d1": last})
        return written


def changed_days(conn: Conn, since: datetime, *, tz: str) -> tuple[date, date] | None:
    """The span of local days with readings stored after ``since`` (None: nothing new)."""
    row = conn.execute(
        "SELECT (min(ts) AT TIME ZONE %(tz)s)::date, (max(ts) AT TIME ZONE %(tz)s)::date "
        "FROM readings WHERE stored_at > %(t)s",
        {"tz": tz, "t": since},
    ).fetchone()
    if row is None or row[0] is None:
        return None
    return row[0], row[1]


@dataclass(frozen=True, slots=True)
class QualityRow:
    id: str
    day: date
    meters: int
    expected: int
    present: int
    estimated: int
    completeness: float
    estimated_share: float
    delay_p50_s: float | None
    delay_max_s: float | None
    resets: int
    rollovers: int
    quarantined: int


QUALITY_HEADER = (
    "id,day,meters,expected,present,estimated,completeness,estimated_share,"
    "delay_p50_s,delay_max_s,resets,rollovers,quarantined"
)


def quality_rows(conn: Conn, first: date, last: date, *, by_enterprise: bool) -> list[QualityRow]:
    """Stored quality per meter per day, or summed per enterprise per day."""
    key = "enterprise_id" if by_enterprise else "meter_id"
    # an enterprise's p50 is the median of its meters' medians (documented as such)
    rows = conn.execute(
        f"SELECT {key}, day, count(*), sum(expected), sum(present), sum(estimated), "
        "sum(present)::float8 / sum(expected), sum(estimated)::float8 / sum(expected), "
        "percentile_cont(0.5) WITHIN GROUP (ORDER BY delay_p50_s), max(delay_max_s), "
        "sum(resets), sum(rollovers), sum(quarantined) FROM meter_quality_daily "
        "WHERE day BETWEEN %s AND %s GROUP BY 1, 2 ORDER BY 1, 2",
        (first, last),
    ).fetchall()
    return [
        QualityRow(str(r[0]), r[1], int(r[2]), int(r[3]), int(r[4]), int(r[5]), float(r[6]),
                   float(r[7]), r[8], r[9], int(r[10]), int(r[11]), int(r[12]))
        for r in rows
    ]  # fmt: skip

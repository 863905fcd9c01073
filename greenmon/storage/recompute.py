"""Re-derive tce, CO2 and water of stored 15-minute rows with the factors in force now.

All in SQL, so a year of a city's data is one pass: each row's factor is the one
valid on its local day (the same rule the processor applies), missing factors
are recorded in ``factor_gaps``, and ``enterprise_month`` is rebuilt for every
month touched. Running it twice gives the same result (idempotent). It holds a
lock on ``enterprise_month`` so a running processor waits rather than interleaves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Final
from zoneinfo import ZoneInfo

from greenmon.accounting.rollup import add_months
from greenmon.domain.reference import UNIT_SCALE
from greenmon.storage.db import Conn


@dataclass(frozen=True, slots=True)
class RecomputeResult:
    rows: int
    gaps: int
    months: int


def _scales_sql() -> str:
    values = ", ".join(
        f"('{carrier.value}', '{unit}', {scale!r}::float8)"
        for carrier, units in UNIT_SCALE.items()
        for unit, scale in units.items()
    )
    return f"scale(carrier, unit, k) AS (VALUES {values})"


_METHODS = """
meth AS (
    SELECT e.enterprise_id,
           COALESCE(me.method, md.method, mc.method, 'equivalent') AS method
    FROM enterprises e
    LEFT JOIN electricity_methods me ON me.scope = 'enterprise' AND me.scope_id = e.enterprise_id
    LEFT JOIN electricity_methods md ON md.scope = 'district' AND md.scope_id = e.district
    LEFT JOIN electricity_methods mc ON mc.scope = 'city' AND mc.scope_id = '*'
)"""

_FACTOR_JOIN = """
LEFT JOIN factors ft ON ft.quantity = 'tce' AND ft.carrier = src.carrier
     AND ft.variant = src.tce_variant AND ft.valid_from <= src.day
     AND (ft.valid_to IS NULL OR src.day < ft.valid_to)
LEFT JOIN factors fc ON fc.quantity = 'co2' AND fc.carrier = src.carrier
     AND fc.variant = src.co2_variant AND fc.valid_from <= src.day
     AND (fc.valid_to IS NULL OR src.day < fc.valid_to)"""


def _source_cte() -> str:
    return f"""
WITH {_scales_sql()}, {_METHODS},
src AS (
    SELECT c.meter_id, c.interval_start, c.quantity * s.k AS amount, c.carrier,
           (c.interval_start AT TIME ZONE %(tz)s)::date AS day,
           CASE WHEN c.carrier = 'electricity' THEN m.method ELSE 'default' END AS tce_variant,
           CASE WHEN c.carrier = 'electricity' THEN %(region)s ELSE 'default' END AS co2_variant
    FROM consumption_15m c
    JOIN scale s ON s.carrier = c.carrier AND s.unit = c.unit
    JOIN meth m ON m.enterprise_id = c.enterprise_id
    WHERE c.interval_start >= %(start)s AND c.interval_start < %(end)s
)"""


#: rebook every interval of the months with the factors valid now
_REBOOK_SQL: Final = (
    _source_cte()
    + """
UPDATE consumption_15m c SET
    energy_tce = CASE WHEN src.carrier = 'water' THEN NULL ELSE src.amount * ft.value / 1000 END,
    co2_t = CASE WHEN src.carrier = 'water' THEN NULL ELSE src.amount * fc.value / 1000 END,
    water_m3 = CASE WHEN src.carrier = 'water' THEN src.amount END,
    updated_at = now()
FROM src"""
    + _FACTOR_JOIN
    + " WHERE c.meter_id = src.meter_id AND c.interval_start = src.interval_start"
)
#: the intervals that still have no factor, with the reason
_GAPS_SQL: Final = (
    _source_cte()
    + """
INSERT INTO factor_gaps (meter_id, interval_start, reason)
SELECT src.meter_id, src.interval_start, g.reason FROM src"""
    + _FACTOR_JOIN
    + """
CROSS JOIN LATERAL (VALUES
    (CASE WHEN ft.factor_id IS NULL THEN format('no tce factor for %%s (%%s) valid on %%s',
        src.carrier, src.tce_variant, src.day) END),
    (CASE WHEN fc.factor_id IS NULL THEN format('no co2 factor for %%s (%%s) valid on %%s',
        src.carrier, src.co2_variant, src.day) END)) AS g(reason)
WHERE src.carrier <> 'water' AND g.reason IS NOT NULL
ON CONFLICT DO NOTHING"""
)
#: the months' enterprise totals, from the rebooked intervals
_MONTHS_SQL: Final = """
INSERT INTO enterprise_month (enterprise_id, month, energy_tce, excluded_tce, co2_t, water_m3,
                              energy_gaps, co2_gaps)
SELECT c.enterprise_id, date_trunc('month', c.interval_start AT TIME ZONE %(tz)s)::date,
       COALESCE(sum(c.energy_tce) FILTER (WHERE NOT m.flags && '{feedstock,renewable}'), 0),
       COALESCE(sum(c.energy_tce) FILTER (WHERE m.flags && '{feedstock,renewable}'), 0),
       COALESCE(sum(c.co2_t), 0), COALESCE(sum(c.water_m3), 0),
       count(*) FILTER (WHERE c.energy_tce IS NULL AND c.carrier <> 'water'),
       count(*) FILTER (WHERE c.co2_t IS NULL AND c.carrier <> 'water')
FROM consumption_15m c JOIN meters m USING (meter_id)
WHERE c.interval_start >= %(start)s AND c.interval_start < %(end)s
GROUP BY 1, 2"""


def recompute(conn: Conn, first: date, last: date, *, tz: str, grid_region: str) -> RecomputeResult:
    """Recompute the whole months from ``first`` through ``last`` (local dates)."""
    month0 = first.replace(day=1)
    month_end = add_months(last.replace(day=1), 1)
    zone = ZoneInfo(tz)
    params = {
        "tz": tz,
        "region": grid_region,
        "start": datetime.combine(month0, time(), tzinfo=zone),
        "end": datetime.combine(month_end, time(), tzinfo=zone),
        "m0": month0,
        "m1": month_end,
    }
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("LOCK TABLE enterprise_month IN SHARE ROW EXCLUSIVE MODE")
        cur.execute(_REBOOK_SQL, params)
        rows = cur.rowcount
        cur.execute(
            "DELETE FROM factor_gaps WHERE interval_start >= %(start)s "
            "AND interval_start < %(end)s",
            params,
        )
        cur.execute(_GAPS_SQL, params)
        gaps = cur.rowcount
        cur.execute("DELETE FROM enterprise_month WHERE month >= %(m0)s AND month < %(m1)s", params)
        cur.execute(_MONTHS_SQL, params)
        months = cur.rowcount
    return RecomputeResult(rows, gaps, months)

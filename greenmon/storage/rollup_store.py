"""Read what the roll-ups need from the database (the arithmetic is greenmon.accounting)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime

from greenmon.accounting.baseline import Baseline
from greenmon.accounting.rollup import (
    EnterpriseInfo,
    EntityKind,
    MonthFigures,
    PeriodKind,
    RollupRow,
    add_months,
    rollups,
)
from greenmon.storage.accounting_store import read_plan
from greenmon.storage.db import Conn


def read_enterprises(conn: Conn) -> list[EnterpriseInfo]:
    rows = conn.execute("SELECT enterprise_id, district, industry FROM enterprises").fetchall()
    return [EnterpriseInfo(str(e), str(d), str(i)) for e, d, i in rows]


def read_month_figures(conn: Conn, first: date, last: date) -> dict[tuple[str, date], MonthFigures]:
    """Stored monthly totals and value-added of every enterprise, months first..last."""
    rows = conn.execute(
        "SELECT COALESCE(m.enterprise_id, v.enterprise_id), COALESCE(m.month, v.month), "
        "m.energy_tce, m.excluded_tce, m.co2_t, m.water_m3, m.energy_gaps, m.co2_gaps, "
        "v.value_added FROM enterprise_month m FULL OUTER JOIN value_added v "
        "ON v.enterprise_id = m.enterprise_id AND v.month = m.month "
        "WHERE COALESCE(m.month, v.month) BETWEEN %s AND %s",
        (first, last),
    ).fetchall()
    return {
        (str(r[0]), r[1]): MonthFigures(
            energy_tce=float(r[2] or 0.0),
            excluded_tce=float(r[3] or 0.0),
            co2_t=float(r[4] or 0.0),
            water_m3=float(r[5] or 0.0),
            energy_gaps=int(r[6] or 0),
            co2_gaps=int(r[7] or 0),
            value_added=None if r[8] is None else float(r[8]),
        )
        for r in rows
    }


def read_baselines(conn: Conn) -> dict[tuple[str, str], Baseline]:
    rows = conn.execute(
        "SELECT enterprise_id, period, energy_tce, co2_t, water_m3, value_added FROM baselines"
    ).fetchall()
    return {
        (str(r[0]), str(r[1])): Baseline(
            str(r[0]), str(r[1]), _float(r[2]), _float(r[3]), _float(r[4]), float(r[5])
        )
        for r in rows
    }


def _float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def query_rollups(
    conn: Conn,
    *,
    months: list[date],
    kinds: tuple[PeriodKind, ...],
    entities: tuple[EntityKind, ...],
) -> Iterator[RollupRow]:
    """Roll-ups for the given months (first of month), as of what is stored now."""
    if not months:
        return iter(())
    first = min(add_months(months[0], -11), months[0].replace(month=1))
    data = read_month_figures(conn, first, months[-1])
    plan = read_plan(conn)
    return rollups(
        read_enterprises(conn),
        data,
        read_baselines(conn),
        plan.periods,
        plan.overrides,
        months=months,
        kinds=kinds,
        entities=entities,
    )


def changed_years(conn: Conn, since: datetime) -> list[int]:
    """Years whose totals, value-added, baselines or plan changed after ``since``.

    A change of baselines or of the plan touches every year with data.
    """
    inputs = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM baselines WHERE updated_at > %(t)s) "
        "OR EXISTS (SELECT 1 FROM plan_periods WHERE updated_at > %(t)s) "
        "OR EXISTS (SELECT 1 FROM target_overrides WHERE updated_at > %(t)s)",
        {"t": since},
    ).fetchone()
    if inputs is not None and inputs[0]:
        since = datetime(1970, 1, 1, tzinfo=since.tzinfo)
    rows = conn.execute(
        "SELECT DISTINCT extract(year FROM month)::int FROM ("
        "SELECT month FROM enterprise_month WHERE updated_at > %(t)s UNION ALL "
        "SELECT month FROM value_added WHERE updated_at > %(t)s) m",
        {"t": since},
    ).fetchall()
    years = {int(r[0]) for r in rows}
    # an r12 window reaches into the next year
    return sorted(years | {y + 1 for y in years})


def refresh_rollups(conn: Conn, years: list[int], *, through: date) -> int:
    """Recompute and store the roll-ups of every month of ``years`` up to ``through``."""
    months = [m for y in years for m in (date(y, i, 1) for i in range(1, 13)) if m <= through]
    if not months:
        return 0
    rows = list(
        query_rollups(
            conn,
            months=months,
            kinds=("month", "ytd", "r12"),
            entities=("enterprise", "district", "industry", "city"),
        )
    )
    with conn.cursor() as cur:
        cur.executemany(_UPSERT, [_values(r) for r in rows])
    return len(rows)


_COLUMNS = (
    "entity, entity_id, kind, month, energy_tce, excluded_tce, co2_t, water_m3, value_added, "
    "energy_intensity, co2_intensity, water_intensity, energy_reduction, co2_reduction, "
    "water_reduction, energy_trajectory, co2_trajectory, water_trajectory, energy_status, "
    "co2_status, water_status, status, reason"
)
_UPDATES = ", ".join(f"{c.strip()} = EXCLUDED.{c.strip()}" for c in _COLUMNS.split(",")[4:])
_UPSERT = (
    f"INSERT INTO rollups ({_COLUMNS}) VALUES ({', '.join(['%s'] * 23)}) "
    f"ON CONFLICT (entity, entity_id, kind, month) DO UPDATE SET {_UPDATES}, computed_at = now()"
)


def _values(r: RollupRow) -> tuple[object, ...]:
    e, c, w = (r.indicators[i] for i in ("energy", "co2", "water"))
    return (
        r.entity, r.entity_id, r.kind, r.month, r.energy_tce, r.excluded_tce, r.co2_t,
        r.water_m3, r.value_added, e.intensity, c.intensity, w.intensity, e.reduction,
        c.reduction, w.reduction, e.trajectory, c.trajectory, w.trajectory, e.status,
        c.status, w.status, r.status, r.reason,
    )  # fmt: skip

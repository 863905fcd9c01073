"""What a monthly report shows, read from the database with the export's own functions.

The roll-up figures come from :func:`greenmon.storage.rollup_store.query_rollups`, the
function ``greenmon export`` uses, so the report's numbers are the export's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal
from zoneinfo import ZoneInfo

from greenmon.accounting.projection import cap_burn, days_in_year, project_year_end
from greenmon.accounting.rollup import RollupRow, add_months
from greenmon.errors import InvalidInput
from greenmon.export import local_bounds
from greenmon.storage.db import Conn
from greenmon.storage.factor_store import read_factors
from greenmon.storage.rollup_store import query_rollups

ReportEntity = Literal["enterprise", "district"]
Cell = str | float | int | None


@dataclass
class Table:
    name: str
    title: str
    header: tuple[str, ...]
    rows: list[tuple[Cell, ...]] = field(default_factory=list)


@dataclass
class Report:
    entity: ReportEntity
    entity_id: str
    month: date
    ytd: list[RollupRow]  # January .. month, year to date
    month_row: RollupRow
    tables: dict[str, Table]


def _members(conn: Conn, entity: ReportEntity, entity_id: str) -> list[str]:
    column = "enterprise_id" if entity == "enterprise" else "district"
    rows = conn.execute(
        f"SELECT enterprise_id FROM enterprises WHERE {column} = %s ORDER BY 1", (entity_id,)
    ).fetchall()
    if not rows:
        raise InvalidInput(f"no {entity} {entity_id!r} in the registry")
    return [str(r[0]) for r in rows]


def _indicator_rows(r: RollupRow) -> list[tuple[Cell, ...]]:
    out: list[tuple[Cell, ...]] = []
    for name, s in r.indicators.items():
        out.append(
            (
                name,
                s.quantity,
                s.intensity,
                s.baseline_intensity,
                s.reduction,
                s.target_reduction,
                s.trajectory,
                s.margin,
                s.status,
            )
        )
    return out


def collect(conn: Conn, entity: ReportEntity, entity_id: str, month: date, tz_key: str) -> Report:

    tz = ZoneInfo(tz_key)
    members = _members(conn, entity, entity_id)
    months = [date(month.year, m, 1) for m in range(1, month.month + 1)]
    rows = [
        r
        for r in query_rollups(conn, months=months, kinds=("month", "ytd"), entities=(entity,))
        if r.entity_id == entity_id
    ]
    ytd = sorted((r for r in rows if r.kind == "ytd"), key=lambda r: r.month)
    month_row = next(r for r in rows if r.kind == "month" and r.month == month)
    last = add_months(month, 1)
    start, end = local_bounds(month, date.fromordinal(last.toordinal() - 1), tz)
    tables: dict[str, Table] = {}

    carriers = Table(
        "consumption",
        "分品种消费 Consumption by carrier",
        ("carrier", "quantity", "unit", "energy_tce", "co2_t", "water_m3"),
    )
    for row in conn.execute(
        "SELECT carrier, sum(quantity), min(unit), sum(energy_tce), sum(co2_t), sum(water_m3) "
        "FROM consumption_15m WHERE enterprise_id = ANY(%s) AND interval_start >= %s "
        "AND interval_start < %s GROUP BY carrier ORDER BY carrier",
        (members, start, end),
    ):
        carriers.rows.append(tuple(row))
    tables["consumption"] = carriers

    head = (
        "indicator",
        "quantity",
        "intensity",
        "baseline_2020",
        "reduction",
        "target_reduction",
        "trajectory",
        "margin",
        "status",
    )
    tables["month"] = Table("month", f"当月 Month {month:%Y-%m}", head, _indicator_rows(month_row))
    tables["ytd"] = Table(
        "ytd", f"年初至今 Year to date {month:%Y-%m}", head, _indicator_rows(ytd[-1])
    )
    trend = Table(
        "trend",
        "强度走势 Intensity by month (YTD) vs trajectory",
        ("month", "indicator", "intensity", "trajectory", "baseline_2020", "reduction"),
    )
    for r in ytd:
        for name, s in r.indicators.items():
            trend.rows.append(
                (
                    f"{r.month:%Y-%m}",
                    name,
                    s.intensity,
                    s.trajectory,
                    s.baseline_intensity,
                    s.reduction,
                )
            )
    tables["trend"] = trend

    totals = ytd[-1]
    projection = Table(
        "projection",
        "年末预测 Year-end projection",
        ("ytd_tce", "projected_tce", "cap_tce", "cap_used", "burn_rate"),
    )
    if totals.energy_tce is not None:
        elapsed = (last - date(month.year, 1, 1)).days
        total_days = days_in_year(month.year)
        projected = project_year_end(totals.energy_tce, elapsed, total_days)
        cap_row = conn.execute(
            "SELECT sum(energy_tce) FROM energy_caps WHERE enterprise_id = ANY(%s) AND year = %s",
            (members, month.year),
        ).fetchone()
        cap = float(cap_row[0]) if cap_row and cap_row[0] is not None else None
        burn = cap_burn(totals.energy_tce, cap, elapsed, total_days) if cap else None
        projection.rows.append(
            (
                totals.energy_tce,
                projected,
                cap,
                burn.share_of_cap_used if burn else None,
                burn.burn_rate if burn else None,
            )
        )
    tables["projection"] = projection

    quality = Table(
        "quality",
        "数据质量 Data quality",
        (
            "meter",
            "expected",
            "present",
            "completeness",
            "estimated",
            "resets",
            "rollovers",
            "quarantined",
        ),
    )
    for row in conn.execute(
        "SELECT meter_id, sum(expected), sum(present), sum(present)::float8 / "
        "NULLIF(sum(expected), 0), sum(estimated), sum(resets), sum(rollovers), "
        "sum(quarantined) FROM meter_quality_daily WHERE enterprise_id = ANY(%s) "
        "AND day >= %s AND day < %s GROUP BY 1 ORDER BY 1",
        (members, month, last),
    ):
        quality.rows.append(tuple(row))
    tables["quality"] = quality

    alerts = Table(
        "alerts",
        "当月告警 Alerts of the month",
        ("time", "enterprise", "rule", "severity", "transition", "message"),
    )
    has_alerts = conn.execute("SELECT to_regclass('alerts') IS NOT NULL").fetchone()
    if has_alerts and has_alerts[0]:
        for row in conn.execute(
            "SELECT ts, enterprise_id, rule_id, severity, transition, message FROM alerts "
            "WHERE enterprise_id = ANY(%s) AND ts >= %s AND ts < %s ORDER BY ts",
            (members, start, end),
        ):
            alerts.rows.append((row[0].astimezone(tz).isoformat(), *row[1:]))
    tables["alerts"] = alerts

    used = {str(r[0]) for r in carriers.rows}
    factors = Table(
        "factors",
        "所用系数 Factors used, with their sources",
        (
            "factor_id",
            "quantity",
            "carrier",
            "variant",
            "value",
            "unit",
            "valid_from",
            "valid_to",
            "source",
        ),
    )
    for f in sorted(read_factors(conn).all(), key=lambda f: f.factor_id):
        in_month = f.valid_from < last and (f.valid_to is None or f.valid_to > month)
        if f.carrier.value in used and in_month:
            factors.rows.append(
                (
                    f.factor_id,
                    f.quantity,
                    f.carrier.value,
                    f.variant,
                    f.value,
                    f.unit,
                    f.valid_from.isoformat(),
                    f.valid_to.isoformat() if f.valid_to else "",
                    f.source,
                )
            )
    tables["factors"] = factors
    return Report(entity, entity_id, month, ytd, month_row, tables)

"""What a monthly report shows, read from the database with the export's own functions.

The roll-up figures come from :func:`greenmon.storage.rollup_store.query_rollups`, the
function ``greenmon export`` uses, so the report's numbers are the export's. Each table
is made by its own function from one query; :func:`collect` puts them together in the
order the page shows them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from greenmon.accounting.projection import cap_burn, days_in_year, project_year_end
from greenmon.accounting.rollup import EntityKind, RollupRow, add_months
from greenmon.domain.reference import DISTRICTS, INDUSTRIES
from greenmon.errors import InvalidInput
from greenmon.export import local_bounds
from greenmon.report.evaluation import EvaluationSection
from greenmon.report.evaluation import section as evaluation_section
from greenmon.storage.db import Conn
from greenmon.storage.factor_store import read_factors
from greenmon.storage.rollup_store import query_rollups

ReportEntity = Literal["enterprise", "district", "city"]
Cell = str | float | int | None
INDICATOR_HEAD = ("indicator", "quantity", "intensity", "baseline_2020", "reduction",
                  "target_reduction", "trajectory", "margin", "status")  # fmt: skip


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
    name: str  # what a person calls it: 青岛市, 市南区 (shinan), the enterprise's name
    month: date
    ytd: list[RollupRow]  # January .. month, year to date
    month_row: RollupRow
    tables: dict[str, Table]
    daily: list[tuple[date, str, float]] = field(default_factory=list)  # day, carrier, tce
    #: the year's 亩产效益 classes and EnPI models (city and district reports)
    evaluation: EvaluationSection | None = None


@dataclass(frozen=True)
class _Scope:
    """The entity, its members and the month's bounds in local time."""

    entity: ReportEntity
    entity_id: str
    name: str
    members: list[str]
    names: dict[str, tuple[str, str, str]]  # enterprise -> name, district, industry
    month: date
    start: datetime
    end: datetime
    tz: ZoneInfo

    @property
    def next_month(self) -> date:
        return add_months(self.month, 1)


def _scope(conn: Conn, entity: ReportEntity, entity_id: str, month: date, tz: ZoneInfo) -> _Scope:
    rows = conn.execute(
        "SELECT enterprise_id, name, district, industry FROM enterprises ORDER BY 1"
    ).fetchall()
    names = {str(r[0]): (str(r[1]), str(r[2]), str(r[3])) for r in rows}
    if entity == "enterprise":
        members = [e for e in names if e == entity_id]
        name = names[entity_id][0] if members else ""
    elif entity == "district":
        members = [e for e, (_n, d, _i) in names.items() if d == entity_id]
        name = f"{DISTRICTS.get(entity_id, entity_id)} ({entity_id})"
    else:
        members, name = list(names), "青岛市 city"
    if not members:
        raise InvalidInput(f"no {entity} {entity_id!r} in the registry")
    last = date.fromordinal(add_months(month, 1).toordinal() - 1)
    start, end = local_bounds(month, last, tz)
    return _Scope(entity, entity_id, name, members, names, month, start, end, tz)


def _indicator_rows(r: RollupRow) -> list[tuple[Cell, ...]]:
    return [
        (name, s.quantity, s.intensity, s.baseline_intensity, s.reduction, s.target_reduction,
         s.trajectory, s.margin, s.status)
        for name, s in r.indicators.items()
    ]  # fmt: skip


def _consumption(conn: Conn, sc: _Scope) -> Table:
    t = Table("consumption", "分品种消费 Consumption by carrier",
              ("carrier", "quantity", "unit", "energy_tce", "co2_t", "water_m3"))  # fmt: skip
    return _filled(
        conn,
        t,
        "SELECT carrier, sum(quantity), unit, sum(energy_tce), sum(co2_t), sum(water_m3) "
        "FROM consumption_15m WHERE enterprise_id = ANY(%s) AND interval_start >= %s "
        "AND interval_start < %s GROUP BY carrier, unit ORDER BY carrier, unit",
        (sc.members, sc.start, sc.end),
    )


def _filled(conn: Conn, t: Table, sql: str, params: tuple[object, ...]) -> Table:
    """``t`` with one row per row of the query."""
    t.rows.extend(tuple(row) for row in conn.execute(sql, params))
    return t


def _daily(conn: Conn, sc: _Scope) -> list[tuple[date, str, float]]:
    """Energy (tce) per local day and carrier over the month, for the chart."""
    rows = conn.execute(
        "SELECT (interval_start AT TIME ZONE %s)::date, carrier, sum(energy_tce) "
        "FROM consumption_15m WHERE enterprise_id = ANY(%s) AND interval_start >= %s "
        "AND interval_start < %s AND energy_tce IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2",
        (sc.tz.key, sc.members, sc.start, sc.end),
    ).fetchall()
    return [(r[0], str(r[1]), float(r[2])) for r in rows]


def _trend(ytd: list[RollupRow]) -> Table:
    t = Table(
        "trend",
        "强度走势 Intensity by month (YTD) vs trajectory",
        ("month", "indicator", "intensity", "trajectory", "baseline_2020", "reduction"),
    )
    for r in ytd:
        for name, s in r.indicators.items():
            t.rows.append((f"{r.month:%Y-%m}", name, s.intensity, s.trajectory,
                           s.baseline_intensity, s.reduction))  # fmt: skip
    return t


def _projection(conn: Conn, sc: _Scope, totals: RollupRow) -> Table:
    t = Table("projection", "年末预测 Year-end projection",
              ("ytd_tce", "projected_tce", "cap_tce", "cap_used", "burn_rate"))  # fmt: skip
    if totals.energy_tce is None:
        return t
    elapsed = (sc.next_month - date(sc.month.year, 1, 1)).days
    total_days = days_in_year(sc.month.year)
    projected = project_year_end(totals.energy_tce, elapsed, total_days)
    cap_row = conn.execute(
        "SELECT sum(energy_tce) FROM energy_caps WHERE enterprise_id = ANY(%s) AND year = %s",
        (sc.members, sc.month.year),
    ).fetchone()
    cap = float(cap_row[0]) if cap_row and cap_row[0] is not None else None
    burn = cap_burn(totals.energy_tce, cap, elapsed, total_days) if cap else None
    t.rows.append((totals.energy_tce, projected, cap, burn.share_of_cap_used if burn else None,
                   burn.burn_rate if burn else None))  # fmt: skip
    return t


def _quality(conn: Conn, sc: _Scope) -> Table:
    t = Table("quality", "数据质量 Data quality",
              ("meter", "expected", "present", "completeness", "estimated", "resets",
               "rollovers", "quarantined"))  # fmt: skip
    return _filled(
        conn,
        t,
        "SELECT meter_id, sum(expected), sum(present), sum(present)::float8 / "
        "NULLIF(sum(expected), 0), sum(estimated), sum(resets), sum(rollovers), "
        "sum(quarantined) FROM meter_quality_daily WHERE enterprise_id = ANY(%s) "
        "AND day >= %s AND day < %s GROUP BY 1 ORDER BY 1",
        (sc.members, sc.month, sc.next_month),
    )


def _alerts(conn: Conn, sc: _Scope) -> Table:
    """The month's alert transitions, and the alerts firing now, of the members."""
    t = Table(
        "alerts",
        "告警 Alerts of the month, and firing now",
        ("time", "enterprise", "name", "rule", "severity", "transition", "message"),
    )
    has_alerts = conn.execute("SELECT to_regclass('alerts') IS NOT NULL").fetchone()
    if not (has_alerts and has_alerts[0]):
        return t
    for row in conn.execute(
        "SELECT a.ts, a.enterprise_id, a.rule_id, a.severity, a.transition, a.message "
        "FROM alerts a WHERE a.enterprise_id = ANY(%s) AND ((a.ts >= %s AND a.ts < %s) "
        "OR (a.transition = 'firing' AND EXISTS (SELECT 1 FROM alert_state s WHERE "
        "s.fingerprint = a.fingerprint AND s.state = 'firing'))) ORDER BY a.ts, a.fingerprint",
        (sc.members, sc.start, sc.end),
    ):
        name = sc.names.get(str(row[1]), ("",))[0]
        t.rows.append((row[0].astimezone(sc.tz).isoformat(), row[1], name, *row[2:]))
    return t


def _factors(conn: Conn, sc: _Scope, used: set[str]) -> Table:
    t = Table("factors", "所用系数 Factors used, with their sources",
              ("factor_id", "quantity", "carrier", "variant", "value", "unit", "valid_from",
               "valid_to", "source"))  # fmt: skip
    for f in sorted(read_factors(conn).all(), key=lambda f: f.factor_id):
        in_month = f.valid_from < sc.next_month and (f.valid_to is None or f.valid_to > sc.month)
        if f.carrier.value in used and in_month:
            t.rows.append((f.factor_id, f.quantity, f.carrier.value, f.variant, f.value, f.unit,
                           f.valid_from.isoformat(), f.valid_to.isoformat() if f.valid_to else "",
                           f.source))  # fmt: skip
    return t


def _members(sc: _Scope, rows: list[RollupRow]) -> Table:
    """The enterprises of a district or the city, year to date, the furthest behind first."""
    t = Table("members", "企业 Enterprises, year to date (furthest behind first)",
              ("enterprise", "name", "district", "industry", "energy_margin", "co2_margin",
               "water_margin", "status"))  # fmt: skip
    ytd = [r for r in rows if r.entity == "enterprise" and r.kind == "ytd"]
    for r in sorted(ytd, key=_worst_margin):
        name, district, industry = sc.names[r.entity_id]
        m = [r.indicators[i].margin for i in ("energy", "co2", "water")]
        t.rows.append((r.entity_id, name, DISTRICTS.get(district, district),
                       INDUSTRIES.get(industry, industry), *m, r.status))  # fmt: skip
    return t


def _worst_margin(r: RollupRow) -> tuple[float, str]:
    margins = [s.margin for s in r.indicators.values() if s.margin is not None]
    return (min(margins) if margins else float("inf"), r.entity_id)


def _ranking(rows: list[RollupRow], kind: Literal["district", "industry"]) -> Table:
    """Districts or industries by their margin to the trajectory, the furthest behind first.

    The rank is by the worst of the three margins (energy, CO2, water): an entity behind
    on any binding indicator comes before one on track on all three.
    """
    names = DISTRICTS if kind == "district" else INDUSTRIES
    title = "区市排名 Districts" if kind == "district" else "产业排名 Industries"
    t = Table(f"ranking_{kind}", f"{title} by margin to the trajectory (year to date)",
              ("rank", kind, "name", "worst_margin", "energy_margin", "co2_margin",
               "water_margin", "status"))  # fmt: skip
    ytd = [r for r in rows if r.entity == kind and r.kind == "ytd"]
    for rank, r in enumerate(sorted(ytd, key=_worst_margin), start=1):
        m = [r.indicators[i].margin for i in ("energy", "co2", "water")]
        worst = min((x for x in m if x is not None), default=None)
        t.rows.append((rank, r.entity_id, names.get(r.entity_id, r.entity_id), worst, *m,
                       r.status))  # fmt: skip
    return t


def collect(conn: Conn, entity: ReportEntity, entity_id: str, month: date, tz_key: str) -> Report:
    sc = _scope(conn, entity, entity_id, month, ZoneInfo(tz_key))
    months = [date(month.year, m, 1) for m in range(1, month.month + 1)]
    entities: tuple[EntityKind, ...] = ("enterprise",)
    if entity != "enterprise":
        entities = ("enterprise", "district", "industry", "city")
    rows = list(query_rollups(conn, months=months, kinds=("month", "ytd"), entities=entities))
    own = [r for r in rows if r.entity == entity and r.entity_id == entity_id]
    ytd = sorted((r for r in own if r.kind == "ytd"), key=lambda r: r.month)
    month_row = next(r for r in own if r.kind == "month" and r.month == month)
    tables: dict[str, Table] = {"consumption": _consumption(conn, sc)}
    tables["month"] = Table("month", f"当月 Month {month:%Y-%m}", INDICATOR_HEAD,
                            _indicator_rows(month_row))  # fmt: skip
    tables["ytd"] = Table("ytd", f"年初至今 Year to date {month:%Y-%m}", INDICATOR_HEAD,
                          _indicator_rows(ytd[-1]))  # fmt: skip
    current = [r for r in rows if r.month == month]
    if entity == "city":
        tables["ranking_district"] = _ranking(current, "district")
        tables["ranking_industry"] = _ranking(current, "industry")
    if entity != "enterprise":
        members = set(sc.members)
        tables["members"] = _members(sc, [r for r in current if r.entity_id in members])
    tables["trend"] = _trend(ytd)
    tables["projection"] = _projection(conn, sc, ytd[-1])
    tables["quality"] = _quality(conn, sc)
    tables["alerts"] = _alerts(conn, sc)
    tables["factors"] = _factors(conn, sc, {str(r[0]) for r in tables["consumption"].rows})
    evaluation = None
    if entity in ("city", "district"):
        evaluation = evaluation_section(
            conn, month.year, entity_id if entity == "district" else None
        )
    return Report(
        entity, entity_id, sc.name, month, ytd, month_row, tables, _daily(conn, sc), evaluation
    )

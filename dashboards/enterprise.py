"""3. Enterprise (企业): consumption, intensities vs trajectory, projection, meters, alerts."""

from __future__ import annotations

from typing import Final

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import dashboard as model

from dashboards import evaluation
from dashboards.common import (
    DATASOURCE,
    INDICATORS,
    U_CO2,
    U_COUNT,
    U_SHARE,
    U_TCE,
    U_TIME,
    U_WATER,
    Catalog,
    SqlQuery,
    dashboard,
    link_to,
    panel,
    variable,
)

Panel = cogbuilder.Builder[model.Panel]
UID: Final = "greenmon-enterprise"
METER_UID: Final = "greenmon-meter"
E = "'$enterprise'"
LATEST_YTD: Final = (
    "(SELECT max(month) FROM rollups WHERE entity = 'enterprise' AND entity_id = "
    f"{E} AND kind = 'ytd' AND $__timeFilter(month))"
)

ENTERPRISE_VARIABLE_SQL: Final = (
    "SELECT name || ' (' || enterprise_id || ')' AS __text, enterprise_id AS __value "
    "FROM enterprises ORDER BY 2"
)

ALERTS_SQL: Final = (
    "SELECT ts AS time, severity || ' ' || transition || ': ' || message AS text, "
    "rule_id || ',' || severity AS tags FROM alerts "
    f"WHERE enterprise_id = {E} AND $__timeFilter(ts) ORDER BY ts"
)

PROJECTION_SQL: Final = (
    "SELECT r.month::timestamptz AS as_of, r.energy_tce AS ytd_tce, "
    "r.energy_tce * (make_date(y + 1, 1, 1) - make_date(y, 1, 1))::float8 "
    "/ ((r.month + interval '1 month')::date - make_date(y, 1, 1)) AS projected_tce, "
    "c.energy_tce AS cap_tce, r.energy_tce / NULLIF(c.energy_tce, 0) AS cap_used "
    "FROM rollups r CROSS JOIN LATERAL (SELECT extract(year FROM r.month)::int AS y) yr "
    "LEFT JOIN energy_caps c ON c.enterprise_id = r.entity_id AND c.year = yr.y "
    f"WHERE r.entity = 'enterprise' AND r.entity_id = {E} AND r.kind = 'ytd' "
    f"AND r.month = {LATEST_YTD}"
)

METERS_SQL: Final = (
    "SELECT m.meter_id AS meter, m.carrier, m.unit, m.kind, array_to_string(m.flags, ',') "
    "AS flags, coalesce(sum(q.present)::float8 / NULLIF(sum(q.expected), 0), 0) AS "
    "completeness, coalesce(sum(q.estimated), 0) AS estimated, coalesce(sum(q.resets), 0) "
    "AS resets, coalesce(sum(q.rollovers), 0) AS rollovers, coalesce(sum(q.quarantined), 0) "
    "AS quarantined, max(q.delay_max_s) AS max_delay_s FROM meters m "
    "LEFT JOIN meter_quality_daily q ON q.meter_id = m.meter_id AND $__timeFilter(q.day) "
    f"WHERE m.enterprise_id = {E} GROUP BY 1, 2, 3, 4, 5 ORDER BY 1"
)


def _header(cat: Catalog) -> dash.Dashboard:
    """The dashboard, its enterprise variable, the alerts annotation and the title row."""
    board = dashboard(UID, "企业 Enterprise", ["enterprise"], "now-90d")
    board = board.with_variable(
        variable("enterprise", "企业 Enterprise", ENTERPRISE_VARIABLE_SQL, cat)
    )
    cat.add("annotation alerts", ALERTS_SQL, ("time", "text", "tags"), empty=True)
    board = board.annotation(
        dash.AnnotationQuery()
        .name("告警 Alerts")
        .datasource(DATASOURCE)
        .enable(True)
        .icon_color("red")
        .target(SqlQuery(ALERTS_SQL, "table"))  # type: ignore[arg-type]
    )
    return board.with_row(dash.Row("$enterprise"))


def _status_panels(cat: Catalog) -> list[Panel]:
    """Year-to-date status, year-end projection and cap, energy by carrier."""
    status_sql = (
        "SELECT status, energy_status, co2_status, water_status FROM rollups "
        f"WHERE entity = 'enterprise' AND entity_id = {E} AND kind = 'ytd' "
        f"AND month = {LATEST_YTD}"
    )
    carrier_sql = (
        "SELECT $__timeGroupAlias(interval_start, $__interval), carrier AS metric, "
        "sum(energy_tce) AS value FROM consumption_15m "
        f"WHERE enterprise_id = {E} AND carrier <> 'water' AND $__timeFilter(interval_start) "
        "GROUP BY 1, 2 ORDER BY 1, 2"
    )
    return [
        panel(cat, "stat", "进度状态 Status (YTD)", status_sql,
              ("status", "energy_status", "co2_status", "water_status"), "none", width=8,
              height=5),
        panel(cat, "table", "年末预测与总量控制 Year-end projection and energy cap",
              PROJECTION_SQL, ("as_of", "ytd_tce", "projected_tce", "cap_tce", "cap_used"),
              U_TCE, width=16, height=5, overrides={"cap_used": U_SHARE, "as_of": U_TIME}),
        panel(cat, "timeseries", "分品种能耗 Energy by carrier", carrier_sql,
              ("time", "metric", "value"), U_TCE, width=24),
    ]  # fmt: skip


def _monthly_panels(cat: Catalog) -> list[Panel]:
    """Monthly totals, and each intensity against its trajectory (year to date)."""
    out = []
    for column, title, unit in (
        ("energy_tce", "综合能耗 Energy (tce)", U_TCE),
        ("co2_t", "二氧化碳 CO₂", U_CO2),
        ("water_m3", "取水量 Water", U_WATER),
    ):
        sql = (
            f"SELECT month::timestamptz AS time, {column} AS value FROM enterprise_month "
            f"WHERE enterprise_id = {E} AND $__timeFilter(month) ORDER BY 1"
        )
        out.append(panel(cat, "timeseries", f"{title} by month", sql, ("time", "value"), unit))
    for indicator, title, unit in INDICATORS:
        sql = (
            f'SELECT month::timestamptz AS time, {indicator}_intensity AS "intensity", '
            f"{indicator}_trajectory AS \"trajectory\" FROM rollups WHERE entity = 'enterprise' "
            f"AND entity_id = {E} AND kind = 'ytd' AND $__timeFilter(month) ORDER BY 1"
        )
        out.append(panel(cat, "timeseries", f"{title} vs trajectory (YTD)", sql,
                         ("time", "intensity", "trajectory"), unit))  # fmt: skip
    return out


def _meters_panel(cat: Catalog) -> Panel:
    columns = ("meter", "carrier", "unit", "kind", "flags", "completeness", "estimated",
               "resets", "rollovers", "quarantined", "max_delay_s")  # fmt: skip
    return panel(
        cat,
        "table",
        "计量器具与数据质量 Meters and data quality",
        METERS_SQL,
        columns,
        U_COUNT,
        width=24,
        height=10,
        overrides={"completeness": U_SHARE, "max_delay_s": "s"},
        links=[("meter", link_to(METER_UID, "meter") + "&var-enterprise=$enterprise")],
    )


def build() -> tuple[dash.Dashboard, Catalog]:
    cat = Catalog(UID)
    board = _header(cat)
    panels = [
        *_status_panels(cat),
        *_monthly_panels(cat),
        *evaluation.enterprise_panels(cat),
        _meters_panel(cat),
    ]
    for p in panels:
        board = board.with_panel(p)
    return board, cat

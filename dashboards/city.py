"""1. City overview (全市总览): intensities, reductions vs target, ranking, on track, quality."""

from __future__ import annotations

from typing import Final

from grafana_foundation_sdk.builders import dashboard as dash

from dashboards.common import (
    INDICATORS,
    U_SHARE,
    Catalog,
    PanelBuilder,
    dashboard,
    intensity_table,
    link_to,
    panel,
    zh_names_sql,
)

UID: Final = "greenmon-city"
ENTERPRISE_UID: Final = "greenmon-enterprise"
DISTRICT_UID: Final = "greenmon-district"

# the last year-to-date month in the time range, for one entity kind
LATEST = (
    "(SELECT max(month) FROM rollups WHERE entity = '{entity}' AND kind = 'ytd' "
    "AND $__timeFilter(month))"
)


def reductions_sql(entity: str, entity_id: str) -> str:
    """Cumulative reductions and the reductions the trajectory asks for, by month (ytd)."""
    parts = [
        f'{i}_reduction AS "{i} reduction", '
        f"1 - {i}_trajectory * (1 - {i}_reduction) / NULLIF({i}_intensity, 0) "
        f'AS "{i} target"'
        for i, _, _ in INDICATORS
    ]
    return (
        f"SELECT month::timestamptz AS time, {', '.join(parts)} FROM rollups "
        f"WHERE entity = '{entity}' AND entity_id = {entity_id} AND kind = 'ytd' "
        "AND $__timeFilter(month) ORDER BY 1"
    )


def intensity_stat_sql(entity: str, entity_id: str, indicator: str) -> str:
    return (
        f"SELECT {indicator}_intensity AS value FROM rollups WHERE entity = '{entity}' "
        f"AND entity_id = {entity_id} AND kind = 'ytd' AND month = " + LATEST.format(entity=entity)
    )


def behind_sql(where: str) -> str:
    """Enterprises most behind their energy trajectory (latest ytd month in range)."""
    return (
        "SELECT r.entity_id AS enterprise, e.name, e.district, e.industry, "
        "r.energy_intensity / NULLIF(r.energy_trajectory, 0) - 1 AS energy_margin, "
        "r.co2_intensity / NULLIF(r.co2_trajectory, 0) - 1 AS co2_margin, "
        "r.water_intensity / NULLIF(r.water_trajectory, 0) - 1 AS water_margin, r.status "
        "FROM rollups r JOIN enterprises e ON e.enterprise_id = r.entity_id "
        "WHERE r.entity = 'enterprise' AND r.kind = 'ytd' AND r.month = "
        + LATEST.format(entity="enterprise")
        + f"{where} ORDER BY energy_margin DESC NULLS LAST LIMIT 20"
    )


def on_track_sql(where: str) -> str:
    return (
        "SELECT avg((r.status = 'on_track')::int)::float8 AS on_track_share "
        "FROM rollups r JOIN enterprises e ON e.enterprise_id = r.entity_id "
        "WHERE r.entity = 'enterprise' AND r.kind = 'ytd' AND r.month = "
        + LATEST.format(entity="enterprise")
        + where
    )


def completeness_sql(where: str) -> str:
    """Share of expected intervals present over the time range (the enterprises' daily
    sums of their meters' quality)."""
    join = " JOIN enterprises e ON e.enterprise_id = q.enterprise_id" if where else ""
    return (
        "SELECT coalesce(sum(q.present)::float8 / NULLIF(sum(q.expected), 0), 0) "
        f"AS completeness FROM enterprise_quality_daily q{join} "
        f"WHERE $__timeFilter(q.day){where}"
    )


BEHIND_COLUMNS: Final = (
    "enterprise",
    "name",
    "district",
    "industry",
    "energy_margin",
    "co2_margin",
    "water_margin",
    "status",
)
MARGINS: Final = {"energy_margin": U_SHARE, "co2_margin": U_SHARE, "water_margin": U_SHARE}


def headline_panels(
    board: dash.Dashboard,
    cat: Catalog,
    entity: str,
    id_sql: str,
    where: str,
    reductions_description: str = "",
) -> dash.Dashboard:
    """An entity's year-to-date headline: its three intensities, the share of its
    enterprises on track, its reductions against the target, and data completeness."""
    for indicator, title, unit in INDICATORS:
        board = board.with_panel(
            panel(cat, "stat", f"{title} (YTD)", intensity_stat_sql(entity, id_sql, indicator),
                  ("value",), unit, width=6, height=5)
        )  # fmt: skip
    board = board.with_panel(
        panel(
            cat,
            "stat",
            "达标企业占比 Enterprises on track",
            on_track_sql(where),
            ("on_track_share",),
            U_SHARE,
            width=6,
            height=5,
        )
    )
    board = board.with_panel(
        panel(
            cat,
            "timeseries",
            "累计降幅与目标 Cumulative reduction vs target",
            reductions_sql(entity, id_sql),
            ("time", *(f"{i} {s}" for i, _, _ in INDICATORS for s in ("reduction", "target"))),
            U_SHARE,
            width=18,
            height=9,
            description=reductions_description,
        )
    )
    board = board.with_panel(
        panel(
            cat,
            "stat",
            "数据完整率 Data completeness",
            completeness_sql(where),
            ("completeness",),
            U_SHARE,
            width=6,
            height=9,
        )
    )
    return board


def behind_table(cat: Catalog, where: str, *, height: int) -> PanelBuilder:
    """The enterprises (of ``where``) most behind their trajectory, linked to theirs."""
    return panel(
        cat,
        "table",
        "进度最落后企业 Enterprises most behind their trajectory",
        behind_sql(where),
        BEHIND_COLUMNS,
        "none",
        width=24,
        height=height,
        overrides=MARGINS,
        links=[("enterprise", link_to(ENTERPRISE_UID, "enterprise"))],
    )


def build() -> tuple[dash.Dashboard, Catalog]:
    cat = Catalog(UID)
    board = dashboard(UID, "全市总览 City overview", ["city"], "now-1y")
    board = board.with_row(dash.Row("全市 City — year to date"))
    board = headline_panels(
        board,
        cat,
        "city",
        "'city'",
        "",
        reductions_description="Reduction since the 2020 baseline (year to date) and the "
        "reduction the year's trajectory asks for.",
    )
    board = _districts(board.with_row(dash.Row("十区市 Districts")), cat)
    board = board.with_row(dash.Row("企业 Enterprises"))
    board = board.with_panel(behind_table(cat, "", height=10))
    return board, cat


def _districts(board: dash.Dashboard, cat: Catalog) -> dash.Dashboard:
    """The districts side by side: a table, and each intensity by month."""
    district_sql = (
        "SELECT r.entity_id AS district, zh.name_zh, r.energy_intensity, r.co2_intensity, "
        "r.water_intensity, r.energy_reduction, r.co2_reduction, r.water_reduction, r.status "
        f"FROM rollups r LEFT JOIN {zh_names_sql('district')} ON zh.id = r.entity_id "
        "WHERE r.entity = 'district' AND r.kind = 'ytd' AND r.month = "
        + LATEST.format(entity="district")
        + " ORDER BY r.entity_id"
    )
    board = board.with_panel(
        intensity_table(
            cat,
            "各区市强度与降幅 Districts: intensities and reductions (YTD)",
            district_sql,
            "district",
            "name_zh",
            link_to(DISTRICT_UID, "district"),
        )
    )
    for indicator, title, unit in INDICATORS:
        sql = (
            f"SELECT month::timestamptz AS time, entity_id AS metric, {indicator}_intensity "
            "AS value FROM rollups WHERE entity = 'district' AND kind = 'ytd' "
            "AND $__timeFilter(month) ORDER BY 1, 2"
        )
        board = board.with_panel(
            panel(
                cat,
                "timeseries",
                f"各区市{title} by district (YTD)",
                sql,
                ("time", "metric", "value"),
                unit,
                width=8,
            )
        )
    return board

"""Evaluations on the dashboards: the enterprise's CUSUM of energy savings (ISO 50006)
and, for inspectors, 亩产效益 classes per district and industry and the D list.

The evaluated year is the newest one with stored results up to the end of the time
range (``greenmon evaluation run --year Y`` stores them).
"""

from __future__ import annotations

from typing import Final, Literal

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import dashboard as model

from dashboards.common import U_COUNT, U_TCE, Catalog, dashboard, link_to, panel, zh_names_sql

UID: Final = "greenmon-evaluation"
ENTERPRISE_UID: Final = "greenmon-enterprise"
YEAR: Final = (
    "(SELECT max(year) FROM evaluation_results "
    "WHERE year <= extract(year FROM $__timeTo()::timestamptz)::int)"
)

CUSUM_SQL: Final = (
    "SELECT time, savings_tce, cusum_tce FROM (SELECT month::timestamptz AS time, "
    "savings_tce, sum(savings_tce) OVER (ORDER BY month) AS cusum_tce FROM enpi_savings "
    "WHERE enterprise_id = '$enterprise') s WHERE $__timeFilter(time) ORDER BY 1"
)

MODEL_SQL: Final = (
    "SELECT to_char(baseline_from, 'YYYY-MM') || ' .. ' || to_char(baseline_to, 'YYYY-MM') "
    "AS baseline, array_to_string(variables, ', ') AS variables, n, r2, cv_rmse, nmbe, "
    "CASE WHEN acceptable THEN 'acceptable' ELSE 'NOT acceptable: ' "
    "|| array_to_string(failures, '; ') END AS verdict "
    "FROM enpi_models WHERE enterprise_id = '$enterprise'"
)


def classes_sql(kind: Literal["district", "industry"]) -> str:
    """Enterprises per class A-D in each district or industry, the newest evaluated year."""
    return (
        f"SELECT e.{kind} AS {kind}, coalesce(zh.name_zh, e.{kind}) AS name, "
        "count(*) FILTER (WHERE r.class = 'A') AS a, count(*) FILTER (WHERE r.class = 'B') "
        "AS b, count(*) FILTER (WHERE r.class = 'C') AS c, "
        "count(*) FILTER (WHERE r.class = 'D') AS d FROM evaluation_results r "
        f"JOIN enterprises e USING (enterprise_id) LEFT JOIN {zh_names_sql(kind)} "
        f"ON zh.id = e.{kind} WHERE r.year = {YEAR} GROUP BY 1, 2 ORDER BY 1"
    )


D_LIST_SQL: Final = (
    "SELECT r.enterprise_id AS enterprise, e.name, e.district, e.industry, r.scale, r.year, "
    "r.total, r.rank, r.note FROM evaluation_results r JOIN enterprises e "
    f"USING (enterprise_id) WHERE r.class = 'D' AND r.year = {YEAR} "
    "ORDER BY r.scale, r.rank, r.enterprise_id"
)
RESULTS_SQL: Final = (
    "SELECT r.enterprise_id AS enterprise, e.name, e.district, e.industry, r.scale, "
    "r.total, r.rank, r.class, r.note FROM evaluation_results r JOIN enterprises e "
    f"USING (enterprise_id) WHERE r.year = {YEAR} ORDER BY r.scale, r.rank, r.enterprise_id"
)


def enterprise_panels(cat: Catalog) -> list[cogbuilder.Builder[model.Panel]]:
    """The enterprise dashboard's CUSUM chart and its model's statistics."""
    return [
        panel(cat, "timeseries", "节能量累计 CUSUM of energy savings (ISO 50006)", CUSUM_SQL,
              ("time", "savings_tce", "cusum_tce"), U_TCE, width=16,
              description="Savings = expected (baseline model) - actual energy; a falling "
              "CUSUM means the plant uses more than its baseline predicts."),
        panel(cat, "table", "能效基准模型 EnPI baseline model", MODEL_SQL,
              ("baseline", "variables", "n", "r2", "cv_rmse", "nmbe", "verdict"), "none",
              width=8, overrides={"cv_rmse": "percentunit", "nmbe": "percentunit"}),
    ]  # fmt: skip


def build() -> tuple[dash.Dashboard, Catalog]:
    """The inspectors' 亩产效益 dashboard: classes per district and industry, the D list."""
    cat = Catalog(UID)
    board = dashboard(UID, "亩产效益评价 Comprehensive evaluation", ["evaluation"], "now-1y")
    link = link_to(ENTERPRISE_UID, "enterprise")
    kinds: tuple[tuple[Literal["district", "industry"], str], ...] = (
        ("district", "各区市分类 Classes per district"),
        ("industry", "各行业分类 Classes per industry"),
    )
    for kind, title in kinds:
        board = board.with_panel(
            panel(
                cat,
                "table",
                title,
                classes_sql(kind),
                (kind, "name", "a", "b", "c", "d"),
                U_COUNT,
                width=12,
                height=10,
            )
        )
    columns = ("enterprise", "name", "district", "industry", "scale", "year", "total", "rank",
               "note")  # fmt: skip
    board = board.with_panel(
        panel(
            cat,
            "table",
            "D 类企业 The D list",
            D_LIST_SQL,
            columns,
            "none",
            width=24,
            height=8,
            links=[("enterprise", link)],
        )
    )
    board = board.with_panel(
        panel(
            cat,
            "table",
            "评价结果 All results",
            RESULTS_SQL,
            (*columns[:5], "total", "rank", "class", "note"),
            "none",
            width=24,
            height=12,
            links=[("enterprise", link)],
        )
    )
    return board, cat

"""2. District (区市) and Industry (产业) dashboards: the city view for one group's enterprises."""

from __future__ import annotations

from typing import Final, Literal

from grafana_foundation_sdk.builders import dashboard as dash

from dashboards.city import (
    ENTERPRISE_UID,
    behind_table,
    headline_panels,
)
from dashboards.common import (
    Catalog,
    dashboard,
    intensity_table,
    link_to,
    variable,
    zh_names_sql,
)

Group = Literal["district", "industry"]
TITLES: Final = {"district": "区市 District", "industry": "产业 Industry"}


def uid(group: Group) -> str:
    return f"greenmon-{group}"


def build(group: Group) -> tuple[dash.Dashboard, Catalog]:
    cat = Catalog(uid(group))
    board = dashboard(uid(group), f"{TITLES[group]}", [group], "now-1y")
    board = board.with_variable(
        variable(
            group,
            TITLES[group],
            f"SELECT DISTINCT coalesce(zh.name_zh || ' ' || e.{group}, e.{group}) AS __text, "
            f"e.{group} AS __value FROM enterprises e LEFT JOIN {zh_names_sql(group)} "
            f"ON zh.id = e.{group} ORDER BY 2",
            cat,
        )
    )
    where = f" AND e.{group} = '${group}'"
    board = board.with_row(dash.Row(f"{TITLES[group]} ${group} — year to date"))
    board = headline_panels(board, cat, group, f"'${group}'", where)
    board = board.with_row(dash.Row("企业 Enterprises"))
    members_sql = (
        "SELECT r.entity_id AS enterprise, e.name, r.energy_intensity, r.co2_intensity, "
        "r.water_intensity, r.energy_reduction, r.co2_reduction, r.water_reduction, r.status "
        "FROM rollups r JOIN enterprises e ON e.enterprise_id = r.entity_id "
        "WHERE r.entity = 'enterprise' AND r.kind = 'ytd' AND r.month = "
        "(SELECT max(month) FROM rollups WHERE entity = 'enterprise' AND kind = 'ytd' "
        f"AND $__timeFilter(month)){where} ORDER BY r.entity_id"
    )
    board = board.with_panel(
        intensity_table(
            cat,
            "企业强度与降幅 Enterprises: intensities and reductions (YTD)",
            members_sql,
            "enterprise",
            "name",
            link_to(ENTERPRISE_UID, "enterprise"),
        )
    )
    board = board.with_panel(behind_table(cat, where, height=8))
    return board, cat

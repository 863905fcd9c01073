"""What every dashboard shares: the datasource, raw-SQL queries, panels with units.

The grafana-foundation-sdk has no typed query for the PostgreSQL datasource, so
:class:`SqlQuery` builds the target as the SDK's generic dataquery (``UnknownDataquery``,
what the SDK itself decodes unknown datasource queries into). Every query is also
recorded in a :class:`Catalog` with the columns it returns, so the tests can run it
against a real database and check the result without Grafana.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import stat, table, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.runtime import UnknownDataquery
from grafana_foundation_sdk.models import dashboard as model

from greenmon.domain.reference import DISTRICTS, INDUSTRIES
from greenmon.export import INTENSITY_COLUMNS

DATASOURCE_UID: Final = "greenmon-timescaledb"
DATASOURCE_TYPE: Final = "grafana-postgresql-datasource"
DATASOURCE: Final = model.DataSourceRef(type_val=DATASOURCE_TYPE, uid=DATASOURCE_UID)
FOLDER_UID: Final = "greenmon"

Format = Literal["time_series", "table"]
#: what :func:`panel` returns, for functions that make a dashboard's panels in groups
PanelBuilder = cogbuilder.Builder[model.Panel]

# Units: Grafana's built-in ids, or custom suffixes for the plan's indicators.
U_ENERGY_INT: Final = "suffix: tce/10⁴ CNY"
U_CO2_INT: Final = "suffix: t CO₂/10⁴ CNY"
U_WATER_INT: Final = "suffix: m³/10⁴ CNY"
U_TCE: Final = "suffix: tce"
U_CO2: Final = "suffix: t CO₂"
U_WATER: Final = "suffix: m³"
U_SHARE: Final = "percentunit"
U_COUNT: Final = "short"
U_SECONDS: Final = "s"
U_TIME: Final = "dateTimeAsIso"

INDICATORS: Final = (
    ("energy", "能耗强度 Energy intensity", U_ENERGY_INT),
    ("co2", "碳排放强度 CO₂ intensity", U_CO2_INT),
    ("water", "用水强度 Water intensity", U_WATER_INT),
)


def zh_names_sql(kind: Literal["district", "industry"]) -> str:
    """A VALUES list (id, name_zh) of the reference city's districts or industries."""
    names = DISTRICTS if kind == "district" else INDUSTRIES
    rows = ", ".join(f"('{k}', '{v}')" for k, v in names.items())
    return f"(VALUES {rows}) AS zh(id, name_zh)"


class SqlQuery(cogbuilder.Builder[cogvariants.Dataquery]):
    """A raw-SQL target of Grafana's PostgreSQL datasource (code editor mode)."""

    def __init__(self, sql: str, fmt: Format = "table", ref_id: str = "A") -> None:
        self._data: dict[str, object] = {
            "refId": ref_id,
            "datasource": {"type": DATASOURCE_TYPE, "uid": DATASOURCE_UID},
            "editorMode": "code",
            "format": fmt,
            "rawQuery": True,
            "rawSql": sql,
        }

    def build(self) -> cogvariants.Dataquery:
        return UnknownDataquery(dict(self._data))


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """One SQL text of a dashboard or alert rule, and the columns it must return."""

    dashboard: str
    title: str
    sql: str
    columns: tuple[str, ...]
    may_be_empty: bool = False


@dataclass
class Catalog:
    """Every query a dashboard builder emitted (read by the tests and the benchmark)."""

    uid: str
    entries: list[CatalogEntry] = field(default_factory=list)

    def add(self, title: str, sql: str, columns: tuple[str, ...], *, empty: bool = False) -> str:
        self.entries.append(CatalogEntry(self.uid, title, sql, columns, empty))
        return sql


PanelKind = Literal["stat", "table", "timeseries"]


def panel(
    cat: Catalog,
    kind: PanelKind,
    title: str,
    sql: str,
    columns: tuple[str, ...],
    unit: str,
    *,
    width: int = 8,
    height: int = 8,
    description: str = "",
    overrides: dict[str, str] | None = None,
    links: list[tuple[str, str]] | None = None,
) -> cogbuilder.Builder[model.Panel]:
    """A panel of ``kind`` with one SQL target, a unit (and per-column unit overrides)."""
    fmt: Format = "time_series" if kind == "timeseries" else "table"
    cat.add(title, sql, columns)
    builder: stat.Panel | table.Panel | timeseries.Panel
    if kind == "stat":
        builder = stat.Panel()
    elif kind == "table":
        builder = table.Panel()
    else:
        builder = timeseries.Panel()
    builder = (
        builder.title(title)
        .datasource(DATASOURCE)
        .with_target(SqlQuery(sql, fmt))
        .unit(unit)
        .span(width)
        .height(height)
    )
    if description:
        builder = builder.description(description)
    for name, override_unit in (overrides or {}).items():
        builder = builder.override_by_name(
            name, [model.DynamicConfigValue(id_val="unit", value=override_unit)]
        )
    for name, url in links or []:
        builder = builder.override_by_name(
            name,
            [model.DynamicConfigValue(id_val="links", value=[{"title": f"→ {name}", "url": url}])],
        )
    return builder


def intensity_table(
    cat: Catalog, title: str, sql: str, key: str, name: str, link: str
) -> cogbuilder.Builder[model.Panel]:
    """A full-width table of entities with their intensities, reductions and status;
    ``key`` links to the entity's own dashboard."""
    return panel(
        cat,
        "table",
        title,
        sql,
        (key, name, *INTENSITY_COLUMNS),
        "none",
        width=24,
        height=10,
        overrides={
            "energy_intensity": INDICATORS[0][2],
            "co2_intensity": INDICATORS[1][2],
            "water_intensity": INDICATORS[2][2],
            "energy_reduction": U_SHARE,
            "co2_reduction": U_SHARE,
            "water_reduction": U_SHARE,
        },
        links=[(key, link)],
    )


def variable(
    name: str, label: str, sql: str, cat: Catalog, *, multi: bool = False
) -> dash.QueryVariable:
    """A template variable filled by a SQL query (``__text``/``__value`` columns or one)."""
    cat.add(f"variable {name}", sql, ("__text", "__value"))
    builder = (
        dash.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(sql)
        .refresh(model.VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
    )
    if multi:
        builder = builder.multi(True).include_all(True)
    return builder


def dashboard(uid: str, title: str, tags: list[str], time_from: str) -> dash.Dashboard:
    return (
        dash.Dashboard(title)
        .uid(uid)
        .tags(["greenmon", *tags])
        .timezone("browser")
        .time(time_from, "now")
        .refresh("1m")
        .editable()
    )


def link_to(uid: str, var: str, value: str = "${__value.raw}") -> str:
    """Drill-down URL to another dashboard with one variable set (keeps the time range)."""
    return f"/d/{uid}?var-{var}={value}&${{__url_time_range}}"

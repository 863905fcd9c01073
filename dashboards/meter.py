"""4. Meter (计量器具): raw readings, interval consumption, resets, gaps, quarantined deltas."""

from __future__ import annotations

from typing import Final

from grafana_foundation_sdk.builders import dashboard as dash

from dashboards.common import (
    U_COUNT,
    U_SHARE,
    U_TCE,
    U_TIME,
    Catalog,
    PanelBuilder,
    dashboard,
    panel,
    variable,
)
from dashboards.enterprise import ENTERPRISE_VARIABLE_SQL

UID: Final = "greenmon-meter"
M = "'$meter'"


def build() -> tuple[dash.Dashboard, Catalog]:
    cat = Catalog(UID)
    board = dashboard(UID, "计量器具 Meter", ["meter"], "now-7d")
    board = board.with_variable(
        variable("enterprise", "企业 Enterprise", ENTERPRISE_VARIABLE_SQL, cat)
    )
    board = board.with_variable(
        variable(
            "meter",
            "计量器具 Meter",
            "SELECT meter_id || ' ' || carrier || ' (' || unit || ')' AS __text, "
            "meter_id AS __value FROM meters WHERE enterprise_id = '$enterprise' "
            "ORDER BY 2",
            cat,
        )
    )
    for item in (*_reading_panels(cat), *_quality_panels(cat), *_event_panels(cat)):
        board = board.with_panel(item)
    return board, cat


def _reading_panels(cat: Catalog) -> list[PanelBuilder]:
    """What the meter is, what it sent and what was booked from it."""
    panels: list[PanelBuilder] = []
    info_sql = (
        "SELECT meter_id AS meter, carrier, unit, kind, max_rate_per_hour, register_max, "
        f"array_to_string(flags, ',') AS flags FROM meters WHERE meter_id = {M}"
    )
    panels.append(
        panel(
            cat,
            "table",
            "器具信息 Meter",
            info_sql,
            ("meter", "carrier", "unit", "kind", "max_rate_per_hour", "register_max", "flags"),
            "none",
            width=24,
            height=4,
        )
    )
    readings_sql = (
        "SELECT r.ts AS time, r.value AS value FROM readings r "
        f"WHERE r.meter_id = {M} AND $__timeFilter(r.ts) ORDER BY 1"
    )
    panels.append(
        panel(
            cat,
            "timeseries",
            "原始读数 Raw readings (meter unit)",
            readings_sql,
            ("time", "value"),
            U_COUNT,
            width=12,
            description="Registers of counter meters, amounts of interval meters, "
            "in the meter's unit (see the table above).",
        )
    )
    interval_sql = (
        "SELECT interval_start AS time, quantity AS value, energy_tce AS tce FROM "
        f"consumption_15m WHERE meter_id = {M} AND $__timeFilter(interval_start) ORDER BY 1"
    )
    panels.append(
        panel(
            cat,
            "timeseries",
            "15分钟用量 Interval consumption (meter unit)",
            interval_sql,
            ("time", "value", "tce"),
            U_COUNT,
            width=12,
            overrides={"tce": U_TCE},
        )
    )
    return panels


def _quality_panels(cat: Catalog) -> list[PanelBuilder]:
    """Completeness, gaps, resets and quarantined deltas by day."""
    panels: list[PanelBuilder] = []
    quality_sql = (
        "SELECT day::timestamptz AS time, completeness, estimated_share FROM "
        f"meter_quality_daily WHERE meter_id = {M} AND $__timeFilter(day) ORDER BY 1"
    )
    panels.append(
        panel(
            cat,
            "timeseries",
            "完整率 Completeness by day",
            quality_sql,
            ("time", "completeness", "estimated_share"),
            U_SHARE,
            width=12,
        )
    )
    gaps_sql = (
        "SELECT day::timestamptz AS time, (expected - present)::float8 AS missing_intervals, "
        "resets::float8 AS resets, rollovers::float8 AS rollovers, quarantined::float8 AS "
        f"quarantined FROM meter_quality_daily WHERE meter_id = {M} AND $__timeFilter(day) "
        "ORDER BY 1"
    )
    panels.append(
        panel(
            cat,
            "timeseries",
            "缺数、复位与隔离 Gaps, resets, quarantined by day",
            gaps_sql,
            ("time", "missing_intervals", "resets", "rollovers", "quarantined"),
            U_COUNT,
            width=12,
        )
    )
    return panels


def _event_panels(cat: Catalog) -> list[PanelBuilder]:
    """Resets, rollovers and quarantined deltas one by one."""
    panels: list[PanelBuilder] = []
    events_sql = (
        f"SELECT ts AS time, event FROM meter_events WHERE meter_id = {M} "
        "AND $__timeFilter(ts) ORDER BY ts DESC"
    )
    panels.append(
        panel(
            cat,
            "table",
            "复位与翻转 Resets and rollovers",
            events_sql,
            ("time", "event"),
            "none",
            width=12,
            overrides={"time": U_TIME},
        )
    )
    quarantine_sql = (
        "SELECT ts AS time, value, delta, reason FROM quarantine "
        f"WHERE meter_id = {M} AND $__timeFilter(ts) ORDER BY ts DESC"
    )
    panels.append(
        panel(
            cat,
            "table",
            "隔离的增量 Quarantined deltas",
            quarantine_sql,
            ("time", "value", "delta", "reason"),
            U_COUNT,
            width=12,
            overrides={"time": U_TIME},
        )
    )
    return panels

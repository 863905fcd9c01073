"""5. Pipeline health (数据链路): readings in, stored, dead-lettered, consumer lag, last data."""

from __future__ import annotations

from typing import Final

from grafana_foundation_sdk.builders import dashboard as dash

from dashboards.common import (
    U_COUNT,
    U_SECONDS,
    U_TIME,
    Catalog,
    PanelBuilder,
    dashboard,
    panel,
)

UID: Final = "greenmon-pipeline"
ENTERPRISE_UID: Final = "greenmon-enterprise"


def _counter(service: str, key: str) -> str:
    return (
        f"SELECT coalesce(sum((counters->>'{key}')::bigint), 0)::float8 AS value "
        f"FROM service_heartbeats WHERE service = '{service}'"
    )


LAST_DATA_SQL: Final = (
    "SELECT e.enterprise_id AS enterprise, e.name, last.interval_start AS last_interval, "
    "last.updated_at AS last_stored, extract(epoch FROM now() - last.updated_at) AS "
    "silent_s FROM enterprises e LEFT JOIN LATERAL (SELECT interval_start, updated_at "
    "FROM consumption_15m c WHERE c.enterprise_id = e.enterprise_id "
    "ORDER BY interval_start DESC LIMIT 1) last ON true ORDER BY silent_s DESC NULLS FIRST"
)


#: stored positions found to be from another log (greenmon/runtime/positions.py), summed
#: over the services that keep positions (processor, its value-added input)
LOG_RESETS_SQL: Final = (
    "SELECT coalesce(sum((counters->>'log_resets')::bigint), 0)::float8 AS value "
    "FROM service_heartbeats"
)
LOG_RESETS_DOC: Final = (
    "Partitions read again from their start because the stored position was from another "
    "log (topic recreated, cluster replaced, broker restarted on empty storage, or records "
    "removed before being read). Each one is an ERROR line in the service's log naming the "
    "topic, partition and offsets."
)


def build() -> tuple[dash.Dashboard, Catalog]:
    cat = Catalog(UID)
    board = dashboard(UID, "数据链路 Pipeline health", ["pipeline"], "now-6h")
    for item in (*_counter_panels(cat), *_flow_panels(cat), *_service_panels(cat)):
        board = board.with_panel(item)
    return board, cat


def _counter_panels(cat: Catalog) -> list[PanelBuilder]:
    """The services' counters, summed over their instances."""
    panels: list[PanelBuilder] = []
    counters = "Counters since each service instance started."
    for title, sql, description in (
        ("接收 Readings in (collector)", _counter("collector", "received"), counters),
        ("入库 Stored (processor)", _counter("processor", "stored"), counters),
        ("死信 Dead-lettered (collector)", _counter("collector", "dead_lettered"), counters),
        ("消费滞后 Consumer lag (processor)", _counter("processor", "lag"), counters),
        ("日志重置 Log resets (positions from another log)", LOG_RESETS_SQL, LOG_RESETS_DOC),
    ):
        panels.append(
            panel(
                cat,
                "stat",
                title,
                sql,
                ("value",),
                U_COUNT,
                width=6,
                height=5,
                description=description,
            )
        )
    return panels


def _flow_panels(cat: Catalog) -> list[PanelBuilder]:
    """What is stored, and what is dead-lettered or set aside and why."""
    panels: list[PanelBuilder] = []
    stored_sql = (
        "SELECT $__timeGroupAlias(stored_at, $__interval), count(*)::float8 AS value "
        "FROM readings WHERE $__timeFilter(stored_at) GROUP BY 1 ORDER BY 1"
    )
    panels.append(
        panel(
            cat,
            "timeseries",
            "入库速率 Readings stored per interval",
            stored_sql,
            ("time", "value"),
            U_COUNT,
            width=12,
        )
    )
    reasons_sql = (
        "SELECT service, reason, sum(count)::float8 AS count FROM ("
        "SELECT h.service, c.key AS reason, c.value::bigint AS count "
        "FROM service_heartbeats h CROSS JOIN LATERAL jsonb_each_text(h.counters) c "
        "WHERE c.key IN ('quarantined', 'factor_missing', 'late', 'duplicates') "
        "UNION ALL SELECT service, 'dead letter: ' || reason, count FROM dead_letter_reasons"
        ") r GROUP BY 1, 2 ORDER BY 1, 3 DESC"
    )
    panels.append(
        panel(
            cat,
            "table",
            "死信与隔离 Dead-lettered and set aside, by stage and reason",
            reasons_sql,
            ("service", "reason", "count"),
            U_COUNT,
            width=12,
            description="Dead letters counted by kind of reason (each record, with its "
            "raw payload, is in the dead-letter topic), and what the processor set aside.",
        )
    )
    return panels


def _service_panels(cat: Catalog) -> list[PanelBuilder]:
    """Service heartbeats and each enterprise's last data."""
    panels: list[PanelBuilder] = []
    services_sql = (
        "SELECT service, instance, updated_at, extract(epoch FROM now() - updated_at) AS age_s, "
        "counters::text AS counters FROM service_heartbeats ORDER BY 1, 2"
    )
    panels.append(
        panel(
            cat,
            "table",
            "服务心跳 Service heartbeats",
            services_sql,
            ("service", "instance", "updated_at", "age_s", "counters"),
            U_SECONDS,
            width=24,
            height=6,
            overrides={"updated_at": U_TIME},
        )
    )
    panels.append(
        panel(
            cat,
            "table",
            "各企业最新数据 Last data per enterprise",
            LAST_DATA_SQL,
            ("enterprise", "name", "last_interval", "last_stored", "silent_s"),
            U_SECONDS,
            width=24,
            height=10,
            overrides={"last_interval": U_TIME, "last_stored": U_TIME},
            links=[("enterprise", f"/d/{ENTERPRISE_UID}?var-enterprise=${{__value.raw}}")],
        )
    )
    return panels

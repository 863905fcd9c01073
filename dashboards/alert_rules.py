"""Grafana alert rules for inspectors, built with the SDK's alerting builders.

- the city or a district is behind its trajectory (year-to-date intensity above it);
- an enterprise's pipeline is silent (no new 15-minute data stored for an hour).

Each rule is one SQL query (A, a table: string columns become labels, the number is
the value) and a server-side threshold expression (B).
"""

from __future__ import annotations

import json
from typing import Any, Final

from grafana_foundation_sdk.builders import alerting
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.runtime import UnknownDataquery
from grafana_foundation_sdk.models import alerting as model

from dashboards.common import DATASOURCE_UID, FOLDER_UID, Catalog, SqlQuery

GROUP: Final = "greenmon-inspectors"

BEHIND_SQL: Final = (
    "SELECT entity || ':' || entity_id AS entity, "
    "max(energy_intensity / NULLIF(energy_trajectory, 0) - 1) AS margin "
    "FROM rollups WHERE entity IN ('city', 'district') AND kind = 'ytd' "
    "AND month = (SELECT max(month) FROM rollups WHERE entity = 'city' AND kind = 'ytd') "
    "GROUP BY 1"
)

SILENT_SQL: Final = (
    "SELECT e.enterprise_id AS enterprise, coalesce(extract(epoch FROM now() - "
    "max(c.updated_at)) / 60, 1e9)::float8 AS silent_minutes FROM enterprises e "
    "LEFT JOIN LATERAL (SELECT updated_at FROM consumption_15m x WHERE "
    "x.enterprise_id = e.enterprise_id ORDER BY interval_start DESC LIMIT 1) c ON true "
    "GROUP BY 1"
)


class _Threshold(cogbuilder.Builder[cogvariants.Dataquery]):
    """A server-side expression: is ``$A`` above ``limit``."""

    def __init__(self, limit: float) -> None:
        self._limit = limit

    def build(self) -> cogvariants.Dataquery:
        return UnknownDataquery(
            {
                "refId": "B",
                "type": "threshold",
                "datasource": {"type": "__expr__", "uid": "__expr__"},
                "expression": "A",
                "conditions": [{"evaluator": {"type": "gt", "params": [self._limit]}}],
            }
        )


def _rule(uid: str, title: str, sql: str, limit: float, summary: str, for_: str) -> Any:
    return (
        alerting.Rule(title)
        .uid(uid)
        .folder_uid(FOLDER_UID)
        .rule_group(GROUP)
        .condition("B")
        .for_val(for_)
        .no_data_state("OK")
        .exec_err_state("Error")
        .labels({"team": "inspectors", "source": "greenmon"})
        .annotations({"summary": summary})
        .with_query(
            alerting.Query("A")
            .datasource_uid(DATASOURCE_UID)
            .relative_time_range(model.RelativeTimeRange(from_val=86400, to=0))
            .model(SqlQuery(sql, "table"))
        )
        .with_query(alerting.Query("B").datasource_uid("__expr__").model(_Threshold(limit)))
    )


def rules(cat: Catalog) -> list[Any]:
    cat.add("alert: behind trajectory", BEHIND_SQL, ("entity", "margin"))
    cat.add("alert: pipeline silent", SILENT_SQL, ("enterprise", "silent_minutes"))
    return [
        _rule(
            "greenmon-behind-trajectory",
            "城区进度落后 City or district behind its trajectory",
            BEHIND_SQL,
            0.0,
            "{{ $labels.entity }} is {{ humanizePercentage $values.A.Value }} above its "
            "energy trajectory (year to date)",
            "1h",
        ),
        _rule(
            "greenmon-pipeline-silent",
            "企业数据中断 Enterprise pipeline silent",
            SILENT_SQL,
            60.0,
            "no data stored for {{ $labels.enterprise }} for {{ $values.A.Value }} minutes",
            "15m",
        ),
    ]


def provisioning(cat: Catalog) -> dict[str, object]:
    """The file-provisioning document (``provisioning/alerting/*.yaml``) of the rule group."""
    group = alerting.RuleGroup(GROUP).folder_uid(FOLDER_UID).interval(300)
    for rule in rules(cat):
        group = group.with_rule(rule)
    built = group.build()
    encoded: list[dict[str, Any]] = [_camel(JSONEncoder().default(r)) for r in built.rules or []]
    return {
        "apiVersion": 1,
        "groups": [
            {"orgId": 1, "name": GROUP, "folder": "greenmon", "interval": "5m", "rules": encoded}
        ],
    }


def _camel(rule: dict[str, Any]) -> dict[str, Any]:
    """API field names to the provisioning file's (folderUID/orgID are not used there)."""

    doc: dict[str, Any] = json.loads(json.dumps(rule, cls=JSONEncoder))
    doc.pop("folderUID", None)
    doc.pop("orgID", None)
    doc.pop("ruleGroup", None)
    return doc

"""Alert documents: what every alert channel (MQTT, webhook, e-mail) sends.

Built once per transition by the alerts service, stored in the delivery outbox and
sent from there. Version 1 (a stored document without ``version`` is version 1)::

    {"version": 1, "fingerprint": "...", "transition": "firing", "state": "firing",
     "rule_id": "...", "severity": "warning", "description": "...", "scope": "meter",
     "entity_id": "M1", "enterprise_id": "E1", "enterprise_name": "...", "meter_id": "M1",
     "measure": "demand_kw", "unit": "kW", "value": 812.5, "threshold": 800.0,
     "since": "2025-01-01T00:15:00+00:00", "at": "...", "dashboard": "http://..."}

Times are ISO 8601 text as the service wrote them. A receiver that sees a version it
does not know should not guess at its fields; the delivery worker refuses such a
document (the delivery fails with that reason) instead of sending it.
"""

from __future__ import annotations

from typing import Any

from pydantic import StrictStr

from greenmon.messages.base import Message

#: an alert document as JSON, the form the channels render and send
AlertJson = dict[str, Any]


class AlertDocument(Message):
    KIND = "alert document"

    fingerprint: StrictStr
    transition: StrictStr
    state: StrictStr
    rule_id: StrictStr
    severity: StrictStr
    description: str | None = None
    scope: StrictStr
    entity_id: str | None = None
    enterprise_id: str | None = None
    enterprise_name: str | None = None
    meter_id: str | None = None
    measure: StrictStr
    unit: str = ""
    value: float | None = None
    threshold: float | None = None
    since: str | None = None
    at: StrictStr
    dashboard: StrictStr


def alert_document(fields: dict[str, Any]) -> AlertJson:
    """The checked JSON of an alert document: built from ``fields``, or read back from
    the outbox; InvalidMessage (UnknownVersion for an unknown version) if it is not one."""
    return AlertDocument.decode(fields).to_json()

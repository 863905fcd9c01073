"""The MQTT filters a collector subscribes to: shared among collectors, or its own.

With ``collector_share_group`` set (off by default), every collector subscribes through
``$share/{group}/...`` (MQTT 5 shared subscriptions, which Mosquitto 2 offers to
MQTT 3.1.1 clients too): the broker hands each message to one collector of the
group. Each collector keeps its own persistent session (its own
``collector_client_id``), so what was sent to one and not acknowledged, or queued
for it while it was away, is delivered to that one when it reconnects. Mosquitto keeps
assigning a share of new messages to a member that is away: a collector retired for
good must have its session ended, or its share waits for it forever.
"""

from __future__ import annotations

from greenmon.settings import Settings


def reading_filters(prefix: str) -> list[str]:
    """The readings' topic filters under ``prefix`` (single readings, gateway batches)."""
    prefix = prefix.rstrip("/")
    return [f"{prefix}/+/+/reading", f"{prefix}/+/batch"]


def subscriptions(settings: Settings) -> tuple[list[str], list[str]]:
    """(filters to subscribe to, filters to drop): switching between shared and own
    subscriptions drops the other kind, after the new one is in place (a message in
    between may then come twice, which the processor books once, but none is missed)."""
    plain = reading_filters(settings.mqtt_topic_prefix)
    group = settings.collector_share_group
    if not group:
        return plain, []
    shared = [f"$share/{group}/{t}" for t in plain]
    return shared, plain

"""Service heartbeats: each service's counters, for `greenmon services status` and dashboards."""

from __future__ import annotations

import json
from collections.abc import Mapping

from greenmon.storage.db import Conn


def write_heartbeat(conn: Conn, service: str, instance: str, counters: Mapping[str, int]) -> None:
    conn.execute(
        "INSERT INTO service_heartbeats (service, instance, counters) VALUES (%s, %s, %s) "
        "ON CONFLICT (service, instance) DO UPDATE SET counters = EXCLUDED.counters, "
        "updated_at = now()",
        (service, instance, json.dumps(dict(counters))),
    )

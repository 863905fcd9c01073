"""Service heartbeats: each service's counters, for `greenmon services status` and dashboards."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping

from greenmon.errors import ServiceError
from greenmon.storage.db import Conn


def write_heartbeat(
    conn: Conn,
    service: str,
    instance: str,
    counters: Mapping[str, int],
    reasons: Mapping[str, int] | None = None,
) -> None:
    """Store a service's counters (and its dead letters counted by kind of reason)."""
    if reasons:
        keys = sorted(reasons)
        conn.execute(
            "INSERT INTO dead_letter_reasons (service, instance, reason, count) "
            "SELECT %s, %s, r, c FROM unnest(%s::text[], %s::bigint[]) AS u(r, c) "
            "ON CONFLICT (service, instance, reason) DO UPDATE SET count = EXCLUDED.count, "
            "updated_at = now()",
            (service, instance, keys, [reasons[k] for k in keys]),
        )
    conn.execute(
        "INSERT INTO service_heartbeats (service, instance, counters) VALUES (%s, %s, %s) "
        "ON CONFLICT (service, instance) DO UPDATE SET counters = EXCLUDED.counters, "
        "updated_at = now()",
        (service, instance, json.dumps(dict(counters))),
    )


def wait_subscribed(
    conn: Conn, pid: int, timeout: float = 30.0, alive: Callable[[], bool] | None = None
) -> None:
    """Wait until the collector with ``pid`` reports its MQTT subscription confirmed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = conn.execute(
            "SELECT 1 FROM service_heartbeats WHERE service = 'collector' "
            "AND instance LIKE %s AND (counters->>'subscribed')::int = 1",
            (f"%:{pid}",),
        ).fetchone()
        if row:
            return
        if alive is not None and not alive():
            raise ServiceError(f"collector pid {pid} exited before subscribing")
        time.sleep(0.1)
    raise ServiceError(f"collector pid {pid} did not confirm its MQTT subscription in {timeout} s")

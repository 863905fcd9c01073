"""Enterprises and meters in the database (idempotent upsert, and reading back)."""

from __future__ import annotations

from greenmon.domain.reference import Carrier, MeterKind
from greenmon.domain.registry import Meter, Registry
from greenmon.storage.db import Conn


def upsert_registry(conn: Conn, registry: Registry) -> tuple[int, int]:
    """Insert or update every enterprise and meter; returns (enterprises, meters)."""
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO enterprises (enterprise_id, name, district, industry) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (enterprise_id) DO UPDATE SET "
            "name = EXCLUDED.name, district = EXCLUDED.district, industry = EXCLUDED.industry, "
            "updated_at = now()",
            [(e.enterprise_id, e.name, e.district, e.industry) for e in registry.enterprises],
        )
        cur.executemany(
            "INSERT INTO meters (meter_id, enterprise_id, carrier, unit, kind, max_rate_per_hour, "
            "register_max, flags, sparkplug_metric) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (meter_id) DO UPDATE SET enterprise_id = EXCLUDED.enterprise_id, "
            "carrier = EXCLUDED.carrier, unit = EXCLUDED.unit, kind = EXCLUDED.kind, "
            "max_rate_per_hour = EXCLUDED.max_rate_per_hour, "
            "register_max = EXCLUDED.register_max, flags = EXCLUDED.flags, "
            "sparkplug_metric = EXCLUDED.sparkplug_metric, updated_at = now()",
            [
                (
                    m.meter_id,
                    m.enterprise_id,
                    m.carrier.value,
                    m.unit,
                    m.kind.value,
                    m.max_rate_per_hour,
                    m.register_max,
                    sorted(m.flags),
                    m.sparkplug_metric,
                )
                for m in registry.meters
            ],
        )
    return len(registry.enterprises), len(registry.meters)


def load_meters(conn: Conn, meter_ids: list[str] | None = None) -> dict[str, Meter]:
    """Meters by id (all of them, or those named)."""
    sql = (
        "SELECT meter_id, enterprise_id, carrier, unit, kind, max_rate_per_hour, register_max, "
        "flags, sparkplug_metric FROM meters"
    )
    rows = (
        conn.execute(sql + " WHERE meter_id = ANY(%s)", (meter_ids,)).fetchall()
        if meter_ids is not None
        else conn.execute(sql).fetchall()
    )
    return {
        r[0]: Meter(
            meter_id=r[0],
            enterprise_id=r[1],
            carrier=Carrier(r[2]),
            unit=r[3],
            kind=MeterKind(r[4]),
            max_rate_per_hour=float(r[5]),
            register_max=None if r[6] is None else float(r[6]),
            flags=frozenset(r[7] or ()),
            sparkplug_metric=r[8],
        )
        for r in rows
    }

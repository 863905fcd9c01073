"""Factors and electricity methods in the database: loaded from files, read by the processor."""

from __future__ import annotations

from collections.abc import Iterable

from greenmon.domain.factors import Factor, FactorTable, default_factors
from greenmon.domain.reference import Carrier
from greenmon.storage.db import Conn


def sync_factors(conn: Conn, factors: Iterable[Factor]) -> int:
    """Insert or update factors by id (idempotent); returns how many were written."""
    rows = [
        (f.factor_id, f.quantity, f.carrier.value, f.variant, f.value, f.unit, f.valid_from,
         f.valid_to, f.source)
        for f in factors
    ]  # fmt: skip
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO factors (factor_id, quantity, carrier, variant, value, unit, valid_from, "
            "valid_to, source) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (factor_id) DO UPDATE SET quantity = EXCLUDED.quantity, "
            "carrier = EXCLUDED.carrier, variant = EXCLUDED.variant, value = EXCLUDED.value, "
            "unit = EXCLUDED.unit, valid_from = EXCLUDED.valid_from, "
            "valid_to = EXCLUDED.valid_to, source = EXCLUDED.source, loaded_at = now()",
            rows,
        )
    return len(rows)


def read_factors(conn: Conn) -> FactorTable:
    """The factors in the database (the packaged set where none are loaded yet)."""
    rows = conn.execute(
        "SELECT factor_id, quantity, carrier, variant, value, unit, valid_from, valid_to, source "
        "FROM factors"
    ).fetchall()
    if not rows:
        return default_factors()
    return FactorTable(
        Factor(
            factor_id=r[0],
            quantity="tce" if r[1] == "tce" else "co2",
            carrier=Carrier(r[2]),
            variant=r[3],
            value=float(r[4]),
            unit=r[5],
            valid_from=r[6],
            valid_to=r[7],
            source=r[8],
        )
        for r in rows
    )


def electricity_methods(conn: Conn) -> tuple[dict[str, str], str]:
    """Electricity tce method per enterprise (enterprise > district > city), and the default."""
    row = conn.execute(
        "SELECT method FROM electricity_methods WHERE scope = 'city' AND scope_id = '*'"
    ).fetchone()
    default = str(row[0]) if row else "equivalent"
    rows = conn.execute(
        "SELECT e.enterprise_id, COALESCE(me.method, md.method) FROM enterprises e "
        "LEFT JOIN electricity_methods me ON me.scope = 'enterprise' "
        "AND me.scope_id = e.enterprise_id "
        "LEFT JOIN electricity_methods md ON md.scope = 'district' AND md.scope_id = e.district "
        "WHERE COALESCE(me.method, md.method) IS NOT NULL"
    ).fetchall()
    return {str(e): str(m) for e, m in rows}, default

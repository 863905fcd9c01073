"""Value-added, baselines, plan configuration and monthly totals in the database."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from greenmon.accounting.baseline import Baseline
from greenmon.accounting.config import AccountingConfig, generation_factor_rows
from greenmon.accounting.plan import PlanPeriod, Reductions, TargetOverride
from greenmon.accounting.value_added import PriceIndex, ValueAddedRow
from greenmon.storage.db import Conn
from greenmon.storage.evaluation_params_store import save_params as save_evaluation_params
from greenmon.storage.factor_store import sync_factors


def upsert_value_added(conn: Conn, rows: Iterable[ValueAddedRow], source: str) -> int:
    """Store value-added figures; a figure for a known month is a revision that replaces it.

    Every submission is also kept in ``value_added_history``. Call inside a transaction
    for all-or-nothing.
    """
    data = [
        (r.enterprise_id, r.month, r.value_added_const, r.submitted, r.price_basis, r.deflator,
         source)
        for r in rows
    ]  # fmt: skip
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO value_added (enterprise_id, month, value_added, submitted, price_basis, "
            "deflator, source) VALUES (%s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (enterprise_id, month) DO UPDATE SET value_added = EXCLUDED.value_added, "
            "submitted = EXCLUDED.submitted, price_basis = EXCLUDED.price_basis, "
            "deflator = EXCLUDED.deflator, source = EXCLUDED.source, "
            "revision = value_added.revision + 1, updated_at = now()",
            data,
        )
        cur.executemany(
            "INSERT INTO value_added_history (enterprise_id, month, value_added, submitted, "
            "price_basis, deflator, source) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            data,
        )
    return len(data)


def upsert_baselines(conn: Conn, rows: Iterable[Baseline], source: str = "imported") -> int:
    data = [
        (b.enterprise_id, b.period, b.energy_tce, b.co2_t, b.water_m3, b.value_added, source)
        for b in rows
    ]
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO baselines (enterprise_id, period, energy_tce, co2_t, water_m3, "
            "value_added, source) VALUES (%s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (enterprise_id, period) DO UPDATE SET energy_tce = EXCLUDED.energy_tce, "
            "co2_t = EXCLUDED.co2_t, water_m3 = EXCLUDED.water_m3, "
            "value_added = EXCLUDED.value_added, source = EXCLUDED.source, updated_at = now()",
            data,
        )
    return len(data)


def compute_baselines(conn: Conn, period: PlanPeriod, *, overwrite: bool = False) -> int:
    """Baselines from stored base-year data (12 months of totals and value-added).

    Only enterprises with value-added for all twelve months of the base year and no
    missing factor get one; imported baselines are kept unless ``overwrite``.
    """
    year = period.base_year
    rows = conn.execute(
        "WITH m AS (SELECT enterprise_id, sum(energy_tce) e, sum(co2_t) c, sum(water_m3) w, "
        "sum(energy_gaps + co2_gaps) gaps FROM enterprise_month "
        "WHERE month >= make_date(%(y)s, 1, 1) AND month < make_date(%(y)s + 1, 1, 1) "
        "GROUP BY 1), "
        "v AS (SELECT enterprise_id, sum(value_added) va, count(*) n FROM value_added "
        "WHERE month >= make_date(%(y)s, 1, 1) AND month < make_date(%(y)s + 1, 1, 1) "
        "GROUP BY 1) "
        "SELECT m.enterprise_id, m.e, m.c, m.w, v.va FROM m JOIN v USING (enterprise_id) "
        "WHERE v.n = 12 AND m.gaps = 0 AND v.va > 0",
        {"y": year},
    ).fetchall()
    baselines = [
        Baseline(str(r[0]), period.name, float(r[1]), float(r[2]), float(r[3]), float(r[4]))
        for r in rows
    ]
    if not overwrite:
        imported = {
            str(r[0])
            for r in conn.execute(
                "SELECT enterprise_id FROM baselines WHERE period = %s AND source = 'imported'",
                (period.name,),
            ).fetchall()
        }
        baselines = [b for b in baselines if b.enterprise_id not in imported]
    return upsert_baselines(conn, baselines, source="computed")


def load_config(conn: Conn, config: AccountingConfig, *, replace: bool = True) -> None:
    """Store a plan configuration: periods, overrides, price index, caps, electricity."""
    with conn.cursor() as cur:
        if replace:
            for table in ("target_overrides", "price_index", "energy_caps", "electricity_methods"):
                cur.execute(f"DELETE FROM {table}")
        cur.executemany(
            "INSERT INTO plan_periods (name, base_year, end_year, energy_r, co2_r, water_r, "
            "source) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (name) DO UPDATE SET "
            "base_year = EXCLUDED.base_year, end_year = EXCLUDED.end_year, "
            "energy_r = EXCLUDED.energy_r, co2_r = EXCLUDED.co2_r, water_r = EXCLUDED.water_r, "
            "source = EXCLUDED.source, updated_at = now()",
            [
                (p.name, p.base_year, p.end_year, p.reductions.energy, p.reductions.co2,
                 p.reductions.water, p.source)
                for p in config.periods
            ],
        )  # fmt: skip
        cur.executemany(
            "INSERT INTO target_overrides (period, scope, scope_id, energy_r, co2_r, water_r) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            [(o.period, o.scope, o.scope_id, o.energy, o.co2, o.water) for o in config.overrides],
        )
        cur.executemany(
            "INSERT INTO price_index (year, industry, index) VALUES (%s, %s, %s)",
            [(y, i, v) for (y, i), v in config.price_index.entries.items()],
        )
        cur.executemany(
            "INSERT INTO energy_caps (enterprise_id, year, energy_tce) VALUES (%s, %s, %s)",
            [(e, y, cap) for (e, y), cap in config.caps.items()],
        )
        cur.executemany(
            "INSERT INTO electricity_methods (scope, scope_id, method) VALUES (%s, %s, %s)",
            [("city", "*", config.electricity_method)]
            + [(s, i, m) for (s, i), m in config.electricity_overrides.items()],
        )
    sync_factors(conn, generation_factor_rows(config))
    save_evaluation_params(conn, config.evaluation)


@dataclass(frozen=True, slots=True)
class PlanData:
    periods: tuple[PlanPeriod, ...]
    overrides: tuple[TargetOverride, ...]


def read_plan(conn: Conn) -> PlanData:
    periods = tuple(
        PlanPeriod(str(r[0]), int(r[1]), int(r[2]), Reductions(r[3], r[4], r[5]), str(r[6]))
        for r in conn.execute(
            "SELECT name, base_year, end_year, energy_r, co2_r, water_r, source "
            "FROM plan_periods ORDER BY base_year"
        ).fetchall()
    )
    overrides = tuple(
        TargetOverride(str(r[0]), r[1], str(r[2]), r[3], r[4], r[5])
        for r in conn.execute(
            "SELECT period, scope, scope_id, energy_r, co2_r, water_r FROM target_overrides"
        ).fetchall()
    )
    return PlanData(periods, overrides)


def read_price_index(conn: Conn) -> PriceIndex:
    rows = conn.execute("SELECT year, industry, index FROM price_index").fetchall()
    return PriceIndex({(int(y), str(i)): float(v) for y, i, v in rows})


def enterprise_industries(conn: Conn) -> dict[str, str]:
    rows = conn.execute("SELECT enterprise_id, industry FROM enterprises").fetchall()
    return {str(e): str(i) for e, i in rows}

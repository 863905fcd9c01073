"""Tenant isolation: a per-enterprise login role sees its own rows only, whatever SQL it writes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import psycopg
import pytest

from dashboards.build import catalog
from greenmon.storage import db
from tests.integration.conftest import run_cli
from tests.integration.dashboards_data import Filled, fill
from tests.integration.test_dashboards import expanded
from tests.plugins.services import LocalServices
from tests.prerequisites import require

pytestmark = pytest.mark.integration

PASSWORD = "tenant-secret-1"  # noqa: S105 (a test role in a throwaway cluster)
BY_ENTERPRISE = (
    "enterprises",
    "meters",
    "consumption_15m",
    "meter_quality_daily",
    "enterprise_quality_daily",
    "enterprise_month",
    "value_added",
    "value_added_history",
    "baselines",
    "energy_caps",
    "alerts",
    "alert_state",
    "evaluation_inputs",
    "evaluation_results",
    "production_month",
    "enpi_models",
)
BY_METER = ("readings", "quarantine", "factor_gaps", "meter_events")
#: every table with a row-level security policy for the enterprise role (0007_tenants.sql
#: and later), tenant_roles aside (its policy is "your own mapping row")
PROTECTED = (*BY_ENTERPRISE, *BY_METER, "rollups")


@pytest.fixture(scope="module")
def filled(
    local_services: LocalServices, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Filled]:
    yield from fill(local_services, tmp_path_factory.mktemp("tenants"))


@pytest.fixture(scope="module")
def roles(filled: Filled) -> tuple[str, str]:
    tag = uuid.uuid4().hex[:6]
    names = (f"ent_a_{tag}", f"ent_b_{tag}")
    for role, enterprise in zip(names, (filled.enterprise, filled.other), strict=True):
        done = run_cli(
            filled.settings,
            "tenants",
            "add",
            enterprise,
            "--role",
            role,
            "--password-env",
            "TENANT_PW_TEST",
        )
        assert role in done.stdout
    with db.connect(filled.settings, autocommit=True) as conn:  # an alert of B's as well
        conn.execute(
            "INSERT INTO alerts (ts, fingerprint, transition, rule_id, scope, entity_id, "
            "enterprise_id, severity, message) VALUES (%s, 'fp-b', 'firing', 'r', 'enterprise', "
            "%s, %s, 'critical', 'B behind')",
            (datetime(2025, 1, 15, tzinfo=filled.settings.tz), filled.other, filled.other),
        )
    return names


@pytest.fixture(scope="module")
def seeded(filled: Filled, roles: tuple[str, str]) -> None:
    """Rows of both enterprises in the tables the pipeline leaves sparse (no counter
    reset, no missing factor, no cap or alert for one of them)."""
    meters = {e: _meters(filled, e)[0] for e in (filled.enterprise, filled.other)}
    ts = datetime(2025, 1, 14, 3, tzinfo=filled.settings.tz)
    with db.connect(filled.settings, autocommit=True) as conn:
        for enterprise, meter in meters.items():
            for sql, params in (
                ("INSERT INTO energy_caps VALUES (%s, 2024, 40)", (enterprise,)),
                ("INSERT INTO quarantine (meter_id, ts, value, delta, reason) "
                 "VALUES (%s, %s, 1e9, 1e9, 'seeded')", (meter, ts)),
                ("INSERT INTO factor_gaps VALUES (%s, %s, 'seeded')", (meter, ts)),
                ("INSERT INTO meter_events VALUES (%s, %s, 'rollover')", (meter, ts)),
                ("INSERT INTO alert_state (fingerprint, rule_id, scope, entity_id, "
                 "enterprise_id, state) VALUES (%s, 'r', 'enterprise', %s, %s, 'firing')",
                 (f"seeded-{enterprise}", enterprise, enterprise)),
                ("INSERT INTO value_added_history (enterprise_id, month, value_added, "
                 "submitted, price_basis, deflator, source) "
                 "VALUES (%s, '2024-12-01', 1, 1, 'current', 1, 'seeded')", (enterprise,)),
                ("INSERT INTO production_month (enterprise_id, month, output, unit, source) "
                 "VALUES (%s, '2020-01-01', 1, 't', 'seeded')", (enterprise,)),
                ("INSERT INTO enpi_models (enterprise_id, variables, baseline_from, "
                 "baseline_to, n, p, coefficients, b0, b_output, ranges, r2, adj_r2, cv_rmse, "
                 "nmbe, sse, mean_y, acceptable) VALUES (%s, '{output}', '2023-01-01', "
                 "'2023-12-01', 12, 2, '{}', 1, 1, '{}', 0.9, 0.9, 0.1, 0, 1, 1, true)",
                 (enterprise,)),
            ):  # fmt: skip
                conn.execute(sql + " ON CONFLICT DO NOTHING", params)


def _meters(f: Filled, enterprise: str) -> list[str]:
    return [m.meter_id for m in f.registry.meters if m.enterprise_id == enterprise]


def _counts(conn: psycopg.Connection[Any], f: Filled) -> dict[str, tuple[bool, bool]]:
    """Per protected table: whether ``conn`` sees rows of A, and of B (meters per
    enterprise from the registry, not from a table the role may not see)."""
    out = {}
    for table in PROTECTED:
        seen = []
        for enterprise in (f.enterprise, f.other):
            key: object = enterprise
            if table in BY_METER:
                where, key = "meter_id = ANY (%s)", _meters(f, enterprise)
            elif table == "rollups":
                where = "entity = 'enterprise' AND entity_id = %s"
            else:
                where = "enterprise_id = %s"
            seen.append(bool(scalar(conn, f"SELECT count(*) FROM {table} WHERE {where}", key)))
        out[table] = (seen[0], seen[1])
    return out


def connect_as(f: Filled, role: str) -> psycopg.Connection[Any]:
    info = psycopg.conninfo.conninfo_to_dict(f.settings.database_dsn())
    info.update(user=role, password=PASSWORD)
    return psycopg.connect(**info, autocommit=True)  # type: ignore[arg-type]


def scalar(conn: psycopg.Connection[Any], sql: str, *params: object) -> Any:
    row = conn.execute(sql, params).fetchone()
    return row[0] if row else None


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENANT_PW_TEST", PASSWORD)


def test_owner_sees_both_enterprises(filled: Filled, roles: tuple[str, str]) -> None:
    with db.connect(filled.settings) as conn:
        for e in (filled.enterprise, filled.other):
            assert (
                scalar(
                    conn,
                    "SELECT count(*) FROM readings r JOIN meters m USING (meter_id) "
                    "WHERE m.enterprise_id = %s",
                    e,
                )
                > 0
            )
            assert scalar(conn, "SELECT count(*) FROM rollups WHERE entity_id = %s", e) > 0
            assert scalar(conn, "SELECT count(*) FROM alerts WHERE enterprise_id = %s", e) > 0


def test_the_test_covers_every_table_under_row_level_security(filled: Filled) -> None:
    """A table given a tenant policy by a later migration must be seeded here too."""
    with db.connect(filled.settings, autocommit=True) as conn:
        tables = {
            str(r[0])
            for r in conn.execute(
                "SELECT DISTINCT tablename FROM pg_policies "
                "WHERE 'greenmon_enterprise' = ANY (roles)"
            )
        }
    assert tables == set(PROTECTED) | {"tenant_roles"}


def test_enterprise_role_sees_only_its_own_rows(
    filled: Filled, roles: tuple[str, str], seeded: None
) -> None:
    a, b = filled.enterprise, filled.other
    # every protected table holds rows of both: "B's rows are hidden" can fail
    with db.connect(filled.settings, autocommit=True) as owner:
        assert _counts(owner, filled) == {t: (True, True) for t in PROTECTED}
    with connect_as(filled, roles[0]) as conn:
        assert _counts(conn, filled) == {t: (True, False) for t in PROTECTED}
        own_meters = {r[0] for r in conn.execute("SELECT meter_id FROM meters")}
        for table in BY_METER:
            ids = {r[0] for r in conn.execute(f"SELECT DISTINCT meter_id FROM {table}")}
            assert ids <= own_meters, (table, ids - own_meters)
        assert {
            tuple(r) for r in conn.execute("SELECT DISTINCT entity, entity_id FROM rollups")
        } == {("enterprise", a)}
        # whatever form the SQL takes
        forms = [
            "SELECT count(*) FROM readings WHERE meter_id IN "
            f"(SELECT meter_id FROM meters WHERE enterprise_id = '{b}')",
            f"SELECT count(*) FROM consumption_15m WHERE enterprise_id = '{b}'",
            "SELECT count(*) FROM consumption_15m c JOIN enterprises e USING (enterprise_id) "
            f"WHERE e.enterprise_id = '{b}'",
            f"SELECT count(*) FROM rollups WHERE entity_id <> '{a}'",
            "SELECT count(*) FROM rollups WHERE entity IN ('district', 'industry', 'city')",
            f"SELECT count(*) FROM alerts WHERE enterprise_id = '{b}' OR message LIKE 'B%%'",
            f"SELECT count(*) FROM (SELECT * FROM enterprise_month UNION ALL SELECT * FROM "
            f"enterprise_month) x WHERE enterprise_id = '{b}'",
            "WITH x AS (SELECT * FROM value_added) "
            f"SELECT count(*) FROM x WHERE enterprise_id = '{b}'",
            f"SELECT count(*) FROM tenant_roles WHERE enterprise_id = '{b}'",
        ]
        for sql in forms:
            assert scalar(conn, sql) == 0, sql
        # and it cannot become someone else
        for target in (roles[1], "greenmon_inspector", "greenmon_ingest", "greenmon"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"SET ROLE {target}")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SET SESSION AUTHORIZATION greenmon")
        # its group role, without the mapping, sees nothing at all
        conn.execute("SET ROLE greenmon_enterprise")
        assert scalar(conn, "SELECT count(*) FROM readings") == 0
        assert scalar(conn, "SELECT count(*) FROM rollups") == 0
        conn.execute("RESET ROLE")
        # nor tables that are nobody's business but the services'
        for table in ("service_heartbeats", "stream_offsets", "alert_channels", "alert_rules"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"SELECT count(*) FROM {table}")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"DELETE FROM readings WHERE meter_id LIKE '{b}%%'")


def test_hypertable_chunks_are_not_a_way_around(filled: Filled, roles: tuple[str, str]) -> None:
    with db.connect(filled.settings) as conn:
        timescale = scalar(conn, "SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'")
        require(bool(timescale), "TimescaleDB is not installed (the database has no chunks)")
        chunks = [
            r[0]
            for r in conn.execute(
                "SELECT format('%I.%I', chunk_schema, chunk_name) "
                "FROM timescaledb_information.chunks "
                "WHERE hypertable_name IN ('readings', 'consumption_15m', 'rollups', 'alerts')"
            )
        ]
    assert chunks
    with connect_as(filled, roles[0]) as conn:
        for chunk in chunks:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"SELECT * FROM {chunk}")


def test_enterprise_dashboard_works_under_the_tenant_role(
    filled: Filled, roles: tuple[str, str]
) -> None:
    entries = [e for e in catalog() if e.dashboard == "greenmon-enterprise"]
    with connect_as(filled, roles[0]) as conn:
        for entry in entries:
            cur = conn.execute(expanded(entry, filled))
            assert tuple(c.name for c in cur.description or []) == entry.columns
            assert cur.fetchall(), entry.title
        # the same dashboard pointed at B shows nothing
        for entry in entries:
            if entry.title.startswith("variable"):
                continue
            sql = expanded(entry, filled).replace(f"'{filled.enterprise}'", f"'{filled.other}'")
            rows = conn.execute(sql).fetchall()
            assert all(all(v in (None, 0, 0.0) for v in r) for r in rows) or not rows, entry.title

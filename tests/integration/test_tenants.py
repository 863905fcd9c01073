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
)
BY_METER = ("readings", "quarantine", "factor_gaps", "meter_events")


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


def test_enterprise_role_sees_only_its_own_rows(filled: Filled, roles: tuple[str, str]) -> None:
    a, b = filled.enterprise, filled.other
    with connect_as(filled, roles[0]) as conn:
        for table in BY_ENTERPRISE:
            ids = {r[0] for r in conn.execute(f"SELECT DISTINCT enterprise_id FROM {table}")}
            assert ids <= {a}, (table, ids)
        own_meters = {r[0] for r in conn.execute("SELECT meter_id FROM meters")}
        assert own_meters
        for table in BY_METER:
            ids = {r[0] for r in conn.execute(f"SELECT DISTINCT meter_id FROM {table}")}
            assert ids <= own_meters, (table, ids - own_meters)
        assert scalar(conn, "SELECT count(*) FROM readings") > 0
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
        if not scalar(conn, "SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'"):
            pytest.skip("plain PostgreSQL: no chunks")
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

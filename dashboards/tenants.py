"""Login roles for tenants (one enterprise each) and for the group roles of 0007_tenants.sql."""

from __future__ import annotations

import re
import secrets

from psycopg import sql

from greenmon.errors import InvalidInput
from greenmon.settings import Settings
from greenmon.storage import db

ENTERPRISE_GROUP = "greenmon_enterprise"


def default_role(enterprise_id: str) -> str:
    return "ent_" + re.sub(r"[^a-z0-9_]", "_", enterprise_id.lower())


def _login(conn: db.Conn, role: str, group: str, password: str) -> None:
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    verb = "ALTER" if exists else "CREATE"
    conn.execute(
        sql.SQL("{} ROLE {} LOGIN INHERIT PASSWORD {}").format(
            sql.SQL(verb), sql.Identifier(role), sql.Literal(password)
        )
    )
    conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(role)))


def add_tenant(
    settings: Settings, enterprise_id: str, role: str | None, password: str | None
) -> tuple[str, str | None]:
    """Create (or update) ``role`` reading ``enterprise_id``'s rows only.

    Returns the role and the generated password (None when one was given).
    """
    role = role or default_role(enterprise_id)
    generated = None if password else secrets.token_urlsafe(18)
    with db.connect(settings) as conn, conn.transaction():
        known = conn.execute(
            "SELECT 1 FROM enterprises WHERE enterprise_id = %s", (enterprise_id,)
        ).fetchone()
        if not known:
            raise InvalidInput(f"no enterprise {enterprise_id!r} in the registry")
        other = conn.execute(
            "SELECT enterprise_id FROM tenant_roles WHERE role_name = %s", (role,)
        ).fetchone()
        if other and other[0] != enterprise_id:
            raise InvalidInput(f"role {role} already reads enterprise {other[0]}")
        _login(conn, role, ENTERPRISE_GROUP, password or generated or "")
        # the hypertables through their filtered views (0007_tenants.sql)
        conn.execute(
            sql.SQL("ALTER ROLE {} SET search_path = tenant, public").format(sql.Identifier(role))
        )
        conn.execute(
            "INSERT INTO tenant_roles (role_name, enterprise_id) VALUES (%s, %s) "
            "ON CONFLICT (role_name) DO NOTHING",
            (role, enterprise_id),
        )
    return role, generated


def add_login(settings: Settings, role: str, group: str, password: str | None) -> str | None:
    """A login role in ``greenmon_inspector`` or ``greenmon_ingest``; returns a new password."""
    generated = None if password else secrets.token_urlsafe(18)
    with db.connect(settings) as conn, conn.transaction():
        _login(conn, role, group, password or generated or "")
    return generated

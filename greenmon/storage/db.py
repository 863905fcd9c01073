"""Database connections and schema migrations.

Migrations are the numbered ``migrations/NNNN_*.sql`` files, applied once each in
order and recorded in ``schema_migrations``. A ``-- hypertable: table(column)``
line in a file makes that table a TimescaleDB hypertable where the extension is
present (Apache or full edition); on plain PostgreSQL the table stays ordinary.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from importlib import resources
from typing import Final

import psycopg
from psycopg.rows import TupleRow, tuple_row

from greenmon.errors import ServiceError
from greenmon.settings import Settings

log = logging.getLogger(__name__)

Conn = psycopg.Connection[TupleRow]

_HYPERTABLE: Final = re.compile(r"^--\s*hypertable:\s*(\w+)\((\w+)\)\s*$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Edition:
    """What the database offers: TimescaleDB version and license, or plain PostgreSQL."""

    server_version: str
    timescaledb: str | None
    license: str | None  # "apache" or "timescale"

    @property
    def describe(self) -> str:
        if self.timescaledb is None:
            return f"PostgreSQL {self.server_version} without TimescaleDB (plain tables)"
        edition = "full (community)" if self.license == "timescale" else "Apache-2"
        return (
            f"PostgreSQL {self.server_version} with TimescaleDB {self.timescaledb} ({edition} "
            "edition)"
        )

    @property
    def has_hypertables(self) -> bool:
        return self.timescaledb is not None

    @property
    def has_continuous_aggregates(self) -> bool:
        return self.license == "timescale"


def connect(settings: Settings, *, autocommit: bool = False, attempts: int = 1) -> Conn:
    """Open a connection, retrying ``attempts`` times with back-off."""
    delay = 0.2
    for attempt in range(1, attempts + 1):
        try:
            return psycopg.connect(
                settings.database_dsn(),
                autocommit=autocommit,
                row_factory=tuple_row,
                connect_timeout=5,
                application_name="greenmon",
            )
        except psycopg.OperationalError as exc:
            if attempt == attempts:
                raise ServiceError(
                    f"cannot connect to the database at {settings.masked()['database_url']}: {exc}"
                ) from exc
            log.warning("database not reachable (attempt %s/%s): %s", attempt, attempts, exc)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
    raise AssertionError("unreachable")


def detect_edition(conn: Conn) -> Edition:
    """Create the timescaledb extension if it can be, and report what is there."""
    version = str(_scalar(conn, "SHOW server_version"))
    available = _scalar(
        conn, "SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'"
    )
    if available:
        try:
            with conn.transaction():
                conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        except psycopg.Error as exc:
            log.warning("timescaledb is installed but cannot be created: %s", exc)
    ext = _scalar(conn, "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
    if ext is None:
        return Edition(version, None, None)
    license_ = _scalar(conn, "SELECT current_setting('timescaledb.license', true)")
    return Edition(version, str(ext), str(license_) if license_ else "apache")


def _scalar(conn: Conn, sql: str) -> object:
    row = conn.execute(sql).fetchone()
    return None if row is None else row[0]


def migration_files() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every packaged migration, in order."""
    folder = resources.files("greenmon.storage").joinpath("migrations")
    out = []
    for item in folder.iterdir():
        match = re.match(r"^(\d{4})_(\w+)\.sql$", item.name)
        if match:
            out.append((int(match[1]), match[2], item.read_text("utf-8")))
    return sorted(out)


def migrate(settings: Settings) -> tuple[Edition, list[str]]:
    """Apply pending migrations; returns the edition and the names applied."""
    with connect(settings, autocommit=True, attempts=5) as conn:
        edition = detect_edition(conn)
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
            "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        applied: list[str] = []
        for version, name, sql in migration_files():
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(47110815)")
                done = conn.execute(
                    "SELECT 1 FROM schema_migrations WHERE version = %s", (version,)
                ).fetchone()
                if done:
                    continue
                conn.execute(sql)
                if edition.has_hypertables:
                    for table, column in _HYPERTABLE.findall(sql):
                        conn.execute(
                            "SELECT create_hypertable(%s, %s, if_not_exists => TRUE, "
                            "migrate_data => TRUE)",
                            (table, column),
                        )
                conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                    (version, name),
                )
                applied.append(f"{version:04d}_{name}")
                log.info("applied migration %04d_%s", version, name)
    return edition, applied

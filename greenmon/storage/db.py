"""Database connections, and what the server offers (TimescaleDB edition or none)."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from psycopg.rows import TupleRow, tuple_row

from greenmon.backoff import Backoff
from greenmon.errors import ServiceError
from greenmon.settings import Settings

log = logging.getLogger(__name__)

Conn = psycopg.Connection[TupleRow]
Cursor = psycopg.Cursor[TupleRow]


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
    backoff = Backoff(5.0, first_s=0.2)
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
            time.sleep(backoff.failed())
    raise AssertionError("unreachable")


def detect_edition(conn: Conn) -> Edition:
    """Create the timescaledb extension if it can be, and report what is there."""
    version = str(_scalar(conn, "SHOW server_version"))
    available = _scalar(
        conn, "SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'"
    )
    preloaded = "timescaledb" in str(_scalar(conn, "SHOW shared_preload_libraries"))
    if available and not preloaded:
        # creating it now would end the session: the library must be preloaded
        log.warning("timescaledb is installed but not in shared_preload_libraries")
    elif available:
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


class Reconnecting:
    """A service's one connection: opened on first use, and again after it was dropped.

    ``prepare`` runs on every new connection (e.g. to create session staging tables).
    """

    def __init__(self, settings: Settings, prepare: Callable[[Conn], None] | None = None) -> None:
        self._settings = settings
        self._prepare = prepare
        self._conn: Conn | None = None

    def get(self) -> Conn:
        if self._conn is None or self._conn.closed:
            conn = connect(self._settings)
            if self._prepare is not None:
                self._prepare(conn)
                conn.commit()
            self._conn = conn
        return self._conn

    def drop(self) -> None:
        """Close the connection (after an error); the next ``get`` opens a new one."""
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
        self._conn = None

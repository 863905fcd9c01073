"""Schema migrations, and the seed data every database needs.

Migrations are the numbered ``migrations/NNNN_*.sql`` files, applied once each in
order and recorded in ``schema_migrations``. A ``-- hypertable: table(column)``
line in a file makes that table a TimescaleDB hypertable where the extension is
present (Apache or full edition); on plain PostgreSQL the table stays ordinary.
"""

from __future__ import annotations

import logging
import re
from importlib import resources
from typing import Final

from greenmon.accounting.config import default_config
from greenmon.domain.factors import default_factors
from greenmon.settings import Settings
from greenmon.storage.accounting_store import load_config
from greenmon.storage.db import Conn, Edition, connect, detect_edition
from greenmon.storage.factor_store import sync_factors
from greenmon.storage.policies import apply_policies

log = logging.getLogger(__name__)

_HYPERTABLE: Final = re.compile(r"^--\s*hypertable:\s*(\w+)\((\w+)\)\s*$", re.MULTILINE)


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
        _seed(conn)
        apply_policies(conn, edition, settings)
    return edition, applied


def _seed(conn: Conn) -> None:
    """Load the packaged factors (always, by id) and the default plan (only into none)."""
    with conn.transaction():
        sync_factors(conn, default_factors().all())
        row = conn.execute("SELECT count(*) FROM plan_periods").fetchone()
        if row is not None and row[0] == 0:
            load_config(conn, default_config())
            log.info(
                "loaded the default plan (%s)", ", ".join(p.name for p in default_config().periods)
            )

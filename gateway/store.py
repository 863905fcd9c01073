"""The gateway's durable queue: SQLite in WAL mode, one row per reading, oldest first.

A reading is committed here (synchronous=FULL: on disk) before it is published, and
deleted only after the broker's PUBACK for the batch that carried it, so neither a
broker outage nor a crash or restart of the gateway loses one. A restart publishes
again, from the oldest, what was in flight when it stopped; the collector and the
processor book a repeated reading once.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS queue (id INTEGER PRIMARY KEY AUTOINCREMENT, item TEXT NOT NULL)"
)


@dataclass(frozen=True, slots=True)
class Queued:
    id: int
    item: dict[str, Any]


class ReadingQueue:
    """Readings (batch items: meter, ts, value, unit, kind[, duration_s]) waiting for PUBACK."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def put(self, items: Iterable[dict[str, Any]]) -> int:
        """Store readings in one transaction; returns how many."""
        rows = [(json.dumps(i, separators=(",", ":")),) for i in items]
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("INSERT INTO queue (item) VALUES (?)", rows)
        return len(rows)

    def after(self, last_id: int, limit: int) -> list[Queued]:
        """The oldest ``limit`` readings with an id above ``last_id``."""
        rows = self._db.execute(
            "SELECT id, item FROM queue WHERE id > ? ORDER BY id LIMIT ?", (last_id, limit)
        ).fetchall()
        return [Queued(int(r[0]), json.loads(r[1])) for r in rows]

    def delete(self, ids: list[int]) -> None:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("DELETE FROM queue WHERE id = ?", [(i,) for i in ids])

    def __len__(self) -> int:
        row = self._db.execute("SELECT count(*) FROM queue").fetchone()
        return int(row[0])

    def size_bytes(self) -> int:
        """Bytes of the database file and its WAL."""
        wal = self.path.with_name(self.path.name + "-wal")
        return sum(p.stat().st_size for p in (self.path, wal) if p.exists())

"""Keeps the stored roll-ups and data-quality figures current.

Re-derives the roll-ups of the years whose inputs changed, and the quality of the
local days that received readings, since the last run. "Since" is a watermark, not
a wall-clock overlap: the database's now() or the start of the oldest transaction
still open, whichever is older, so a batch committed during a refresh is seen by
the next one, and an idle pipeline recomputes nothing.
Runs inside the processor every ``rollup_refresh_s`` seconds, on a thread of its own
with a connection of its own (:class:`RollupWorker`), so a refresh that takes tens of
seconds at city size never holds up the batches: the refresh only reads what the
batches write (``enterprise_month``, ``readings``...) and only it writes ``rollups``
and the quality tables, so the two take no locks from each other, and the watermark
above is exactly what makes a batch committed during a refresh count in the next one.
Several processors may run; an advisory lock lets one of them refresh at a time and
the others skip.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta

import psycopg

from greenmon.backoff import Backoff
from greenmon.errors import ServiceError
from greenmon.settings import Settings
from greenmon.storage import db
from greenmon.storage.db import Conn
from greenmon.storage.quality_store import changed_days, refresh_quality
from greenmon.storage.rollup_store import changed_years, refresh_rollups

log = logging.getLogger("greenmon.processor.rollups")

_LOCK = 47110816
#: the watermark: the oldest start of a transaction that may still commit rows this
#: refresh cannot see (every row's updated_at is its transaction's now(), never older)
_WATERMARK = (
    "SELECT least(now(), (SELECT min(xact_start) FROM pg_stat_activity "
    "WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid() "
    "AND datname = current_database()))"
)
_EPSILON = timedelta(milliseconds=1)


class RollupRefresher:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._since = datetime(1970, 1, 1, tzinfo=UTC)
        self._next = 0.0

    def due(self) -> bool:
        return time.monotonic() >= self._next

    def refresh(self, conn: Conn) -> int:
        """Refresh what changed since the last run; returns the rows written (0: skipped)."""
        self._next = time.monotonic() + self._settings.rollup_refresh_s
        with conn.transaction():
            mark = conn.execute(_WATERMARK).fetchone()
            started = mark[0] if mark else datetime.now(UTC) - timedelta(minutes=5)
            row = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (_LOCK,)).fetchone()
            if not row or not row[0]:
                return 0
            years = changed_years(conn, self._since)
            through = datetime.now(self._settings.tz).date().replace(day=1)
            written = refresh_rollups(conn, years, through=through) if years else 0
            days = changed_days(conn, self._since, tz=self._settings.timezone)
            if days is not None:
                written += refresh_quality(conn, *days, tz=self._settings.timezone)
        self._since = started - _EPSILON
        if written:
            log.info(
                "refreshed %s roll-up and quality rows (years %s, days %s)", written, years, days
            )
        return written


class RollupWorker:
    """Runs a :class:`RollupRefresher` every ``rollup_refresh_s`` on its own thread and
    database connection; database failures back off (1 s doubling to ``db_retry_max_s``)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.refresher = RollupRefresher(settings)
        self._connection = db.Reconnecting(settings)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rollups", daemon=True)
        self.refreshes = 0  # completed refreshes (for tests and stats)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the refresh under way, if any (it is one transaction: all or nothing)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._connection.drop()

    def _run(self) -> None:
        backoff = Backoff(self._settings.db_retry_max_s)
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                self.refresher.refresh(self._connection.get())
            except (psycopg.OperationalError, psycopg.InterfaceError, ServiceError) as exc:
                delay = backoff.failed()
                log.warning("roll-ups not refreshed (database), retrying in %.1f s: %s",
                            delay, exc)  # fmt: skip
                self._connection.drop()
                self._stop.wait(delay)
                continue
            except psycopg.Error:
                # roll-ups are derived data: a fault there must not stop the bookings
                log.exception("roll-up refresh failed; bookings go on, it is retried later")
                self._connection.drop()
            else:
                backoff.succeeded()
                self.refreshes += 1
            # at least twice as long as the refresh took: it shares the process (and the
            # GIL) with the batches, so at city size it takes at most a third of the time
            took = time.monotonic() - began
            self._stop.wait(max(self._settings.rollup_refresh_s, 2 * took))

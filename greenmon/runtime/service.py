"""One service process's life: stop, stats and heartbeat, database retries, metrics.

``stop()`` is what SIGINT/SIGTERM call (the CLI wires the signals to the service's stop).

A service makes one ``ServiceRuntime``, calls ``start()``, runs its loop ``while not
runtime.stopping`` with ``runtime.tick()`` in it, and ``close()`` at the end. Database
work that must not be lost goes through ``retry``: back off (``Backoff``), reconnect,
try again, until it succeeds or the service is stopped.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from typing import TypeVar

import psycopg

from greenmon.backoff import Backoff
from greenmon.errors import ServiceError
from greenmon.observe import Counters, StatsReporter
from greenmon.runtime.metrics import MetricsServer
from greenmon.settings import Settings
from greenmon.storage import db
from greenmon.storage.heartbeat import write_heartbeat

T = TypeVar("T")

#: database faults a service waits out (reconnecting) rather than dies of
DB_ERRORS: tuple[type[BaseException], ...] = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    ServiceError,
)


class ServiceRuntime:
    """The parts of a long-running service that are the same in every service."""

    def __init__(
        self,
        settings: Settings,
        service: str,
        counters: Counters,
        *,
        reasons: Counters | None = None,
        prepare: Callable[[db.Conn], None] | None = None,
    ) -> None:
        self.settings = settings
        self.service = service
        self.counters = counters
        #: dead letters by kind of reason (greenmon.observe.reason_kind)
        self.reasons = reasons if reasons is not None else Counters()
        self.instance = f"{socket.gethostname()}:{os.getpid()}"
        self.log = logging.getLogger(f"greenmon.{service}")
        #: the service's one database connection (reconnected after a fault)
        self.db = db.Reconnecting(settings, prepare)
        self._stop = threading.Event()
        self._on_stop: list[Callable[[], None]] = []
        self._stats = StatsReporter(self.log, counters, settings.stats_interval_s)
        self.metrics: MetricsServer | None = None

    # --- stop ---------------------------------------------------------------------------------
    def stop(self) -> None:
        self._stop.set()
        for wake in self._on_stop:
            wake()

    def on_stop(self, wake: Callable[[], None]) -> None:
        """Also call ``wake`` on stop (a loop waiting on an event of its own)."""
        self._on_stop.append(wake)

    @property
    def stop_event(self) -> threading.Event:
        """Set once the service is asked to stop (for waits of the service's own)."""
        return self._stop

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep ``seconds`` or until stopped; True if stopped."""
        return self._stop.wait(seconds)

    # --- start, tick, close -------------------------------------------------------------------
    def start(self) -> None:
        port = self.settings.metrics_port
        if port is not None:
            self.metrics = MetricsServer(
                port, self.service, self.instance, self.counters, self.reasons
            )
            self.log.info("metrics for Prometheus on port %s", self.metrics.port)

    def tick(self, *, heartbeat_now: bool = False) -> None:
        """The periodic stats line and heartbeat, when due (or now)."""
        if heartbeat_now or self._stats.due():
            self.heartbeat(self._stats.report())

    def heartbeat(self, counters: dict[str, int]) -> None:
        """Store the counters for `greenmon services status` and the pipeline dashboard."""
        try:
            with db.connect(self.settings, autocommit=True) as conn:
                write_heartbeat(
                    conn, self.service, self.instance, counters, self.reasons.snapshot()
                )
        except (ServiceError, psycopg.Error) as exc:
            self.log.warning("heartbeat not written: %s", exc)

    def close(self) -> None:
        self.log.info("%s stopping: %s", self.service, self.counters.snapshot())
        if self.metrics is not None:
            self.metrics.close()
        self.db.drop()

    # --- retries ------------------------------------------------------------------------------
    def retry(
        self,
        doing: str,
        work: Callable[[], T],
        *,
        kafka_errors: tuple[type[BaseException], ...] = (),
        db_errors: tuple[type[BaseException], ...] = DB_ERRORS,
        done: str | None = None,
    ) -> T | None:
        """``work()`` until it succeeds (its result) or the service stops (None).

        ``done`` is what a success after retries is logged as (default: ``doing`` done).

        A database fault drops the connection (the next ``db.get()`` opens a new one) and
        counts ``db_retries``; a fault in ``kafka_errors`` is waited out the same way.
        """
        backoff = Backoff(self.settings.db_retry_max_s)
        while not self.stopping:
            try:
                result = work()
            except db_errors as exc:
                self.counters.add("db_retries")
                self.db.drop()
                self._wait_out(backoff, "database", doing, exc)
            except kafka_errors as exc:
                self._wait_out(backoff, "Kafka", doing, exc)
            else:
                if backoff.failures:
                    said = done or f"{doing} done"
                    self.log.info("%s after %d retries; resuming", said, backoff.failures)
                return result
        return None

    def _wait_out(self, backoff: Backoff, what: str, doing: str, exc: BaseException) -> None:
        delay = backoff.failed()
        self.log.warning(
            "%s unavailable while %s (attempt %d), retrying in %.1f s: %s",
            what, doing, backoff.failures, delay, exc,
        )  # fmt: skip
        self.wait(delay)

    def side_task(self, backoff: Backoff, doing: str, work: Callable[[], object]) -> None:
        """Loop work that may wait (value-added, roll-ups): skipped while backing off.

        Without the back-off an idle service would try, and log, every turn of its loop
        while the database is down."""
        if not backoff.ready():
            return
        try:
            work()
        except DB_ERRORS as exc:
            delay = backoff.failed()
            self.log.warning("%s: database unavailable, retrying in %.1f s: %s", doing, delay, exc)
            self.db.drop()
        else:
            backoff.succeeded()

"""The delivery worker: sends the outbox's due rows, each channel on its own.

Rows are sent concurrently (a slow webhook never holds up the e-mail or MQTT of
the same alert, nor other enterprises'); a failure reschedules only its own row,
with exponential back-off (2 s doubling to ``alerts_retry_max_s``), and gives it
up after ``alerts_give_up_s``. Rows live in the database, so a restart loses
nothing; a row is marked delivered only after its channel took it.
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import psycopg

from alerts import store
from alerts.channels import MqttSender, send_email, send_webhook
from greenmon.errors import DeliveryError, InvalidMessage, ServiceError
from greenmon.messages.alert import alert_document
from greenmon.observe import Counters
from greenmon.settings import Settings
from greenmon.storage import db

log = logging.getLogger("greenmon.alerts.delivery")


def backoff_s(attempts: int, max_s: float) -> float:
    """Wait after the ``attempts``-th failure: 2, 4, 8 ... seconds, at most ``max_s``."""
    return float(min(2.0 ** min(attempts, 20), max_s))


class DeliveryWorker:
    def __init__(self, settings: Settings, counters: Counters) -> None:
        self.settings = settings
        self.counters = counters
        self._mqtt = MqttSender(settings, client_id=f"greenmon-alerts-{os.getpid()}")
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="alert-send")
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="alert-delivery", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=15)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._mqtt.close()

    def _loop(self) -> None:
        conn: db.Conn | None = None
        while not self._stop.is_set():
            try:
                if conn is None or conn.closed:
                    conn = db.connect(self.settings, autocommit=True)
                self.run_once(conn)
            except (psycopg.Error, ServiceError) as exc:
                log.warning("alert deliveries paused (database): %s", exc)
                conn = None
                self._stop.wait(2.0)
            self._wake.wait(0.5)
            self._wake.clear()
        if conn is not None:
            conn.close()

    def run_once(self, conn: db.Conn) -> int:
        """Send every due row once; returns how many were delivered."""
        due = store.due_deliveries(conn)
        secrets = {d.id: self._secret(conn, d) for d in due if d.channel == "webhook"}
        results = list(self._pool.map(lambda d: self._send(d, secrets.get(d.id)), due))
        delivered = 0
        for d, error in zip(due, results, strict=True):
            if error is None:
                store.mark_delivered(conn, d.id)
                delivered += 1
                self.counters.add("delivered")
                continue
            self.counters.add("failed")
            wait = backoff_s(d.attempts + 1, self.settings.alerts_retry_max_s)
            gave_up = store.mark_failed(conn, d.id, error, wait, self.settings.alerts_give_up_s)
            log.warning(
                "alert delivery %s (%s to %s, %s) failed, attempt %s: %s%s",
                d.id, d.channel, d.enterprise_id, d.fingerprint, d.attempts + 1, error,
                "; given up" if gave_up else f"; retry in {wait:.0f} s",
            )  # fmt: skip
        return delivered

    def _secret(self, conn: db.Conn, d: store.Delivery) -> str | DeliveryError | None:
        """The webhook's secret, or why there is none (only this delivery fails then)."""
        try:
            return store.channel_secret(conn, self.settings, d.enterprise_id, d.target)
        except ServiceError as exc:
            return DeliveryError(str(exc))

    def _send(self, d: store.Delivery, secret: str | DeliveryError | None) -> str | None:
        try:
            doc = alert_document(d.payload)  # refuses a version this worker does not read
            if d.channel == "mqtt":
                self._mqtt.send(d.target, doc)
            elif d.channel == "webhook":
                if isinstance(secret, DeliveryError):
                    raise secret
                if secret is None:
                    raise DeliveryError("webhook channel no longer configured")
                send_webhook(d.target, secret, doc, d.id)
            else:
                send_email(self.settings, d.target, doc)
        except (DeliveryError, InvalidMessage) as exc:
            return str(exc)
        except Exception as exc:  # a broken channel must not stop the worker
            log.exception("unexpected error delivering alert %s", d.id)
            return repr(exc)
        return None

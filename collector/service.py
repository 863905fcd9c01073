"""``greenmon collector``: MQTT in, validated readings (or dead letters) out to Kafka.

Delivery: the MQTT session is persistent and subscriptions are QoS 1 with manual
acknowledgement. A message is acknowledged to the broker only after Kafka has
acknowledged the record it became (a reading or a dead letter), and always in
the order the messages arrived, so a crash at any point loses nothing; what it
may cause is a redelivery, which the processor books once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from kafka.producer.future import FutureRecordMetadata

from collector.validate import MeterLookup, validate_message
from greenmon.bus import kafka as bus_kafka
from greenmon.bus import mqtt as bus_mqtt
from greenmon.domain.registry import Meter
from greenmon.errors import InvalidReading, ServiceError
from greenmon.observe import Counters, StatsReporter
from greenmon.settings import Settings
from greenmon.storage import db
from greenmon.storage.heartbeat import write_heartbeat
from greenmon.storage.registry_store import load_meters

log = logging.getLogger("greenmon.collector")

#: how long a meter id found unregistered is not looked up again (seconds)
UNKNOWN_METER_TTL_S = 0.5


@dataclass(slots=True)
class _Pending:
    """An MQTT message not yet acknowledged: the Kafka record it became, and its future."""

    mid: int
    qos: int
    topic: str
    key: bytes
    value: bytes
    future: FutureRecordMetadata | None = None
    attempts: int = 0
    failed_at: float = field(default=0.0)


class Collector:
    """One collector process. ``run()`` blocks until ``stop()`` is called."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.counters = Counters("received", "produced", "dead_lettered", "acked", "pending")
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._pending: deque[_Pending] = deque()
        self._registry = MeterLookup({})
        self._lookup_conn: db.Conn | None = None
        self._misses: dict[str, float] = {}
        self._registry_loaded_at = 0.0
        self._instance = f"{socket.gethostname()}:{os.getpid()}"
        self._tolerance = timedelta(seconds=settings.future_tolerance_s)
        self._producer = bus_kafka.producer(settings, client_id=f"collector-{self._instance}")
        self._client = bus_mqtt.client(
            settings, client_id=settings.collector_client_id, persistent=True, manual_ack=True
        )
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe
        self._announce = threading.Event()

    # --- registry ---------------------------------------------------------------------
    def _refresh_registry(self, *, attempts: int = 1) -> None:
        with db.connect(self.settings, autocommit=True, attempts=attempts) as conn:
            meters = load_meters(conn)
        self._registry = MeterLookup(meters, self._fetch_meter)
        self._registry_loaded_at = time.monotonic()
        self.counters.set("registry_meters", len(meters))

    def _fetch_meter(self, meter_id: str) -> Meter | None:
        """One meter straight from the database; misses are remembered for a moment."""
        now = time.monotonic()
        if self._misses.get(meter_id, 0.0) > now:
            return None
        try:
            if self._lookup_conn is None or self._lookup_conn.closed:
                self._lookup_conn = db.connect(self.settings, autocommit=True)
            meter = load_meters(self._lookup_conn, [meter_id]).get(meter_id)
        except (ServiceError, psycopg.Error) as exc:
            log.warning("registry lookup of %s failed: %s", meter_id, exc)
            self._lookup_conn = None
            meter = None
        if meter is None:
            if len(self._misses) > 10_000:
                self._misses.clear()
            self._misses[meter_id] = now + UNKNOWN_METER_TTL_S
        return meter

    # --- MQTT callbacks (network thread) ------------------------------------------------
    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            log.error("MQTT connection refused: %s", rc)
            return
        topic = f"{self.settings.mqtt_topic_prefix}/+/+/reading"
        client.subscribe(topic, qos=1)
        log.info("connected to MQTT %s, subscribed to %s", self.settings.mqtt_url, topic)

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: int, codes: Any, _p: Any) -> None:
        if any(getattr(c, "is_failure", False) for c in codes):
            log.error("MQTT subscription refused: %s", codes)
            return
        log.info("subscription confirmed by the broker")
        self.counters.set("subscribed", 1)
        self._announce.set()
        self._wake.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if not self._stop.is_set():
            log.warning("MQTT connection lost (%s); paho reconnects", rc)

    def _on_message(self, _client: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            self._handle(msg)
        except Exception:  # never let one message stop the network loop
            log.exception("unexpected error handling a message on %s", msg.topic)

    def _handle(self, msg: mqtt.MQTTMessage) -> None:
        self.counters.add("received")
        now = datetime.now(UTC)
        topic = msg.topic
        payload = bytes(msg.payload)
        try:
            reading = validate_message(
                topic,
                payload,
                self._registry,
                prefix=self.settings.mqtt_topic_prefix,
                now=now,
                future_tolerance=self._tolerance,
            )
        except InvalidReading as exc:
            record = bus_kafka.dead_letter(
                reason=str(exc),
                source="collector",
                payload=payload,
                origin=topic,
                received_at=now,
            )
            entry = _Pending(msg.mid, msg.qos, self.settings.topic_dlq, topic.encode(), record)
            log.debug("dead-lettered message on %s: %s", topic, exc)
        else:
            entry = _Pending(
                msg.mid,
                msg.qos,
                self.settings.topic_readings,
                reading.meter_id.encode(),
                reading.to_record(now),
            )
        self._send(entry)
        with self._lock:
            self._pending.append(entry)

    # --- Kafka side -----------------------------------------------------------------------
    def _send(self, entry: _Pending) -> None:
        entry.attempts += 1
        future = self._producer.send(entry.topic, key=entry.key, value=entry.value)
        future.add_both(lambda _r: self._wake.set())
        entry.future = future

    def _drain(self) -> None:
        """Acknowledge, in arrival order, every message whose record Kafka has acknowledged."""
        while True:
            with self._lock:
                if not self._pending:
                    break
                head = self._pending[0]
                future = head.future
                if future is None or not future.is_done:
                    break
                if future.failed():
                    self._retry(head, future.exception)
                    break
                self._pending.popleft()
            if head.topic == self.settings.topic_dlq:
                self.counters.add("dead_lettered")
            else:
                self.counters.add("produced")
            if head.qos > 0:
                self._client.ack(head.mid, head.qos)
            self.counters.add("acked")
        self.counters.set("pending", len(self._pending))

    def _retry(self, entry: _Pending, error: Exception | None) -> None:
        now = time.monotonic()
        if now - entry.failed_at < min(0.1 * 2**entry.attempts, 10.0):
            return
        entry.failed_at = now
        log.warning("Kafka refused a record (attempt %s), sending again: %s", entry.attempts, error)
        self._send(entry)

    # --- lifecycle --------------------------------------------------------------------------
    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def run(self) -> None:
        settings = self.settings
        bus_kafka.ensure_topics(settings, [settings.topic_readings, settings.topic_dlq])
        self._refresh_registry(attempts=30)
        host, port = settings.mqtt_host_port
        self._client.max_inflight_messages_set(settings.collector_max_inflight)
        try:
            self._client.connect(host, port, keepalive=30)
        except OSError as exc:
            raise ServiceError(f"cannot connect to MQTT {settings.mqtt_url}: {exc}") from exc
        self._client.loop_start()
        stats = StatsReporter(log, self.counters, settings.stats_interval_s)
        log.info("collector running: %s -> %s", settings.mqtt_url, settings.kafka_url)
        try:
            while not self._stop.is_set():
                self._wake.wait(0.05)
                self._wake.clear()
                self._drain()
                if time.monotonic() - self._registry_loaded_at > settings.registry_refresh_s:
                    self._periodic_refresh()
                if stats.due() or self._announce.is_set():
                    self._announce.clear()
                    self._heartbeat(stats.report())
        finally:
            self._shutdown()

    def _periodic_refresh(self) -> None:
        try:
            self._refresh_registry()
        except ServiceError as exc:
            log.warning("registry refresh failed: %s", exc)
            self._registry_loaded_at = time.monotonic()

    def _heartbeat(self, counters: dict[str, int]) -> None:
        try:
            with db.connect(self.settings, autocommit=True) as conn:
                write_heartbeat(conn, "collector", self._instance, counters)
        except ServiceError as exc:
            log.warning("heartbeat not written: %s", exc)

    def _shutdown(self) -> None:
        """Flush what Kafka has, acknowledge it, then leave; the rest is redelivered later."""
        log.info("collector stopping: flushing Kafka and acknowledging")
        try:
            self._producer.flush(timeout=10)
        except Exception as exc:
            log.warning("Kafka flush incomplete at shutdown: %s", exc)
        self._drain()
        self._client.disconnect()
        self._client.loop_stop()
        self._producer.close(timeout=5)
        if self._lookup_conn is not None:
            self._lookup_conn.close()
        log.info("collector stopped: %s", self.counters.snapshot())

"""``greenmon collector``: MQTT in, validated readings (or dead letters) out to Kafka.

Delivery: the MQTT session is persistent and subscriptions are QoS 1 with manual
acknowledgement. A message is acknowledged to the broker only after Kafka has
acknowledged every record it became (a reading or a dead letter; for a gateway
batch, one per reading), and always in the order the messages arrived, so a
crash at any point loses nothing; what it may cause is a redelivery, which the
processor books once.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
import psycopg

from collector.acks import AckQueue, Message, Record
from collector.batch import validate_batch
from collector.sparkplug_ingest import SUBSCRIPTIONS as SPARKPLUG_TOPICS
from collector.sparkplug_ingest import for_collector as sparkplug_for
from collector.sparkplug_wire import is_sparkplug_topic
from collector.topics import subscriptions
from collector.validate import MeterLookup, validate_message
from greenmon.bus import kafka as bus_kafka
from greenmon.bus import mqtt as bus_mqtt
from greenmon.domain.registry import Meter
from greenmon.domain.wire import MAX_PAYLOAD_BYTES, is_batch_topic
from greenmon.errors import InvalidReading, ServiceError
from greenmon.observe import Counters, reason_kind
from greenmon.runtime.service import ServiceRuntime
from greenmon.settings import Settings
from greenmon.storage import db
from greenmon.storage.registry_store import load_meters

log = logging.getLogger("greenmon.collector")

#: how long a meter id found unregistered is not looked up again (seconds)
UNKNOWN_METER_TTL_S = 0.5
#: a dead letter keeps at most this much of the payload (Kafka refuses records over 1 MiB)
DEAD_LETTER_PAYLOAD_MAX = MAX_PAYLOAD_BYTES


class Collector:
    """One collector process. ``run()`` blocks until ``stop()`` is called."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.counters = Counters(
            "received", "batches", "produced", "dead_lettered", "acked", "pending"
        )
        #: dead letters by kind of reason (greenmon.observe.reason_kind)
        self.reasons = Counters()
        self.runtime = ServiceRuntime(settings, "collector", self.counters, reasons=self.reasons)
        self._stop = self.runtime.stop_event
        self._wake = threading.Event()
        self.runtime.on_stop(self._wake.set)
        self._acks = AckQueue(self._send)
        self._registry = MeterLookup({})
        self._lookup_conn: db.Conn | None = None
        self._misses: dict[str, float] = {}
        self._registry_loaded_at = 0.0
        self._instance = self.runtime.instance
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
        self._sparkplug = sparkplug_for(
            settings,
            registry=lambda: self._registry,
            dead_letter=lambda topic, body, reason, now, index: self._dead_letter(
                topic, body, reason, now, index=index
            ),
            publish=self._publish_command,
        )

    # --- registry ---------------------------------------------------------------------
    def _refresh_registry(self, *, attempts: int = 1) -> None:
        with db.connect(self.settings, autocommit=True, attempts=attempts) as conn:
            meters = load_meters(conn)
        self._registry = MeterLookup(meters, self._fetch_meter, self._fetch_meters)
        self._registry_loaded_at = time.monotonic()
        self.counters.set("registry_meters", len(meters))

    def _fetch_meter(self, meter_id: str) -> Meter | None:
        """One meter straight from the database; misses are remembered for a moment."""
        return self._fetch_meters([meter_id]).get(meter_id)

    def _fetch_meters(self, meter_ids: list[str]) -> dict[str, Meter]:
        """Meters straight from the database, in one query; misses are remembered a moment."""
        now = time.monotonic()
        wanted = [m for m in meter_ids if self._misses.get(m, 0.0) <= now]
        if not wanted:
            return {}
        try:
            if self._lookup_conn is None or self._lookup_conn.closed:
                self._lookup_conn = db.connect(self.settings, autocommit=True)
            found = load_meters(self._lookup_conn, wanted)
        except (ServiceError, psycopg.Error) as exc:
            log.warning("registry lookup of %d meter(s) failed: %s", len(wanted), exc)
            self._lookup_conn = None
            found = {}
        if len(self._misses) > 100_000:
            self._misses.clear()
        for meter_id in wanted:
            if meter_id not in found:
                self._misses[meter_id] = now + UNKNOWN_METER_TTL_S
        return found

    # --- MQTT callbacks (network thread) ------------------------------------------------
    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            log.error("MQTT connection refused: %s", rc)
            return
        topics, dropped = subscriptions(self.settings)
        # Sparkplug never through $share: a node's session (births, aliases, seq) must
        # reach one collector whole (README: Sparkplug B)
        topics = [*topics, *SPARKPLUG_TOPICS]
        client.subscribe([(t, 1) for t in topics])
        if dropped:  # after the new subscription, so no message falls in between
            client.unsubscribe(dropped)
        log.info("connected to MQTT %s, subscribing to %s", self.settings.mqtt_url, topics)

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
        payload = bytes(msg.payload)
        if is_batch_topic(msg.topic):
            self.counters.add("batches")
            records = self._batch_records(msg.topic, payload, now)
        elif is_sparkplug_topic(msg.topic):
            records = self._sparkplug.records(msg.topic, payload, now)
        else:
            records = [self._reading_record(msg.topic, payload, now)]
        self._acks.add(Message(msg.mid, msg.qos, records), self._stop)

    def _reading_record(self, topic: str, payload: bytes, now: datetime) -> Record:
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
            log.debug("dead-lettered message on %s: %s", topic, exc)
            return self._dead_letter(topic, payload, str(exc), now)
        return Record(
            self.settings.topic_readings, reading.meter_id.encode(), reading.to_record(now)
        )

    def _batch_records(self, topic: str, payload: bytes, now: datetime) -> list[Record]:
        """One record per reading of a batch: a reading or a dead letter naming its index."""
        try:
            result = validate_batch(
                topic,
                payload,
                self._registry,
                prefix=self.settings.mqtt_topic_prefix,
                now=now,
                future_tolerance=self._tolerance,
            )
        except InvalidReading as exc:
            log.debug("dead-lettered batch on %s: %s", topic, exc)
            return [self._dead_letter(topic, payload, str(exc), now)]
        readings = self.settings.topic_readings
        records: list[tuple[int, Record]] = [
            (i, Record(readings, r.meter_id.encode(), r.to_record(now))) for i, r in result.accepted
        ]
        records += [
            (bad.index, self._dead_letter(topic, bad.payload, bad.reason, now, index=bad.index))
            for bad in result.rejected
        ]
        records.sort(key=lambda pair: pair[0])
        return [record for _, record in records]

    def _publish_command(self, topic: str, body: bytes) -> None:
        """A command to a device (Sparkplug's Rebirth request), QoS 1."""
        self._client.publish(topic, body, qos=1)

    def _dead_letter(
        self, topic: str, payload: bytes, reason: str, now: datetime, *, index: int | None = None
    ) -> Record:
        """A dead letter for ``payload`` (at most DEAD_LETTER_PAYLOAD_MAX bytes of it kept)."""
        self.reasons.add(reason_kind(reason))
        kept = _clip(payload, DEAD_LETTER_PAYLOAD_MAX)
        if len(kept) < len(payload):
            reason += f" (payload truncated to {len(kept)} of {len(payload)} bytes)"
        value = bus_kafka.dead_letter(
            reason=reason, source="collector", payload=kept, origin=topic, received_at=now
        )
        if index is not None:  # a reading of a gateway batch: say which one
            doc = json.loads(value)
            doc["index"] = index
            value = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
        return Record(self.settings.topic_dlq, topic.encode(), value, dead=True)

    # --- Kafka side -----------------------------------------------------------------------
    def _send(self, record: Record) -> None:
        previous = record.future
        if previous is not None and previous.failed():
            log.warning(
                "Kafka refused a record (attempt %s), sending again: %s",
                record.attempts - 1,
                previous.exception,
            )
        future = self._producer.send(record.topic, key=record.key, value=record.value)
        future.add_both(self._kafka_done)
        record.future = future

    def _kafka_done(self, _result: object) -> None:
        """Kafka answered for a record (sender thread): wake the acknowledging loop."""
        if not self._wake.is_set():
            self._wake.set()

    def _drain(self) -> None:
        """Acknowledge, in arrival order, every message whose records Kafka has acknowledged."""
        done = self._acks.drain()
        self.counters.set("pending", len(self._acks))
        self.counters.set("pending_records", self._acks.records)
        if not done:
            return
        dead = sum(m.dead_letters for m in done)
        self._client.ack_many([m.mid for m in done if m.qos == 1])
        for message in done:
            if message.qos > 1:
                self._client.ack(message.mid, message.qos)
        self.counters.add("dead_lettered", dead)
        self.counters.add("produced", sum(len(m.records) for m in done) - dead)
        self.counters.add("acked", len(done))

    # --- lifecycle --------------------------------------------------------------------------
    def stop(self) -> None:
        self.runtime.stop()

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
        self.runtime.start()
        log.info("collector running: %s -> %s", settings.mqtt_url, settings.kafka_url)
        try:
            while not self._stop.is_set():
                self._wake.wait(0.05)
                self._wake.clear()
                self._drain()
                if time.monotonic() - self._registry_loaded_at > settings.registry_refresh_s:
                    self._periodic_refresh()
                announce = self._announce.is_set()  # subscribed: tell it at once
                self._announce.clear()
                self.runtime.tick(heartbeat_now=announce)
        finally:
            self._shutdown()

    def _periodic_refresh(self) -> None:
        try:
            self._refresh_registry()
        except (ServiceError, psycopg.Error) as exc:
            log.warning("registry refresh failed: %s", exc)
            self._registry_loaded_at = time.monotonic()

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
        self.runtime.close()


def _clip(payload: bytes, limit: int) -> bytes:
    """At most ``limit`` bytes of ``payload``, not cutting a UTF-8 character in two."""
    if len(payload) <= limit:
        return payload
    head = payload[:limit]
    for cut in range(4):  # a UTF-8 character is at most 4 bytes
        candidate = head[: len(head) - cut]
        try:
            candidate.decode("utf-8")
        except UnicodeDecodeError:
            continue
        return candidate
    return head  # not text anyway: the dead letter carries it as base64

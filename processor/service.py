"""``greenmon processor``: Kafka readings to consumption rows in TimescaleDB.

A member of the consumer group ``processor_group``. Each polled batch is written
in one database transaction together with the next offsets of its partitions;
the Kafka commit follows. On (re)assignment the consumer seeks to the positions
stored in the database, so a crash anywhere books every reading exactly once.
When the database is down the processor keeps the batch, backs off and retries.
"""

from __future__ import annotations

import logging
import time

from kafka.errors import KafkaError

from greenmon.backoff import Backoff
from greenmon.bus import kafka as bus_kafka
from greenmon.domain import windows as alert_windows
from greenmon.domain.factors import default_factors
from greenmon.domain.reference import MeterKind
from greenmon.domain.registry import Meter
from greenmon.domain.wire import ReadingRecord, decode_record
from greenmon.errors import InvalidReading, NotAcknowledged
from greenmon.observe import Counters, reason_kind
from greenmon.runtime.consumer import GroupConsumer, Polled
from greenmon.runtime.service import ServiceRuntime
from greenmon.settings import Settings
from greenmon.storage import db
from greenmon.storage.factor_store import electricity_methods, read_factors
from greenmon.storage.registry_store import load_meters
from processor import sink
from processor.booking import Booker, late_spans, newly_stored, split_batch, split_late
from processor.rollups import RollupWorker
from processor.value_added import ValueAddedInput

log = logging.getLogger("greenmon.processor")

#: how often factors, electricity methods and meters are re-read (seconds)
BOOKER_REFRESH_S = 60.0


class _DeadLettersNotSent(NotAcknowledged):
    """Kafka did not acknowledge a batch's dead letters; the batch is retried."""


def decode_fresh(
    polled: Polled, stored: dict[int, int]
) -> tuple[list[ReadingRecord], list[tuple[bytes, str, str]], dict[int, int], int]:
    """The polled records not yet applied (at or past the stored positions), decoded:
    (readings, dead letters as (payload, reason, origin), next positions, how many)."""
    readings: list[ReadingRecord] = []
    dead: list[tuple[bytes, str, str]] = []
    positions: dict[int, int] = {}
    consumed = 0
    for tp, records in polled.items():
        fresh = [r for r in records if r.offset >= stored.get(tp.partition, -1)]
        consumed += len(fresh)
        if records:
            # never move a stored position back (a fenced-off processor's stale batch)
            positions[tp.partition] = max(records[-1].offset + 1, stored.get(tp.partition, 0))
        for rec in fresh:
            try:
                readings.append(decode_record(rec.value))
            except InvalidReading as exc:
                dead.append((rec.value, str(exc), f"{tp.topic}/{tp.partition}@{rec.offset}"))
    return readings, dead, positions, consumed


class Processor:
    """One processor process. ``run()`` blocks until ``stop()``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.counters = Counters(
            "consumed",
            "stored",
            "duplicates",
            "intervals",
            "dead_lettered",
            "quarantined",
            "factor_missing",
            "out_of_order",
            "resets",
            "rollovers",
            "db_retries",
            "log_resets",
            "lag",
        )
        self.runtime = ServiceRuntime(settings, "processor", self.counters, prepare=sink.prepare)
        #: dead letters by kind of reason (greenmon.observe.reason_kind)
        self.reasons = self.runtime.reasons
        self._side_backoff = Backoff(settings.db_retry_max_s)  # value-added and roll-ups
        client_id = f"processor-{self.runtime.instance}"
        self._booker = Booker(default_factors(), settings.tz, settings.grid_region)
        self._booker_loaded_at = -BOOKER_REFRESH_S
        self._rollups = RollupWorker(settings)  # its own thread: never stalls the batches
        self._grace_ms = int(settings.late_grace_s * 1000)
        self._meters: dict[str, Meter] = {}
        #: started in run(), once the topics exist (a consumer older than its topic's
        #: creation was seen to stall in its first group join)
        self.readings = GroupConsumer(
            self.runtime, settings.topic_readings, group=settings.processor_group,
            positions_key=settings.processor_group, client_id=client_id,
            group_instance_id=settings.processor_instance_id,
        )  # fmt: skip
        self._producer = bus_kafka.producer(settings, client_id=client_id)
        self._value_added = ValueAddedInput(self.runtime, self._producer)

    def _db(self) -> db.Conn:
        return self.runtime.db.get()

    # --- main loop ------------------------------------------------------------------------------
    def stop(self) -> None:
        self.runtime.stop()

    def run(self) -> None:
        settings = self.settings
        bus_kafka.ensure_topics(
            settings,
            [settings.topic_readings, settings.topic_dlq, settings.topic_value_added,
             settings.topic_late, settings.topic_windows],
        )  # fmt: skip
        self.runtime.start()
        self.readings.start()
        self._value_added.start()
        self._rollups.start()
        log.info("processor running: %s -> %s", settings.kafka_url, settings.database_url)
        try:
            while not self.runtime.stopping:
                polled = self.readings.poll(
                    settings.processor_poll_ms, settings.processor_batch_max
                )
                if polled:  # a transaction per part: rows grow while a big poll is booked
                    for part in split_batch(polled, settings.processor_txn_max):
                        self._process(part)
                self.runtime.side_task(self._side_backoff, "value-added not stored yet",
                                       lambda: self._value_added.poll_once(self._db()))  # fmt: skip
                self.counters.set("lag", self.readings.lag())
                self.runtime.tick()
        finally:
            self._shutdown()

    def _process(self, polled: Polled) -> None:
        """Apply the batch, waiting out database and Kafka faults.

        Stopping mid-retry leaves the batch unapplied and its offsets not stored, so it is
        read again by whichever processor owns the partitions next."""
        self.runtime.retry(
            "writing a batch",
            lambda: self._apply(polled),
            kafka_errors=(_DeadLettersNotSent,),
            done="batch written",
        )

    def _apply(self, polled: Polled) -> None:
        settings = self.settings
        conn = self._db()
        if time.monotonic() - self._booker_loaded_at > BOOKER_REFRESH_S:
            self._refresh_booker(conn)
        with conn.transaction():
            stored = self.readings.lock_positions(conn, [tp.partition for tp in polled])
            readings, dead, positions, consumed = decode_fresh(polled, stored)
            marks = sink.load_watermarks(conn, (r.meter_id for r in readings))
            readings, late, marks = split_late(readings, marks, self._grace_ms)
            self._set_aside(late)
            sink.save_watermarks(conn, marks)
            new_keys = sink.insert_readings(conn, readings)
            new = newly_stored(readings, new_keys)
            meters = self._meters_for(conn, {r.meter_id for r in new})
            counters = [
                m
                for m in {r.meter_id for r in new}
                if m in meters and meters[m].kind is MeterKind.COUNTER
            ]
            states = sink.load_states(conn, counters)
            history = sink.load_history(conn, late_spans(new, meters, states))
            booking = self._booker.book(new, meters, states, history, new_keys)
            dead.extend((r.encode(), reason, "processor") for r, reason in booking.rejected)
            self._dead_letter(dead)
            sink.write_booking(conn, booking)
            self.readings.save_positions(conn, positions)
        self.readings.commit(positions)
        # best effort, not flushed: alert state is derived (greenmon/domain/windows.py)
        alert_windows.publish(self._producer, settings.topic_windows, booking.rows.values())
        c = self.counters
        c.add("consumed", consumed)
        c.add("stored", len(new_keys))
        c.add("duplicates", len(readings) - len(new))
        c.add("intervals", len(booking.rows))
        c.add("dead_lettered", len(dead))
        for _payload, reason, _origin in dead:
            self.reasons.add(reason_kind(reason))
        c.add("quarantined", len(booking.quarantined))
        c.add("factor_missing", len(booking.factor_gaps))
        c.add("out_of_order", booking.out_of_order)
        c.add("placed", booking.placed)
        c.add("late", len(late))
        c.add("resets", booking.events.get("reset", 0))
        c.add("rollovers", booking.events.get("rollover", 0))

    def _refresh_booker(self, conn: db.Conn) -> None:
        """Factors and electricity methods as the database has them now."""
        with conn.transaction():
            factors = read_factors(conn)
            methods, default = electricity_methods(conn)
        self._booker = Booker(
            factors, self.settings.tz, self.settings.grid_region, methods, default
        )
        self._booker_loaded_at = time.monotonic()
        self._meters.clear()  # pick up registry changes (flags, units) as well

    def _meters_for(self, conn: db.Conn, meter_ids: set[str]) -> dict[str, Meter]:
        missing = [m for m in meter_ids if m not in self._meters]
        if missing:
            self._meters.update(load_meters(conn, missing))
        return self._meters

    def _set_aside(self, late: list[ReadingRecord]) -> None:
        """Readings past the grace period go to the late topic (``recompute --late``)."""
        if not late:
            return
        for r in late:
            self._producer.send(self.settings.topic_late, key=r.meter_id.encode(), value=r.encode())
        self._producer.flush(timeout=30)
        log.warning("set aside %s readings older than the grace period", len(late))

    def _dead_letter(self, dead: list[tuple[bytes, str, str]]) -> None:
        """Send dead letters and wait for Kafka, before the batch's offsets are stored."""
        if not dead:
            return
        try:
            futures = [
                self._producer.send(
                    self.settings.topic_dlq,
                    value=bus_kafka.dead_letter(
                        reason=reason, source="processor", payload=payload, origin=origin
                    ),
                )
                for payload, reason, origin in dead
            ]
            self._producer.flush(timeout=30)
            for future in futures:
                future.get(timeout=0)
        except KafkaError as exc:
            # the transaction rolls back: the batch, dead letters included, is retried
            raise _DeadLettersNotSent(f"dead letters not acknowledged by Kafka: {exc!r}") from exc
        for _payload, reason, origin in dead[:5]:
            log.warning("dead-lettered a record from %s: %s", origin, reason)

    def _shutdown(self) -> None:
        self._rollups.stop()
        try:
            self.readings.close()
            self._value_added.close()
        finally:
            self._producer.close(timeout=5)
            self.runtime.close()

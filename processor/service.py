"""``greenmon processor``: Kafka readings to consumption rows in TimescaleDB.

A member of the consumer group ``processor_group``. Each polled batch is written
in one database transaction together with the next offsets of its partitions;
the Kafka commit follows. On (re)assignment the consumer seeks to the positions
stored in the database, so a crash anywhere books every reading exactly once.
When the database is down the processor keeps the batch, backs off and retries.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Sequence

import psycopg
from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from greenmon.bus import kafka as bus_kafka
from greenmon.domain import windows as alert_windows
from greenmon.domain.factors import default_factors
from greenmon.domain.reference import MeterKind
from greenmon.domain.registry import Meter
from greenmon.domain.wire import ReadingRecord, decode_record
from greenmon.errors import InvalidReading, ServiceError
from greenmon.observe import Counters, StatsReporter, reason_kind
from greenmon.settings import Settings
from greenmon.storage import db
from greenmon.storage.factor_store import electricity_methods, read_factors
from greenmon.storage.heartbeat import write_heartbeat
from greenmon.storage.registry_store import load_meters
from processor import sink
from processor.booking import Booker, late_spans, newly_stored, split_batch, split_late
from processor.rollups import RollupWorker
from processor.value_added import ValueAddedInput

log = logging.getLogger("greenmon.processor")

#: how often factors, electricity methods and meters are re-read (seconds)
BOOKER_REFRESH_S = 60.0


class _DeadLettersNotSent(Exception):
    """Kafka did not acknowledge a batch's dead letters; the batch is retried."""


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, processor: Processor) -> None:
        self._p = processor

    def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        log.info("partitions revoked: %s", sorted(tp.partition for tp in revoked))
        self._p.join_watch.restart()

    def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        log.info("partitions assigned: %s", sorted(tp.partition for tp in assigned))
        self._p.join_watch.assigned()
        self._p.seek_to_stored(assigned)


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
            "lag",
        )
        #: dead letters by kind of reason (greenmon.observe.reason_kind)
        self.reasons = Counters()
        self._stop = threading.Event()
        self._side_failures = 0  # value-added / roll-up database failures in a row
        self._side_retry_at = 0.0  # monotonic time before which they are not retried
        self._instance = f"{socket.gethostname()}:{os.getpid()}"
        self._booker = Booker(default_factors(), settings.tz, settings.grid_region)
        self._booker_loaded_at = -BOOKER_REFRESH_S
        self._value_added: ValueAddedInput | None = None
        self._rollups = RollupWorker(settings)  # its own thread: never stalls the batches
        self._grace_ms = int(settings.late_grace_s * 1000)
        self._meters: dict[str, Meter] = {}
        self._connection = db.Reconnecting(settings, sink.prepare)
        #: made in run(), once the topics exist (a consumer older than its topic's
        #: creation was seen to stall in its first group join)
        self._consumer: KafkaConsumer
        self.join_watch = bus_kafka.JoinWatch(settings.kafka_join_timeout_s)
        self._producer = bus_kafka.producer(settings, client_id=f"processor-{self._instance}")

    def _new_consumer(self) -> KafkaConsumer:
        return bus_kafka.consumer(
            self.settings, client_id=f"processor-{self._instance}",
            group_id=self.settings.processor_group,
            group_instance_id=self.settings.processor_instance_id,
        )  # fmt: skip

    def _subscribe(self) -> None:
        self.join_watch.restart()
        self._consumer.subscribe([self.settings.topic_readings], listener=_Rebalance(self))

    def _replace_stalled_consumer(self) -> None:
        """The group join did not complete: leave with this consumer, join with a new one."""
        log.warning("no partitions assigned for %.0f s: replacing the Kafka consumer",
                    self.settings.kafka_join_timeout_s)  # fmt: skip
        self.counters.add("rejoins")
        with contextlib.suppress(Exception):
            self._consumer.close(autocommit=False, timeout_ms=5000)
        self._consumer = self._new_consumer()
        self._subscribe()

    # --- database connection ----------------------------------------------------------------
    def _db(self) -> db.Conn:
        return self._connection.get()

    def _drop_db(self) -> None:
        self._connection.drop()

    def seek_to_stored(self, assigned: Sequence[TopicPartition]) -> None:
        """Resume each assigned partition where the database says it was applied up to."""
        topic = self.settings.topic_readings
        attempt = 0
        while not self._stop.is_set():
            try:
                conn = self._db()
                stored = sink.stored_positions(conn, self.settings.processor_group, topic)
                conn.rollback()
                break
            except (psycopg.Error, ServiceError) as exc:
                attempt += 1
                self.counters.add("db_retries")
                self._drop_db()
                self._backoff(
                    "database", f"reading stored positions (attempt {attempt})", attempt, exc
                )
        else:
            return
        for tp in assigned:
            if tp.partition in stored:
                self._consumer.seek(tp, stored[tp.partition])

    # --- main loop ------------------------------------------------------------------------------
    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        settings = self.settings
        bus_kafka.ensure_topics(
            settings,
            [settings.topic_readings, settings.topic_dlq, settings.topic_value_added,
             settings.topic_late, settings.topic_windows],
        )  # fmt: skip
        self._consumer = self._new_consumer()
        self._subscribe()
        self._value_added = ValueAddedInput(settings, self._producer, self.counters)
        stats = StatsReporter(log, self.counters, settings.stats_interval_s)
        self._rollups.start()
        log.info("processor running: %s -> %s", settings.kafka_url, settings.database_url)
        try:
            while not self._stop.is_set():
                polled = self._consumer.poll(
                    timeout_ms=settings.processor_poll_ms, max_records=settings.processor_batch_max
                )
                if polled:  # a transaction per part: rows grow while a big poll is booked
                    for part in split_batch(polled, settings.processor_txn_max):
                        self._process(part)
                elif self.join_watch.stalled():
                    self._replace_stalled_consumer()
                if time.monotonic() >= self._side_retry_at:  # not backing off
                    self._poll_value_added()
                self._update_lag()
                if stats.due():
                    self._heartbeat(stats.report())
        finally:
            self._shutdown()

    def _poll_value_added(self) -> None:
        if self._value_added is None:
            return
        try:
            self._value_added.poll_once(self._db())
        except (psycopg.OperationalError, psycopg.InterfaceError, ServiceError) as exc:
            delay = self._side_task_failed()
            log.warning("value-added not stored yet (database), retrying in %.1f s: %s", delay, exc)
            self._drop_db()
        else:
            self._side_failures = 0

    def _side_task_failed(self) -> float:
        """Back off the loop's value-added work after a failure (else an idle processor
        would try, and log, every poll while the database is down). Returns the delay:
        1 s doubling per failure in a row, up to the maximum."""
        self._side_failures += 1
        delay = float(min(0.5 * 2 ** min(self._side_failures, 10), self.settings.db_retry_max_s))
        self._side_retry_at = time.monotonic() + delay
        return delay

    def _process(self, polled: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        attempt = 0
        while not self._stop.is_set():
            try:
                self._apply(polled)
            except (psycopg.OperationalError, psycopg.InterfaceError, ServiceError) as exc:
                attempt += 1
                self.counters.add("db_retries")
                self._drop_db()
                self._backoff("database", f"writing a batch (attempt {attempt})", attempt, exc)
                continue
            except _DeadLettersNotSent as exc:
                attempt += 1
                self._backoff("Kafka", f"writing a batch (attempt {attempt})", attempt, exc)
                continue
            if attempt:
                log.info("batch written after %d retries; resuming", attempt)
            return
        # Stopping mid-retry: the batch is not applied and its offsets not committed, so it
        # is read again by whichever processor owns the partitions next.

    def _backoff(self, what: str, doing: str, attempt: int, exc: BaseException) -> None:
        """Wait before retry ``attempt`` (1, 2, ...) of one episode: 1 s doubling to the max."""
        delay = min(0.5 * 2 ** min(attempt, 10), self.settings.db_retry_max_s)
        log.warning("%s unavailable while %s, retrying in %.1f s: %s", what, doing, delay, exc)
        self._stop.wait(delay)

    def _apply(self, polled: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        settings = self.settings
        group, topic = settings.processor_group, settings.topic_readings
        conn = self._db()
        if time.monotonic() - self._booker_loaded_at > BOOKER_REFRESH_S:
            self._refresh_booker(conn)
        with conn.transaction():
            stored = sink.lock_positions(conn, group, topic, [tp.partition for tp in polled])
            readings: list[ReadingRecord] = []
            dead: list[tuple[bytes, str, str]] = []
            positions: dict[int, int] = {}
            consumed = 0
            for tp, records in polled.items():
                fresh = [r for r in records if r.offset >= stored.get(tp.partition, -1)]
                consumed += len(fresh)
                if records:
                    # never move a stored position back (a fenced-off processor's stale batch)
                    positions[tp.partition] = max(
                        records[-1].offset + 1, stored.get(tp.partition, 0)
                    )
                for rec in fresh:
                    try:
                        readings.append(decode_record(rec.value))
                    except InvalidReading as exc:
                        dead.append(
                            (rec.value, str(exc), f"{tp.topic}/{tp.partition}@{rec.offset}")
                        )
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
            sink.save_positions(conn, group, topic, positions)
        self._commit_kafka(topic, positions)
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

    def _commit_kafka(self, topic: str, positions: dict[int, int]) -> None:
        """Commit to Kafka what the database already holds; a failure there is harmless.

        The positions in the database are the truth (a (re)assigned processor seeks to
        them); the Kafka commit only helps tools that read the group's lag. It fails
        when the group rebalanced while the batch was written (the generation moved on),
        or while the broker is away: neither may stop the processor.
        """
        offsets = {
            TopicPartition(topic, p): OffsetAndMetadata(o, "", -1) for p, o in positions.items()
        }
        try:
            self._consumer.commit(offsets, timeout_ms=10_000)
        except KafkaError as exc:
            log.warning("Kafka offset commit failed (positions are in the database): %r", exc)

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

    def _update_lag(self) -> None:
        lag = 0
        for tp in self._consumer.assignment():
            high = self._consumer.highwater(tp)
            if high is None:
                continue
            try:
                lag += max(high - self._consumer.position(tp, timeout_ms=1000), 0)
            except Exception as exc:  # position unknown during a rebalance
                log.debug("no position for %s yet: %s", tp, exc)
        self.counters.set("lag", lag)

    def _heartbeat(self, counters: dict[str, int]) -> None:
        try:
            with db.connect(self.settings, autocommit=True) as conn:
                write_heartbeat(
                    conn, "processor", self._instance, counters, self.reasons.snapshot()
                )
        except (ServiceError, psycopg.Error) as exc:
            log.warning("heartbeat not written: %s", exc)

    def _shutdown(self) -> None:
        log.info("processor stopping: %s", self.counters.snapshot())
        self._rollups.stop()
        try:
            self._consumer.close(autocommit=False, timeout_ms=5000)
            if self._value_added is not None:
                self._value_added.close()
        finally:
            self._producer.close(timeout=5)
            self._drop_db()

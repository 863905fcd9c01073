"""Per-test pipelines on the session's real Mosquitto, Kafka-protocol broker and TimescaleDB.

Each test gets its own database, topics, consumer group and MQTT client id, so
tests cannot see each other's data, and its own collector and processor
processes started exactly as ``greenmon collector`` / ``greenmon processor``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from kafka import KafkaConsumer, TopicPartition

from greenmon import export
from greenmon.domain.registry import Registry
from greenmon.feeds.publisher import drop_session, publish
from greenmon.feeds.simulator import SimReading
from greenmon.feeds.truth import TruthRow
from greenmon.jobs.runner import settings_env, start_service
from greenmon.local.process import ManagedProcess
from greenmon.settings import Settings
from greenmon.storage import db
from greenmon.storage.heartbeat import wait_subscribed
from greenmon.storage.migrate import migrate
from greenmon.storage.registry_store import upsert_registry
from tests.integration.alert_peers import late_mailbox, mailbox, receiver  # noqa: F401 (fixtures)
from tests.plugins.services import LocalServices
from tests.prerequisites import SHARED_DATA  # noqa: F401 (re-exported: its old home)


@dataclass
class Pipeline:
    """A collector and a processor for one test, and ways to look at what they did."""

    settings: Settings
    log_dir: Path
    procs: dict[str, ManagedProcess] = field(default_factory=dict)

    def start(self, service: str) -> ManagedProcess:
        proc = start_service(service, self.settings, self.log_dir)
        self.procs[service] = proc
        if service == "collector":
            with db.connect(self.settings, autocommit=True) as conn:
                wait_subscribed(conn, proc.pid, alive=proc.alive)
        return proc

    def kill(self, service: str) -> None:
        """kill -9, as a crash would."""
        self.procs[service].kill()

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.alive():
                proc.stop(timeout=15)

    def load_registry(self, registry: Registry) -> None:
        with db.connect(self.settings) as conn:
            upsert_registry(conn, registry)

    def stored_count(self) -> int:
        with db.connect(self.settings, autocommit=True) as conn:
            row = conn.execute("SELECT count(*) FROM readings").fetchone()
        return int(row[0]) if row else 0

    def wait_stored(self, expected: int, timeout: float = 120.0) -> int:
        deadline = time.monotonic() + timeout
        count = self.stored_count()
        while count < expected and time.monotonic() < deadline:
            for name, proc in self.procs.items():
                assert proc.alive() or proc.returncode == 0, f"{name} died:\n{proc.log_tail(30)}"
            time.sleep(0.25)
            count = self.stored_count()
        return count

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Wait until the processor has applied everything in its topic (DB positions)."""
        deadline = time.monotonic() + timeout
        high = topic_highwater(self.settings, self.settings.topic_readings)
        applied: dict[int, int] = {}
        while time.monotonic() < deadline:
            with db.connect(self.settings, autocommit=True) as conn:
                rows = conn.execute(
                    "SELECT partition, next_offset FROM stream_offsets WHERE topic = %s",
                    (self.settings.topic_readings,),
                ).fetchall()
            applied = {int(p): int(o) for p, o in rows}
            if all(applied.get(p, 0) >= h for p, h in high.items()):
                return
            time.sleep(0.25)
        raise AssertionError(
            f"processor did not catch up: high {high}, applied {applied}\n{self.logs()}"
        )

    def export(
        self, entity: export.Entity, period: export.Period, first: date, last: date
    ) -> list[export.ExportRow]:
        with db.connect(self.settings) as conn:
            return list(
                export.query(
                    conn,
                    entity=entity,
                    period=period,
                    first=first,
                    last=last,
                    tz=self.settings.tz,
                )
            )

    def logs(self) -> str:
        """Each service's last 40 log lines but its periodic stats (the newest one kept)."""
        out = []
        for name, proc in self.procs.items():
            lines = log_text(proc).splitlines()
            stats = [line for line in lines if " stats " in line]
            events = [line for line in lines if " stats " not in line][-40:]
            out.append("\n".join([f"--- {name} ---", *events, *stats[-1:]]))
        return "\n".join(out)


def _consumer(settings: Settings) -> KafkaConsumer:
    return KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        enable_auto_commit=False,
        consumer_timeout_ms=1000,
    )


def topic_highwater(settings: Settings, topic: str) -> dict[int, int]:
    """High-water mark per partition, read from fetch responses (tansu's end_offsets is off)."""
    consumer = _consumer(settings)
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in parts]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            consumer.poll(timeout_ms=200, max_records=1)
            marks = {tp.partition: consumer.highwater(tp) for tp in tps}
            if all(m is not None for m in marks.values()):
                return {p: int(m) for p, m in marks.items() if m is not None}
        raise AssertionError(f"no high-water marks for {topic}")
    finally:
        consumer.close()


def read_topic(
    settings: Settings, topic: str, expected: int, timeout: float = 30.0, settle_s: float = 3.0
) -> list[Any]:
    """The records of ``topic`` (JSON-decoded): exactly ``expected`` of them, or a failure.

    Waits up to ``timeout`` for ``expected`` records, then goes on reading for ``settle_s``
    and up to the high-water mark: an ``expected + 1``-th record fails the test, so
    "N dead letters" also means "not N + 1" (``expected=0``: nothing arrives).
    """
    consumer = _consumer(settings)
    out: list[Any] = []
    try:
        deadline = time.monotonic() + timeout
        while not consumer.partitions_for_topic(topic) and time.monotonic() < deadline:
            time.sleep(0.2)
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        settled: float | None = None
        while settled is None or time.monotonic() < settled or not at_end(consumer, tps):
            for records in consumer.poll(timeout_ms=300).values():
                out.extend(json.loads(r.value) for r in records)
            assert len(out) <= expected, f"{len(out)} records in {topic}, not {expected}: {out}"
            now = time.monotonic()
            if settled is None and (len(out) == expected or now > deadline):
                assert len(out) == expected, f"{len(out)} of {expected} records in {topic}: {out}"
                settled = now + settle_s
            if settled is not None and now > settled + 30:
                raise AssertionError(f"{topic}: no high-water mark after {settle_s + 30} s")
    finally:
        consumer.close()
    return out


def at_end(consumer: KafkaConsumer, tps: list[TopicPartition]) -> bool:
    """Whether the consumer has read every partition up to its high-water mark."""
    for tp in tps:
        high = consumer.highwater(tp)
        if high is None or consumer.position(tp) < high:
            return False
    return True


def hold(what: str, check: Callable[[], object], seconds: float, every: float = 0.2) -> None:
    """A negative check ("nothing more arrives"): ``check`` (which asserts) is re-read
    every ``every`` s until ``seconds`` have passed; the first failing read fails."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            check()
        except AssertionError as exc:
            raise AssertionError(f"{what}: {exc}") from exc
        if time.monotonic() >= deadline:
            return
        time.sleep(every)


def fresh_settings(local_services: LocalServices, prefix: str = "t") -> Settings:
    """Settings on the session's services with a fresh database (migrated) and topics."""
    tag = uuid.uuid4().hex[:10]
    admin = local_services.settings()
    with psycopg.connect(admin.database_dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{prefix}_{tag}"')
    base = admin.database_url.rsplit("/", 1)[0]
    settings = local_services.settings(
        database_url=f"{base}/{prefix}_{tag}",
        topic_readings=f"readings-{tag}",
        topic_dlq=f"dlq-{tag}",
        topic_value_added=f"value-added-{tag}",
        topic_late=f"late-{tag}",
        topic_windows=f"windows-{tag}",
        processor_group=f"processor-{tag}",
        collector_client_id=f"collector-{tag}",
        kafka_session_timeout_ms=6000,
        kafka_join_timeout_s=15.0,
        stats_interval_s=1.0,
        processor_poll_ms=100,
        rollup_refresh_s=1.0,
    )
    migrate(settings)
    return settings


@pytest.fixture
def pipeline_settings(local_services: LocalServices) -> Settings:
    """Settings for one test: a fresh database (migrated) and fresh topics."""
    return fresh_settings(local_services)


@pytest.fixture
def pipeline(pipeline_settings: Settings, tmp_path: Path) -> Iterator[Pipeline]:
    p = Pipeline(pipeline_settings, tmp_path / "logs")
    try:
        yield p
    finally:
        p.stop_all()
        # the collector's persistent session would otherwise stay on the session's broker
        # and queue every later test's readings (a growing database Mosquitto rewrites
        # every AUTOSAVE_CHANGES changes)
        s = p.settings
        password = s.mqtt_password.get_secret_value() if s.mqtt_password else None
        drop_session(s, s.collector_client_id, s.mqtt_username, password)


# --- helpers for fault-injection tests (test_faults.py, test_hostile_input.py) ---------------


class PacedFeed:
    """Publishes ``readings`` in a background thread, paced to last about ``seconds``.

    With ``rounds`` > 1 the readings are cut into that many consecutive parts: the first
    is published at once, each further one when the test calls ``release()``. A test
    injects a fault while a part flows and releases the next part after it, so there is
    data in flight at every fault however slow the machine is. Each part is paced on its
    readings' timestamps, at the speed that makes the whole feed last ``seconds``.
    ``join()`` releases what is left, waits until every reading is PUBACKed and re-raises
    the publisher's error.
    """

    def __init__(
        self,
        readings: list[SimReading],
        settings: Settings,
        seconds: float,
        client_id: str,
        *,
        rounds: int = 1,
    ) -> None:
        self.readings = readings
        first, last = readings[0].ts.timestamp(), readings[-1].ts.timestamp()
        self.speed = max(last - first, 1.0) / seconds
        self.settings = settings
        self.client_id = client_id
        self.sent = 0
        self.published = 0  # progress, as the publisher reports it
        self.error: BaseException | None = None
        size = -(-len(readings) // rounds)
        self._parts = [readings[i : i + size] for i in range(0, len(readings), size)]
        self._gates = [threading.Event() for _ in self._parts]
        self._gates[0].set()
        self._waiting = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"feed-{client_id}", daemon=True)

    def _progress(self, count: int) -> None:
        self.published = count

    def _paced(self) -> Iterator[SimReading]:
        for part, gate in zip(self._parts, self._gates, strict=True):
            if not gate.is_set():
                self._waiting.set()
                gate.wait()
                self._waiting.clear()
            origin: tuple[float, float] | None = None
            for reading in part:
                sim = reading.ts.timestamp()
                if origin is None:
                    origin = (sim, time.monotonic())
                delay = origin[1] + (sim - origin[0]) / self.speed - time.monotonic()
                if delay > 0.001:
                    time.sleep(delay)
                yield reading

    def _run(self) -> None:
        try:
            self.sent = publish(
                self._paced(), self.settings, client_id=self.client_id, progress=self._progress
            )
        except BaseException as exc:
            self.error = exc

    def start(self) -> PacedFeed:
        self._thread.start()
        return self

    def release(self) -> None:
        """Let the next part of the feed go."""
        for gate in self._gates:
            if not gate.is_set():
                gate.set()
                return

    def released(self) -> int:
        """How many readings the parts released so far hold."""
        return sum(len(p) for p, g in zip(self._parts, self._gates, strict=True) if g.is_set())

    def waiting(self) -> bool:
        """True while the feed has published all it may and waits for ``release()``."""
        return self._waiting.is_set()

    def running(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout: float = 120.0) -> int:
        for gate in self._gates:
            gate.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError(f"feed {self.client_id} still publishing after {timeout} s")
        if self.error is not None:
            raise AssertionError(f"feed {self.client_id} failed: {self.error!r}") from self.error
        return self.sent


def assert_matches_truth(pipeline: Pipeline, truth: list[TruthRow], first: date, days: int) -> None:
    """Per meter per local day, stored consumption equals the truth (rel. error <= 1e-9)."""
    rows = pipeline.export("meter", "day", first, first + timedelta(days=days - 1))
    stored = {(r.id, r.period_start.date()): r for r in rows}
    for t in truth:
        row = stored.get((t.meter_id, t.day))
        assert row is not None, f"nothing stored for {t.meter_id} on {t.day}"
        assert row.unit == t.unit
        assert row.quantity is not None
        expected = float(t.quantity)
        assert abs(row.quantity - expected) <= 1e-9 * abs(expected), (
            f"{t.meter_id} {t.day}: stored {row.quantity!r}, truth {t.quantity}"
        )
    assert set(stored) == {(t.meter_id, t.day) for t in truth}


def stored_readings(pipeline: Pipeline) -> dict[tuple[str, int], float]:
    """{(meter, ts in ms): value} of the stored readings; asserts no key is stored twice."""
    with db.connect(pipeline.settings, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT meter_id, (extract(epoch FROM ts) * 1000)::bigint, value FROM readings"
        ).fetchall()
    stored = {(str(m), int(t)): float(v) for m, t, v in rows}
    assert len(stored) == len(rows)
    return stored


def assert_readings_once(pipeline: Pipeline, readings: list[SimReading]) -> None:
    """Every published reading is in ``readings`` exactly once, with its value."""
    sent = {(r.meter_id, round(r.ts.timestamp() * 1000)): r.value for r in readings}
    assert stored_readings(pipeline) == sent


def rss_mib(pid: int) -> float:
    """Resident set size of ``pid`` (VmRSS), in MiB; 0 when the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def log_text(proc: ManagedProcess) -> str:
    """The whole log file of a process started by a test."""
    if proc.log_file is None:
        return ""
    return proc.log_file.read_text("utf-8", "replace")


def run_cli(settings: Settings, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``greenmon ARGS`` as a user runs it, with exactly ``settings`` in its environment."""
    done = subprocess.run(
        [sys.executable, "-m", "greenmon.cli", *args],
        env={**os.environ, **settings_env(settings)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if check:
        assert done.returncode == 0, f"greenmon {' '.join(args)}: {done.stderr[-3000:]}"
    return done

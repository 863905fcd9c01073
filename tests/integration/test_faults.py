"""Fault injection on the real services: crashes, a database outage, broker restarts.

Each test runs a paced simulated feed in a background thread, injects its fault while
readings flow (asserted: fewer readings stored at the fault than published in all),
waits for every reading and then compares the stored totals per meter per local day
with the simulator's ground truth (relative error <= 1e-9), and checks that every
reading is stored exactly once.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date

import psycopg
import pytest
from kafka import KafkaConsumer, TopicPartition

from greenmon.domain.registry import Registry
from greenmon.feeds.fleet import build_registry
from greenmon.feeds.simulator import SimReading, generate
from greenmon.feeds.truth import TruthRow, truth_rows
from greenmon.jobs.runner import start_service
from greenmon.local.process import ManagedProcess
from greenmon.settings import Settings
from greenmon.storage import db
from tests.integration.conftest import (
    PacedFeed,
    Pipeline,
    assert_matches_truth,
    assert_readings_once,
    log_text,
)
from tests.plugins.services import LocalServices, ServiceHandle

pytestmark = pytest.mark.integration

START = date(2025, 3, 1)
DAYS = 2


def _fleet(seed: int) -> tuple[Registry, list[SimReading], list[TruthRow]]:
    registry = build_registry(3, 4, seed)
    readings = list(generate(registry, START, DAYS, 900, seed))
    truth = truth_rows(registry, START, DAYS, 900, seed)
    return registry, readings, truth


def _wait_until(what: str, check: Callable[[], bool], timeout: float, pipeline: Pipeline) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{pipeline.logs()}")
        time.sleep(0.1)


def _grew(pipeline: Pipeline, since: int) -> Callable[[], bool]:
    return lambda: pipeline.stored_count() > since


def _more(feed: PacedFeed, since: int) -> Callable[[], bool]:
    return lambda: feed.published > since


def _finish(pipeline: Pipeline, feed: PacedFeed, readings: list[SimReading]) -> None:
    """Wait for the feed and for every reading, then compare with the truth."""
    assert feed.join() == len(readings)
    stored = pipeline.wait_stored(len(readings), timeout=120)
    assert stored == len(readings), pipeline.logs()
    pipeline.wait_idle()
    assert_readings_once(pipeline, readings)


def _alive(pipeline: Pipeline, *names: str) -> None:
    for name in names:
        proc = pipeline.procs[name]
        assert proc.alive(), f"{name} died:\n{proc.log_tail(40)}"


def _heartbeat_counter(pipeline: Pipeline, service: str, pid: int, counter: str) -> int:
    with db.connect(pipeline.settings, autocommit=True) as conn:
        row = conn.execute(
            "SELECT counters FROM service_heartbeats WHERE service = %s AND instance LIKE %s",
            (service, f"%:{pid}"),
        ).fetchone()
    if row is None:
        return 0
    counters = row[0] if isinstance(row[0], dict) else json.loads(row[0])
    return int(counters.get(counter, 0))


def test_processor_kill_9_five_times_while_data_flows(pipeline: Pipeline) -> None:
    # A restarted member waits for the killed one's session to expire, then tansu adds its
    # 3 s initial rebalance delay: about 7 s a kill with a 3 s session.
    pipeline.settings = pipeline.settings.model_copy(update={"kafka_session_timeout_ms": 3000})
    registry, readings, truth = _fleet(seed=21)
    pipeline.load_registry(registry)
    pipeline.start("processor")
    pipeline.start("collector")
    pauses = (0.3, 1.2, 0.0, 0.7, 0.4)
    feed = PacedFeed(
        readings, pipeline.settings, 36, "feed-proc-kill", rounds=len(pauses) + 1
    ).start()
    # each incarnation stores something before it is killed, at a varying moment after
    last = 0
    for kill, pause in enumerate(pauses):
        _wait_until(
            f"the processor to store readings before kill {kill + 1}",
            _grew(pipeline, last),
            60,
            pipeline,
        )
        time.sleep(pause)
        last = pipeline.stored_count()
        assert last < len(readings), f"kill {kill + 1} came after the feed was all stored"
        pipeline.kill("processor")
        pipeline.start("processor")
        feed.release()  # the next part: the new incarnation has a backlog to catch up
    _finish(pipeline, feed, readings)
    assert_matches_truth(pipeline, truth, START, DAYS)
    _alive(pipeline, "processor", "collector")


def test_collector_kill_9_three_times_while_data_flows(pipeline: Pipeline) -> None:
    registry, readings, truth = _fleet(seed=22)
    pipeline.load_registry(registry)
    pipeline.start("processor")
    pipeline.start("collector")
    feed = PacedFeed(readings, pipeline.settings, 16, "feed-coll-kill", rounds=4).start()
    published = 0
    for kill in range(3):
        _wait_until(
            f"readings published before kill {kill + 1}", _more(feed, published), 30, pipeline
        )
        time.sleep(1.0)  # the part is 4 s long: the collector dies while it flows
        published = feed.published
        assert published < len(readings)
        pipeline.kill("collector")
        pipeline.start("collector")
        feed.release()
    _finish(pipeline, feed, readings)
    assert_matches_truth(pipeline, truth, START, DAYS)
    _alive(pipeline, "processor", "collector")


@contextmanager
def _down(handle: ServiceHandle) -> Iterator[None]:
    """Stop a session service for the block; it is started again whatever happens."""
    handle.stop()
    try:
        yield
    finally:
        handle.start()


_BACKOFF = re.compile(
    r"database unavailable while writing a batch \(attempt (\d+)\), retrying in ([0-9.]+) s"
)


def _outages(log: str) -> list[list[float]]:
    """The back-off delays the processor logged, one list per outage (attempt 1 starts one)."""
    out: list[list[float]] = []
    for attempt, delay in _BACKOFF.findall(log):
        if attempt == "1":
            out.append([])
        out[-1].append(float(delay))
    return out


_SIDE_TASKS = re.compile(r"value-added not stored yet|roll-ups not refreshed")


def test_database_down_30_s_processor_backs_off_and_catches_up(
    pipeline: Pipeline, local_services: LocalServices
) -> None:
    """The processor pauses, retries with back-off, says so, catches up and never crashes.

    A short outage first (idle at first: nothing to write; then readings arrive), then
    the 30 s one with readings arriving: each backs off from the shortest delay again.
    The collector, which also uses the database, survives both.
    """
    # a short ceiling so that catching up after the outage does not wait 30 s
    pipeline.settings = pipeline.settings.model_copy(update={"db_retry_max_s": 4.0})
    registry, readings, truth = _fleet(seed=23)
    pipeline.load_registry(registry)
    pipeline.start("processor")
    pipeline.start("collector")
    feed = PacedFeed(readings, pipeline.settings, 24, "feed-db-down", rounds=3).start()
    _wait_until(
        "the first part stored",
        lambda: feed.waiting() and pipeline.stored_count() == feed.released(),
        60,
        pipeline,
    )
    with _down(local_services.postgres):
        time.sleep(3.0)  # idle: only the loop's own database work fails
        feed.release()
        time.sleep(3.0)  # a batch to write
        _alive(pipeline, "processor", "collector")
    before = pipeline.stored_count()
    _wait_until("the processor to catch up", _grew(pipeline, before), 30, pipeline)
    before = pipeline.stored_count()
    assert 0 < before < len(readings)
    with _down(local_services.postgres):
        feed.release()  # the rest flows into Kafka while the database is down
        time.sleep(30.0)
        _alive(pipeline, "processor", "collector")
    _finish(pipeline, feed, readings)
    assert_matches_truth(pipeline, truth, START, DAYS)
    _alive(pipeline, "processor", "collector")
    # the processor said what it was doing, backed off, and said when it resumed
    text = log_text(pipeline.procs["processor"])
    outages = _outages(text)
    assert len(outages) == 2, outages
    short, long = outages
    assert short[:2] == [1.0, 2.0], short
    assert long[:4] == [1.0, 2.0, 4.0, 4.0], long
    assert len(long) >= 8 and set(long[3:]) == {4.0}, long
    assert text.count("batch written after") == 2, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    # no flood of warnings from work that is retried every poll (~10 a second)
    assert len(_SIDE_TASKS.findall(text)) <= 20, text[-3000:]
    collector_log = log_text(pipeline.procs["collector"])
    assert "Traceback" not in collector_log, collector_log[-3000:]


@pytest.mark.parametrize("service", ["processor", "collector"])
def test_database_shutdown_in_the_middle_of_a_heartbeat(
    pipeline: Pipeline, local_services: LocalServices, service: str
) -> None:
    """The database stops while a service's heartbeat query runs: the service survives.

    The test locks the heartbeat table, so the service's next heartbeat waits inside the
    server on an open connection; the fast shutdown then terminates that connection.
    """
    registry, _, _ = _fleet(seed=28)
    pipeline.load_registry(registry)
    proc = pipeline.start(service)
    if service == "processor":  # it writes its first heartbeat after the first interval
        _wait_until(
            "the first heartbeat",
            lambda: (
                _heartbeat_counter(pipeline, "processor", proc.pid, "lag") >= 0
                and _has_heartbeat(pipeline, proc.pid)
            ),
            30,
            pipeline,
        )
    waiting = (
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        "AND query LIKE '%%service_heartbeats%%' AND pid <> pg_backend_pid()"
    )
    try:
        with db.connect(pipeline.settings) as lock:
            lock.execute("LOCK TABLE service_heartbeats IN ACCESS EXCLUSIVE MODE")
            with db.connect(pipeline.settings, autocommit=True) as probe:
                _wait_until(
                    f"the {service}'s heartbeat to wait on the lock",
                    lambda: _scalar(probe, waiting) > 0,
                    30,
                    pipeline,
                )
            local_services.postgres.stop()
    except psycopg.OperationalError:
        pass  # the lock's own connection is terminated by the shutdown too
    finally:
        local_services.postgres.start()
    time.sleep(3.0)
    assert proc.alive(), f"{service} died:\n{proc.log_tail(40)}"
    assert "heartbeat not written" in log_text(proc)


def _has_heartbeat(pipeline: Pipeline, pid: int) -> bool:
    with db.connect(pipeline.settings, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM service_heartbeats WHERE instance LIKE %s", (f"%:{pid}",)
        ).fetchone()
    return bool(row and row[0])


def _scalar(conn: db.Conn, sql: str) -> int:
    row = conn.execute(sql).fetchone()
    return int(row[0]) if row else 0


def test_mqtt_broker_graceful_restart_loses_nothing(
    pipeline: Pipeline, local_services: LocalServices
) -> None:
    registry, readings, truth = _fleet(seed=24)
    pipeline.load_registry(registry)
    pipeline.start("processor")
    pipeline.start("collector")
    feed = PacedFeed(readings, pipeline.settings, 15, "feed-mqtt", rounds=3).start()
    time.sleep(3.0)
    assert 0 < feed.published < len(readings)
    local_services.mqtt.restart()
    feed.release()
    published = feed.published
    _wait_until("the feed to publish again", _more(feed, published), 30, pipeline)
    time.sleep(2.0)
    assert feed.published < len(readings)
    local_services.mqtt.restart()  # once more, after the clients reconnected
    feed.release()
    _finish(pipeline, feed, readings)
    assert_matches_truth(pipeline, truth, START, DAYS)
    _alive(pipeline, "processor", "collector")


_TANSU_BUG = (
    "BUG (tansu 0.6, s3 storage): a produce batch in flight when the broker stops is lost, "
    "yet the idempotent producer's retry is answered DUPLICATE_SEQUENCE_NUMBER, which "
    "kafka-python (like the Java client) takes as success; the collector then acknowledges "
    "the MQTT messages. Workaround in greenmon/bus/kafka.py: enable_idempotence=False with "
    "max_in_flight_requests_per_connection=1 (duplicates are harmless downstream)"
)


def _topic_keys(settings: Settings) -> set[tuple[str, int]]:
    """(meter, ts_ms) of every record in the readings topic."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        enable_auto_commit=False,
        consumer_timeout_ms=3000,
    )
    try:
        parts = consumer.partitions_for_topic(settings.topic_readings) or set()
        tps = [TopicPartition(settings.topic_readings, p) for p in parts]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        return {(str(d["m"]), int(d["ts"])) for d in (json.loads(r.value) for r in consumer)}
    finally:
        consumer.close()


def test_kafka_broker_restarted_and_killed_with_durable_storage_loses_nothing(
    pipeline: Pipeline, durable_kafka: ServiceHandle
) -> None:
    pipeline.settings = pipeline.settings.model_copy(update={"kafka_url": durable_kafka.url})
    registry, readings, truth = _fleet(seed=25)
    pipeline.load_registry(registry)
    pipeline.start("processor")
    collector = pipeline.start("collector")
    feed = PacedFeed(readings, pipeline.settings, 21, "feed-kafka", rounds=3).start()
    _wait_until("readings stored", lambda: pipeline.stored_count() > 0, 30, pipeline)
    time.sleep(2.0)
    before = pipeline.stored_count()
    assert 0 < before < len(readings)
    durable_kafka.restart()  # graceful
    feed.release()
    _wait_until("readings stored again", _grew(pipeline, before), 30, pipeline)
    time.sleep(2.0)
    before = pipeline.stored_count()
    assert before < len(readings)
    durable_kafka.kill()  # a crash
    time.sleep(1.0)
    durable_kafka.start()
    feed.release()
    assert feed.join() == len(readings)
    # everything published is acknowledged by the collector (after Kafka acknowledged it),
    # and the processor applied everything the topic holds
    _wait_until(
        "the collector to acknowledge every reading",
        lambda: _heartbeat_counter(pipeline, "collector", collector.pid, "acked") >= len(readings),
        60,
        pipeline,
    )
    pipeline.wait_idle()
    sent = {(r.meter_id, round(r.ts.timestamp() * 1000)) for r in readings}
    if pipeline.stored_count() < len(readings):
        in_topic = _topic_keys(pipeline.settings)
        lost = sent - in_topic
        # anything that reached the topic and is not stored is greenmon's fault: fail below
        if lost:
            pytest.xfail(f"{_TANSU_BUG}; {len(lost)} acknowledged readings not in the topic")
    _finish(pipeline, feed, readings)
    assert_matches_truth(pipeline, truth, START, DAYS)
    _alive(pipeline, "processor", "collector")


_ASSIGNED = re.compile(r"partitions assigned: \[([0-9, ]*)\]")


def _assignments(proc: ManagedProcess) -> list[set[int]]:
    return [{int(p) for p in m.split(",") if p.strip()} for m in _ASSIGNED.findall(log_text(proc))]


def test_two_processors_rebalance_mid_batch_then_one_killed(pipeline: Pipeline) -> None:
    """Two processors in one group: a rebalance while a batch is held, then a kill -9.

    The test first holds the group's stored positions locked, so the running processor
    blocks inside its batch transaction while a second one joins and the group
    rebalances; released, the first commits (fenced by the positions) and must not
    crash on the Kafka commit. Then the second is killed: its partitions move back.
    """
    registry, readings, truth = _fleet(seed=26)
    pipeline.load_registry(registry)
    first = pipeline.start("processor")
    pipeline.start("collector")
    feed = PacedFeed(readings, pipeline.settings, 24, "feed-group", rounds=3).start()
    partitions = pipeline.settings.kafka_partitions
    _wait_until("readings stored", lambda: pipeline.stored_count() > 0, 30, pipeline)
    with db.connect(pipeline.settings) as lock:
        lock.execute("SELECT * FROM stream_offsets FOR UPDATE").fetchall()
        held = pipeline.stored_count()
        second = start_service("processor", pipeline.settings, pipeline.log_dir, name="processor2")
        pipeline.procs["processor2"] = second
        _wait_until(
            "the second processor to ask to join",
            lambda: "partitions revoked: []" in log_text(second),
            30,
            pipeline,
        )
        time.sleep(2.0)
        assert pipeline.stored_count() == held, "the lock did not hold the batch"
        lock.rollback()
    feed.release()

    def both_store() -> bool:
        return all(
            _heartbeat_counter(pipeline, "processor", p.pid, "stored") > 0 for p in (first, second)
        )

    def split() -> bool:
        mine, theirs = _assignments(first), _assignments(second)
        if not mine or not theirs:
            return False
        return bool(mine[-1] and theirs[-1] and not mine[-1] & theirs[-1]) and (
            len(mine[-1] | theirs[-1]) == partitions
        )

    _wait_until("both processors to store readings", both_store, 45, pipeline)
    _wait_until("the partitions to be split between the two", split, 30, pipeline)
    assert pipeline.stored_count() < len(readings)
    pipeline.kill("processor2")
    _wait_until(
        "the survivor to take every partition",
        lambda: len(_assignments(first)[-1]) == partitions,
        30,
        pipeline,
    )
    del pipeline.procs["processor2"]  # dead on purpose; wait_stored checks the rest
    feed.release()
    _finish(pipeline, feed, readings)
    assert_matches_truth(pipeline, truth, START, DAYS)
    _alive(pipeline, "processor", "collector")

"""Issue 11.1: stored positions after the Kafka log was reset (broker restarted on empty
memory storage), as a new user met it: readings stored, collector and processor stopped,
the broker restarted, both started again, 50 more readings -> all 100 stored."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from dashboards.pipeline import LOG_RESETS_SQL
from greenmon.domain.reference import MeterKind
from greenmon.domain.registry import Registry
from greenmon.feeds.fleet import build_registry
from greenmon.feeds.publisher import publish
from greenmon.feeds.simulator import SimReading, generate
from greenmon.local.kafka_broker import start_tansu
from greenmon.local.ports import free_port
from greenmon.settings import Settings
from greenmon.storage import db
from tests.integration.conftest import Pipeline, assert_readings_once, log_text
from tests.integration.faults import heartbeat_counter, wait_until
from tests.plugins.services import ServiceHandle

pytestmark = pytest.mark.integration

RESET_LINE = "reading the partition again from its start"


@pytest.fixture
def memory_kafka(services_dir: Path) -> Iterator[ServiceHandle]:
    """A tansu of this test's own on memory storage: a restart starts an empty log."""
    port = free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="kafka-mem-", dir=services_dir))

    def stop(proc: object) -> None:
        if handle.process is not None and handle.process.alive():
            handle.process.stop(timeout=10)

    handle = ServiceHandle(
        "kafka-mem", f"kafka://127.0.0.1:{port}", port, data_dir,
        lambda: start_tansu(port, data_dir, cwd=data_dir, die_with_parent=True), stop,
    )  # fmt: skip
    try:
        handle.start()
        yield handle
    finally:
        stop(None)


def one_interval_meter(seed: int) -> tuple[Registry, list[SimReading]]:
    """A one-meter registry (an interval meter) and 100 of its readings, in time order."""
    fleet = build_registry(3, 1, seed)
    meter = next(m for m in fleet.meters if m.kind is MeterKind.INTERVAL)
    enterprise = next(e for e in fleet.enterprises if e.enterprise_id == meter.enterprise_id)
    registry = Registry((enterprise,), (meter,))
    readings = list(generate(registry, date(2025, 3, 1), 2, 900, seed))
    return registry, readings[:100]


def run_until_stored(pipeline: Pipeline, readings: list[SimReading], expected: int) -> None:
    publish(readings, pipeline.settings, client_id=f"reset-{uuid.uuid4().hex[:6]}")
    assert pipeline.wait_stored(expected, timeout=90) == expected, pipeline.logs()


@pytest.mark.parametrize("identity", ["stored", "unknown"])
def test_broker_restarted_on_empty_storage_then_every_new_reading_is_stored(
    pipeline_settings: Settings, memory_kafka: ServiceHandle, tmp_path: Path, identity: str
) -> None:
    """``stored``: positions carry the topic id (tansu gives a recreated topic a new one).
    ``unknown``: positions stored before migration 0011 (no identity): the high-water
    mark of the new, empty log is below the stored position, which proves the reset."""
    settings = pipeline_settings.model_copy(update={"kafka_url": memory_kafka.url})
    pipeline = Pipeline(settings, tmp_path / "logs")
    registry, readings = one_interval_meter(seed=41)
    try:
        pipeline.load_registry(registry)
        pipeline.start("processor")
        pipeline.start("collector")
        run_until_stored(pipeline, readings[:50], 50)
        pipeline.wait_idle()
        pipeline.stop_all()
        if identity == "unknown":
            with db.connect(settings, autocommit=True) as conn:
                conn.execute("UPDATE stream_offsets SET cluster_id = NULL, topic_id = NULL")
        memory_kafka.restart()  # every topic, record and committed offset is gone

        processor = pipeline.start("processor")
        pipeline.start("collector")
        if identity == "unknown":
            # only an assigned processor sees the empty log's end below its position
            wait_until("the log reset noticed", lambda: RESET_LINE in log_text(processor),
                       60, pipeline)  # fmt: skip
        run_until_stored(pipeline, readings[50:], 100)
        pipeline.wait_idle()
        assert_readings_once(pipeline, readings)

        text = log_text(processor)
        line = next(x for x in text.splitlines() if RESET_LINE in x)
        assert " ERROR " in line and settings.topic_readings in line
        assert "stored offset 50" in line, line
        reason = "topic id changed" if identity == "stored" else "beyond the high-water mark"
        assert reason in line, line
        wait_until("log_resets in the heartbeat",
                   lambda: heartbeat_counter(pipeline, "processor", processor.pid,
                                             "log_resets") >= 1, 30, pipeline)  # fmt: skip
        with db.connect(settings, autocommit=True) as conn:
            row = conn.execute(LOG_RESETS_SQL).fetchone()
        assert row is not None and row[0] >= 1  # the pipeline dashboard's panel
    finally:
        pipeline.stop_all()

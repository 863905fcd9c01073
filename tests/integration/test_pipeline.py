"""Simulator -> Mosquitto -> collector -> Kafka -> processor -> TimescaleDB, on real services."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from greenmon.domain.registry import Registry
from greenmon.feeds.publisher import publish
from greenmon.feeds.simulator import SimReading
from greenmon.feeds.truth import TruthRow
from greenmon.settings import Settings
from greenmon.storage import db
from tests.integration.conftest import Pipeline, assert_matches_truth, read_topic
from tests.integration.faults import assert_books_match_truth, fleet

pytestmark = pytest.mark.integration

START = date(2025, 1, 1)
DAYS = 3


def _fleet(seed: int) -> tuple[Registry, list[SimReading], list[TruthRow]]:
    return fleet(seed, START, DAYS)


def test_simulated_fleet_matches_ground_truth(pipeline: Pipeline) -> None:
    registry, readings, truth = _fleet(seed=7)
    pipeline.load_registry(registry)
    pipeline.start("processor")
    pipeline.start("collector")
    sent = publish(readings, pipeline.settings, client_id="sim-truth")
    assert sent == len(readings)
    assert pipeline.wait_stored(len(readings)) == len(readings), pipeline.logs()
    pipeline.wait_idle()
    assert len(truth) == 12 * DAYS
    assert_matches_truth(pipeline, truth, START, DAYS)
    assert_books_match_truth(pipeline, registry, truth)
    # the enterprise roll-up is the sum of its meters' tce, computed here independently
    per_meter = pipeline.export("meter", "month", START, START + timedelta(days=DAYS - 1))
    per_enterprise = pipeline.export("enterprise", "month", START, START + timedelta(days=DAYS - 1))
    owner = {m.meter_id: m.enterprise_id for m in registry.meters}
    expected: dict[str, Decimal] = defaultdict(Decimal)
    for r in per_meter:
        if r.energy_tce is not None:
            expected[owner[r.id]] += Decimal(repr(r.energy_tce))
    for r in per_enterprise:
        assert r.energy_tce == pytest.approx(float(expected[r.id]), rel=1e-12)
    assert {r.id for r in per_enterprise} == {e.enterprise_id for e in registry.enterprises}


def _raw_publish(settings: Settings, messages: list[tuple[str, bytes]]) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="raw-publisher")
    host, port = settings.mqtt_host_port
    client.connect(host, port)
    client.loop_start()
    try:
        for topic, payload in messages:
            client.publish(topic, payload, qos=1).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def test_bad_input_is_dead_lettered_and_pipeline_keeps_going(pipeline: Pipeline) -> None:
    registry, readings, _ = _fleet(seed=3)
    pipeline.load_registry(registry)
    pipeline.start("processor")
    pipeline.start("collector")
    good = readings[0]
    other = next(r for r in readings if r.enterprise_id != good.enterprise_id)
    prefix = pipeline.settings.mqtt_topic_prefix
    bad = [
        (good.topic(prefix), b'{"ts": "2025-01-01T00:00:00+08:00", "value": '),
        (f"{prefix}/{good.enterprise_id}/NO-SUCH-METER/reading", good.payload()),
        (f"{prefix}/{other.enterprise_id}/{good.meter_id}/reading", good.payload()),
    ]
    _raw_publish(pipeline.settings, bad)
    publish(readings, pipeline.settings, client_id="sim-after-bad")
    dead = read_topic(pipeline.settings, pipeline.settings.topic_dlq, expected=3)
    assert len(dead) == 3
    by_origin = {d["origin"]: d for d in dead}
    assert "not valid JSON" in by_origin[bad[0][0]]["reason"]
    assert "unknown meter 'NO-SUCH-METER'" in by_origin[bad[1][0]]["reason"]
    assert (
        f"does not belong to enterprise '{other.enterprise_id}'" in by_origin[bad[2][0]]["reason"]
    )
    assert by_origin[bad[1][0]]["payload"] == good.payload().decode()
    assert pipeline.wait_stored(len(readings)) == len(readings), pipeline.logs()
    assert pipeline.procs["collector"].alive() and pipeline.procs["processor"].alive()
    # counted by kind of reason for the pipeline-health dashboard
    expected = {
        "payload is not valid JSON: Expecting value: line N column N (char N)": 1,
        "unknown meter …: not in the registry": 1,
        "meter … does not belong to enterprise …": 1,
    }
    deadline = time.monotonic() + 20
    while True:
        with db.connect(pipeline.settings) as conn:
            rows = conn.execute(
                "SELECT reason, count FROM dead_letter_reasons WHERE service = 'collector'"
            ).fetchall()
        got = {str(r): int(c) for r, c in rows}
        if got == expected or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert got == expected


def test_kill_9_of_collector_and_processor_loses_nothing_books_nothing_twice(
    pipeline: Pipeline,
) -> None:
    registry, readings, truth = _fleet(seed=11)
    pipeline.load_registry(registry)
    pipeline.start("processor")
    pipeline.start("collector")
    span_s = DAYS * 86400
    done = threading.Event()

    def feed() -> None:
        # paced so the whole feed takes about 12 s of wall time, crashes fall inside it
        publish(readings, pipeline.settings, speed=span_s / 12, client_id="sim-crash")
        done.set()

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    for service, at in (("collector", 3.0), ("processor", 6.0), ("processor", 8.0)):
        time.sleep(max(0.0, at - 1.0) if service == "collector" else 1.0)
        before = pipeline.stored_count()
        pipeline.kill(service)
        time.sleep(1.0)
        pipeline.start(service)
        assert before < len(readings), "the crash must happen while data is flowing"
    thread.join(timeout=120)
    assert done.is_set()
    assert pipeline.wait_stored(len(readings)) == len(readings), pipeline.logs()
    pipeline.wait_idle()
    assert len(truth) == 12 * DAYS
    assert_matches_truth(pipeline, truth, START, DAYS)
    assert_books_match_truth(pipeline, registry, truth)

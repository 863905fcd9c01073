"""Gateway batches through the real pipeline: good readings stored once, bad ones dead-lettered."""

from __future__ import annotations

import json
import threading
import time
from datetime import date
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from greenmon.domain.registry import Registry
from greenmon.feeds.fleet import build_registry
from greenmon.feeds.simulator import SimReading, generate
from greenmon.feeds.truth import TruthRow, truth_rows
from greenmon.settings import Settings
from greenmon.storage import db
from tests.integration.conftest import Pipeline, assert_matches_truth, read_topic
from tests.integration.faults import assert_books_match_truth

pytestmark = pytest.mark.integration

START = date(2025, 1, 1)


def _fleet(seed: int, days: int) -> tuple[Registry, list[SimReading], list[TruthRow]]:
    registry = build_registry(2, 3, seed)
    return (
        registry,
        list(generate(registry, START, days, 900, seed)),
        truth_rows(registry, START, days, 900, seed),
    )


def _item(r: SimReading) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(r.payload())
    doc["meter"] = r.meter_id
    return doc


def _batches(
    prefix: str, readings: list[SimReading], size: int
) -> list[tuple[str, list[dict[str, Any]]]]:
    """Each enterprise's readings, in order, as batches of ``size`` on its batch topic."""
    by_enterprise: dict[str, list[dict[str, Any]]] = {}
    for r in readings:
        by_enterprise.setdefault(r.enterprise_id, []).append(_item(r))
    out = []
    for enterprise_id, items in by_enterprise.items():
        topic = f"{prefix}/{enterprise_id}/batch"
        out += [(topic, items[i : i + size]) for i in range(0, len(items), size)]
    return out


def _publish(settings: Settings, messages: list[tuple[str, bytes]], pause_s: float = 0.0) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"gateway-{time.monotonic_ns()}")
    host, port = settings.mqtt_host_port
    client.connect(host, port)
    client.loop_start()
    try:
        for topic, payload in messages:
            info = client.publish(topic, payload, qos=1)
            info.wait_for_publish(30)
            assert info.is_published(), f"no PUBACK for {topic}"
            if pause_s:
                time.sleep(pause_s)
    finally:
        client.disconnect()
        client.loop_stop()


def _stored(pipeline: Pipeline) -> dict[tuple[str, int], float]:
    with db.connect(pipeline.settings, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT meter_id, (extract(epoch FROM ts) * 1000)::bigint, value FROM readings"
        ).fetchall()
    return {(str(m), int(t)): float(v) for m, t, v in rows}


def _assert_stored_exactly(pipeline: Pipeline, readings: list[SimReading]) -> None:
    assert _stored(pipeline) == {
        (r.meter_id, round(r.ts.timestamp() * 1000)): r.value for r in readings
    }


def test_batch_with_good_and_bad_readings(pipeline: Pipeline) -> None:
    registry, readings, truth = _fleet(seed=21, days=2)
    pipeline.load_registry(registry)
    pipeline.start("processor")
    pipeline.start("collector")
    prefix = pipeline.settings.mqtt_topic_prefix
    batches = _batches(prefix, readings, size=150)
    first_topic, first_items = batches[0]
    owner = first_topic.split("/")[-2]
    mine = next(m for m in registry.meters if m.enterprise_id == owner)
    foreign = next(m for m in registry.meters if m.enterprise_id != owner)
    template = dict(first_items[0])
    bad: list[tuple[Any, str]] = [
        ({**template, "meter": "NO-SUCH-METER"}, "unknown meter 'NO-SUCH-METER'"),
        (
            {
                **template,
                "meter": foreign.meter_id,
                "unit": foreign.unit,
                "kind": foreign.kind.value,
            },
            f"does not belong to enterprise '{owner}'",
        ),
        ({**template, "meter": mine.meter_id, "unit": "furlongs"}, "unit 'furlongs'"),
        ({k: v for k, v in template.items() if k != "meter"}, "meter: must be the meter id"),
        ({**template, "value": -5.0}, "greater than or equal to 0"),
        ({**template, "ts": "2025-01-01T00:00:00"}, "ts"),
        ("not a reading", "reading must be a JSON object"),
    ]
    # spread the bad readings through the first batch, between good ones
    items = list(first_items)
    expected: dict[int, tuple[Any, str]] = {}
    for n, (item, reason) in enumerate(bad):
        at = 3 + n * 7
        items.insert(at, item)
        expected[at] = (item, reason)
    batches[0] = (first_topic, items)
    messages = [(topic, json.dumps({"readings": b}).encode()) for topic, b in batches]
    whole = [
        (first_topic, b'{"readings": [ {"meter": '),
        (first_topic, json.dumps({"readings": first_items[:2], "gateway": "gw-7"}).encode()),
    ]
    _publish(pipeline.settings, whole[:1] + messages + whole[1:])

    assert pipeline.wait_stored(len(readings)) == len(readings), pipeline.logs()
    pipeline.wait_idle()
    dead = read_topic(pipeline.settings, pipeline.settings.topic_dlq, expected=len(bad) + 2)
    _assert_stored_exactly(pipeline, readings)
    assert_matches_truth(pipeline, truth, START, 2)

    assert len(dead) == len(bad) + 2
    per_reading = {d["index"]: d for d in dead if "index" in d}
    assert sorted(per_reading) == sorted(expected)
    for index, (item, reason) in expected.items():
        letter = per_reading[index]
        assert letter["origin"] == first_topic
        assert reason in letter["reason"], letter
        assert json.loads(letter["payload"]) == item
    whole_letters = [d for d in dead if "index" not in d]
    assert [d["origin"] for d in whole_letters] == [first_topic, first_topic]
    assert "not valid JSON" in whole_letters[0]["reason"]
    assert whole_letters[0]["payload"] == whole[0][1].decode()
    assert "unknown key(s) ['gateway']" in whole_letters[1]["reason"]


def test_collector_killed_mid_batches_books_each_reading_once(pipeline: Pipeline) -> None:
    registry, readings, truth = _fleet(seed=23, days=4)
    pipeline.load_registry(registry)
    pipeline.start("processor")
    pipeline.start("collector")
    prefix = pipeline.settings.mqtt_topic_prefix
    messages = [
        (topic, json.dumps({"readings": b}).encode())
        for topic, b in _batches(prefix, readings, size=400)
    ]
    errors: list[BaseException] = []

    def gateway() -> None:
        try:  # about 8 s of batches; the crash falls inside
            _publish(pipeline.settings, messages, pause_s=8.0 / len(messages))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=gateway, daemon=True)
    thread.start()
    time.sleep(3.0)
    before = pipeline.stored_count()
    pipeline.kill("collector")
    time.sleep(1.0)
    pipeline.start("collector")
    assert before < len(readings), "the crash must happen while batches are flowing"
    thread.join(timeout=120)
    assert not thread.is_alive() and not errors, errors
    assert pipeline.wait_stored(len(readings)) == len(readings), pipeline.logs()
    pipeline.wait_idle()
    _assert_stored_exactly(pipeline, readings)
    assert_matches_truth(pipeline, truth, START, 4)
    assert_books_match_truth(pipeline, registry, truth)
    read_topic(pipeline.settings, pipeline.settings.topic_dlq, 0)  # no dead letter in 3 s

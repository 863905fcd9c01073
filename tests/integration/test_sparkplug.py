"""A Sparkplug B edge node through the real pipeline (Mosquitto, collector, tansu, processor,
TimescaleDB): births and aliased data booked like JSON readings, a sequence gap and data
before birth answered with a Rebirth command, unknown metrics dead-lettered with reasons,
an NDEATH marking the node's meters stale."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from greenmon.domain.reference import Carrier, MeterKind
from greenmon.domain.registry import Enterprise, Meter, Registry
from greenmon.storage import db
from greenmon.storage.quality_store import refresh_quality
from greenmon.storage.sparkplug_store import stale_meters
from tests.integration.conftest import Pipeline, hold, read_topic, stored_readings
from tests.sparkplug_node import DOUBLE, INT64, UINT64, M, command_metrics, payload_bytes

pytestmark = pytest.mark.integration

T0 = datetime(2025, 1, 1, 0, 0, tzinfo=UTC)
Q = 900_000  # 15 minutes in ms


def _ms(minutes: int) -> int:
    return round((T0 + timedelta(minutes=minutes)).timestamp() * 1000)


def _registry() -> Registry:
    def meter(mid: str, ent: str, carrier: Carrier, unit: str, metric: str | None = None) -> Meter:
        return Meter(mid, ent, carrier, unit, MeterKind.COUNTER, 1e6, sparkplug_metric=metric)

    return Registry(
        (
            Enterprise("E1", "一号厂", "xihaian", "chemicals"),
            Enterprise("E2", "二号厂", "xihaian", "chemicals"),
        ),
        (
            meter("E1-EL", "E1", Carrier.ELECTRICITY, "kWh"),
            meter("E1-GAS", "E1", Carrier.NATURAL_GAS, "m3", metric="Gas/Total"),
            meter("E2-EL", "E2", Carrier.ELECTRICITY, "kWh"),
        ),
    )


class EdgeClient:
    """An MQTT connection as the edge node's, also listening to its commands."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.commands: list[tuple[str, dict[str, Any]]] = []
        self._subscribed = threading.Event()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"edge-{time.monotonic_ns()}")
        c.on_message = lambda _c, _u, msg: self.commands.append(
            (msg.topic, command_metrics(bytes(msg.payload)))
        )
        c.on_subscribe = lambda *_a: self._subscribed.set()
        host, port = pipeline.settings.mqtt_host_port
        c.connect(host, port)
        c.loop_start()
        c.subscribe("spBv1.0/E1/NCMD/#", qos=1)
        assert self._subscribed.wait(10)
        self.client = c

    def send(self, topic: str, payload: bytes) -> None:
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(30)
        assert info.is_published()

    def wait_commands(self, n: int, timeout: float = 30.0) -> list[tuple[str, dict[str, Any]]]:
        deadline = time.monotonic() + timeout
        while len(self.commands) < n and time.monotonic() < deadline:
            time.sleep(0.1)
        return list(self.commands)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _consumption(pipeline: Pipeline) -> dict[tuple[str, int], float]:
    with db.connect(pipeline.settings, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT meter_id, (extract(epoch FROM interval_start) * 1000)::bigint, quantity "
            "FROM consumption_15m"
        ).fetchall()
    return {(str(m), int(t)): float(q) for m, t, q in rows}


def test_edge_node_births_data_gaps_and_death(pipeline: Pipeline) -> None:
    pipeline.load_registry(_registry())
    pipeline.start("processor")
    pipeline.start("collector")
    edge = EdgeClient(pipeline)
    try:
        _publish_session(edge)
        _check_booked_and_dead_letters(pipeline)
        _check_rebirth_commands(edge)
        _check_death(pipeline, edge)
    finally:
        edge.close()


NODE = "spBv1.0/E1/{}/press-line"


def _publish_session(edge: EdgeClient) -> None:
    """Birth with bdSeq 7 and aliases, data by alias (one historical), then a seq gap;
    a second node's data before its birth."""
    node = NODE
    birth = [
        M("bdSeq", None, _ms(0), INT64, 7),
        M("Node Control/Rebirth", None, _ms(0), 11, False),
        M("E1-EL", 1, _ms(0), DOUBLE, 1000.0),
        M("Gas/Total", 2, _ms(0), UINT64, 500),
        M("Unknown/Metric", 3, _ms(0), DOUBLE, 1.0),
        M("E2-EL", 4, _ms(0), DOUBLE, 5.0),
    ]
    data = [
        (
            1,
            [
                M(None, 1, _ms(15), DOUBLE, 1010.5),
                M(None, 2, _ms(15), UINT64, 520),
                M(None, 3, _ms(15), DOUBLE, 2.0),
                M(None, 4, _ms(15), DOUBLE, 6.0),
            ],
        ),
        (2, [M(None, 1, _ms(30), DOUBLE, 1030.0), M(None, 2, _ms(30), UINT64, 530)]),
        (3, [M(None, 1, _ms(45), DOUBLE, 1040.0, historical=True)]),
        (5, [M(None, 1, _ms(60), DOUBLE, 1050.0)]),  # seq 4 never came: a gap
    ]
    edge.send(node.format("NBIRTH"), payload_bytes(_ms(0), 0, birth))
    for seq, metrics in data:
        edge.send(node.format("NDATA"), payload_bytes(None, seq, metrics))
    # another node of E1 sends aliased data before any birth
    edge.send(
        "spBv1.0/E1/NDATA/boiler", payload_bytes(_ms(15), 3, [M(None, 1, _ms(15), DOUBLE, 9.0)])
    )


def _check_booked_and_dead_letters(pipeline: Pipeline) -> None:
    node = NODE
    el = {0: 1000.0, 15: 1010.5, 30: 1030.0, 45: 1040.0, 60: 1050.0}
    gas = {0: 500.0, 15: 520.0, 30: 530.0}
    expected = {("E1-EL", _ms(k)): v for k, v in el.items()} | {
        ("E1-GAS", _ms(k)): v for k, v in gas.items()
    }
    assert pipeline.wait_stored(len(expected)) == len(expected), pipeline.logs()
    pipeline.wait_idle()
    dead = read_topic(pipeline.settings, pipeline.settings.topic_dlq, expected=5)

    def only_expected_stored() -> None:
        assert stored_readings(pipeline) == expected

    hold("nothing more stored", only_expected_stored, 2.0)
    # by hand: register differences per quarter hour
    assert _consumption(pipeline) == {
        ("E1-EL", _ms(0)): 10.5,
        ("E1-EL", _ms(15)): 19.5,
        ("E1-EL", _ms(30)): 10.0,
        ("E1-EL", _ms(45)): 10.0,
        ("E1-GAS", _ms(0)): 20.0,
        ("E1-GAS", _ms(15)): 10.0,
    }

    reasons = sorted((d["origin"], d["index"], d["reason"]) for d in dead)
    assert len(reasons) == 5, reasons
    unknown = [r for r in reasons if "unknown metric 'Unknown/Metric'" in r[2]]
    foreign = [r for r in reasons if "does not belong to enterprise 'E1'" in r[2]]
    before = [r for r in reasons if r[0] == "spBv1.0/E1/NDATA/boiler"]
    assert [(o, i) for o, i, _ in unknown] == [
        (node.format("NBIRTH"), 4),
        (node.format("NDATA"), 2),
    ]
    assert [(o, i) for o, i, _ in foreign] == [
        (node.format("NBIRTH"), 5),
        (node.format("NDATA"), 3),
    ]
    assert len(before) == 1 and "alias 1 is not defined" in before[0][2], before
    assert "before its NBIRTH" in before[0][2]


def _check_rebirth_commands(edge: EdgeClient) -> None:
    commands = edge.wait_commands(2)

    def one_rebirth_per_node() -> None:
        assert sorted(edge.commands) == sorted(
            [
                ("spBv1.0/E1/NCMD/press-line", {"Node Control/Rebirth": True}),
                ("spBv1.0/E1/NCMD/boiler", {"Node Control/Rebirth": True}),
            ]
        ), commands

    hold("nothing more: one rebirth per node", one_rebirth_per_node, 2.0)


def _check_death(pipeline: Pipeline, edge: EdgeClient) -> None:
    node = NODE
    # an older session's will changes nothing; the current one's marks the meters stale
    edge.send(node.format("NDEATH"), payload_bytes(None, None, [M("bdSeq", None, None, INT64, 6)]))
    edge.send(node.format("NDEATH"), payload_bytes(None, None, [M("bdSeq", None, None, INT64, 7)]))
    deadline = time.monotonic() + 30
    stale: list[str] = []
    while time.monotonic() < deadline and len(stale) < 2:
        with db.connect(pipeline.settings, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT meter_id FROM meter_events WHERE event = 'stale' ORDER BY 1"
            ).fetchall()
        stale = [str(r[0]) for r in rows]
        time.sleep(0.2)
    assert stale == ["E1-EL", "E1-GAS"]
    with db.connect(pipeline.settings, autocommit=True) as conn:
        # what the silent-meter alert reads: silent at once
        assert sorted(stale_meters(conn)) == ["E1-EL", "E1-GAS"]
        # and the data-quality figures of the day the node died
        today = datetime.now(ZoneInfo(pipeline.settings.timezone)).date()
        refresh_quality(conn, today, today, tz=pipeline.settings.timezone)
        rows = conn.execute(
            "SELECT meter_id, stale FROM meter_quality_daily WHERE day = %s ORDER BY 1", (today,)
        ).fetchall()
    assert [(str(m), int(n)) for m, n in rows] == [("E1-EL", 1), ("E1-GAS", 1)]

"""kill -9 Mosquitto under load: what a QoS 1 publisher loses.

A PUBACK means the broker holds the message; for the collector's persistent session it
stays queued in the broker's memory until the collector takes it. A crash loses what the
broker acknowledged after its last save of the database, so the loss is bounded by the
autosave setting (greenmon/local/mosquitto.py ``AUTOSAVE_CHANGES``). The worst case is
measured here: the collector's session offline, every acknowledged message queued in the
broker, the broker killed at a varying moment while a publisher sends as fast as it can.
"""

from __future__ import annotations

import random
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from greenmon.local.mosquitto import AUTOSAVE_CHANGES, start_mosquitto
from greenmon.local.ports import free_port
from greenmon.local.process import ManagedProcess

pytestmark = pytest.mark.integration

TOPIC = "greenmon/v1/E1/M1/reading"
ROUNDS = 3


class _Publisher:
    """Publishes numbered QoS 1 messages as fast as the broker acknowledges them."""

    def __init__(self, port: int) -> None:
        self.acked: set[int] = set()
        self._ids: dict[int, int] = {}  # mid -> message number
        self._early: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="crash-load")
        self.client.max_inflight_messages_set(100)
        self.client.on_publish = self._on_publish
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _on_publish(self, _c: Any, _u: Any, mid: int, _r: Any, _p: Any) -> None:
        # paho holds its own lock here, and publish() takes it: never call paho under ours
        with self._lock:
            number = self._ids.pop(mid, None)
            if number is None:
                self._early.add(mid)  # acknowledged before _run registered it
            else:
                self.acked.add(number)

    def _run(self) -> None:
        number = 0
        while not self._stop.is_set():
            info = self.client.publish(TOPIC, b"%08d" % number + b"x" * 120, qos=1)
            with self._lock:
                if info.mid in self._early:
                    self._early.remove(info.mid)
                    self.acked.add(number)
                else:
                    self._ids[info.mid] = number
            number += 1
            while len(self._ids) > 1000 and not self._stop.is_set():
                time.sleep(0.001)

    def stop(self) -> set[int]:
        """Stop publishing; the numbers the broker acknowledged."""
        self._stop.set()
        self._thread.join(10)
        self.client.loop_stop()
        with self._lock:
            return set(self.acked)


def _collector(port: int, received: set[int]) -> mqtt.Client:
    """The collector's persistent session, subscribed at QoS 1."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="crash-collector",
                         clean_session=False)  # fmt: skip
    client.on_connect = lambda c, _u, _f, _r, _p: c.subscribe("greenmon/v1/#", qos=1)
    client.on_message = lambda _c, _u, msg: received.add(int(msg.payload[:8]))
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def _drain(received: set[int], timeout: float = 60.0, quiet: float = 3.0) -> None:
    """Wait until no message has arrived for ``quiet`` seconds (a deadline, not a sleep)."""
    deadline = time.monotonic() + timeout
    seen, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        if len(received) != seen:
            seen, since = len(received), time.monotonic()
        elif time.monotonic() - since > quiet:
            return
        time.sleep(0.1)
    raise AssertionError(f"messages still arriving after {timeout} s")


def _round(data_dir: Path, kill_after: int) -> tuple[int, int, float]:
    """One crash; returns (acknowledged, lost, publish rate in msg/s)."""
    port = free_port()
    broker = start_mosquitto(data_dir, port, die_with_parent=True)
    received: set[int] = set()
    offline = _collector(port, received)
    time.sleep(0.5)  # subscribed; from here on the broker queues for the session
    offline.disconnect()
    offline.loop_stop()
    publisher = _Publisher(port)
    started = time.monotonic()
    deadline = started + 120
    while len(publisher.acked) < kill_after:
        assert time.monotonic() < deadline, f"only {len(publisher.acked)} acknowledged"
        time.sleep(0.005)
    broker.kill()  # SIGKILL, mid-stream
    rate = len(publisher.acked) / (time.monotonic() - started)
    acked = publisher.stop()
    broker = start_mosquitto(data_dir, port, die_with_parent=True)
    try:
        collector = _collector(port, received)
        _drain(received)
        collector.disconnect()
        collector.loop_stop()
    finally:
        _stop(broker)
    return len(acked), len(acked - received), rate


def _stop(broker: ManagedProcess) -> None:
    broker.stop(10.0)


def test_kill_9_mosquitto_under_load_loses_at_most_the_autosave_window(
    services_dir: Path,
) -> None:
    rng = random.Random(11)  # varied kill moments, reproducible
    results = []
    for _ in range(ROUNDS):
        data_dir = Path(tempfile.mkdtemp(prefix="mqtt-crash-", dir=services_dir))
        data_dir.chmod(0o755)
        results.append(_round(data_dir, kill_after=rng.randint(2000, 5000)))
    print("kill -9 under load (acknowledged, lost, msg/s):", results)  # shown with -s
    for acked, lost, _rate in results:
        assert acked >= 2000
        assert lost <= AUTOSAVE_CHANGES, f"{lost} of {acked} acknowledged messages lost"

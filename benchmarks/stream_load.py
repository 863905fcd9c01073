"""The streaming benchmark's load generator: a paced MQTT publisher of meter readings.

    .venv/bin/python -m benchmarks.stream_load PLAN.json

Runs as its own process (so its CPU is measured on its own) and prints one JSON
line of results. The plan (written by :mod:`benchmarks.streaming`) names the broker,
the meters, the mode and the rate:

* ``paced``: one reading per message on ``{prefix}/{e}/{m}/reading`` at ``rate`` a
  second for ``duration`` seconds, meters round-robin (held back, it publishes less);
* ``burst``: ``count`` single readings as fast as the broker takes them;
* ``batch``: ``count`` readings in gateway batches of ``batch_size`` on ``{prefix}/{e}/batch``.

QoS 1 with at most ``max_unacked`` publishes unacknowledged: when that many wait
for their PUBACK the generator waits too, so a slow consumer holds it back (the
achieved rate shows it). Reading ``k`` of a meter is stamped ``base + (k0 + k) * 60 s``
(unique per phase); every ``sample_every``-th reading is written to the samples
file as ``meter k publish_time`` for the latency probe.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

#: seconds between two readings of one meter
STEP_S = 60
#: a reading's increment: far below every simulated meter's plausible rate
INCREMENT = 0.0005


@dataclass(frozen=True)
class Plan:
    host: str
    port: int
    prefix: str
    meters: list[tuple[str, str, str, str]]  # enterprise, meter, unit, kind
    mode: str
    base_epoch: int
    k0: int
    rate: float = 0.0
    duration: float = 0.0
    count: int = 0
    batch_size: int = 500
    max_unacked: int = 1000
    client_id: str = "bench-generator"
    samples: str = ""
    sample_every: int = 100


def reading_ts(base_epoch: int, k: int) -> datetime:
    return datetime.fromtimestamp(base_epoch + k * STEP_S, tz=UTC)


def reading_doc(plan: Plan, meter: tuple[str, str, str, str], k: int) -> dict[str, Any]:
    """The JSON body of reading ``k`` of ``meter`` (counters grow, intervals are flat)."""
    _, _, unit, kind = meter
    doc: dict[str, Any] = {"ts": reading_ts(plan.base_epoch, k).isoformat(), "unit": unit}
    if kind == "counter":
        doc |= {"value": round(100.0 + k * INCREMENT, 6), "kind": kind}
    else:
        doc |= {"value": INCREMENT, "kind": kind, "duration_s": STEP_S}
    return doc


class _Window:
    """Publishes in flight; ``wait_room`` blocks while ``limit`` are unacknowledged."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.sent = 0
        self.acked = 0
        self.cond = threading.Condition()

    def on_publish(self, *_args: Any) -> None:
        with self.cond:
            self.acked += 1
            if self.sent - self.acked < self.limit // 2 or self.acked == self.sent:
                self.cond.notify_all()

    def wait_room(self) -> None:
        with self.cond:
            while self.sent - self.acked >= self.limit:
                self.cond.wait(0.5)
            self.sent += 1

    def wait_all(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.acked < self.sent and time.monotonic() < deadline:
                self.cond.wait(0.2)
            return self.acked >= self.sent


class Generator:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.window = _Window(plan.max_unacked)
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=plan.client_id, protocol=mqtt.MQTTv311
        )
        self.client.on_publish = self.window.on_publish
        self.client.max_inflight_messages_set(plan.max_unacked)
        self.client.max_queued_messages_set(0)
        self._samples: TextIO | None = open(plan.samples, "a") if plan.samples else None  # noqa: SIM115
        self._ts_text: dict[int, str] = {}

    def _ts(self, k: int) -> str:
        text = self._ts_text.get(k)
        if text is None:
            text = self._ts_text[k] = reading_ts(self.plan.base_epoch, k).isoformat()
        return text

    def _single(self, i: int) -> tuple[str, bytes]:
        plan = self.plan
        meter = plan.meters[i % len(plan.meters)]
        k = plan.k0 + i // len(plan.meters)
        e, m, unit, kind = meter
        if kind == "counter":
            body = f'"value":{round(100.0 + k * INCREMENT, 6)},"unit":"{unit}","kind":"counter"'
        else:
            body = f'"value":{INCREMENT},"unit":"{unit}","kind":"{kind}","duration_s":{STEP_S}'
        if self._samples is not None and i % plan.sample_every == 0:
            self._samples.write(f"{m} {k} {time.time():.6f}\n")
        return f"{plan.prefix}/{e}/{m}/reading", f'{{"ts":"{self._ts(k)}",{body}}}'.encode()

    def _publish(self, topic: str, payload: bytes) -> None:
        self.window.wait_room()
        self.client.publish(topic, payload, qos=1)

    def run_paced(self) -> int:
        """``rate`` a second for ``duration`` seconds; what a full window held back is
        not made up afterwards (the achieved rate shows the backpressure)."""
        plan = self.plan
        total = int(plan.rate * plan.duration)
        start = time.monotonic()
        end = start + plan.duration
        i = 0
        last_flush = start
        while i < total:
            now = time.monotonic()
            if now >= end:
                break
            due = min(total, int((now - start) * plan.rate) + 1)
            while i < due and (i % 256 or time.monotonic() < end):
                self._publish(*self._single(i))
                i += 1
            if self._samples is not None and now - last_flush > 0.05:
                self._samples.flush()
                last_flush = now
            time.sleep(0.001)
        return i

    def run_burst(self) -> int:
        for i in range(self.plan.count):
            self._publish(*self._single(i))
        return self.plan.count

    def run_batch(self) -> int:
        """``count`` readings in batches, each of one enterprise's meters over some steps."""
        plan = self.plan
        by_ent: dict[str, list[tuple[str, str, str, str]]] = {}
        for meter in plan.meters:
            by_ent.setdefault(meter[0], []).append(meter)
        ents = sorted(by_ent)
        next_k = dict.fromkeys(ents, plan.k0)
        sent = 0
        b = 0
        while sent < plan.count:
            e = ents[b % len(ents)]
            meters = by_ent[e]
            steps = max(1, min(plan.batch_size, plan.count - sent) // len(meters))
            items = [
                {"meter": m[1], **reading_doc(plan, m, next_k[e] + s)}
                for s in range(steps)
                for m in meters
            ]
            next_k[e] += steps
            self._publish(f"{plan.prefix}/{e}/batch", json.dumps({"readings": items}).encode())
            sent += len(items)
            b += 1
        return sent

    def run(self) -> dict[str, Any]:
        self.client.connect(self.plan.host, self.plan.port, keepalive=30)
        self.client.loop_start()
        started = time.time()
        run = {"paced": self.run_paced, "burst": self.run_burst, "batch": self.run_batch}
        published = run[self.plan.mode]()
        last_publish = time.time()
        complete = self.window.wait_all(600)
        acked = time.time()
        if self._samples is not None:
            self._samples.close()
        self.client.disconnect()
        self.client.loop_stop()
        times = os.times()
        return {
            "published": published,
            "messages": self.window.sent,
            "all_acked": complete,
            "started": started,
            "last_publish": last_publish,
            "acked": acked,
            "cpu_s": times.user + times.system,
        }


def load_plan(path: Path) -> Plan:
    doc = json.loads(path.read_text())
    doc["meters"] = [tuple(m) for m in doc["meters"]]
    return Plan(**doc)


def write_plan(plan: Plan, path: Path) -> None:
    path.write_text(json.dumps(plan.__dict__))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m benchmarks.stream_load PLAN.json", file=sys.stderr)
        return 2
    result = Generator(load_plan(Path(args[0]))).run()
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

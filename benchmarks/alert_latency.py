"""Benchmark: from a meter's reading to the owning enterprise's webhook, end to end.

    .venv/bin/python -m benchmarks.alert_latency [--alerts N] [--limit-s S]

Starts throwaway Mosquitto, tansu and PostgreSQL (+TimescaleDB) under /tmp, then
the collector, the processor and the alerts service as processes, with a rule
``demand_kw above 800`` per meter and a signed webhook per enterprise, served here.
Each round publishes one 15-minute reading of 250 kWh (1 000 kW) for a fresh meter
and times until its ``firing`` alert arrives at the webhook (signature checked):
MQTT, collector, Kafka, processor and its database commit, the window result,
the alerts service's evaluation, its outbox and delivery. Prints p50/p95/max and
exits 1 if the p95 is above ``--limit-s`` (default 5 s: "within seconds").
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import statistics
import sys
import threading
import time
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import SecretStr

from alerts.rules import parse_rules
from alerts.secrets import new_key
from alerts.store import save_ruleset
from benchmarks.local import local_services, log_tails, services
from greenmon.domain.reference import Carrier, MeterKind
from greenmon.domain.registry import Enterprise, Meter, Registry
from greenmon.feeds.publisher import publish
from greenmon.feeds.simulator import SimReading
from greenmon.local.process import ManagedProcess
from greenmon.settings import Settings
from greenmon.storage import db
from greenmon.storage.registry_store import upsert_registry

SECRET = "benchmark-secret"  # noqa: S105 (a throwaway webhook of this run)
DAY = datetime(2025, 6, 2, tzinfo=ZoneInfo("Asia/Shanghai"))


class Receiver:
    """Records when each signed ``firing`` document arrives (monotonic clock)."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.refused = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                if hmac.compare_digest(sig, self.headers.get("X-Greenmon-Signature", "")):
                    doc = json.loads(body)
                    if doc["transition"] == "firing":
                        receiver.arrived.setdefault(str(doc["meter_id"]), time.monotonic())
                    self.send_response(204)
                else:
                    receiver.refused += 1
                    self.send_response(401)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def registry(n: int) -> Registry:
    enterprises = tuple(
        Enterprise(f"E{i:03d}", f"Plant {i}", "jimo", "equipment") for i in range(n)
    )
    meters = tuple(
        Meter(f"E{i:03d}-E", f"E{i:03d}", Carrier.ELECTRICITY, "kWh", MeterKind.INTERVAL, 1e6)
        for i in range(n)
    )
    return Registry(enterprises=enterprises, meters=meters)


def rules_yaml(reg: Registry, port: int) -> str:
    channels = "".join(
        f"  - {{enterprise: {e.enterprise_id}, kind: webhook, "
        f"target: 'http://127.0.0.1:{port}/{e.enterprise_id}', secret: {SECRET}}}\n"
        for e in reg.enterprises
    )
    return (
        "rules:\n  - {id: demand, scope: meter, severity: warning,\n"
        "     threshold: {measure: demand_kw, above: 800, recover_below: 400}}\n"
        f"channels:\n{channels}"
    )


def run(n: int, limit_s: float) -> int:
    with local_services(alerts_secret_key=SecretStr(new_key()), alerts_tick_s=1.0) as settings:
        reg = registry(n)
        receiver = Receiver()
        with db.connect(settings) as conn:
            upsert_registry(conn, reg)
            save_ruleset(conn, parse_rules(rules_yaml(reg, receiver.port)), settings)
        with services(settings, "collector", "processor", "alerts") as procs:
            latencies = rounds(settings, reg, receiver, procs)
    p50 = statistics.median(latencies)
    p95 = statistics.quantiles(latencies, n=20)[18] if len(latencies) >= 2 else latencies[0]
    print(f"reading -> webhook, {len(latencies)} alerts: p50 {p50:.2f} s, p95 {p95:.2f} s, "
          f"max {max(latencies):.2f} s (limit: p95 <= {limit_s:.1f} s)")  # fmt: skip
    return 0 if p95 <= limit_s else 1


def rounds(
    settings: Settings, reg: Registry, receiver: Receiver, procs: list[ManagedProcess]
) -> list[float]:
    latencies = []
    for i, meter in enumerate(reg.meters):
        # every round a slot later, so each window is new to the processor and the alerts
        reading = SimReading(meter.enterprise_id, meter.meter_id, DAY + timedelta(minutes=15 * i),
                             250.0, "kWh", MeterKind.INTERVAL, 900)  # fmt: skip
        sent = time.monotonic()
        publish([reading], settings, client_id=f"bench-{i}")
        deadline = sent + 120  # the first round includes the consumer groups' joins
        while meter.meter_id not in receiver.arrived:
            if time.monotonic() > deadline or not all(p.alive() for p in procs):
                raise SystemExit(f"no alert for {meter.meter_id}\n{log_tails(procs)}")
            time.sleep(0.01)
        latency = receiver.arrived[meter.meter_id] - sent
        print(f"  {meter.meter_id}: {latency:.2f} s", flush=True)
        if i > 0:  # the first round waits for the consumer groups to form: not a latency
            latencies.append(latency)
        time.sleep(0.5)
    if receiver.refused:
        raise SystemExit(f"{receiver.refused} webhook deliveries had a bad signature")
    return latencies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=21, help="rounds (the first is warm-up)")
    parser.add_argument("--limit-s", type=float, default=5.0)
    args = parser.parse_args(argv)
    if args.alerts < 2:
        parser.error("--alerts must be at least 2 (the first round is a warm-up)")
    return run(args.alerts, args.limit_s)


if __name__ == "__main__":
    sys.exit(main())

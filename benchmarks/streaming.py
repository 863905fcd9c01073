"""Benchmark: greenmon's streaming path side by side with a bare reference sink.

    .venv/bin/python -m benchmarks.streaming                      # the full run (~15 min)
    .venv/bin/python -m benchmarks.streaming --rates 1000 --duration 5 \\
        --backlog 20000 --batch 20000                              # a quick look (~2 min)

One run starts throwaway Mosquitto, tansu and PostgreSQL (+TimescaleDB), registers
1,000 meters, and drives both systems with the same generator
(:mod:`benchmarks.stream_load`, QoS 1, at most 1,000 unacknowledged publishes):

* the **reference sink** (:mod:`benchmarks.stream_sink`): one paho subscriber
  binary-COPYing into a ``ref_readings`` hypertable; no Kafka, no checks;
* **greenmon**: collector and processor processes (``--collectors``/``--processors``).

Modes: ``paced`` single readings at each ``--rates`` for ``--duration`` s; ``backlog``:
``--backlog`` single readings queued in the persistent session while the system is
stopped, then started and timed; ``batch``: the same with gateway batches of
``--batch-size``. Measured: published, stored, lost, drain time, latency p50/p99
(publish -> row visible to another connection, sampled), CPU seconds per process
and CPU-µs per stored reading. Prints a table; writes JSON and Markdown to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg

from benchmarks.local import local_services
from benchmarks.stream_load import STEP_S, Plan, write_plan
from benchmarks.stream_measure import CpuMeter, LatencyProbe, count_rows, percentile, wait_stored
from benchmarks.stream_report import idle_cpu, print_table, write_results
from benchmarks.stream_targets import Greenmon, Reference, Target, broker_pids
from greenmon.feeds.fleet import build_registry
from greenmon.settings import Settings
from greenmon.storage import db
from greenmon.storage.registry_store import upsert_registry

SEED = 42


class Bench:
    """Shared state of one run: services, meters, the next free reading index."""

    def __init__(self, settings: Settings, args: argparse.Namespace) -> None:
        self.settings = settings
        self.args = args
        self.work = settings.state_dir / "bench"
        self.work.mkdir(parents=True, exist_ok=True)
        registry = build_registry(args.enterprises, args.meters_per_enterprise, SEED)
        with db.connect(settings) as conn:
            upsert_registry(conn, registry)
            conn.commit()
        self.meters = [(m.enterprise_id, m.meter_id, m.unit, m.kind.value) for m in registry.meters]
        self.base = (int(time.time()) // 3600 - 7 * 24) * 3600  # a week ago, on the hour
        self.next_k = 0
        self.phase = 0
        self.brokers = broker_pids(settings)

    def plan(self, prefix: str, mode: str, readings: int, **kw: Any) -> Plan:
        """A generator plan on fresh timestamps (``k`` never reused in one run)."""
        steps = readings // len(self.meters) + 2
        if mode == "batch":  # a batch spans batch_size / meters-per-enterprise steps
            steps += self.args.batch_size // self.args.meters_per_enterprise
        k0, self.next_k = self.next_k, self.next_k + steps
        self.phase += 1
        host, port = self.settings.mqtt_host_port
        return Plan(
            host=host,
            port=port,
            prefix=prefix,
            meters=self.meters,
            mode=mode,
            base_epoch=self.base,
            k0=k0,
            client_id=f"bench-generator-{self.phase}",
            **kw,
        )

    def generate(self, plan: Plan) -> dict[str, Any]:
        path = self.work / f"plan-{self.phase}.json"
        write_plan(plan, path)
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.stream_load", str(path)],
            capture_output=True,
            check=False,
            timeout=900,
        )
        if out.returncode != 0:
            raise SystemExit(f"generator failed: {out.stderr.decode()[-2000:]}")
        result: dict[str, Any] = json.loads(out.stdout.decode().splitlines()[-1])
        return result

    def counter(self, target: Target, plan: Plan) -> Any:
        conn = psycopg.connect(self.settings.database_dsn(), autocommit=True)
        lo = self.base + plan.k0 * STEP_S
        hi = self.base + self.next_k * STEP_S
        return conn, lambda: count_rows(conn, target.table, lo, hi)

    def cpu_meter(self, target: Target) -> CpuMeter:
        pids = {n: p for n, p in self.brokers.items() if n in target.processes}
        return CpuMeter(pids | target.pids(), tree=frozenset({"postgres"}))


def paced(bench: Bench, target: Target, rate: int, duration: float) -> dict[str, Any]:
    total = int(rate * duration)
    samples = bench.work / f"samples-{bench.phase + 1}.txt"
    plan = bench.plan(target.prefix, "paced", total, rate=rate, duration=duration)
    plan = replace(plan, samples=str(samples), sample_every=max(1, rate // 50))
    probe = LatencyProbe(bench.settings.database_dsn(), target.table, samples, bench.base)
    conn, count = bench.counter(target, plan)
    cpu = bench.cpu_meter(target)
    cpu.start()
    probe.start()
    gen = bench.generate(plan)
    stored, _first, done = wait_stored(count, gen["published"], bench.args.drain_timeout)
    used = cpu.stop()
    probe.finish()
    conn.close()
    end = done if done is not None else time.time()
    row = _row(target, "paced", gen, stored, used, offered=rate)
    lat = probe.latencies
    p50, p99 = percentile(lat, 50), percentile(lat, 99)
    return row | {
        "drain_s": None if done is None else round(done - gen["acked"], 2),
        "stored_rate": round(stored / max(end - gen["started"], 1e-9)),
        "p50_ms": None if p50 is None else round(p50 * 1000),
        "p99_ms": None if p99 is None else round(p99 * 1000),
        "samples": len(lat),
        "samples_missing": len(probe.pending),
    }


def backlog(bench: Bench, target: Target, mode: str, readings: int) -> dict[str, Any]:
    """Queue ``readings`` for a stopped ``target``, start it, time the drain."""
    size = bench.args.batch_size
    plan = bench.plan(target.prefix, mode, readings, count=readings, batch_size=size)
    target.stop()
    gen = bench.generate(plan)
    conn, count = bench.counter(target, plan)
    cpu = bench.cpu_meter(target)
    cpu.start()
    started = time.time()
    target.start()
    cpu.pids |= target.pids()
    stored, first, done = wait_stored(count, gen["published"], bench.args.drain_timeout)
    used = cpu.stop()
    conn.close()
    end = done if done is not None else time.time()
    row = _row(target, mode, gen, stored, used, offered=None)
    return row | {
        "drain_s": None if done is None else round(done - started, 2),
        "first_row_s": None if first is None else round(first - started, 2),
        "stored_rate": round(stored / max(end - started, 1e-9)),
        "messages": gen["messages"],
    }


def _row(
    target: Target, mode: str, gen: dict[str, Any], stored: int, used: dict[str, float], **kw: Any
) -> dict[str, Any]:
    cpu = _by_role(used) | {"generator": round(gen["cpu_s"], 3)}
    published = int(gen["published"])
    took = max(gen["last_publish"] - gen["started"], 1e-9)
    system = sum(v for k, v in cpu.items() if k != "generator")
    return {
        "system": target.name,
        "mode": mode,
        **kw,
        "published": published,
        "publish_rate": round(published / took),
        "stored": stored,
        "lost": published - stored,
        "cpu_s": cpu,
        "cpu_us_per_reading": round(system * 1e6 / stored) if stored else None,
        "cpu_us_per_reading_with_generator": (
            round((system + gen["cpu_s"]) * 1e6 / stored) if stored else None
        ),
    }


def _by_role(used: dict[str, float]) -> dict[str, float]:
    """``collector-0`` and ``collector-1`` summed as ``collector``."""
    out: dict[str, float] = {}
    for name, seconds in used.items():
        role = name.split("-")[0]
        out[role] = round(out.get(role, 0.0) + seconds, 3)
    return out


def _warm_up(bench: Bench, target: Target) -> None:
    """A short unrecorded phase: connections, chunks and caches warm for both systems."""
    paced(bench, target, 500, 2.0)


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with local_services() as settings:
        bench = Bench(settings, args)
        logs = settings.state_dir / "logs"
        targets: list[Target] = []
        if "reference" in args.systems:
            targets.append(Reference(settings, logs))
        if "greenmon" in args.systems:
            targets.append(Greenmon(settings, logs, args.collectors, args.processors))
        try:
            for target in targets:
                target.prepare()
                target.start()
                _warm_up(bench, target)
                meter = bench.cpu_meter(target)
                rows.append(idle_cpu(target, meter, args.idle, args.idle_settle))
            rows += _phases(bench, targets, args)
        except BaseException:
            for target in targets:
                print(f"=== {target.name}\n{target.tails()}", file=sys.stderr)
            raise
        finally:
            for target in targets:
                target.stop()
    return rows


def _phases(bench: Bench, targets: list[Target], args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    if "paced" in args.modes:
        for rate in args.rates:
            for target in targets:
                rows.append(paced(bench, target, rate, args.duration))
                print(json.dumps(rows[-1]), flush=True)
    for mode, readings in (("backlog", args.backlog), ("batch", args.batch)):
        if mode in args.modes and readings > 0:
            for target in targets:
                generator_mode = "burst" if mode == "backlog" else "batch"
                rows.append(backlog(bench, target, generator_mode, readings))
                rows[-1]["mode"] = mode
                print(json.dumps(rows[-1]), flush=True)
    return rows


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--rates",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1000, 5000, 10000, 20000],
        help="offered readings/s, comma-separated",
    )
    p.add_argument("--duration", type=float, default=20.0, help="seconds per paced phase")
    p.add_argument("--backlog", type=int, default=200_000, help="readings queued (0: skip)")
    p.add_argument("--batch", type=int, default=200_000, help="readings in batches (0: skip)")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--modes", default="paced,backlog,batch")
    p.add_argument("--systems", default="reference,greenmon")
    p.add_argument("--collectors", type=int, default=1)
    p.add_argument("--processors", type=int, default=1)
    p.add_argument("--enterprises", type=int, default=100)
    p.add_argument("--meters-per-enterprise", type=int, default=10)
    p.add_argument("--drain-timeout", type=float, default=120.0)
    p.add_argument("--idle", type=float, default=10.0, help="seconds of idle CPU measured")
    p.add_argument("--idle-settle", type=float, default=10.0, help="seconds waited before")
    p.add_argument("--out", type=Path, default=None, help="directory for streaming.json/.md")
    p.add_argument("--note", default="", help="what else ran on the machine")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.time()
    rows = run(args)
    print_table(rows)
    if args.out is not None:
        write_results(rows, args, args.out, time.time() - started)
    lost = sum(r.get("lost", 0) for r in rows)
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())

"""``greenmon demo``: the whole pipeline on simulated feeds, with the local services.

Brings the local services up, migrates a fresh demo database (``<db>_demo`` on the
same server, so the main database is never touched), loads a simulated registry,
starts a collector and a processor as separate processes, and publishes the
simulation while showing progress. With ``--days`` it ends by itself and prints
each enterprise's stored totals next to the simulator's ground truth, exiting 1
if any differs. Ctrl-C stops everything it started.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg

from greenmon.bus.kafka import ensure_topics
from greenmon.domain.registry import Registry
from greenmon.errors import ServiceError
from greenmon.feeds.simulator import generate
from greenmon.feeds.truth import enterprise_totals, truth_rows
from greenmon.jobs import demo_answer, demo_economics
from greenmon.jobs.demo_mqtt import demo_accounts, demo_publish
from greenmon.jobs.runner import start_service
from greenmon.jobs.simulate import Progress, fleet
from greenmon.jobs.verify import compare_totals, stored_enterprise_totals
from greenmon.local import manager
from greenmon.local.process import ManagedProcess
from greenmon.settings import Settings
from greenmon.storage import db
from greenmon.storage.heartbeat import wait_subscribed
from greenmon.storage.migrate import migrate
from greenmon.storage.registry_store import upsert_registry

log = logging.getLogger("greenmon.demo")

CONTINUOUS_SPEED = 8640.0  # a simulated day in ten seconds


def _demo_settings(settings: Settings, run_id: str) -> Settings:
    parts = urlsplit(settings.database_url)
    path = (parts.path.strip("/") or "greenmon") + "_demo"
    url = urlunsplit((parts.scheme, parts.netloc, "/" + path, parts.query, parts.fragment))
    return settings.model_copy(
        update={
            "database_url": url,
            # fresh topics, group and MQTT session per run: nothing of an earlier run leaks in
            "topic_readings": f"greenmon.readings.demo-{run_id}",
            "topic_dlq": f"greenmon.readings.dlq.demo-{run_id}",
            "processor_group": f"greenmon-processor-demo-{run_id}",
            "collector_client_id": f"greenmon-collector-demo-{run_id}",
            "stats_interval_s": 1.0,
        }
    )


def _recreate_database(settings: Settings, demo: Settings) -> None:
    name = urlsplit(demo.database_url).path.strip("/")
    with db.connect(settings, autocommit=True, attempts=10) as conn:
        conn.execute(
            psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                psycopg.sql.Identifier(name)
            )
        )
        conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))


@contextmanager
def _services(settings: Settings) -> Iterator[list[str]]:
    """Bring the local services up; on the way out stop those this demo started."""
    before = {s.name: s.state for s in manager.services_status(settings)}
    statuses = manager.services_up(settings)
    for s in statuses:
        print(f"  {s.name:<10} {s.state:<9} {s.url}" + (f" — {s.detail}" if s.detail else ""))
    failed = [s for s in statuses if s.state == "failed"]
    if failed:
        raise ServiceError(
            "local services failed: " + "; ".join(f"{s.name}: {s.detail}" for s in failed)
        )
    started = [s.name for s in statuses if s.state == "running" and before.get(s.name) != "running"]
    try:
        yield started
    finally:
        if started and not any(state == "running" for state in before.values()):
            print("stopping the local services this demo started")
            manager.services_down(settings)
        elif started:
            print("local services left running (some were up before); `greenmon services down`")


def _pipeline_counts(conn: db.Conn) -> dict[str, int]:
    stored = conn.execute("SELECT count(*) FROM readings").fetchone()
    beats = conn.execute(
        "SELECT service, counters FROM service_heartbeats "
        "WHERE updated_at > now() - interval '1 minute'"
    ).fetchall()
    out = {"stored": int(stored[0]) if stored else 0, "dead_lettered": 0, "lag": 0}
    for service, counters in beats:
        out["dead_lettered"] += int(counters.get("dead_lettered", 0))
        if service == "processor":
            out["lag"] += int(counters.get("lag", 0))
    return out


def _watch(demo: Settings, expected: int, children: list[ManagedProcess], timeout: float) -> None:
    """Show progress until every published reading is stored (or fail on timeout)."""
    progress = Progress("stored", expected)
    deadline = time.monotonic() + timeout
    with db.connect(demo, autocommit=True) as conn:
        while True:
            counts = _pipeline_counts(conn)
            progress(
                counts["stored"], f"dead-lettered {counts['dead_lettered']} lag {counts['lag']}"
            )
            if counts["stored"] >= expected:
                progress.done()
                return
            for child in children:
                if not child.alive():
                    raise ServiceError(f"{child.name} exited:\n{child.log_tail(15)}")
            if time.monotonic() > deadline:
                raise ServiceError(f"only {counts['stored']} of {expected} readings stored in time")
            time.sleep(0.2)


def run(args: argparse.Namespace, settings: Settings) -> int:
    run_id = time.strftime("%Y%m%d%H%M%S") + f"-{os.getpid()}"
    demo = demo_answer.demo_settings(_demo_settings(settings, run_id), run_id)
    folder = settings.state_dir / "demo" / run_id
    logs = settings.state_dir / "logs"
    registry = fleet(args)
    with ExitStack() as stack:
        print("local services:")
        stack.enter_context(_services(settings))
        _recreate_database(settings, demo)
        edition, _ = migrate(demo)
        print(f"database: {edition.describe}")
        with db.connect(demo) as conn:
            upsert_registry(conn, registry)
        if demo.mqtt_auth:  # the broker lets only known accounts in: create the demo's
            demo = demo_accounts(demo, registry)
        economics = None
        if args.days is not None:
            economics = demo_economics.prepare(
                demo, registry, args.start, args.days, args.interval, args.seed, folder
            )
        ensure_topics(demo, [demo.topic_readings, demo.topic_dlq])
        services = ("collector", "processor") + (("alerts",) if economics else ())
        children = [start_service(name, demo, logs, name=f"demo-{name}") for name in services]
        for child in children:
            stack.callback(child.stop)
        with db.connect(demo, autocommit=True) as conn:
            wait_subscribed(conn, children[0].pid, alive=children[0].alive)
        print(f"collector and processor started (logs in {logs}/demo-*.log)")
        if args.days is None:
            return _continuous(args, demo, registry)
        readings = list(
            generate(registry, args.start, args.days, args.interval, args.seed, demo.tz)
        )
        progress = Progress("published", len(readings))
        demo_publish(
            readings,
            demo,
            speed=args.speed,
            progress=progress,
            client_id=f"greenmon-demo-sim-{run_id}",
        )
        progress.done()
        _watch(demo, len(readings), children, timeout=120 + len(readings) / 500)
        truth = enterprise_totals(
            truth_rows(registry, args.start, args.days, args.interval, args.seed, demo.tz), registry
        )
        with db.connect(demo) as conn:
            stored = stored_enterprise_totals(conn)
        mismatches = compare_totals(truth, stored, sys.stdout)
        assert economics is not None
        ending = demo_answer.conclude(demo, registry, economics, folder, sys.stdout)
        return 1 if mismatches or ending else 0
    return 0


def _continuous(args: argparse.Namespace, demo: Settings, registry: Registry) -> int:
    """Publish a simulation of ten years, paced, until Ctrl-C."""
    speed = args.speed or CONTINUOUS_SPEED
    print(f"publishing {len(registry.meters)} meters from {args.start} at {speed:g}x; Ctrl-C stops")
    readings = generate(registry, args.start, 3650, args.interval, args.seed, demo.tz)
    progress = Progress("published", None)
    try:
        demo_publish(
            readings,
            demo,
            speed=speed,
            progress=progress,
            client_id=f"greenmon-demo-sim-{os.getpid()}",
        )
    except KeyboardInterrupt:
        progress.done()
        print("stopping")
    return 0

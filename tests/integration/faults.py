"""Shared by the fault-injection tests (test_faults*.py): a fleet with its truth, waits,
and the check that ends every fault test."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import date

from greenmon.domain.registry import Registry
from greenmon.feeds.fleet import build_registry
from greenmon.feeds.simulator import SimReading, generate
from greenmon.feeds.truth import TruthRow, truth_rows
from greenmon.storage import db
from tests.integration.conftest import (
    PacedFeed,
    Pipeline,
    assert_matches_truth,
    assert_readings_once,
    log_text,
)

__all__ = ["DAYS", "START", "alive", "assert_matches_truth", "finish", "fleet", "grew",
           "heartbeat_counter", "log_text", "more", "wait_until"]  # fmt: skip

START = date(2025, 3, 1)
DAYS = 2


def fleet(
    seed: int, start: date = START, days: int = DAYS
) -> tuple[Registry, list[SimReading], list[TruthRow]]:
    """3 enterprises x 4 meters, their readings and the simulator's truth."""
    registry = build_registry(3, 4, seed)
    readings = list(generate(registry, start, days, 900, seed))
    truth = truth_rows(registry, start, days, 900, seed)
    return registry, readings, truth


def wait_until(what: str, check: Callable[[], bool], timeout: float, pipeline: Pipeline) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{pipeline.logs()}")
        time.sleep(0.1)


def grew(pipeline: Pipeline, since: int) -> Callable[[], bool]:
    return lambda: pipeline.stored_count() > since


def more(feed: PacedFeed, since: int) -> Callable[[], bool]:
    return lambda: feed.published > since


def finish(pipeline: Pipeline, feed: PacedFeed, readings: list[SimReading]) -> None:
    """Wait for the feed and for every reading, then compare with the truth."""
    assert feed.join() == len(readings)
    stored = pipeline.wait_stored(len(readings), timeout=120)
    assert stored == len(readings), pipeline.logs()
    pipeline.wait_idle()
    assert_readings_once(pipeline, readings)


def alive(pipeline: Pipeline, *names: str) -> None:
    for name in names:
        proc = pipeline.procs[name]
        assert proc.alive(), f"{name} died:\n{proc.log_tail(40)}"


def heartbeat_counter(pipeline: Pipeline, service: str, pid: int, counter: str) -> int:
    with db.connect(pipeline.settings, autocommit=True) as conn:
        row = conn.execute(
            "SELECT counters FROM service_heartbeats WHERE service = %s AND instance LIKE %s",
            (service, f"%:{pid}"),
        ).fetchone()
    if row is None:
        return 0
    counters = row[0] if isinstance(row[0], dict) else json.loads(row[0])
    return int(counters.get(counter, 0))

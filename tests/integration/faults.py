"""Shared by the fault-injection tests (test_faults*.py): a fleet with its truth, waits,
and the check that ends every fault test."""

from __future__ import annotations

import json
import time
from collections import defaultdict
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

__all__ = ["DAYS", "START", "alive", "assert_books_match_truth", "assert_matches_truth", "finish",
           "fleet", "grew", "heartbeat_counter", "log_text", "more", "wait_until"]  # fmt: skip

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


# --- the books, not only the readings ----------------------------------------------------------
# ``readings`` has (meter, ts) as its primary key, so "stored twice" cannot show there; a
# batch booked twice shows in the 15-minute rows' sums, in enterprise_month and in the
# roll-ups, which are all additive. Each is compared with the simulator's truth.

_MEASURES = ("energy_tce", "co2_t", "water_m3")
Key = tuple[str, date]


def _close(stored: float | None, expected: float) -> bool:
    return stored is not None and abs(stored - expected) <= 1e-9 * abs(expected) + 1e-12


def assert_books_match_truth(pipeline: Pipeline, registry: Registry, truth: list[TruthRow]) -> None:
    """15-minute rows per meter-day, enterprise_month and every roll-up of the fleet's month
    equal the truth (relative error <= 1e-9).

    The tce, CO2 and m3 of a meter's quantity use the rate the processor applied, read
    from its own 15-minute rows (one factor per meter over the test's days; asserted):
    a double booking adds quantity and converted amounts alike, so the rate stays.
    """
    tz = pipeline.settings.tz
    meters = registry.meter_map()
    with db.connect(pipeline.settings, autocommit=True) as conn:
        rows = conn.execute(
            f"SELECT meter_id, interval_start, quantity, {', '.join(_MEASURES)} "
            "FROM consumption_15m"
        ).fetchall()
    days: dict[Key, float] = defaultdict(float)
    rates: dict[tuple[str, str], set[float | None]] = defaultdict(set)
    for meter_id, start, quantity, *amounts in rows:
        days[(meter_id, start.astimezone(tz).date())] += quantity
        for measure, amount in zip(_MEASURES, amounts, strict=True):
            if quantity:
                rates[(meter_id, measure)].add(None if amount is None else amount / quantity)
    expected_days = {(t.meter_id, t.day): float(t.quantity) for t in truth}
    assert days.keys() == expected_days.keys(), "15-minute rows on other meter-days than the truth"
    for key, quantity in expected_days.items():
        assert _close(days[key], quantity), (
            f"15-minute rows of {key}: {days[key]}, truth {quantity}"
        )
    month: dict[tuple[str, date, str], float] = defaultdict(float)
    for (meter_id, day), quantity in expected_days.items():
        enterprise = meters[meter_id].enterprise_id
        for measure in _MEASURES:
            rate = _one_rate(rates[(meter_id, measure)], meter_id, measure)
            month[(enterprise, day.replace(day=1), measure)] += quantity * (rate or 0.0)
    _assert_enterprise_month(pipeline, month)
    wait_until("the roll-ups", lambda: not _rollup_errors(pipeline, registry, month), 60, pipeline)


def _one_rate(values: set[float | None], meter_id: str, measure: str) -> float | None:
    if not values or values == {None}:
        return None
    low, high = min(v or 0.0 for v in values), max(v or 0.0 for v in values)
    assert None not in values and high - low <= 1e-9 * abs(high), (meter_id, measure, values)
    return high


def _assert_enterprise_month(pipeline: Pipeline, month: dict[tuple[str, date, str], float]) -> None:
    with db.connect(pipeline.settings, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT enterprise_id, month, energy_tce + excluded_tce, co2_t, water_m3 "
            "FROM enterprise_month"
        ).fetchall()
    stored = {
        (e, m, x): v for e, m, *values in rows for x, v in zip(_MEASURES, values, strict=True)
    }
    assert stored.keys() == month.keys(), "enterprise_month rows for other enterprise-months"
    for key, expected in month.items():
        assert _close(stored[key], expected), f"enterprise_month {key}: {stored[key]}, {expected}"


def _rollup_errors(
    pipeline: Pipeline, registry: Registry, month: dict[tuple[str, date, str], float]
) -> list[str]:
    """Roll-ups of the truth's months that differ from the sum of their enterprises' truth
    (every kind: month, ytd and r12 alike, as the fleet has no earlier month)."""
    groups: dict[tuple[str, str], set[str]] = defaultdict(set)
    for e in registry.enterprises:
        for entity, entity_id in (("enterprise", e.enterprise_id), ("district", e.district),
                                  ("industry", e.industry), ("city", "")):  # fmt: skip
            groups[(entity, entity_id)].add(e.enterprise_id)
    months = sorted({m for _e, m, _x in month})
    with db.connect(pipeline.settings, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT entity, CASE WHEN entity = 'city' THEN '' ELSE entity_id END, kind, month, "
            "coalesce(energy_tce, 0) + excluded_tce, co2_t, water_m3 FROM rollups "
            "WHERE month = ANY (%s)",
            (months,),
        ).fetchall()
    stored = {tuple(r[:4]): r[4:] for r in rows}
    errors = []
    for (entity, entity_id), members in groups.items():
        for m in months:
            for kind in ("month", "ytd", "r12"):
                got = stored.get((entity, entity_id, kind, m), (None, None, None))
                for measure, value in zip(_MEASURES, got, strict=True):
                    want = sum(month.get((e, m, measure), 0.0) for e in members)
                    if not _close(value, want):
                        errors.append(f"{entity} {entity_id} {kind} {m} {measure}: {value}, {want}")
    return errors

"""Simulated registry, readings and truth: determinism, wire validity, exactness."""

from __future__ import annotations

import itertools
import json
import time
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from greenmon.domain.reference import DISTRICTS, INDUSTRIES, UNIT_SCALE, Carrier, MeterKind
from greenmon.domain.registry import Registry, parse_registry_csv, registry_csv
from greenmon.domain.wire import decode_json, parse_payload, parse_topic
from greenmon.errors import ServiceError
from greenmon.feeds.publisher import _Tracker
from greenmon.feeds.simulator import SimReading, build_registry, generate
from greenmon.feeds.truth import (
    TruthRow,
    enterprise_totals,
    parse_truth_csv,
    read_truth,
    truth_csv,
    truth_rows,
    write_truth,
)

TZ = ZoneInfo("Asia/Shanghai")
START = date(2025, 1, 1)
DAYS = 3
SEED = 7


@pytest.fixture(scope="module")
def registry() -> Registry:
    return build_registry(3, 4, SEED)


@pytest.fixture(scope="module")
def readings(registry: Registry) -> list[SimReading]:
    return list(generate(registry, START, DAYS, 900, SEED, TZ))


def daily_from_readings(readings: list[SimReading]) -> dict[tuple[str, date], Decimal]:
    """Consumption per meter and local day, recomputed from the readings with Decimal."""
    out: dict[tuple[str, date], Decimal] = defaultdict(Decimal)
    previous: dict[str, SimReading] = {}
    for r in readings:
        value = Decimal(repr(r.value))
        if r.kind is MeterKind.INTERVAL:
            out[r.meter_id, r.ts.date()] += value
            continue
        before = previous.get(r.meter_id)
        if before is not None:
            delta = value - Decimal(repr(before.value))
            out[r.meter_id, before.ts.date()] += delta
        previous[r.meter_id] = r
    return out


# --- registry ----------------------------------------------------------------------------


def test_registry_ids_and_shape(registry: Registry) -> None:
    assert [e.enterprise_id for e in registry.enterprises] == ["E0001", "E0002", "E0003"]
    ids = [m.meter_id for m in registry.meters]
    assert ids[:4] == ["E0001-M01", "E0001-M02", "E0001-M03", "E0001-M04"]
    assert len(set(ids)) == len(ids) == 12
    for meter in registry.meters:
        assert meter.meter_id.startswith(meter.enterprise_id + "-M")
        assert meter.unit in UNIT_SCALE[meter.carrier]
        assert meter.max_rate_per_hour > 0
        assert (meter.register_max is not None) == (meter.kind is MeterKind.COUNTER)
        if meter.meter_id.endswith("-M01"):
            assert (meter.carrier, meter.unit) == (Carrier.ELECTRICITY, "kWh")
    assert {m.kind for m in registry.meters} == set(MeterKind)
    for enterprise in registry.enterprises:
        assert enterprise.name.startswith("青岛")


def test_registry_is_deterministic_and_round_trips_through_csv(registry: Registry) -> None:
    assert build_registry(3, 4, SEED) == registry
    assert build_registry(3, 4, SEED + 1) != registry
    text = registry_csv(registry.enterprises, registry.meters)
    assert parse_registry_csv(text) == registry


def test_registry_uses_every_district_and_industry() -> None:
    big = build_registry(12, 2, 3)
    assert {e.district for e in big.enterprises} == set(DISTRICTS)
    assert {e.industry for e in big.enterprises} == set(INDUSTRIES)
    many = build_registry(120, 1, 3)
    assert set(Counter(e.industry for e in many.enterprises).values()) == {10}
    assert set(Counter(e.district for e in many.enterprises).values()) == {12}
    assert len({e.name for e in many.enterprises}) == 120


def test_registry_refuses_silly_sizes() -> None:
    with pytest.raises(ValueError, match="enterprises"):
        build_registry(0, 4, 1)
    with pytest.raises(ValueError, match="meters_per_enterprise"):
        build_registry(1, 100, 1)


# --- readings ----------------------------------------------------------------------------


def test_same_seed_same_bytes_other_seed_differs(registry: Registry) -> None:
    def blob(seed: int) -> bytes:
        return b"\n".join(
            r.topic().encode() + b" " + r.payload()
            for r in generate(registry, START, DAYS, 900, seed, TZ)
        )

    assert blob(SEED) == blob(SEED)
    assert blob(SEED) != blob(SEED + 1)


def test_a_meter_does_not_depend_on_the_rest_of_the_fleet() -> None:
    small, large = build_registry(2, 3, SEED), build_registry(5, 6, SEED)
    assert small.meters[0] == large.meters[0]

    def series(reg: Registry) -> list[bytes]:
        return [
            r.payload() for r in generate(reg, START, 1, 900, SEED, TZ) if r.meter_id == "E0001-M01"
        ]

    assert series(small) == series(large)


def test_every_payload_is_a_valid_wire_reading(readings: list[SimReading]) -> None:
    for r in readings:
        payload = parse_payload(decode_json(r.payload()))
        assert parse_topic(r.topic("greenmon/v1"), "greenmon/v1") == (r.enterprise_id, r.meter_id)
        assert payload.ts == r.ts
        assert payload.value == r.value
        assert payload.unit == r.unit
        assert payload.kind is r.kind
        if r.kind is MeterKind.INTERVAL:
            assert payload.duration_s == 900
            assert b'"duration_s":900' in r.payload()
        else:
            assert b"duration_s" not in r.payload()


def test_values_are_exact_three_decimal_numbers(readings: list[SimReading]) -> None:
    for r in readings:
        text = json.loads(r.payload(), parse_float=str)["value"]
        assert text == repr(r.value)
        assert Decimal(text).as_tuple().exponent >= -3  # type: ignore[operator]
        assert r.value >= 0


def test_topic_layout(readings: list[SimReading]) -> None:
    r = readings[0]
    assert r.topic("greenmon/v1") == f"greenmon/v1/{r.enterprise_id}/{r.meter_id}/reading"
    assert r.topic("site/") == f"site/{r.enterprise_id}/{r.meter_id}/reading"


def test_time_order_and_local_day_boundaries(
    registry: Registry, readings: list[SimReading]
) -> None:
    stamps = [r.ts for r in readings]
    assert stamps == sorted(stamps)
    assert readings[0].payload().startswith(b'{"ts":"2025-01-01T00:00:00+08:00"')
    assert readings[0].ts == datetime(2025, 1, 1, tzinfo=TZ)
    # All meters at instant t before any at t + 15 min, in registry order.
    n = len(registry.meters)
    assert [r.meter_id for r in readings[:n]] == [m.meter_id for m in registry.meters]
    assert {r.ts for r in readings[:n]} == {readings[0].ts}
    last = readings[-1]
    assert last.kind is MeterKind.COUNTER
    assert last.ts.isoformat() == "2025-01-04T00:00:00+08:00"
    interval_last = max(r.ts for r in readings if r.kind is MeterKind.INTERVAL)
    assert interval_last.isoformat() == "2025-01-03T23:45:00+08:00"


def test_reading_counts(registry: Registry, readings: list[SimReading]) -> None:
    counts = Counter(r.meter_id for r in readings)
    for meter in registry.meters:
        expected = DAYS * 96 + (1 if meter.kind is MeterKind.COUNTER else 0)
        assert counts[meter.meter_id] == expected, meter


def test_rates_stay_well_below_the_registered_maximum(
    registry: Registry, readings: list[SimReading]
) -> None:
    meters = registry.meter_map()
    peak: dict[str, float] = defaultdict(float)
    previous: dict[str, float] = {}
    for r in readings:
        if r.kind is MeterKind.INTERVAL:
            amount = r.value
        else:
            amount = r.value - previous.get(r.meter_id, r.value)
            previous[r.meter_id] = r.value
        peak[r.meter_id] = max(peak[r.meter_id], amount * 4)
    for meter_id, rate in peak.items():
        assert 0 < rate <= meters[meter_id].max_rate_per_hour / 2, meter_id


def test_interval_must_divide_the_span(registry: Registry) -> None:
    with pytest.raises(ValueError, match="divide"):
        next(generate(registry, START, 1, 7 * 60, SEED, TZ))
    hourly = list(generate(registry, START, 1, 3600, SEED, TZ))
    assert Counter(r.meter_id for r in hourly)["E0001-M02"] == 24  # an interval meter


# --- truth -------------------------------------------------------------------------------


def test_truth_equals_the_readings_exactly(registry: Registry, readings: list[SimReading]) -> None:
    rows = truth_rows(registry, START, DAYS, 900, SEED, TZ)
    assert len(rows) == len(registry.meters) * DAYS
    assert rows == sorted(rows, key=lambda row: (row.meter_id, row.day))
    from_readings = daily_from_readings(readings)
    assert {(row.meter_id, row.day): row.quantity for row in rows} == from_readings
    units = {m.meter_id: m.unit for m in registry.meters}
    assert all(row.unit == units[row.meter_id] for row in rows)
    assert {row.day for row in rows} == {START + timedelta(days=i) for i in range(DAYS)}


def test_truth_csv_is_exact_and_round_trips(registry: Registry, tmp_path: Path) -> None:
    rows = truth_rows(registry, START, DAYS, 900, SEED, TZ)
    text = truth_csv(rows)
    lines = text.splitlines()
    assert lines[0] == "meter_id,day,quantity,unit"
    meter_id, day, quantity, _unit = lines[1].split(",")
    assert (meter_id, day) == ("E0001-M01", "2025-01-01")
    assert len(quantity.split(".")[1]) == 3
    assert Decimal(quantity) == rows[0].quantity
    write_truth(tmp_path / "truth.csv", rows)
    assert read_truth(tmp_path / "truth.csv") == rows
    assert parse_truth_csv("meter_id,day,quantity,unit\nM,2025-01-01,0.5,kWh\n") == [
        TruthRow("M", date(2025, 1, 1), 500, "kWh")
    ]


def test_enterprise_totals(registry: Registry) -> None:
    rows = truth_rows(registry, START, DAYS, 900, SEED, TZ)
    meters = registry.meter_map()
    totals = enterprise_totals(rows, registry)
    expected: dict[tuple[str, Carrier], Decimal] = defaultdict(Decimal)
    for row in rows:
        meter = meters[row.meter_id]
        scale = Decimal(repr(UNIT_SCALE[meter.carrier][meter.unit]))
        expected[meter.enterprise_id, meter.carrier] += row.quantity * scale
    assert {(t.enterprise_id, t.carrier): t.quantity for t in totals} == expected
    assert all(t.day is None for t in totals)
    daily = enterprise_totals(rows, registry, per_day=True)
    assert len({t.day for t in daily}) == DAYS
    assert sum(t.quantity for t in daily) == sum(t.quantity for t in totals)


def test_counters_roll_over_at_register_max(registry: Registry) -> None:
    meter = next(m for m in registry.meters if m.kind is MeterKind.COUNTER)
    small = Registry(registry.enterprises, (replace(meter, register_max=5000.0),))
    readings = list(generate(small, START, DAYS, 900, SEED, TZ))
    values = [r.value for r in readings]
    assert all(0 <= v < 5000 for v in values)
    assert any(b < a for a, b in itertools.pairwise(values))
    rows = truth_rows(small, START, DAYS, 900, SEED, TZ)
    total = Decimal(0)
    for a, b in itertools.pairwise(values):
        delta = Decimal(repr(b)) - Decimal(repr(a))
        total += delta if delta >= 0 else delta + 5000
    assert total == sum(row.quantity for row in rows)


def test_local_days_in_a_zone_with_daylight_saving(registry: Registry) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    spring = date(2025, 3, 30)  # 23 hours long
    readings = list(generate(registry, spring, 2, 900, SEED, berlin))
    interval = [r for r in readings if r.meter_id == "E0001-M02"]
    assert len(interval) == 92 + 96
    assert interval[0].ts.isoformat() == "2025-03-30T00:00:00+01:00"
    assert interval[-1].ts.isoformat() == "2025-03-31T23:45:00+02:00"
    rows = truth_rows(registry, spring, 2, 900, SEED, berlin)
    from_readings = daily_from_readings(readings)
    assert {(row.meter_id, row.day): row.quantity for row in rows} == from_readings


def test_small_simulation_is_fast(registry: Registry) -> None:
    began = time.perf_counter()
    payloads = [r.payload() for r in generate(registry, START, DAYS, 900, SEED, TZ)]
    truth_rows(registry, START, DAYS, 900, SEED, TZ)
    assert time.perf_counter() - began < 0.5
    assert len(payloads) > 3000


# --- publisher bookkeeping (no broker) ---------------------------------------------------


def test_publisher_tracks_acks_that_overtake_their_registration() -> None:
    tracker = _Tracker()
    tracker.on_publish(None, None, 7, None, None)  # type: ignore[arg-type]
    tracker.sent(7)
    tracker.sent(8)
    assert tracker.outstanding == {8}
    assert not tracker.early
    tracker.on_publish(None, None, 8, None, None)  # type: ignore[arg-type]
    tracker.wait_at_most(0, 0, stall_timeout_s=0.1)
    assert tracker.acked == 2


def test_publisher_reports_a_stall() -> None:
    tracker = _Tracker()
    tracker.sent(1)
    tracker.wait_at_most(1, 0, stall_timeout_s=0.1)  # under the high mark: no wait
    with pytest.raises(ServiceError, match="no PUBACK"):
        tracker.wait_at_most(0, 0, stall_timeout_s=0.2)

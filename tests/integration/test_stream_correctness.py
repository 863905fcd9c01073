"""Meter semantics through the real pipeline: gaps, placement, resets, quarantine,
late data and the daily data-quality figures."""

from __future__ import annotations

import csv
import io
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from greenmon.domain.reference import Carrier, MeterKind
from greenmon.domain.registry import Enterprise, Meter, Registry
from greenmon.feeds.publisher import publish
from greenmon.feeds.simulator import SimReading
from greenmon.storage import db
from tests.integration.conftest import Pipeline, read_topic, run_cli

pytestmark = pytest.mark.integration

TZ = ZoneInfo("Asia/Shanghai")
DAY = datetime(2025, 3, 10, tzinfo=TZ)
Q = timedelta(minutes=15)
REGISTRY = Registry(
    (Enterprise("E", "Plant", "chengyang", "food_beverage"),),
    (
        # at most 1000 kWh/h: 250 kWh per quarter hour
        Meter("E-C", "E", Carrier.ELECTRICITY, "kWh", MeterKind.COUNTER, 1000.0, 1e6),
        Meter("E-I", "E", Carrier.WATER, "m3", MeterKind.INTERVAL, 1000.0),
    ),
)
# registers at DAY + i quarter hours: +10 +15 +20 +25 +30, a reset (to 5), +10 +15,
# a spike of +1000 (quarantined: more than 250 in 15 minutes), then +10
REGISTERS = [100.0, 110.0, 125.0, 145.0, 170.0, 200.0, 5.0, 15.0, 30.0, 1030.0, 1040.0]
BOOKED = [10.0, 15.0, 20.0, 25.0, 30.0, 5.0, 10.0, 15.0, 0.0, 10.0]  # per slot 0..9
WITHHELD = (3, 4)


def _counter(i: int) -> SimReading:
    return SimReading("E", "E-C", DAY + i * Q, REGISTERS[i], "kWh", MeterKind.COUNTER, 900)


def _water(at: datetime, value: float) -> SimReading:
    return SimReading("E", "E-I", at, value, "m3", MeterKind.INTERVAL, 900)


def _slots(pipeline: Pipeline, meter: str) -> dict[int, tuple[float, bool]]:
    with db.connect(pipeline.settings) as conn:
        rows = conn.execute(
            "SELECT interval_start, quantity, estimated FROM consumption_15m "
            "WHERE meter_id = %s ORDER BY 1",
            (meter,),
        ).fetchall()
    return {int((t - DAY) / Q): (q, e) for t, q, e in rows}


def _cli(pipeline: Pipeline, *args: str) -> str:
    return run_cli(pipeline.settings, *args).stdout


def test_meter_semantics_late_data_and_quality(pipeline: Pipeline) -> None:
    pipeline.load_registry(REGISTRY)
    pipeline.start("processor")
    pipeline.start("collector")
    first = [_counter(i) for i in range(len(REGISTERS)) if i not in WITHHELD]
    publish(first, pipeline.settings, client_id="sem-1")
    pipeline.wait_stored(len(first))
    pipeline.wait_idle()
    slots = _slots(pipeline, "E-C")
    # the gap 125 -> 200 over three quarter hours is apportioned, 25 each, estimated
    assert [slots[i] for i in (2, 3, 4)] == [(25.0, True)] * 3
    # the spike is quarantined with its reason, not booked; the reset books 5, not -195
    assert 8 not in slots and slots[5] == (5.0, False)
    with db.connect(pipeline.settings) as conn:
        q = conn.execute("SELECT delta, reason FROM quarantine WHERE meter_id = 'E-C'").fetchall()
    assert len(q) == 1 and q[0][0] == 1000.0 and "exceeds the physical maximum" in q[0][1]

    # the withheld registers arrive after newer ones: placed in time, not taken as resets
    publish([_counter(i) for i in WITHHELD], pipeline.settings, client_id="sem-2")
    pipeline.wait_stored(len(REGISTERS))
    pipeline.wait_idle()
    slots = _slots(pipeline, "E-C")
    for i, booked in enumerate(BOOKED):
        if booked:
            assert slots[i][0] == pytest.approx(booked, abs=1e-9), i
            assert slots[i][1] is False, f"slot {i} still marked estimated"
    day = DAY.date().isoformat()
    rows = list(csv.DictReader(io.StringIO(_cli(
        pipeline, "export", "--entity", "meter", "--period", "day", "--from", day, "--to", day,
        "--id", "E-C"))))  # fmt: skip
    assert float(rows[0]["quantity"]) == pytest.approx(sum(BOOKED), abs=1e-9)

    # water: one reading a quarter hour; one more from 8 days before is late
    water = [_water(DAY + i * Q, 2.0) for i in range(4)]
    old = _water(DAY - timedelta(days=8), 7.0)
    publish(water, pipeline.settings, client_id="sem-3")
    pipeline.wait_stored(len(REGISTERS) + 4)
    publish([old], pipeline.settings, client_id="sem-4")
    late = read_topic(pipeline.settings, pipeline.settings.topic_late, expected=1)
    assert [(r["m"], r["v"]) for r in late] == [("E-I", 7.0)]
    pipeline.wait_idle()
    assert pipeline.stored_count() == len(REGISTERS) + 4  # set aside, not stored
    # recompute --late takes it in
    old_day = (DAY - timedelta(days=8)).date().isoformat()
    out = _cli(pipeline, "recompute", "--late", "--from", old_day, "--to", old_day)
    assert "took in 1 late readings" in out
    assert pipeline.wait_stored(len(REGISTERS) + 5) == len(REGISTERS) + 5
    pipeline.wait_idle()
    assert _slots(pipeline, "E-I")[int((timedelta(days=-8)) / Q)] == (7.0, False)

    # quality of the day, per meter: present intervals out of 96, resets, quarantine
    deadline = time.monotonic() + 30
    while True:
        text = _cli(pipeline, "export", "--entity", "meter", "--quality", "--period", "day",
                    "--from", day, "--to", day)  # fmt: skip
        quality = {r["id"]: r for r in csv.DictReader(io.StringIO(text))}
        if "E-C" in quality and int(quality["E-C"]["present"]) == 9:
            break
        assert time.monotonic() < deadline, text
        time.sleep(0.5)
    c, w = quality["E-C"], quality["E-I"]
    assert (int(c["expected"]), int(c["estimated"])) == (96, 0)
    assert float(c["completeness"]) == pytest.approx(9 / 96)
    assert (int(c["resets"]), int(c["quarantined"])) == (1, 1)
    assert int(w["present"]) == 4 and float(w["completeness"]) == pytest.approx(4 / 96)
    assert float(c["delay_p50_s"]) >= 0
    summary = list(csv.DictReader(io.StringIO(_cli(
        pipeline, "export", "--entity", "enterprise", "--quality", "--period", "day",
        "--from", day, "--to", day))))  # fmt: skip
    assert summary[0]["id"] == "E" and int(summary[0]["meters"]) == 2
    assert float(summary[0]["completeness"]) == pytest.approx((9 + 4) / 192)

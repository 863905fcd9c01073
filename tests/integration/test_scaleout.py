"""Scale-out: two collectors share the readings (MQTT shared subscription), two
processors share the partitions (Kafka consumer group), and one of each is killed -9
while readings flow. Nothing is lost and nothing is booked twice: every reading is
stored once, the 15-minute rows match the simulator's truth per meter and day, and
``enterprise_month`` holds exactly the sums of the 15-minute rows (water against the
truth too).
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import date

import pytest

from greenmon.domain.reference import Carrier
from greenmon.domain.registry import Registry
from greenmon.feeds.truth import TruthRow, enterprise_totals
from greenmon.jobs.runner import start_service
from greenmon.local.process import ManagedProcess
from greenmon.storage import db
from greenmon.storage.heartbeat import wait_subscribed
from tests.integration import faults
from tests.integration.conftest import PacedFeed, Pipeline

pytestmark = pytest.mark.integration


def _start_collector(pipeline: Pipeline, name: str, client_id: str) -> ManagedProcess:
    own = pipeline.settings.model_copy(update={"collector_client_id": client_id})
    proc = start_service("collector", own, pipeline.log_dir, name=name)
    pipeline.procs[name] = proc
    with db.connect(pipeline.settings, autocommit=True) as conn:
        wait_subscribed(conn, proc.pid, timeout=60, alive=proc.alive)
    return proc


def _received(pipeline: Pipeline, proc: ManagedProcess) -> int:
    return faults.heartbeat_counter(pipeline, "collector", proc.pid, "received")


def test_two_collectors_and_two_processors_one_of_each_killed(pipeline: Pipeline) -> None:
    group = f"collectors-{pipeline.settings.processor_group}"  # one test's own share group
    pipeline.settings = pipeline.settings.model_copy(
        update={"kafka_session_timeout_ms": 3000, "collector_share_group": group}
    )
    registry, readings, truth = faults.fleet(seed=31)
    pipeline.load_registry(registry)
    pipeline.start("processor")
    second = start_service("processor", pipeline.settings, pipeline.log_dir, name="processor2")
    pipeline.procs["processor2"] = second
    a = _start_collector(pipeline, "collector", "greenmon-collector-a")
    b = _start_collector(pipeline, "collector2", "greenmon-collector-b")
    feed = PacedFeed(readings, pipeline.settings, 30, "feed-scaleout", rounds=3).start()

    faults.wait_until(
        "both collectors to take readings",
        lambda: _received(pipeline, a) > 0 and _received(pipeline, b) > 0,
        60,
        pipeline,
    )
    faults.wait_until("readings stored", faults.grew(pipeline, 0), 60, pipeline)
    stored_at_kill = pipeline.stored_count()
    assert stored_at_kill < len(readings), "the kill came after the feed was all stored"
    pipeline.kill("collector2")
    pipeline.kill("processor2")
    del pipeline.procs["processor2"]  # dead on purpose: the group moves its partitions
    feed.release()  # readings flow while collector b is away: its share waits in its session
    published = feed.published
    faults.wait_until("more readings published", faults.more(feed, published), 60, pipeline)
    time.sleep(2.0)
    _start_collector(pipeline, "collector2", "greenmon-collector-b")  # back, same session
    faults.finish(pipeline, feed, readings)
    faults.assert_matches_truth(pipeline, truth, faults.START, faults.DAYS)
    _assert_months_booked_once(pipeline, registry, truth)
    faults.alive(pipeline, "processor", "collector", "collector2")


def _assert_months_booked_once(
    pipeline: Pipeline, registry: Registry, rows: list[TruthRow]
) -> None:
    """enterprise_month equals the sums of the 15-minute rows; its water equals the truth."""
    tz = pipeline.settings.tz.key
    with db.connect(pipeline.settings, autocommit=True) as conn:
        booked = conn.execute(
            "SELECT enterprise_id, month, energy_tce + excluded_tce, co2_t, water_m3 "
            "FROM enterprise_month"
        ).fetchall()
        sums = conn.execute(
            "SELECT enterprise_id, date_trunc('month', interval_start AT TIME ZONE %s)::date, "
            "coalesce(sum(energy_tce), 0), coalesce(sum(co2_t), 0), coalesce(sum(water_m3), 0) "
            "FROM consumption_15m GROUP BY 1, 2",
            (tz,),
        ).fetchall()
    got = {(e, m): (float(t), float(c), float(w)) for e, m, t, c, w in booked}
    want = {(e, m): (float(t), float(c), float(w)) for e, m, t, c, w in sums}
    assert set(got) == set(want)
    for key, (tce, co2, water) in want.items():
        b_tce, b_co2, b_water = got[key]
        assert b_tce == pytest.approx(tce, rel=1e-9, abs=1e-12), key
        assert b_co2 == pytest.approx(co2, rel=1e-9, abs=1e-12), key
        assert b_water == pytest.approx(water, rel=1e-9, abs=1e-12), key
    truth_water: dict[str, float] = defaultdict(float)
    for t in enterprise_totals(rows, registry):
        if t.carrier == Carrier.WATER:
            truth_water[t.enterprise_id] += float(t.quantity)
    month = date(faults.START.year, faults.START.month, 1)
    for enterprise_id, water in truth_water.items():
        assert got[(enterprise_id, month)][2] == pytest.approx(water, rel=1e-9), enterprise_id

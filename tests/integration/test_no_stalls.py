"""Background work never stops the ingest path: while a roll-up refresh cannot finish,
stored readings still grow every second, and the refresh completes afterwards."""

from __future__ import annotations

import itertools
import time

import pytest

from greenmon.storage import db
from tests.integration.conftest import PacedFeed, Pipeline, assert_matches_truth
from tests.integration.faults import START, fleet, wait_until

pytestmark = pytest.mark.integration

#: seconds the roll-up refresh is held up while readings flow
HELD_S = 8


def _refresh_waiting(conn: db.Conn) -> bool:
    """A roll-up refresh is under way and waits for the table lock the test holds."""
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO rollups%%'"
    ).fetchone()
    return bool(row and row[0])


def test_stored_readings_grow_every_second_while_a_refresh_is_held_up(
    pipeline: Pipeline,
) -> None:
    registry, readings, truth = fleet(seed=11, days=2)
    pipeline.load_registry(registry)
    pipeline.start("processor")
    pipeline.start("collector")
    feed = PacedFeed(readings, pipeline.settings, 40, "feed-no-stalls").start()
    wait_until("first readings stored", lambda: pipeline.stored_count() > 0, 90, pipeline)
    with (
        db.connect(pipeline.settings) as holder,
        db.connect(pipeline.settings, autocommit=True) as watch,
    ):
        # the refresh's upsert into rollups now waits for this lock, as a slow one would
        holder.execute("LOCK TABLE rollups IN ACCESS EXCLUSIVE MODE")
        wait_until("a refresh held up", lambda: _refresh_waiting(watch), 30, pipeline)
        counts = [pipeline.stored_count()]
        for _ in range(HELD_S):
            time.sleep(1.0)
            counts.append(pipeline.stored_count())
        assert _refresh_waiting(watch), "the refresh finished early: the test proves nothing"
        holder.rollback()  # the refresh may go on
    steps = [b - a for a, b in itertools.pairwise(counts)]
    assert all(s > 0 for s in steps), f"stored readings per second during the refresh: {steps}"
    assert feed.join() == len(readings)
    assert pipeline.wait_stored(len(readings), timeout=120) == len(readings), pipeline.logs()
    pipeline.wait_idle()
    assert_matches_truth(pipeline, truth, START, 2)
    # and the refresh held up above completed later: the city's roll-up holds every booking
    with db.connect(pipeline.settings, autocommit=True) as conn:

        def city_is_current() -> bool:
            row = conn.execute(
                "SELECT (SELECT sum(energy_tce) FROM rollups WHERE entity = 'city' "
                "AND kind = 'month'), (SELECT sum(energy_tce) FROM enterprise_month)"
            ).fetchone()
            return bool(row and row[0] is not None and abs(row[0] - row[1]) < 1e-9 * row[1])

        wait_until("roll-ups refreshed after the hold", city_is_current, 60, pipeline)

"""Fault injection on the real services: crashes of the services, a rebalance.

Each test runs a paced simulated feed in a background thread, injects its fault while
readings flow (asserted: fewer readings stored at the fault than published in all),
waits for every reading and then compares the stored totals per meter per local day
with the simulator's ground truth (relative error <= 1e-9), and checks that every
reading is stored exactly once.
"""

from __future__ import annotations

import re
import time

import pytest

from greenmon.jobs.runner import start_service
from greenmon.local.process import ManagedProcess
from greenmon.storage import db
from tests.integration import faults
from tests.integration.conftest import PacedFeed, Pipeline, hold

pytestmark = pytest.mark.integration


def test_processor_kill_9_five_times_while_data_flows(pipeline: Pipeline) -> None:
    # A restarted member waits for the killed one's session to expire, then tansu adds its
    # 3 s initial rebalance delay: about 7 s a kill with a 3 s session.
    pipeline.settings = pipeline.settings.model_copy(update={"kafka_session_timeout_ms": 3000})
    registry, readings, truth = faults.fleet(seed=21)
    pipeline.load_registry(registry)
    pipeline.start("processor")
    pipeline.start("collector")
    pauses = (0.3, 1.2, 0.0, 0.7, 0.4)
    feed = PacedFeed(
        readings, pipeline.settings, 36, "feed-proc-kill", rounds=len(pauses) + 1
    ).start()
    # each incarnation stores something before it is killed, at a varying moment after
    last = 0
    for kill, pause in enumerate(pauses):
        faults.wait_until(
            f"the processor to store readings before kill {kill + 1}",
            faults.grew(pipeline, last),
            60,
            pipeline,
        )
        time.sleep(pause)
        last = pipeline.stored_count()
        assert last < len(readings), f"kill {kill + 1} came after the feed was all stored"
        pipeline.kill("processor")
        pipeline.start("processor")
        feed.release()  # the next part: the new incarnation has a backlog to catch up
    faults.finish(pipeline, feed, readings)
    faults.assert_matches_truth(pipeline, truth, faults.START, faults.DAYS)
    faults.assert_books_match_truth(pipeline, registry, truth)
    faults.alive(pipeline, "processor", "collector")


def test_collector_kill_9_three_times_while_data_flows(pipeline: Pipeline) -> None:
    registry, readings, truth = faults.fleet(seed=22)
    pipeline.load_registry(registry)
    pipeline.start("processor")
    pipeline.start("collector")
    feed = PacedFeed(readings, pipeline.settings, 16, "feed-coll-kill", rounds=4).start()
    published = 0
    for kill in range(3):
        faults.wait_until(
            f"readings published before kill {kill + 1}", faults.more(feed, published), 30, pipeline
        )
        time.sleep(1.0)  # the part is 4 s long: the collector dies while it flows
        published = feed.published
        assert published < len(readings)
        pipeline.kill("collector")
        pipeline.start("collector")
        feed.release()
    faults.finish(pipeline, feed, readings)
    faults.assert_matches_truth(pipeline, truth, faults.START, faults.DAYS)
    faults.assert_books_match_truth(pipeline, registry, truth)
    faults.alive(pipeline, "processor", "collector")


def _stored(pipeline: Pipeline, count: int) -> None:
    assert pipeline.stored_count() == count


_ASSIGNED = re.compile(r"partitions assigned: \[([0-9, ]*)\]")


def _assignments(proc: ManagedProcess) -> list[set[int]]:
    return [
        {int(p) for p in m.split(",") if p.strip()}
        for m in _ASSIGNED.findall(faults.log_text(proc))
    ]


def test_two_processors_rebalance_mid_batch_then_one_killed(pipeline: Pipeline) -> None:
    """Two processors in one group: a rebalance while a batch is held, then a kill -9.

    The test first holds the group's stored positions locked, so the running processor
    blocks inside its batch transaction while a second one joins and the group
    rebalances; released, the first commits (fenced by the positions) and must not
    crash on the Kafka commit. Then the second is killed: its partitions move back.
    """
    registry, readings, truth = faults.fleet(seed=26)
    pipeline.load_registry(registry)
    first = pipeline.start("processor")
    pipeline.start("collector")
    feed = PacedFeed(readings, pipeline.settings, 24, "feed-group", rounds=3).start()
    partitions = pipeline.settings.kafka_partitions
    faults.wait_until("readings stored", lambda: pipeline.stored_count() > 0, 60, pipeline)
    with db.connect(pipeline.settings) as lock:
        lock.execute("SELECT * FROM stream_offsets FOR UPDATE").fetchall()
        held = pipeline.stored_count()
        second = start_service("processor", pipeline.settings, pipeline.log_dir, name="processor2")
        pipeline.procs["processor2"] = second
        faults.wait_until(
            "the second processor to ask to join",
            lambda: "partitions revoked: []" in faults.log_text(second),
            30,
            pipeline,
        )
        hold("the lock holding the batch", lambda: _stored(pipeline, held), 2.0)
        lock.rollback()
    feed.release()

    def both_store() -> bool:
        return all(
            faults.heartbeat_counter(pipeline, "processor", p.pid, "stored") > 0
            for p in (first, second)
        )

    def split() -> bool:
        mine, theirs = _assignments(first), _assignments(second)
        if not mine or not theirs:
            return False
        return bool(mine[-1] and theirs[-1] and not mine[-1] & theirs[-1]) and (
            len(mine[-1] | theirs[-1]) == partitions
        )

    faults.wait_until("both processors to store readings", both_store, 45, pipeline)
    faults.wait_until("the partitions to be split between the two", split, 30, pipeline)
    assert pipeline.stored_count() < len(readings)
    pipeline.kill("processor2")
    faults.wait_until(
        "the survivor to take every partition",
        lambda: len(_assignments(first)[-1]) == partitions,
        60,  # the dead member's session (6 s) expires, then the group rebalances
        pipeline,
    )
    del pipeline.procs["processor2"]  # dead on purpose; wait_stored checks the rest
    feed.release()
    faults.finish(pipeline, feed, readings)
    faults.assert_matches_truth(pipeline, truth, faults.START, faults.DAYS)
    faults.assert_books_match_truth(pipeline, registry, truth)
    faults.alive(pipeline, "processor", "collector")

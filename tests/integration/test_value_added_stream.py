"""Value-added over Kafka with two processors and a crash: each message applied once.

Every processor reads every partition of the value-added topic (no consumer group);
the positions stored with the figures decide who applies a message. Each message here
is a different month, so "applied once" is exact: one history row and revision 1 each.
"""

from __future__ import annotations

import json

import pytest
from kafka import KafkaProducer

from greenmon.jobs.runner import start_service
from greenmon.storage import db
from tests.integration.conftest import Pipeline, hold
from tests.integration.faults import wait_until
from tests.integration.test_accounting import REGISTRY

pytestmark = pytest.mark.integration


def send(pipeline: Pipeline, months: range) -> None:
    producer = KafkaProducer(bootstrap_servers=pipeline.settings.kafka_bootstrap)
    for m in months:
        doc = {"enterprise_id": "C", "month": f"2023-{m:02d}", "value_added": float(m),
               "price_basis": "constant_2020"}  # fmt: skip
        producer.send(pipeline.settings.topic_value_added, json.dumps(doc).encode())
    producer.flush()
    producer.close()


def applied(pipeline: Pipeline) -> tuple[dict[int, tuple[float, int]], int]:
    """{month: (value, revision)} of C, and C's history rows."""
    with db.connect(pipeline.settings, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT extract(month FROM month)::int, value_added, revision FROM value_added "
            "WHERE enterprise_id = 'C'"
        ).fetchall()
        history = conn.execute(
            "SELECT count(*) FROM value_added_history WHERE enterprise_id = 'C'"
        ).fetchone()
    return {int(m): (float(v), int(r)) for m, v, r in rows}, int(history[0]) if history else 0


def wait_applied(pipeline: Pipeline, months: int) -> None:
    wait_until("value-added applied", lambda: len(applied(pipeline)[0]) >= months, 60, pipeline)


def _applied_once(pipeline: Pipeline, months: int) -> None:
    assert applied(pipeline) == ({m: (float(m), 1) for m in range(1, months + 1)}, months)


def test_two_processors_and_a_kill_apply_each_value_added_message_once(
    pipeline: Pipeline,
) -> None:
    pipeline.load_registry(REGISTRY)
    pipeline.start("processor")
    second = start_service("processor", pipeline.settings, pipeline.log_dir, name="processor2")
    pipeline.procs["processor2"] = second
    send(pipeline, range(1, 7))
    wait_applied(pipeline, 6)
    # both have read everything: nothing more may be applied
    hold("six months applied once", lambda: _applied_once(pipeline, 6), 2.0)
    # a crash, a restart from the stored positions, and more messages
    pipeline.kill("processor2")
    again = start_service("processor", pipeline.settings, pipeline.log_dir, name="processor3")
    pipeline.procs["processor3"] = again
    send(pipeline, range(7, 10))
    wait_applied(pipeline, 9)
    hold("nine months applied once", lambda: _applied_once(pipeline, 9), 2.0)

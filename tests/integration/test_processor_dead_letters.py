"""The processor's own dead-letter path, end to end: records on the readings topic that
are not valid readings go to the dead-letter topic with their reason, the processor's
positions move past them, and the readings after them are stored."""

from __future__ import annotations

import base64

import pytest
from kafka import KafkaProducer

from greenmon.feeds.publisher import publish
from tests.integration import faults
from tests.integration.conftest import Pipeline, read_topic

pytestmark = pytest.mark.integration

BAD: list[tuple[bytes, str]] = [  # (record value, what its dead letter's reason says)
    (b"not json at all", "not a greenmon reading record"),
    (b'{"e": "E0001", "m": "E0001-M01", "ts": 1740787200000}', "not a greenmon reading record"),
    (b"\xff\xfe\x00binary", "not a greenmon reading record"),
    (
        b'{"e":"E0001","m":"E0001-M01","ts":1740787200000,"v":-5.0,"u":"kWh","k":"interval",'
        b'"d":900,"rx":1740787200000}',
        "is not a finite non-negative number",
    ),
]


def _payload(letter: dict[str, str]) -> bytes:
    if letter["payload_encoding"] == "base64":
        return base64.b64decode(letter["payload"])
    return letter["payload"].encode("utf-8")


def test_invalid_records_on_the_readings_topic_are_dead_lettered_and_passed(
    pipeline: Pipeline,
) -> None:
    registry, readings, truth = faults.fleet(seed=31)
    pipeline.load_registry(registry)
    processor = pipeline.start("processor")
    pipeline.start("collector")
    _send(pipeline, [value for value, _reason in BAD])
    assert publish(readings, pipeline.settings, client_id="after-bad") == len(readings)
    assert pipeline.wait_stored(len(readings)) == len(readings), pipeline.logs()
    pipeline.wait_idle()  # the stored positions are past every record, the bad ones too
    dead = read_topic(pipeline.settings, pipeline.settings.topic_dlq, len(BAD))
    got = sorted((_payload(d), d["source"]) for d in dead)
    assert got == sorted((value, "processor") for value, _r in BAD)
    for d in dead:
        reason = next(r for v, r in BAD if v == _payload(d))
        assert reason in d["reason"], d
        assert d["origin"].startswith(f"{pipeline.settings.topic_readings}/"), d
    faults.assert_matches_truth(pipeline, truth, faults.START, faults.DAYS)
    faults.assert_books_match_truth(pipeline, registry, truth)
    # a restart resumes after them: one more bad record is the only new dead letter
    pipeline.kill("processor")
    assert not processor.alive()
    pipeline.start("processor")
    _send(pipeline, [b"after the restart"])
    again = read_topic(pipeline.settings, pipeline.settings.topic_dlq, len(BAD) + 1)
    assert sorted(_payload(d) for d in again) == sorted(
        [*(v for v, _r in BAD), b"after the restart"]
    )
    assert pipeline.stored_count() == len(readings)


def _send(pipeline: Pipeline, values: list[bytes]) -> None:
    """Records straight onto the readings topic, past the collector's checks."""
    producer = KafkaProducer(bootstrap_servers=pipeline.settings.kafka_bootstrap)
    for value in values:
        producer.send(pipeline.settings.topic_readings, value)
    producer.flush()
    producer.close()

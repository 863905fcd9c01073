"""collector.validate.validate_message: topic, payload and registry checks of one MQTT message."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from collector.validate import MeterLookup, validate_message
from greenmon.domain.reference import Carrier, MeterKind
from greenmon.domain.registry import Meter
from greenmon.domain.wire import Reading
from greenmon.errors import InvalidReading

PREFIX = "greenmon/v1"
TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2025, 1, 1, 0, 20, tzinfo=TZ)
TOLERANCE = timedelta(seconds=300)
REGISTRY = MeterLookup(
    {
        "M1": Meter("M1", "E1", Carrier.ELECTRICITY, "kWh", MeterKind.COUNTER, 4000.0),
        "G1": Meter("G1", "E1", Carrier.NATURAL_GAS, "m3", MeterKind.INTERVAL, 100.0),
        "W2": Meter("W2", "E2", Carrier.WATER, "m3", MeterKind.INTERVAL, 10.0),
    }
)


def payload(**changes: Any) -> bytes:
    doc: dict[str, Any] = {
        "ts": "2025-01-01T00:15:00+08:00",
        "value": 10234.5,
        "unit": "kWh",
        "kind": "counter",
    }
    doc.update(changes)
    return json.dumps(doc).encode()


def validate(topic: str, body: bytes, now: datetime = NOW) -> Reading:
    return validate_message(
        topic, body, REGISTRY, prefix=PREFIX, now=now, future_tolerance=TOLERANCE
    )


def refusal(topic: str, body: bytes) -> str:
    with pytest.raises(InvalidReading) as info:
        validate(topic, body)
    return str(info.value)


def test_valid_message_returns_a_utc_reading() -> None:
    reading = validate("greenmon/v1/E1/M1/reading", payload())
    assert reading == Reading(
        enterprise_id="E1",
        meter_id="M1",
        ts=datetime(2024, 12, 31, 16, 15, tzinfo=UTC),  # 00:15 at +08:00
        value=10234.5,
        unit="kWh",
        kind=MeterKind.COUNTER,
        duration_s=900,
    )
    assert reading.ts.utcoffset() == timedelta(0)
    assert reading.ts.tzname() == "UTC"


def test_valid_interval_message() -> None:
    body = payload(unit="m3", kind="interval", value=3.5, duration_s=600)
    reading = validate("greenmon/v1/E1/G1/reading", body)
    assert (reading.meter_id, reading.value, reading.duration_s) == ("G1", 3.5, 600)


def test_unknown_meter_is_refused() -> None:
    reason = refusal("greenmon/v1/E1/M9/reading", payload())
    assert "unknown meter 'M9'" in reason


def test_meter_under_another_enterprise_is_refused() -> None:
    reason = refusal("greenmon/v1/E2/M1/reading", payload())
    assert "'M1'" in reason
    assert "does not belong to enterprise 'E2'" in reason


def test_unit_mismatch_is_refused() -> None:
    reason = refusal("greenmon/v1/E1/M1/reading", payload(unit="MWh"))
    assert "unit 'MWh'" in reason
    assert "registered unit 'kWh'" in reason


def test_kind_mismatch_is_refused() -> None:
    reason = refusal("greenmon/v1/E1/M1/reading", payload(kind="interval"))
    assert "kind 'interval'" in reason
    assert "registered kind 'counter'" in reason


def test_timestamp_beyond_the_future_tolerance_is_refused() -> None:
    # NOW is 00:20 local; 00:25 is exactly 300 s ahead, 00:25:01 is 301 s ahead
    at_limit = validate("greenmon/v1/E1/M1/reading", payload(ts="2025-01-01T00:25:00+08:00"))
    assert at_limit.ts == datetime(2024, 12, 31, 16, 25, tzinfo=UTC)
    reason = refusal("greenmon/v1/E1/M1/reading", payload(ts="2025-01-01T00:25:01+08:00"))
    assert "in the future" in reason
    assert "300 s" in reason


def test_future_check_compares_instants_not_wall_clocks() -> None:
    # 16:30Z is 00:30 local: 10 minutes ahead of NOW even though written in UTC
    reason = refusal("greenmon/v1/E1/M1/reading", payload(ts="2024-12-31T16:30:00Z"))
    assert "in the future" in reason
    ok = validate("greenmon/v1/E1/M1/reading", payload(ts="2024-12-31T16:20:00Z"))
    assert ok.ts == datetime(2024, 12, 31, 16, 20, tzinfo=UTC)


@pytest.mark.parametrize(
    ("topic", "body", "words"),
    [
        ("greenmon/v2/E1/M1/reading", payload(), ["not under"]),
        ("greenmon/v1/E1/M+/reading", payload(), ["meter id"]),
        ("greenmon/v1/E1/M1/reading", b"\xff", ["UTF-8"]),
        ("greenmon/v1/E1/M1/reading", b"[]", ["JSON object"]),
        ("greenmon/v1/E1/M1/reading", payload(ts="2025-01-01T00:15:00"), ["ts", "timezone"]),
        ("greenmon/v1/E1/M1/reading", payload(value=-3), ["value"]),
    ],
)
def test_bad_topic_or_payload_is_refused(topic: str, body: bytes, words: list[str]) -> None:
    reason = refusal(topic, body)
    for word in words:
        assert word in reason

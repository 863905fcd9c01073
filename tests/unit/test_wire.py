"""Wire format: MQTT topic and JSON payload parsing, and the Kafka record round trip."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greenmon.domain.reference import MeterKind
from greenmon.domain.wire import (
    MAX_PAYLOAD_BYTES,
    Reading,
    ReadingPayload,
    decode_json,
    decode_record,
    parse_payload,
    parse_topic,
    to_reading,
)
from greenmon.errors import InvalidReading

PREFIX = "greenmon/v1"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ID_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-."
UNITS = ["kWh", "MWh", "m3", "kg", "t", "MJ", "GJ"]  # DESIGN.md carriers' units


def body(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "ts": "2025-01-01T00:15:00+08:00",
        "value": 10234.5,
        "unit": "kWh",
        "kind": "counter",
    }
    doc.update(changes)
    return doc


def parse_raw(raw: bytes) -> ReadingPayload:
    return parse_payload(decode_json(raw))


def reason_of(raw: bytes) -> str:
    with pytest.raises(InvalidReading) as info:
        parse_raw(raw)
    return str(info.value)


# --- valid payloads ------------------------------------------------------------------------


def test_valid_counter_payload_becomes_a_utc_reading() -> None:
    payload = parse_raw(json.dumps(body()).encode())
    reading = to_reading("E1", "M1", payload)
    # 00:15 at +08:00 is 16:15 UTC on the previous day
    assert reading.ts == datetime(2024, 12, 31, 16, 15, tzinfo=UTC)
    assert reading.ts.utcoffset() == timedelta(0)
    assert reading.value == 10234.5
    assert reading.unit == "kWh"
    assert reading.kind is MeterKind.COUNTER
    assert reading.duration_s == 900  # the documented default: 15 minutes
    assert (reading.enterprise_id, reading.meter_id) == ("E1", "M1")


def test_valid_interval_payload_keeps_its_duration() -> None:
    raw = json.dumps(body(value=12.5, unit="m3", kind="interval", duration_s=300)).encode()
    reading = to_reading("E1", "G1", parse_raw(raw))
    assert reading.kind is MeterKind.INTERVAL
    assert reading.duration_s == 300
    assert reading.value == 12.5
    assert reading.unit == "m3"


def test_utc_z_suffix_and_zero_value_are_accepted() -> None:
    payload = parse_payload(body(ts="2025-01-01T00:00:00Z", value=0))
    assert payload.ts == datetime(2025, 1, 1, tzinfo=UTC)
    assert payload.value == 0.0


def test_payload_of_exactly_the_maximum_size_is_accepted() -> None:
    text = json.dumps(body())
    raw = (text + " " * (MAX_PAYLOAD_BYTES - len(text))).encode()
    assert len(raw) == 64 * 1024
    assert parse_raw(raw).value == 10234.5


# --- refused payloads ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "words"),
    [
        (body(ts="2025-01-01T00:15:00"), ["ts", "timezone"]),
        (body(ts="yesterday"), ["ts"]),
        (body(value=-1), ["value", "greater than or equal to 0"]),
        (body(value=1e16), ["value", "less than or equal"]),
        (body(value=[1]), ["value"]),
        (body(value=None), ["value"]),
        (body(unit="kwh"), ["unit", "'kwh'"]),
        (body(unit="furlongs"), ["unit", "'furlongs'"]),
        (body(kind="gauge"), ["kind", "'counter' or 'interval'"]),
        (body(kind="COUNTER"), ["kind"]),
        (body(duration_s=0), ["duration_s", "greater than 0"]),
        (body(duration_s=86401), ["duration_s", "less than or equal"]),
        (body(duration_s=900.5), ["duration_s", "integer"]),
        (body(extra_field=1), ["extra_field", "Extra inputs"]),
        ({k: v for k, v in body().items() if k != "value"}, ["value", "required"]),
        ({k: v for k, v in body().items() if k != "ts"}, ["ts", "required"]),
        ({k: v for k, v in body().items() if k != "unit"}, ["unit", "required"]),
        ({k: v for k, v in body().items() if k != "kind"}, ["kind", "required"]),
    ],
)
def test_bad_fields_are_refused_with_the_field_named(doc: dict[str, Any], words: list[str]) -> None:
    with pytest.raises(InvalidReading) as info:
        parse_payload(doc)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize("doc", [[1, 2], "reading", 5, None, True])
def test_non_object_json_is_refused(doc: Any) -> None:
    with pytest.raises(InvalidReading, match=f"must be a JSON object, not {type(doc).__name__}"):
        parse_payload(doc)


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b'{"value": NaN}', ["not valid JSON", "NaN"]),
        (b'{"value": Infinity}', ["not valid JSON", "Infinity"]),
        (b'{"value": -Infinity}', ["not valid JSON", "-Infinity"]),
        (b"\xff\xfe{}", ["not valid UTF-8", "byte 0"]),
        (b'{"ts": "\xc3"}', ["not valid UTF-8", "byte 8"]),
        (b"{", ["not valid JSON"]),
        (b"", ["not valid JSON"]),
        (b"[" * 60_000, ["nested too deeply"]),
        (b"[" * 100_000, ["100000 bytes", "exceeds"]),
        (b'{"v": "' + b"x" * MAX_PAYLOAD_BYTES + b'"}', ["exceeds", "65536"]),
        (b'{"value": ' + b"9" * 5000 + b"}", ["not valid JSON"]),
    ],
)
def test_undecodable_payloads_are_refused_with_a_reason(raw: bytes, words: list[str]) -> None:
    reason = reason_of(raw)
    for word in words:
        assert word in reason


def test_overflowing_number_is_refused_as_not_finite() -> None:
    # 1e400 is valid JSON syntax but overflows a double to inf
    raw = json.dumps(body()).replace("10234.5", "1e400").encode()
    assert "1e400" in raw.decode()
    reason = reason_of(raw)
    assert "value" in reason
    assert "finite" in reason


@pytest.mark.parametrize("change", [{"value": "12.5"}, {"value": True}, {"duration_s": "900"}])
def test_strings_or_booleans_for_numbers_are_refused(change: dict[str, Any]) -> None:
    with pytest.raises(InvalidReading):
        parse_payload(body(**change))


# --- topics --------------------------------------------------------------------------------


def test_topic_is_split_into_enterprise_and_meter() -> None:
    assert parse_topic("greenmon/v1/E1/M1/reading", PREFIX) == ("E1", "M1")
    assert parse_topic("greenmon/v1/ent_2/m-3.a/reading", PREFIX + "/") == ("ent_2", "m-3.a")


@pytest.mark.parametrize(
    ("topic", "words"),
    [
        ("greenmon/v2/E1/M1/reading", ["not under", "greenmon/v1/"]),
        ("greenmon/v1x/E1/M1/reading", ["not under"]),
        ("other/E1/M1/reading", ["not under"]),
        ("greenmon/v1/E1/reading", ["{enterprise}/{meter}/reading"]),
        ("greenmon/v1/E1/M1/reading/x", ["{enterprise}/{meter}/reading"]),
        ("greenmon/v1/E1/M1/reading/", ["{enterprise}/{meter}/reading"]),
        ("greenmon/v1/E1/M1/status", ["{enterprise}/{meter}/reading"]),
        ("greenmon/v1//M1/reading", ["enterprise id", "1-64"]),
        ("greenmon/v1/E1//reading", ["meter id", "1-64"]),
        ("greenmon/v1/E+/M1/reading", ["enterprise id", "'E+'"]),
        ("greenmon/v1/E1/M#/reading", ["meter id", "'M#'"]),
        ("greenmon/v1/E 1/M1/reading", ["enterprise id"]),
        ("greenmon/v1/企业/M1/reading", ["enterprise id"]),
        ("greenmon/v1/" + "a" * 65 + "/M1/reading", ["enterprise id", "1-64"]),
    ],
)
def test_bad_topics_are_refused(topic: str, words: list[str]) -> None:
    with pytest.raises(InvalidReading) as info:
        parse_topic(topic, PREFIX)
    for word in words:
        assert word in str(info.value)


def test_ids_of_64_characters_are_the_longest_accepted() -> None:
    long_id = "a" * 64
    assert parse_topic(f"greenmon/v1/{long_id}/M1/reading", PREFIX) == (long_id, "M1")


# --- Kafka record --------------------------------------------------------------------------

ids = st.text(alphabet=ID_ALPHABET, min_size=1, max_size=64)
epoch_ms = st.integers(min_value=0, max_value=4_102_444_800_000)  # up to 2100-01-01


@settings(max_examples=200, deadline=None)
@given(
    enterprise=ids,
    meter=ids,
    ts_ms=epoch_ms,
    value=st.floats(min_value=0, max_value=1e15, allow_nan=False, allow_infinity=False),
    unit=st.sampled_from(UNITS),
    kind=st.sampled_from(list(MeterKind)),
    duration_s=st.integers(min_value=1, max_value=86400),
    received_ms=epoch_ms,
)
def test_reading_round_trips_through_the_kafka_record(
    enterprise: str,
    meter: str,
    ts_ms: int,
    value: float,
    unit: str,
    kind: MeterKind,
    duration_s: int,
    received_ms: int,
) -> None:
    ts = EPOCH + timedelta(milliseconds=ts_ms)
    received = EPOCH + timedelta(milliseconds=received_ms)
    reading = Reading(enterprise, meter, ts, value, unit, kind, duration_s)
    record = decode_record(reading.to_record(received))
    assert record.enterprise_id == enterprise
    assert record.meter_id == meter
    assert record.ts_ms == ts_ms
    assert record.ts == ts
    assert record.value == value
    assert record.unit == unit
    assert record.kind is kind
    assert record.duration_s == duration_s
    assert record.received_ms == received_ms


def _record(**changes: Any) -> bytes:
    doc: dict[str, Any] = {
        "e": "E1",
        "m": "M1",
        "ts": 1_735_689_600_000,
        "v": 1.5,
        "u": "kWh",
        "k": "counter",
        "d": 900,
        "rx": 1_735_689_601_000,
    }
    doc.update(changes)
    return json.dumps(doc).encode()


def test_record_fields_decode_to_a_utc_timestamp() -> None:
    record = decode_record(_record())
    # 2025-01-01Z is 55 years + 14 leap days after the epoch: (55*365 + 14) * 86400 s
    assert (55 * 365 + 14) * 86400 == 1_735_689_600
    assert record.ts == datetime(2025, 1, 1, tzinfo=UTC)
    assert record.received_ms - record.ts_ms == 1000


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"not json", ["not a greenmon reading record"]),
        (b"[1, 2]", ["not a greenmon reading record"]),
        (json.dumps({"e": "E1"}).encode(), ["not a greenmon reading record", "KeyError"]),
        (_record(k="gauge"), ["not a greenmon reading record", "gauge"]),
        (_record(ts="soon"), ["not a greenmon reading record"]),
        (_record(v=-1.0), ["-1.0", "finite non-negative"]),
        (_record(v=float("nan")), ["nan", "finite non-negative"]),
    ],
)
def test_bad_records_are_refused(raw: bytes, words: list[str]) -> None:
    with pytest.raises(InvalidReading) as info:
        decode_record(raw)
    for word in words:
        assert word in str(info.value)

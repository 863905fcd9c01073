"""Typed, versioned messages: each schema reads its versions and refuses others with a reason.

One test per schema that a consumer refuses an unknown version with a clear reason (the
dead-letter reason, or for alert documents the failed delivery's error), and that a
message without a version, as published before versions existed, is version 1.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from alerts.delivery import DeliveryWorker
from alerts.store import Delivery
from greenmon.accounting.value_added import PriceIndex
from greenmon.bus import kafka as bus_kafka
from greenmon.domain.reference import MeterKind
from greenmon.domain.wire import ReadingRecord, decode_record, parse_batch, parse_payload
from greenmon.errors import InvalidMessage, InvalidReading, UnknownVersion
from greenmon.messages.alert import AlertDocument, alert_document
from greenmon.messages.dead_letter import DeadLetter
from greenmon.messages.late import decode_late, encode_late
from greenmon.messages.value_added import ValueAddedMessage, parse_value_added_message
from greenmon.observe import Counters
from greenmon.settings import load_settings

UNKNOWN = "version 2 is not one this"


# --- readings (MQTT payload and Kafka record) -------------------------------------------------
READING = {"ts": "2025-01-01T00:15:00+08:00", "value": 10.5, "unit": "kWh", "kind": "counter"}


def test_reading_without_version_is_version_1_and_an_unknown_version_is_refused() -> None:
    assert parse_payload(READING).version == 1
    assert parse_payload({**READING, "version": 1}).value == 10.5
    with pytest.raises(InvalidReading, match=f"reading {UNKNOWN} collector reads .it reads 1."):
        parse_payload({**READING, "version": 2})
    with pytest.raises(InvalidReading, match="version"):
        parse_payload({**READING, "version": "1"})


def test_batch_version() -> None:
    items = [{"meter": "M1", **READING}]
    assert parse_batch({"readings": items, "version": 1}) == items
    with pytest.raises(InvalidReading, match=f"batch {UNKNOWN} collector reads"):
        parse_batch({"readings": items, "version": 2})


RECORD = ReadingRecord("E1", "M1", 1_735_661_700_000, 10.5, "kWh", MeterKind.COUNTER, 900, 1)


def test_reading_record_carries_its_version_and_refuses_an_unknown_one() -> None:
    doc = json.loads(RECORD.encode())
    assert doc["ver"] == 1
    assert decode_record(RECORD.encode()) == RECORD
    del doc["ver"]  # a record written before versions existed
    assert decode_record(json.dumps(doc).encode()) == RECORD
    doc["ver"] = 2
    with pytest.raises(InvalidReading, match=f"reading record {UNKNOWN} processor reads"):
        decode_record(json.dumps(doc).encode())


# --- late readings ----------------------------------------------------------------------------
def test_late_reading_round_trip_and_unknown_version() -> None:
    assert decode_late(encode_late(RECORD)) == RECORD
    doc = {**json.loads(encode_late(RECORD)), "ver": 7}
    with pytest.raises(InvalidReading, match="late reading version 7 is not one this processor"):
        decode_late(json.dumps(doc).encode())


# --- dead letters -----------------------------------------------------------------------------
AT = datetime(2025, 1, 1, 0, 15, 2, tzinfo=UTC)


def test_dead_letter_round_trip_text_and_binary() -> None:
    text = DeadLetter.decode(
        DeadLetter.record(
            reason="bad", source="collector", payload=b'{"v":1}', origin="t", received_at=AT
        )
    )
    doc = json.loads(text.encode())
    assert doc["version"] == 1
    assert doc["payload"] == '{"v":1}'
    assert doc["payload_encoding"] == "utf-8"
    assert DeadLetter.decode(text.encode()) == text
    binary = DeadLetter.decode(
        DeadLetter.record(reason="x", source="collector", payload=b"\xff\x00", origin="t")
    )
    assert json.loads(binary.encode())["payload"] == base64.b64encode(b"\xff\x00").decode()
    assert DeadLetter.decode(binary.encode()).raw() == b"\xff\x00"
    assert "index" not in doc  # only a reading of a gateway batch has one


def test_the_collectors_batch_letters_decode_with_their_index() -> None:
    value = bus_kafka.dead_letter(reason="r", source="collector", payload=b"{}", origin="t")
    doc = {**json.loads(value), "index": 3}  # as collector/service.py adds it
    assert DeadLetter.decode(json.dumps(doc).encode()).index == 3
    direct = bus_kafka.dead_letter(
        reason="r", source="collector", payload=b"{}", origin="t", index=3
    )
    assert json.loads(direct)["index"] == 3


def test_dead_letter_without_version_is_1_and_unknown_version_is_refused() -> None:
    old = {"reason": "r", "source": "processor", "origin": "o", "payload": "p",
           "payload_encoding": "utf-8", "received_at": "2025-01-01T00:15:02+00:00"}  # fmt: skip
    assert DeadLetter.decode(json.dumps(old).encode()).version == 1
    with pytest.raises(UnknownVersion, match=f"dead letter {UNKNOWN} consumer reads .it reads 1."):
        DeadLetter.decode(json.dumps({**old, "version": 2}).encode())
    with pytest.raises(InvalidMessage, match="dead letter: reason is missing"):
        DeadLetter.decode(json.dumps({k: v for k, v in old.items() if k != "reason"}).encode())


# --- value-added ------------------------------------------------------------------------------
INDEX = PriceIndex({(2023, "*"): 1.25})
INDUSTRIES = {"E1": "chemicals"}
FIGURE = {"enterprise_id": "E1", "month": "2023-01", "value_added": 1000, "price_basis": "current"}


def test_value_added_without_version_is_1_and_unknown_version_is_refused() -> None:
    row = parse_value_added_message(json.dumps(FIGURE).encode(), INDEX, INDUSTRIES)
    assert row.value_added_const == 800.0  # 1000 / 1.25 by hand
    assert ValueAddedMessage.decode(json.dumps(FIGURE).encode()).version == 1
    versioned = ValueAddedMessage(**FIGURE).encode()  # type: ignore[arg-type]
    assert json.loads(versioned)["version"] == 1
    with pytest.raises(UnknownVersion, match=f"value-added message {UNKNOWN} consumer reads"):
        parse_value_added_message(json.dumps({**FIGURE, "version": 2}).encode(), INDEX, INDUSTRIES)
    with pytest.raises(UnknownVersion, match="version 'x' is not a whole number"):
        parse_value_added_message(
            json.dumps({**FIGURE, "version": "x"}).encode(), INDEX, INDUSTRIES
        )


# --- alert documents --------------------------------------------------------------------------
ALERT: dict[str, Any] = {
    "fingerprint": "demand/meter/M1", "transition": "firing", "state": "firing",
    "rule_id": "demand", "severity": "warning", "scope": "meter", "entity_id": "M1",
    "enterprise_id": "E1", "measure": "demand_kw", "unit": "kW", "value": 812.5,
    "threshold": 800.0, "since": "2025-01-01T00:00:00+00:00",
    "at": "2025-01-01T00:15:00+00:00", "dashboard": "http://grafana/d/x",
}  # fmt: skip


def test_alert_document_is_versioned_and_checked() -> None:
    doc = alert_document(ALERT)
    assert doc["version"] == 1
    assert {k: doc[k] for k in ALERT} == ALERT
    assert alert_document(doc) == doc  # read back from the outbox unchanged
    with pytest.raises(InvalidMessage, match="alert document: rule_id is missing"):
        alert_document({k: v for k, v in ALERT.items() if k != "rule_id"})
    with pytest.raises(UnknownVersion, match=f"alert document {UNKNOWN} consumer reads"):
        AlertDocument.decode({**ALERT, "version": 2})


def test_the_delivery_worker_refuses_an_unknown_alert_version_with_the_reason() -> None:
    worker = DeliveryWorker(load_settings(), Counters("delivered", "failed"))
    delivery = Delivery(1, ALERT["fingerprint"], "E1", "mqtt", "plant/E1/alerts/x",
                        {**ALERT, "version": 2}, 0)  # fmt: skip
    try:
        error = worker._send(delivery, None)  # no broker: refused before any connection
    finally:
        worker._pool.shutdown()
    assert error is not None
    assert f"alert document {UNKNOWN} consumer reads (it reads 1)" in error

"""Gateway batches: parsing and checks of each reading (collector.batch), and their acks."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from collector.acks import AckQueue, Message, Record
from collector.batch import BatchResult, validate_batch
from collector.service import _clip
from collector.validate import MeterLookup
from greenmon.domain.reference import Carrier, MeterKind
from greenmon.domain.registry import Meter
from greenmon.domain.wire import MAX_BATCH_BYTES, MAX_BATCH_READINGS, MAX_PAYLOAD_BYTES
from greenmon.errors import InvalidReading
from greenmon.local.mosquitto import MAX_PACKET_SIZE, render_mosquitto_conf

PREFIX = "greenmon/v1"
TOPIC = f"{PREFIX}/E1/batch"
TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2025, 1, 1, 0, 20, tzinfo=TZ)
TOLERANCE = timedelta(seconds=300)
METERS = {
    "M1": Meter("M1", "E1", Carrier.ELECTRICITY, "kWh", MeterKind.COUNTER, 4000.0),
    "G1": Meter("G1", "E1", Carrier.NATURAL_GAS, "m3", MeterKind.INTERVAL, 100.0),
    "W2": Meter("W2", "E2", Carrier.WATER, "m3", MeterKind.INTERVAL, 10.0),
}


def registry() -> MeterLookup:
    return MeterLookup(dict(METERS))


def reading(meter: Any = "M1", **changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "meter": meter,
        "ts": "2025-01-01T00:15:00+08:00",
        "value": 10234.5,
        "unit": "kWh",
        "kind": "counter",
    }
    doc.update(changes)
    return {k: v for k, v in doc.items() if v is not None}


def gas(**changes: Any) -> dict[str, Any]:
    return reading("G1", unit="m3", kind="interval", value=3.25, duration_s=900, **changes)


def batch(items: list[Any]) -> bytes:
    return json.dumps({"readings": items}).encode()


def check(payload: bytes, topic: str = TOPIC, lookup: MeterLookup | None = None) -> BatchResult:
    return validate_batch(
        topic,
        payload,
        lookup or registry(),
        prefix=PREFIX,
        now=NOW,
        future_tolerance=TOLERANCE,
    )


# --- each reading on its own ------------------------------------------------------------------


def test_good_readings_are_kept_in_order_with_their_index() -> None:
    items = [reading(), gas(), reading(ts="2025-01-01T00:00:00+08:00", value=10230.0)]
    result = check(batch(items))
    assert result.enterprise_id == "E1"
    assert result.rejected == []
    assert [i for i, _ in result.accepted] == [0, 1, 2]
    first, second, third = (r for _, r in result.accepted)
    assert (first.enterprise_id, first.meter_id, first.value, first.unit) == (
        "E1",
        "M1",
        10234.5,
        "kWh",
    )
    assert (second.meter_id, second.kind, second.duration_s) == ("G1", MeterKind.INTERVAL, 900)
    assert third.ts == datetime(2025, 1, 1, 0, 0, tzinfo=TZ)


BAD_READINGS: list[tuple[Any, str]] = [
    (reading("NOPE"), "unknown meter 'NOPE'"),
    (reading("W2", unit="m3", kind="interval"), "does not belong to enterprise 'E1'"),
    (reading(unit="MWh"), "differs from the registered unit 'kWh'"),
    (reading(kind="interval"), "differs from the registered kind 'counter'"),
    (reading(value=-1.0), "value: Input should be greater than or equal to 0"),
    (reading(ts="2025-01-01T00:15:00"), "ts"),
    (reading(ts="2025-01-01T01:00:00+08:00"), "in the future"),
    (reading(unit="furlongs"), "unit 'furlongs' is not one of"),
    (reading(meter=None), "meter: must be the meter id as a string"),
    (reading(meter=7), "meter: must be the meter id as a string"),
    (reading(meter="M/1"), "meter id 'M/1' must be"),
    (reading(extra=1), "extra: Extra inputs are not permitted"),
    ([1, 2], "reading must be a JSON object, not list"),
    ("M1", "reading must be a JSON object, not str"),
]


def test_each_bad_reading_is_rejected_with_its_reason_and_index() -> None:
    items: list[Any] = []
    expected: dict[int, tuple[str, Any]] = {}
    for item, reason in BAD_READINGS:
        items.append(reading(ts="2025-01-01T00:00:00+08:00"))  # a good one between bad ones
        expected[len(items)] = (reason, item)
        items.append(item)
    result = check(batch(items))
    assert [i for i, _ in result.accepted] == list(range(0, len(items), 2))
    assert [r.index for r in result.rejected] == sorted(expected)
    for rejected in result.rejected:
        reason, item = expected[rejected.index]
        assert reason in rejected.reason, (rejected.index, rejected.reason)
        assert json.loads(rejected.payload) == item  # the dead letter carries that reading


def test_ownership_is_checked_against_the_batch_topic() -> None:
    """A gateway of E2 cannot slip E1's meters in: each is refused, E2's own passes."""
    items = [reading(), gas(), reading("W2", unit="m3", kind="interval", value=1.0)]
    result = check(batch(items), topic=f"{PREFIX}/E2/batch")
    assert result.enterprise_id == "E2"
    assert [i for i, _ in result.accepted] == [2]
    assert [
        (r.index, "does not belong to enterprise 'E2'" in r.reason) for r in result.rejected
    ] == [
        (0, True),
        (1, True),
    ]


def test_unknown_meters_are_looked_up_together_once() -> None:
    calls: list[list[str]] = []

    def bulk(ids: list[str]) -> dict[str, Meter]:
        calls.append(ids)
        return {"M9": Meter("M9", "E1", Carrier.ELECTRICITY, "kWh", MeterKind.COUNTER, 1.0)}

    def single(_id: str) -> Meter | None:
        raise AssertionError("a batch must not look meters up one by one")

    lookup = MeterLookup(dict(METERS), single, bulk)
    items = [reading("X1"), reading("M9"), reading("X1"), reading("X2"), reading()]
    result = check(batch(items), lookup=lookup)
    assert calls == [["M9", "X1", "X2"]]
    assert [i for i, _ in result.accepted] == [1, 4]
    assert [r.index for r in result.rejected] == [0, 2, 3]
    assert "M9" in lookup.meters  # found meters join the snapshot


# --- the batch as a whole -----------------------------------------------------------------------

WHOLE_REFUSALS: list[tuple[bytes, str]] = [
    (b'{"readings": [', "not valid JSON"),
    (b"\xff\xfe", "not valid UTF-8"),
    (b'{"readings": [{"meter": "M1", "value": NaN}]}', "not valid JSON"),
    (b"[]", "batch must be a JSON object, not list"),
    (b"{}", "batch 'readings' must be a JSON list, not nothing"),
    (b'{"readings": {"meter": "M1"}}', "must be a JSON list, not dict"),
    (b'{"readings": []}', "batch has no readings"),
    (b'{"readings": [], "gateway": "gw-1"}', "unknown key(s) ['gateway']"),
]


@pytest.mark.parametrize(("payload", "reason"), WHOLE_REFUSALS)
def test_malformed_batch_is_refused_whole(payload: bytes, reason: str) -> None:
    with pytest.raises(InvalidReading, match=None) as err:
        check(payload)
    assert reason in str(err.value)


@pytest.mark.parametrize(
    ("topic", "reason"),
    [
        (f"{PREFIX}/E1/M1/batch", "is not greenmon/v1/{enterprise}/batch"),
        (f"{PREFIX}/batch", "is not greenmon/v1/{enterprise}/batch"),
        (f"{PREFIX}/E+1/batch", "enterprise id 'E+1' must be"),
        ("other/E1/batch", "is not under 'greenmon/v1/'"),
    ],
)
def test_bad_batch_topic_is_refused_whole(topic: str, reason: str) -> None:
    with pytest.raises(InvalidReading) as err:
        check(batch([reading()]), topic=topic)
    assert reason in str(err.value)


def test_size_bounds() -> None:
    full = check(batch([reading()] * MAX_BATCH_READINGS))
    assert len(full.accepted) == MAX_BATCH_READINGS
    with pytest.raises(InvalidReading, match=f"exceeds {MAX_BATCH_READINGS} readings"):
        check(batch([reading()] * (MAX_BATCH_READINGS + 1)))
    # a batch may be larger than a single reading's limit, up to its own
    padded = batch([reading()] * 5)[:-1] + b" " * MAX_PAYLOAD_BYTES + b"}"
    assert MAX_PAYLOAD_BYTES < len(padded) <= MAX_BATCH_BYTES
    assert len(check(padded).accepted) == 5
    oversize = batch([reading()])[:-1] + b" " * MAX_BATCH_BYTES + b"}"
    with pytest.raises(InvalidReading, match=f"exceeds {MAX_BATCH_BYTES}"):
        check(oversize)


def test_broker_packet_limit_fits_a_full_batch_and_its_topic() -> None:
    conf = render_mosquitto_conf(1883, Path("/x"), max_packet_size=MAX_PACKET_SIZE)
    assert f"max_packet_size {MAX_PACKET_SIZE}" in conf.splitlines()
    topic = f"{PREFIX}/{'E' * 64}/batch"
    # fixed header (<= 5) + topic length (2) + topic + packet id (2) + payload
    assert 5 + 2 + len(topic) + 2 + MAX_BATCH_BYTES <= MAX_PACKET_SIZE
    # the largest readings the wire allows still fit MAX_BATCH_READINGS to a batch
    longest = reading("M" * 64, value=1e15 - 0.001, unit="kWh", kind="interval", duration_s=86400)
    full = json.dumps({"readings": [longest] * MAX_BATCH_READINGS}, separators=(",", ":"))
    assert len(full.encode()) <= MAX_BATCH_BYTES


def test_dead_letter_payload_is_clipped_on_a_character_boundary() -> None:
    text = ("é" * 10).encode()  # 2 bytes each
    assert _clip(text, 100) == text
    assert _clip(text, 5) == ("é" * 2).encode()
    assert _clip(b"\xff" * 10, 4) == b"\xff" * 4  # not text: kept as is (base64 later)


# --- acknowledgement of a message with N records ------------------------------------------------


class FakeFuture:
    def __init__(self) -> None:
        self.is_done = False
        self._error: Exception | None = None

    def succeed(self) -> None:
        self.is_done = True

    def fail(self) -> None:
        self.is_done = True
        self._error = RuntimeError("broker said no")

    def failed(self) -> bool:
        return self._error is not None

    @property
    def exception(self) -> Exception | None:
        return self._error


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, FakeFuture]] = []

    def send(self, record: Record) -> None:
        future = FakeFuture()
        record.future = future
        self.sent.append((record.value, future))

    def future_of(self, value: bytes) -> FakeFuture:
        return [f for v, f in self.sent if v == value][-1]


def message(mid: int, *values: str) -> Message:
    return Message(mid, 1, [Record("t", b"k", v.encode()) for v in values])


def test_message_is_acked_only_when_every_record_is() -> None:
    producer = FakeProducer()
    acks = AckQueue(producer.send)
    acks.add(message(1, "a", "b", "c"))
    acks.add(message(2, "d"))
    assert acks.records == 4
    producer.future_of(b"d").succeed()
    producer.future_of(b"a").succeed()
    producer.future_of(b"c").succeed()
    assert acks.drain() == []  # b is outstanding; 2 waits behind 1
    producer.future_of(b"b").succeed()
    assert [m.mid for m in acks.drain()] == [1, 2]
    assert len(acks) == 0
    assert acks.records == 0


def test_failed_record_is_sent_again_alone() -> None:
    producer = FakeProducer()
    acks = AckQueue(producer.send)
    acks.add(message(1, "a", "b", "c"))
    for value, outcome in ((b"a", "ok"), (b"b", "fail"), (b"c", "ok")):
        future = producer.future_of(value)
        future.succeed() if outcome == "ok" else future.fail()
    assert acks.drain(now=100.0) == []
    assert [v for v, _ in producer.sent] == [b"a", b"b", b"c", b"b"]  # only b again
    assert acks.drain(now=100.01) == []  # backing off: not sent a third time yet
    assert len(producer.sent) == 4
    producer.future_of(b"b").succeed()
    done = acks.drain(now=100.02)
    assert [m.mid for m in done] == [1]
    assert done[0].records[1].attempts == 2


def test_dead_letters_are_counted_per_message() -> None:
    m = Message(1, 1, [Record("r", b"k", b"x"), Record("d", b"k", b"y", dead=True)])
    assert m.dead_letters == 1


def test_add_holds_back_when_too_many_records_wait() -> None:
    producer = FakeProducer()
    acks = AckQueue(producer.send, max_records=3)
    acks.add(message(1, "a", "b"))
    added = threading.Event()

    def network_thread() -> None:
        acks.add(message(2, "c", "d"))
        added.set()

    thread = threading.Thread(target=network_thread, daemon=True)
    thread.start()
    assert not added.wait(0.3)  # 2 + 2 > 3: waits for Kafka
    producer.future_of(b"a").succeed()
    producer.future_of(b"b").succeed()
    assert [m.mid for m in acks.drain()] == [1]
    assert added.wait(2.0)
    thread.join(2.0)
    # a message larger than the bound alone still goes through when nothing waits
    big = AckQueue(FakeProducer().send, max_records=1)
    assert big.add(message(3, "x", "y", "z"))


def test_add_gives_up_when_stopping() -> None:
    acks = AckQueue(FakeProducer().send, max_records=1)
    acks.add(message(1, "a"))
    stop = threading.Event()
    stop.set()
    assert acks.add(message(2, "b"), stop) is False
    assert len(acks) == 1

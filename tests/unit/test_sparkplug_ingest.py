"""Sparkplug metrics to readings and dead letters, against a registry snapshot (no I/O)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from collector.acks import Record
from collector.sparkplug_ingest import SparkplugIngest
from collector.validate import MeterLookup
from greenmon.domain.reference import Carrier, MeterKind
from greenmon.domain.registry import Meter
from tests.sparkplug_node import BOOLEAN, DOUBLE, INT32, INT64, M, payload_bytes

T0 = 1_735_660_800_000
NOW = datetime(2025, 1, 2, tzinfo=UTC)
METERS = {
    "EL": Meter("EL", "E1", Carrier.ELECTRICITY, "kWh", MeterKind.COUNTER, 1e6),
    "GAS": Meter("GAS", "E1", Carrier.NATURAL_GAS, "m3", MeterKind.COUNTER, 1e6,
                 sparkplug_metric="Gas/Total"),
}  # fmt: skip


def _ingest(published: list[tuple[str, bytes]], stale: list[list[str]]) -> SparkplugIngest:
    def letter(topic: str, body: bytes, reason: str, now: datetime, index: int | None) -> Record:
        doc = {"reason": reason, "index": index, "payload": body.decode("utf-8", "replace")}
        return Record("dlq", topic.encode(), json.dumps(doc).encode(), dead=True)

    return SparkplugIngest(
        registry=lambda: MeterLookup(dict(METERS)),
        readings_topic="readings",
        dead_letter=letter,
        publish=lambda t, b: published.append((t, b)),
        mark_stale=lambda ids, _at: stale.append(ids),
        future_tolerance=timedelta(minutes=5),
        clock=lambda: 0.0,
    )


def test_metric_values_checked_like_json_readings() -> None:
    published: list[tuple[str, bytes]] = []
    ingest = _ingest(published, [])
    birth = [
        M("bdSeq", None, T0, INT64, 1),
        M("EL", 1, T0, DOUBLE, 10.0),
        M("Gas/Total", 2, T0, INT32, -3),  # a negative Int32 (two's complement on the wire)
        M("GAS", 3, T0, DOUBLE, 1.0),  # the meter is carried by its other name
        M("Flag", 4, T0, BOOLEAN, True),
        M("EL", 5, None, DOUBLE, 1.0),  # no timestamp, nor has the payload
        M("EL", 6, T0, DOUBLE, None),  # null
        M("EL", 7, T0 + 86_400_000 * 2, DOUBLE, 11.0),  # two days ahead of now
    ]
    records = ingest.records("spBv1.0/E1/NBIRTH/n1", payload_bytes(None, 0, birth), NOW)
    good = [json.loads(r.value) for r in records if not r.dead]
    bad = {json.loads(r.value)["index"]: json.loads(r.value)["reason"] for r in records if r.dead}
    assert [(g["m"], g["ts"], g["v"], g["u"]) for g in good] == [("EL", T0, 10.0, "kWh")]
    assert "greater than or equal to 0" in bad[2]
    assert "unknown metric 'GAS'" in bad[3]
    assert "unknown metric 'Flag'" in bad[4]
    assert "no timestamp" in bad[5]
    assert "null" in bad[6]
    assert "in the future" in bad[7]
    assert published == []


def test_garbage_is_one_dead_letter_and_unbirthed_data_asks_rebirth() -> None:
    published: list[tuple[str, bytes]] = []
    ingest = _ingest(published, [])
    (letter,) = ingest.records("spBv1.0/E1/NDATA/n1", b"\xff\xfe", NOW)
    assert letter.dead and "not a Sparkplug B protobuf" in json.loads(letter.value)["reason"]
    (letter,) = ingest.records("spBv1.0/E/1/NDATA/n1", b"", NOW)
    assert "unknown Sparkplug message type" in json.loads(letter.value)["reason"]
    records = ingest.records(
        "spBv1.0/E1/NDATA/n1", payload_bytes(T0, 5, [M(None, 1, T0, DOUBLE, 1.0)]), NOW
    )
    assert [r.dead for r in records] == [True]
    assert [t for t, _ in published] == ["spBv1.0/E1/NCMD/n1"]

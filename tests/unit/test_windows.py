"""Window records from booked slots, the checks that read them, and message signing."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, date, datetime, timedelta

import pytest

from alerts import checks
from alerts.channels import body_bytes, render_html, render_text, sign, summary, verify
from alerts.rules import parse_rules
from alerts.store import MeterInfo
from greenmon.domain.consumption import SlotRow
from greenmon.domain.windows import (
    MAX_WINDOWS_PER_RECORD,
    InvalidWindows,
    Window,
    build_records,
    decode_all,
    decode_batch,
    encode_batch,
    publish,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)
RULES = parse_rules("""
rules:
  - {id: kw, scope: meter, match: {carrier: electricity},
     threshold: {measure: demand_kw, above: 800, recover_below: 400}}
  - {id: gas, scope: meter, threshold: {measure: quantity, above: 10},
     match: {carrier: natural_gas}}
  - {id: quiet, scope: meter, silent: {intervals: 2, interval: 10s, enterprise_min_meters: 2}}
  - {id: behind, scope: enterprise, behind_target: {indicator: energy, margin: 0.1}}
  - {id: cap, scope: enterprise, cap_burn: {}}
  - {id: dq, scope: meter, data_quality: {completeness_below: 0.9, quarantined_above: 0}}
""").rules


def _slot(
    meter: str, minutes: int, qty: float, carrier: str = "electricity", enterprise: str = "E1"
) -> SlotRow:
    unit = "kWh" if carrier == "electricity" else "m3"
    ms = int((T0 + timedelta(minutes=minutes)).timestamp() * 1000)
    return SlotRow(meter, ms, enterprise, carrier, qty, unit, None, None, None, False)


class _Producer:
    def __init__(self, partitions: int = 4) -> None:
        self.sent: list[tuple[str, bytes, int]] = []
        self._partitions = partitions

    def send(self, topic: str, *, value: bytes, partition: int) -> None:
        self.sent.append((topic, value, partition))

    def partitions_for(self, topic: str) -> set[int]:
        return set(range(self._partitions))


def test_a_batch_is_a_few_records_with_each_enterprise_on_one_partition() -> None:
    rows = [_slot(f"M{i}", m, 10.0 + i, enterprise=f"E{i % 7}") for i in range(50)
            for m in (0, 15, 30)]  # fmt: skip
    rows.append(_slot("G1", 0, 5.0, "natural_gas"))
    producer = _Producer(partitions=4)
    sent = publish(producer, "w", rows)
    assert sent == len(producer.sent) <= 4  # one record per partition (101 windows fit one)
    seen: dict[str, int] = {}
    got: list[tuple[str, int, float]] = []
    for topic, value, partition in producer.sent:
        assert topic == "w"
        for w in decode_batch(value):
            assert seen.setdefault(w.enterprise_id, partition) == partition
            got.append((w.meter_id, w.slot_ms, w.quantity))
    expected = sorted((r.meter_id, r.slot_ms, r.quantity) for r in rows)
    assert sorted(got) == expected
    # per meter in the batch's (slot) order
    for meter in {g[0] for g in got}:
        slots = [g[1] for g in got if g[0] == meter]
        assert slots == sorted(slots)
    assert build_records([], 4) == []


def test_large_batches_are_cut_into_records_of_bounded_size() -> None:
    rows = [_slot(f"M{i}", 15 * (i % 96), 1.0) for i in range(2 * MAX_WINDOWS_PER_RECORD + 1)]
    records = build_records(rows, 3)
    assert [len(decode_batch(v)) for _p, v in records] == [
        MAX_WINDOWS_PER_RECORD, MAX_WINDOWS_PER_RECORD, 1
    ]  # fmt: skip
    assert max(len(v) for _p, v in records) < 1_000_000


def test_another_version_or_not_a_window_batch_is_refused_with_a_reason() -> None:
    good = encode_batch([Window("M1", "E1", "electricity", 0, 1.0, "kWh")])
    v2 = good.replace(b'"v":1', b'"v":2')
    windows, refused = decode_all(
        [("w/0@0", good), ("w/0@1", v2), ("w/0@2", b"[1,2]"), ("w/0@3", b'{"v":1,"windows":[1]}')]
    )
    assert [w.meter_id for w in windows] == ["M1"]
    assert [o for o, _r in refused] == ["w/0@1", "w/0@2", "w/0@3"]
    assert refused[0][1] == "window batch version 2 is not one this service reads (it reads 1)"
    assert refused[1][1].startswith("not a window batch")
    assert refused[2][1].startswith("not a version 1 window batch")
    with pytest.raises(InvalidWindows, match="version 7"):
        decode_batch(b'{"v":7,"windows":[]}')


def test_publish_never_raises() -> None:
    class Broken(_Producer):
        def send(self, topic: str, *, value: bytes, partition: int) -> None:
            raise RuntimeError("Kafka away")

    assert publish(Broken(), "w", [_slot("M1", 0, 1.0)]) == 0


def test_threshold_candidates_use_the_stored_total_and_match_carriers() -> None:
    (window,) = decode_batch(build_records([_slot("M1", 0, 100.0)], 1)[0][1])
    assert window.as_mapping()["demand_kw"] == 400.0
    (c,) = checks.threshold_candidates(RULES, window.as_mapping(), total=250.0)  # completed later
    assert (c.rule.id, c.obs.value, c.obs.level, c.unit) == ("kw", 1000.0, "fire", "kW")
    assert c.obs.at == T0 + timedelta(minutes=15) and c.obs.start == T0
    assert c.fingerprint == "kw/meter/M1"
    (gas,) = decode_batch(build_records([_slot("G1", 0, 5.0, "natural_gas")], 1)[0][1])
    got = checks.threshold_candidates(RULES, gas.as_mapping(), None)
    assert [(c.rule.id, c.obs.level) for c in got] == [("gas", "clear")]


def test_silent_meters_and_the_enterprise_alert() -> None:
    meters = {m: MeterInfo(m, "E1", "electricity", "kWh") for m in ("M1", "M2", "M3")}
    now = T0 + timedelta(hours=1)
    arrivals = {"M1": now - timedelta(seconds=30), "M2": now - timedelta(seconds=25),
                "M3": now - timedelta(seconds=5)}  # fmt: skip
    got = {
        c.fingerprint: c.obs.level for c in checks.silent_candidates(RULES, meters, arrivals, now)
    }
    assert got == {"quiet/meter/M1": "fire", "quiet/meter/M2": "fire",
                   "quiet/meter/M3": "clear", "quiet/enterprise/E1": "fire"}  # fmt: skip


def test_targets_caps_and_quality() -> None:
    behind, cap, dq = RULES[3], RULES[4], RULES[5]
    ytd = [("E1", date(2025, 3, 1), 1.2, 1.0, 150.0), ("E2", date(2025, 3, 1), 1.05, 1.0, 10.0),
           ("E3", date(2025, 3, 1), None, 1.0, 5.0)]  # fmt: skip
    got = {c.entity_id: c.obs.level for c in checks.target_candidates(behind, ytd, T0)}
    assert got == {"E1": "fire", "E2": "clear"}
    # 150 tce by 31 March (day 90 of 365) projects to 608 tce: over a 600 tce cap
    caps = {("E1", 2025): 600.0, ("E2", 2025): 600.0}
    out = checks.cap_candidates(cap, ytd, caps, T0, date(2025, 6, 1))
    assert [(c.entity_id, c.obs.level, round(c.obs.value or 0)) for c in out] == [
        ("E1", "fire", 608), ("E2", "clear", 41)
    ]  # fmt: skip
    day = date(2025, 1, 1)
    quality = [("M1", "E1", day, 0.95, 0, 0), ("M2", "E1", day, 0.5, 0, 0),
               ("M3", "E1", day, 1.0, 2, 0)]  # fmt: skip
    got2 = {c.entity_id: (c.obs.level, c.measure)
            for c in checks.quality_candidates(dq, quality, {}, T0)}  # fmt: skip
    assert got2 == {"M1": ("clear", "completeness"), "M2": ("fire", "completeness"),
                    "M3": ("fire", "quarantined")}  # fmt: skip


def test_webhook_signature_is_hmac_sha256_of_the_raw_body() -> None:
    doc = {"rule_id": "kw", "transition": "firing", "value": 1000.0, "threshold": 800.0,
           "enterprise_name": "Alpha", "meter_id": "M1", "measure": "demand_kw", "unit": "kW",
           "since": "2025-01-01T00:00:00+00:00",
           "dashboard": "http://g/d/x?var-enterprise=E1"}  # fmt: skip
    body = body_bytes(doc)
    expected = hmac.new(b"k", body, hashlib.sha256).hexdigest()
    assert sign("k", body) == f"sha256={expected}"
    assert verify("k", body, f"sha256={expected}") and not verify("other", body, sign("k", body))
    line = summary(doc)
    for part in ("FIRING", "Alpha", "M1", "demand_kw", "1000 kW", "800 kW", "2025-01-01T00:00"):
        assert part in line
    assert "http://g/d/x?var-enterprise=E1" in render_text(doc)
    assert "var-enterprise=E1" in render_html(doc) and "<table>" in render_html(doc)

"""Window records from booked slots, the checks that read them, and message signing."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, date, datetime, timedelta

from alerts import checks
from alerts.channels import body_bytes, render_html, render_text, sign, summary, verify
from alerts.rules import parse_rules
from alerts.store import MeterInfo
from greenmon.domain.consumption import SlotRow
from greenmon.domain.windows import build_records, publish

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


def _slot(meter: str, minutes: int, qty: float, carrier: str = "electricity") -> SlotRow:
    unit = "kWh" if carrier == "electricity" else "m3"
    ms = int((T0 + timedelta(minutes=minutes)).timestamp() * 1000)
    return SlotRow(meter, ms, "E1", carrier, qty, unit, None, None, None, False)


class _Producer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []

    def send(self, topic: str, *, key: bytes, value: bytes) -> None:
        self.sent.append((topic, key, value))


def test_one_record_per_slot_in_slot_order_with_demand_for_electricity() -> None:
    rows = [_slot("M1", 15, 300.0), _slot("M1", 0, 250.0), _slot("G1", 0, 5.0, "natural_gas")]
    producer = _Producer()
    assert publish(producer, "w", rows) == 3
    docs = [json.loads(v) for _t, _k, v in producer.sent]
    assert [(d["meter_id"], d["interval_start"]) for d in docs] == [
        ("G1", "2025-01-01T00:00:00+00:00"),
        ("M1", "2025-01-01T00:00:00+00:00"),
        ("M1", "2025-01-01T00:15:00+00:00"),
    ]
    assert [d["demand_kw"] for d in docs] == [None, 1000.0, 1200.0]
    assert [k for _t, k, _v in producer.sent] == [b"G1", b"M1", b"M1"]
    assert build_records([]) == []


def test_publish_never_raises() -> None:
    class Broken:
        def send(self, topic: str, *, key: bytes, value: bytes) -> None:
            raise RuntimeError("Kafka away")

    assert publish(Broken(), "w", [_slot("M1", 0, 1.0)]) == 0


def test_threshold_candidates_use_the_stored_total_and_match_carriers() -> None:
    window = json.loads(build_records([_slot("M1", 0, 100.0)])[0][1])
    (c,) = checks.threshold_candidates(RULES, window, total=250.0)  # slot completed later
    assert (c.rule.id, c.obs.value, c.obs.level, c.unit) == ("kw", 1000.0, "fire", "kW")
    assert c.obs.at == T0 + timedelta(minutes=15) and c.obs.start == T0
    assert c.fingerprint == "kw/meter/M1"
    gas = json.loads(build_records([_slot("G1", 0, 5.0, "natural_gas")])[0][1])
    assert [(c.rule.id, c.obs.level) for c in checks.threshold_candidates(RULES, gas, None)] == [
        ("gas", "clear")
    ]


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

"""Alerts on enterprises and the city, end to end: readings through collector and
processor, the alerts service as a process, a webhook receiver that checks signatures.

Every expected value is worked out here from the readings sent: the enterprise's and
the city's demand (kWh per slot / 0.25 h), the year-end projection against the cap
(kWh x 0.1229 kgce/kWh, the equivalent method; 2025 is over, so the projection is the
year's total), the day's completeness (slots sent / 96), and the count of silent meters.
"""

from __future__ import annotations

import pytest

from greenmon.accounting.config import packaged_plan_text
from greenmon.domain.reference import Carrier, MeterKind
from greenmon.domain.registry import Meter, Registry
from greenmon.settings import Settings
from greenmon.storage import db
from tests.integration.alert_peers import Mailbox, WebhookReceiver
from tests.integration.conftest import Pipeline
from tests.integration.test_alerts import REGISTRY as ALERT_REGISTRY
from tests.integration.test_alerts import (
    alert_settings,
    cli,
    history,
    rules_yaml,
    send,
    wait_for,
)

pytestmark = pytest.mark.integration

REGISTRY = Registry(  # test_alerts' two enterprises, A with a second electricity meter
    enterprises=ALERT_REGISTRY.enterprises,
    meters=(*ALERT_REGISTRY.meters,
            Meter("A-E2", "A", Carrier.ELECTRICITY, "kWh", MeterKind.INTERVAL, 100_000.0)),
)  # fmt: skip
RULES = """\
  - {id: a-kw, scope: enterprise, enterprise: A,
     threshold: {measure: demand_kw, above: 1500, recover_below: 800}}
  - {id: city-kw, scope: city, threshold: {measure: demand_kw, above: 2500, recover_below: 2000}}
  - {id: cap, scope: enterprise, severity: critical, cap_burn: {margin: 0.0}}
  - {id: dq, scope: meter, match: {enterprise: A}, data_quality: {completeness_below: 0.5}}
  - {id: quiet, scope: meter, match: {enterprise: A},
     silent: {intervals: 2, interval: 3s, enterprise_min_meters: 2}}
"""
KGCE_PER_KWH = 0.1229
CAPS = {"A": 0.13, "B": 1.0}  # tce in 2025


def projected_tce(kwh: float) -> float:
    return kwh * KGCE_PER_KWH / 1000  # the year is over: its total


def transitions(settings: Settings, fingerprint: str) -> list[tuple[str, float]]:
    with db.connect(settings, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT transition, value FROM alerts WHERE fingerprint = %s "
            "AND transition <> 'pending' ORDER BY recorded_at, ts",
            (fingerprint,),
        ).fetchall()
    return [(str(t), float(v)) for t, v in rows]


def test_enterprise_city_cap_quality_and_silence_alerts_end_to_end(
    pipeline: Pipeline, receiver: WebhookReceiver, mailbox: tuple[Mailbox, int]
) -> None:
    settings = alert_settings(pipeline, mailbox[1])
    pipeline.load_registry(REGISTRY)
    plan = pipeline.log_dir.parent / "plan.toml"
    packaged = packaged_plan_text()
    caps = "".join(f'\n[[cap]]\nenterprise = "{e}"\nyear = 2025\nenergy_tce = {c}\n'
                   for e, c in CAPS.items())  # fmt: skip
    plan.write_text(packaged + caps)
    cli(settings, "plan", "load", str(plan))
    rules = pipeline.log_dir.parent / "rules.yaml"
    rules.write_text(rules_yaml(RULES, receiver))
    cli(settings, "alerts", "rules", "load", str(rules))
    receiver.start()
    for service in ("collector", "processor", "alerts"):
        pipeline.start(service)

    def sent(meter: str, kwh: list[float], first: int = 0) -> None:
        send(settings, meter, kwh, first, registry=REGISTRY)

    # slots 0-1: A 250 + 250 kWh = 2000 kW (each meter alone only 1000), B 250 kWh = 1000 kW:
    # the city draws 3000 kW; slot 2: A 50 + 50 kWh = 400 kW, B 200 kWh: the city 1200 kW
    sent("A-E", [250, 250, 50])
    sent("A-E2", [250, 250, 50])
    sent("B-E", [250, 250, 200])
    wait_for("A's demand resolved", lambda: len(transitions(settings, "a-kw/enterprise/A")) == 2,
             pipeline)  # fmt: skip
    assert transitions(settings, "a-kw/enterprise/A") == [("firing", 2000.0), ("resolved", 400.0)]
    wait_for("the city's demand resolved", lambda: len(transitions(
        settings, "city-kw/city/city")) == 2, pipeline)  # fmt: skip
    assert transitions(settings, "city-kw/city/city") == [("firing", 3000.0), ("resolved", 1200.0)]

    # the cap: A's 1100 kWh are above its 0.13 tce cap (1000 kWh would not be); B's are not
    a_kwh, b_kwh = 250 * 4 + 50 * 2, 250 * 2 + 200
    assert projected_tce(1000) < CAPS["A"] < projected_tce(a_kwh)
    assert projected_tce(b_kwh) < CAPS["B"]
    wait_for("A over its cap", lambda: bool(transitions(settings, "cap/enterprise/A")), pipeline)
    ((kind, value),) = transitions(settings, "cap/enterprise/A")
    assert kind == "firing" and value == pytest.approx(projected_tce(a_kwh), rel=1e-9)
    # data quality: 3 of 96 slots on 3 March for each of A's meters
    for meter in ("A-E", "A-E2"):
        wait_for(f"{meter} incomplete", lambda m=meter: bool(transitions(settings,
                 f"dq/meter/{m}")), pipeline)  # type: ignore[misc]  # fmt: skip
        assert transitions(settings, f"dq/meter/{meter}") == [("firing", 3 / 96)]
    # silence: A's two meters send nothing for more than 6 s -> one enterprise alert
    wait_for("A silent", lambda: ("firing", "quiet/enterprise/A", "A")
             in history(settings, "quiet"), pipeline)  # fmt: skip
    sent("A-E", [10], first=3)
    sent("A-E2", [10], first=3)
    wait_for("A heard again", lambda: ("resolved", "quiet/enterprise/A", "A")
             in history(settings, "quiet"), pipeline)  # fmt: skip
    assert transitions(settings, "quiet/enterprise/A") == [("firing", 2.0), ("resolved", 0.0)]

    # each enterprise hears of its own alerts only; the city's go to no enterprise
    wait_for("A's webhooks", lambda: {"firing", "resolved"} <= {d["transition"]
             for d in receiver.docs["A"] if d["rule_id"] == "quiet"}, pipeline)  # fmt: skip
    a_docs = {(d["fingerprint"], d["transition"]) for d in receiver.docs["A"]}
    assert {("a-kw/enterprise/A", "firing"), ("a-kw/enterprise/A", "resolved"),
            ("cap/enterprise/A", "firing"), ("dq/meter/A-E", "firing"),
            ("quiet/enterprise/A", "firing")} <= a_docs  # fmt: skip
    demand = next(d for d in receiver.docs["A"] if d["fingerprint"] == "a-kw/enterprise/A")
    assert (demand["value"], demand["unit"], demand["meter_id"]) == (2000.0, "kW", None)
    assert demand["since"] == "2025-03-02T16:00:00+00:00"  # slot 0 = local midnight
    assert receiver.docs["B"] == [] and receiver.refused == 0
    with db.connect(settings, autocommit=True) as conn:
        city = conn.execute("SELECT count(*), count(enterprise_id) FROM alerts "
                            "WHERE fingerprint = 'city-kw/city/city'").fetchone()  # fmt: skip
        undelivered = conn.execute("SELECT count(*) FROM alert_deliveries "
                                   "WHERE fingerprint LIKE 'city-kw/%%'").fetchone()  # fmt: skip
    assert city is not None and city[0] >= 2 and city[1] == 0
    assert undelivered == (0,)
    assert demand["dashboard"].endswith("var-enterprise=A")

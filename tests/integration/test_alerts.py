"""Alerts end to end with real peers: readings through collector and processor to window
results, the alerts service as a process, a webhook receiver that checks the HMAC
signature, an SMTP server (aiosmtpd), and Mosquitto (the session's, and one with the
generated passwords and ACL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr

from alerts.secrets import new_key
from greenmon.domain.reference import Carrier, MeterKind
from greenmon.domain.registry import Enterprise, Meter, Registry
from greenmon.feeds.publisher import publish
from greenmon.feeds.simulator import SimReading
from greenmon.jobs.runner import settings_env
from greenmon.local.mosquitto import start_mosquitto
from greenmon.local.mqtt_auth import DEFAULT_COLLECTOR_USER, issue_credentials
from greenmon.local.ports import free_port
from greenmon.settings import Settings
from greenmon.storage import db
from tests.integration.alert_peers import SECRETS, Mailbox, WebhookReceiver
from tests.integration.conftest import Pipeline, hold
from tests.integration.test_ingest_security import connect

pytestmark = pytest.mark.integration

TZ = ZoneInfo("Asia/Shanghai")
DAY = datetime(2025, 3, 3, tzinfo=TZ)
REGISTRY = Registry(
    enterprises=(
        Enterprise("A", "Alpha Chemicals", "xihaian", "chemicals"),
        Enterprise("B", "Beta Machines", "jimo", "equipment"),
    ),
    meters=(
        Meter("A-E", "A", Carrier.ELECTRICITY, "kWh", MeterKind.INTERVAL, 100_000.0),
        Meter("B-E", "B", Carrier.ELECTRICITY, "kWh", MeterKind.INTERVAL, 100_000.0),
    ),
)


def rules_yaml(rules: str, receiver: WebhookReceiver) -> str:
    channels = "".join(
        f"  - {{enterprise: {e}, kind: webhook, target: '{receiver.url(e)}', secret: {s}}}\n"
        f"  - {{enterprise: {e}, kind: email, target: 'energy@{e.lower()}.example'}}\n"
        for e, s in SECRETS.items()
    )
    return f"rules:\n{rules}\nchannels:\n{channels}"


def cli(settings: Settings, *args: str) -> str:
    env = {**os.environ, **settings_env(settings)}
    done = subprocess.run(
        [sys.executable, "-m", "greenmon.cli", *args],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"greenmon {' '.join(args)}: {done.stderr[-2000:]}"
    return done.stdout


def alert_settings(pipeline: Pipeline, smtp_port: int, **extra: Any) -> Settings:
    tag = uuid.uuid4().hex[:8]
    values: dict[str, Any] = {
        "topic_windows": f"windows-{tag}",
        "alerts_group": f"alerts-{tag}",
        "alerts_tick_s": 0.5,
        "alerts_retry_max_s": 2.0,
        "smtp_url": f"smtp://127.0.0.1:{smtp_port}",
        "dashboard_url": "http://grafana.test:3000",
        "alerts_secret_key": SecretStr(new_key()),
    }
    values.update(extra)
    pipeline.settings = pipeline.settings.model_copy(update=values)
    return pipeline.settings


def history(settings: Settings, rule: str | None = None) -> list[tuple[str, str, str]]:
    """(transition, fingerprint, enterprise) of stored alert transitions, oldest first."""
    with db.connect(settings, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT transition, fingerprint, enterprise_id FROM alerts "
            "WHERE transition <> 'pending' AND (%(r)s::text IS NULL OR rule_id = %(r)s) "
            "ORDER BY recorded_at, ts",
            {"r": rule},
        ).fetchall()
    return [(str(a), str(b), str(c)) for a, b, c in rows]


def wait_for(what: str, check: Callable[[], bool], pipeline: Pipeline, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        for name, proc in pipeline.procs.items():
            assert proc.alive(), f"{name} died:\n{proc.log_tail(40)}"
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}\n{pipeline.logs()}")


def send(
    settings: Settings, meter_id: str, kwh: list[float], first_slot: int = 0,
    registry: Registry = REGISTRY,
) -> None:  # fmt: skip
    meter = registry.meter_map()[meter_id]
    readings = [
        SimReading(meter.enterprise_id, meter_id, DAY + timedelta(minutes=15 * (first_slot + i)),
                   v, "kWh", MeterKind.INTERVAL, 900)
        for i, v in enumerate(kwh)
    ]  # fmt: skip
    publish(readings, settings, client_id=f"feed-{uuid.uuid4().hex[:6]}")


# --- scenarios ---------------------------------------------------------------------------------
PIPELINE_RULES = """\
  - {id: demand, scope: meter, severity: warning, match: {enterprise: A},
     threshold: {measure: demand_kw, above: 800, recover_below: 400, for: 30m}}
  - {id: b-demand, scope: meter, severity: critical, enterprise: B,
     threshold: {measure: demand_kw, above: 300, recover_below: 100}, renotify: 2s}
  - {id: silent, scope: meter, match: {meter: A-E},
     silent: {intervals: 2, interval: 3s, enterprise_min_meters: 1}}
"""


def test_threshold_alerts_from_real_windows_fire_once_renotify_and_resolve(
    pipeline: Pipeline, receiver: WebhookReceiver, mailbox: tuple[Mailbox, int]
) -> None:
    box, smtp_port = mailbox
    settings = alert_settings(pipeline, smtp_port)
    pipeline.load_registry(REGISTRY)
    rules = pipeline.log_dir.parent / "rules.yaml"
    rules.write_text(rules_yaml(PIPELINE_RULES, receiver))
    assert "loaded 3 rules and 4 channels" in cli(settings, "alerts", "rules", "load", str(rules))
    receiver.start()
    watcher = connect(int(settings.mqtt_url.rsplit(":", 1)[1]), None, None)
    watcher.subscribe("greenmon/v1/A/alerts/#", "greenmon/v1/B/alerts/#")
    pipeline.start("collector")
    pipeline.start("processor")
    pipeline.start("alerts")
    # kW: 1000 for one window (shorter than `for`), then 1000 x3, oscillating 600/1000 between
    # the recovery (400) and fire (800) thresholds, then 200: one firing, one resolve
    send(settings, "A-E", [250, 50, 250, 250, 250, 150, 250, 150, 250, 150, 50])
    send(settings, "B-E", [150, 150])  # 600 kW: fires at once, re-notified every 2 s
    wait_for("A's demand alert resolved", lambda: ("resolved", "demand/meter/A-E", "A")
             in history(settings, "demand"), pipeline)  # fmt: skip
    assert history(settings, "demand") == [
        ("firing", "demand/meter/A-E", "A"),
        ("resolved", "demand/meter/A-E", "A"),
    ]
    wait_for("two webhooks and two mails for A", lambda: len(receiver.docs["A"]) >= 2
             and sum("energy@a" in m[0][0] for m in box.mails) >= 2, pipeline)  # fmt: skip
    a_docs = [d for d in receiver.docs["A"] if d["rule_id"] == "demand"]
    assert [d["transition"] for d in a_docs] == ["firing", "resolved"]
    firing = a_docs[0]
    assert firing["meter_id"] == "A-E" and firing["enterprise_name"] == "Alpha Chemicals"
    assert (firing["value"], firing["threshold"], firing["unit"]) == (1000.0, 800.0, "kW")
    assert datetime.fromisoformat(firing["since"]) == DAY + timedelta(minutes=30)
    assert firing["dashboard"] == "http://grafana.test:3000/d/greenmon-enterprise?var-enterprise=A"
    assert receiver.refused == 0
    mail = message_from_bytes(next(m for r, m in box.mails if r == ["energy@a.example"]))
    assert "demand" in mail["Subject"] and "Alpha Chemicals" in mail["Subject"]
    kinds = sorted(p.get_content_type() for p in mail.walk() if not p.is_multipart())
    assert kinds == ["text/html", "text/plain"]
    # B's alert re-notifies at its 2 s interval while it holds; only B hears about it
    wait_for("B re-notified twice", lambda: [t for t, *_ in history(settings, "b-demand")]
             .count("renotify") >= 2, pipeline)  # fmt: skip
    assert all(d["enterprise_id"] == "A" for d in receiver.docs["A"])
    assert all(d["enterprise_id"] == "B" for d in receiver.docs["B"])
    send(settings, "B-E", [10], first_slot=2)
    wait_for("B resolved", lambda: history(settings, "b-demand")[-1][0] == "resolved", pipeline)
    b_kinds = [t for t, *_ in history(settings, "b-demand")]
    assert b_kinds[0] == "firing" and b_kinds.count("firing") == 1 and b_kinds[-1] == "resolved"
    assert set(b_kinds[1:-1]) == {"renotify"}
    # retained MQTT state per alert, to the owning enterprise's topic only
    wait_for("retained MQTT states", lambda: any(
        t == "greenmon/v1/A/alerts/demand/meter/A-E" and json.loads(p)["transition"] == "resolved"
        for t, p in watcher.messages), pipeline)  # fmt: skip
    assert all(t.startswith("greenmon/v1/A/") == (json.loads(p)["enterprise_id"] == "A")
               for t, p in watcher.messages)  # fmt: skip
    watcher.close()
    late = connect(int(settings.mqtt_url.rsplit(":", 1)[1]), None, None)
    late.subscribe("greenmon/v1/A/alerts/demand/#")  # a newcomer gets the retained state
    assert late.wait(lambda: bool(late.messages)), "no retained alert state"
    assert json.loads(late.messages[0][1])["state"] == "resolved"
    late.close()
    # silence: A-E sent nothing for 6 s (wall clock) -> fires; data again -> resolves
    wait_for("A-E silent", lambda: ("firing", "silent/meter/A-E", "A")
             in history(settings, "silent"), pipeline)  # fmt: skip
    send(settings, "A-E", [10], first_slot=20)
    wait_for("A-E back", lambda: ("resolved", "silent/meter/A-E", "A")
             in history(settings, "silent"), pipeline)  # fmt: skip
    listed = cli(settings, "alerts", "list", "--enterprise", "A", "--state", "resolved")
    assert "demand/meter/A-E" in listed and "b-demand" not in listed


BEHIND_RULES = """\
  - {id: behind, scope: enterprise, severity: warning,
     behind_target: {indicator: energy, margin: 0.02}}
"""


def _ytd(settings: Settings, enterprise: str, intensity: float) -> None:
    with db.connect(settings, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO rollups (entity, entity_id, kind, month, energy_tce, excluded_tce, "
            "co2_t, water_m3, energy_intensity, energy_trajectory, energy_status, co2_status, "
            "water_status, status, reason) VALUES ('enterprise', %s, 'ytd', '2025-03-01', 10, 0, "
            "20, 5, %s, 1.0, 'x', 'x', 'x', 'x', '') ON CONFLICT (entity, entity_id, kind, month) "
            "DO UPDATE SET energy_intensity = EXCLUDED.energy_intensity",
            (enterprise, intensity),
        )


def _deliveries(settings: Settings) -> dict[str, tuple[int, bool, str | None]]:
    with db.connect(settings, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT channel, attempts, delivered_at IS NOT NULL, last_error FROM alert_deliveries "
            "WHERE enterprise_id = 'A' AND transition = 'firing'"
        ).fetchall()
    return {str(c): (int(a), bool(d), e) for c, a, d, e in rows}


def test_behind_target_alerts_once_survive_restart_and_reach_a_webhook_that_was_down(
    pipeline: Pipeline, receiver: WebhookReceiver, mailbox: tuple[Mailbox, int]
) -> None:
    box, smtp_port = mailbox
    settings = alert_settings(pipeline, smtp_port)
    pipeline.load_registry(REGISTRY)
    rules = pipeline.log_dir.parent / "rules.yaml"
    rules.write_text(rules_yaml(BEHIND_RULES, receiver))
    cli(settings, "alerts", "rules", "load", str(rules))
    _ytd(settings, "A", 1.2)  # 20 % above the trajectory: behind
    _ytd(settings, "B", 1.01)  # within the 2 % margin
    pipeline.start("alerts")  # the webhook receiver is down
    wait_for("the webhook failing while MQTT and mail go through", lambda: (
        (d := _deliveries(settings)).get("webhook", (0, False, None))[0] >= 2
        and d["mqtt"][1] and d["email"][1]), pipeline)  # fmt: skip
    _attempts, delivered, error = _deliveries(settings)["webhook"]
    assert not delivered and error is not None and "not reachable" in error
    assert any(r == ["energy@a.example"] for r, _m in box.mails)
    assert "retrying" in cli(settings, "alerts", "list", "--deliveries", "--enterprise", "A")
    with db.connect(settings, autocommit=True) as conn:  # no secret at rest in the clear
        stored = conn.execute("SELECT secret FROM alert_channels WHERE kind = 'webhook'").fetchall()
    assert len(stored) == 2 and all(s.startswith("fernet:") for (s,) in stored)
    assert not any(secret in s for (s,) in stored for secret in SECRETS.values())
    receiver.start()
    wait_for("the webhook delivered after it came back", lambda: bool(receiver.docs["A"]),
             pipeline)  # fmt: skip
    assert [d["transition"] for d in receiver.docs["A"]] == ["firing"]
    assert receiver.docs["A"][0]["value"] == 1.2 and receiver.docs["B"] == []
    # a crash and a restart neither re-send nor forget the firing alert
    pipeline.kill("alerts")
    pipeline.start("alerts")

    def sent_once() -> None:
        assert history(settings) == [("firing", "behind/enterprise/A", "A")]
        assert len(receiver.docs["A"]) == 1 and len(box.mails) == 1

    hold("the firing alert, once", sent_once, 3.0)  # several ticks of the restarted service
    assert "behind/enterprise/A" in cli(settings, "alerts", "list", "--state", "firing")
    _ytd(settings, "A", 0.99)  # back on track
    wait_for("resolved once", lambda: len(receiver.docs["A"]) == 2, pipeline)
    assert history(settings) == [("firing", "behind/enterprise/A", "A"),
                                 ("resolved", "behind/enterprise/A", "A")]  # fmt: skip
    assert [d["transition"] for d in receiver.docs["A"]] == ["firing", "resolved"]


def test_alerts_test_command_reaches_only_the_owner_through_the_broker_acl(
    pipeline: Pipeline, receiver: WebhookReceiver, mailbox: tuple[Mailbox, int], tmp_path: Path
) -> None:
    box, smtp_port = mailbox
    root = tmp_path / "broker"
    root.mkdir()
    os.chmod(root, 0o755)  # noqa: S103 (the broker may run as its own user)
    creds = pipeline.settings.model_copy(update={"state_dir": root})
    report = issue_credentials(creds, root / "handover", enterprise_ids=["A", "B"])
    passwords = {p.stem: p.read_text().strip() for p in (root / "handover").glob("*.txt")}
    port = free_port()
    broker = start_mosquitto(report.password_file.parent, port, password_file=report.password_file,
                             acl_file=report.acl_file, die_with_parent=True)  # fmt: skip
    try:
        broker.wait_port("127.0.0.1", port, 10)
        settings = alert_settings(
            pipeline, smtp_port, mqtt_url=f"mqtt://127.0.0.1:{port}",
            mqtt_username=DEFAULT_COLLECTOR_USER,
            mqtt_password=SecretStr(passwords[DEFAULT_COLLECTOR_USER]),
        )  # fmt: skip
        pipeline.load_registry(REGISTRY)
        rules = tmp_path / "rules.yaml"
        rules.write_text(rules_yaml(BEHIND_RULES, receiver))
        cli(settings, "alerts", "rules", "load", str(rules))
        receiver.start()
        a = connect(port, "A", passwords["A"])
        b = connect(port, "B", passwords["B"])
        a.subscribe("greenmon/v1/A/alerts/#")
        b.subscribe("greenmon/v1/A/alerts/#", "greenmon/v1/B/alerts/#")
        out = cli(settings, "alerts", "test", "--enterprise", "A")
        assert out.count(": sent") == 3, out  # mqtt, webhook, email
        assert a.wait(lambda: bool(a.messages)), "A did not get its test alert"
        topic, payload = a.messages[0]
        assert topic == "greenmon/v1/A/alerts/test/enterprise/A"
        assert json.loads(payload)["transition"] == "test"
        assert not b.wait(lambda: bool(b.messages), timeout=2.0), "B read A's alerts"
        assert [d["transition"] for d in receiver.docs["A"]] == ["test"]
        assert [r for r, _m in box.mails] == [["energy@a.example"]]
        a.close()
        b.close()
    finally:
        broker.stop(10)

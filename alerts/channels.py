"""Alert messages and the three ways they reach an enterprise: MQTT, webhook, e-mail.

The alert document (JSON) is built once per transition and stored in the outbox;
each channel renders and sends it. A webhook POST carries
``X-Greenmon-Signature: sha256=<hex HMAC-SHA256 of the raw body with the
enterprise's secret>``. Secrets are never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import smtplib
import ssl
import threading
import urllib.error
import urllib.request
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote, urlsplit

import paho.mqtt.client as mqtt

from greenmon.bus import mqtt as bus_mqtt
from greenmon.errors import DeliveryError
from greenmon.settings import Settings

SIGNATURE_HEADER = "X-Greenmon-Signature"
TIMEOUT_S = 5.0
_UNITS = {"demand_kw": "kW", "silent_s": "s", "completeness": ""}


def dashboard_link(settings: Settings, enterprise_id: str | None) -> str:
    base = settings.dashboard_url.rstrip("/")
    if enterprise_id is None:
        return f"{base}/d/greenmon-city"
    return f"{base}/d/greenmon-enterprise?var-enterprise={quote(enterprise_id)}"


def alert_topic(settings: Settings, enterprise_id: str, fingerprint: str) -> str:
    """Retained state per alert under the enterprise's alerts topic."""
    return f"{settings.mqtt_topic_prefix.rstrip('/')}/{enterprise_id}/alerts/{fingerprint}"


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "—" if value is None else str(value)


def summary(doc: dict[str, Any]) -> str:
    """One line: what, where, value against threshold, since when."""
    what = {
        "firing": "FIRING",
        "renotify": "STILL FIRING",
        "resolved": "RESOLVED",
        "test": "TEST",
    }.get(str(doc.get("transition")), str(doc.get("transition")).upper())
    where = doc.get("enterprise_name") or doc.get("enterprise_id") or doc.get("entity_id")
    meter = f", meter {doc['meter_id']}" if doc.get("meter_id") else ""
    unit = f" {doc['unit']}" if doc.get("unit") else ""
    return (
        f"[{what}] {doc.get('rule_id')} ({doc.get('severity')}) at {where}{meter}: "
        f"{doc.get('measure')} {_fmt(doc.get('value'))}{unit} vs threshold "
        f"{_fmt(doc.get('threshold'))}{unit}, since {doc.get('since') or '—'}"
    )


_FIELDS = ("enterprise_id", "enterprise_name", "meter_id", "measure", "value", "threshold",
           "unit", "since", "at", "severity", "rule_id", "fingerprint", "dashboard")  # fmt: skip


def render_text(doc: dict[str, Any]) -> str:
    lines = [summary(doc), ""]
    lines += [f"{k}: {_fmt(doc.get(k))}" for k in _FIELDS if doc.get(k) is not None]
    return "\n".join(lines) + "\n"


def render_html(doc: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><th align='left'>{html.escape(k)}</th><td>{html.escape(_fmt(doc.get(k)))}</td></tr>"
        for k in _FIELDS
        if doc.get(k) is not None
    )
    link = html.escape(str(doc.get("dashboard", "")))
    return (
        f"<html><body><p><b>{html.escape(summary(doc))}</b></p><table>{rows}</table>"
        f"<p><a href='{link}'>Open the dashboard</a></p></body></html>"
    )


def body_bytes(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def sign(secret: str, body: bytes) -> str:
    """The signature header value of a webhook body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str) -> bool:
    return hmac.compare_digest(sign(secret, body), header)


# --- senders ---------------------------------------------------------------------------------
def send_webhook(url: str, secret: str, doc: dict[str, Any], delivery_id: int) -> None:
    body = body_bytes(doc)
    request = urllib.request.Request(  # noqa: S310 (http/https checked when loaded)
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(secret, body),
            "X-Greenmon-Delivery": str(delivery_id),
            "User-Agent": "greenmon-alerts",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"webhook answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise DeliveryError(f"webhook not reachable: {exc}") from None
    if not 200 <= status < 300:
        raise DeliveryError(f"webhook answered HTTP {status}")


def _smtp_tls(settings: Settings) -> ssl.SSLContext:
    ca = settings.smtp_ca_file
    return ssl.create_default_context(cafile=str(ca) if ca is not None else None)


def _smtp_connect(settings: Settings, url: str) -> smtplib.SMTP:
    """A connection to ``smtp://`` (STARTTLS if configured) or ``smtps://`` (TLS from the start)."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    if parts.scheme == "smtps":
        return smtplib.SMTP_SSL(host, parts.port or 465, timeout=TIMEOUT_S,
                                context=_smtp_tls(settings))  # fmt: skip
    s = smtplib.SMTP(host, parts.port or 25, timeout=TIMEOUT_S)
    if settings.smtp_starttls:
        try:
            s.starttls(context=_smtp_tls(settings))
        except BaseException:
            s.close()
            raise
    return s


def email_message(settings: Settings, to: str, doc: dict[str, Any]) -> EmailMessage:
    """Plain text and HTML alternatives of one alert."""
    msg = EmailMessage()
    msg["Subject"] = summary(doc)[:200]
    msg["From"] = settings.smtp_from
    msg["To"] = to
    msg.set_content(render_text(doc))
    msg.add_alternative(render_html(doc), subtype="html")
    return msg


def send_email(settings: Settings, to: str, doc: dict[str, Any]) -> None:
    if settings.smtp_url is None:
        raise DeliveryError("no SMTP server configured (GREENMON_SMTP_URL)")
    msg = email_message(settings, to, doc)
    try:
        with _smtp_connect(settings, settings.smtp_url) as s:
            if settings.smtp_username:
                password = (
                    settings.smtp_password.get_secret_value() if settings.smtp_password else ""
                )
                s.login(settings.smtp_username, password)
            s.send_message(msg)
    except (smtplib.SMTPException, OSError) as exc:  # ssl.SSLError is an OSError
        raise DeliveryError(f"SMTP: {exc}") from None


class MqttSender:
    """One MQTT connection (the collector's account) publishing retained QoS 1 states."""

    def __init__(self, settings: Settings, client_id: str) -> None:
        self._settings = settings
        self._client_id = client_id
        self._client: mqtt.Client | None = None
        self._lock = threading.Lock()

    def _connected(self) -> mqtt.Client:
        if self._client is None:
            c = bus_mqtt.client(self._settings, client_id=self._client_id, persistent=False)
            host, port = self._settings.mqtt_host_port
            try:
                c.connect(host, port, keepalive=30)
            except OSError as exc:
                raise DeliveryError(f"MQTT broker not reachable: {exc}") from None
            c.loop_start()
            self._client = c
        return self._client

    def send(self, topic: str, doc: dict[str, Any]) -> None:
        with self._lock:
            client = self._connected()
            info = client.publish(topic, body_bytes(doc), qos=1, retain=True)
            try:
                info.wait_for_publish(TIMEOUT_S)
            except (RuntimeError, ValueError) as exc:
                self._reset()
                raise DeliveryError(f"MQTT publish failed: {exc}") from None
            if not info.is_published():
                self._reset()
                raise DeliveryError("MQTT broker did not acknowledge the publish")

    def _reset(self) -> None:
        if self._client is not None:
            self._client.loop_stop()
            self._client.disconnect()
        self._client = None

    def close(self) -> None:
        with self._lock:
            self._reset()

"""MQTT clients configured from the settings (paho-mqtt 2.x, MQTT 3.1.1)."""

from __future__ import annotations

import ssl

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from greenmon.settings import Settings


def client(
    settings: Settings,
    *,
    client_id: str,
    persistent: bool,
    username: str | None = None,
    password: str | None = None,
    manual_ack: bool = False,
) -> mqtt.Client:
    """A paho client; ``persistent`` keeps the session (and queued QoS 1 messages) on the broker."""
    c = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=not persistent,
        protocol=mqtt.MQTTv311,
        manual_ack=manual_ack,
    )
    user = username if username is not None else settings.mqtt_username
    secret = password
    if secret is None and settings.mqtt_password is not None:
        secret = settings.mqtt_password.get_secret_value()
    if user is not None:
        c.username_pw_set(user, secret)
    if settings.mqtt_tls:
        ca = str(settings.mqtt_ca_file) if settings.mqtt_ca_file else None
        c.tls_set(ca_certs=ca, tls_version=ssl.PROTOCOL_TLS_CLIENT)
    c.reconnect_delay_set(min_delay=1, max_delay=10)
    return c

"""The gateway's MQTT side: QoS 1 batches under the enterprise's account, PUBACKs reported.

paho keeps a published QoS 1 message until its PUBACK and sends it again after a
reconnect, so a batch in flight during an outage is not lost inside the process; the
durable queue covers a restart.
"""

from __future__ import annotations

import json
import logging
import queue
import ssl
import threading
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gateway.config import MqttTarget

log = logging.getLogger("greenmon.gateway")


class Uplink:
    def __init__(self, target: MqttTarget, max_inflight: int) -> None:
        self.target = target
        self.connected = threading.Event()
        self.acked: queue.SimpleQueue[int] = queue.SimpleQueue()
        c = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=target.client_id,
            clean_session=True,
            protocol=mqtt.MQTTv311,
        )
        c.username_pw_set(target.username, target.password)
        if target.url.startswith("mqtts://"):
            ca = str(target.ca_file) if target.ca_file else None
            c.tls_set(ca_certs=ca, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        c.max_inflight_messages_set(max_inflight)
        c.reconnect_delay_set(min_delay=1, max_delay=10)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_publish = self._on_publish
        self._client = c
        self.last_error: str | None = None

    def start(self) -> None:
        parts = urlsplit(self.target.url)
        port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
        self._client.connect_async(parts.hostname or "127.0.0.1", port, keepalive=30)
        self._client.loop_start()

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def publish(self, enterprise: str, items: list[dict[str, Any]]) -> int:
        """Publish one batch (QoS 1); returns its message id, reported on ``acked`` at PUBACK."""
        topic = f"{self.target.topic_prefix}/{enterprise}/batch"
        body = json.dumps({"readings": items}, separators=(",", ":"))
        info = self._client.publish(topic, body, qos=1)
        return int(info.mid)

    def _on_connect(self, _c: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            self.last_error = f"MQTT connection refused: {rc}"
            log.error("%s (user %s); retrying", self.last_error, self.target.username)
            return
        self.last_error = None
        log.info("connected to %s as %s", self.target.url, self.target.username)
        self.connected.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if self.connected.is_set():
            log.warning("MQTT connection lost (%s); readings stay queued, reconnecting", rc)
        self.connected.clear()
        self.last_error = f"MQTT connection lost: {rc}"

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, _rc: Any, _p: Any) -> None:
        self.acked.put(mid)

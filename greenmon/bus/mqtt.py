"""MQTT clients configured from the settings (paho-mqtt 2.x, MQTT 3.1.1).

paho reads a packet with three or more ``recv`` calls (the command byte, each byte of
the remaining length, the rest) and handles one packet per ``select`` round unless it
has messages of its own in flight: a subscriber taking thousands of small messages a
second spends most of its network thread in system calls. :class:`BufferedClient`
reads the socket in large chunks and hands paho a socket that says how much it holds
(``pending()``, which paho already asks of TLS sockets so that it does not wait in
``select`` on bytes it has), and reads up to :data:`READ_BURST` packets a round.
"""

from __future__ import annotations

import ssl
import struct
from collections.abc import Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from greenmon.settings import Settings

#: bytes asked of the kernel per read
READ_CHUNK = 256 * 1024
#: packets read per network-loop round before paho writes and checks its keep-alive
READ_BURST = 500
#: PUBACKs written together in one send
ACK_CHUNK = 4096
_PUBACK = 0x40


class BufferedSocket:
    """A socket whose ``recv`` serves small reads from one large read (paho's view of it)."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buf = b""
        self._pos = 0

    def recv(self, bufsize: int) -> bytes:
        if self._pos >= len(self._buf):
            data: bytes = self._sock.recv(max(bufsize, READ_CHUNK))
            if len(data) <= bufsize:
                return data  # all of it, or b"" at end of stream
            self._buf, self._pos = data, 0
        end = min(self._pos + bufsize, len(self._buf))
        chunk = self._buf[self._pos : end]
        self._pos = end
        return chunk

    def pending(self) -> int:
        """Bytes already read from the kernel (or held by TLS) that paho has not taken yet."""
        inner = getattr(self._sock, "pending", None)
        return len(self._buf) - self._pos + (inner() if inner is not None else 0)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class BufferedClient(mqtt.Client):
    """A paho client reading its socket through :class:`BufferedSocket`, in bursts."""

    def _create_socket(self) -> Any:
        sock = super()._create_socket()
        if self._transport == "websockets":
            return sock
        return BufferedSocket(sock)

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """paho's loop_read, but up to READ_BURST packets while they are already there."""
        for _ in range(max(max_packets, READ_BURST)):
            if self._sock is None:
                return MQTTErrorCode.MQTT_ERR_NO_CONN
            rc = self._packet_read()
            if rc > 0:
                return self._loop_rc_handle(rc)
            if rc == MQTTErrorCode.MQTT_ERR_AGAIN:
                break
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def ack_many(self, mids: Sequence[int]) -> None:
        """Acknowledge received QoS 1 messages (``manual_ack``), in this order.

        paho's ``ack()`` queues each PUBACK as its own packet and wakes the network
        thread for it: one wake-up and one ``send`` per message. Here the PUBACKs of
        a whole drain go out as one write (the broker reads them one by one)."""
        for start in range(0, len(mids), ACK_CHUNK):
            chunk = mids[start : start + ACK_CHUNK]
            packet = b"".join(struct.pack("!BBH", _PUBACK, 2, mid) for mid in chunk)
            self._packet_queue(_PUBACK, packet, chunk[-1], 1)


def client(
    settings: Settings,
    *,
    client_id: str,
    persistent: bool,
    username: str | None = None,
    password: str | None = None,
    manual_ack: bool = False,
) -> BufferedClient:
    """A paho client; ``persistent`` keeps the session (and queued QoS 1 messages) on the broker."""
    c = BufferedClient(
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

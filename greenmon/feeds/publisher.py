"""Publish simulated or replayed readings to the MQTT broker (QoS 1, paho-mqtt 2.x).

Delivery guarantees of :func:`publish`:

* **At least once, while this process lives.** Every reading is published with QoS 1
  and kept in paho's outgoing store until the broker's PUBACK. If the connection
  drops, paho reconnects (``loop_start``, back-off 1-16 s) and re-sends every unacked
  message (DUP flag set) before new ones; the session is persistent
  (``clean_session=False``), as MQTT 3.1.1 requires for that re-send. A PUBACK lost
  with the connection means the broker may get the reading twice: the pipeline is
  idempotent on (meter, ts), so a duplicate changes nothing.
* **Returns only when every reading is acknowledged.** The return value is the number
  of readings published, all of them PUBACKed. A PUBACK means the broker took
  responsibility for the message; MQTT 3.1.1 has no negative acknowledgement, so a
  publish the broker's ACL refuses is acked and dropped by Mosquitto: use a user
  allowed to write ``{prefix}/+/+/reading``.
* **Raises ServiceError** when the broker refuses the connection for good (bad
  credentials, not authorised, client id rejected), when the first connection does not
  succeed within ``connect_timeout_s``, or when no PUBACK arrives for
  ``stall_timeout_s`` while messages are outstanding. Messages not yet acked at that
  point are in an unknown state (some may have been delivered); the store is in memory,
  so nothing survives the process. Re-running a replay is safe (idempotent sink).
* **Bounded memory.** At most ``max_inflight`` messages are on the wire unacked (keep it
  at or below the broker's ``max_inflight_messages``); at most ``window`` are handed to
  paho and unacked; the reading iterator is consumed lazily.
* **Order.** Within one connection readings leave in iteration order. Readings re-sent
  after a reconnect may reach the broker after readings it already has; nothing
  downstream may rely on arrival order (the processor orders by event time).
* **Sessions.** The run uses a persistent session under ``client_id`` and, after a
  successful run, drops it (one clean-session connect) so runs do not pile up sessions
  on the broker. TCP_NODELAY is set so small PUBLISH packets are not held back.
* **Throughput** is bounded by paho (a few thousand QoS 1 messages a second per client
  on a small machine); generation is not the bottleneck.

Use a distinct ``client_id`` per concurrent publisher: the broker disconnects the older
of two clients with the same id, and they would keep taking over each other.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Final

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from greenmon.errors import ServiceError
from greenmon.feeds.simulator import SimReading
from greenmon.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_MAX_INFLIGHT: Final = 100
DEFAULT_WINDOW: Final = 1000
PROGRESS_EVERY_S: Final = 0.1
_SERVER_UNAVAILABLE: Final = 0x88  # the only CONNACK refusal worth retrying


class _Tracker:
    """Outstanding message ids and connection state, shared with paho's network thread.

    paho calls ``on_publish`` holding its outgoing-message lock, and ``publish()``
    takes that lock; so the main thread never holds ``cond`` while calling paho, and an
    ack can arrive before its mid is registered (kept in ``early`` until it is).
    """

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.outstanding: set[int] = set()
        self.early: set[int] = set()
        self.acked = 0
        self.wake_at = -1  # on_publish wakes the waiter when this few remain unacked
        self.connected = False
        self.fatal: str | None = None
        self.last_error: str | None = None

    def attach(self, client: mqtt.Client) -> None:
        """Route ``client``'s connection and acknowledgement callbacks here."""
        client.on_connect = self.on_connect
        client.on_connect_fail = self.on_connect_fail
        client.on_disconnect = self.on_disconnect
        client.on_publish = self.on_publish

    def on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self.cond:
            if reason.is_failure:
                self.last_error = f"broker refused the connection: {reason}"
                if reason.value != _SERVER_UNAVAILABLE:
                    self.fatal = self.last_error
                log.warning("MQTT connect refused: %s", reason)
            else:
                self.connected = True
                _no_delay(client)
                log.info("MQTT connected (session present: %s)", flags.session_present)
            self.cond.notify_all()

    def on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        with self.cond:
            self.last_error = "could not open a connection to the broker"

    def on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self.cond:
            if self.connected and reason.is_failure:
                log.warning("MQTT connection lost (%s); paho reconnects and re-sends", reason)
            self.connected = False
            self.last_error = f"disconnected: {reason}"
            self.cond.notify_all()

    def on_publish(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason: ReasonCode,
        properties: Properties,
    ) -> None:
        with self.cond:
            if mid in self.outstanding:
                self.outstanding.remove(mid)
            else:
                self.early.add(mid)
            self.acked += 1
            if len(self.outstanding) <= self.wake_at:
                self.cond.notify_all()

    def sent(self, mid: int) -> None:
        with self.cond:
            if mid in self.early:
                self.early.remove(mid)
            else:
                self.outstanding.add(mid)

    def wait_connected(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        with self.cond:
            while not self.connected:
                if self.fatal:
                    raise ServiceError(self.fatal)
                left = deadline - time.monotonic()
                if left <= 0:
                    why = self.last_error or "no answer"
                    raise ServiceError(f"MQTT broker not connected after {timeout_s:g} s ({why})")
                self.cond.wait(min(left, 0.5))

    def wait_at_most(self, high: int, low: int, stall_timeout_s: float) -> None:
        """If more than ``high`` messages are unacked, block until at most ``low`` are.

        The gap between the two marks keeps the threads from waking each other per ack.
        Raises ServiceError when no ack comes for ``stall_timeout_s``.
        """
        with self.cond:
            if len(self.outstanding) <= high:
                return
            acked = self.acked
            since = time.monotonic()
            self.wake_at = low
            while len(self.outstanding) > low:
                if self.fatal:
                    raise ServiceError(self.fatal)
                self.cond.wait(0.5)
                now = time.monotonic()
                if self.acked != acked:
                    acked, since = self.acked, now
                elif now - since > stall_timeout_s:
                    raise ServiceError(
                        f"no PUBACK for {stall_timeout_s:g} s; {len(self.outstanding)} "
                        f"readings unacknowledged ({self.last_error or 'connected'})"
                    )


def _no_delay(client: mqtt.Client) -> None:
    """Turn off Nagle's algorithm: small PUBLISH packets must not wait for TCP acks."""
    sock = client.socket()
    if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def make_client(
    settings: Settings,
    client_id: str,
    *,
    username: str | None = None,
    password: str | None = None,
    max_inflight: int = DEFAULT_MAX_INFLIGHT,
    clean_session: bool = False,
) -> mqtt.Client:
    """A paho client for publishing readings (not yet connected)."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv311,
        clean_session=clean_session,
    )
    if username is not None:
        client.username_pw_set(username, password)
    if settings.mqtt_tls:
        ca = settings.mqtt_ca_file
        client.tls_set(ca_certs=str(ca) if ca is not None else None)
    client.max_inflight_messages_set(max_inflight)
    client.reconnect_delay_set(min_delay=1, max_delay=16)
    return client


def publish(
    readings: Iterable[SimReading],
    settings: Settings,
    *,
    speed: float | None = None,
    progress: Callable[[int], None] | None = None,
    client_id: str = "greenmon-feed",
    username: str | None = None,
    password: str | None = None,
    max_inflight: int = DEFAULT_MAX_INFLIGHT,
    window: int = DEFAULT_WINDOW,
    connect_timeout_s: float = 30.0,
    stall_timeout_s: float = 120.0,
) -> int:
    """Publish ``readings`` with QoS 1; return how many, once every one is PUBACKed.

    ``speed`` is simulated seconds per wall-clock second (86400: a day a second), paced
    on the readings' ``ts``; None or 0 publishes as fast as the broker acks.
    ``progress`` gets the count published so far, at most every 0.1 s and once at the end.
    Without ``username`` it publishes as the feed's account when the settings have its
    password (``feed_mqtt_password``), else anonymously.
    """
    if username is None:
        username, password = settings.feed_credentials
    _check_limits(max_inflight, window, speed)
    tracker = _Tracker()
    client = make_client(
        settings, client_id, username=username, password=password, max_inflight=max_inflight
    )
    tracker.attach(client)
    host, port = settings.mqtt_host_port
    prefix = settings.mqtt_topic_prefix
    client.connect_async(host, port, keepalive=30)
    client.loop_start()
    count = 0
    try:
        tracker.wait_connected(connect_timeout_s)
        log.info("publishing readings to %s:%d under %s/", host, port, prefix)
        pace = _Pacer(speed) if speed else None
        last_progress = time.monotonic()
        for reading in readings:
            if pace is not None:
                pace.wait(reading)
            _send(client, tracker, reading.topic(prefix), reading.payload(), count + 1)
            count += 1
            tracker.wait_at_most(window, window // 2, stall_timeout_s)
            if progress is not None and time.monotonic() - last_progress >= PROGRESS_EVERY_S:
                last_progress = time.monotonic()
                progress(count)
        tracker.wait_at_most(0, 0, stall_timeout_s)
    finally:
        client.disconnect()
        client.loop_stop()
    drop_session(settings, client_id, username, password)
    if progress is not None:
        progress(count)
    log.info("published %d readings, all acknowledged", count)
    return count


def _send(client: mqtt.Client, tracker: _Tracker, topic: str, payload: bytes, n: int) -> None:
    """Publish the ``n``-th reading with QoS 1 and track its message id."""
    info = client.publish(topic, payload, qos=1)
    if info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:  # only on a message-id clash
        raise ServiceError(f"paho refused reading {n}: {info.rc}")
    tracker.sent(info.mid)


def _check_limits(max_inflight: int, window: int, speed: float | None) -> None:
    if not 1 <= max_inflight <= 65535:
        raise ValueError(f"max_inflight must be 1-65535, not {max_inflight}")
    if not 1 <= window <= 60000:
        raise ValueError(f"window must be 1-60000, not {window}")
    if speed is not None and speed < 0:
        raise ValueError(f"speed must be positive (or None/0 for no pacing), not {speed}")


def drop_session(
    settings: Settings, client_id: str, username: str | None, password: str | None
) -> None:
    """Connect once with a clean session so the broker forgets this client id's session.

    The run needs a persistent session only while it lasts; without this, every run with
    a new client id would leave a session behind on the broker. Best effort.
    """
    client = make_client(
        settings, client_id, username=username, password=password, clean_session=True
    )
    host, port = settings.mqtt_host_port
    try:
        client.connect(host, port, keepalive=10)
        client.loop(timeout=2.0)  # read the CONNACK
        client.disconnect()
    except OSError as exc:
        log.warning("could not drop the MQTT session of %s: %s", client_id, exc)


class _Pacer:
    """Sleeps so that simulated time advances ``speed`` times faster than the wall clock."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self.origin: tuple[float, float] | None = None  # (first reading's epoch, monotonic)

    def wait(self, reading: SimReading) -> None:
        sim = reading.ts.timestamp()
        if self.origin is None:
            self.origin = (sim, time.monotonic())
            return
        target = self.origin[1] + (sim - self.origin[0]) / self.speed
        delay = target - time.monotonic()
        if delay > 0.001:
            time.sleep(delay)

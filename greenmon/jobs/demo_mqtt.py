"""``greenmon demo`` on a local broker with MQTT authentication on (``mqtt_auth``).

The demo creates the accounts it needs, as ``greenmon mqtt credentials`` does: one per
simulated enterprise, the collector's, the feed's; accounts already in the broker's
password file keep their passwords and their rights. A demo account whose password
the demo cannot know (an enterprise of the simulated fleet that already has one, or the
collector when the settings carry no password) gets a new one. The new passwords go,
0600, to ``{state_dir}/demo-mqtt/`` only. Then the simulator publishes each enterprise's
readings under that enterprise's own account, which the ACL confines to its own topics.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from pydantic import SecretStr

from greenmon.domain.registry import Registry
from greenmon.errors import ServiceError
from greenmon.feeds.publisher import publish
from greenmon.feeds.simulator import SimReading
from greenmon.local.mqtt_auth import collector_user, existing_accounts, issue_credentials
from greenmon.settings import Settings

log = logging.getLogger("greenmon.demo")

#: where the demo's new passwords are written (0600), under the state dir
DEMO_ACCOUNTS = "demo-mqtt"


def demo_accounts(settings: Settings, registry: Registry) -> Settings:
    """Create the demo's MQTT accounts; the settings with the collector's account, once
    the broker lets it in."""
    existing = existing_accounts(settings)
    collector = collector_user(settings)
    ours = {e.enterprise_id for e in registry.enterprises}
    others = set(existing) - {collector, settings.feed_mqtt_username}
    rotate = sorted(ours & set(existing))
    if settings.mqtt_password is None and collector in existing:
        rotate.append(collector)
    out = settings.state_dir / DEMO_ACCOUNTS
    report = issue_credentials(settings, out, rotate=rotate, enterprise_ids=sorted(ours | others))
    if not report.reloaded:
        raise ServiceError("the local MQTT broker is not running: cannot load the demo accounts")
    if collector in report.issued:
        log.warning("the collector's MQTT password is new: %s/%s.txt", out, collector)
    password = settings.mqtt_password or SecretStr(_read(out, collector))
    print(f"MQTT accounts: {len(ours)} enterprises and the collector (new passwords in {out}/)")
    demo = settings.model_copy(update={"mqtt_username": collector, "mqtt_password": password})
    wait_login(demo)
    return demo


def _read(out: Path, user: str) -> str:
    return (out / f"{user}.txt").read_text("utf-8").strip()


def wait_login(settings: Settings, timeout_s: float = 15.0) -> None:
    """Wait until the broker, reloading its files, lets the collector's account in."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            publish([], settings, client_id="greenmon-demo-login", connect_timeout_s=5.0,
                    username=settings.mqtt_username, password=_secret(settings))  # fmt: skip
            return
        except ServiceError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def _secret(settings: Settings) -> str | None:
    return settings.mqtt_password.get_secret_value() if settings.mqtt_password else None


def demo_publish(
    readings: Iterable[SimReading],
    settings: Settings,
    *,
    client_id: str,
    speed: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """``publish``; with ``mqtt_auth``, one client per enterprise under its own account
    (passwords from :func:`demo_accounts`). Returns how many readings were published,
    every one of them acknowledged."""
    if not settings.mqtt_auth:
        return publish(readings, settings, speed=speed, progress=progress, client_id=client_id)
    fan = _FanOut(settings, client_id, speed, progress)
    try:
        for reading in readings:
            fan.put(reading)
    except KeyboardInterrupt:
        raise  # the publishers are daemon threads: they end with the demo
    except BaseException:
        fan.close()
        raise
    return fan.close()


class _FanOut:
    """A publishing thread per enterprise, started at its first reading, fed by a queue."""

    def __init__(
        self, settings: Settings, client_id: str, speed: float | None,
        progress: Callable[[int], None] | None,
    ) -> None:  # fmt: skip
        self.settings, self.client_id, self.speed, self.progress = (
            settings, client_id, speed, progress)  # fmt: skip
        self.lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self.queues: dict[str, queue.Queue[SimReading | None]] = {}
        self.threads: dict[str, threading.Thread] = {}
        self.errors: list[BaseException] = []

    def put(self, reading: SimReading) -> None:
        enterprise = reading.enterprise_id
        if enterprise not in self.queues:
            self.queues[enterprise] = queue.Queue(maxsize=5000)
            self.counts[enterprise] = 0
            thread = threading.Thread(target=self._run, args=(enterprise,), daemon=True)
            self.threads[enterprise] = thread
            thread.start()
        self._offer(enterprise, reading)

    def _offer(self, enterprise: str, item: SimReading | None) -> None:
        while self.threads[enterprise].is_alive():
            if self.errors:
                raise self.errors[0]
            try:
                self.queues[enterprise].put(item, timeout=0.5)
                return
            except queue.Full:
                continue
        if self.errors:
            raise self.errors[0]

    def close(self) -> int:
        for enterprise in self.threads:
            self._offer(enterprise, None)
        for thread in self.threads.values():
            thread.join()
        if self.errors:
            raise self.errors[0]
        return sum(self.counts.values())

    def _report(self, enterprise: str, count: int) -> None:
        with self.lock:
            self.counts[enterprise] = count
            if self.progress is not None:
                self.progress(sum(self.counts.values()))

    def _run(self, enterprise: str) -> None:
        try:
            password = _read(self.settings.state_dir / DEMO_ACCOUNTS, enterprise)
            publish(
                _drain(self.queues[enterprise]), self.settings, speed=self.speed,
                progress=lambda count: self._report(enterprise, count),
                client_id=f"{self.client_id}-{enterprise}", username=enterprise,
                password=password,
            )  # fmt: skip
        except BaseException as exc:
            self.errors.append(exc)


def _drain(q: queue.Queue[SimReading | None]) -> Iterator[SimReading]:
    while (item := q.get()) is not None:
        yield item

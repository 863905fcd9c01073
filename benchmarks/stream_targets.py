"""The two systems the streaming benchmark drives: the reference sink and greenmon.

Each listens on its own topic prefix (same topic shape), so while one is measured
the other's persistent session queues nothing; each can be stopped (its session
and subscriptions stay on the broker, so readings queue up for it) and started.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from benchmarks.stream_sink import CREATE, TABLE
from greenmon.jobs.runner import start_service
from greenmon.local.manager import services_status
from greenmon.local.process import ManagedProcess
from greenmon.settings import Settings
from greenmon.storage import db
from greenmon.storage.heartbeat import wait_subscribed

REFERENCE_PREFIX = "refsink/v1"


def broker_pids(settings: Settings) -> dict[str, int]:
    """Mosquitto, the Kafka broker and the postmaster, by the benchmark's names."""
    names = {"mqtt": "mosquitto", "kafka": "kafka", "postgres": "postgres"}
    return {names[s.name]: s.pid for s in services_status(settings) if s.pid is not None}


@dataclass
class Reference:
    """One paho subscriber binary-COPYing into ``ref_readings``; no Kafka, no checks."""

    settings: Settings
    log_dir: Path
    name: str = "reference"
    prefix: str = REFERENCE_PREFIX
    table: str = TABLE
    processes: tuple[str, ...] = ("sink", "mosquitto", "postgres")
    proc: subprocess.Popen[bytes] | None = None

    def prepare(self) -> None:
        with psycopg.connect(self.settings.database_dsn(), autocommit=True) as conn:
            conn.execute(CREATE)

    def start(self) -> None:
        host, port = self.settings.mqtt_host_port
        cmd = [sys.executable, "-m", "benchmarks.stream_sink", host, str(port), self.prefix]
        cmd += [self.settings.database_dsn(), "bench-reference-sink"]
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with (self.log_dir / "reference-sink.log").open("ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(15)
            self.proc = None

    def pids(self) -> dict[str, int]:
        return {"sink": self.proc.pid} if self.proc is not None else {}

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tails(self) -> str:
        path = self.log_dir / "reference-sink.log"
        return path.read_text()[-3000:] if path.exists() else ""


@dataclass
class Greenmon:
    """``collectors`` collector and ``processors`` processor processes."""

    settings: Settings
    log_dir: Path
    collectors: int = 1
    processors: int = 1
    name: str = "greenmon"
    table: str = "readings"
    processes: tuple[str, ...] = (
        "collector",
        "processor",
        "kafka",
        "mosquitto",
        "postgres",
    )
    procs: list[ManagedProcess] = field(default_factory=list)

    @property
    def prefix(self) -> str:
        return self.settings.mqtt_topic_prefix

    def prepare(self) -> None:
        pass

    def start(self) -> None:
        share = "bench-collectors" if self.collectors > 1 else ""
        for i in range(self.collectors):
            own = self.settings.model_copy(
                update={
                    "collector_client_id": f"{self.settings.collector_client_id}-{i}",
                    "collector_share_group": share,
                }
            )
            proc = start_service("collector", own, self.log_dir, name=f"collector-{i}")
            self.procs.append(proc)
            with db.connect(self.settings, autocommit=True) as conn:
                wait_subscribed(conn, proc.pid, timeout=60, alive=proc.alive)
        for i in range(self.processors):
            name = f"processor-{i}"
            self.procs.append(start_service("processor", self.settings, self.log_dir, name=name))

    def stop(self) -> None:
        for proc in self.procs:
            proc.stop(30)
        self.procs = []

    def pids(self) -> dict[str, int]:
        """Process ids by role; several of a role are summed under ``role``."""
        return {p.name: p.pid for p in self.procs}

    def alive(self) -> bool:
        return all(p.alive() for p in self.procs)

    def tails(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.log_tail(15)}" for p in self.procs)


Target = Reference | Greenmon

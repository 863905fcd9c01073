"""`greenmon demo --days ...`, the main job, end to end on its own local services."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from greenmon.local.ports import free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def state_dir() -> Iterator[Path]:
    # not pytest's tmp_path (mode 700): the postgres and mosquitto users must reach it
    path = Path(tempfile.mkdtemp(prefix="greenmon-demo-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_demo_runs_the_pipeline_and_matches_ground_truth(state_dir: Path) -> None:
    state = state_dir
    env = {
        **os.environ,
        "GREENMON_STATE_DIR": str(state),
        "GREENMON_MQTT_URL": f"mqtt://127.0.0.1:{free_port()}",
        "GREENMON_KAFKA_URL": f"kafka://127.0.0.1:{free_port()}",
        "GREENMON_DATABASE_URL": f"postgresql://greenmon@127.0.0.1:{free_port()}/greenmon",
    }
    done = subprocess.run(
        [sys.executable, "-m", "greenmon.cli", "demo", "--days", "2", "--seed", "1",
         "--enterprises", "4", "--meters-per-enterprise", "3"],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "all totals match" in done.stdout
    table = [line for line in done.stdout.splitlines() if line.startswith("E0")]
    assert len(table) >= 4 and all(line.endswith("yes") for line in table)
    # everything the demo started is stopped again
    status = subprocess.run(
        [sys.executable, "-m", "greenmon.cli", "services", "status"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert "running" not in status.stdout, status.stdout

"""`greenmon demo --days ...`, the main job, end to end on its own local services."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from greenmon.local.ports import free_port
from tests.integration.browser import assert_readable, browser_check

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


def city_table(out: str) -> dict[str, tuple[float, float, str]]:
    """intensity, reduction (fraction) and status per indicator of the printed city table."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("== city "))
    rows = {}
    for line in lines[start + 2 : start + 5]:
        cells = line.split()
        # indicator, quantity, unit(s), intensity, baseline, reduction, target, trajectory,
        # margin, status
        rows[cells[0]] = (float(cells[-7]), float(cells[-5].rstrip("%")) / 100, cells[-1])
    return rows


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
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "all totals match" in out
    table = [line for line in out.splitlines() if line.startswith("E0") and "  " in line[:12]]
    assert len(table) >= 4 and all(line.endswith("yes") for line in table)
    # the answer: the city's three indicators against the plan, numeric, with a status
    city = city_table(out)
    assert set(city) == {"energy", "co2", "water"}, out[-4000:]
    for indicator, (intensity, reduction, verdict) in city.items():
        assert intensity > 0 and -1 < reduction < 1, (indicator, city)
        assert verdict in ("on_track", "behind"), (indicator, city)
    # equal to the independent computation (pandas over the simulator's truth)
    assert re.search(r"intensities, reductions and statuses match the simulator's truth "
                     r"\((\d+) entity-indicators", out), out[-3000:]  # fmt: skip
    assert "value-added pro-rated over the simulated days" in out  # partial month, said so
    # at least one enterprise behind target, and its alerts fired
    behind = re.search(r"enterprises behind their trajectory: (\d+)\n((?:  .*\n)*)", out)
    assert behind and int(behind.group(1)) >= 1, out[-3000:]
    assert "(alert firing)" in behind.group(2) and "NO ALERT" not in behind.group(2)
    fired = re.findall(r"^  (energy|co2|water)-behind-target +enterprise +(E\d+)", out, re.M)
    assert fired and {e for _i, e in fired} <= set(re.findall(r"(E\d+)", behind.group(2)))
    # the city report, readable in a browser
    report = Path(re.findall(r"^city report: (.+)$", out, re.M)[-1])
    assert_readable(browser_check(report, state / "browser"), charts=5)
    # everything the demo started is stopped again
    status = subprocess.run(
        [sys.executable, "-m", "greenmon.cli", "services", "status"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert "running" not in status.stdout, status.stdout

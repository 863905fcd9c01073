"""`greenmon demo` with MQTT authentication on: it creates its accounts and publishes
each enterprise's readings under that enterprise's own account."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from greenmon.local.mqtt_auth import hash_password, parse_password_file
from greenmon.local.ports import free_port

pytestmark = pytest.mark.integration

ENTERPRISES = 3


@pytest.fixture
def state_dir(services_dir: Path) -> Path:
    # the session's services directory: the postgres and mosquitto users can reach it
    path = Path(tempfile.mkdtemp(prefix="demo-auth-", dir=services_dir))
    path.chmod(0o755)
    return path


def test_demo_with_mqtt_auth_runs_out_of_the_box(state_dir: Path) -> None:
    # an account from an earlier `greenmon mqtt credentials`: the demo must keep it
    (state_dir / "mosquitto").mkdir()
    kept = hash_password("someone-elses-password")
    (state_dir / "mosquitto" / "passwd").write_text(f"OTHER1:{kept}\n")
    env = {
        **os.environ,
        "GREENMON_STATE_DIR": str(state_dir),
        "GREENMON_MQTT_AUTH": "true",
        "GREENMON_MQTT_URL": f"mqtt://127.0.0.1:{free_port()}",
        "GREENMON_KAFKA_URL": f"kafka://127.0.0.1:{free_port()}",
        "GREENMON_DATABASE_URL": f"postgresql://greenmon@127.0.0.1:{free_port()}/greenmon",
    }
    done = subprocess.run(
        [sys.executable, "-m", "greenmon.cli", "demo", "--days", "1", "--seed", "3",
         "--enterprises", str(ENTERPRISES), "--meters-per-enterprise", "2"],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "all totals match" in done.stdout
    ids = [f"E{i:04d}" for i in range(1, ENTERPRISES + 1)]
    users = parse_password_file((state_dir / "mosquitto" / "passwd").read_text())
    assert users["OTHER1"] == kept
    assert set(ids) <= set(users)
    acl = (state_dir / "mosquitto" / "acl").read_text()
    assert "user OTHER1" in acl and all(f"user {e}" in acl for e in ids)
    # the broker saw each enterprise's readings arrive under that enterprise's account
    log = (state_dir / "logs" / "mqtt.log").read_text()
    publishers = set(re.findall(r"as greenmon-demo-sim-\S+-(E\d{4}) \(.*u'(E\d{4})'\)", log))
    assert publishers == {(e, e) for e in ids}, log[-3000:]
    assert "not authorised" not in log.lower(), log[-3000:]

"""The README stays true: its settings table, its two commands, and what CI runs."""

from __future__ import annotations

import os
import re
from pathlib import Path

from greenmon.settings import settings_table

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text("utf-8")


def test_settings_table_is_current() -> None:
    assert settings_table() in README, "regenerate with: greenmon config --markdown"


def test_two_commands_exist_and_ci_runs_the_test_command() -> None:
    commands = re.findall(r"^(scripts/\S+\.sh)", README, flags=re.MULTILINE)
    assert commands[:2] == ["scripts/demo.sh", "scripts/test.sh"]
    for command in commands:
        assert os.access(ROOT / command, os.X_OK), command
    ci = (ROOT / ".ci" / "run").read_text("utf-8")
    assert re.search(r"^exec scripts/test\.sh$", ci, flags=re.MULTILINE)

"""The CLI parser and ``greenmon config --json``: effective settings with secrets masked."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from greenmon.cli import build_parser, cmd_config, main

MASK = "**********"


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No GREENMON_* variable leaks in; main() reconfigures logging, so restore it."""
    for name in list(os.environ):
        if name.startswith("GREENMON_"):
            monkeypatch.delenv(name)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_parser_knows_config_and_its_json_flag() -> None:
    args = build_parser().parse_args(["config", "--json"])
    assert args.command == "config"
    assert args.json is True
    assert args.config is None
    assert args.handler is cmd_config
    assert build_parser().parse_args(["config"]).json is False


def test_parser_takes_a_config_file_before_the_command() -> None:
    args = build_parser().parse_args(["--config", "site.toml", "config"])
    assert args.config == Path("site.toml")


def test_parser_reads_export_dates() -> None:
    argv = ["export", "--entity", "meter", "--period", "day"]
    args = build_parser().parse_args([*argv, "--from", "2025-01-01", "--to", "2025-01-31"])
    assert (args.date_from, args.date_to) == (date(2025, 1, 1), date(2025, 1, 31))
    assert args.id is None


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["export", "--entity", "meter", "--period", "week", "--from", "2025-01-01", "--to", "x"],
        ["export", "--entity", "meter", "--period", "day", "--from", "1/2/2025", "--to", "x"],
        ["services", "restart"],
    ],
)
def test_parser_refuses_bad_command_lines(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(argv)
    assert info.value.code == 2
    assert "error" in capsys.readouterr().err


def test_config_json_masks_secrets(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GREENMON_MQTT_PASSWORD", "mqtt-s3cret")
    monkeypatch.setenv("GREENMON_DATABASE_PASSWORD", "db-s3cret")
    monkeypatch.setenv("GREENMON_DATABASE_URL", "postgresql://gm:url-s3cret@db:5432/gm")
    monkeypatch.setenv("GREENMON_TIMEZONE", "UTC")
    assert main(["config", "--json"]) == 0
    captured = capsys.readouterr()
    assert "s3cret" not in captured.out
    assert "s3cret" not in captured.err
    doc = json.loads(captured.out)
    assert doc["mqtt_password"] == MASK
    assert doc["database_password"] == MASK
    assert doc["database_url"] == f"postgresql://gm:{MASK}@db:5432/gm"
    assert doc["timezone"] == "UTC"
    assert doc["grid_region"] == "shandong"
    assert doc["state_dir"] == ".greenmon"


def test_config_json_shows_null_for_unset_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["mqtt_password"] is None
    assert doc["database_password"] is None


def test_config_file_option_is_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "site.toml"
    path.write_text('timezone = "Europe/Berlin"\nmqtt_password = "file-s3cret"\n', "utf-8")
    assert main(["--config", str(path), "config", "--json"]) == 0
    out = capsys.readouterr().out
    assert "file-s3cret" not in out
    doc = json.loads(out)
    assert doc["timezone"] == "Europe/Berlin"
    assert doc["mqtt_password"] == MASK


def test_config_as_text_masks_secrets_too(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GREENMON_MQTT_PASSWORD", "mqtt-s3cret")
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert "s3cret" not in out
    line = next(line for line in out.splitlines() if line.startswith("mqtt_password "))
    assert line.split() == ["mqtt_password", MASK]


def test_invalid_settings_exit_2_with_a_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GREENMON_TIMEZONE", "Mars/Olympus_Mons")
    assert main(["config", "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "invalid settings" in captured.err
    assert "unknown time zone" in captured.err

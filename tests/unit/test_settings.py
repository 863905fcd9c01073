"""Settings: defaults, GREENMON_ environment, TOML file, priority, masking, validation."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from greenmon.settings import Settings, load_settings

MASK = "**********"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No GREENMON_* variable of the caller's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("GREENMON_"):
            monkeypatch.delenv(name)


def write_toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "greenmon.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults() -> None:
    s = load_settings()
    assert s.timezone == "Asia/Shanghai"
    assert s.grid_region == "shandong"
    assert s.mqtt_topic_prefix == "greenmon/v1"
    assert s.mqtt_password is None
    assert s.database_password is None
    assert s.future_tolerance_s == 300.0
    assert s.mqtt_host_port == ("127.0.0.1", 11883)
    assert s.kafka_bootstrap == ["127.0.0.1:19092"]
    assert not s.mqtt_tls


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GREENMON_TIMEZONE", "UTC")
    monkeypatch.setenv("GREENMON_KAFKA_PARTITIONS", "8")
    monkeypatch.setenv("GREENMON_GRID_REGION", "north_china")
    monkeypatch.setenv("GREENMON_MQTT_URL", "mqtts://broker.example:8884")
    monkeypatch.setenv("GREENMON_KAFKA_URL", "kafka://k1:9092,k2:9093")
    s = load_settings()
    assert s.timezone == "UTC"
    assert s.kafka_partitions == 8
    assert s.grid_region == "north_china"
    assert s.mqtt_tls
    assert s.mqtt_host_port == ("broker.example", 8884)
    assert s.kafka_bootstrap == ["k1:9092", "k2:9093"]


def test_mqtts_default_port_is_8883() -> None:
    assert load_settings(mqtt_url="mqtts://broker").mqtt_host_port == ("broker", 8883)
    assert load_settings(mqtt_url="mqtt://broker").mqtt_host_port == ("broker", 1883)


def test_toml_file_named_by_greenmon_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_toml(tmp_path, 'timezone = "Europe/Berlin"\nkafka_partitions = 7\n')
    monkeypatch.setenv("GREENMON_CONFIG", str(path))
    s = load_settings()
    assert (s.timezone, s.kafka_partitions) == ("Europe/Berlin", 7)


def test_toml_file_by_argument_and_environment_beats_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_toml(tmp_path, 'timezone = "Europe/Berlin"\nkafka_partitions = 7\n')
    s = load_settings(config_file=path)
    assert (s.timezone, s.kafka_partitions) == ("Europe/Berlin", 7)
    assert "GREENMON_CONFIG" not in os.environ  # load_settings restores the environment
    monkeypatch.setenv("GREENMON_KAFKA_PARTITIONS", "9")
    s = load_settings(config_file=path)
    assert (s.timezone, s.kafka_partitions) == ("Europe/Berlin", 9)
    # keyword arguments beat both
    assert load_settings(config_file=path, kafka_partitions=11).kafka_partitions == 11


def test_config_argument_takes_the_place_of_greenmon_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = write_toml(tmp_path, "kafka_partitions = 2\n")
    arg_file = tmp_path / "other.toml"
    arg_file.write_text("kafka_partitions = 3\n", encoding="utf-8")
    monkeypatch.setenv("GREENMON_CONFIG", str(env_file))
    assert load_settings(config_file=arg_file).kafka_partitions == 3
    assert os.environ["GREENMON_CONFIG"] == str(env_file)


def test_unknown_key_in_the_file_is_refused(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "kafka_partitionz = 7\n")
    with pytest.raises(ValidationError, match="kafka_partitionz"):
        load_settings(config_file=path)


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises((OSError, ValueError)):
        load_settings(config_file=tmp_path / "typo.toml")


def test_secrets_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GREENMON_MQTT_PASSWORD", "mqtt-s3cret")
    monkeypatch.setenv("GREENMON_DATABASE_PASSWORD", "db-s3cret")
    s = load_settings()
    assert isinstance(s.mqtt_password, SecretStr)
    assert s.mqtt_password.get_secret_value() == "mqtt-s3cret"
    masked = s.masked()
    assert masked["mqtt_password"] == MASK
    assert masked["database_password"] == MASK
    text = json.dumps(masked)  # JSON-ready
    assert "s3cret" not in text
    assert "s3cret" not in repr(s)
    assert "s3cret" not in str(s)
    assert masked["state_dir"] == ".greenmon"
    assert set(masked) == set(Settings.model_fields)


def test_secrets_from_the_file_are_masked(tmp_path: Path) -> None:
    s = load_settings(config_file=write_toml(tmp_path, 'mqtt_password = "from-file"\n'))
    assert s.mqtt_password is not None
    assert s.mqtt_password.get_secret_value() == "from-file"
    assert s.masked()["mqtt_password"] == MASK


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:hunter2@db:5432/gm", "postgresql://u:**********@db:5432/gm"),
        ("postgresql://u:p%40ss@db/gm", "postgresql://u:**********@db/gm"),
        ("postgresql://gm@db/gm", "postgresql://gm@db/gm"),
    ],
)
def test_password_in_database_url_is_masked(url: str, shown: str) -> None:
    masked = load_settings(database_url=url).masked()
    assert masked["database_url"] == shown


def test_database_dsn_fills_in_the_password() -> None:
    s = load_settings(database_url="postgresql://gm@db:5432/gm", database_password="pw")  # noqa: S106
    assert s.database_dsn() == "postgresql://gm:pw@db:5432/gm"
    assert load_settings().database_dsn() == "postgresql://greenmon@127.0.0.1:15432/greenmon"


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("timezone", "Mars/Olympus_Mons", "unknown time zone"),
        ("timezone", "../etc/passwd", "unknown time zone"),
        ("mqtt_url", "http://broker:1883", "mqtt://"),
        ("mqtt_url", "broker:1883", "mqtt://"),
        ("kafka_url", "broker:9092", "kafka://"),
        ("grid_region", "mars", "grid_region"),
        ("kafka_partitions", "0", "kafka_partitions"),
        ("log_level", "CHATTY", "log_level"),
    ],
)
def test_invalid_values_are_refused(
    monkeypatch: pytest.MonkeyPatch, field: str, value: str, words: str
) -> None:
    monkeypatch.setenv(f"GREENMON_{field.upper()}", value)
    with pytest.raises(ValidationError, match=words):
        load_settings()


def test_settings_are_frozen() -> None:
    s = load_settings()
    with pytest.raises(ValidationError, match="frozen"):
        s.timezone = "UTC"
    assert s.timezone == "Asia/Shanghai"


def test_reason_kind_drops_the_particulars() -> None:
    from greenmon.observe import reason_kind

    assert reason_kind("unknown meter 'M7': not in the registry") == (
        "unknown meter …: not in the registry"
    )
    assert reason_kind("meter 'A-1' does not belong to enterprise 'B'") == (
        "meter … does not belong to enterprise …"
    )
    # several problems: the first one names the kind; numbers do not split kinds
    assert reason_kind("value: Input should be >= 0; unit: bad") == "value: Input should be >= N"
    assert reason_kind("payload of 70000 bytes exceeds 65536") == "payload of N bytes exceeds N"

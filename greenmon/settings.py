"""One frozen settings object for every greenmon service.

Values come, highest priority first, from keyword arguments, ``GREENMON_*``
environment variables, an optional TOML file (``--config FILE`` or
``GREENMON_CONFIG``), and the defaults below. Secrets are ``SecretStr`` and are
masked wherever settings are printed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

ENV_PREFIX = "GREENMON_"
CONFIG_ENV = "GREENMON_CONFIG"


class Settings(BaseSettings):
    """Effective configuration. Field docs are the settings table in the README."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, frozen=True, extra="forbid", validate_default=True
    )

    # --- where things are -------------------------------------------------------------
    mqtt_url: str = Field(
        "mqtt://127.0.0.1:11883", description="MQTT broker (mqtt:// or mqtts://host:port)"
    )
    mqtt_username: str | None = Field(None, description="MQTT user of the collector")
    mqtt_password: SecretStr | None = Field(None, description="MQTT password of the collector")
    mqtt_ca_file: Path | None = Field(None, description="CA bundle for mqtts:// (TLS)")
    feed_mqtt_username: str = Field(
        "greenmon-feed", description="MQTT user of simulate, replay and demo (with a password)"
    )
    feed_mqtt_password: SecretStr | None = Field(
        None, description="its password (from `greenmon mqtt credentials`); unset: anonymous"
    )
    mqtt_auth: bool = Field(
        False,
        description="local broker requires passwords and ACLs (see greenmon mqtt credentials)",
    )
    kafka_url: str = Field(
        "kafka://127.0.0.1:19092", description="Kafka bootstrap servers (kafka://h1:p1,h2:p2)"
    )
    database_url: str = Field(
        "postgresql://greenmon@127.0.0.1:15432/greenmon",
        description="PostgreSQL/TimescaleDB URL (the password goes in database_password)",
    )
    database_password: SecretStr | None = Field(None, description="database password")
    state_dir: Path = Field(
        Path(".greenmon"), description="local services' data, logs and pid files"
    )
    timezone: str = Field(
        "Asia/Shanghai", description="zone of local days and months in exports and roll-ups"
    )

    # --- topics -----------------------------------------------------------------------
    topic_readings: str = Field("greenmon.readings", description="validated readings")
    topic_dlq: str = Field("greenmon.readings.dlq", description="rejected input, with reason")
    topic_late: str = Field(
        "greenmon.readings.late", description="readings older than the grace period"
    )
    topic_value_added: str = Field(
        "greenmon.value_added", description="monthly value-added submissions (JSON)"
    )
    kafka_partitions: int = Field(4, ge=1, description="partitions when greenmon creates topics")
    kafka_storage_url: str = Field(
        "memory://tansu/", description="storage of the local tansu broker (memory:// or s3://)"
    )
    mqtt_topic_prefix: str = Field("greenmon/v1", description="MQTT topic prefix of readings")

    # --- collector --------------------------------------------------------------------
    collector_client_id: str = Field(
        "greenmon-collector", description="MQTT client id (persistent session)"
    )
    collector_max_inflight: int = Field(
        10000,
        ge=1,
        le=60000,
        description="MQTT messages in flight (at most the broker's max_inflight_messages)",
    )
    collector_share_group: str = Field(
        "",
        pattern=r"^[A-Za-z0-9_.-]*$",
        description="MQTT shared-subscription group of the collectors (empty: none); "
        "give each collector its own collector_client_id",
    )
    future_tolerance_s: float = Field(
        300.0, ge=0, description="readings stamped further in the future are dead-lettered"
    )
    registry_refresh_s: float = Field(
        30.0, gt=0, description="how often the collector re-reads the meter registry"
    )

    # --- processor --------------------------------------------------------------------
    processor_group: str = Field("greenmon-processor", description="Kafka consumer group")
    processor_batch_max: int = Field(20000, ge=1, description="records per polled batch")
    processor_poll_ms: int = Field(200, ge=1, description="poll timeout")
    processor_txn_max: int = Field(
        5000, ge=1, description="readings per database transaction (a poll is cut into parts)"
    )
    kafka_session_timeout_ms: int = Field(
        3000, ge=1000, description="consumer session timeout (heartbeats every quarter of it)"
    )
    processor_instance_id: str | None = Field(
        None,
        description="stable id of this processor in its group (static membership): restarted "
        "with the same id it takes its partitions back at once; unique per running processor",
    )
    kafka_join_timeout_s: float = Field(
        60.0, gt=0, description="a consumer not assigned this long after (re)joining is replaced"
    )
    late_grace_s: float = Field(
        7 * 86400.0,
        gt=0,
        description="a reading this far behind its meter's newest one is set aside as late",
    )
    rollup_refresh_s: float = Field(
        15.0, gt=0, description="how often the processor refreshes the stored roll-ups"
    )
    db_retry_max_s: float = Field(30.0, gt=0, description="longest back-off between DB retries")
    compress_after_days: int = Field(
        30,
        ge=1,
        description="full TimescaleDB edition: compress readings and 15-minute rows "
        "older than this",
    )
    readings_retention_days: int | None = Field(
        None,
        ge=1,
        description="full TimescaleDB edition: drop raw readings older than this "
        "(15-minute rows stay); unset: keep",
    )
    grid_region: Literal["national", "north_china", "shandong"] = Field(
        "shandong", description="grid region whose electricity CO2 factor applies"
    )

    # --- alerts -----------------------------------------------------------------------
    topic_windows: str = Field(
        "greenmon.windows", description="15-minute window results the processor publishes"
    )
    alerts_group: str = Field("greenmon-alerts", description="Kafka consumer group of alerts")
    alerts_tick_s: float = Field(
        5.0, gt=0, description="how often silence, targets, caps and quality are evaluated"
    )
    alerts_retry_max_s: float = Field(
        300.0, gt=0, description="longest back-off between attempts of a failed alert delivery"
    )
    alerts_give_up_s: float = Field(
        86400.0, gt=0, description="an alert delivery still failing after this is given up"
    )
    dashboard_url: str = Field(
        "http://localhost:3000", description="Grafana base URL linked from alert messages"
    )
    alerts_secret_key: SecretStr | None = Field(
        None, description="key sealing webhook secrets stored in the database (Fernet)"
    )
    smtp_url: str | None = Field(
        None, description="SMTP server for alert mail (smtp://host:port, smtps:// for TLS)"
    )
    smtp_username: str | None = Field(None, description="SMTP login user")
    smtp_password: SecretStr | None = Field(None, description="SMTP login password")
    smtp_from: str = Field("greenmon@localhost", description="sender address of alert mail")
    smtp_starttls: bool = Field(False, description="upgrade the SMTP connection with STARTTLS")
    smtp_ca_file: Path | None = Field(
        None, description="CA bundle to verify the SMTP server (default: the system's)"
    )

    # --- logging ----------------------------------------------------------------------
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO")
    log_format: Literal["json", "text"] = Field("text", description="structured log line format")
    stats_interval_s: float = Field(5.0, gt=0, description="how often services log counters")
    metrics_port: int | None = Field(
        None, ge=0, le=65535,
        description="port of the Prometheus /metrics endpoint of each service (off if unset)",
    )  # fmt: skip

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt_scheme(cls, value: str) -> str:
        if urlsplit(value).scheme not in ("mqtt", "mqtts"):
            raise ValueError("mqtt_url must start with mqtt:// or mqtts://")
        return value

    @field_validator("smtp_url")
    @classmethod
    def _smtp_scheme(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("smtp", "smtps"):
            raise ValueError("smtp_url must start with smtp:// or smtps://")
        return value

    @field_validator("kafka_url")
    @classmethod
    def _kafka_scheme(cls, value: str) -> str:
        if not value.startswith("kafka://") or not value[len("kafka://") :].strip(","):
            raise ValueError("kafka_url must look like kafka://host:port[,host:port]")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config_file = os.environ.get(CONFIG_ENV)
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if config_file:
            if not Path(config_file).is_file():
                raise FileNotFoundError(
                    f"settings file {config_file} ({CONFIG_ENV}) does not exist"
                )
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)

    # --- derived values ---------------------------------------------------------------
    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def kafka_bootstrap(self) -> list[str]:
        return [s for s in self.kafka_url.split("://", 1)[1].split(",") if s]

    @property
    def mqtt_host_port(self) -> tuple[str, int]:
        parts = urlsplit(self.mqtt_url)
        default = 8883 if parts.scheme == "mqtts" else 1883
        return parts.hostname or "127.0.0.1", parts.port or default

    @property
    def feed_credentials(self) -> tuple[str | None, str | None]:
        """(user, password) a feed publishes with: the feed's account, or anonymous."""
        if self.feed_mqtt_password is None:
            return None, None
        return self.feed_mqtt_username, self.feed_mqtt_password.get_secret_value()

    @property
    def mqtt_tls(self) -> bool:
        return urlsplit(self.mqtt_url).scheme == "mqtts"

    def database_dsn(self) -> str:
        """The database URL with the password filled in (never log this)."""
        if self.database_password is None:
            return self.database_url
        parts = urlsplit(self.database_url)
        user = parts.username or ""
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        secret = self.database_password.get_secret_value()
        netloc = f"{user}:{secret}@{host}{port}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

    def masked(self) -> dict[str, Any]:
        """Settings as JSON-ready values, secrets replaced by ``**********``."""
        out: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                out[name] = "**********"
            elif isinstance(value, Path):
                out[name] = str(value)
            else:
                out[name] = value
        out["database_url"] = _mask_url_password(self.database_url)
        return out


def _mask_url_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":**********@")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings; ``config_file`` takes the place of ``GREENMON_CONFIG``."""
    if config_file is None:
        return Settings(**overrides)
    if not Path(config_file).is_file():
        raise FileNotFoundError(f"settings file {config_file} does not exist")
    previous = os.environ.get(CONFIG_ENV)
    os.environ[CONFIG_ENV] = str(config_file)
    try:
        return Settings(**overrides)
    finally:
        if previous is None:
            os.environ.pop(CONFIG_ENV, None)
        else:
            os.environ[CONFIG_ENV] = previous


def settings_table() -> str:
    """The settings as a Markdown table (variable, default, meaning): the README's table."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        shown = "—" if field.default is None else f"`{field.default}`"
        meaning = field.description or name.replace("_", " ")
        lines.append(f"| `{ENV_PREFIX}{name.upper()}` | {shown} | {meaning} |")
    return "\n".join(lines) + "\n"

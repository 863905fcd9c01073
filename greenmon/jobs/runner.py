"""Run greenmon's own services (collector, processor) as child processes of a job or test."""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic import SecretStr

from greenmon.local.process import ManagedProcess
from greenmon.settings import ENV_PREFIX, Settings


def settings_env(settings: Settings) -> dict[str, str]:
    """``GREENMON_*`` variables that reproduce ``settings`` in a child process."""
    env: dict[str, str] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        env[ENV_PREFIX + name.upper()] = str(value)
    return env


def start_service(
    service: str, settings: Settings, log_dir: Path, *, name: str | None = None
) -> ManagedProcess:
    """Start ``greenmon SERVICE`` with exactly ``settings``; it dies with this process."""
    return ManagedProcess.start(
        name or service,
        [sys.executable, "-m", "greenmon.cli", service],
        log_dir,
        env=settings_env(settings),
        die_with_parent=True,
    )

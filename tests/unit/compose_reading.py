"""Reading docker-compose.yml and the files the stack mounts (helpers of test_compose)."""

from __future__ import annotations

import argparse
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

from greenmon.settings import ENV_PREFIX, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
MOSQUITTO_CONF = ROOT / "deploy" / "mosquitto" / "mosquitto.conf"
GRAFANA_PROVISIONING = ROOT / "deploy" / "grafana" / "provisioning"
DATASOURCE_FILE = GRAFANA_PROVISIONING / "datasources" / "timescaledb.yml"
PYPROJECT = ROOT / "pyproject.toml"

IMAGE = "greenmon:dev"
MQTT, KAFKA, DATABASE, GRAFANA = "mosquitto", "kafka", "timescaledb", "grafana"
INFRASTRUCTURE = (MQTT, KAFKA, DATABASE, GRAFANA)
# greenmon service -> its subcommand (the first word of its `command:`)
GREENMON_COMMANDS = {
    "migrate": "db",
    "collector": "collector",
    "processor": "processor",
    "simulator": "simulate",
    "alerts": "alerts",
}
CONDITIONS = ("service_started", "service_healthy", "service_completed_successfully")
HEALTHY, DONE = "service_healthy", "service_completed_successfully"
# (service, dependency, accepted conditions): the start order the stack relies on
REQUIRED_DEPENDENCIES = [
    ("migrate", DATABASE, {HEALTHY}),
    ("collector", MQTT, {HEALTHY}),
    ("collector", KAFKA, {HEALTHY}),
    ("collector", "migrate", {DONE}),
    ("processor", KAFKA, {HEALTHY}),
    ("processor", "migrate", {DONE}),
    ("simulator", "collector", {"service_started", HEALTHY}),
    (GRAFANA, DATABASE, {"service_started", HEALTHY}),
]
POSTGRES_PORT = 5432
DATASOURCE_TYPES = ("grafana-postgresql-datasource", "postgres")
# files `pip install .` needs in the build context
BUILD_INPUTS = ("pyproject.toml", "README.md", "greenmon", "collector", "processor", "alerts")

Problems = list[str]


@dataclass
class Stack:
    """Everything the checks read, parsed; the mutation tests change a deep copy."""

    compose: dict[str, Any]
    dockerfile: str
    dockerignore: str
    mosquitto_conf: str
    datasource: dict[str, Any]
    pyproject: dict[str, Any]


# --- reading the compose file ---------------------------------------------------------------

_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<named>[A-Za-z_][A-Za-z0-9_]*))"
)


def interpolate(text: str) -> str:
    """``text`` as compose reads it with no host variables set: ``${VAR:-default}`` -> default.

    ValueError for a variable without a default (the stack must start with nothing set).
    """

    def replace(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        op = match["op"] or ""
        if op in ("-", ":-"):
            return match["arg"]
        if op in ("+", ":+"):
            return ""
        name = match["braced"] or match["named"]
        raise ValueError(f"${{{name}}} has no default in {text!r}")

    return _VARIABLE.sub(replace, text)


def variables(text: str) -> list[str]:
    """Names of the host variables ``text`` refers to (``$$`` is an escaped dollar)."""
    return [m["braced"] or m["named"] for m in _VARIABLE.finditer(text) if not m["escaped"]]


def strings(node: Any) -> Iterator[str]:
    """Every string anywhere in a parsed YAML document."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, Mapping):
        for key, value in node.items():
            yield from strings(key)
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)


def services(compose: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(compose.get("services") or {})


def greenmon_services(compose: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Services that run the project's image (built here, or named greenmon:...)."""
    return {
        name: svc
        for name, svc in services(compose).items()
        if "build" in svc or str(svc.get("image", "")).startswith("greenmon")
    }


def environment(service: Mapping[str, Any]) -> dict[str, Any]:
    """A service's environment as a mapping (list form ``NAME=value`` included)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        out: dict[str, Any] = {}
        for item in env:
            name, sep, value = str(item).partition("=")
            out[name] = value if sep else None
        return out
    return dict(env)


def env_value(service: Mapping[str, Any], name: str) -> str | None:
    """One variable of a service, interpolated; None when unset or passed through."""
    raw = environment(service).get(name)
    return None if raw is None else interpolate(str(raw))


def greenmon_env(service: Mapping[str, Any]) -> dict[str, str]:
    """The service's ``GREENMON_*`` variables with values, interpolated."""
    return {
        name: interpolate(str(value))
        for name, value in environment(service).items()
        if name.upper().startswith(ENV_PREFIX) and value is not None
    }


def depends_on(service: Mapping[str, Any]) -> dict[str, str]:
    """Dependency -> condition (the list form means service_started)."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {str(name): "service_started" for name in deps}
    return {
        str(name): str((spec or {}).get("condition", "service_started"))
        for name, spec in deps.items()
    }


def mounts(service: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(source, target) of each volume; bind sources resolved against the project root."""
    out = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, Mapping):
            source, target = str(volume.get("source", "")), str(volume.get("target", ""))
        else:
            source, _, rest = str(volume).partition(":")
            target = rest.split(":", 1)[0]
        if source.startswith((".", "/")):
            source = str((ROOT / source).resolve())
        out.append((source, target))
    return out


def has_healthcheck(service: Mapping[str, Any]) -> bool:
    check = service.get("healthcheck") or {}
    test = check.get("test")
    return bool(test) and not check.get("disable") and test not in (["NONE"], "NONE")


def service_settings(service: Mapping[str, Any]) -> Settings:
    """The Settings a container of ``service`` builds from its environment, and nothing else."""
    values = greenmon_env(service)
    with mock.patch.dict(os.environ):
        for name in [n for n in os.environ if n.upper().startswith(ENV_PREFIX)]:
            del os.environ[name]
        os.environ.update(values)
        return load_settings()


def subcommands(parser: argparse.ArgumentParser) -> set[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    return set()


def conf_values(conf: str, key: str) -> list[str]:
    """Values of ``key`` in a Mosquitto configuration (one per occurrence)."""
    out = []
    for line in conf.splitlines():
        words = line.split("#", 1)[0].split()
        if words and words[0] == key:
            out.append(" ".join(words[1:]))
    return out


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = pending + stripped
        pending = ""
        word, _, rest = full.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def exec_form(arguments: str) -> list[str] | None:
    """A JSON-array (exec form) instruction argument, or None for the shell form."""
    try:
        value = json.loads(arguments)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None

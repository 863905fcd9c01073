"""Static checks of docker-compose.yml, the Dockerfile and the files the stack mounts.

No Docker engine is needed. The compose file is parsed and checked against the code it
runs: every ``GREENMON_*`` variable is a field of :class:`Settings` and validates, every
``command:`` parses with the real CLI parser, the services depend on services that exist,
and hosts, ports and credentials agree between the services. Each check is a function
returning a list of problems; ``test_check_catches`` proves that each of them fails on a
typical mistake.
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from tests.unit.compose_checks import (
    CHECKS,
    check_commands,
    check_dependencies,
    check_dockerfile,
    check_dockerignore,
    check_environment,
    check_grafana,
    check_healthchecks,
    check_image,
    check_kafka,
    check_mosquitto,
    check_services,
    check_settings,
    check_timescaledb,
    check_wiring,
)
from tests.unit.compose_reading import (
    COMPOSE_FILE,
    DATABASE,
    DATASOURCE_FILE,
    DOCKERFILE,
    DOCKERIGNORE,
    GRAFANA,
    KAFKA,
    MOSQUITTO_CONF,
    PYPROJECT,
    Problems,
    Stack,
    environment,
)


@pytest.fixture(scope="module")
def stack() -> Stack:
    return Stack(
        compose=yaml.safe_load(COMPOSE_FILE.read_text("utf-8")),
        dockerfile=DOCKERFILE.read_text("utf-8"),
        dockerignore=DOCKERIGNORE.read_text("utf-8"),
        mosquitto_conf=MOSQUITTO_CONF.read_text("utf-8"),
        datasource=yaml.safe_load(DATASOURCE_FILE.read_text("utf-8")),
        pyproject=tomllib.loads(PYPROJECT.read_text("utf-8")),
    )


@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__ for c in CHECKS])
def test_stack(stack: Stack, check: Callable[[Stack], Problems]) -> None:
    problems = check(stack)
    assert not problems, f"{check.__doc__}\n  " + "\n  ".join(problems)


# --- each check fails on a typical mistake ---------------------------------------------------


def _env(stack: Stack, service: str) -> dict[str, Any]:
    """The service's own (unshared) environment mapping, to change."""
    svc = stack.compose["services"][service]
    svc["environment"] = environment(svc)
    env: dict[str, Any] = svc["environment"]
    return env


def _set(stack: Stack, service: str, name: str, value: Any) -> None:
    _env(stack, service)[name] = value


def _rename(env: dict[str, Any], old: str, new: str) -> None:
    env[new] = env.pop(old)


def _replace_text(field: str, old: str, new: str) -> Callable[[Stack], None]:
    def mutate(stack: Stack) -> None:
        text = getattr(stack, field)
        assert old in text, f"{old!r} not in {field}; update this mutation"
        setattr(stack, field, text.replace(old, new))

    return mutate


def _services(stack: Stack) -> dict[str, Any]:
    found: dict[str, Any] = stack.compose["services"]
    return found


MUTATIONS: list[tuple[str, Callable[[Stack], None], Callable[[Stack], Problems], str]] = [
    (
        "misspelled variable",
        lambda s: _rename(_env(s, "collector"), "GREENMON_MQTT_URL", "GREENMON_MQT_URL"),
        check_environment,
        "GREENMON_MQT_URL",
    ),
    (
        "lower-case variable",
        lambda s: _rename(_env(s, "processor"), "GREENMON_LOG_LEVEL", "GREENMON_log_level"),
        check_environment,
        "GREENMON_log_level",
    ),
    (
        "interpolation of a non-setting",
        lambda s: _set(s, DATABASE, "POSTGRES_PASSWORD", "${GREENMON_DB_PASSWORD:-x}"),
        check_environment,
        "GREENMON_DB_PASSWORD",
    ),
    (
        "variable without default",
        lambda s: _set(s, "migrate", "GREENMON_DATABASE_PASSWORD", "${DB_SECRET}"),
        check_environment,
        "DB_SECRET",
    ),
    (
        "YAML boolean",
        lambda s: _set(s, KAFKA, "KAFKA_AUTO_CREATE_TOPICS_ENABLE", False),
        check_environment,
        "boolean",
    ),
    (
        "invalid value",
        lambda s: _set(s, "processor", "GREENMON_LOG_FORMAT", "xml"),
        check_settings,
        "log_format",
    ),
    (
        "invalid URL",
        lambda s: _set(s, "collector", "GREENMON_KAFKA_URL", "tcp://kafka:9092"),
        check_settings,
        "kafka_url",
    ),
    (
        "MQTT host typo",
        lambda s: _set(s, "collector", "GREENMON_MQTT_URL", "mqtt://mosquito:1883"),
        check_wiring,
        "mosquito",
    ),
    (
        "Kafka port not advertised",
        lambda s: _set(s, "processor", "GREENMON_KAFKA_URL", "kafka://kafka:9093"),
        check_wiring,
        "kafka:9093",
    ),
    (
        "database password mismatch",
        lambda s: _set(s, DATABASE, "POSTGRES_PASSWORD", "${GREENMON_DATABASE_PASSWORD:-x}"),
        check_wiring,
        "POSTGRES_PASSWORD",
    ),
    (
        "unknown subcommand",
        lambda s: _services(s)["collector"].update(command=["collecter"]),
        check_commands,
        "collecter",
    ),
    (
        "unknown option",
        lambda s: _services(s)["simulator"]["command"].extend(["--dayz", "3"]),
        check_commands,
        "--dayz",
    ),
    (
        "command as a string",
        lambda s: _services(s)["processor"].update(command="processor"),
        check_commands,
        "YAML list",
    ),
    (
        "wrong subcommand for the service",
        lambda s: _services(s)["processor"].update(command=["collector"]),
        check_commands,
        "expected 'processor'",
    ),
    (
        "another image",
        lambda s: _services(s)["processor"].update(image="greenmon:old"),
        check_image,
        "greenmon:old",
    ),
    (
        "no build",
        lambda s: _services(s)["migrate"].pop("build"),
        check_image,
        "migrate",
    ),
    (
        "dependency on a missing service",
        lambda s: _services(s)["collector"]["depends_on"].update(kafak={}),
        check_dependencies,
        "kafak",
    ),
    (
        "healthy without healthcheck",
        lambda s: _services(s)["processor"]["depends_on"].update(
            grafana={"condition": "service_healthy"}
        ),
        check_dependencies,
        "no healthcheck",
    ),
    (
        "dependency cycle",
        lambda s: _services(s)["migrate"]["depends_on"].update(collector={}),
        check_dependencies,
        "cycle",
    ),
    (
        "migration not awaited",
        lambda s: _services(s)["processor"]["depends_on"].pop("migrate"),
        check_dependencies,
        "'migrate'",
    ),
    (
        "missing service",
        lambda s: _services(s).pop(GRAFANA),
        check_services,
        "grafana",
    ),
    (
        "version key",
        lambda s: s.compose.update(version="3.8"),
        check_services,
        "version",
    ),
    (
        "broken healthcheck script",
        lambda s: _services(s)["collector"]["healthcheck"]["test"].__setitem__(3, "if ("),
        check_healthchecks,
        "compile",
    ),
    (
        "ZooKeeper",
        lambda s: _services(s).update(zookeeper={"image": "confluentinc/cp-zookeeper:7.6.0"}),
        check_kafka,
        "zookeeper",
    ),
    (
        "topic auto-creation",
        lambda s: _set(s, KAFKA, "KAFKA_AUTO_CREATE_TOPICS_ENABLE", "true"),
        check_kafka,
        "AUTO_CREATE",
    ),
    (
        "unpinned Kafka",
        lambda s: _services(s)[KAFKA].update(image="apache/kafka:latest"),
        check_kafka,
        "pin",
    ),
    (
        "bounded MQTT queue",
        _replace_text("mosquitto_conf", "max_queued_messages 0", "max_queued_messages 100"),
        check_mosquitto,
        "max_queued_messages",
    ),
    (
        "MQTT persistence off",
        _replace_text("mosquitto_conf", "persistence true", "persistence false"),
        check_mosquitto,
        "persistence",
    ),
    (
        "database on another PostgreSQL",
        lambda s: _services(s)[DATABASE].update(image="timescale/timescaledb:latest-pg14"),
        check_timescaledb,
        "pg16",
    ),
    (
        "datasource elsewhere",
        lambda s: s.datasource["datasources"][0].update(url="localhost:5432"),
        check_grafana,
        "localhost",
    ),
    (
        "datasource password not in grafana's environment",
        lambda s: _env(s, GRAFANA).pop("GRAFANA_DB_PASSWORD"),
        check_grafana,
        "read-only login",
    ),
    (
        "grafana reading as the database owner",
        lambda s: s.datasource["datasources"][0].update(user="greenmon"),
        check_grafana,
        "read-only",
    ),
    (
        "provisioning not mounted",
        lambda s: _services(s)[GRAFANA].update(volumes=[]),
        check_grafana,
        "provisioning",
    ),
    (
        "entrypoint",
        _replace_text("dockerfile", 'ENTRYPOINT ["greenmon"]', 'ENTRYPOINT ["python"]'),
        check_dockerfile,
        "ENTRYPOINT",
    ),
    (
        "runs as root",
        _replace_text("dockerfile", "USER greenmon", "USER root"),
        check_dockerfile,
        "non-root",
    ),
    (
        "virtualenv in the build context",
        _replace_text("dockerignore", "\n.venv\n", "\n"),
        check_dockerignore,
        ".venv",
    ),
    (
        "package left out of the build context",
        _replace_text("dockerignore", "\n.ci\n", "\n.ci\ngreenmon\n"),
        check_dockerignore,
        "greenmon",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "check", "expected"),
    [pytest.param(m, c, e, id=name) for name, m, c, e in MUTATIONS],
)
def test_check_catches(
    stack: Stack,
    mutate: Callable[[Stack], None],
    check: Callable[[Stack], Problems],
    expected: str,
) -> None:
    assert not check(stack), f"{check.__name__} already fails on the real files"
    broken = copy.deepcopy(stack)
    mutate(broken)
    problems = check(broken)
    assert problems, f"{check.__name__} did not notice the mistake"
    assert expected in "\n".join(problems), f"{expected!r} not named in: {problems}"


def test_every_check_is_shown_to_fail() -> None:
    untested = {c.__name__ for c in CHECKS} - {c.__name__ for _, _, c, _ in MUTATIONS}
    assert not untested, f"add a mutation for {sorted(untested)}"

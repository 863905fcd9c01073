"""The static checks of the compose stack: each returns the problems it finds."""

from __future__ import annotations

import contextlib
import difflib
import fnmatch
import io
import json
import re
from collections.abc import Callable, Mapping
from graphlib import CycleError, TopologicalSorter
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from greenmon.cli import build_parser
from greenmon.local.mosquitto import AUTOSAVE_CHANGES
from greenmon.settings import ENV_PREFIX, Settings
from tests.unit.compose_reading import (
    BUILD_INPUTS,
    CONDITIONS,
    DATABASE,
    DATASOURCE_TYPES,
    DOCKERFILE,
    DONE,
    GRAFANA,
    GRAFANA_PROVISIONING,
    GREENMON_COMMANDS,
    HEALTHY,
    IMAGE,
    INFRASTRUCTURE,
    KAFKA,
    MOSQUITTO_CONF,
    MQTT,
    POSTGRES_PORT,
    REQUIRED_DEPENDENCIES,
    ROOT,
    Problems,
    Stack,
    conf_values,
    depends_on,
    dockerfile_instructions,
    env_value,
    environment,
    exec_form,
    greenmon_env,
    greenmon_services,
    has_healthcheck,
    interpolate,
    mounts,
    service_settings,
    services,
    strings,
    subcommands,
    variables,
)

# --- the checks ------------------------------------------------------------------------------


def check_services(stack: Stack) -> Problems:
    """The stack has every expected service, and no obsolete ``version:`` key."""
    compose = stack.compose
    problems = []
    if "version" in compose:
        problems.append("remove the obsolete top-level `version:` key (Compose spec)")
    present = services(compose)
    for name in (*INFRASTRUCTURE, *GREENMON_COMMANDS):
        if name not in present:
            problems.append(f"service {name!r} is missing (services: {sorted(present)})")
    return problems


def check_environment(stack: Stack) -> Problems:
    """Each GREENMON_* variable is a Settings field; values are strings; defaults exist."""
    problems = []
    fields = Settings.model_fields
    known = sorted(ENV_PREFIX + f.upper() for f in fields)

    def not_a_setting(where: str, name: str) -> None:
        close = difflib.get_close_matches(name.upper(), known, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        problems.append(
            f"{where}: {name} is not a greenmon setting (Settings has no field "
            f"{name[len(ENV_PREFIX) :].lower()!r}){hint}"
        )

    for service_name, service in services(stack.compose).items():
        for name, value in environment(service).items():
            where = f"service {service_name!r}"
            upper = name.upper()
            if upper.startswith(ENV_PREFIX) and (
                name != upper or upper[len(ENV_PREFIX) :].lower() not in fields
            ):
                not_a_setting(where, name)
            if isinstance(value, bool):
                quoted = str(value).lower()
                problems.append(
                    f"{where}: {name} is the YAML boolean {value}; quote it: {quoted!r}"
                )
            elif not isinstance(value, str | int | float | None):
                problems.append(f"{where}: {name} must be a string, not {type(value).__name__}")
    for text in strings(stack.compose):
        for name in variables(text):
            if name.startswith(ENV_PREFIX) and name[len(ENV_PREFIX) :].lower() not in fields:
                not_a_setting(f"interpolation {text!r}", name)
        try:
            interpolate(text)
        except ValueError as exc:
            problems.append(f"{exc}: give it a default, ${{NAME:-value}}")
    return problems


def check_settings(stack: Stack) -> Problems:
    """Every greenmon service's variables build a valid Settings, each one taken up."""
    problems = []
    for name, service in greenmon_services(stack.compose).items():
        try:
            values = greenmon_env(service)
            settings = service_settings(service)
        except ValidationError as exc:
            errors = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']} (got {e.get('input')!r})"
                for e in exc.errors()
            )
            problems.append(f"service {name!r}: its GREENMON_* values do not validate: {errors}")
            continue
        except ValueError as exc:
            problems.append(f"service {name!r}: {exc}")
            continue
        for variable in values:
            field = variable[len(ENV_PREFIX) :].lower()
            if field in Settings.model_fields and field not in settings.model_fields_set:
                problems.append(f"service {name!r}: {variable} was not taken up by Settings")
    return problems


def check_wiring(stack: Stack) -> Problems:
    """Hosts, ports and credentials in the greenmon settings match the other services."""
    present = services(stack.compose)
    kafka = present.get(KAFKA, {})
    advertised = {
        urlsplit(listener).netloc
        for listener in (env_value(kafka, "KAFKA_ADVERTISED_LISTENERS") or "").split(",")
    }
    mqtt_ports = {int(v.split()[0]) for v in conf_values(stack.mosquitto_conf, "listener")}
    problems = []
    for name, service in greenmon_services(stack.compose).items():
        try:
            settings = service_settings(service)
        except ValueError:
            continue  # reported by check_settings
        where = f"service {name!r}"
        host, port = settings.mqtt_host_port
        if host not in present:
            problems.append(f"{where}: MQTT host {host!r} is not a service")
        elif port not in mqtt_ports:
            problems.append(f"{where}: MQTT port {port} is not a listener {sorted(mqtt_ports)}")
        for server in settings.kafka_bootstrap:
            if server.rsplit(":", 1)[0] not in present:
                problems.append(f"{where}: Kafka host of {server!r} is not a service")
            elif server not in advertised:
                problems.append(
                    f"{where}: Kafka bootstrap {server!r} is not an advertised listener "
                    f"{sorted(advertised)}"
                )
        url = urlsplit(settings.database_url)
        database = present.get(url.hostname or "")
        if database is None:
            problems.append(f"{where}: database host {url.hostname!r} is not a service")
            continue
        expected = {
            "user": (url.username, env_value(database, "POSTGRES_USER")),
            "database": (url.path.lstrip("/"), env_value(database, "POSTGRES_DB")),
            "port": (url.port or POSTGRES_PORT, POSTGRES_PORT),
        }
        for what, (mine, theirs) in expected.items():
            if mine != theirs:
                problems.append(f"{where}: database {what} {mine!r} but the server has {theirs!r}")
        secret = settings.database_password
        if (secret.get_secret_value() if secret else None) != env_value(
            database, "POSTGRES_PASSWORD"
        ):
            problems.append(
                f"{where}: GREENMON_DATABASE_PASSWORD differs from the server's POSTGRES_PASSWORD"
            )
    return problems


def check_commands(stack: Stack) -> Problems:
    """Each greenmon service's command is argv after the `greenmon` entrypoint, and parses."""
    problems = []
    for name, service in greenmon_services(stack.compose).items():
        where = f"service {name!r}"
        command = service.get("command")
        if not isinstance(command, list) or not all(isinstance(a, str) for a in command):
            problems.append(
                f"{where}: command must be a YAML list of strings (the arguments after "
                f"`greenmon`), got {command!r}"
            )
            continue
        if service.get("entrypoint") not in (None, ["greenmon"]):
            problems.append(f"{where}: do not override the `greenmon` entrypoint")
        parser = build_parser()
        errors = io.StringIO()
        try:
            with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
                args = parser.parse_args(command)
        except SystemExit:
            message = errors.getvalue().strip().splitlines()
            problems.append(
                f"{where}: `greenmon {' '.join(command)}` does not parse: "
                f"{message[-1] if message else 'exits'}"
            )
            continue
        if args.command not in subcommands(parser):
            problems.append(f"{where}: {args.command!r} is not a greenmon subcommand")
        expected = GREENMON_COMMANDS.get(name)
        if expected is not None and args.command != expected:
            problems.append(f"{where}: runs `greenmon {args.command}`, expected {expected!r}")
        if args.config is not None:
            problems.append(f"{where}: configure through GREENMON_* variables, not --config")
    return problems


def check_image(stack: Stack) -> Problems:
    """All greenmon services run the one image built from the Dockerfile at the root."""
    problems = []
    present = services(stack.compose)
    mine = greenmon_services(stack.compose)
    for name in GREENMON_COMMANDS:
        if name in present and name not in mine:
            problems.append(f"service {name!r} does not run the greenmon image")
    for name, service in mine.items():
        image, build = service.get("image"), service.get("build")
        spec = {"context": build} if isinstance(build, str) else dict(build or {})
        if image != IMAGE:
            problems.append(f"service {name!r}: image {image!r}, expected {IMAGE!r}")
        if not spec:
            problems.append(f"service {name!r}: no `build:`, so {IMAGE} may never be built")
            continue
        context = (ROOT / str(spec.get("context", "."))).resolve()
        dockerfile = context / str(spec.get("dockerfile", "Dockerfile"))
        if context != ROOT or dockerfile != DOCKERFILE:
            problems.append(f"service {name!r}: builds {dockerfile}, expected {DOCKERFILE}")
    shapes = {json.dumps([s.get("image"), s.get("build")], sort_keys=True) for s in mine.values()}
    if len(shapes) > 1:
        problems.append(f"greenmon services differ in image/build: {sorted(shapes)}")
    return problems


def check_dependencies(stack: Stack) -> Problems:
    """depends_on names existing services with usable conditions, without cycles."""
    present = services(stack.compose)
    problems = []
    graph = {}
    for name, service in present.items():
        deps = depends_on(service)
        graph[name] = set(deps)
        for dep, condition in deps.items():
            where = f"service {name!r} depends on {dep!r}"
            if dep not in present:
                problems.append(f"{where}, which is not a service ({sorted(present)})")
                continue
            if condition not in CONDITIONS:
                problems.append(f"{where} with unknown condition {condition!r}")
            if condition == HEALTHY and not has_healthcheck(present[dep]):
                problems.append(f"{where} being healthy, but {dep!r} has no healthcheck")
            if condition == DONE and present[dep].get("restart", "no") != "no":
                problems.append(f"{where} completing, but {dep!r} restarts (restart: 'no')")
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        problems.append(f"depends_on has a cycle: {exc.args[1]}")
    for name, dep, accepted in REQUIRED_DEPENDENCIES:
        if name in present and depends_on(present[name]).get(dep) not in accepted:
            problems.append(f"service {name!r} must depend on {dep!r} with {sorted(accepted)}")
    return problems


def check_healthchecks(stack: Stack) -> Problems:
    """Healthchecks are in exec form or CMD-SHELL; inline Python scripts compile."""
    problems = []
    for name, service in services(stack.compose).items():
        test = (service.get("healthcheck") or {}).get("test")
        if test is None or isinstance(test, str):
            continue
        if not test or test[0] not in ("CMD", "CMD-SHELL", "NONE"):
            problems.append(f"service {name!r}: healthcheck test must start with CMD: {test!r}")
            continue
        if len(test) >= 4 and test[1].startswith("python") and test[2] == "-c":
            try:
                compile(interpolate(test[3]), f"<{name} healthcheck>", "exec")
            except SyntaxError as exc:
                problems.append(f"service {name!r}: healthcheck script does not compile: {exc}")
    for name in INFRASTRUCTURE[:3]:
        if name in services(stack.compose) and not has_healthcheck(services(stack.compose)[name]):
            problems.append(f"service {name!r} needs a healthcheck")
    return problems


def check_kafka(stack: Stack) -> Problems:
    """Apache Kafka 3.x/4.x, one node in KRaft mode (no ZooKeeper), greenmon creates topics."""
    present = services(stack.compose)
    problems = [
        f"service {name!r} looks like ZooKeeper: Kafka must run in KRaft mode"
        for name, svc in present.items()
        if "zookeeper" in name.lower() or "zookeeper" in str(svc.get("image", "")).lower()
    ]
    kafka = present.get(KAFKA)
    if kafka is None:
        return [*problems, "no kafka service"]
    if not re.fullmatch(r"apache/kafka:[34]\.\d+\.\d+", str(kafka.get("image"))):
        problems.append(f"kafka image {kafka.get('image')!r}: pin apache/kafka:3.x.y or 4.x.y")

    def env(key: str) -> str:
        return env_value(kafka, key) or ""

    if any(k.startswith("KAFKA_ZOOKEEPER") for k in environment(kafka)):
        problems.append("kafka is configured for ZooKeeper (KAFKA_ZOOKEEPER_*)")
    problems += _kraft_problems(env)
    if env("KAFKA_AUTO_CREATE_TOPICS_ENABLE").lower() != "false":
        problems.append("KAFKA_AUTO_CREATE_TOPICS_ENABLE must be 'false': greenmon creates topics")
    for key in (
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
    ):
        if env(key) != "1":
            problems.append(f"{key}={env(key)!r}: a single node needs 1")
    data = env("KAFKA_LOG_DIRS")
    if not data or data not in {target for _, target in mounts(kafka)}:
        problems.append(f"KAFKA_LOG_DIRS {data!r} is not on a volume")
    return problems


def _kraft_problems(env: Callable[[str], str]) -> Problems:
    """One node as broker and controller, its listeners named and given a protocol."""
    problems = []
    if set(env("KAFKA_PROCESS_ROLES").split(",")) != {"broker", "controller"}:
        problems.append(f"KAFKA_PROCESS_ROLES={env('KAFKA_PROCESS_ROLES')!r}: broker,controller")
    node = env("KAFKA_NODE_ID")
    voters = env("KAFKA_CONTROLLER_QUORUM_VOTERS").split(",")
    if not node or not any(v.startswith(f"{node}@") for v in voters):
        problems.append(f"KAFKA_CONTROLLER_QUORUM_VOTERS {voters} must include node {node!r}")
    listeners = {item.split("://")[0] for item in env("KAFKA_LISTENERS").split(",") if item}
    protocols = {
        item.split(":")[0] for item in env("KAFKA_LISTENER_SECURITY_PROTOCOL_MAP").split(",")
    }
    for controller in env("KAFKA_CONTROLLER_LISTENER_NAMES").split(","):
        if controller not in listeners:
            problems.append(f"controller listener {controller!r} not in KAFKA_LISTENERS")
    if listeners - protocols:
        problems.append(f"listeners {sorted(listeners - protocols)} have no security protocol")
    return problems


def check_mosquitto(stack: Stack) -> Problems:
    """Mosquitto 2 with the mounted config: persistence on a volume, no dropped messages."""
    mosquitto = services(stack.compose).get(MQTT)
    if mosquitto is None:
        return ["no mosquitto service"]
    problems = []
    if not str(mosquitto.get("image", "")).startswith("eclipse-mosquitto:2"):
        problems.append(f"mosquitto image {mosquitto.get('image')!r}: use eclipse-mosquitto:2")
    targets = {target for _, target in mounts(mosquitto)}
    if (str(MOSQUITTO_CONF), "/mosquitto/config/mosquitto.conf") not in mounts(mosquitto):
        problems.append(f"{MOSQUITTO_CONF} is not mounted at /mosquitto/config/mosquitto.conf")
    conf = stack.mosquitto_conf

    def one(key: str) -> str:
        values = conf_values(conf, key)
        return values[-1] if values else ""

    if not conf_values(conf, "listener"):
        problems.append("mosquitto.conf has no listener")
    if one("persistence") != "true":
        problems.append("mosquitto.conf: persistence must be true")
    location = one("persistence_location").rstrip("/")
    if location not in targets:
        problems.append(f"persistence_location {location!r} is not on a volume {sorted(targets)}")
    queued = one("max_queued_messages")
    if not queued.isdigit() or 0 < int(queued) < 1_000_000:
        problems.append(f"max_queued_messages {queued!r}: 0 (no limit) or very large")
    if not one("max_inflight_messages").isdigit():
        problems.append("mosquitto.conf: set max_inflight_messages")
    autosave = (one("autosave_on_changes"), one("autosave_interval"))
    if autosave != ("true", str(AUTOSAVE_CHANGES)):  # the README's broker-crash window
        problems.append(f"mosquitto.conf autosave {autosave}: ('true', '{AUTOSAVE_CHANGES}')")
    return problems


def check_timescaledb(stack: Stack) -> Problems:
    """TimescaleDB on PostgreSQL 16, greenmon user and database, data on a volume."""
    database = services(stack.compose).get(DATABASE)
    if database is None:
        return ["no timescaledb service"]
    problems = []
    image = str(database.get("image"))
    if not re.fullmatch(r"timescale/timescaledb:(latest|2\.\d+\.\d+)-pg16", image):
        problems.append(f"timescaledb image {image!r}: use timescale/timescaledb:*-pg16")
    for key, expected in (("POSTGRES_USER", "greenmon"), ("POSTGRES_DB", "greenmon")):
        if env_value(database, key) != expected:
            problems.append(f"timescaledb {key} must be {expected!r}")
    if not env_value(database, "POSTGRES_PASSWORD"):
        problems.append("timescaledb needs POSTGRES_PASSWORD (with a dev default)")
    if "pg_isready" not in json.dumps((database.get("healthcheck") or {}).get("test")):
        problems.append("timescaledb healthcheck must use pg_isready")
    if "/var/lib/postgresql/data" not in {target for _, target in mounts(database)}:
        problems.append("timescaledb data (/var/lib/postgresql/data) is not on a volume")
    return problems


def check_grafana(stack: Stack) -> Problems:
    """Grafana OSS 11 provisioned with a datasource pointing at the compose TimescaleDB."""
    present = services(stack.compose)
    grafana, database = present.get(GRAFANA), present.get(DATABASE)
    if grafana is None or database is None:
        return ["grafana and timescaledb services are needed"]
    problems = []
    if not re.fullmatch(r"grafana/grafana-oss:11\.\d+\.\d+", str(grafana.get("image"))):
        problems.append(f"grafana image {grafana.get('image')!r}: pin grafana/grafana-oss:11.x.y")
    if (str(GRAFANA_PROVISIONING), "/etc/grafana/provisioning") not in mounts(grafana):
        problems.append(f"{GRAFANA_PROVISIONING} is not mounted at /etc/grafana/provisioning")
    doc = stack.datasource
    if doc.get("apiVersion") != 1:
        problems.append("datasource file: apiVersion must be 1")
    sources = [s for s in doc.get("datasources") or [] if s.get("type") in DATASOURCE_TYPES]
    if len(sources) != 1:
        return [*problems, f"datasource file: expected one PostgreSQL datasource, {len(sources)}"]
    source = sources[0]
    url = urlsplit(f"//{source.get('url', '')}")
    if url.hostname != DATABASE or (url.port or POSTGRES_PORT) != POSTGRES_PORT:
        problems.append(
            f"datasource url {source.get('url')!r} must point at {DATABASE}:{POSTGRES_PORT}"
        )
    json_data = source.get("jsonData") or {}
    login = _read_only_login(present, str(source.get("user")))
    if login is None:
        problems.append(
            f"datasource user {source.get('user')!r} is not created by a service running "
            "`tenants login USER --group greenmon_inspector` (read-only)"
        )
    if json_data.get("database") != env_value(database, "POSTGRES_DB"):
        problems.append(f"datasource database {json_data.get('database')!r} is not POSTGRES_DB")
    if json_data.get("timescaledb") is not True:
        problems.append("datasource jsonData.timescaledb must be true")
    if not source.get("uid"):
        problems.append("datasource needs a fixed uid for dashboards to refer to")
    return problems + _password_problems(grafana, source, login)


def _password_problems(
    grafana: Mapping[str, Any], source: Mapping[str, Any], login: tuple[str, str | None] | None
) -> Problems:
    """The datasource's password is one variable of grafana's, the read-only login's."""
    password = str((source.get("secureJsonData") or {}).get("password", ""))
    names = variables(password)
    if len(names) != 1:
        return [f"datasource password {password!r} must be one $VARIABLE"]
    if login is not None and env_value(grafana, names[0]) != login[1]:
        return [
            f"grafana's {names[0]} (datasource password) differs from the password the "
            f"read-only login {source.get('user')!r} is created with"
        ]
    return []


def _read_only_login(
    present: Mapping[str, Mapping[str, Any]], user: str
) -> tuple[str, str | None] | None:
    """(service, password) of the compose service that creates ``user`` as a read-only
    inspector login (``greenmon tenants login USER --group greenmon_inspector``)."""
    for name, svc in present.items():
        command = [str(c) for c in svc.get("command") or []]
        if command[:3] != ["tenants", "login", user]:
            continue
        if "--group" not in command or "greenmon_inspector" not in command:
            continue
        env_var = "GREENMON_TENANT_PASSWORD"
        if "--password-env" in command:
            env_var = command[command.index("--password-env") + 1]
        return name, env_value(svc, env_var)
    return None


def check_dockerfile(stack: Stack) -> Problems:
    """python:3.11-slim, pip install of the package, non-root, ENTRYPOINT ["greenmon"]."""
    instructions = dockerfile_instructions(stack.dockerfile)
    starts = [i for i, (word, _) in enumerate(instructions) if word == "FROM"]
    if not starts:
        return ["Dockerfile has no FROM"]
    final = instructions[starts[-1] :]
    problems = []
    if final[0][1].split()[0] != "python:3.11-slim":
        problems.append(f"final stage FROM {final[0][1]!r}: use python:3.11-slim")

    def last(word: str) -> str | None:
        found = [args for w, args in final if w == word]
        return found[-1] if found else None

    user = last("USER")
    if user is None or user.split(":")[0] in ("root", "0"):
        problems.append(f"the image must run as a non-root USER (got {user!r})")
    scripts = stack.pyproject.get("project", {}).get("scripts", {})
    entrypoint = exec_form(last("ENTRYPOINT") or "")
    if entrypoint != ["greenmon"] or "greenmon" not in scripts:
        problems.append(
            f'ENTRYPOINT must be the exec form ["greenmon"] (the console script '
            f"{sorted(scripts)}), got {last('ENTRYPOINT')!r}"
        )
    if exec_form(last("CMD") or "") is None:
        problems.append(f"CMD must be exec form, got {last('CMD')!r}")
    if not any(w == "RUN" and "pip install --no-cache-dir ." in a for w, a in final):
        problems.append("no `pip install --no-cache-dir .` of the package")
    return problems


def check_dockerignore(stack: Stack) -> Problems:
    """The build context leaves out virtualenvs, state, caches and .git, not the package."""
    patterns = [
        line.strip().lstrip("/").rstrip("/")
        for line in stack.dockerignore.splitlines()
        if line.strip() and not line.startswith("#")
    ]
    problems = [
        f".dockerignore must exclude {required}"
        for required in (".venv", ".git", ".greenmon", ".mypy_cache", "__pycache__")
        if not any(fnmatch.fnmatch(required, p.removeprefix("**/")) for p in patterns)
    ]
    problems += [
        f".dockerignore excludes {needed}, which `pip install .` needs"
        for needed in BUILD_INPUTS
        if any(fnmatch.fnmatch(needed, p) for p in patterns if not p.startswith("!"))
    ]
    return problems


CHECKS: list[Callable[[Stack], Problems]] = [
    check_services,
    check_environment,
    check_settings,
    check_wiring,
    check_commands,
    check_image,
    check_dependencies,
    check_healthchecks,
    check_kafka,
    check_mosquitto,
    check_timescaledb,
    check_grafana,
    check_dockerfile,
    check_dockerignore,
]

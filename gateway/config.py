"""``gateway.toml``: what the edge gateway polls, how often, and where it publishes (pure).

See ``gateway/gateway.sample.toml`` for every key. Errors name the table and key.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from greenmon.domain.reference import ALL_UNITS, MeterKind
from greenmon.domain.wire import check_id
from greenmon.errors import GreenmonError, InvalidReading

REGISTER_TYPES: Final = ("uint16", "uint32", "int32", "float32", "uint64")
SECURITY_MODES: Final = ("None", "Sign", "SignAndEncrypt")
MIN_INTERVAL_S: Final = 1
MAX_INTERVAL_S: Final = 86_400
_DURATION = re.compile(r"^(\d+)\s*(s|m|h)$")
Order = Literal["big", "little"]


class GatewayConfigError(GreenmonError):
    """The gateway's configuration file is missing, not TOML, or has a wrong value."""


@dataclass(frozen=True, slots=True)
class MqttTarget:
    url: str
    username: str
    password: str | None
    ca_file: Path | None
    client_id: str
    topic_prefix: str


@dataclass(frozen=True, slots=True)
class MeterCommon:
    meter: str
    unit: str
    kind: MeterKind
    scale: float
    timeout_s: float


@dataclass(frozen=True, slots=True)
class ModbusPoint:
    common: MeterCommon
    host: str
    port: int
    unit_id: int
    register: Literal["holding", "input"]
    address: int
    type: str
    word_order: Order
    byte_order: Order


@dataclass(frozen=True, slots=True)
class OpcUaPoint:
    common: MeterCommon
    endpoint: str
    node_id: str
    security_policy: str | None
    security_mode: str
    certificate: Path | None
    private_key: Path | None
    username: str | None
    password: str | None


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    enterprise: str
    interval_s: int
    store: Path
    batch_max: int
    max_inflight: int
    mqtt: MqttTarget
    modbus: tuple[ModbusPoint, ...]
    opcua: tuple[OpcUaPoint, ...]

    @property
    def meter_count(self) -> int:
        return len(self.modbus) + len(self.opcua)


def parse_duration(text: str, where: str) -> int:
    """``15m``, ``30s``, ``1h`` as whole seconds."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise GatewayConfigError(f"{where}: {text!r} is not a duration like 15m, 30s or 1h")
    n = int(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2)]
    if not MIN_INTERVAL_S <= n <= MAX_INTERVAL_S:
        raise GatewayConfigError(f"{where}: {text!r} is outside 1s..24h")
    return n


def load_config(path: Path) -> GatewayConfig:
    try:
        doc = tomllib.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise GatewayConfigError(f"cannot read gateway config {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise GatewayConfigError(f"gateway config {path} is not valid TOML: {exc}") from None
    return parse_config(doc, base=path.parent)


def parse_config(
    doc: dict[str, Any], *, base: Path, env: dict[str, str] | None = None
) -> GatewayConfig:
    env = dict(os.environ) if env is None else env
    enterprise = _str(doc, "enterprise", "top level")
    _id("top level, enterprise", enterprise)
    interval_s = parse_duration(str(doc.get("interval", "15m")), "top level, interval")
    if 86_400 % interval_s and interval_s % 86_400:
        raise GatewayConfigError("top level, interval: must divide a day (clock-aligned polling)")
    mqtt = _mqtt(doc.get("mqtt", {}), enterprise, base, env)
    modbus = tuple(_modbus(t, i) for i, t in enumerate(_tables(doc, "modbus")))
    opcua = tuple(_opcua(t, i, base, env) for i, t in enumerate(_tables(doc, "opcua")))
    meters = [p.common.meter for p in modbus] + [p.common.meter for p in opcua]
    if not meters:
        raise GatewayConfigError("no [[modbus]] or [[opcua]] meter to poll")
    repeated = sorted({m for m in meters if meters.count(m) > 1})
    if repeated:
        raise GatewayConfigError(f"meter(s) {repeated} configured more than once")
    return GatewayConfig(
        enterprise=enterprise,
        interval_s=interval_s,
        store=base / str(doc.get("store", "gateway-queue.sqlite")),
        batch_max=_int(doc, "batch_max", "top level", 500, 1, 10_000),
        max_inflight=_int(doc, "max_inflight", "top level", 20, 1, 1000),
        mqtt=mqtt,
        modbus=modbus,
        opcua=opcua,
    )


def _secret(t: dict[str, Any], where: str, base: Path, env: dict[str, str]) -> str | None:
    if "password_env" in t:
        name = _str(t, "password_env", where)
        if name not in env:
            raise GatewayConfigError(f"{where}, password_env: variable {name} is not set")
        return env[name]
    if "password_file" in t:
        file = base / _str(t, "password_file", where)
        try:
            return file.read_text("utf-8").strip()
        except OSError as exc:
            raise GatewayConfigError(f"{where}, password_file: {exc}") from None
    if "password" in t:
        raise GatewayConfigError(f"{where}: use password_env or password_file, not a password")
    return None


def _mqtt(t: dict[str, Any], enterprise: str, base: Path, env: dict[str, str]) -> MqttTarget:
    where = "[mqtt]"
    url = str(t.get("url", "mqtt://127.0.0.1:11883"))
    if not url.startswith(("mqtt://", "mqtts://")):
        raise GatewayConfigError(f"{where}, url: {url!r} is not mqtt:// or mqtts://")
    ca = t.get("ca_file")
    return MqttTarget(
        url=url,
        username=str(t.get("username", enterprise)),
        password=_secret(t, where, base, env),
        ca_file=base / str(ca) if ca else None,
        client_id=str(t.get("client_id", f"greenmon-gateway-{enterprise}")),
        topic_prefix=str(t.get("topic_prefix", "greenmon/v1")).rstrip("/"),
    )


def _common(t: dict[str, Any], where: str) -> MeterCommon:
    meter = _str(t, "meter", where)
    _id(f"{where}, meter", meter)
    unit = _str(t, "unit", where)
    if unit not in ALL_UNITS:
        raise GatewayConfigError(f"{where}, unit: {unit!r} is not one of {sorted(ALL_UNITS)}")
    try:
        kind = MeterKind(str(t.get("kind", "counter")))
    except ValueError:
        raise GatewayConfigError(f"{where}, kind: must be counter or interval") from None
    scale = t.get("scale", 1.0)
    if not isinstance(scale, int | float) or isinstance(scale, bool) or scale <= 0:
        raise GatewayConfigError(f"{where}, scale: must be a positive number")
    timeout = t.get("timeout_s", 3.0)
    if not isinstance(timeout, int | float) or not 0 < timeout <= 60:
        raise GatewayConfigError(f"{where}, timeout_s: must be a number of seconds in (0, 60]")
    return MeterCommon(meter, unit, kind, float(scale), float(timeout))


def _modbus(t: dict[str, Any], i: int) -> ModbusPoint:
    where = f"[[modbus]] #{i + 1}"
    register = str(t.get("register", "holding"))
    if register not in ("holding", "input"):
        raise GatewayConfigError(f"{where}, register: must be holding or input")
    rtype = str(t.get("type", "uint16"))
    if rtype not in REGISTER_TYPES:
        raise GatewayConfigError(f"{where}, type: {rtype!r} is not one of {list(REGISTER_TYPES)}")
    orders = {k: str(t.get(k, "big")) for k in ("word_order", "byte_order")}
    for key, value in orders.items():
        if value not in ("big", "little"):
            raise GatewayConfigError(f"{where}, {key}: must be big or little")
    return ModbusPoint(
        common=_common(t, where),
        host=_str(t, "host", where),
        port=_int(t, "port", where, 502, 1, 65535),
        unit_id=_int(t, "unit_id", where, 1, 0, 255),
        register="holding" if register == "holding" else "input",
        address=_int(t, "address", where, None, 0, 65535),
        type=rtype,
        word_order="big" if orders["word_order"] == "big" else "little",
        byte_order="big" if orders["byte_order"] == "big" else "little",
    )


def _opcua(t: dict[str, Any], i: int, base: Path, env: dict[str, str]) -> OpcUaPoint:
    where = f"[[opcua]] #{i + 1}"
    mode = str(t.get("security_mode", "None"))
    if mode not in SECURITY_MODES:
        raise GatewayConfigError(f"{where}, security_mode: one of {list(SECURITY_MODES)}")
    policy = t.get("security_policy")
    cert, key = t.get("certificate"), t.get("private_key")
    if mode != "None" and not (policy and cert and key):
        raise GatewayConfigError(
            f"{where}: security_mode {mode} needs security_policy, certificate and private_key"
        )
    endpoint = _str(t, "endpoint", where)
    if not endpoint.startswith("opc.tcp://"):
        raise GatewayConfigError(f"{where}, endpoint: {endpoint!r} is not opc.tcp://")
    return OpcUaPoint(
        common=_common(t, where),
        endpoint=endpoint,
        node_id=_str(t, "node_id", where),
        security_policy=str(policy) if policy else None,
        security_mode=mode,
        certificate=base / str(cert) if cert else None,
        private_key=base / str(key) if key else None,
        username=str(t["username"]) if "username" in t else None,
        password=_secret(t, where, base, env),
    )


def _tables(doc: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = doc.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise GatewayConfigError(f"{key}: must be an array of tables ([[{key}]])")
    return value


def _str(t: dict[str, Any], key: str, where: str) -> str:
    value = t.get(key)
    if not isinstance(value, str) or not value:
        raise GatewayConfigError(f"{where}, {key}: a non-empty string is required")
    return value


def _int(t: dict[str, Any], key: str, where: str, default: int | None, lo: int, hi: int) -> int:
    value = t.get(key, default)
    if value is None:
        raise GatewayConfigError(f"{where}, {key}: is required")
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise GatewayConfigError(f"{where}, {key}: must be a whole number in {lo}..{hi}")
    return value


def _id(where: str, value: str) -> None:
    try:
        check_id(where, value)
    except InvalidReading as exc:
        raise GatewayConfigError(str(exc)) from None

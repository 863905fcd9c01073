"""``greenmon gateway`` against a real pymodbus server, through the real pipeline, across a
broker outage of a minute and a kill -9 mid-drain; and the OPC UA side against a real
asyncua server. Expected consumption is computed by hand from the register values served."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.user_managers import UserManager
from pymodbus.client import ModbusTcpClient
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from gateway.config import parse_config
from gateway.service import Gateway
from greenmon.domain.reference import Carrier, MeterKind
from greenmon.domain.registry import Enterprise, Meter, Registry
from greenmon.jobs.runner import settings_env
from greenmon.local.ports import free_port
from greenmon.storage import db
from tests.integration.conftest import Pipeline, stored_readings
from tests.plugins.services import LocalServices

pytestmark = pytest.mark.integration

EL_ADDR, WA_ADDR = 10, 20
SCALE = 0.1


class ModbusDevice:
    """A real pymodbus TCP server in a thread; the test writes its registers over Modbus."""

    def __init__(self) -> None:
        self.port = free_port()
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._server: ModbusTcpServer | None = None

        async def main() -> None:
            dev = SimDevice(
                id=1, simdata=[SimData(address=0, count=100, values=0, datatype=DataType.REGISTERS)]
            )
            self._server = ModbusTcpServer(dev, address=("127.0.0.1", self.port))
            ready.set()
            await self._server.serve_forever()

        self._thread = threading.Thread(
            target=lambda: self._loop.run_until_complete(main()), daemon=True
        )
        self._thread.start()
        assert ready.wait(10), "pymodbus server did not start"
        self._client = ModbusTcpClient("127.0.0.1", port=self.port)
        deadline = time.monotonic() + 10
        while not self._client.connect():  # type: ignore[no-untyped-call]
            assert time.monotonic() < deadline, "pymodbus server not reachable"
            time.sleep(0.1)

    def set_uint32(self, address: int, value: int) -> None:
        r = self._client.write_registers(address, [value >> 16, value & 0xFFFF], device_id=1)
        assert not r.isError(), r

    def set_uint16(self, address: int, value: int) -> None:
        r = self._client.write_registers(address, [value], device_id=1)
        assert not r.isError(), r

    def close(self) -> None:
        self._client.close()  # type: ignore[no-untyped-call]
        if self._server is not None:
            stop = self._server.shutdown()  # type: ignore[no-untyped-call]
            asyncio.run_coroutine_threadsafe(stop, self._loop).result(10)


@pytest.fixture
def modbus_device() -> Iterator[ModbusDevice]:
    device = ModbusDevice()
    try:
        yield device
    finally:
        device.close()


def _registry() -> Registry:
    return Registry(
        (Enterprise("G1", "网关厂", "xihaian", "chemicals"),),
        (
            Meter("G1-EL", "G1", Carrier.ELECTRICITY, "kWh", MeterKind.COUNTER, 1e9),
            Meter("G1-WA", "G1", Carrier.WATER, "m3", MeterKind.COUNTER, 1e9, register_max=65536.0),
        ),
    )


def _config(tmp: Path, pipeline: Pipeline, port: int) -> Path:
    host, mqtt_port = pipeline.settings.mqtt_host_port
    path = tmp / "gateway.toml"
    path.write_text(f"""
enterprise = "G1"
interval = "1s"
store = "queue.sqlite"
batch_max = 2
max_inflight = 1

[mqtt]
url = "mqtt://{host}:{mqtt_port}"
client_id = "gw-{time.monotonic_ns()}"
topic_prefix = "{pipeline.settings.mqtt_topic_prefix}"

[[modbus]]
meter = "G1-EL"
host = "127.0.0.1"
port = {port}
address = {EL_ADDR}
type = "uint32"
scale = {SCALE}
unit = "kWh"

[[modbus]]
meter = "G1-WA"
host = "127.0.0.1"
port = {port}
address = {WA_ADDR}
type = "uint16"
unit = "m3"
""")
    return path


class GatewayProcess:
    """``greenmon gateway`` as a subprocess, DEBUG log (one line per polled reading) to a file."""

    def __init__(self, config: Path, pipeline: Pipeline, run: int) -> None:
        self.log = config.parent / f"gateway-{run}.log"
        env = {**os.environ, **settings_env(pipeline.settings), "GREENMON_LOG_LEVEL": "DEBUG"}
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "greenmon.cli", "gateway", "--config", str(config)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def polled(self) -> set[tuple[str, int]]:
        found = set()
        for m in re.finditer(r"polled (\S+) (\S+) ", self.log.read_text()):
            ts = datetime.fromisoformat(m.group(2))
            found.add((m.group(1), round(ts.timestamp() * 1000)))
        return found

    def alive(self) -> bool:
        return self.proc.poll() is None


def _queued(path: Path) -> int:
    import sqlite3

    with sqlite3.connect(path, timeout=30) as conn:
        return int(conn.execute("SELECT count(*) FROM queue").fetchone()[0])


def _wait(what: str, check: Callable[[], bool], timeout: float, gw: GatewayProcess) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert gw.alive(), f"gateway died:\n{gw.log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _values(pipeline: Pipeline, meter: str) -> list[float]:
    return [v for (m, _t), v in sorted(stored_readings(pipeline).items()) if m == meter]


def test_modbus_meter_through_outage_and_kill(
    pipeline: Pipeline, local_services: LocalServices, modbus_device: ModbusDevice, tmp_path: Path
) -> None:
    pipeline.load_registry(_registry())
    pipeline.start("processor")
    pipeline.start("collector")
    dev = modbus_device
    dev.set_uint32(EL_ADDR, 10_000)
    dev.set_uint16(WA_ADDR, 65_000)
    config = _config(tmp_path, pipeline, dev.port)
    runs = [GatewayProcess(config, pipeline, 1)]
    gw = runs[0]
    _wait("first readings", lambda: len(_values(pipeline, "G1-EL")) >= 3, 120, gw)
    dev.set_uint32(EL_ADDR, 15_000)
    dev.set_uint16(WA_ADDR, 65_500)
    _wait("new values", lambda: 1500.0 in _values(pipeline, "G1-EL"), 60, gw)

    local_services.mqtt.stop()  # the broker goes away for a minute; polling goes on
    try:
        time.sleep(20)
        dev.set_uint32(EL_ADDR, 23_000)
        dev.set_uint16(WA_ADDR, 200)  # the 16-bit register rolled over
        time.sleep(40)
        peak = _queued(tmp_path / "queue.sqlite")
        assert peak >= 100, f"only {peak} readings queued during the outage"
    finally:
        local_services.mqtt.start()
    # kill -9 while the queue drains (2 readings a batch, one batch in flight)
    _wait("draining", lambda: _queued(tmp_path / "queue.sqlite") < peak - 10, 120, gw)
    gw.proc.send_signal(signal.SIGKILL)
    gw.proc.wait(10)
    left = _queued(tmp_path / "queue.sqlite")
    assert left > 0, "the queue had drained before the kill"
    runs.append(GatewayProcess(config, pipeline, 2))
    gw = runs[1]
    _wait("drained", lambda: _queued(tmp_path / "queue.sqlite") < 5, 180, gw)
    dev.set_uint32(EL_ADDR, 26_000)
    dev.set_uint16(WA_ADDR, 700)
    _wait("last values", lambda: 700.0 in _values(pipeline, "G1-WA"), 60, gw)
    time.sleep(2)
    gw.proc.send_signal(signal.SIGTERM)
    assert gw.proc.wait(30) == 0, gw.log.read_text()[-3000:]
    _assert_each_polled_reading_booked_once(pipeline, runs)


def _assert_each_polled_reading_booked_once(pipeline: Pipeline, runs: list[GatewayProcess]) -> None:
    polled = runs[0].polled() | runs[1].polled()
    deadline = time.monotonic() + 120
    while set(stored_readings(pipeline)) != polled and time.monotonic() < deadline:
        time.sleep(0.5)
    stored = stored_readings(pipeline)  # asserts no (meter, ts) stored twice
    assert set(stored) == polled, (len(stored), len(polled), sorted(polled - set(stored))[:5])
    pipeline.wait_idle()
    with db.connect(pipeline.settings, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT meter_id, sum(quantity) FROM consumption_15m GROUP BY 1 ORDER BY 1"
        ).fetchall()
        quarantined = conn.execute("SELECT count(*) FROM quarantine").fetchone()
    totals = {str(m): float(q) for m, q in rows}
    # by hand: electricity 10000 -> 26000 register units of 0.1 kWh; water 65000 -> 65500,
    # rollover at 65536 to 200 (36 + 200), then 700
    assert totals["G1-EL"] == pytest.approx((26_000 - 10_000) * SCALE, rel=1e-9)
    assert totals["G1-WA"] == pytest.approx(500 + (65_536 - 65_500) + 200 + 500, rel=1e-9)
    assert quarantined is not None and quarantined[0] == 0


def test_opcua_and_modbus_faults_are_counted_not_published(
    modbus_device: ModbusDevice, tmp_path: Path
) -> None:
    asyncio.run(_opcua_and_faults(modbus_device, tmp_path))


async def _opcua_and_faults(dev: ModbusDevice, tmp_path: Path) -> None:
    from asyncua import ua
    from asyncua.server.server import Server
    from asyncua.ua.status_codes import StatusCodes

    port = free_port()
    server = Server(user_manager=_Users())
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/greenmon/")
    server.set_identity_tokens([ua.UserNameIdentityToken])  # a login is required
    idx = await server.register_namespace("urn:greenmon:test")
    plant = await server.nodes.objects.add_object(idx, "Plant")
    gas = await plant.add_variable(f"ns={idx};s=Gas.Total", "Gas.Total", 1234.5)
    bad = await plant.add_variable(f"ns={idx};s=Steam.Total", "Steam.Total", 10.0)
    dev.set_uint32(EL_ADDR, 4321)
    async with server:
        await bad.write_value(
            ua.DataValue(
                ua.Variant(10.0, ua.VariantType.Double),
                StatusCode=ua.StatusCode(ua.UInt32(StatusCodes.BadSensorFailure)),
            )
        )
        endpoint = f"opc.tcp://127.0.0.1:{port}/greenmon/"
        gateway = Gateway(
            parse_config(_fault_config(endpoint, idx, dev.port), base=tmp_path, env=UA_SECRETS)
        )
        tick = datetime(2025, 1, 1, tzinfo=UTC)
        items = await gateway.poll_once(tick)
        assert sorted((i["meter"], i["value"]) for i in items) == [
            ("G1-EL", 4321.0),
            ("G1-NG", 2469.0),
        ]
        assert all(i["ts"] == "2025-01-01T00:00:00+00:00" for i in items)
        faulty = {"G1-ST": 1, "G1-XX": 1, "G1-DENY": 1, "G1-BAD": 1, "G1-OFF": 1}
        assert dict(gateway.faults) == faulty
        await gas.write_value(1300.0)
        items = await gateway.poll_once(tick)
        assert ("G1-NG", 2600.0) in [(i["meter"], i["value"]) for i in items]
        assert gateway.faults["G1-ST"] == 2
        for source in gateway._opcua.values():
            await source.close()
        for mb in gateway._modbus.values():
            mb.close()


UA_SECRETS = {"UA_PASSWORD": "s3cret", "UA_WRONG": "not-it"}


class _Users(UserManager):
    """The OPC UA server's one login: reader / s3cret."""

    def get_user(
        self,
        iserver: Any,
        username: str | None = None,
        password: str | None = None,
        certificate: Any = None,
    ) -> User | None:
        ok = username == "reader" and password == UA_SECRETS["UA_PASSWORD"]
        return User(role=UserRole.User) if ok else None


def _fault_config(endpoint: str, idx: int, modbus_port: int) -> dict[str, Any]:
    """A good and three faulty OPC UA points, a good and two faulty Modbus points."""
    login = {"username": "reader", "password_env": "UA_PASSWORD"}
    return {
        "enterprise": "G1",
        "interval": "1s",
        "store": "q.sqlite",
        "opcua": [
            {
                "meter": "G1-NG",
                "endpoint": endpoint,
                **login,
                "node_id": f"ns={idx};s=Gas.Total",
                "unit": "m3",
                "scale": 2.0,
            },
            {
                "meter": "G1-ST",
                "endpoint": endpoint,
                **login,
                "node_id": f"ns={idx};s=Steam.Total",
                "unit": "GJ",
            },
            {
                "meter": "G1-XX",
                "endpoint": endpoint,
                **login,
                "node_id": f"ns={idx};s=No.Such",
                "unit": "m3",
            },
            {
                "meter": "G1-DENY",
                "endpoint": endpoint,
                "node_id": f"ns={idx};s=Gas.Total",
                "unit": "m3",
                "username": "reader",
                "password_env": "UA_WRONG",
            },
        ],
        "modbus": [
            {
                "meter": "G1-EL",
                "host": "127.0.0.1",
                "port": modbus_port,
                "address": EL_ADDR,
                "type": "uint32",
                "unit": "kWh",
            },
            {
                "meter": "G1-BAD",
                "host": "127.0.0.1",
                "port": modbus_port,
                "address": 5000,
                "unit": "kWh",
            },
            {
                "meter": "G1-OFF",
                "host": "127.0.0.1",
                "port": free_port(),
                "address": 0,
                "unit": "kWh",
                "timeout_s": 1,
            },
        ],
    }

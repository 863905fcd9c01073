"""Reading one meter's value from its device: Modbus TCP (pymodbus) or OPC UA (asyncua).

Each poll returns the scaled value or raises :class:`DeviceFault` with what went wrong
(timeout, connection refused, Modbus exception code, bad OPC UA status): the caller
counts and logs it per meter and publishes nothing for that poll.
"""

from __future__ import annotations

import asyncio
import logging
import math

from asyncua.client.client import Client as UaClient
from asyncua.ua.uaerrors import UaError
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from gateway.config import ModbusPoint, OpcUaPoint
from gateway.registers import WORDS, RegisterError, decode_registers
from greenmon.errors import GreenmonError

log = logging.getLogger("greenmon.gateway")


class DeviceFault(GreenmonError):
    """A meter could not be read this time (the reason names the device and the fault)."""


class ModbusSource:
    """One Modbus TCP connection per (host, port), shared by the meters behind it."""

    def __init__(self, host: str, port: int, timeout_s: float) -> None:
        self._client = AsyncModbusTcpClient(host, port=port, timeout=timeout_s, retries=0)
        self._where = f"modbus://{host}:{port}"
        self._lock = asyncio.Lock()

    async def read(self, point: ModbusPoint) -> float:
        async with self._lock:
            if not self._client.connected and not await self._client.connect():
                raise DeviceFault(f"{self._where}: cannot connect")
            count = WORDS[point.type]
            read = (
                self._client.read_holding_registers
                if point.register == "holding"
                else self._client.read_input_registers
            )
            try:
                response = await read(point.address, count=count, device_id=point.unit_id)
            except (TimeoutError, ModbusException, OSError) as exc:
                self._client.close()
                raise DeviceFault(f"{self._where} unit {point.unit_id}: {exc}") from None
        if response.isError():
            code = getattr(response, "exception_code", "?")
            raise DeviceFault(
                f"{self._where} unit {point.unit_id} {point.register} {point.address}: "
                f"Modbus exception code {code}"
            )
        try:
            raw = decode_registers(
                list(response.registers),
                point.type,
                word_order=point.word_order,
                byte_order=point.byte_order,
            )
        except RegisterError as exc:
            raise DeviceFault(f"{self._where} {point.address}: {exc}") from None
        return raw * point.common.scale

    def close(self) -> None:
        self._client.close()


class OpcUaSource:
    """One OPC UA session per configured endpoint and credentials."""

    def __init__(self, point: OpcUaPoint) -> None:
        self._point = point
        self._client: UaClient | None = None

    async def _connect(self) -> UaClient:
        p = self._point
        client = UaClient(p.endpoint, timeout=p.common.timeout_s)
        if p.security_mode != "None":
            await client.set_security_string(
                f"{p.security_policy},{p.security_mode},{p.certificate},{p.private_key}"
            )
        if p.username is not None:
            client.set_user(p.username)
            if p.password is not None:
                client.set_password(p.password)
        await client.connect()
        return client

    async def read(self, point: OpcUaPoint) -> float:
        try:
            if self._client is None:
                self._client = await asyncio.wait_for(self._connect(), point.common.timeout_s * 2)
            node = self._client.get_node(point.node_id)
            value = await asyncio.wait_for(
                node.read_data_value(raise_on_bad_status=False), point.common.timeout_s
            )
        except (TimeoutError, OSError, UaError, ConnectionError) as exc:
            await self.close()
            raise DeviceFault(f"{point.endpoint} {point.node_id}: {exc!r}") from None
        status = value.StatusCode
        if status is not None and not status.is_good():
            raise DeviceFault(f"{point.endpoint} {point.node_id}: status {status.name}")
        raw = value.Value.Value if value.Value is not None else None
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
            raise DeviceFault(f"{point.endpoint} {point.node_id}: value {raw!r} is not a number")
        return float(raw) * point.common.scale

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.disconnect()
            except Exception as exc:  # a broken session: nothing more to do with it
                log.debug("OPC UA disconnect: %r", exc)

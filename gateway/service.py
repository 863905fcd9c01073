"""The gateway's loop: poll every meter at each clock-aligned tick, queue, drain to MQTT.

Polling and draining are independent: polls go on while the broker is away (the
queue grows), and the queue drains oldest first whenever the broker is there, with
at most ``max_inflight`` batches of at most ``batch_max`` readings unacknowledged.
A device fault is counted and logged for its meter and yields no reading.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from gateway.config import GatewayConfig, ModbusPoint, OpcUaPoint
from gateway.registers import interval_start, next_tick
from gateway.sources import DeviceFault, ModbusSource, OpcUaSource
from gateway.store import ReadingQueue
from gateway.uplink import Uplink
from greenmon.domain.reference import MeterKind
from greenmon.errors import GreenmonError

log = logging.getLogger("greenmon.gateway")

#: how often the gateway logs its counters (seconds)
STATS_EVERY_S = 60.0


class GatewayError(GreenmonError):
    """The gateway cannot go on (its polling stopped)."""


class Gateway:
    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self._stop = threading.Event()
        self.faults: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()
        self._modbus: dict[tuple[str, int], ModbusSource] = {}
        self._opcua: dict[str, OpcUaSource] = {}
        self._inflight: dict[int, list[int]] = {}
        self._last_sent = 0

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        cfg = self.config
        store = ReadingQueue(cfg.store)
        uplink = Uplink(cfg.mqtt, cfg.max_inflight)
        log.info(
            "gateway for %s: %d meter(s) every %d s, queue %s (%d waiting), broker %s",
            cfg.enterprise,
            cfg.meter_count,
            cfg.interval_s,
            cfg.store,
            len(store),
            cfg.mqtt.url,
        )
        uplink.start()
        poller = asyncio.create_task(self._poll_loop(store))
        try:
            await self._drain_loop(store, uplink, poller)
        finally:
            poller.cancel()
            await asyncio.gather(poller, return_exceptions=True)
            self._settle(store, uplink, deadline=time.monotonic() + 5)
            uplink.stop()
            for source in self._modbus.values():
                source.close()
            for ua in self._opcua.values():
                await ua.close()
            log.info("gateway stopped: %s, %d reading(s) queued", dict(self.counts), len(store))
            store.close()

    # --- polling ---------------------------------------------------------------------------
    async def _poll_loop(self, store: ReadingQueue) -> None:
        interval = self.config.interval_s
        while not self._stop.is_set():
            tick = next_tick(datetime.now(UTC), interval)
            await asyncio.sleep(max((tick - datetime.now(UTC)).total_seconds(), 0.0))
            items = await self.poll_once(tick)
            if items:
                try:
                    store.put(items)
                except sqlite3.Error as exc:
                    raise GatewayError(f"cannot queue readings in {store.path}: {exc}") from exc
                self.counts["polled"] += len(items)

    async def poll_once(self, tick: datetime) -> list[dict[str, Any]]:
        """Every meter's reading for ``tick`` (faulty meters left out, counted and logged)."""
        points: list[ModbusPoint | OpcUaPoint] = [*self.config.modbus, *self.config.opcua]
        values = await asyncio.gather(*(self._read(p) for p in points))
        items = []
        for point, value in zip(points, values, strict=True):
            if value is None:
                continue
            c = point.common
            item: dict[str, Any] = {
                "meter": c.meter,
                "value": value,
                "unit": c.unit,
                "kind": c.kind.value,
            }
            if c.kind is MeterKind.INTERVAL:
                item["ts"] = interval_start(tick, self.config.interval_s).isoformat()
                item["duration_s"] = self.config.interval_s
            else:
                item["ts"] = tick.isoformat()
            log.debug("polled %s %s %r", c.meter, item["ts"], value)
            items.append(item)
        return items

    async def _read(self, point: ModbusPoint | OpcUaPoint) -> float | None:
        try:
            if isinstance(point, ModbusPoint):
                key = (point.host, point.port)
                source = self._modbus.get(key)
                if source is None:
                    source = self._modbus[key] = ModbusSource(*key, point.common.timeout_s)
                value = await source.read(point)
            else:
                ua = self._opcua.setdefault(point.common.meter, OpcUaSource(point))
                value = await ua.read(point)
        except DeviceFault as exc:
            meter = point.common.meter
            self.faults[meter] += 1
            log.warning("meter %s: device fault #%d: %s", meter, self.faults[meter], exc)
            return None
        if value < 0:
            self.faults[point.common.meter] += 1
            log.warning("meter %s: negative value %r not published", point.common.meter, value)
            return None
        return value

    # --- draining --------------------------------------------------------------------------
    async def _drain_loop(
        self, store: ReadingQueue, uplink: Uplink, poller: asyncio.Task[None]
    ) -> None:
        stats_at = time.monotonic()
        while not self._stop.is_set():
            if poller.done():  # polling failed (e.g. the queue's disk is full): stop loudly
                poller.result()
                raise GatewayError("polling stopped")
            self._drain_once(store, uplink)
            if time.monotonic() - stats_at > STATS_EVERY_S:
                stats_at = time.monotonic()
                log.info(
                    "stats %s queued=%d inflight=%d faults=%s connected=%s",
                    dict(self.counts),
                    len(store),
                    len(self._inflight),
                    dict(self.faults),
                    uplink.connected.is_set(),
                )
            await asyncio.sleep(0.1)

    def _drain_once(self, store: ReadingQueue, uplink: Uplink) -> None:
        self._take_acks(store, uplink)
        cfg = self.config
        while uplink.connected.is_set() and len(self._inflight) < cfg.max_inflight:
            rows = store.after(self._last_sent, cfg.batch_max)
            if not rows:
                return
            mid = uplink.publish(cfg.enterprise, [r.item for r in rows])
            self._inflight[mid] = [r.id for r in rows]
            self._last_sent = rows[-1].id
            self.counts["published"] += len(rows)

    def _take_acks(self, store: ReadingQueue, uplink: Uplink) -> None:
        while True:
            try:
                mid = uplink.acked.get_nowait()
            except queue.Empty:
                return
            ids = self._inflight.pop(mid, None)
            if ids:
                store.delete(ids)
                self.counts["acked"] += len(ids)

    def _settle(self, store: ReadingQueue, uplink: Uplink, deadline: float) -> None:
        """At a clean stop, wait a moment for the PUBACKs of what is in flight."""
        while self._inflight and time.monotonic() < deadline:
            self._take_acks(store, uplink)
            time.sleep(0.05)

"""Window results: what the processor tells the alerts service after each committed batch.

A batch's booked (meter, 15-minute slot) amounts travel as a few *window batch*
records on ``topic_windows``, not one record per slot: the windows of a polled batch
are grouped by the partition their enterprise maps to (so one meter's windows stay in
order on one partition, read by one alerts member) and cut into records of at most
:data:`MAX_WINDOWS_PER_RECORD`. A record is compact JSON of a versioned, typed schema::

    {"v": 1, "windows": [["A-E", "A", "electricity", 1735689600000, 250.0, "kWh"], ...]}

each window being ``[meter_id, enterprise_id, carrier, slot start (epoch ms), quantity,
unit]``. ``quantity`` is the amount this batch booked into the slot (the whole slot for
interval meters; a counter's slot may be completed by a later batch, so the alerts
service reads the slot's stored total). Encoding and decoding live here only
(:func:`encode_batch`, :func:`decode_batch`); a record of another version, or one that
is not a window batch, is refused with a reason (:class:`InvalidWindows`).

Publishing is best effort, after the database commit and without waiting for Kafka:
alert state is derived data, and the alerts service's timer checks (silence, targets)
read the database.
"""

from __future__ import annotations

import logging
import zlib
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Final, Protocol

import msgspec

from greenmon.domain.consumption import SlotRow
from greenmon.errors import InvalidInput

log = logging.getLogger(__name__)

SLOT_H = 0.25
#: the window-batch schema this code writes and reads
VERSION: Final = 1
#: windows per Kafka record (~60 bytes each: well under the broker's 1 MB message limit)
MAX_WINDOWS_PER_RECORD: Final = 5000


class InvalidWindows(InvalidInput):
    """A window-results record was refused; ``str()`` is the reason (as for dead letters)."""


class Window(msgspec.Struct, frozen=True, array_like=True):
    """One meter's amount booked into one 15-minute slot by one batch."""

    meter_id: str
    enterprise_id: str
    carrier: str
    slot_ms: int
    quantity: float
    unit: str

    @property
    def interval_start(self) -> datetime:
        return datetime.fromtimestamp(self.slot_ms / 1000, UTC)

    def as_mapping(self) -> dict[str, Any]:
        """The window as the alert checks read it (``alerts.checks.threshold_candidates``)."""
        return {
            "meter_id": self.meter_id,
            "enterprise_id": self.enterprise_id,
            "carrier": self.carrier,
            "interval_start": self.interval_start.isoformat(),
            "quantity": self.quantity,
            "unit": self.unit,
            "demand_kw": demand_kw(self.carrier, self.unit, self.quantity),
        }


class WindowBatch(msgspec.Struct, frozen=True):
    v: int
    windows: list[Window]


class _Version(msgspec.Struct):
    v: int


_ENCODER: Final = msgspec.json.Encoder()
_VERSION: Final = msgspec.json.Decoder(_Version)
_BATCH: Final = msgspec.json.Decoder(WindowBatch)


class _Producer(Protocol):
    def send(self, topic: str, *, value: bytes, partition: int) -> Any: ...

    def partitions_for(self, topic: str) -> set[int] | None: ...


def demand_kw(carrier: str, unit: str, quantity: float) -> float | None:
    """Average demand over a 15-minute slot, for electricity in kWh (or MWh)."""
    if carrier != "electricity":
        return None
    scale = {"kWh": 1.0, "MWh": 1000.0, "Wh": 0.001}.get(unit)
    return None if scale is None else quantity * scale / SLOT_H


def encode_batch(windows: list[Window]) -> bytes:
    return _ENCODER.encode(WindowBatch(VERSION, windows))


def decode_batch(value: bytes) -> list[Window]:
    """The windows of one record; raises :class:`InvalidWindows` with the reason."""
    try:
        version = _VERSION.decode(value).v
    except msgspec.DecodeError as exc:
        raise InvalidWindows(f"not a window batch: {exc}") from None
    if version != VERSION:
        raise InvalidWindows(
            f"window batch version {version} is not one this service reads (it reads {VERSION})"
        )
    try:
        return _BATCH.decode(value).windows
    except msgspec.DecodeError as exc:
        raise InvalidWindows(f"not a version {VERSION} window batch: {exc}") from None


def decode_all(records: Iterable[tuple[str, bytes]]) -> tuple[list[Window], list[tuple[str, str]]]:
    """(windows, refused) of (origin, value) records; refused: (origin, reason)."""
    windows: list[Window] = []
    refused: list[tuple[str, str]] = []
    for origin, value in records:
        try:
            windows.extend(decode_batch(value))
        except InvalidWindows as exc:
            refused.append((origin, str(exc)))
    return windows, refused


def partition_of(enterprise_id: str, partitions: int) -> int:
    """The windows partition of an enterprise (stable across processes and restarts)."""
    return zlib.crc32(enterprise_id.encode()) % partitions


def build_records(rows: Iterable[SlotRow], partitions: int) -> list[tuple[int, bytes]]:
    """(partition, value) records of a batch's slot rows, in the batch's order (a meter's
    slots in time order: the booking adds them so; the alerts service sorts again)."""
    by_partition: dict[int, list[Window]] = defaultdict(list)
    where: dict[str, list[Window]] = {}
    for r in rows:
        windows = where.get(r.enterprise_id)
        if windows is None:
            windows = where[r.enterprise_id] = by_partition[
                partition_of(r.enterprise_id, partitions)
            ]
        windows.append(
            Window(r.meter_id, r.enterprise_id, r.carrier, r.slot_ms, r.quantity, r.unit)
        )
    return [
        (p, encode_batch(ws[i : i + MAX_WINDOWS_PER_RECORD]))
        for p, ws in sorted(by_partition.items())
        for i in range(0, len(ws), MAX_WINDOWS_PER_RECORD)
    ]


def publish(producer: _Producer, topic: str, rows: Iterable[SlotRow]) -> int:
    """Send the window records of a committed batch; never raises (best effort).
    Returns the number of records sent."""
    try:
        partitions = len(producer.partitions_for(topic) or ())
        if not partitions:
            raise InvalidWindows(f"no partitions known for topic {topic!r}")
        records = build_records(rows, partitions)
        for partition, value in records:
            producer.send(topic, value=value, partition=partition)
    except Exception as exc:  # a fault here must never stop the bookings
        log.warning("window results not published (alerts evaluate them later): %r", exc)
        return 0
    return len(records)

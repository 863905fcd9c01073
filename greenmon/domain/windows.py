"""Window results: what the processor tells the alerts service after each committed batch.

One small JSON record per (meter, 15-minute slot) a batch booked, keyed by meter id
on ``topic_windows``::

    {"meter_id": "A-E", "enterprise_id": "A", "carrier": "electricity",
     "interval_start": "2025-01-01T00:00:00+00:00", "quantity": 250.0, "unit": "kWh",
     "demand_kw": 1000.0}

``quantity`` is the amount this batch booked into the slot (the whole slot for
interval meters; a counter's slot may be completed by a later batch, so the
alerts service reads the slot's stored total). ``demand_kw`` is the average
electric demand (kWh / 0.25 h) of electricity meters. Publishing is best effort,
after the database commit and without waiting for Kafka: alert state is derived
data, and the alerts service's timer checks (silence, targets) read the database.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Protocol

from greenmon.domain.consumption import SlotRow

log = logging.getLogger(__name__)

SLOT_H = 0.25


class _Producer(Protocol):
    def send(self, topic: str, *, key: bytes, value: bytes) -> Any: ...


def demand_kw(carrier: str, unit: str, quantity: float) -> float | None:
    """Average demand over a 15-minute slot, for electricity in kWh (or MWh)."""
    if carrier != "electricity":
        return None
    scale = {"kWh": 1.0, "MWh": 1000.0, "Wh": 0.001}.get(unit)
    return None if scale is None else quantity * scale / SLOT_H


def window_record(row: SlotRow) -> dict[str, Any]:
    return {
        "meter_id": row.meter_id,
        "enterprise_id": row.enterprise_id,
        "carrier": row.carrier,
        "interval_start": datetime.fromtimestamp(row.slot_ms / 1000, UTC).isoformat(),
        "quantity": row.quantity,
        "unit": row.unit,
        "demand_kw": demand_kw(row.carrier, row.unit, row.quantity),
    }


def build_records(rows: Iterable[SlotRow]) -> list[tuple[bytes, bytes]]:
    """(key, value) per slot, in slot order per meter."""
    ordered = sorted(rows, key=lambda r: (r.meter_id, r.slot_ms))
    return [
        (r.meter_id.encode(), json.dumps(window_record(r), separators=(",", ":")).encode())
        for r in ordered
    ]


def publish(producer: _Producer, topic: str, rows: Iterable[SlotRow]) -> int:
    """Send the window records of a committed batch; never raises (best effort)."""
    records = build_records(rows)
    try:
        for key, value in records:
            producer.send(topic, key=key, value=value)
    except Exception as exc:  # a fault here must never stop the bookings
        log.warning("window results not published (alerts evaluate them later): %r", exc)
        return 0
    return len(records)

"""Gateway batches: many readings in one MQTT message, each checked on its own (pure).

A batch on ``{prefix}/{enterprise}/batch`` is refused as a whole (one dead letter)
when its topic, size, JSON or envelope is wrong. Otherwise every reading gets the
same checks as a single reading, ownership by the topic's enterprise included:
the good ones go on, each bad one becomes its own dead letter with its index.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from collector.validate import MeterLookup, check_reading
from greenmon.domain.wire import (
    MAX_BATCH_BYTES,
    Reading,
    ReadingPayload,
    decode_json,
    parse_batch,
    parse_batch_item,
    parse_batch_topic,
)
from greenmon.errors import InvalidReading


@dataclass(frozen=True, slots=True)
class Rejected:
    """A reading of a batch that did not pass: its place in the batch, why, and its JSON."""

    index: int
    reason: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What a batch became: accepted readings and rejected ones, both with their index."""

    enterprise_id: str
    accepted: list[tuple[int, Reading]]
    rejected: list[Rejected]


def validate_batch(
    topic: str,
    payload: bytes,
    registry: MeterLookup,
    *,
    prefix: str,
    now: datetime,
    future_tolerance: timedelta,
) -> BatchResult:
    """Check a batch message; raises InvalidReading when the batch is refused as a whole."""
    enterprise_id = parse_batch_topic(topic, prefix)
    items = parse_batch(decode_json(payload, max_bytes=MAX_BATCH_BYTES))
    parsed: list[tuple[int, str, ReadingPayload]] = []
    rejected: list[Rejected] = []
    for index, item in enumerate(items):
        try:
            meter_id, body = parse_batch_item(item)
        except InvalidReading as exc:
            rejected.append(Rejected(index, str(exc), _item_json(item)))
        else:
            parsed.append((index, meter_id, body))
    meters = registry.get_many(meter_id for _, meter_id, _ in parsed)
    accepted: list[tuple[int, Reading]] = []
    for index, meter_id, body in parsed:
        try:
            reading = check_reading(
                enterprise_id,
                meter_id,
                body,
                meters.get(meter_id),
                now=now,
                future_tolerance=future_tolerance,
            )
        except InvalidReading as exc:
            rejected.append(Rejected(index, str(exc), _item_json(items[index])))
        else:
            accepted.append((index, reading))
    rejected.sort(key=lambda r: r.index)
    return BatchResult(enterprise_id, accepted, rejected)


def _item_json(item: Any) -> bytes:
    """One reading of a batch as compact JSON (what its dead letter carries)."""
    return json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode()

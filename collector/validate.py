"""The collector's checks of one MQTT message, as pure functions over a registry snapshot."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from greenmon.domain.registry import Meter
from greenmon.domain.wire import (
    Reading,
    ReadingPayload,
    parse_reading_json,
    parse_topic,
    to_reading,
)
from greenmon.errors import InvalidReading


@dataclass(frozen=True, slots=True)
class MeterLookup:
    """What the collector needs to know of the registry: meters by id.

    ``fallback`` is asked for a meter the snapshot lacks (one registered since the
    snapshot was taken); what it finds joins the snapshot. ``bulk`` does the same for
    many meters at once (a gateway batch), in one look-up.
    """

    meters: dict[str, Meter]
    fallback: Callable[[str], Meter | None] | None = None
    bulk: Callable[[list[str]], dict[str, Meter]] | None = None

    def get(self, meter_id: str) -> Meter | None:
        meter = self.meters.get(meter_id)
        if meter is None and self.fallback is not None:
            meter = self.fallback(meter_id)
            if meter is not None:
                self.meters[meter_id] = meter
        return meter

    def get_many(self, meter_ids: Iterable[str]) -> dict[str, Meter]:
        """The registered ones among ``meter_ids``; those missing are looked up together."""
        wanted = set(meter_ids)
        missing = sorted(wanted - self.meters.keys())
        if missing and self.bulk is not None:
            self.meters.update(self.bulk(missing))
        elif missing and self.fallback is not None:
            for meter_id in missing:
                self.get(meter_id)
        return {m: self.meters[m] for m in wanted if m in self.meters}


def check_reading(
    enterprise_id: str,
    meter_id: str,
    body: ReadingPayload,
    meter: Meter | None,
    *,
    now: datetime,
    future_tolerance: timedelta,
) -> Reading:
    """The registry checks of one reading of ``meter_id`` sent under ``enterprise_id``."""
    if meter is None:
        raise InvalidReading(f"unknown meter {meter_id!r}: not in the registry")
    if meter.enterprise_id != enterprise_id:
        raise InvalidReading(f"meter {meter_id!r} does not belong to enterprise {enterprise_id!r}")
    if body.unit != meter.unit:
        raise InvalidReading(
            f"unit {body.unit!r} differs from the registered unit {meter.unit!r} of {meter_id}"
        )
    if body.kind != meter.kind:
        raise InvalidReading(
            f"kind {body.kind.value!r} differs from the registered kind {meter.kind.value!r}"
        )
    if (
        meter.register_max is not None
        and body.kind.value == "counter"
        and body.value > meter.register_max
    ):
        raise InvalidReading(
            f"register {body.value!r} exceeds the meter's register maximum {meter.register_max!r}"
        )
    if body.ts - now > future_tolerance:
        raise InvalidReading(
            f"timestamp {body.ts.isoformat()} is more than "
            f"{future_tolerance.total_seconds():.0f} s in the future"
        )
    return to_reading(enterprise_id, meter_id, body)


def validate_message(
    topic: str,
    payload: bytes,
    registry: MeterLookup,
    *,
    prefix: str,
    now: datetime,
    future_tolerance: timedelta,
) -> Reading:
    """Return the reading an MQTT message carries, or raise InvalidReading with the reason."""
    enterprise_id, meter_id = parse_topic(topic, prefix)
    body = parse_reading_json(payload)
    return check_reading(
        enterprise_id,
        meter_id,
        body,
        registry.get(meter_id),
        now=now,
        future_tolerance=future_tolerance,
    )

"""Meter readings to interval consumption: pure arithmetic, no I/O.

* A counter's consumption between two readings is the register difference. A
  register that decreases is a reset (counted from zero) or, near the meter's
  ``register_max``, a rollover: never negative consumption.
* A delta larger than the meter's physical maximum (``max_rate_per_hour`` x
  elapsed hours) is quarantined with its reason, not booked.
* Consumption is booked to 15-minute slots (aligned to the epoch, so to local
  quarter hours in every zone with a whole-quarter offset), apportioned in
  proportion to time where a span covers several slots; such shares are marked
  estimated when they bridge a gap longer than one standard interval.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Final, NamedTuple

SLOT_MS: Final = 900_000
#: a decrease from above this share of ``register_max`` is taken as a rollover
ROLLOVER_SHARE: Final = 0.9


class Share(NamedTuple):
    """Consumption booked to one 15-minute slot of one meter (a named tuple: the processor
    makes one per slot of every reading, and a tuple is the cheapest immutable record)."""

    meter_id: str
    slot_ms: int
    quantity: float
    estimated: bool


@dataclass(frozen=True, slots=True)
class CounterState:
    """The last register value booked for a counter meter."""

    ts_ms: int
    value: float


@dataclass(frozen=True, slots=True)
class Quarantined:
    meter_id: str
    ts_ms: int
    value: float
    delta: float
    reason: str


@dataclass(frozen=True, slots=True)
class Delta:
    """Outcome of one counter step: the consumption and how it was read."""

    quantity: float
    event: str  # "normal" | "reset" | "rollover"


def slot_of(ts_ms: int) -> int:
    """Start (epoch ms) of the 15-minute slot containing ``ts_ms``."""
    return ts_ms - ts_ms % SLOT_MS


def counter_delta(previous: float, current: float, register_max: float | None) -> Delta:
    """Consumption between two register values; a decrease is a reset or rollover."""
    if current >= previous:
        return Delta(current - previous, "normal")
    if register_max is not None and ROLLOVER_SHARE * register_max <= previous <= register_max:
        return Delta(register_max - previous + current, "rollover")
    return Delta(current, "reset")


def exceeds_physical_max(quantity: float, max_rate_per_hour: float, span_ms: int) -> bool:
    """True if ``quantity`` is more than the meter can physically pass in ``span_ms``."""
    return quantity > max_rate_per_hour * span_ms / 3_600_000 * (1 + 1e-9)


def apportion(
    meter_id: str, start_ms: int, end_ms: int, quantity: float, *, estimated: bool
) -> list[Share]:
    """Split ``quantity`` over [start, end) into 15-minute slots in proportion to time.

    The shares add up to ``quantity`` exactly (the last share takes the remainder).
    """
    if end_ms <= start_ms:
        raise ValueError("apportion needs end after start")
    if slot_of(start_ms) == slot_of(end_ms - 1):
        return [Share(meter_id, slot_of(start_ms), quantity, estimated)]
    span = end_ms - start_ms
    shares: list[Share] = []
    booked = 0.0
    cursor = start_ms
    while cursor < end_ms:
        slot = slot_of(cursor)
        stop = min(slot + SLOT_MS, end_ms)
        if stop == end_ms:
            part = quantity - booked
        else:
            part = quantity * (stop - cursor) / span
            booked += part
        shares.append(Share(meter_id, slot, part, estimated))
        cursor = stop
    return shares


def counter_step(
    meter_id: str,
    state: CounterState,
    ts_ms: int,
    value: float,
    *,
    max_rate_per_hour: float,
    register_max: float | None,
    standard_interval_ms: int = SLOT_MS,
) -> tuple[list[Share], Quarantined | None, str]:
    """Book the consumption between ``state`` and a newer reading.

    Returns the shares, a quarantine record if the delta is physically impossible,
    and the event ("normal", "reset" or "rollover"). The caller advances its
    state to (ts_ms, value) in every case.
    """
    if ts_ms <= state.ts_ms:
        raise ValueError("counter_step needs a reading newer than the state")
    delta = counter_delta(state.value, value, register_max)
    span = ts_ms - state.ts_ms
    if exceeds_physical_max(delta.quantity, max_rate_per_hour, span):
        reason = (
            f"{delta.event} delta {delta.quantity:.6g} over {span / 60000:.4g} min exceeds the "
            f"physical maximum {max_rate_per_hour:.6g}/h"
        )
        return [], Quarantined(meter_id, ts_ms, value, delta.quantity, reason), delta.event
    estimated = span > standard_interval_ms
    return (
        apportion(meter_id, state.ts_ms, ts_ms, delta.quantity, estimated=estimated),
        None,
        delta.event,
    )


def interval_step(
    meter_id: str, ts_ms: int, duration_s: int, value: float, *, max_rate_per_hour: float
) -> tuple[list[Share], Quarantined | None]:
    """Book an interval reading (consumption over [ts, ts + duration))."""
    span = duration_s * 1000
    if exceeds_physical_max(value, max_rate_per_hour, span):
        reason = (
            f"interval value {value:.6g} over {duration_s / 60:.4g} min exceeds the physical "
            f"maximum {max_rate_per_hour:.6g}/h"
        )
        return [], Quarantined(meter_id, ts_ms, value, value, reason)
    return apportion(meter_id, ts_ms, ts_ms + span, value, estimated=False), None


def counter_chain(
    meter_id: str,
    registers: list[tuple[int, float]],
    *,
    max_rate_per_hour: float,
    register_max: float | None,
) -> tuple[list[Share], list[Quarantined]]:
    """What a run of register readings (sorted by time) books: each consecutive pair.

    The consumption booked for a counter meter is always this chain over its stored
    readings, so a reading that arrives out of order is placed by booking the chain
    with it and taking back the chain without it.
    """
    shares: list[Share] = []
    quarantined: list[Quarantined] = []
    for (t0, v0), (t1, v1) in itertools.pairwise(registers):
        step, q, _event = counter_step(
            meter_id,
            CounterState(t0, v0),
            t1,
            v1,
            max_rate_per_hour=max_rate_per_hour,
            register_max=register_max,
        )
        shares.extend(step)
        if q is not None:
            quarantined.append(q)
    return shares, quarantined


@dataclass(slots=True)
class SlotRow:
    """Consumption of one meter in one 15-minute slot, converted."""

    meter_id: str
    slot_ms: int
    enterprise_id: str
    carrier: str
    quantity: float
    unit: str
    energy_tce: float | None
    co2_t: float | None
    water_m3: float | None
    estimated: bool
    #: the slot was re-booked from its readings: its estimated flag is replaced, not OR-ed
    replace_estimated: bool = False

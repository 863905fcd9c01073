"""Simulated meter readings (pure, deterministic, exact).

:func:`generate` covers local midnight of ``start`` to local midnight of
``start + days`` in ``tz``, in slots of ``interval_s`` seconds, in time order (every
meter's reading at instant *t*, then every meter's at *t + interval*):

* an ``interval`` meter sends one reading per slot, ``ts`` = the slot's start,
  ``duration_s`` = ``interval_s``, value = the consumption in the slot;
* a ``counter`` meter sends its register at every slot boundary from the start through
  the end instant inclusive (one reading more than an interval meter), starting from a
  seed-derived register, so each slot's consumption is the difference of consecutive
  readings. A register that would reach the meter's ``register_max`` wraps to 0 (the
  consumption across a wrap is ``new + register_max - old``); simulated registries set it
  far above anything reached.

Exactness: each slot's consumption is drawn as a whole number of milli-units and
registers are kept as integers, so every value is a decimal with at most three places,
the JSON carries it exactly (``repr`` of ``milli / 1000`` is the shortest round-trip
form) and :mod:`greenmon.feeds.truth` is computed from the same integers.

Determinism: all randomness is ``random.Random`` seeded from ``seed`` and the meter id
(:func:`~greenmon.feeds.loadshape.derive_seed`); the same arguments give the same bytes.
A meter's values do not depend on which other meters are in the registry.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from greenmon.domain.reference import MeterKind
from greenmon.domain.registry import Registry
from greenmon.feeds.fleet import build_registry
from greenmon.feeds.loadshape import (
    NOISE_RHO,
    LoadProfile,
    derive_seed,
    factor,
    nominal_from_max_rate,
    profile_for,
)

__all__ = ["DEFAULT_TZ", "SimReading", "build_registry", "consumption_slots", "generate"]

DEFAULT_TZ: Final = ZoneInfo("Asia/Shanghai")
DEFAULT_TOPIC_PREFIX: Final = "greenmon/v1"
_INTERVAL: Final = MeterKind.INTERVAL


@dataclass(frozen=True, slots=True)
class SimReading:
    """One reading as a meter would publish it. ``ts`` is aware, in the local zone.

    ``duration_s`` is the interval length for ``interval`` readings and the sampling
    period for ``counter`` readings (it is only sent for interval readings).
    """

    enterprise_id: str
    meter_id: str
    ts: datetime
    value: float
    unit: str
    kind: MeterKind
    duration_s: int

    def topic(self, prefix: str = DEFAULT_TOPIC_PREFIX) -> str:
        return f"{prefix.rstrip('/')}/{self.enterprise_id}/{self.meter_id}/reading"

    def payload(self) -> bytes:
        """The JSON body (wire.ReadingPayload): ``ts`` ISO 8601 with the local offset."""
        head = f'{{"ts":"{self.ts.isoformat()}","value":{self.value!r},"unit":"{self.unit}"'
        if self.kind is _INTERVAL:
            return f'{head},"kind":"interval","duration_s":{self.duration_s}}}'.encode()
        return f'{head},"kind":"{self.kind.value}"}}'.encode()


def local_span(start: date, days: int, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """UTC instants of local midnight of ``start`` and of ``start + days``."""
    if days < 1:
        raise ValueError(f"days must be at least 1, not {days}")
    first = datetime.combine(start, time(0), tzinfo=tz).astimezone(UTC)
    last = datetime.combine(start + timedelta(days=days), time(0), tzinfo=tz).astimezone(UTC)
    return first, last


def slot_count(start: date, days: int, interval_s: int, tz: ZoneInfo) -> int:
    """Number of slots; refuses an interval that does not divide the span."""
    if not 0 < interval_s <= 86400:
        raise ValueError(f"interval_s must be 1-86400, not {interval_s}")
    first, last = local_span(start, days, tz)
    seconds = int((last - first).total_seconds())
    if seconds % interval_s:
        raise ValueError(f"interval_s={interval_s} does not divide the {seconds} s simulated")
    return seconds // interval_s


@dataclass(slots=True)
class _MeterState:
    nominal_milli: float  # milli-units per slot at factor 1.0
    profile: LoadProfile
    draw: random.Random
    register: int  # milli-units
    modulus: int | None  # milli-units at which the register wraps


def _states(registry: Registry, interval_s: int, seed: int) -> list[_MeterState]:
    industry = {e.enterprise_id: e.industry for e in registry.enterprises}
    states = []
    for meter in registry.meters:
        profile = profile_for(meter.carrier, industry[meter.enterprise_id])
        rate = nominal_from_max_rate(profile, meter.max_rate_per_hour)
        draw = random.Random(derive_seed(seed, "meter", meter.meter_id))
        register = draw.randrange(1_000_000, 900_000_000)  # 1 000.000 - 900 000.000
        modulus = None if meter.register_max is None else round(meter.register_max * 1000)
        if modulus is not None:
            register %= modulus
        states.append(
            _MeterState(rate * interval_s / 3600 * 1000, profile, draw, register, modulus)
        )
    return states


def consumption_slots(
    registry: Registry, start: date, days: int, interval_s: int, seed: int, tz: ZoneInfo
) -> Iterator[tuple[datetime, list[int]]]:
    """Each slot's local start and every meter's consumption in it (milli-units).

    Meters are in registry order. This is the single source of the simulated
    quantities: :func:`generate` and :func:`greenmon.feeds.truth.truth_rows` both use it.
    """
    states = _states(registry, interval_s, seed)
    yield from _consumption(states, start, days, interval_s, tz)


def _consumption(
    states: list[_MeterState], start: date, days: int, interval_s: int, tz: ZoneInfo
) -> Iterator[tuple[datetime, list[int]]]:
    slots = slot_count(start, days, interval_s, tz)
    first, _ = local_span(start, days, tz)
    profiles = list({id(s.profile): s.profile for s in states}.values())
    column = {id(p): i for i, p in enumerate(profiles)}
    plan = [
        (s.nominal_milli, column[id(s.profile)], s.profile.noise, s.draw.random, [0.0])
        for s in states
    ]
    step = timedelta(seconds=interval_s)
    rho = NOISE_RHO
    for k in range(slots):
        local = (first + k * step).astimezone(tz)
        factors = [factor(p, local) for p in profiles]
        out = []
        for nominal, col, amplitude, draw, noise in plan:
            n = rho * noise[0] + amplitude * (2.0 * draw() - 1.0)
            noise[0] = n
            out.append(int(nominal * factors[col] * (1.0 + n) + 0.5))
        yield local, out


def generate(
    registry: Registry,
    start: date,
    days: int,
    interval_s: int = 900,
    seed: int = 0,
    tz: ZoneInfo = DEFAULT_TZ,
) -> Iterator[SimReading]:
    """Readings of every meter of ``registry``, in time order (see the module doc)."""
    states = _states(registry, interval_s, seed)
    meters = [
        (m.enterprise_id, m.meter_id, m.unit, m.kind, m.kind is _INTERVAL) for m in registry.meters
    ]
    local = datetime.combine(start, time(0), tzinfo=tz)
    for local, amounts in _consumption(states, start, days, interval_s, tz):
        for (ent, meter, unit, kind, interval), state, amount in zip(
            meters, states, amounts, strict=True
        ):
            if interval:
                yield SimReading(ent, meter, local, amount / 1000, unit, kind, interval_s)
                continue
            yield SimReading(ent, meter, local, state.register / 1000, unit, kind, interval_s)
            state.register += amount
            if state.modulus is not None and state.register >= state.modulus:
                state.register %= state.modulus
    end = (local.astimezone(UTC) + timedelta(seconds=interval_s)).astimezone(tz)
    for (ent, meter, unit, kind, interval), state in zip(meters, states, strict=True):
        if not interval:
            yield SimReading(ent, meter, end, state.register / 1000, unit, kind, interval_s)

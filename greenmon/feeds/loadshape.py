"""Daily and weekly load shapes of simulated meters, and their deterministic noise (pure).

A :class:`LoadProfile` says how the rate of one carrier varies with the local time of
day and the day of the week, relative to a meter's nominal rate (1.0 ≈ a weekday's
mean). ``base`` is the share of the load that runs regardless of the clock (continuous
process lines, boilers kept warm); the rest follows ``hourly`` (values at the start of
each local hour, linearly interpolated in between) scaled on Saturdays and Sundays.

Profiles are chosen by carrier and sharpened or flattened by industry:
continuous-process industries (chemicals, new materials) barely notice night or weekend,
assembly industries run two shifts and stop on Sundays. No seasons.

Noise is a bounded AR(1) process per meter, driven by its own ``random.Random`` seeded
from the simulation seed and the meter id: never the global RNG, so a seed always gives
the same numbers, independent of ``PYTHONHASHSEED`` and of other meters.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache
from typing import Final

from greenmon.domain.reference import Carrier

#: Autocorrelation of the per-interval noise (0 = white noise).
NOISE_RHO: Final = 0.7
#: ``max_rate_per_hour`` of a simulated meter is this multiple of its highest possible rate.
HEADROOM: Final = 3.0

SATURDAY: Final = 5
SUNDAY: Final = 6


@dataclass(frozen=True, slots=True)
class LoadProfile:
    """Relative rate of a carrier by local hour (weekday), weekend scaling and noise."""

    name: str
    hourly: tuple[float, ...]
    saturday: float
    sunday: float
    base: float
    noise: float

    def __post_init__(self) -> None:
        if len(self.hourly) != 24 or min(self.hourly) < 0:
            raise ValueError(f"profile {self.name}: hourly needs 24 non-negative values")
        if not 0 <= self.base <= 1 or not 0 <= self.noise < 1 - NOISE_RHO:
            raise ValueError(f"profile {self.name}: base in [0, 1], noise in [0, {1 - NOISE_RHO})")


def _hours(*spans: tuple[int, float]) -> tuple[float, ...]:
    """24 hourly values from (first_hour, value) pairs, each holding until the next."""
    out = [0.0] * 24
    for (start, value), (end, _) in zip(spans, (*spans[1:], (24, 0.0)), strict=True):
        out[start:end] = [value] * (end - start)
    return tuple(out)


#: Two shifts 08-24 with a lunch and a dinner dip, a skeleton crew at night.
ELECTRICITY: Final = LoadProfile(
    "electricity",
    _hours((0, 0.45), (6, 0.6), (7, 0.85), (8, 1.3), (12, 0.9), (13, 1.3), (18, 1.0), (19, 1.15),
           (23, 0.7)),
    saturday=0.7, sunday=0.4, base=0.2, noise=0.06,
)  # fmt: skip
#: Process heat and fuel gas: a base load that production lines top up in the day.
PROCESS: Final = LoadProfile(
    "process",
    _hours((0, 0.75), (6, 0.9), (8, 1.15), (12, 1.0), (13, 1.15), (18, 1.05), (22, 0.85)),
    saturday=0.85, sunday=0.65, base=0.45, noise=0.05,
)  # fmt: skip
#: Heat: building heating peaks in the morning, process heat through the day.
HEAT: Final = LoadProfile(
    "heat",
    _hours((0, 0.85), (5, 1.25), (9, 1.05), (17, 0.95), (21, 0.85)),
    saturday=0.9, sunday=0.8, base=0.55, noise=0.04,
)  # fmt: skip
#: Water: washing, cooling make-up and sanitary use during working hours.
WATER: Final = LoadProfile(
    "water",
    _hours((0, 0.25), (6, 0.6), (8, 1.6), (12, 1.2), (13, 1.6), (17, 1.1), (19, 0.6), (22, 0.3)),
    saturday=0.6, sunday=0.35, base=0.1, noise=0.12,
)  # fmt: skip
#: Diesel and gasoline: forklifts, vehicles and emergency generators in working hours.
VEHICLES: Final = LoadProfile(
    "vehicles",
    _hours((0, 0.05), (7, 1.0), (8, 2.0), (12, 0.8), (13, 2.0), (17, 0.9), (18, 0.2), (22, 0.05)),
    saturday=0.5, sunday=0.15, base=0.02, noise=0.2,
)  # fmt: skip
#: Raw coal: a boiler at steady load.
BOILER: Final = LoadProfile(
    "boiler",
    _hours((0, 0.9), (6, 1.05), (20, 0.95)),
    saturday=0.95, sunday=0.9, base=0.8, noise=0.03,
)  # fmt: skip

_BY_CARRIER: Final = {
    Carrier.ELECTRICITY: ELECTRICITY,
    Carrier.NATURAL_GAS: PROCESS,
    Carrier.STEAM: PROCESS,
    Carrier.HEAT: HEAT,
    Carrier.RAW_COAL: BOILER,
    Carrier.DIESEL: VEHICLES,
    Carrier.GASOLINE: VEHICLES,
    Carrier.WATER: WATER,
}

#: Industries whose lines run around the clock, and those that run partly so.
CONTINUOUS_INDUSTRIES: Final = frozenset({"chemicals", "new_materials"})
SEMI_CONTINUOUS_INDUSTRIES: Final = frozenset({"food_beverage", "textiles_apparel", "biomedicine"})


@cache
def profile_for(carrier: Carrier, industry: str) -> LoadProfile:
    """The load profile of a ``carrier`` meter in an ``industry`` (by id)."""
    profile = _BY_CARRIER[carrier]
    if carrier in (Carrier.DIESEL, Carrier.GASOLINE, Carrier.WATER):
        return profile
    if industry in CONTINUOUS_INDUSTRIES:
        return _steadier(profile, 0.75)
    if industry in SEMI_CONTINUOUS_INDUSTRIES:
        return _steadier(profile, 0.45)
    return profile


def _steadier(profile: LoadProfile, base: float) -> LoadProfile:
    if profile.base >= base:
        return profile
    return replace(
        profile,
        name=f"{profile.name}@{base:g}",
        base=base,
        saturday=(1 + profile.saturday) / 2,
        sunday=(1 + profile.sunday) / 2,
    )


def factor(profile: LoadProfile, local: datetime) -> float:
    """Relative rate at a local wall-clock time (noise-free)."""
    hour = local.hour + local.minute / 60 + local.second / 3600
    i = int(hour)
    frac = hour - i
    shape = profile.hourly[i] * (1 - frac) + profile.hourly[(i + 1) % 24] * frac
    weekday = local.weekday()
    if weekday == SATURDAY:
        shape *= profile.saturday
    elif weekday == SUNDAY:
        shape *= profile.sunday
    return profile.base + (1 - profile.base) * shape


def max_factor(profile: LoadProfile) -> float:
    """The highest :func:`factor` of a profile (interpolation never exceeds the table)."""
    day_scale = max(1.0, profile.saturday, profile.sunday)
    return profile.base + (1 - profile.base) * max(profile.hourly) * day_scale


def peak_multiplier(profile: LoadProfile) -> float:
    """Upper bound of rate / nominal rate, noise included (AR(1) noise is bounded)."""
    return max_factor(profile) * (1 + profile.noise / (1 - NOISE_RHO))


def nominal_from_max_rate(profile: LoadProfile, max_rate_per_hour: float) -> float:
    """The nominal rate a meter of ``max_rate_per_hour`` is simulated at."""
    return max_rate_per_hour / (HEADROOM * peak_multiplier(profile))


def derive_seed(seed: int, *parts: str) -> int:
    """A 64-bit seed from a simulation seed and names (stable across runs and platforms)."""
    text = "\x1f".join((str(seed), *parts)).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


class Noise:
    """Multiplicative AR(1) noise of one meter: ``1 + n`` with ``|n| < amplitude/(1-rho)``."""

    __slots__ = ("_amplitude", "_random", "_state")

    def __init__(self, seed: int, amplitude: float) -> None:
        self._random = random.Random(seed).random
        self._amplitude = amplitude
        self._state = 0.0

    def next(self) -> float:
        self._state = NOISE_RHO * self._state + self._amplitude * (2 * self._random() - 1)
        return 1.0 + self._state

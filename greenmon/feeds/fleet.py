"""A simulated fleet of enterprises and meters in the reference city (pure, deterministic).

:func:`build_registry` gives ``enterprises`` enterprises ``E0001``, ``E0002`` … with
``meters_per_enterprise`` meters each (``E0001-M01`` …). Districts and industries are
dealt round-robin from decks reshuffled by the seed every round, so every district and
every industry is used as soon as there are 10 (resp. 12) enterprises. Meter 1 is the
plant's main electricity meter (kWh); the others follow a carrier mix typical of the
industry. Kinds alternate between ``counter`` and ``interval`` (fuels weighed per
interval are always ``interval``), so every enterprise with two or more meters has both.

``max_rate_per_hour`` is :data:`~greenmon.feeds.loadshape.HEADROOM` times the highest
rate the simulator can produce for the meter (see
:func:`~greenmon.feeds.loadshape.nominal_from_max_rate`), rounded up to two significant
digits. Counters roll over at :data:`REGISTER_MAX`, which a simulation of a few years
never reaches.
"""

from __future__ import annotations

import math
import random
from typing import Final

from greenmon.domain.reference import (
    CANONICAL_UNIT,
    DISTRICTS,
    INDUSTRIES,
    UNIT_SCALE,
    Carrier,
    MeterKind,
)
from greenmon.domain.registry import Enterprise, Meter, Registry
from greenmon.feeds.loadshape import HEADROOM, derive_seed, peak_multiplier, profile_for

#: Rollover point of simulated counters: the register shows 0 … 999 999 999.999.
REGISTER_MAX: Final = 1e9
MAX_METERS_PER_ENTERPRISE: Final = 99
MAX_ENTERPRISES: Final = 9999

_C = Carrier
#: Carriers of meters 2, 3, … by industry (cycled when there are more meters).
CARRIER_MIX: Final = {
    "marine": (_C.DIESEL, _C.WATER, _C.ELECTRICITY, _C.NATURAL_GAS, _C.HEAT),
    "new_it": (_C.ELECTRICITY, _C.WATER, _C.NATURAL_GAS, _C.HEAT),
    "smart_appliances": (_C.NATURAL_GAS, _C.ELECTRICITY, _C.WATER, _C.HEAT, _C.DIESEL),
    "rail_transit": (_C.NATURAL_GAS, _C.ELECTRICITY, _C.WATER, _C.DIESEL, _C.HEAT),
    "nev": (_C.NATURAL_GAS, _C.ELECTRICITY, _C.WATER, _C.HEAT, _C.GASOLINE),
    "equipment": (_C.NATURAL_GAS, _C.WATER, _C.ELECTRICITY, _C.DIESEL, _C.HEAT),
    "chemicals": (_C.NATURAL_GAS, _C.STEAM, _C.WATER, _C.ELECTRICITY, _C.RAW_COAL, _C.HEAT),
    "food_beverage": (_C.STEAM, _C.WATER, _C.NATURAL_GAS, _C.ELECTRICITY, _C.HEAT),
    "textiles_apparel": (_C.STEAM, _C.WATER, _C.ELECTRICITY, _C.NATURAL_GAS, _C.HEAT),
    "biomedicine": (_C.WATER, _C.STEAM, _C.ELECTRICITY, _C.NATURAL_GAS, _C.HEAT),
    "new_materials": (_C.NATURAL_GAS, _C.ELECTRICITY, _C.WATER, _C.STEAM, _C.RAW_COAL, _C.DIESEL),
    "aerospace": (_C.NATURAL_GAS, _C.ELECTRICITY, _C.WATER, _C.GASOLINE, _C.HEAT),
}

#: Nominal (weekday-mean) rate of a mid-sized plant, canonical unit per hour.
NOMINAL_RATE: Final = {
    _C.ELECTRICITY: 1500.0,
    _C.NATURAL_GAS: 180.0,
    _C.STEAM: 2500.0,
    _C.HEAT: 1200.0,
    _C.RAW_COAL: 900.0,
    _C.DIESEL: 25.0,
    _C.GASOLINE: 10.0,
    _C.WATER: 20.0,
}
#: Carriers measured by weighing deliveries or tank levels: always interval meters.
WEIGHED: Final = frozenset({_C.RAW_COAL, _C.DIESEL, _C.GASOLINE})

_BRAND_CHARS: Final = "海瑞恒鑫华泰润德丰宏晟源诚远盛达博信景嘉安辰明佳正"
_TRADE: Final = {
    "marine": "海洋科技",
    "new_it": "信息技术",
    "smart_appliances": "智能家电",
    "rail_transit": "轨道交通装备",
    "nev": "新能源汽车",
    "equipment": "机械装备",
    "chemicals": "化工",
    "food_beverage": "食品饮料",
    "textiles_apparel": "纺织服饰",
    "biomedicine": "生物医药",
    "new_materials": "新材料",
    "aerospace": "航空科技",
}
_DIGITS: Final = "一二三四五六七八九十"


def build_registry(enterprises: int, meters_per_enterprise: int, seed: int) -> Registry:
    """A deterministic simulated registry (same arguments, same registry)."""
    if not 1 <= enterprises <= MAX_ENTERPRISES:
        raise ValueError(f"enterprises must be 1-{MAX_ENTERPRISES}, not {enterprises}")
    if not 1 <= meters_per_enterprise <= MAX_METERS_PER_ENTERPRISE:
        raise ValueError(
            f"meters_per_enterprise must be 1-{MAX_METERS_PER_ENTERPRISE}, "
            f"not {meters_per_enterprise}"
        )
    rng = random.Random(derive_seed(seed, "registry"))
    districts = _deal(rng, tuple(DISTRICTS), enterprises)
    industries = _deal(rng, tuple(INDUSTRIES), enterprises)
    brands = [a + b for a in _BRAND_CHARS for b in _BRAND_CHARS if a != b]
    rng.shuffle(brands)
    out_enterprises: list[Enterprise] = []
    out_meters: list[Meter] = []
    for index in range(enterprises):
        enterprise_id = f"E{index + 1:04d}"
        industry = industries[index]
        enterprise = Enterprise(
            enterprise_id=enterprise_id,
            name=_name(brands, index, industry),
            district=districts[index],
            industry=industry,
        )
        out_enterprises.append(enterprise)
        out_meters.extend(_meters(enterprise, index, meters_per_enterprise, seed))
    return Registry(tuple(out_enterprises), tuple(out_meters))


def _deal(rng: random.Random, deck: tuple[str, ...], count: int) -> list[str]:
    """``count`` cards from ``deck``, every card once per round, rounds reshuffled."""
    out: list[str] = []
    while len(out) < count:
        round_ = list(deck)
        rng.shuffle(round_)
        out.extend(round_)
    return out[:count]


def _name(brands: list[str], index: int, industry: str) -> str:
    brand = brands[index % len(brands)]
    lap = index // len(brands)
    plant = "" if lap == 0 else f"第{_DIGITS[(lap - 1) % len(_DIGITS)]}工厂"
    suffix = "股份有限公司" if index % 3 == 0 else "有限公司"
    return f"青岛{brand}{_TRADE[industry]}{suffix}{plant}"


def _meters(enterprise: Enterprise, index: int, count: int, seed: int) -> list[Meter]:
    rng = random.Random(derive_seed(seed, "meters", enterprise.enterprise_id))
    size = math.exp(rng.uniform(math.log(0.25), math.log(4.0)))  # plant size, log-uniform
    main_kind = MeterKind.INTERVAL if index % 3 == 2 else MeterKind.COUNTER
    mix = CARRIER_MIX[enterprise.industry]
    meters: list[Meter] = []
    for number in range(1, count + 1):
        if number == 1:
            carrier, kind, unit, share = Carrier.ELECTRICITY, main_kind, "kWh", 1.0
        else:
            carrier = mix[(number - 2) % len(mix)]
            kind = _other(main_kind) if number % 2 == 0 else main_kind
            if carrier in WEIGHED:
                kind = MeterKind.INTERVAL
            unit = _unit(rng, carrier)
            # A sub-meter of electricity is a part of the plant; other carriers vary by plant.
            share = (
                rng.uniform(0.1, 0.4) if carrier is Carrier.ELECTRICITY else rng.uniform(0.5, 1.5)
            )
        nominal = NOMINAL_RATE[carrier] * size * share / UNIT_SCALE[carrier][unit]
        peak = nominal * peak_multiplier(profile_for(carrier, enterprise.industry))
        meters.append(
            Meter(
                meter_id=f"{enterprise.enterprise_id}-M{number:02d}",
                enterprise_id=enterprise.enterprise_id,
                carrier=carrier,
                unit=unit,
                kind=kind,
                max_rate_per_hour=_round_up(HEADROOM * peak),
                register_max=REGISTER_MAX if kind is MeterKind.COUNTER else None,
            )
        )
    return meters


def _other(kind: MeterKind) -> MeterKind:
    return MeterKind.INTERVAL if kind is MeterKind.COUNTER else MeterKind.COUNTER


def _unit(rng: random.Random, carrier: Carrier) -> str:
    """The canonical unit, or (one time in four) another allowed unit of the carrier."""
    others = sorted(u for u in UNIT_SCALE[carrier] if u != CANONICAL_UNIT[carrier])
    if others and carrier is not Carrier.ELECTRICITY and rng.random() < 0.25:
        return others[0]
    if carrier is Carrier.ELECTRICITY and rng.random() < 0.1:
        return "MWh"
    return CANONICAL_UNIT[carrier]


def _round_up(value: float) -> float:
    """Round up to two significant digits (12 345 -> 13 000; 0.01234 -> 0.013)."""
    if value <= 0:
        raise ValueError(f"rate must be positive, not {value}")
    step = 10.0 ** (math.floor(math.log10(value)) - 1)
    return float(round(math.ceil(value / step - 1e-9) * step, 12))

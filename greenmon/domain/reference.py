"""Reference vocabulary: districts and industry groups of the reference city, carriers, units.

Pure data and lookups; no I/O. Ids and Chinese names follow DESIGN.md (Qingdao's
14th Five-Year Plan for high-quality manufacturing).
"""

from __future__ import annotations

from enum import StrEnum
from types import MappingProxyType
from typing import Final

DISTRICTS: Final = MappingProxyType(
    {
        "shinan": "市南区",
        "shibei": "市北区",
        "licang": "李沧区",
        "laoshan": "崂山区",
        "xihaian": "西海岸新区",
        "chengyang": "城阳区",
        "jimo": "即墨区",
        "jiaozhou": "胶州市",
        "pingdu": "平度市",
        "laixi": "莱西市",
    }
)

INDUSTRIES: Final = MappingProxyType(
    {
        "marine": "现代海洋",
        "new_it": "新一代信息技术",
        "smart_appliances": "智能家电",
        "rail_transit": "轨道交通装备",
        "nev": "新能源汽车",
        "equipment": "装备制造",
        "chemicals": "高端化工",
        "food_beverage": "食品饮料",
        "textiles_apparel": "纺织服装",
        "biomedicine": "生物医药",
        "new_materials": "新材料",
        "aerospace": "航空航天",
    }
)


class Carrier(StrEnum):
    ELECTRICITY = "electricity"
    NATURAL_GAS = "natural_gas"
    STEAM = "steam"
    HEAT = "heat"
    RAW_COAL = "raw_coal"
    DIESEL = "diesel"
    GASOLINE = "gasoline"
    WATER = "water"


class MeterKind(StrEnum):
    COUNTER = "counter"
    INTERVAL = "interval"


#: Canonical unit of each carrier: the unit conversion and emission factors are stated in.
CANONICAL_UNIT: Final = MappingProxyType(
    {
        Carrier.ELECTRICITY: "kWh",
        Carrier.NATURAL_GAS: "m3",
        Carrier.STEAM: "kg",
        Carrier.HEAT: "MJ",
        Carrier.RAW_COAL: "kg",
        Carrier.DIESEL: "kg",
        Carrier.GASOLINE: "kg",
        Carrier.WATER: "m3",
    }
)

#: Units a meter of each carrier may be registered in, with the multiplier to the canonical unit.
UNIT_SCALE: Final = MappingProxyType(
    {
        Carrier.ELECTRICITY: MappingProxyType({"kWh": 1.0, "MWh": 1000.0}),
        Carrier.NATURAL_GAS: MappingProxyType({"m3": 1.0}),
        Carrier.STEAM: MappingProxyType({"kg": 1.0, "t": 1000.0}),
        Carrier.HEAT: MappingProxyType({"MJ": 1.0, "GJ": 1000.0}),
        Carrier.RAW_COAL: MappingProxyType({"kg": 1.0, "t": 1000.0}),
        Carrier.DIESEL: MappingProxyType({"kg": 1.0, "t": 1000.0}),
        Carrier.GASOLINE: MappingProxyType({"kg": 1.0, "t": 1000.0}),
        Carrier.WATER: MappingProxyType({"m3": 1.0}),
    }
)

ALL_UNITS: Final = frozenset(u for scales in UNIT_SCALE.values() for u in scales)

_DISTRICT_BY_NAME: Final = {name: key for key, name in DISTRICTS.items()}
_INDUSTRY_BY_NAME: Final = {name: key for key, name in INDUSTRIES.items()}


def district_id(value: str) -> str | None:
    """Return the district id for an id or a Chinese name, or None if unknown."""
    value = value.strip()
    if value in DISTRICTS:
        return value
    return _DISTRICT_BY_NAME.get(value)


def industry_id(value: str) -> str | None:
    """Return the industry id for an id or a Chinese name, or None if unknown."""
    value = value.strip()
    if value in INDUSTRIES:
        return value
    return _INDUSTRY_BY_NAME.get(value)


def unit_scale(carrier: Carrier, unit: str) -> float | None:
    """Multiplier from ``unit`` to the carrier's canonical unit, or None if not allowed."""
    return UNIT_SCALE[carrier].get(unit)

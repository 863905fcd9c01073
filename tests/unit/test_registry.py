"""The meter registry CSV: ids or Chinese names, refusals naming row and column, round trip."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greenmon.domain.reference import Carrier, MeterKind, district_id, industry_id
from greenmon.domain.registry import (
    Enterprise,
    Meter,
    Registry,
    parse_registry_csv,
    registry_csv,
)
from greenmon.errors import RegistryError

# The tables of DESIGN.md, written out independently of greenmon.domain.reference.
DESIGN_DISTRICTS = {
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
DESIGN_INDUSTRIES = {
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
# Units a meter of each carrier may be registered in (DESIGN.md units and their multiples).
DESIGN_UNITS = {
    Carrier.ELECTRICITY: ["kWh", "MWh"],
    Carrier.NATURAL_GAS: ["m3"],
    Carrier.STEAM: ["kg", "t"],
    Carrier.HEAT: ["MJ", "GJ"],
    Carrier.RAW_COAL: ["kg", "t"],
    Carrier.DIESEL: ["kg", "t"],
    Carrier.GASOLINE: ["kg", "t"],
    Carrier.WATER: ["m3"],
}

HEADER = (
    "enterprise_id,enterprise_name,district,industry,meter_id,carrier,unit,kind,max_rate_per_hour"
)
ROW_M1 = "E1,青岛化工,西海岸新区,高端化工,M1,electricity,kWh,counter,400"
ROW_M2 = "E1,青岛化工,xihaian,chemicals,M2,natural_gas,m3,interval,50"
ROW_M3 = "E2,Laoshan Foods,崂山区,食品饮料,W1,water,m3,interval,12.5"


def csv_of(*lines: str) -> str:
    return "\n".join(lines) + "\n"


def test_ids_and_chinese_names_resolve_to_ids() -> None:
    registry = parse_registry_csv(csv_of(HEADER, ROW_M1, ROW_M2, ROW_M3))
    assert registry.enterprises == (
        Enterprise("E1", "青岛化工", "xihaian", "chemicals"),
        Enterprise("E2", "Laoshan Foods", "laoshan", "food_beverage"),
    )
    assert [m.meter_id for m in registry.meters] == ["M1", "M2", "W1"]
    m1 = registry.meter_map()["M1"]
    assert m1 == Meter("M1", "E1", Carrier.ELECTRICITY, "kWh", MeterKind.COUNTER, 400.0)
    assert registry.meter_map()["W1"].max_rate_per_hour == 12.5


@pytest.mark.parametrize(("key", "name"), sorted(DESIGN_DISTRICTS.items()))
def test_every_design_district_is_known_by_id_and_name(key: str, name: str) -> None:
    assert district_id(key) == key
    assert district_id(name) == key
    assert district_id(f" {name} ") == key


@pytest.mark.parametrize(("key", "name"), sorted(DESIGN_INDUSTRIES.items()))
def test_every_design_industry_is_known_by_id_and_name(key: str, name: str) -> None:
    assert industry_id(key) == key
    assert industry_id(name) == key


def test_unknown_vocabulary_is_none() -> None:
    assert district_id("浦东新区") is None
    assert district_id("Xihaian") is None
    assert industry_id("钢铁") is None


def test_optional_columns_register_max_and_flags() -> None:
    text = csv_of(
        HEADER + ",register_max,flags",
        ROW_M1 + ",100000,feedstock|renewable",
        ROW_M2 + ",,",
    )
    m1, m2 = parse_registry_csv(text).meters
    assert m1.register_max == 100000.0
    assert m1.flags == frozenset({"feedstock", "renewable"})
    assert m2.register_max is None
    assert m2.flags == frozenset()


def test_byte_order_mark_and_padding_are_tolerated() -> None:
    padded = " E1 , 青岛化工 , 西海岸新区 , 高端化工 , M1 , electricity , kWh , counter , 400 "
    registry = parse_registry_csv("\ufeff" + csv_of(HEADER, padded))
    assert registry.enterprises == (Enterprise("E1", "青岛化工", "xihaian", "chemicals"),)
    assert registry.meters[0].meter_id == "M1"


# The faulty row is the third data row: CSV line 4 (line 1 is the header).
@pytest.mark.parametrize(
    ("row", "column", "words"),
    [
        ("E2,X,浦东新区,chemicals,M9,electricity,kWh,counter,400", "district", ["浦东新区"]),
        ("E2,X,xihaian,钢铁,M9,electricity,kWh,counter,400", "industry", ["钢铁"]),
        ("E2,X,xihaian,chemicals,M9,coal,kg,counter,400", "carrier", ["'coal'"]),
        ("E2,X,xihaian,chemicals,M9,electricity,m3,counter,400", "unit", ["'m3'", "electricity"]),
        ("E2,X,xihaian,chemicals,M9,natural_gas,kWh,counter,400", "unit", ["natural_gas"]),
        ("E2,X,xihaian,chemicals,M9,electricity,kWh,gauge,400", "kind", ["'gauge'"]),
        ("E2,X,xihaian,chemicals,M9,electricity,kWh,counter,0", "max_rate_per_hour", ["'0'"]),
        ("E2,X,xihaian,chemicals,M9,electricity,kWh,counter,-5", "max_rate_per_hour", ["'-5'"]),
        ("E2,X,xihaian,chemicals,M9,electricity,kWh,counter,lots", "max_rate_per_hour", []),
        ("E2,X,xihaian,chemicals,M9,electricity,kWh,counter,nan", "max_rate_per_hour", []),
        ("E2,X,xihaian,chemicals,M9,electricity,kWh,counter,inf", "max_rate_per_hour", []),
        ("E2,X,xihaian,chemicals,M9,electricity,kWh,counter,", "max_rate_per_hour", []),
        ("E 2,X,xihaian,chemicals,M9,electricity,kWh,counter,400", "enterprise_id", ["'E 2'"]),
        ("E2,X,xihaian,chemicals,M/9,electricity,kWh,counter,400", "meter_id", ["'M/9'"]),
        ("E2,,xihaian,chemicals,M9,electricity,kWh,counter,400", "enterprise_name", ["empty"]),
    ],
)
def test_bad_values_are_refused_with_line_and_column(
    row: str, column: str, words: list[str]
) -> None:
    with pytest.raises(RegistryError) as info:
        parse_registry_csv(csv_of(HEADER, ROW_M1, ROW_M2, row))
    message = str(info.value)
    assert message.startswith(f"row 4, column {column}:"), message
    for word in words:
        assert word in message


@pytest.mark.parametrize(
    ("extra", "column"), [("-1,", "register_max"), ("x,", "register_max"), (",bogus", "flags")]
)
def test_bad_optional_values_are_refused(extra: str, column: str) -> None:
    text = csv_of(HEADER + ",register_max,flags", ROW_M1 + ",,", ROW_M2 + "," + extra)
    with pytest.raises(RegistryError, match=f"^row 3, column {column}:"):
        parse_registry_csv(text)


def test_duplicate_meter_id_is_refused() -> None:
    duplicate = "E2,Other,laoshan,marine,M1,water,m3,interval,5"
    with pytest.raises(RegistryError, match=r"^row 3, column meter_id: 'M1' is repeated"):
        parse_registry_csv(csv_of(HEADER, ROW_M1, duplicate))


@pytest.mark.parametrize(
    "row",
    [
        "E1,Another name,西海岸新区,高端化工,M2,water,m3,interval,5",
        "E1,青岛化工,laoshan,高端化工,M2,water,m3,interval,5",
        "E1,青岛化工,西海岸新区,marine,M2,water,m3,interval,5",
    ],
)
def test_inconsistent_enterprise_rows_are_refused(row: str) -> None:
    with pytest.raises(RegistryError, match=r"^row 3: enterprise 'E1' is described differently"):
        parse_registry_csv(csv_of(HEADER, ROW_M1, row))


def test_same_enterprise_by_id_and_by_name_is_consistent() -> None:
    # ROW_M1 gives district and industry by Chinese name, ROW_M2 by id: the same enterprise
    assert len(parse_registry_csv(csv_of(HEADER, ROW_M1, ROW_M2)).enterprises) == 1


def test_missing_and_unknown_columns_are_refused() -> None:
    no_kind = HEADER.replace(",kind", "")
    with pytest.raises(RegistryError, match=r"lacks column.*kind"):
        parse_registry_csv(csv_of(no_kind, "E1,n,xihaian,chemicals,M1,electricity,kWh,400"))
    with pytest.raises(RegistryError, match=r"unknown column.*colour"):
        parse_registry_csv(csv_of(HEADER + ",colour", ROW_M1 + ",red"))
    with pytest.raises(RegistryError, match="lacks column"):
        parse_registry_csv("")


def test_row_number_is_the_file_line_after_a_blank_line() -> None:
    bad = "E1,青岛化工,xihaian,chemicals,M3,electricity,kWh,gauge,400"
    text = csv_of(HEADER, ROW_M1, "", bad)  # the bad row is on line 4
    with pytest.raises(RegistryError, match=r"^row 4, column kind"):
        parse_registry_csv(text)


def test_row_with_more_values_than_columns_is_refused() -> None:
    with pytest.raises(RegistryError, match="row 3"):
        parse_registry_csv(csv_of(HEADER, ROW_M1, ROW_M2 + ",surplus"))


# --- round trip ----------------------------------------------------------------------------

ids = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.",
    min_size=1,
    max_size=64,
)
names = (
    st.text(
        alphabet=st.characters(
            codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp"), exclude_characters="\x85"
        ),
        min_size=1,
        max_size=20,
    )
    .map(str.strip)
    .filter(bool)
)
positive = st.floats(min_value=1e-6, max_value=1e12, allow_nan=False, allow_infinity=False)


@st.composite
def registries(draw: st.DrawFn) -> Registry:
    enterprise_ids = draw(st.lists(ids, min_size=1, max_size=4, unique=True))
    meter_ids = iter(draw(st.lists(ids, min_size=len(enterprise_ids) * 3, unique=True)))
    enterprises, meters = [], []
    for eid in enterprise_ids:
        enterprises.append(
            Enterprise(
                eid,
                draw(names),
                draw(st.sampled_from(sorted(DESIGN_DISTRICTS))),
                draw(st.sampled_from(sorted(DESIGN_INDUSTRIES))),
            )
        )
        for _ in range(draw(st.integers(min_value=1, max_value=3))):
            carrier = draw(st.sampled_from(list(Carrier)))
            meters.append(
                Meter(
                    meter_id=next(meter_ids),
                    enterprise_id=eid,
                    carrier=carrier,
                    unit=draw(st.sampled_from(DESIGN_UNITS[carrier])),
                    kind=draw(st.sampled_from(list(MeterKind))),
                    max_rate_per_hour=draw(positive),
                    register_max=draw(st.none() | positive),
                    flags=draw(st.frozensets(st.sampled_from(["feedstock", "renewable"]))),
                )
            )
    return Registry(tuple(enterprises), tuple(meters))


@settings(max_examples=60, deadline=None)
@given(registries())
def test_registry_csv_round_trips(registry: Registry) -> None:
    text = registry_csv(registry.enterprises, registry.meters)
    assert parse_registry_csv(text) == registry

"""Conversion and emission factors: the shipped data, lookup at period edges, convert()."""

from __future__ import annotations

import itertools
import math
from datetime import date

import pytest

from greenmon.domain.factors import (
    Converted,
    Factor,
    FactorTable,
    convert,
    default_factors,
    parse_factors_csv,
)
from greenmon.domain.reference import Carrier
from greenmon.errors import FactorMissing, InvalidInput

TABLE = default_factors()
# Canonical unit of each carrier per DESIGN.md (factors are stated per this unit).
PER_UNIT = {
    Carrier.ELECTRICITY: "kWh",
    Carrier.NATURAL_GAS: "m3",
    Carrier.STEAM: "kg",
    Carrier.HEAT: "MJ",
    Carrier.RAW_COAL: "kg",
    Carrier.DIESEL: "kg",
    Carrier.GASOLINE: "kg",
}
HEADER = "factor_id,quantity,carrier,variant,value,unit,valid_from,valid_to,source"


def close(a: float | None, b: float) -> bool:
    return a is not None and math.isclose(a, b, rel_tol=1e-12)


# --- the shipped file ------------------------------------------------------------------------


def test_every_shipped_row_has_source_unit_and_validity() -> None:
    factors = TABLE.all()
    assert len(factors) >= 20
    for f in factors:
        assert f.source.strip(), f.factor_id
        prefix = "kgce/" if f.quantity == "tce" else "kgCO2/"
        assert f.unit == prefix + PER_UNIT[f.carrier], f.factor_id
        assert f.valid_from >= date(2008, 1, 1), f.factor_id
        assert f.valid_to is None or f.valid_to > f.valid_from, f.factor_id
        assert f.value > 0, f.factor_id
    assert len({f.factor_id for f in factors}) == len(factors)


def test_shipped_rows_do_not_overlap() -> None:
    def key(f: Factor) -> tuple[str, str, str]:
        return (f.quantity, f.carrier.value, f.variant)

    for _, group in itertools.groupby(sorted(TABLE.all(), key=key), key=key):
        rows = sorted(group, key=lambda f: f.valid_from)
        for prev, nxt in itertools.pairwise(rows):
            assert prev.valid_to is not None, prev.factor_id
            assert prev.valid_to <= nxt.valid_from, (prev.factor_id, nxt.factor_id)


def test_every_carrier_but_water_has_tce_and_co2_in_force_today_equivalent() -> None:
    in_force = {(f.quantity, f.carrier, f.variant) for f in TABLE.in_force(date(2025, 6, 1))}
    for carrier in PER_UNIT:
        tce_variant = "equivalent" if carrier is Carrier.ELECTRICITY else "default"
        assert ("tce", carrier, tce_variant) in in_force
    for region in ("national", "north_china", "shandong"):
        assert ("co2", Carrier.ELECTRICITY, region) in in_force
    assert not any(c is Carrier.WATER for _, c, _ in in_force)


# DESIGN.md values, written out here
@pytest.mark.parametrize(
    ("quantity", "carrier", "variant", "day", "value"),
    [
        ("tce", Carrier.ELECTRICITY, "equivalent", date(2025, 1, 1), 0.1229),
        ("tce", Carrier.HEAT, "default", date(2025, 1, 1), 0.03412),
        ("tce", Carrier.RAW_COAL, "default", date(2025, 1, 1), 0.7143),
        ("tce", Carrier.DIESEL, "default", date(2025, 1, 1), 1.4571),
        ("tce", Carrier.GASOLINE, "default", date(2025, 1, 1), 1.4714),
        ("tce", Carrier.NATURAL_GAS, "default", date(2025, 1, 1), 1.2143),
        # steam: 3 763 MJ/t x 0.03412 kgce/MJ / 1000 kg/t = 0.12839356 kgce/kg
        ("tce", Carrier.STEAM, "default", date(2025, 1, 1), 3763 * 0.03412 / 1000),
        ("co2", Carrier.NATURAL_GAS, "default", date(2025, 1, 1), 2.162),
        ("co2", Carrier.RAW_COAL, "default", date(2025, 1, 1), 1.900),
        ("co2", Carrier.DIESEL, "default", date(2025, 1, 1), 3.096),
        ("co2", Carrier.GASOLINE, "default", date(2025, 1, 1), 2.925),
        ("co2", Carrier.HEAT, "default", date(2025, 1, 1), 0.11),  # 0.11 t/GJ = 0.11 kg/MJ
        ("co2", Carrier.ELECTRICITY, "national", date(2022, 7, 1), 0.5366),
        ("co2", Carrier.ELECTRICITY, "north_china", date(2022, 7, 1), 0.6776),
        ("co2", Carrier.ELECTRICITY, "shandong", date(2022, 7, 1), 0.6410),
        ("co2", Carrier.ELECTRICITY, "national", date(2021, 7, 1), 0.5568),
        ("co2", Carrier.ELECTRICITY, "north_china", date(2021, 7, 1), 0.7120),
        ("co2", Carrier.ELECTRICITY, "shandong", date(2021, 7, 1), 0.6838),
    ],
)
def test_shipped_values_match_the_design(
    quantity: str, carrier: Carrier, variant: str, day: date, value: float
) -> None:
    assert close(TABLE.lookup(quantity, carrier, variant, day).value, value)  # type: ignore[arg-type]


# --- lookup at the edges of validity periods -------------------------------------------------


@pytest.mark.parametrize(
    ("region", "before", "after"),
    [("shandong", 0.6838, 0.6410), ("national", 0.5568, 0.5366), ("north_china", 0.7120, 0.6776)],
)
def test_grid_factor_changes_on_new_year(region: str, before: float, after: float) -> None:
    last = TABLE.lookup("co2", Carrier.ELECTRICITY, region, date(2021, 12, 31))
    first = TABLE.lookup("co2", Carrier.ELECTRICITY, region, date(2022, 1, 1))
    assert close(last.value, before)
    assert close(first.value, after)
    assert last.valid_to == date(2022, 1, 1) == first.valid_from


def test_electricity_tce_switches_standard_on_2021_04_01() -> None:
    old = TABLE.lookup("tce", Carrier.ELECTRICITY, "equivalent", date(2021, 3, 31))
    new = TABLE.lookup("tce", Carrier.ELECTRICITY, "equivalent", date(2021, 4, 1))
    assert "GB/T 2589-2008" in old.source
    assert "GB/T 2589-2020" in new.source
    assert old.factor_id != new.factor_id
    assert old.value == new.value == 0.1229


@pytest.mark.parametrize(
    ("quantity", "carrier", "variant", "day", "words"),
    [
        ("co2", Carrier.ELECTRICITY, "shandong", date(2018, 6, 30), ["co2", "electricity"]),
        ("co2", Carrier.ELECTRICITY, "national", date(2020, 12, 31), ["national", "2020-12-31"]),
        ("tce", Carrier.ELECTRICITY, "equivalent", date(2008, 5, 31), ["tce", "2008-05-31"]),
        ("co2", Carrier.NATURAL_GAS, "default", date(2016, 5, 31), ["natural_gas"]),
        ("tce", Carrier.ELECTRICITY, "coal_for_generation", date(2025, 1, 1), ["coal_for"]),
        ("co2", Carrier.ELECTRICITY, "atlantis", date(2025, 1, 1), ["atlantis"]),
        ("tce", Carrier.WATER, "default", date(2025, 1, 1), ["water"]),
    ],
)
def test_no_valid_factor_raises_factor_missing(
    quantity: str, carrier: Carrier, variant: str, day: date, words: list[str]
) -> None:
    with pytest.raises(FactorMissing) as info:
        TABLE.lookup(quantity, carrier, variant, day)  # type: ignore[arg-type]
    for word in [*words, day.isoformat()]:
        assert word in str(info.value)


def test_validity_end_is_exclusive_and_gaps_raise() -> None:
    text = "\n".join(
        [
            HEADER,
            "a,co2,electricity,x,0.5,kgCO2/kWh,2021-01-01,2022-01-01,src a",
            "b,co2,electricity,x,0.6,kgCO2/kWh,2023-01-01,2024-01-01,src b",
        ]
    )
    table = FactorTable(parse_factors_csv(text))
    assert table.lookup("co2", Carrier.ELECTRICITY, "x", date(2021, 12, 31)).factor_id == "a"
    for day in (date(2022, 1, 1), date(2022, 12, 31), date(2024, 1, 1), date(2020, 12, 31)):
        with pytest.raises(FactorMissing):
            table.lookup("co2", Carrier.ELECTRICITY, "x", day)
    assert table.lookup("co2", Carrier.ELECTRICITY, "x", date(2023, 1, 1)).factor_id == "b"
    assert table.lookup("co2", Carrier.ELECTRICITY, "x", date(2023, 12, 31)).factor_id == "b"


def test_overlapping_factors_are_refused() -> None:
    text = "\n".join(
        [
            HEADER,
            "a,co2,electricity,x,0.5,kgCO2/kWh,2021-01-01,2022-02-01,src",
            "b,co2,electricity,x,0.6,kgCO2/kWh,2022-01-01,,src",
        ]
    )
    with pytest.raises(InvalidInput, match="a and b overlap"):
        FactorTable(parse_factors_csv(text))


def test_open_ended_row_followed_by_another_is_an_overlap() -> None:
    text = "\n".join(
        [
            HEADER,
            "a,co2,electricity,x,0.5,kgCO2/kWh,2021-01-01,,src",
            "b,co2,electricity,x,0.6,kgCO2/kWh,2022-01-01,,src",
        ]
    )
    with pytest.raises(InvalidInput, match="overlap"):
        FactorTable(parse_factors_csv(text))


@pytest.mark.parametrize(
    ("row", "words"),
    [
        ("a,co2,electricity,x,0.5,kgCO2/kWh,2021-01-01,,  ", ["row 2", "source is empty"]),
        ("a,co2,electricity,x,0.5,kgCO2/m3,2021-01-01,,src", ["row 2", "kgCO2/kWh"]),
        ("a,co2,electricity,x,0,kgCO2/kWh,2021-01-01,,src", ["row 2", "not positive"]),
        ("a,co2,nuclear,x,0.5,kgCO2/kWh,2021-01-01,,src", ["row 2", "nuclear"]),
        ("a,ch4,electricity,x,0.5,kgCO2/kWh,2021-01-01,,src", ["row 2", "'ch4'"]),
        ("a,co2,electricity,x,0.5,kgCO2/kWh,someday,,src", ["row 2", "someday"]),
        ("a,co2,water,x,0.5,kgCO2/m3,2021-01-01,,src", ["row 2", "None"]),
    ],
)
def test_bad_factor_rows_are_refused(row: str, words: list[str]) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_factors_csv(HEADER + "\n" + row + "\n")
    for word in words:
        assert word in str(info.value)


# --- convert ---------------------------------------------------------------------------------


def test_convert_electricity_shandong_2022() -> None:
    result = convert(TABLE, Carrier.ELECTRICITY, 1000.0, date(2022, 3, 1), grid_region="shandong")
    assert close(result.energy_tce, 1000 * 0.1229 / 1000)  # 0.1229 tce
    assert close(result.co2_t, 1000 * 0.6410 / 1000)  # 0.641 t
    assert result.water_m3 is None
    assert result.missing == ()


def test_convert_uses_the_configured_region() -> None:
    result = convert(TABLE, Carrier.ELECTRICITY, 2500.0, date(2021, 5, 1), grid_region="national")
    assert close(result.co2_t, 2500 * 0.5568 / 1000)  # 1.392 t


@pytest.mark.parametrize(
    ("carrier", "amount", "tce", "co2"),
    [
        (Carrier.NATURAL_GAS, 100.0, 100 * 1.2143 / 1000, 100 * 2.162 / 1000),
        (Carrier.RAW_COAL, 1000.0, 1000 * 0.7143 / 1000, 1000 * 1.900 / 1000),
        (Carrier.DIESEL, 1000.0, 1000 * 1.4571 / 1000, 1000 * 3.096 / 1000),
        (Carrier.GASOLINE, 200.0, 200 * 1.4714 / 1000, 200 * 2.925 / 1000),
        (Carrier.HEAT, 1000.0, 1000 * 0.03412 / 1000, 1000 * 0.11 / 1000),
    ],
)
def test_convert_fuels(carrier: Carrier, amount: float, tce: float, co2: float) -> None:
    result = convert(TABLE, carrier, amount, date(2024, 8, 1), grid_region="shandong")
    assert close(result.energy_tce, tce)
    assert close(result.co2_t, co2)
    assert result.water_m3 is None
    assert result.missing == ()


def test_missing_co2_factor_is_reported_and_tce_still_computed() -> None:
    result = convert(TABLE, Carrier.ELECTRICITY, 1000.0, date(2018, 6, 30), grid_region="shandong")
    assert result.co2_t is None
    assert close(result.energy_tce, 0.1229)  # GB/T 2589-2008 row is valid in 2018
    assert len(result.missing) == 1
    assert "co2" in result.missing[0]
    assert "2018-06-30" in result.missing[0]


def test_unshipped_electricity_method_leaves_tce_missing() -> None:
    result = convert(
        TABLE,
        Carrier.ELECTRICITY,
        10.0,
        date(2024, 1, 1),
        grid_region="shandong",
        electricity_method="coal_for_generation",
    )
    assert result.energy_tce is None
    assert close(result.co2_t, 10 * 0.6410 / 1000)
    assert any("coal_for_generation" in m for m in result.missing)


def test_water_converts_to_cubic_metres_only() -> None:
    result = convert(TABLE, Carrier.WATER, 12.5, date(2018, 1, 1), grid_region="shandong")
    assert result == Converted(energy_tce=None, co2_t=None, water_m3=12.5, missing=())
